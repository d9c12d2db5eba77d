package engine_test

import (
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestTransaction: a transaction subprocess (Camunda Modeler 5.x) completes like a
// subprocess; its cancel end event cancels what still runs inside it, compensates what
// completed, latest first, and leaves by the cancel boundary event.
func TestTransaction(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("transaction.bpmn")

		ok := v.startInstance("booking_tx", map[string]any{"ok": true})
		if got := v.tokensAt(ok.ID); !slices.Equal(got, []string{"Activity_Review", "Activity_Tx", "Gateway_Join"}) {
			t.Fatalf("booking waits at %v", got)
		}
		task := v.openTask(ok.ID, "Activity_Review")
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(ok.ID, store.InstanceCompleted)
		if !v.hasEvent(ok.ID, event.ElementEntered, "Event_Booked") || len(v.compensatedOrder(ok.ID)) != 0 {
			t.Errorf("a transaction that completed was not left by its flow, or was compensated (%v)", v.compensatedOrder(ok.ID))
		}

		bad := v.startInstance("booking_tx", map[string]any{"ok": false})
		v.waitState(bad.ID, store.InstanceCompleted)
		if got := v.compensatedOrder(bad.ID); !slices.Equal(got, []string{"Activity_Charge", "Activity_Reserve"}) {
			t.Errorf("compensated %v, want the charge, then the reservation", got)
		}
		if got := v.handlersStarted(bad.ID); !slices.Equal(got, []string{"Activity_Refund", "Activity_Unreserve"}) {
			t.Errorf("handlers %v", got)
		}
		if !v.hasEvent(bad.ID, event.ElementCancelled, "Activity_Review") || !v.hasEvent(bad.ID, event.ElementCancelled, "Activity_Tx") {
			t.Error("the review task and the transaction were not cancelled")
		}
		if !v.hasEvent(bad.ID, event.ElementEntered, "Event_TxCancelled") || !v.hasEvent(bad.ID, event.ElementEntered, "Event_NotBooked") {
			t.Error("the instance did not leave by the cancel boundary event")
		}
		if v.hasEvent(bad.ID, event.ElementEntered, "Event_Booked") {
			t.Error("a cancelled transaction was left by its normal flow too")
		}
		for _, ut := range v.detail(bad.ID).UserTasks {
			if ut.State == store.TaskOpen {
				t.Errorf("the cancelled review left open task %s", ut.ElementID)
			}
		}
		// Cancelling came before compensating: the review's cancellation is recorded
		// before the first handler started.
		var order []string
		for _, ev := range v.detail(bad.ID).History {
			switch {
			case ev.Type == event.ElementCancelled && ev.ElementID == "Activity_Review":
				order = append(order, "review cancelled")
			case ev.Type == event.CompensationStarted && len(order) == 1:
				order = append(order, "compensation")
			case ev.Type == event.ElementCancelled && ev.ElementID == "Activity_Tx":
				order = append(order, "transaction cancelled")
			}
		}
		if want := []string{"review cancelled", "compensation", "transaction cancelled"}; !slices.Equal(order, want) {
			t.Errorf("order %v, want %v", order, want)
		}
	})
}
