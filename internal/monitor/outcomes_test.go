package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// An element left through an interrupting boundary event (error, timer) or cut short by
// a terminate end event is interrupted by the process, not cancelled by a person: the
// report counts those apart from the tokens of cancelled instances. The engine runs for
// real (jobs, timers on the fake clock), so its cancellation reasons are pinned here.
func TestElementOutcomes(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := k.open(t)
			fc := clock.NewFake(mt0)
			e, err := engine.New(engine.Options{Store: st, Clock: fc, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := e.Stop(sctx); err != nil {
					t.Errorf("stop engine: %v", err)
				}
				if err := st.Close(); err != nil {
					t.Errorf("close store: %v", err)
				}
			})
			e.Handle("charge", func(context.Context, *engine.Job) (map[string]any, error) {
				return nil, engine.ThrowError("DECLINED", "card declined")
			})
			defs, err := bpmn.Build("outcomes").Start("start").ExclusiveGateway("path").
				Condition(`path == "error"`).ServiceTask("charge", bpmn.JobType("charge")).End("paid").
				MoveTo("charge").BoundaryError("declined", "DECLINED").End("endDeclined").
				MoveTo("path").Condition(`path == "timer"`).UserTask("review").End("reviewed").
				MoveTo("review").BoundaryTimer("late", bpmn.Duration("PT1H")).End("endLate").
				MoveTo("path").Condition(`path == "terminate"`).ParallelGateway("fork").UserTask("idle").End("idleEnd").
				MoveTo("fork").End("stop", bpmn.Terminate()).
				MoveTo("path").Default().UserTask("hold").End("held").
				Definitions()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.DeployModel(ctx, "outcomes.bpmn", defs); err != nil {
				t.Fatal(err)
			}
			if err := e.Start(ctx); err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{}
			for _, path := range []string{"error", "timer", "terminate", "cancel"} {
				in, err := e.StartInstance(ctx, "outcomes", engine.StartOptions{Variables: map[string]any{"path": path}})
				if err != nil {
					t.Fatal(err)
				}
				ids[path] = in.ID
			}
			state := func(path string) string {
				d, err := e.GetInstance(ctx, ids[path])
				if err != nil {
					t.Fatal(err)
				}
				return d.Instance.State
			}
			wait.For(t, "the declined charge", func() bool { return state("error") == store.InstanceCompleted })
			wait.For(t, "the review's timer job", func() bool {
				jobs, err := e.ListJobs(ctx, store.JobFilter{InstanceID: ids["timer"]})
				return err == nil && len(jobs) == 1
			})
			fc.Advance(time.Hour)
			wait.For(t, "the late review", func() bool { return state("timer") == store.InstanceCompleted })
			if got := state("terminate"); got != store.InstanceCompleted {
				t.Fatalf("terminated instance is %s", got)
			}
			if err := e.CancelInstance(ctx, ids["cancel"], "no longer needed"); err != nil {
				t.Fatal(err)
			}
			// The engine writes the reasons of package event, the ones the fold reads.
			for path, want := range map[string]struct{ element, reason string }{
				"error":     {"charge", event.ReasonErrorCaught("DECLINED", "declined")},
				"timer":     {"review", event.ReasonTimer("late")},
				"terminate": {"idle", event.ReasonTerminated("stop")},
				"cancel":    {"hold", event.ReasonInstanceCancelled},
			} {
				evs, err := e.History(ctx, store.EventFilter{InstanceID: ids[path]})
				if err != nil {
					t.Fatal(err)
				}
				var reasons []string
				for _, ev := range evs {
					if ev.Type == event.ElementCancelled {
						var d map[string]any
						if err := json.Unmarshal(ev.Data, &d); err != nil {
							t.Fatal(err)
						}
						reasons = append(reasons, ev.ElementID+": "+fmt.Sprint(d[event.FieldReason]))
					}
				}
				if w := want.element + ": " + want.reason; len(reasons) != 1 || reasons[0] != w {
					t.Errorf("%s: element.cancelled %q, want [%q]", path, reasons, w)
				}
			}

			p, err := monitor.NewProjector(monitor.ProjectorOptions{Store: st, Clock: fc, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			for {
				n, err := p.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			mon, err := monitor.New(monitor.Options{Store: st, Clock: fc})
			if err != nil {
				t.Fatal(err)
			}
			for _, step := range []monitor.Step{monitor.StepMinute, monitor.StepHour, monitor.StepDay} {
				rep, err := mon.Report(ctx, monitor.Query{DefinitionKey: "outcomes", From: mt0, To: fc.Now().Add(time.Minute), Step: step})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string][2]int64{}
				for _, el := range rep.Elements {
					if el.Cancelled > 0 || el.Interrupted > 0 {
						got[el.ElementID] = [2]int64{el.Cancelled, el.Interrupted}
					}
				}
				want := map[string][2]int64{"charge": {0, 1}, "review": {0, 1}, "idle": {0, 1}, "hold": {1, 0}}
				if len(got) != len(want) {
					t.Errorf("%s: cancelled/interrupted %v, want %v", step, got, want)
				}
				for id, w := range want {
					if got[id] != w {
						t.Errorf("%s: %s cancelled/interrupted %v, want %v", step, id, got[id], w)
					}
				}
				if rep.Total.Cancelled != 1 || rep.Total.Completed != 3 {
					t.Errorf("%s: instances %+v, want 3 completed and 1 cancelled", step, rep.Total)
				}
			}
		})
	}
}
