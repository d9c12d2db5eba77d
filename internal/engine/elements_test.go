package engine_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Conditions on flows leaving a task are evaluated: every unconditional flow and every
// conditional flow that holds is taken, the default flow only when none holds.
func TestConditionalFlowsLeavingTasks(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("order.check", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		v.start()
		v.deploy("task_conditions.bpmn")
		for _, c := range []struct {
			vars map[string]any
			want []string
		}{
			{map[string]any{"amount": 500}, []string{"check", "endAudit", "endBig", "start"}},
			{map[string]any{"amount": 5, "express": true}, []string{"check", "endAudit", "endExpress", "route", "start"}},
			{map[string]any{"amount": 5, "express": false}, []string{"check", "endAudit", "endNormal", "route", "start"}},
		} {
			inst := v.startInstance("taskConditions", c.vars)
			v.waitState(inst.ID, store.InstanceCompleted)
			got := v.visited(inst.ID)
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("%v: visited %v, want %v", c.vars, got, c.want)
			}
		}
	})
}

// No flow to take after a task is an incident at the task; its retry chooses again and
// does not run the task's job a second time.
func TestNoFlowAfterTaskIsIncidentAndRetryDoesNotRerun(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var calls atomic.Int32
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			calls.Add(1)
			return map[string]any{"ok": false}, nil
		})
		v.start()
		v.deploy("task_conditions.bpmn")
		inst := v.startInstance("taskNoMatch", nil)
		v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
		inc := v.openIncidents(inst.ID)[0]
		if inc.Type != store.IncidentNoMatchingFlow || inc.ElementID != "work" {
			t.Fatalf("incident %+v", inc)
		}
		if err := v.e.RetryIncident(v.ctx, inc.ID, engine.RetryOptions{Variables: map[string]any{"ok": true}}); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if n := calls.Load(); n != 1 {
			t.Errorf("handler ran %d times, want 1", n)
		}
	})
}
