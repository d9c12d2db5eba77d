package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestEventSubprocessesInASubprocess runs a Camunda Modeler (Camunda 8) model whose
// embedded subprocess holds a non-interrupting message start with a correlation key and
// an interrupting timer start: both are armed while the subprocess runs, and disarmed
// when it ends either way.
func TestEventSubprocessesInASubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("relabel", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return map[string]any{"labels": 1}, nil
		})
		v.start()
		v.deploy("eventsub_nested.bpmn")

		a := v.startInstance("fulfilment", map[string]any{"orderId": "A1"})
		b := v.startInstance("fulfilment", map[string]any{"orderId": 42})
		want := []string{"message:addressChanged=A1", "timer:after30m"}
		if got := v.armed(a.ID); !slices.Equal(got, want) {
			t.Fatalf("armed %v, want %v", got, want)
		}
		if got := v.armed(b.ID); !slices.Contains(got, "message:addressChanged=42") {
			t.Fatalf("armed %v: the key is the value of orderId", got)
		}
		for _, s := range v.subsOf(a.ID) {
			if tok := v.tokenAt(a.ID, "fulfil"); s.TokenID != tok.ID {
				t.Errorf("subscription owned by %q, want the subprocess token %q", s.TokenID, tok.ID)
			}
		}

		// The key picks the instance; non-interrupting: it runs twice beside the task.
		for i := 1; i <= 2; i++ {
			res, err := v.correlate("address-changed", "A1", map[string]any{"street": "Elm"})
			if err != nil || res.InstanceID != a.ID {
				t.Fatalf("correlate %d: %+v %v", i, res, err)
			}
			v.waitFor("relabelled", func() bool { return v.countEvents(event.ElementLeft, "relabelled") == i })
		}
		if got := v.tokensAt(a.ID); !slices.Equal(got, []string{"fulfil", "pick"}) {
			t.Errorf("tokens %v, want the subprocess and its task", got)
		}
		if v.hasEvent(b.ID, event.ElementEntered, "addressChange") {
			t.Error("the message for A1 reached the instance of 42")
		}
		// The tokens of the event subprocess stand inside the subprocess's scope (the
		// diagram draws them there), while it runs.
		for _, ev := range v.detail(a.ID).History {
			if ev.Type == event.ElementEntered && ev.ElementID == "addressChange" && ev.TokenID == "" {
				t.Error("element.entered of the event subprocess names no token")
			}
		}

		// The subprocess ends normally: its starts are disarmed; the instance moves on.
		v.completeTask(a.ID, "pick", nil)
		v.waitFor("ship", func() bool { return slices.Equal(v.tokensAt(a.ID), []string{"ship"}) })
		if got := v.armed(a.ID); len(got) != 0 {
			t.Errorf("armed after the subprocess: %v", got)
		}
		if _, err := v.correlate("address-changed", "A1", nil); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("message after the subprocess: %v, want ErrNotFound", err)
		}

		// The timer interrupts the other instance's subprocess: the task is cancelled, the
		// message start disarmed, and the subprocess completes through the event subprocess.
		v.advance(30 * time.Minute)
		v.waitFor("timeout", func() bool { return slices.Equal(v.tokensAt(b.ID), []string{"ship"}) })
		if got := v.visited(b.ID); !slices.Contains(got, "outsourced") || !slices.Contains(got, "fulfil") || slices.Contains(got, "pick") {
			t.Errorf("timeout path %v", got)
		}
		if got := v.armed(b.ID); len(got) != 0 {
			t.Errorf("armed after the interrupting timer: %v", got)
		}
		// Nothing fires later in either instance.
		v.advance(time.Hour)
		v.completeTask(a.ID, "ship", nil)
		v.completeTask(b.ID, "ship", nil)
		v.waitState(a.ID, store.InstanceCompleted)
		v.waitState(b.ID, store.InstanceCompleted)
		if n := v.countEvents(event.TimerFired, "after30m"); n != 1 {
			t.Errorf("the timer fired %d times, want once (for the instance still picking)", n)
		}
	})
}

func (v *env) tokenAt(id, element string) *store.Token {
	v.t.Helper()
	for _, tok := range v.detail(id).Tokens {
		if tok.ElementID == element {
			return tok
		}
	}
	v.t.Fatalf("no token at %s", element)
	return nil
}

// TestErrorCatchOrder: the nearest catcher wins, in BPMN order — the boundary on the
// activity, then an error event subprocess of its scope, then the boundary on the
// enclosing subprocess, then the event subprocesses of the scope around it. An error
// thrown inside an event subprocess goes to the scope around it, not back to itself.
func TestErrorCatchOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("risky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return nil, engine.ThrowError(j.Variables["throw"].(string), "booking failed")
		})
		v.start()
		v.deploy("eventsub_errors.bpmn")
		for _, c := range []struct {
			throw, code string
			want, not   []string
		}{
			{"E1", "", []string{"onTaskError", "taskCaught", "done"}, []string{"subErrors", "processCaught"}},
			{"E2", "", []string{"subErrors", "subCaught", "sub", "done"}, []string{"onTaskError", "onSubFailed", "processCaught"}},
			{"E2", "RETHROW", []string{"subErrors", "throwAgain", "anyError", "processCaught"}, []string{"subCaught", "done", "onSubFailed"}},
			{"E3", "", []string{"onSubFailed", "subBoundaryCaught"}, []string{"subErrors", "processCaught", "done"}},
			{"E4", "", []string{"anyError", "processCaught"}, []string{"subErrors", "onSubFailed", "done"}},
		} {
			inst := v.startInstance("error_order", map[string]any{"throw": c.throw, "code": c.code})
			v.waitState(inst.ID, store.InstanceCompleted)
			got := v.entered(inst.ID)
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s %s: path %v lacks %s", c.throw, c.code, got, w)
				}
			}
			for _, n := range c.not {
				if slices.Contains(got, n) {
					t.Errorf("%s %s: path %v has %s", c.throw, c.code, got, n)
				}
			}
			if d := v.detail(inst.ID); len(d.Tokens) != 0 || len(d.Jobs) != 0 || len(v.openIncidents(inst.ID)) != 0 {
				t.Errorf("%s %s: left tokens %v jobs %v", c.throw, c.code, d.Tokens, d.Jobs)
			}
		}
	})
}

// TestTerminateInsideASubprocess: a terminate end event ends its subprocess only (the
// other branch and a running event subprocess with it, its starts disarmed); the process
// continues after the subprocess.
func TestTerminateInsideASubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("terminate_sub.bpmn")
		inst := v.startInstance("terminate_sub", nil)
		if _, err := v.correlate("ping", "", nil); err != nil {
			t.Fatal(err)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"answer", "fast", "pinged", "slow", "sub"}) {
			t.Fatalf("tokens %v", got)
		}
		v.completeTask(inst.ID, "fast", nil)
		d := v.detail(inst.ID)
		if d.Instance.State != store.InstanceActive {
			t.Fatalf("instance %s: the terminate end event in the subprocess ended it", d.Instance.State)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"after"}) {
			t.Errorf("tokens %v, want [after]", got)
		}
		for _, task := range d.UserTasks {
			if (task.ElementID == "slow" || task.ElementID == "answer") && task.State != store.TaskCancelled {
				t.Errorf("%s %s, want cancelled", task.ElementID, task.State)
			}
		}
		if r := v.cancelReasons(inst.ID)["slow"]; !strings.Contains(r, event.ReasonTerminated("stopSub")) {
			t.Errorf("slow cancelled with %s", r)
		}
		if got := v.armed(inst.ID); len(got) != 0 {
			t.Errorf("armed after the terminate: %v", got)
		}
		v.completeTask(inst.ID, "after", nil)
		if d := v.detail(inst.ID); d.Instance.State != store.InstanceCompleted {
			t.Errorf("instance %s", d.Instance.State)
		}
	})
}

// entered lists the elements the instance's tokens entered, in order.
func (v *env) entered(id string) []string {
	var out []string
	for _, ev := range v.detail(id).History {
		if ev.Type == event.ElementEntered {
			out = append(out, ev.ElementID)
		}
	}
	return out
}

// TestEventSubprocessArmingFailsAndCancel: a correlation key that cannot be used when a
// subprocess begins (here longer than MaxBusinessKeyBytes) is an incident at the
// subprocess, with nothing armed; the retry (with the variable fixed) arms the starts once
// and enters the subprocess. Cancelling the instance removes the armed starts of every
// scope.
func TestEventSubprocessArmingFailsAndCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("eventsub_nested.bpmn")
		inst := v.startInstance("fulfilment", map[string]any{"orderId": strings.Repeat("k", engine.MaxBusinessKeyBytes+1)})
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].ElementID != "fulfil" || !strings.Contains(incs[0].Message, "addressChange") {
			t.Fatalf("incidents %+v", incs)
		}
		if got := v.armed(inst.ID); len(got) != 0 {
			t.Fatalf("armed %v, want nothing before the retry", got)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"fulfil"}) {
			t.Fatalf("tokens %v", got)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{Variables: map[string]any{"orderId": "C3"}}); err != nil {
			t.Fatal(err)
		}
		if got := v.armed(inst.ID); !slices.Equal(got, []string{"message:addressChanged=C3", "timer:after30m"}) {
			t.Fatalf("armed after the retry %v", got)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"fulfil", "pick"}) {
			t.Fatalf("tokens after the retry %v", got)
		}

		if err := v.e.CancelInstance(v.ctx, inst.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if got := v.armed(inst.ID); len(got) != 0 {
			t.Errorf("armed after cancel: %v", got)
		}

		v.deploy("eventsub_process.bpmn")
		top := v.startInstance("order_esp", map[string]any{"card": "good"})
		if err := v.e.CancelInstance(v.ctx, top.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if got := v.armed(top.ID); len(got) != 0 {
			t.Errorf("process-level starts armed after cancel: %v", got)
		}
	})
}
