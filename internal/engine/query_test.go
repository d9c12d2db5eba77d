package engine_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestPointQueries: the point reads the UI makes by id (an instance's row, an incident, a
// user task with its instance) find what exists and wrap ErrNotFound for what does not.
func TestPointQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("nodefault.bpmn")
		v.deploy("usertask.bpmn")
		failed := v.startInstance("nodefault", map[string]any{"amount": 1})
		waiting := v.startInstance("usertask", nil)

		in, err := v.e.GetInstanceRow(v.ctx, waiting.ID)
		if err != nil || in.ID != waiting.ID || in.DefinitionKey != "usertask" || in.State != store.InstanceActive {
			t.Errorf("instance row %+v %v", in, err)
		}
		incs := v.openIncidents(failed.ID)
		if len(incs) != 1 {
			t.Fatalf("open incidents %d", len(incs))
		}
		inc, err := v.e.GetIncident(v.ctx, incs[0].ID)
		if err != nil || inc.ID != incs[0].ID || inc.InstanceID != failed.ID || inc.State != store.IncidentOpen {
			t.Errorf("incident %+v %v", inc, err)
		}
		task := v.openTask(waiting.ID, "approve")
		d, err := v.e.GetUserTask(v.ctx, task.ID)
		if err != nil || d.Task.ID != task.ID || d.Task.ElementID != "approve" || d.Instance.ID != waiting.ID {
			t.Errorf("user task %+v %v", d, err)
		}

		for _, c := range []struct {
			name string
			get  func(id string) error
		}{
			{"instance row", func(id string) error { _, err := v.e.GetInstanceRow(v.ctx, id); return err }},
			{"incident", func(id string) error { _, err := v.e.GetIncident(v.ctx, id); return err }},
			{"user task", func(id string) error { _, err := v.e.GetUserTask(v.ctx, id); return err }},
		} {
			if err := c.get("missing"); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("missing %s: %v", c.name, err)
			}
		}
	})
}

// TestParkedQueries: the parked events come newest first, at most the limit, with the
// count of all of them; a limit below one is refused before the store is read.
func TestParkedQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		if n, err := v.e.CountParked(v.ctx); err != nil || n != 0 {
			t.Errorf("count of none: %d %v", n, err)
		}
		var parked []*store.ParkedEvent
		for i := int64(1); i <= 3; i++ {
			parked = append(parked, &store.ParkedEvent{Seq: i, ID: "ev" + string(rune('0'+i)), InstanceID: "i1", Type: "instance.started",
				Bytes: 2 << 20, Reason: "too large", ParkedAt: t0.Add(time.Duration(i) * time.Second)})
		}
		if err := v.st.Write(v.ctx, func(tx store.Tx) error { return tx.ParkOutbox(v.ctx, parked) }); err != nil {
			t.Fatal(err)
		}
		if n, err := v.e.CountParked(v.ctx); err != nil || n != 3 {
			t.Errorf("count: %d %v", n, err)
		}
		page, err := v.e.ListParked(v.ctx, engine.ParkedQuery{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if page.Count != 3 || len(page.Events) != 2 || page.Events[0].Seq != 3 || page.Events[1].Seq != 2 {
			t.Errorf("page: count %d, %d events %+v", page.Count, len(page.Events), page.Events)
		}
		for _, limit := range []int{0, -1} {
			if _, err := v.e.ListParked(v.ctx, engine.ParkedQuery{Limit: limit}); !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "limit") {
				t.Errorf("limit %d: %v", limit, err)
			}
		}
	})
}

// TestStallQueries: the stall counts show an open stall only while its token stands where
// it stalled; the list shows the rows as the detector wrote them; thresholds by key.
func TestStallQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("usertask.bpmn")
		in := v.startInstance("usertask", nil)
		tok := v.detail(in.ID).Tokens[0]
		s := &store.Stall{ID: "s1", TokenID: tok.ID, InstanceID: in.ID, DefinitionID: in.DefinitionID,
			DefinitionKey: in.DefinitionKey, ElementID: tok.ElementID, Since: tok.CreatedAt, Threshold: 15 * time.Minute,
			DetectedAt: tok.CreatedAt.Add(16 * time.Minute), State: store.StallOpen}
		th := &store.StallThreshold{DefinitionKey: "usertask", ElementID: "approve", Threshold: time.Hour, UpdatedAt: t0, UpdatedBy: "ops"}
		if err := v.st.Write(v.ctx, func(tx store.Tx) error {
			if err := tx.InsertStalls(v.ctx, []*store.Stall{s}); err != nil {
				return err
			}
			return tx.PutStallThreshold(v.ctx, th)
		}); err != nil {
			t.Fatal(err)
		}
		counts := func(wantElem, wantInst int) {
			t.Helper()
			for _, def := range []string{in.DefinitionID, ""} {
				if c, err := v.e.CountStalls(v.ctx, def); err != nil || c["approve"] != wantElem {
					t.Errorf("stalls of %q: %v %v, want %d at approve", def, c, err, wantElem)
				}
			}
			if c, err := v.e.CountStalledInstances(v.ctx); err != nil || c["usertask"] != wantInst {
				t.Errorf("stalled instances %v %v, want %d", c, err, wantInst)
			}
			list, err := v.e.ListStalls(v.ctx, store.StallFilter{InstanceID: in.ID, State: store.StallOpen})
			if err != nil || len(list) != 1 || list[0].ID != "s1" {
				t.Errorf("open stalls %+v %v", list, err)
			}
		}
		counts(1, 1)
		if c, err := v.e.CountStalls(v.ctx, "other"); err != nil || len(c) != 0 {
			t.Errorf("stalls of another definition: %v %v", c, err)
		}
		// The token moves on: not counted, though the row stays open until the next pass.
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(in.ID, "approve").ID, nil); err != nil {
			t.Fatal(err)
		}
		counts(0, 0)

		for key, want := range map[string]int{"usertask": 1, "": 1, "other": 0} {
			got, err := v.e.ListStallThresholds(v.ctx, key)
			if err != nil || len(got) != want || (want == 1 && (got[0].ElementID != "approve" || got[0].Threshold != time.Hour)) {
				t.Errorf("thresholds of %q: %+v %v, want %d", key, got, err, want)
			}
		}
	})
}

// TestAuditRowsAndProbes: BeginAudit writes a row "started", FinishAudit gives it its
// result with a storable error (a NUL byte is dropped), and a finish without a begun row
// is ErrNotFound; Ping and Ready answer while the store does and fail once it is closed.
func TestAuditRowsAndProbes(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := open(t)
		v := newEnvOn(t, st, false)
		if err := v.e.Ping(v.ctx); err != nil {
			t.Errorf("ping: %v", err)
		}
		if err := v.e.Ready(v.ctx); err != nil {
			t.Errorf("ready: %v", err)
		}

		a := &store.AuditEntry{ID: "a1", Time: t0, Actor: "ops", Command: "deploy", Target: "x.bpmn", Reason: "web",
			Request: []byte(`{"resource":"x.bpmn"}`), Result: "ok"}
		if err := v.e.BeginAudit(v.ctx, a); err != nil {
			t.Fatal(err)
		}
		row := func() *store.AuditEntry {
			t.Helper()
			var out []*store.AuditEntry
			if err := st.Read(v.ctx, func(tx store.Tx) error {
				var err error
				out, err = tx.ListAudit(v.ctx, store.AuditFilter{Target: "x.bpmn"})
				return err
			}); err != nil || len(out) != 1 {
				t.Fatalf("audit rows %+v %v", out, err)
			}
			return out[0]
		}
		if r := row(); r.Result != store.AuditStarted {
			t.Errorf("begun row result %q, want %q", r.Result, store.AuditStarted)
		}
		a.Result, a.Error = "invalid_input", "bad\x00model"
		a.Request = []byte(`{"resource":"x.bpmn","processes":[]}`)
		if err := v.e.FinishAudit(v.ctx, a); err != nil {
			t.Fatal(err)
		}
		if r := row(); r.Result != "invalid_input" || strings.ContainsRune(r.Error, 0) || !strings.Contains(r.Error, "bad") ||
			!strings.Contains(string(r.Request), "processes") {
			t.Errorf("finished row %+v", r)
		}
		if err := v.e.FinishAudit(v.ctx, &store.AuditEntry{ID: "never-begun", Result: "ok"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("finish without a row: %v", err)
		}

		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if err := v.e.Ping(v.ctx); err == nil {
			t.Error("ping of a closed store answered")
		}
		if err := v.e.Ready(v.ctx); err == nil {
			t.Error("a closed store is ready")
		}
	})
}
