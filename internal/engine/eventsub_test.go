package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// subsOf reads the message subscriptions of an instance from the store.
func (v *env) subsOf(id string) []*store.Subscription {
	v.t.Helper()
	var out []*store.Subscription
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		agg, err := tx.LoadInstance(v.ctx, id)
		if err != nil {
			return err
		}
		out = agg.Subscriptions
		return nil
	})
	if err != nil {
		v.t.Fatalf("load instance %s: %v", id, err)
	}
	return out
}

// armed lists the elements the instance's timer jobs and subscriptions wait at, sorted.
func (v *env) armed(id string) []string {
	v.t.Helper()
	var at []string
	for _, j := range v.detail(id).Jobs {
		if j.Kind == store.JobTimer {
			at = append(at, "timer:"+j.ElementID)
		}
	}
	for _, s := range v.subsOf(id) {
		at = append(at, "message:"+s.ElementID+"="+s.CorrelationKey)
	}
	slices.Sort(at)
	return at
}

func (v *env) correlate(name, key string, vars map[string]any) (*engine.CorrelationResult, error) {
	return v.e.CorrelateMessage(v.ctx, engine.Message{Name: name, CorrelationKey: key, Variables: vars})
}

func (v *env) completeTask(id, element string, vars map[string]any) {
	v.t.Helper()
	if err := v.e.CompleteUserTask(v.ctx, v.openTask(id, element).ID, vars); err != nil {
		v.t.Fatal(err)
	}
}

// cancelReasons returns the reasons of the element.cancelled events of an instance, by
// element.
func (v *env) cancelReasons(id string) map[string]string {
	v.t.Helper()
	out := map[string]string{}
	for _, ev := range v.detail(id).History {
		if ev.Type == event.ElementCancelled {
			out[ev.ElementID] = string(ev.Data)
		}
	}
	return out
}

// TestEventSubprocessesAtProcessLevel runs a Camunda Modeler (Camunda 7) model with three
// event subprocesses at process level: an interrupting message start, a non-interrupting
// timer cycle and an error start catching a job's BPMN error.
func TestEventSubprocessesAtProcessLevel(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("charge", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if j.Variables["card"] == "declined" {
				return nil, engine.ThrowError("PAYMENT_FAILED", "card declined")
			}
			return nil, nil
		})
		v.start()
		v.deploy("eventsub_process.bpmn")

		// Armed from the start: the cancel message and the reminder cycle; the error start
		// arms nothing.
		ok := v.startInstance("order_esp", map[string]any{"card": "good"})
		want := []string{"message:cancelRequested=", "timer:everyHour"}
		if got := v.armed(ok.ID); !slices.Equal(got, want) {
			t.Fatalf("armed %v, want %v", got, want)
		}
		v.waitFor("pack task", func() bool { return slices.Contains(v.tokensAt(ok.ID), "pack") })

		// The timer cycle fires three times (R3), each time beside the waiting task.
		for i := 1; i <= 3; i++ {
			v.advance(time.Hour)
			v.waitFor("reminder", func() bool { return v.countEvents(event.ElementLeft, "reminded") == i })
			if got := v.tokensAt(ok.ID); !slices.Equal(got, []string{"pack"}) {
				t.Fatalf("after reminder %d tokens at %v, want [pack]", i, got)
			}
		}
		v.advance(time.Hour)
		if got := v.armed(ok.ID); !slices.Equal(got, []string{"message:cancelRequested="}) {
			t.Errorf("after R3 armed %v, want the message only", got)
		}
		if n := v.countEvents(event.ElementLeft, "reminded"); n != 3 {
			t.Errorf("reminders %d, want 3", n)
		}

		// The instance ends normally: the message start is disarmed with it.
		v.completeTask(ok.ID, "pack", nil)
		v.waitState(ok.ID, store.InstanceCompleted)
		if got := v.armed(ok.ID); len(got) != 0 {
			t.Errorf("armed after the end: %v", got)
		}
		if _, err := v.correlate("order.cancel", "", nil); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("cancel after the end: %v, want ErrNotFound", err)
		}

		// The cancel message interrupts: the task is cancelled, the timer disarmed, the
		// instance completes through the event subprocess.
		cancel := v.startInstance("order_esp", map[string]any{"card": "good"})
		v.waitFor("pack task", func() bool { return slices.Contains(v.tokensAt(cancel.ID), "pack") })
		res, err := v.correlate("order.cancel", "", map[string]any{"why": "changed mind"})
		if err != nil || res.InstanceID != cancel.ID || res.Started {
			t.Fatalf("correlate cancel: %+v %v", res, err)
		}
		d := v.detail(cancel.ID)
		if d.Instance.State != store.InstanceCompleted || len(d.Tokens) != 0 || len(d.Jobs) != 0 || len(v.subsOf(cancel.ID)) != 0 {
			t.Fatalf("after cancel: state %s tokens %v jobs %v subs %v", d.Instance.State, d.Tokens, d.Jobs, v.subsOf(cancel.ID))
		}
		if got := v.visited(cancel.ID); !slices.Contains(got, "cancelEnd") || !slices.Contains(got, "cancelled") || slices.Contains(got, "shipped") {
			t.Errorf("cancel path %v", got)
		}
		if r := v.cancelReasons(cancel.ID)["pack"]; !strings.Contains(r, event.ReasonInterrupted("cancelled")) {
			t.Errorf("pack cancelled with %s", r)
		}
		for _, task := range d.UserTasks {
			if task.ElementID == "pack" && task.State != store.TaskCancelled {
				t.Errorf("pack task %s, want cancelled", task.State)
			}
		}
		if !v.hasEvent(cancel.ID, event.MessageCorrelated, "cancelRequested") {
			t.Error("no message.correlated at the start event")
		}

		// The job's BPMN error is caught by the error start: the rest is interrupted, the
		// event subprocess runs to its end, then the instance completes.
		declined := v.startInstance("order_esp", map[string]any{"card": "declined"})
		v.waitFor("error caught", func() bool { return slices.Contains(v.tokensAt(declined.ID), "notifyCustomer") })
		if got := v.tokensAt(declined.ID); !slices.Equal(got, []string{"notifyCustomer", "paymentFailed"}) {
			t.Errorf("tokens %v, want the event subprocess and its task", got)
		}
		if got := v.armed(declined.ID); len(got) != 0 {
			t.Errorf("armed after the interrupting error start: %v", got)
		}
		var entered *store.Event
		for _, ev := range v.detail(declined.ID).History {
			if ev.Type == event.ElementEntered && ev.ElementID == "paymentError" {
				entered = ev
			}
		}
		var data struct{ ErrorCode, ErrorMessage string }
		if entered != nil {
			_ = json.Unmarshal(entered.Data, &data)
		}
		if data.ErrorCode != "PAYMENT_FAILED" || data.ErrorMessage != "card declined" {
			t.Errorf("error start entered with %+v", data)
		}
		// camunda:errorCodeVariable and errorMessageVariable hold what was caught.
		vars := map[string]string{}
		for _, va := range v.detail(declined.ID).Variables {
			vars[va.Name] = string(va.Value)
		}
		if vars["failure"] != `"PAYMENT_FAILED"` || vars["failureMessage"] != `"card declined"` {
			t.Errorf("error variables %v", vars)
		}
		v.completeTask(declined.ID, "notifyCustomer", nil)
		v.waitState(declined.ID, store.InstanceCompleted)
		if got := v.visited(declined.ID); !slices.Contains(got, "paymentEnd") || slices.Contains(got, "pack") {
			t.Errorf("error path %v", got)
		}
	})
}
