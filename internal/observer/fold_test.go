package observer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func openStore(t *testing.T, name string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// source runs an engine on its own store with two processes: "pay" (a service task
// whose handler fails when told to, with one attempt, then a user task) and "waiter"
// (a signal catch, then a user task).
func source(t *testing.T) (*engine.Engine, store.Store) {
	t.Helper()
	st := openStore(t, "source.db")
	return sourceOn(t, st, nil), st
}

// sourceOn is source's engine on st, calling onCommit after each commit.
func sourceOn(t *testing.T, st store.Store, onCommit func([]*store.Event)) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := engine.New(engine.Options{Store: st, Workers: 4, Logger: slog.New(slog.DiscardHandler), OnCommit: onCommit})
	if err != nil {
		t.Fatal(err)
	}
	e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("card declined")
		}
		return map[string]any{"charged": true}, nil
	})
	pay, err := bpmn.Build("pay", bpmn.Name("Payment")).Start("start").
		ServiceTask("charge", bpmn.JobType("charge"), bpmn.Retries(1)).UserTask("review").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	waiter, err := bpmn.Build("waiter").Start("start").SignalCatch("go", "go").UserTask("after").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]*bpmn.Definitions{"pay.bpmn": pay, "waiter.bpmn": waiter} {
		if _, err := e.DeployModel(ctx, name, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

// drive runs a mix of what instances go through: jobs, an incident and its retry, user
// tasks completed and claimed, variables set, deleted and renamed, a suspension, a
// cancellation, a signal.
func drive(t *testing.T, e *engine.Engine) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	start := func(key string, vars map[string]any) string {
		in, err := e.StartInstance(ctx, key, engine.StartOptions{BusinessKey: fmt.Sprint("B-", len(ids)), Variables: vars})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
		return in.ID
	}
	detail := func(id string) *engine.InstanceDetail {
		d, err := e.GetInstance(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	openTask := func(id string) string {
		for _, tk := range detail(id).UserTasks {
			if tk.State == store.TaskOpen {
				return tk.ID
			}
		}
		return ""
	}
	ok := start("pay", map[string]any{"fail": false, "amount": 10})
	done := start("pay", map[string]any{"fail": false})
	failing := start("pay", map[string]any{"fail": true})
	retried := start("pay", map[string]any{"fail": true})
	cancelled := start("pay", map[string]any{"fail": false})
	w1 := start("waiter", map[string]any{"n": 1})
	w2 := start("waiter", nil)
	for _, id := range []string{ok, done, cancelled} {
		wait.For(t, "at review", func() bool { return openTask(id) != "" })
	}
	for _, id := range []string{failing, retried} {
		wait.For(t, "an incident", func() bool { return detail(id).Instance.IncidentCount == 1 })
	}
	if err := e.CompleteUserTask(ctx, openTask(done), map[string]any{"approved": true}); err != nil {
		t.Fatal(err)
	}
	if err := e.ClaimUserTask(ctx, openTask(ok), "ann"); err != nil {
		t.Fatal(err)
	}
	if err := e.SetVariables(ctx, ok, map[string]any{"note": "call back", "items": []any{1, 2}, "amount": 12.5}); err != nil {
		t.Fatal(err)
	}
	if err := e.RenameVariable(ctx, ok, "", "note", "remark"); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteVariable(ctx, ok, "", "items"); err != nil {
		t.Fatal(err)
	}
	var inc string
	for _, i := range detail(retried).Incidents {
		inc = i.ID
	}
	if err := e.RetryIncident(ctx, inc, engine.RetryOptions{Variables: map[string]any{"fail": false}}); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "retried to review", func() bool { return openTask(retried) != "" })
	if err := e.SuspendInstance(ctx, failing); err != nil {
		t.Fatal(err)
	}
	if err := e.CancelInstance(ctx, cancelled, "duplicate"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.BroadcastSignal(ctx, "go", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{w1, w2} {
		wait.For(t, "past the signal", func() bool { return openTask(id) != "" })
	}
	wait.For(t, "done completed", func() bool { return detail(done).Instance.State == store.InstanceCompleted })
	return ids
}

// history reads every event of the source, in commit order, as published.
func history(t *testing.T, st store.Store) []*bus.Message {
	t.Helper()
	return serviceHistory(t, st, "observed")
}

// serviceHistory is history as an engine named service publishes it.
func serviceHistory(t *testing.T, st store.Store, service string) []*bus.Message {
	t.Helper()
	var out []*bus.Message
	err := st.Read(context.Background(), func(tx store.Tx) error {
		var after int64
		for {
			evs, err := tx.ListEvents(context.Background(), store.EventFilter{AfterSeq: after, Limit: 500})
			if err != nil {
				return err
			}
			for _, ev := range evs {
				// Through the wire format, as an observer receives it.
				b, err := json.Marshal(bus.NewMessage(service, ev))
				if err != nil {
					return err
				}
				m, err := bus.DecodeMessage(b)
				if err != nil {
					return err
				}
				out = append(out, m)
				after = ev.Seq
			}
			if len(evs) < 500 {
				return nil
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// copyModels is a model source reading the source's definitions.
func copyModels(src store.Store) observer.ModelSource {
	return func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		var d *store.Definition
		err := src.Read(ctx, func(tx store.Tx) error {
			var err error
			d, err = tx.GetDefinition(ctx, m.DefinitionID)
			return err
		})
		return d, err
	}
}

// snapshot is what an instance page shows of an instance, comparable across stores.
func snapshot(t *testing.T, st store.Store, id string) string {
	t.Helper()
	var b strings.Builder
	err := st.Read(context.Background(), func(tx store.Tx) error {
		a, err := tx.LoadInstance(context.Background(), id)
		if err != nil {
			return err
		}
		in := a.Instance
		ended := ""
		if in.EndedAt != nil {
			ended = in.EndedAt.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(&b, "instance %s def=%s v%d key=%s bk=%s state=%s incidents=%d started=%s ended=%s events=%d\n",
			in.ID, in.DefinitionID, in.DefinitionVersion, in.DefinitionKey, in.BusinessKey, in.State, in.IncidentCount,
			in.StartedAt.UTC().Format(time.RFC3339Nano), ended, in.EventSeq)
		var lines []string
		for _, tk := range a.Tokens {
			lines = append(lines, fmt.Sprintf("token %s at %s", tk.ID, tk.ElementID))
		}
		for _, v := range a.Variables {
			var val any
			_ = json.Unmarshal(v.Value, &val)
			lines = append(lines, fmt.Sprintf("var %q/%s %s=%v", v.Scope, v.Name, v.Type, val))
		}
		for _, j := range a.Jobs {
			lines = append(lines, fmt.Sprintf("job %s %s at %s retries=%d", j.ID, j.Kind, j.ElementID, j.Retries))
		}
		for _, s := range a.Subscriptions {
			lines = append(lines, fmt.Sprintf("sub %s %s at %s", s.Kind, s.MessageName, s.ElementID))
		}
		tasks, err := tx.ListUserTasks(context.Background(), store.UserTaskFilter{InstanceID: id})
		if err != nil {
			return err
		}
		for _, tk := range tasks {
			lines = append(lines, fmt.Sprintf("task %s at %s %s assignee=%s", tk.ID, tk.ElementID, tk.State, tk.Assignee))
		}
		incs, err := tx.ListIncidents(context.Background(), store.IncidentFilter{InstanceID: id})
		if err != nil {
			return err
		}
		for _, i := range incs {
			lines = append(lines, fmt.Sprintf("incident %s at %s %s %s %q", i.ID, i.ElementID, i.Type, i.State, i.Message))
		}
		evs, err := tx.ListEvents(context.Background(), store.EventFilter{InstanceID: id})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			lines = append(lines, fmt.Sprintf("event %d %s %s %s", ev.InstanceSeq, ev.ID, ev.Type, ev.ElementID))
		}
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n"))
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", id, err)
	}
	return b.String()
}

// TestFoldMatchesSource: the read model folded from an engine's events shows each
// instance as the engine's own store does: its row, tokens, variables, jobs,
// subscriptions, tasks, incidents and history. The events come in batches of several
// instances, interleaved, each instance's in its order (as a stream delivers them).
func TestFoldMatchesSource(t *testing.T) {
	e, src := source(t)
	ids := drive(t, e)
	stores := map[string]func() store.Store{"sqlite": func() store.Store { return openStore(t, "read.db") }}
	if u := pgtest.URL(); u != "" {
		// The read model "for size" (serve --observe --database-url postgres://…).
		stores["postgres"] = func() store.Store {
			st := pgtest.Open(t, postgres.Options{URL: u})
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) { foldMatchesSource(t, src, ids, open()) })
	}
}

func foldMatchesSource(t *testing.T, src store.Store, ids []string, dst store.Store) {
	msgs := history(t, src)
	f, err := observer.NewFolder(dst, copyModels(src))
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for len(msgs) > 0 {
		n := min(len(msgs), 1+rnd.IntN(9))
		res, err := f.Fold(context.Background(), msgs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != n || len(res.Gaps) != 0 {
			t.Fatalf("batch of %d: %+v", n, res)
		}
		msgs = msgs[n:]
	}
	for _, id := range ids {
		want, got := snapshot(t, src, id), snapshot(t, dst, id)
		if want != got {
			t.Errorf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
}

// TestFoldExactlyOnce: events folded again are repeats and change nothing; an event
// past a missing one is held back as a gap, and folds once the missing one comes.
func TestFoldExactlyOnce(t *testing.T) {
	e, src := source(t)
	ids := drive(t, e)
	msgs := history(t, src)
	dst := openStore(t, "read.db")
	f, err := observer.NewFolder(dst, copyModels(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The first instance's third event goes missing.
	var held *bus.Message
	var rest []*bus.Message
	for _, m := range msgs {
		if held == nil && m.InstanceID == ids[0] && m.InstanceSeq == 3 {
			held = m
			continue
		}
		rest = append(rest, m)
	}
	res, err := f.Fold(ctx, rest)
	if err != nil {
		t.Fatal(err)
	}
	var later int
	for _, m := range msgs {
		if m.InstanceID == ids[0] && m.InstanceSeq > 3 {
			later++
		}
	}
	if len(res.Gaps) != later || res.Gaps[0].Want != 3 || res.Gaps[0].Got != 4 || res.Gaps[0].InstanceID != ids[0] {
		t.Fatalf("gaps: %+v (want %d from #4)", res.Gaps, later)
	}
	if res.Applied != len(rest)-later {
		t.Fatalf("applied %d of %d", res.Applied, len(rest)-later)
	}
	// The missing event and what it held back: folded now.
	again := []*bus.Message{held}
	for _, m := range msgs {
		if m.InstanceID == ids[0] && m.InstanceSeq > 3 {
			again = append(again, m)
		}
	}
	slices.Reverse(again) // any order within the batch
	res, err = f.Fold(ctx, again)
	if err != nil || res.Applied != len(again) || len(res.Gaps) != 0 {
		t.Fatalf("after the gap: %+v %v", res, err)
	}
	// Everything again: all repeats.
	res, err = f.Fold(ctx, msgs)
	if err != nil || res.Applied != 0 || res.Repeats != len(msgs) {
		t.Fatalf("repeats: %+v %v", res, err)
	}
	for _, id := range ids {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
}

// TestFoldWaitsForModels: the instances of a definition whose model cannot be had wait
// (their events are not folded, nothing fails); the others fold. Once the model can be
// had, the waiting events fold.
func TestFoldWaitsForModels(t *testing.T) {
	e, src := source(t)
	ids := drive(t, e)
	msgs := history(t, src)
	dst := openStore(t, "read.db")
	have := copyModels(src)
	published := false
	models := func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		if m.DefinitionKey == "waiter" && !published {
			return nil, errors.New("not published yet")
		}
		return have(ctx, m)
	}
	f, err := observer.NewFolder(dst, models)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Fold(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	var waiter int
	for _, m := range msgs {
		if m.DefinitionKey == "waiter" {
			waiter++
		}
	}
	if waiter == 0 || len(res.Waiting) != waiter || res.Applied != len(msgs)-waiter || len(res.Gaps) != 0 {
		t.Fatalf("waiting %d of %d, applied %d of %d, gaps %d", len(res.Waiting), waiter, res.Applied, len(msgs)-waiter, len(res.Gaps))
	}
	published = true
	if res, err = f.Fold(context.Background(), msgs); err != nil || res.Applied != waiter || len(res.Waiting) != 0 {
		t.Fatalf("after publishing: %+v %v", res, err)
	}
	for _, id := range ids {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
}

// TestFoldServices: two services whose engines deploy the same process keys (both at
// version 1, with their own definition ids) fold into one read model side by side: each
// service's definitions carry its name, each instance shows as its own engine's store
// has it, and the instances filter by service.
func TestFoldServices(t *testing.T) {
	e1, orders := source(t)
	e2, shipping := source(t)
	ids := map[string][]string{"orders": drive(t, e1), "shipping": drive(t, e2)}
	srcs := map[string]store.Store{"orders": orders, "shipping": shipping}
	// The two streams interleaved, each in its order.
	a, b := serviceHistory(t, orders, "orders"), serviceHistory(t, shipping, "shipping")
	var msgs []*bus.Message
	for len(a) > 0 || len(b) > 0 {
		if len(a) > 0 {
			msgs, a = append(msgs, a[0]), a[1:]
		}
		if len(b) > 0 {
			msgs, b = append(msgs, b[0]), b[1:]
		}
	}
	dst := openStore(t, "read.db")
	models := func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		return copyModels(srcs[m.Service])(ctx, m)
	}
	f, err := observer.NewFolder(dst, models)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(3, 4))
	for len(msgs) > 0 {
		n := min(len(msgs), 1+rnd.IntN(9))
		res, err := f.Fold(ctx, msgs[:n])
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != n || len(res.Gaps) != 0 || len(res.Waiting) != 0 {
			t.Fatalf("batch of %d: %+v", n, res)
		}
		msgs = msgs[n:]
	}
	err = dst.Read(ctx, func(tx store.Tx) error {
		defs, err := tx.ListDefinitions(ctx, store.DefinitionFilter{Key: "pay"})
		if err != nil {
			return err
		}
		var got []string
		for _, d := range defs {
			got = append(got, fmt.Sprintf("%s %s v%d", d.Service, d.Key, d.Version))
		}
		if want := []string{"orders pay v1", "shipping pay v1"}; !slices.Equal(got, want) {
			t.Errorf("definitions of pay: %q, want %q", got, want)
		}
		for service, want := range ids {
			page, err := tx.ListInstances(ctx, store.InstanceFilter{Service: service, Limit: 100})
			if err != nil {
				return err
			}
			var got []string
			for _, in := range page.Instances {
				got = append(got, in.ID)
			}
			if !sameSet(got, want) {
				t.Errorf("instances of %s: %q, want %q", service, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for service, list := range ids {
		for _, id := range list {
			if want, got := snapshot(t, srcs[service], id), snapshot(t, dst, id); want != got {
				t.Errorf("%s instance %s differs:\nsource:\n%s\nread model:\n%s", service, id, want, got)
			}
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
