package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
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

func (v *env) deployBuilt(b *bpmn.Builder) {
	v.t.Helper()
	defs, err := b.Definitions()
	if err != nil {
		v.t.Fatalf("build: %v", err)
	}
	if _, err := v.e.DeployModel(v.ctx, "built.bpmn", defs); err != nil {
		v.t.Fatalf("deploy: %v", err)
	}
}

func (v *env) complete(id, element string, vars map[string]any) {
	v.t.Helper()
	if err := v.e.CompleteUserTask(v.ctx, v.openTask(id, element).ID, vars); err != nil {
		v.t.Fatalf("complete %s: %v", element, err)
	}
}

// An inclusive gateway forks into every branch whose condition holds (the default when
// none does) and its join waits only for the branches that were taken.
func TestInclusiveGateway(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deployBuilt(bpmn.Build("incl").Start("start").
			InclusiveGateway("fork").
			Condition("a").UserTask("ua").Connect("join").
			MoveTo("fork").Condition("b").TimerCatch("wait", bpmn.Duration("PT1M")).UserTask("ub").Connect("join").
			MoveTo("fork").Default().UserTask("uc").Connect("join").
			InclusiveGateway("join").UserTask("after").End("end"))

		both := v.startInstance("incl", map[string]any{"a": true, "b": true})
		if got := v.tokensAt(both.ID); !slices.Equal(got, []string{"ua", "wait"}) {
			t.Fatalf("both: tokens at %v", got)
		}
		v.complete(both.ID, "ua", nil)
		// The b branch's token waits on a timer and can still reach the join.
		if got := v.tokensAt(both.ID); !slices.Equal(got, []string{"join", "wait"}) {
			t.Fatalf("both after ua: tokens at %v", got)
		}
		v.advance(time.Minute)
		v.waitFor("ub", func() bool { return slices.Equal(v.tokensAt(both.ID), []string{"join", "ub"}) })
		v.complete(both.ID, "ub", nil)
		if got := v.tokensAt(both.ID); !slices.Equal(got, []string{"after"}) {
			t.Fatalf("both after ub: tokens at %v", got)
		}
		if n := countIn(v.detail(both.ID).History, event.ElementLeft, "join"); n != 1 {
			t.Errorf("join left %d times, want 1", n)
		}

		one := v.startInstance("incl", map[string]any{"a": true, "b": false})
		v.complete(one.ID, "ua", nil)
		if got := v.tokensAt(one.ID); !slices.Equal(got, []string{"after"}) {
			t.Fatalf("one branch: tokens at %v (the join must not wait for a branch not taken)", got)
		}

		none := v.startInstance("incl", map[string]any{"a": false, "b": false})
		if got := v.tokensAt(none.ID); !slices.Equal(got, []string{"uc"}) {
			t.Fatalf("default: tokens at %v", got)
		}
		v.complete(none.ID, "uc", nil)
		v.complete(none.ID, "after", nil)
		v.waitState(none.ID, store.InstanceCompleted)
	})
}

func countIn(h []*store.Event, typ event.Type, element string) int {
	n := 0
	for _, ev := range h {
		if ev.Type == typ && ev.ElementID == element {
			n++
		}
	}
	return n
}

// The first event after an event-based gateway wins; the others are withdrawn.
func TestEventBasedGateway(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deployBuilt(bpmn.Build("pay").Start("start").
			EventGateway("which").
			Branch().MessageCatch("paid", "payment.received", "orderId").End("endPaid").
			MoveTo("which").Branch().ReceiveTask("cancelled", "order.cancelled", "orderId").End("endCancelled").
			MoveTo("which").Branch().TimerCatch("timeout", bpmn.Duration("PT1H")).End("endTimeout"))

		byMessage := v.startInstance("pay", map[string]any{"orderId": "o-1"})
		if got := v.tokensAt(byMessage.ID); !slices.Equal(got, []string{"which"}) {
			t.Fatalf("tokens at %v, want the gateway", got)
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "o-1"}); err != nil {
			t.Fatal(err)
		}
		v.waitState(byMessage.ID, store.InstanceCompleted)
		if got := v.visited(byMessage.ID); !slices.Contains(got, "endPaid") || slices.Contains(got, "endTimeout") {
			t.Errorf("visited %v", got)
		}
		d := v.detail(byMessage.ID)
		if len(d.Jobs) != 0 {
			t.Errorf("left behind: %d jobs", len(d.Jobs))
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.cancelled", CorrelationKey: "o-1"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the withdrawn receive task still took a message: %v", err)
		}

		byReceive := v.startInstance("pay", map[string]any{"orderId": "o-2"})
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.cancelled", CorrelationKey: "o-2"}); err != nil {
			t.Fatal(err)
		}
		v.waitState(byReceive.ID, store.InstanceCompleted)
		if got := v.visited(byReceive.ID); !slices.Contains(got, "cancelled") || !slices.Contains(got, "endCancelled") {
			t.Errorf("visited %v", got)
		}

		byTimer := v.startInstance("pay", map[string]any{"orderId": "o-3"})
		v.advance(time.Hour)
		v.waitState(byTimer.ID, store.InstanceCompleted)
		if got := v.visited(byTimer.ID); !slices.Contains(got, "endTimeout") {
			t.Errorf("visited %v", got)
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "o-3"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the withdrawn message catch still took a message: %v", err)
		}
	})
}

// Message boundary events: a non-interrupting one fires for every message and leaves the
// task open; an interrupting one cancels the task. A receive task waits for its message.
func TestMessageBoundaryAndReceiveTask(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBuilt(bpmn.Build("msgs").Start("start").
			ReceiveTask("confirmed", "order.confirmed", "orderId").
			UserTask("pack").BoundaryMessage("ping", "order.ping", "orderId", bpmn.NonInterrupting()).End("endPing").
			MoveTo("pack").BoundaryMessage("cancel", "order.cancel", "orderId").End("endCancel").
			MoveTo("pack").End("end"))
		correlate := func(name, key string, vars map[string]any) {
			t.Helper()
			if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: name, CorrelationKey: key, Variables: vars}); err != nil {
				t.Fatalf("correlate %s: %v", name, err)
			}
		}
		inst := v.startInstance("msgs", map[string]any{"orderId": "o-9"})
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"confirmed"}) {
			t.Fatalf("tokens at %v", got)
		}
		correlate("order.confirmed", "o-9", map[string]any{"confirmedBy": "shop"})
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"pack"}) {
			t.Fatalf("after confirm: tokens at %v", got)
		}
		correlate("order.ping", "o-9", nil)
		correlate("order.ping", "o-9", nil)
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"pack"}) {
			t.Fatalf("after pings: tokens at %v", got)
		}
		if n := countIn(v.detail(inst.ID).History, event.ElementLeft, "endPing"); n != 2 {
			t.Errorf("ping path ran %d times, want 2", n)
		}
		correlate("order.cancel", "o-9", nil)
		v.waitState(inst.ID, store.InstanceCompleted)
		d := v.detail(inst.ID)
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.ping", CorrelationKey: "o-9"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("the cancelled task's boundary still took a message: %v", err)
		}
		var packState string
		for _, task := range d.UserTasks {
			if task.ElementID == "pack" {
				packState = task.State
			}
		}
		if packState != store.TaskCancelled {
			t.Errorf("pack task %q, want cancelled", packState)
		}

		// Completing the task withdraws its boundary subscriptions.
		done := v.startInstance("msgs", map[string]any{"orderId": "o-10"})
		correlate("order.confirmed", "o-10", nil)
		v.complete(done.ID, "pack", nil)
		v.waitState(done.ID, store.InstanceCompleted)
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.cancel", CorrelationKey: "o-10"}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("a completed task's boundary still took a message: %v", err)
		}
	})
}

// A link throw event continues at the link catch event of the same name.
func TestLinkEvents(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBuilt(bpmn.Build("links").Start("start").Task("a").LinkThrow("go", "toB").
			LinkCatch("land", "toB").UserTask("b").End("end"))
		inst := v.startInstance("links", nil)
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("tokens at %v", got)
		}
		if got := v.visited(inst.ID); !slices.Equal(got, []string{"start", "a", "go", "land"}) {
			t.Errorf("visited %v", got)
		}
	})
}

// Message throw and end events run as jobs of their type.
func TestMessageThrowAndEndRunAsJobs(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		var sent []string
		v.e.Handle("notify", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			mu.Lock()
			sent = append(sent, j.ElementID)
			mu.Unlock()
			return nil, nil
		})
		v.start()
		v.deployBuilt(bpmn.Build("notify").Start("start").
			MessageThrow("tellShop", "order.accepted", "notify").
			End("end", bpmn.MessageEnd("order.done", "notify")))
		inst := v.startInstance("notify", nil)
		v.waitState(inst.ID, store.InstanceCompleted)
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(sent, []string{"tellShop", "end"}) {
			t.Errorf("jobs ran at %v", sent)
		}
	})
}

// What cannot run is refused at deployment with the element named.
func TestNewElementsRefusedWhenIncomplete(t *testing.T) {
	for _, c := range []struct{ name, xml, want string }{
		{"message throw without job type", `<intermediateThrowEvent id="t"><messageEventDefinition messageRef="m"/></intermediateThrowEvent>`, "run as jobs"},
		{"receive task without message", `<receiveTask id="t"/>`, "no messageRef"},
		{"link throw without catch", `<intermediateThrowEvent id="t"><linkEventDefinition name="nowhere"/></intermediateThrowEvent>`, `no link catch event named "nowhere"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := `<?xml version="1.0"?><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
<message id="m" name="msg"/><process id="p" isExecutable="true"><startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="t"/>` + c.xml + `</process></definitions>`
			v, verr := engine.Validate([]byte(doc))
			if verr != nil {
				t.Fatal(verr)
			}
			if e := v.Err(); e == nil || !strings.Contains(e.Error(), c.want) {
				t.Errorf("got %v, want %q", e, c.want)
			}
		})
	}
}

// A business rule task naming a DMN decision (camunda:decisionRef) runs as a job of type
// "decision:<id>"; its handler's result is set like any job's.
func TestBusinessRuleTaskDecisionIsAJob(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("decision:discountRules", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return map[string]any{"discount": 0.1}, nil
		})
		v.start()
		v.deploy("decision.bpmn")
		inst := v.startInstance("approveDiscount", nil)
		v.waitState(inst.ID, store.InstanceCompleted)
		var got string
		for _, va := range v.detail(inst.ID).Variables {
			if va.Name == "discount" {
				got = string(va.Value)
			}
		}
		if got != "0.1" {
			t.Errorf("discount = %q", got)
		}
	})
}

// The gateways and message events of a Camunda 8 model as Modeler 5 writes it.
func TestZeebeModelWithGatewaysAndMessages(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		ran := map[string]int{}
		for _, typ := range []string{"gift.wrap", "parcel.insure", "customer.notify"} {
			v.e.Handle(typ, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
				mu.Lock()
				ran[j.Type]++
				mu.Unlock()
				return nil, nil
			})
		}
		v.start()
		v.deploy("zeebe_gateways.bpmn")
		rich := v.startInstance("shipping", map[string]any{"orderId": "o-1", "gift": true, "amount": 2000})
		v.waitFor("waiting for delivery", func() bool { return slices.Equal(v.tokensAt(rich.ID), []string{"Gateway_wait"}) })
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "parcel.delivered", CorrelationKey: "o-1"}); err != nil {
			t.Fatal(err)
		}
		v.waitState(rich.ID, store.InstanceCompleted)
		if n := countIn(v.detail(rich.ID).History, event.ElementLeft, "Gateway_join"); n != 1 {
			t.Errorf("join left %d times", n)
		}

		plain := v.startInstance("shipping", map[string]any{"orderId": "o-2", "gift": false, "amount": 10})
		v.waitFor("waiting for delivery", func() bool { return slices.Equal(v.tokensAt(plain.ID), []string{"Gateway_wait"}) })
		v.advance(72 * time.Hour)
		v.waitState(plain.ID, store.InstanceCompleted)
		if got := v.visited(plain.ID); !slices.Contains(got, "Event_lost") || slices.Contains(got, "Task_wrap") {
			t.Errorf("visited %v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if ran["gift.wrap"] != 1 || ran["parcel.insure"] != 1 || ran["customer.notify"] != 2 {
			t.Errorf("jobs ran %v", ran)
		}
	})
}
