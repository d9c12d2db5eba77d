package engine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// instancesOfKey lists the instances of a process (all states).
func (v *env) instancesOfKey(key string) []*store.Instance {
	v.t.Helper()
	page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: key, Limit: 500})
	if err != nil {
		v.t.Fatal(err)
	}
	return page.Instances
}

// signalsLeft counts the broadcasts not yet delivered (their jobs).
func (v *env) signalsLeft() int {
	v.t.Helper()
	n := 0
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		jobs, err := tx.ListJobs(v.ctx, store.JobFilter{Limit: 1000})
		for _, j := range jobs {
			if j.Kind == store.JobSignal {
				n++
			}
		}
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return n
}

// TestSignalBroadcast: an operator's broadcast reaches every instance waiting at a
// signal catch event (more than one step of the broadcast's), starts an instance of the
// process with a signal start event, sets its variables on each, and is gone after.
func TestSignalBroadcast(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("signal_catch.bpmn")
		v.deploy("signal_start.bpmn")
		const n = 150 // more than two steps of a broadcast
		var waiting []*store.Instance
		for range n {
			waiting = append(waiting, v.startInstance("signal_catch", nil))
		}
		if got := v.tokensAt(waiting[0].ID); len(got) != 1 || got[0] != "Event_wait" {
			t.Fatalf("tokens %v, want the catch event", got)
		}
		// A message of the same name is not a signal.
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "go"}); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("a message named like the signal: %v", err)
		}
		sb, err := v.e.BroadcastSignal(v.ctx, "go", map[string]any{"reason": "all clear"})
		if err != nil {
			t.Fatal(err)
		}
		v.waitFor("every instance past the catch event", func() bool {
			return v.countEvents(event.SignalReceived, "Event_wait") == n
		})
		v.waitFor("broadcast done", func() bool { return v.signalsLeft() == 0 })
		for _, inst := range waiting {
			if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Activity_after" {
				t.Fatalf("instance %s: tokens %v", inst.ID, got)
			}
		}
		started := v.instancesOfKey("signal_start")
		if len(started) != 1 {
			t.Fatalf("signal start: %d instances", len(started))
		}
		d := v.detail(started[0].ID)
		if len(d.UserTasks) != 1 || d.UserTasks[0].ElementID != "Activity_started" {
			t.Errorf("started instance tasks %+v", d.UserTasks)
		}
		if !hasVar(d, "reason", `"all clear"`) || !hasVar(v.detail(waiting[7].ID), "reason", `"all clear"`) {
			t.Error("the broadcast's variables are not set")
		}
		var received *store.Event
		for _, ev := range d.History {
			if ev.Type == event.SignalReceived {
				received = ev
			}
		}
		if received == nil || !strings.Contains(string(received.Data), sb.ID) {
			t.Errorf("signal.received of the started instance: %+v", received)
		}
		// The catch events were reached once: a second broadcast finds nobody waiting
		// but starts another instance.
		if _, err := v.e.BroadcastSignal(v.ctx, "go", nil); err != nil {
			t.Fatal(err)
		}
		v.waitFor("a second start", func() bool { return len(v.instancesOfKey("signal_start")) == 2 })
		v.waitFor("broadcast done", func() bool { return v.signalsLeft() == 0 })
		if got := v.countEvents(event.SignalReceived, "Event_wait"); got != n {
			t.Errorf("catch events received %d signals, want %d", got, n)
		}
	})
}

func hasVar(d *engine.InstanceDetail, name, value string) bool {
	for _, vr := range d.Variables {
		if vr.Name == name && string(vr.Value) == value {
			return true
		}
	}
	return false
}

// TestSignalThrow: signal throw and end events of one instance broadcast to the others.
func TestSignalThrow(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("signal_catch.bpmn")
		v.deploy("signal_throw.bpmn")
		a := v.startInstance("signal_catch", nil)
		b := v.startInstance("signal_catch", nil)
		thrower := v.startInstance("signal_throw", nil)
		if v.state(thrower.ID) != store.InstanceCompleted {
			t.Fatalf("thrower %s", v.state(thrower.ID))
		}
		if !v.hasEvent(thrower.ID, event.SignalThrown, "Event_throw") || !v.hasEvent(thrower.ID, event.SignalThrown, "Event_done") {
			t.Error("signal.thrown missing")
		}
		for _, inst := range []*store.Instance{a, b} {
			v.waitFor("signal caught", func() bool { return v.hasEvent(inst.ID, event.SignalReceived, "Event_wait") })
			if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Activity_after" {
				t.Errorf("tokens %v", got)
			}
		}
		v.waitFor("broadcasts done", func() bool { return v.signalsLeft() == 0 })
	})
}

// TestSignalBoundary: a non-interrupting signal boundary event fires at every signal and
// leaves the task open; an interrupting one cancels it.
func TestSignalBoundary(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("signal_boundary.bpmn")
		a := v.startInstance("signal_boundary", nil)
		b := v.startInstance("signal_boundary", nil)
		for i := 1; i <= 2; i++ {
			if _, err := v.e.BroadcastSignal(v.ctx, "ping", nil); err != nil {
				t.Fatal(err)
			}
			v.waitFor("pings", func() bool { return v.countEvents(event.ElementLeft, "Event_pinged") == 2*i })
		}
		if got := v.tokensAt(a.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Fatalf("after pings: tokens %v", got)
		}
		// b's task completes: its boundary subscriptions go with it.
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(b.ID, "Activity_work").ID, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.BroadcastSignal(v.ctx, "stop all", nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(a.ID, store.InstanceCompleted)
		v.waitFor("broadcasts done", func() bool { return v.signalsLeft() == 0 })
		if !v.hasEvent(a.ID, event.ElementLeft, "Event_stopped") || v.hasEvent(b.ID, event.ElementLeft, "Event_stopped") {
			t.Error("stop all: a stopped, b had completed")
		}
		var cancelled bool
		for _, ev := range v.detail(a.ID).History {
			if ev.Type == event.ElementCancelled && ev.ElementID == "Activity_work" &&
				strings.Contains(string(ev.Data), event.ReasonSignal("stop all", "Event_stop")) {
				cancelled = true
			}
		}
		if !cancelled {
			t.Error("the task was not cancelled by the signal")
		}
	})
}

// TestEscalation: an escalation thrown two subprocesses deep reaches the outer
// subprocess's boundary events: the non-interrupting one for its code first, then, at
// the end event's escalation, the interrupting catch-all.
func TestEscalation(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("escalation.bpmn")
		inst := v.startInstance("escalation", nil)
		if !v.hasEvent(inst.ID, event.ElementLeft, "Event_notified") {
			t.Error("the non-interrupting boundary event did not catch LOW")
		}
		if got := v.tokensAt(inst.ID); strings.Join(got, ",") != "Activity_inner,Activity_outer,Activity_review" {
			t.Fatalf("tokens %v", got)
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "Activity_review").ID, nil); err != nil {
			t.Fatal(err)
		}
		if v.state(inst.ID) != store.InstanceCompleted {
			t.Fatalf("state %s, tokens %v", v.state(inst.ID), v.tokensAt(inst.ID))
		}
		if !v.hasEvent(inst.ID, event.ElementLeft, "Event_escalated") || v.hasEvent(inst.ID, event.ElementLeft, "Event_done") {
			t.Error("HIGH was not caught by the catch-all")
		}
		var thrown []string
		for _, ev := range v.detail(inst.ID).History {
			if ev.Type == event.EscalationThrown {
				var data struct{ Code, CaughtBy string }
				if err := json.Unmarshal(ev.Data, &data); err != nil {
					t.Fatal(err)
				}
				thrown = append(thrown, ev.ElementID+":"+data.Code+":"+data.CaughtBy)
			}
		}
		want := []string{"Event_low:LOW:Event_catchLow", "Event_high:HIGH:Event_catchAll"}
		if strings.Join(thrown, " ") != strings.Join(want, " ") {
			t.Errorf("escalation.thrown %v, want %v", thrown, want)
		}
	})
}

// TestEscalationUncaught: an escalation nothing catches does not stop the flow.
func TestEscalationUncaught(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("escalation_uncaught.bpmn")
		inst := v.startInstance("escalation_uncaught", nil)
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Fatalf("tokens %v", got)
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "Activity_work").ID, nil); err != nil {
			t.Fatal(err)
		}
		if v.state(inst.ID) != store.InstanceCompleted || len(v.openIncidents(inst.ID)) != 0 {
			t.Errorf("state %s incidents %v", v.state(inst.ID), v.openIncidents(inst.ID))
		}
		if n := v.countEvents(event.EscalationThrown, ""); n != 2 {
			t.Errorf("escalation.thrown %d times, want 2", n)
		}
	})
}

// TestConditional: a conditional catch event waits until a variable change makes its
// condition true (and passes at once when it already is); conditional boundary events
// fire on variable changes, the non-interrupting one at each change of its variable.
func TestConditional(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("conditional.bpmn")
		ready := v.startInstance("conditional", map[string]any{"ready": true})
		if got := v.tokensAt(ready.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Fatalf("already ready: tokens %v", got)
		}
		inst := v.startInstance("conditional", map[string]any{"ready": false})
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Event_ready" {
			t.Fatalf("not ready: tokens %v", got)
		}
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"other": 1}); err != nil {
			t.Fatal(err)
		}
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Event_ready" {
			t.Fatalf("after an unrelated change: tokens %v", got)
		}
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"ready": true}); err != nil {
			t.Fatal(err)
		}
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Fatalf("ready: tokens %v", got)
		}
		// notes > 0, twice: the non-interrupting boundary fires at each change of notes.
		for i := 1; i <= 2; i++ {
			if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"notes": i}); err != nil {
				t.Fatal(err)
			}
		}
		// A change of another variable does not check a condition limited to notes.
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"other": 2}); err != nil {
			t.Fatal(err)
		}
		if n := v.countEvents(event.ElementLeft, "Event_noted"); n != 2 {
			t.Errorf("noted %d times, want 2", n)
		}
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"abort": true}); err != nil {
			t.Fatal(err)
		}
		if v.state(inst.ID) != store.InstanceCompleted || !v.hasEvent(inst.ID, event.ElementLeft, "Event_aborted") {
			t.Errorf("abort: state %s", v.state(inst.ID))
		}
		// The instance started ready is untouched by the other's variables.
		if got := v.tokensAt(ready.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Errorf("other instance: tokens %v", got)
		}
		// A condition already true when the task is reached fires then.
		aborted := v.startInstance("conditional", map[string]any{"ready": true, "abort": true})
		if v.state(aborted.ID) != store.InstanceCompleted || !v.hasEvent(aborted.ID, event.ElementLeft, "Event_aborted") {
			t.Errorf("abort at arrival: state %s tokens %v", v.state(aborted.ID), v.tokensAt(aborted.ID))
		}
	})
}

// TestEscalationEventSubprocess: event subprocesses with escalation starts catch what
// their scope throws: the non-interrupting one for its code runs beside the flow, the
// interrupting catch-all ends the scope's other work.
func TestEscalationEventSubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("escalation_eventsub.bpmn")
		inst := v.startInstance("escalation_eventsub", nil)
		if got := strings.Join(v.tokensAt(inst.ID), ","); got != "Activity_esp,Activity_handle,Activity_work" {
			t.Fatalf("tokens %s", got)
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "Activity_work").ID, nil); err != nil {
			t.Fatal(err)
		}
		if v.state(inst.ID) != store.InstanceCompleted || !v.hasEvent(inst.ID, event.ElementLeft, "Event_espHighEnd") {
			t.Fatalf("state %s tokens %v", v.state(inst.ID), v.tokensAt(inst.ID))
		}
		if v.hasEvent(inst.ID, event.ElementLeft, "Activity_handle") {
			t.Error("the interrupting event subprocess left the other one's task running to completion")
		}
	})
}

// TestSignalEventSubprocess: event subprocesses with signal starts are armed while their
// scope runs: the non-interrupting one runs at every broadcast, the interrupting one
// ends the scope's other work.
func TestSignalEventSubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("signal_eventsub.bpmn")
		inst := v.startInstance("signal_eventsub", nil)
		for i := 1; i <= 2; i++ {
			if _, err := v.e.BroadcastSignal(v.ctx, "ping", nil); err != nil {
				t.Fatal(err)
			}
			v.waitFor("ping handled", func() bool { return v.countEvents(event.ElementLeft, "Event_pingEnd") == i })
		}
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Activity_work" {
			t.Fatalf("after pings: tokens %v", got)
		}
		if _, err := v.e.BroadcastSignal(v.ctx, "stop", nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if !v.hasEvent(inst.ID, event.ElementLeft, "Event_stopped") || v.hasEvent(inst.ID, event.ElementLeft, "Event_done") {
			t.Error("stop did not interrupt the work")
		}
		v.waitFor("broadcasts done", func() bool { return v.signalsLeft() == 0 })
		// The instance ended: its signal subscriptions went with it.
		var left int
		if err := v.st.Read(v.ctx, func(tx store.Tx) error {
			subs, err := tx.SignalSubscriptions(v.ctx, "ping", "", "~", 10)
			left = len(subs)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Errorf("%d ping subscriptions left", left)
		}
	})
}

// TestSignalAfterEventGateway: a signal catch event after an event-based gateway: the
// broadcast takes the gateway's token along its path and withdraws the timer.
func TestSignalAfterEventGateway(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("signal_gateway.bpmn")
		inst := v.startInstance("signal_gateway", nil)
		if got := v.tokensAt(inst.ID); len(got) != 1 || got[0] != "Gateway_wait" {
			t.Fatalf("tokens %v", got)
		}
		if _, err := v.e.BroadcastSignal(v.ctx, "go", nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if !v.hasEvent(inst.ID, event.ElementLeft, "Event_went") || len(v.detail(inst.ID).Jobs) != 0 {
			t.Errorf("went %v, jobs left %d", v.hasEvent(inst.ID, event.ElementLeft, "Event_went"), len(v.detail(inst.ID).Jobs))
		}
	})
}
