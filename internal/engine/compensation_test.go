package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// compensatedOrder lists, from the instance's history, the activities compensated
// (element.compensated), in order.
func (v *env) compensatedOrder(id string) []string {
	v.t.Helper()
	var out []string
	for _, ev := range v.detail(id).History {
		if ev.Type == event.ElementCompensated {
			out = append(out, ev.ElementID)
		}
	}
	return out
}

// handlersStarted lists the handlers compensation.started names, in order.
func (v *env) handlersStarted(id string) []string {
	v.t.Helper()
	var out []string
	for _, ev := range v.detail(id).History {
		if ev.Type == event.CompensationStarted {
			var d map[string]any
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				v.t.Fatal(err)
			}
			out = append(out, d[event.FieldHandler].(string))
		}
	}
	return out
}

// compensationRows loads the instance's compensation rows from the store.
func (v *env) compensationRows(id string) []*store.Compensation {
	v.t.Helper()
	var rows []*store.Compensation
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		a, err := tx.LoadInstance(v.ctx, id)
		if err != nil {
			return err
		}
		rows = a.Compensations
		return nil
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return rows
}

// varJSON is a variable's JSON value ("" when the instance has no such variable).
func (v *env) varJSON(id, name string) string {
	v.t.Helper()
	for _, x := range v.detail(id).Variables {
		if x.Name == name {
			return string(x.Value)
		}
	}
	return ""
}

// jobLog records the job types handlers ran, in order.
type jobLog struct {
	mu   sync.Mutex
	runs []string
}

func (l *jobLog) handle(v *env, typ string, fn func(j *engine.Job) error) {
	v.e.Handle(typ, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
		l.mu.Lock()
		l.runs = append(l.runs, typ)
		l.mu.Unlock()
		if fn != nil {
			return nil, fn(j)
		}
		return nil, nil
	})
}

func (l *jobLog) ran() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.runs)
}

func (l *jobLog) count(typ string) int {
	n := 0
	for _, r := range l.ran() {
		if r == typ {
			n++
		}
	}
	return n
}

// TestCompensationSaga runs a saga drawn in Camunda Modeler 5.x: shipping fails, the
// error end event compensates what completed, latest first: the refund (a user task)
// before the stock release (a service task, a job).
func TestCompensationSaga(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var log jobLog
		log.handle(v, "inventory.reserve", nil)
		log.handle(v, "payment.charge", nil)
		log.handle(v, "inventory.release", nil)
		log.handle(v, "shipping.ship", func(j *engine.Job) error {
			if j.Variables["fail"] == true {
				return engine.ThrowError("SHIP_FAILED", "no carrier")
			}
			return nil
		})
		v.start()
		v.deploy("compensation_saga.bpmn")

		ok := v.startInstance("saga", map[string]any{"fail": false})
		v.waitState(ok.ID, store.InstanceCompleted)
		if got := v.compensatedOrder(ok.ID); len(got) != 0 {
			t.Errorf("shipped order compensated %v", got)
		}
		if rows := v.compensationRows(ok.ID); len(rows) != 0 {
			t.Errorf("ended instance keeps %d compensation rows", len(rows))
		}

		failed := v.startInstance("saga", map[string]any{"fail": true})
		v.waitFor("refund task", func() bool {
			for _, task := range v.detail(failed.ID).UserTasks {
				if task.ElementID == "Activity_Refund" && task.State == store.TaskOpen {
					return true
				}
			}
			return false
		})
		// The refund runs first (the charge completed last); the release waits for it.
		if n := log.count("inventory.release"); n != 0 {
			t.Fatalf("stock released before the refund (%d)", n)
		}
		if at := v.tokensAt(failed.ID); !slices.Equal(at, []string{"Activity_Refund", "Event_Undo"}) {
			t.Errorf("tokens during compensation: %v", at)
		}
		if rows := v.compensationRows(failed.ID); len(rows) != 1 || rows[0].ElementID != "Activity_Reserve" ||
			rows[0].ThrowTokenID == "" {
			t.Errorf("rows during compensation: %+v", rows)
		}
		task := v.openTask(failed.ID, "Activity_Refund")
		if task.Assignee != "finance" {
			t.Errorf("refund task assignee %q", task.Assignee)
		}
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(failed.ID, store.InstanceCompleted)
		if got, want := v.compensatedOrder(failed.ID), []string{"Activity_Charge", "Activity_Reserve"}; !slices.Equal(got, want) {
			t.Errorf("compensated %v, want %v", got, want)
		}
		if got, want := v.handlersStarted(failed.ID), []string{"Activity_Refund", "Activity_Release"}; !slices.Equal(got, want) {
			t.Errorf("handlers %v, want %v", got, want)
		}
		if n := log.count("inventory.release"); n != 1 {
			t.Errorf("release ran %d times", n)
		}
		for _, typ := range []event.Type{event.CompensationThrown, event.CompensationCompleted} {
			if !v.hasEvent(failed.ID, typ, "Event_Undo") {
				t.Errorf("no %s at Event_Undo", typ)
			}
		}
		// Handlers are ordinary activities: they entered and left.
		if !slices.Contains(v.visited(failed.ID), "Activity_Release") || !slices.Contains(v.visited(failed.ID), "Activity_Refund") {
			t.Errorf("visited %v", v.visited(failed.ID))
		}
		if rows := v.compensationRows(failed.ID); len(rows) != 0 {
			t.Errorf("compensated instance keeps %d rows", len(rows))
		}
	})
}

// TestCompensationScopes: a throw inside a subprocess compensates what completed in it;
// compensating a completed subprocess compensates what completed inside it, then runs
// its own handler; a throw for one activity compensates that activity alone, also
// inside a completed subprocess.
func TestCompensationScopes(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var log jobLog
		for _, typ := range []string{"hotel.book", "flight.book", "payment.charge", "hotel.cancel", "flight.cancel",
			"trip.undo", "payment.refund"} {
			log.handle(v, typ, nil)
		}
		v.start()
		v.deploy("compensation_scope.bpmn")
		for _, c := range []struct {
			name     string
			vars     map[string]any
			want     []string
			handlers []string
		}{
			{"inside the subprocess", map[string]any{"ok": false, "undo": "none"},
				[]string{"Activity_Flight", "Activity_Hotel"}, []string{"Activity_CancelFlight", "Activity_CancelHotel"}},
			{"all, subprocess inner first", map[string]any{"ok": true, "undo": "all"},
				[]string{"Activity_Charge", "Activity_Flight", "Activity_Hotel", "Activity_Book"},
				[]string{"Activity_Refund", "Activity_CancelFlight", "Activity_CancelHotel", "Activity_UndoTrip"}},
			{"one activity inside a completed subprocess", map[string]any{"ok": true, "undo": "flight"},
				[]string{"Activity_Flight"}, []string{"Activity_CancelFlight"}},
			{"inside, then all", map[string]any{"ok": false, "undo": "all"},
				[]string{"Activity_Flight", "Activity_Hotel", "Activity_Charge", "Activity_Book"},
				[]string{"Activity_CancelFlight", "Activity_CancelHotel", "Activity_Refund", "Activity_UndoTrip"}},
		} {
			inst := v.startInstance("trip", c.vars)
			v.waitState(inst.ID, store.InstanceCompleted)
			if got := v.compensatedOrder(inst.ID); !slices.Equal(got, c.want) {
				t.Errorf("%s: compensated %v, want %v", c.name, got, c.want)
			}
			if got := v.handlersStarted(inst.ID); !slices.Equal(got, c.handlers) {
				t.Errorf("%s: handlers %v, want %v", c.name, got, c.handlers)
			}
			if rows := v.compensationRows(inst.ID); len(rows) != 0 {
				t.Errorf("%s: ended instance keeps %d rows", c.name, len(rows))
			}
		}
	})
}

// TestCompensationOnlyCompleted: an activity still running when compensation is thrown
// is not compensated; an activity a loop completed twice is compensated twice.
func TestCompensationOnlyCompleted(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("pay", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		v.start()
		loop, err := bpmn.Build("loop").Start("start").
			ScriptTask("step", bpmn.Script("n + 1"), bpmn.ResultVariable("n")).
			CompensatedBy(func(h *bpmn.Builder) {
				h.ScriptTask("undoStep", bpmn.Script("undone + 1"), bpmn.ResultVariable("undone"))
			}).
			ExclusiveGateway("again").Condition("n < 2").Connect("step").
			Default().CompensationThrow("undo", "").End("end").
			Definitions()
		if err != nil {
			t.Fatal(err)
		}
		partial, err := bpmn.Build("partial").Start("start").ParallelGateway("fork").
			Branch().UserTask("approve").
			CompensatedBy(func(h *bpmn.Builder) {
				h.ScriptTask("unapprove", bpmn.Script("true"), bpmn.ResultVariable("unapproved"))
			}).End("approved").
			Branch().ServiceTask("pay", bpmn.JobType("pay")).
			CompensatedBy(func(h *bpmn.Builder) {
				h.ScriptTask("refund", bpmn.Script("true"), bpmn.ResultVariable("refunded"))
			}).
			End("undone", bpmn.CompensationEnd("")).
			Definitions()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []*bpmn.Definitions{loop, partial} {
			if _, err := v.e.DeployModel(v.ctx, d.Processes[0].ID+".bpmn", d); err != nil {
				t.Fatal(err)
			}
		}

		l := v.startInstance("loop", map[string]any{"n": 0, "undone": 0})
		v.waitState(l.ID, store.InstanceCompleted)
		if got := v.compensatedOrder(l.ID); !slices.Equal(got, []string{"step", "step"}) {
			t.Errorf("loop compensated %v", got)
		}
		if undone := v.varJSON(l.ID, "undone"); undone != "2" {
			t.Errorf("undone = %s, want 2", undone)
		}

		p := v.startInstance("partial", nil)
		v.waitFor("pay compensated", func() bool { return len(v.compensatedOrder(p.ID)) == 1 })
		if got := v.compensatedOrder(p.ID); !slices.Equal(got, []string{"pay"}) {
			t.Errorf("partial compensated %v", got)
		}
		task := v.openTask(p.ID, "approve")
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(p.ID, store.InstanceCompleted)
		if refunded, unapproved := v.varJSON(p.ID, "refunded"), v.varJSON(p.ID, "unapproved"); refunded != "true" || unapproved != "" {
			t.Errorf("refunded %q, unapproved %q: want refunded and not unapproved", refunded, unapproved)
		}
	})
}

// TestCompensationCancelled: cancelling an instance while a handler runs cancels the
// handler and drops what was left to compensate.
func TestCompensationCancelled(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var log jobLog
		log.handle(v, "inventory.reserve", nil)
		log.handle(v, "payment.charge", nil)
		log.handle(v, "inventory.release", nil)
		log.handle(v, "shipping.ship", func(j *engine.Job) error { return engine.ThrowError("SHIP_FAILED", "no carrier") })
		v.start()
		v.deploy("compensation_saga.bpmn")
		inst := v.startInstance("saga", nil)
		v.waitFor("refund task", func() bool { return slices.Contains(v.tokensAt(inst.ID), "Activity_Refund") })
		task := v.openTask(inst.ID, "Activity_Refund")
		if err := v.e.CancelInstance(v.ctx, inst.ID, "customer called"); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCancelled)
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err == nil {
			t.Error("the refund task of a cancelled instance could be completed")
		}
		if rows := v.compensationRows(inst.ID); len(rows) != 0 {
			t.Errorf("cancelled instance keeps %d rows", len(rows))
		}
		if n := log.count("inventory.release"); n != 0 {
			t.Errorf("release ran %d times after the cancel", n)
		}
		if !v.hasEvent(inst.ID, event.ElementCancelled, "Activity_Refund") || !v.hasEvent(inst.ID, event.ElementCancelled, "Event_Undo") {
			t.Error("handler and throw event not cancelled")
		}
		if got := v.compensatedOrder(inst.ID); len(got) != 0 {
			t.Errorf("compensated %v", got)
		}
	})
}

// TestCompensationEventSubprocess: a completed subprocess whose compensation handler is
// an event subprocess with a compensation start (Camunda Modeler 5.x). Compensating the
// subprocess runs the event subprocess, not the inner handlers directly; a throw inside
// it compensates what completed inside the subprocess, latest first.
func TestCompensationEventSubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("compensation_eventsub.bpmn")
		for _, c := range []struct {
			name      string
			undoInner bool
			want      []string
			handlers  []string
		}{
			{"the event subprocess undoes the inside", true,
				[]string{"Activity_Charge", "Activity_Reserve", "Activity_Book"},
				[]string{"Activity_UndoBook", "Activity_Refund", "Activity_Unreserve"}},
			{"the event subprocess keeps the inside", false,
				[]string{"Activity_Book"}, []string{"Activity_UndoBook"}},
		} {
			inst := v.startInstance("booking", map[string]any{"undoInner": c.undoInner})
			v.waitState(inst.ID, store.InstanceCompleted)
			if got := v.compensatedOrder(inst.ID); !slices.Equal(got, c.want) {
				t.Errorf("%s: compensated %v, want %v", c.name, got, c.want)
			}
			if got := v.handlersStarted(inst.ID); !slices.Equal(got, c.handlers) {
				t.Errorf("%s: handlers %v, want %v", c.name, got, c.handlers)
			}
			if got := v.varJSON(inst.ID, "apologised"); got != "true" {
				t.Errorf("%s: apologised = %q: the event subprocess did not run", c.name, got)
			}
			refunded := v.varJSON(inst.ID, "refunded") == "true"
			if refunded != c.undoInner {
				t.Errorf("%s: refunded %v", c.name, refunded)
			}
			if rows := v.compensationRows(inst.ID); len(rows) != 0 {
				t.Errorf("%s: ended instance keeps %d rows", c.name, len(rows))
			}
		}
	})
}
