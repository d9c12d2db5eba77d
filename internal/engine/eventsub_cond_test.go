package engine_test

import (
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestConditionalEventSubprocesses runs a Camunda Modeler (Camunda 7) model with two
// conditional starts at process level: a non-interrupting one fires at each change of its
// variable while its condition holds, an interrupting one ends the rest; a condition
// already true when the scope begins fires at once.
func TestConditionalEventSubprocesses(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("eventsub_conditional.bpmn")
		inst := v.startInstance("claim", map[string]any{"priority": 1, "status": "open"})
		set := func(vars map[string]any) {
			t.Helper()
			if err := v.e.SetVariables(v.ctx, inst.ID, vars); err != nil {
				t.Fatal(err)
			}
		}
		paged := func() int {
			n := 0
			for _, ev := range v.detail(inst.ID).History {
				if ev.Type == event.ElementLeft && ev.ElementID == "paged" {
					n++
				}
			}
			return n
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"assess"}) || paged() != 0 {
			t.Fatalf("tokens %v, paged %d", got, paged())
		}
		set(map[string]any{"priority": 9})
		set(map[string]any{"priority": 10})
		set(map[string]any{"note": "priority is not touched"})
		if n := paged(); n != 2 {
			t.Errorf("paged %d times, want 2 (each change of priority while above 5)", n)
		}
		set(map[string]any{"status": "reviewed"})
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"assess"}) {
			t.Fatalf("tokens %v", got)
		}
		set(map[string]any{"status": "withdrawn"})
		d := v.detail(inst.ID)
		if d.Instance.State != store.InstanceCompleted || len(d.Tokens) != 0 {
			t.Fatalf("after withdrawn: %s %v", d.Instance.State, d.Tokens)
		}
		if got := v.visited(inst.ID); !slices.Contains(got, "closed") || slices.Contains(got, "assessed") {
			t.Errorf("path %v", got)
		}

		// Already true when the instance starts: the interrupting start fires at once.
		early := v.startInstance("claim", map[string]any{"priority": 1, "status": "withdrawn"})
		if d := v.detail(early.ID); d.Instance.State != store.InstanceCompleted || !slices.Contains(v.visited(early.ID), "closed") {
			t.Errorf("started withdrawn: %s, path %v", d.Instance.State, v.visited(early.ID))
		}
	})
}

// TestBuiltEventSubprocesses: event subprocesses built in Go, with an escalation start
// (non-interrupting) inside a subprocess and a conditional start (interrupting) at process
// level, run as drawn ones do.
func TestBuiltEventSubprocesses(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		defs, err := bpmn.Build("built_es").
			Start("start").
			SubProcess("sub", func(b *bpmn.Builder) {
				b.Start("subStart").
					ParallelGateway("fork").
					Branch().UserTask("work").End("subEnd").
					Branch().EscalationThrow("late", "LATE").End("lateEnd").
					EventSubProcess("onLate", func(b *bpmn.Builder) {
						b.EscalationStart("lateStart", "LATE", bpmn.NonInterrupting()).UserTask("tellBoss").End("told")
					})
			}).
			End("done").
			EventSubProcess("abort", func(b *bpmn.Builder) {
				b.ConditionalStart("aborted", `abort == true`).End("abortEnd")
			}).
			Definitions()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.DeployModel(v.ctx, "built_es.bpmn", defs); err != nil {
			t.Fatal(err)
		}
		inst := v.startInstance("built_es", map[string]any{"abort": false})
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"onLate", "sub", "tellBoss", "work"}) {
			t.Fatalf("tokens %v, want the escalation's event subprocess beside the work", got)
		}
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"abort": true}); err != nil {
			t.Fatal(err)
		}
		d := v.detail(inst.ID)
		if d.Instance.State != store.InstanceCompleted || len(d.Tokens) != 0 || slices.Contains(v.visited(inst.ID), "done") {
			t.Errorf("after abort: %s tokens %v path %v", d.Instance.State, d.Tokens, v.visited(inst.ID))
		}
	})
}
