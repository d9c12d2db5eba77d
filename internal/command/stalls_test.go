package command_test

import (
	"slices"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestStallThreshold: an operator sets, changes and removes an element's stall threshold;
// the element must exist in the process and the duration be sensible; every request is
// audited with the element as its target.
func TestStallThreshold(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	thresholds := func() []*store.StallThreshold {
		t.Helper()
		var out []*store.StallThreshold
		if err := v.st.Read(v.ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.ListStallThresholds(v.ctx, "usertask")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	req := func(el, d string) command.StallThresholdRequest {
		return command.StallThresholdRequest{Meta: meta("ann"), DefinitionKey: "usertask", ElementID: el, Threshold: d}
	}
	res, err := v.client.SetStallThreshold(v.ctx, req("approve", "15m"))
	noErr(t, err)
	if res.Threshold != "15m0s" || res.ThresholdMs != 900000 || res.ElementID != "approve" {
		t.Errorf("result %+v", res)
	}
	got := thresholds()
	if len(got) != 1 || got[0].Threshold != 15*time.Minute || got[0].UpdatedBy != "ann" || !got[0].UpdatedAt.Equal(t0) {
		t.Fatalf("thresholds %+v", got)
	}
	_, err = v.client.SetStallThreshold(v.ctx, req("approve", "2h30m"))
	noErr(t, err)
	if got := thresholds(); len(got) != 1 || got[0].Threshold != 150*time.Minute {
		t.Fatalf("thresholds after a change %+v", got)
	}

	wantCode(t, errOf(v.client.SetStallThreshold(v.ctx, req("nope", "15m"))), command.CodeNotFound)
	wantCode(t, errOf(v.client.SetStallThreshold(v.ctx, command.StallThresholdRequest{Meta: meta("ann"),
		DefinitionKey: "nope", ElementID: "approve", Threshold: "1m"})), command.CodeNotFound)
	wantCode(t, errOf(v.client.SetStallThreshold(v.ctx, req("approve", "soon"))), command.CodeInvalidInput)
	wantCode(t, errOf(v.client.SetStallThreshold(v.ctx, req("approve", "500ms"))), command.CodeInvalidInput)
	wantCode(t, errOf(v.client.SetStallThreshold(v.ctx, req("", "1m"))), command.CodeInvalidInput)

	res, err = v.client.SetStallThreshold(v.ctx, req("approve", ""))
	noErr(t, err)
	if res.Threshold != "" || res.ThresholdMs != 0 {
		t.Errorf("result of a removal %+v", res)
	}
	if got := thresholds(); len(got) != 0 {
		t.Fatalf("thresholds after removal %+v", got)
	}
	// Removing again is not an error: the element has no threshold, as asked.
	_, err = v.client.SetStallThreshold(v.ctx, req("approve", ""))
	noErr(t, err)

	rows := v.audit(store.AuditFilter{Target: "usertask/approve"})
	var results []string
	for _, a := range rows {
		if a.Command != command.VerbStallThreshold || a.Actor != "ann" {
			t.Errorf("audit row %+v", a)
		}
		results = append(results, a.Result)
	}
	slices.Sort(results)
	if want := []string{"invalid_input", "invalid_input", "ok", "ok", "ok", "ok"}; !slices.Equal(results, want) {
		t.Errorf("audit results %v, want %v", results, want)
	}
}

func errOf[T any](_ T, err error) error { return err }
