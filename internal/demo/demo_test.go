package demo

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFlowsAreExecutable(t *testing.T) {
	t.Parallel()
	flows := Flows()
	if len(flows) < 2 {
		t.Fatalf("got %d demo flows, want the order and the invoice approval", len(flows))
	}
	for _, f := range flows {
		defs, err := bpmn.Parse(bytes.NewReader(f.XML))
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rep := bpmn.Check(defs)
		if err := rep.Err(); err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
		for _, p := range rep.Processes {
			if !p.IsExecutable || len(p.Executes) == 0 {
				t.Errorf("%s: process %q: executable=%v, %d elements execute", f.Name, p.ID, p.IsExecutable, len(p.Executes))
			}
		}
		if len(defs.Diagrams) == 0 || len(defs.Diagrams[0].Plane.Shapes) == 0 {
			t.Errorf("%s: no diagram interchange (DI)", f.Name)
		}
	}
}

// harness is a real engine on a real SQLite store with a fake clock, and the history
// events of every commit.
type harness struct {
	t      *testing.T
	e      *engine.Engine
	d      *Driver
	clk    *clock.Fake
	mu     sync.Mutex
	events []*store.Event
}

func newHarness(t *testing.T, sim Simulation) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, clk: clock.NewFake(time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC))}
	e, err := engine.New(engine.Options{
		Store: st, Clock: h.clk, Workers: 4,
		// OnCommit runs on the committer: record, never block.
		OnCommit: func(evs []*store.Event) {
			h.mu.Lock()
			h.events = append(h.events, evs...)
			h.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	if err := Deploy(ctx, e); err != nil {
		t.Fatal(err)
	}
	h.d, err = NewDriver(Options{Engine: e, Seed: 42, Simulation: sim, Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.d.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// waitFor returns the first event (from the start of the test) that matches, moving the
// fake clock on while it waits so that timers, retries and the shipment delay come due.
func (h *harness) waitFor(what string, match func(*store.Event) bool) *store.Event {
	h.t.Helper()
	var found *store.Event
	h.waitUntil(what, func(evs []*store.Event) bool {
		for _, ev := range evs {
			if match(ev) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// waitUntil waits until cond holds for the events so far (see waitFor).
func (h *harness) waitUntil(what string, cond func([]*store.Event) bool) {
	h.t.Helper()
	wait.Until(h.t, 30*time.Second, what, func() error {
		h.mu.Lock()
		ok := cond(h.events)
		h.mu.Unlock()
		if ok {
			return nil
		}
		h.clk.Advance(500 * time.Millisecond)
		return eventLog{h}
	})
}

// eventLog is a failed wait's error: the events so far, formatted only when it fails.
type eventLog struct{ h *harness }

func (l eventLog) Error() string {
	l.h.mu.Lock()
	defer l.h.mu.Unlock()
	var b strings.Builder
	b.WriteString("the events so far:")
	for _, ev := range l.h.events {
		fmt.Fprintf(&b, "\n  %s %s %s", ev.Type, ev.ElementID, ev.Data)
	}
	return b.String()
}

func eventOf(instanceID string, typ event.Type) func(*store.Event) bool {
	return func(ev *store.Event) bool { return ev.InstanceID == instanceID && ev.Type == typ }
}

func TestDeployTwiceKeepsOneVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{})
	ctx := context.Background()
	if err := Deploy(ctx, h.e); err != nil {
		t.Fatal(err)
	}
	defs, err := h.e.ListDefinitions(ctx, store.DefinitionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, d := range defs {
		keys[d.Key]++
	}
	if keys[OrderProcess] != 1 || keys[InvoiceProcess] != 1 || keys[SagaProcess] != 1 || len(defs) != 3 {
		t.Fatalf("definitions after deploying twice: %v", keys)
	}
}

func TestOrderRunsToCompletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{ShipmentDelay: 2 * time.Second})
	ctx := context.Background()
	inst, err := h.d.StartOrder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor(string(event.InstanceCompleted), eventOf(inst.ID, event.InstanceCompleted))

	d, err := h.e.GetInstance(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Instance.State != store.InstanceCompleted {
		t.Fatalf("state %q, want completed", d.Instance.State)
	}
	vars := map[string]bool{}
	for _, v := range d.Variables {
		vars[v.Name] = true
	}
	for _, name := range []string{"orderId", "customer", "amount", "items", "paymentId", "trackingNumber", "invoiceNumber", "shipmentConfirmedAt"} {
		if !vars[name] {
			t.Errorf("variable %q missing; have %v", name, vars)
		}
	}
	left := map[string]bool{}
	for _, ev := range d.History {
		if ev.Type == event.ElementLeft {
			left[ev.ElementID] = true
		}
	}
	for _, id := range []string{"Task_Checkout", "Task_ChargePayment", "Event_WaitSettlement", "Task_ReserveInventory",
		"Task_PrepareInvoice", "Task_ShipOrder", "Event_ShipmentConfirmed"} {
		if !left[id] {
			t.Errorf("element %s was not passed", id)
		}
	}
}

func TestPaymentFailuresOpenAnIncident(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{FailureRates: map[string]float64{JobChargePayment: 1}})
	ctx := context.Background()
	inst, err := h.d.StartOrder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor(string(event.IncidentOpened), eventOf(inst.ID, event.IncidentOpened))
	incs, err := h.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: inst.ID, State: store.IncidentOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 1 || incs[0].ElementID != "Task_ChargePayment" || incs[0].Type != store.IncidentFailedJob {
		t.Fatalf("incidents: %+v", incs)
	}
	if incs[0].Details == "" {
		t.Error("incident has no details")
	}
	failed := 0
	h.mu.Lock()
	for _, ev := range h.events {
		if ev.InstanceID == inst.ID && ev.Type == event.JobFailed {
			failed++
		}
	}
	h.mu.Unlock()
	if failed != 3 {
		t.Errorf("%d failed attempts, want 3 (R3/PT5S)", failed)
	}
}

func TestDeclinedPaymentGoesToReview(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{DeclineRate: 1})
	ctx := context.Background()
	inst, err := h.d.StartOrder(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.waitFor(string(event.UserTaskCreated), eventOf(inst.ID, event.UserTaskCreated))
	tasks, err := h.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: inst.ID, State: store.TaskOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 || tasks[0].ElementID != "Task_ReviewPayment" {
		t.Fatalf("tasks: %+v", tasks)
	}
	if err := h.e.CompleteUserTask(ctx, tasks[0].ID, map[string]any{"approved": false}); err != nil {
		t.Fatal(err)
	}
	h.waitFor(string(event.InstanceCompleted), eventOf(inst.ID, event.InstanceCompleted))
	d, err := h.e.GetInstance(ctx, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	ended := false
	for _, ev := range d.History {
		if ev.ElementID == "EndEvent_OrderRejected" {
			ended = true
		}
	}
	if !ended {
		t.Error("a rejected order did not end at Order rejected")
	}
}

func TestDriverStartsOrdersAtItsRate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{})
	// A second driver on the same engine with a trickle; the harness's one stays idle.
	d, err := NewDriver(Options{Engine: h.e, Rate: 2, InvoiceEvery: 2, Seed: 7, Clock: h.clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitUntil("three order starts", func(evs []*store.Event) bool {
		starts := 0
		for _, ev := range evs {
			if ev.Type == event.InstanceStarted && ev.DefinitionKey == OrderProcess {
				starts++
			}
		}
		return starts >= 3
	})
	h.waitFor("an invoice start", func(ev *store.Event) bool {
		return ev.Type == event.InstanceStarted && ev.DefinitionKey == InvoiceProcess
	})
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if err := d.Stop(stopCtx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestOrderVariablesAreRepeatable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Simulation{})
	a, _ := NewDriver(Options{Engine: h.e, Seed: 99})
	b, _ := NewDriver(Options{Engine: h.e, Seed: 99})
	va, vb := a.OrderVariables(), b.OrderVariables()
	if va["orderId"] != vb["orderId"] || va["amount"] != vb["amount"] || va["customer"] != vb["customer"] {
		t.Fatalf("same seed, different orders: %v vs %v", va, vb)
	}
	if amt, ok := va["amount"].(float64); !ok || amt <= 0 {
		t.Fatalf("amount %v", va["amount"])
	}
}

// TestSagaIsCompensated: a saga whose shipment fails refunds the payment, then releases
// the stock (latest completion first); one whose payment fails only releases the stock;
// one that ships compensates nothing.
func TestSagaIsCompensated(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		sim  Simulation
		end  string
		want []string
	}{
		{"shipment fails", Simulation{SagaShipmentFailRate: 1}, "EndEvent_SagaShipmentUndone", []string{"Task_SagaCharge", "Task_SagaReserve"}},
		{"payment fails", Simulation{SagaPaymentFailRate: 1}, "EndEvent_SagaPaymentUndone", []string{"Task_SagaReserve"}},
		{"shipped", Simulation{}, "EndEvent_SagaShipped", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, c.sim)
			ctx := context.Background()
			inst, err := h.d.StartSaga(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h.waitFor(string(event.InstanceCompleted), eventOf(inst.ID, event.InstanceCompleted))
			d, err := h.e.GetInstance(ctx, inst.ID)
			if err != nil {
				t.Fatal(err)
			}
			var undone []string
			ended := false
			for _, ev := range d.History {
				switch {
				case ev.Type == event.ElementCompensated:
					undone = append(undone, ev.ElementID)
				case ev.Type == event.ElementLeft && ev.ElementID == c.end:
					ended = true
				}
			}
			if !slices.Equal(undone, c.want) || !ended {
				t.Errorf("compensated %v (want %v), ended at %s: %v", undone, c.want, c.end, ended)
			}
		})
	}
}
