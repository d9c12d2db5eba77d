package engine_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func cancelAt(el string) engine.ModifyStep {
	return engine.ModifyStep{Kind: engine.ModifyCancel, ElementID: el}
}
func startBefore(el string) engine.ModifyStep {
	return engine.ModifyStep{Kind: engine.ModifyStartBefore, ElementID: el}
}
func startAfter(el string) engine.ModifyStep {
	return engine.ModifyStep{Kind: engine.ModifyStartAfter, ElementID: el}
}
func move(from, to string) engine.ModifyStep {
	return engine.ModifyStep{Kind: engine.ModifyMove, From: from, ElementID: to}
}

func req(steps ...engine.ModifyStep) engine.ModifyRequest {
	return engine.ModifyRequest{Steps: steps, Actor: "alice", Reason: "stuck"}
}

func elementsOf(toks []engine.ModifyToken) []string {
	var out []string
	for _, t := range toks {
		out = append(out, t.ElementID)
	}
	slices.Sort(out)
	return out
}

func rowElements(rows []engine.ModifyRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.ElementID)
	}
	slices.Sort(out)
	return out
}

func sameList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// TestModifyPreviewThenApply: a preview reports the effects and changes nothing; the
// same request applied does what the preview said.
func TestModifyPreviewThenApply(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("modify.bpmn")
		inst := v.startInstance("modify", nil)
		sameList(t, "tokens at start", v.tokensAt(inst.ID), "prep")

		r := req(move("prep", "fork"))
		pre, err := v.e.PreviewModify(v.ctx, inst.ID, r)
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if pre.Applied || pre.Ends || pre.State != store.InstanceActive {
			t.Fatalf("preview: applied %v, ends %v, state %s", pre.Applied, pre.Ends, pre.State)
		}
		sameList(t, "preview tokens", elementsOf(pre.Tokens), "a", "inner", "sub")
		sameList(t, "preview cancelled", elementsOf(pre.Cancelled), "prep")
		sameList(t, "tasks cancelled", rowElements(pre.TasksCancelled), "prep")
		sameList(t, "tasks created", rowElements(pre.TasksCreated), "a", "inner")
		sameList(t, "timers", rowElements(pre.TimersScheduled), "aTimeout", "subTimeout")
		sameList(t, "boundaries armed", pre.BoundaryEventsArmed, "aTimeout", "subTimeout")
		sameList(t, "subscriptions", rowElements(pre.SubscriptionsOpened), "pingStart")
		if len(pre.Events) == 0 || pre.Events[0].Type != event.InstanceModified {
			t.Fatalf("preview events start with %v, want instance.modified first", pre.Events)
		}

		// Nothing of it was written.
		sameList(t, "tokens after preview", v.tokensAt(inst.ID), "prep")
		for _, ev := range v.detail(inst.ID).History {
			if ev.Type == event.InstanceModified {
				t.Fatal("the preview wrote instance.modified")
			}
		}
		if d := v.detail(inst.ID); len(d.Jobs) != 0 {
			t.Fatalf("the preview left %d jobs", len(d.Jobs))
		}

		res, err := v.e.Modify(v.ctx, inst.ID, r)
		if err != nil {
			t.Fatalf("modify: %v", err)
		}
		if !res.Applied {
			t.Fatal("modify: not applied")
		}
		sameList(t, "applied tokens", elementsOf(res.Tokens), elementsOf(pre.Tokens)...)
		sameList(t, "tokens after modify", v.tokensAt(inst.ID), "a", "inner", "sub")
		d := v.detail(inst.ID)
		var timers []string
		for _, j := range d.Jobs {
			if j.Kind == store.JobTimer {
				timers = append(timers, j.ElementID)
			}
		}
		slices.Sort(timers)
		sameList(t, "timers written", timers, "aTimeout", "subTimeout")
		var modified *store.Event
		for _, ev := range d.History {
			if ev.Type == event.InstanceModified {
				modified = ev
			}
			if ev.Type == event.ElementCancelled && ev.ElementID == "prep" {
				var data map[string]any
				_ = json.Unmarshal(ev.Data, &data)
				if data[event.FieldReason] != event.ReasonModified {
					t.Fatalf("element.cancelled reason %v", data[event.FieldReason])
				}
			}
		}
		if modified == nil {
			t.Fatal("no instance.modified in the history")
		}
		var data struct {
			Actor, Reason string
			Steps         []map[string]any
		}
		if err := json.Unmarshal(modified.Data, &data); err != nil || data.Actor != "alice" || data.Reason != "stuck" || len(data.Steps) != 1 {
			t.Fatalf("instance.modified data %s (%v)", modified.Data, err)
		}

		// The moved instance runs on: both branches complete, the join fires.
		v.completeTask(inst.ID, "a", nil)
		v.completeTask(inst.ID, "inner", nil)
		sameList(t, "after tasks", v.tokensAt(inst.ID), "charge", "join", "sub")
	})
}

// TestModifyStartInsideSubprocess: a token started inside a subprocess that is not
// running enters it first (its boundary timer and event subprocess start armed, its
// start event not run); a second start goes into the running scope.
func TestModifyStartInsideSubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("modify.bpmn")
		inst := v.startInstance("modify", nil)
		res, err := v.e.Modify(v.ctx, inst.ID, req(cancelAt("prep"), startBefore("charge"), startBefore("a")))
		if err != nil {
			t.Fatalf("modify: %v", err)
		}
		sameList(t, "tokens", elementsOf(res.Tokens), "a", "charge", "sub")
		sameList(t, "jobs", rowElements(res.JobsCreated), "charge")
		sameList(t, "armed", res.BoundaryEventsArmed, "aTimeout", "subTimeout")
		sameList(t, "subscriptions", rowElements(res.SubscriptionsOpened), "pingStart")
		for _, ev := range res.Events {
			if ev.ElementID == "subStart" {
				t.Fatalf("the subprocess's start event ran: %v", ev)
			}
		}
		// The charge token stands in the sub token's scope.
		var sub, charge engine.ModifyToken
		for _, tok := range res.Tokens {
			switch tok.ElementID {
			case "sub":
				sub = tok
			case "charge":
				charge = tok
			}
		}
		if charge.ScopeID != sub.ID || sub.ScopeID != "" {
			t.Fatalf("charge in scope %q, sub %q in %q", charge.ScopeID, sub.ID, sub.ScopeID)
		}

		// Into the running scope: a second token beside charge, with a variable.
		step := startBefore("inner")
		step.Variables = map[string]any{"note": "again"}
		res, err = v.e.Modify(v.ctx, inst.ID, req(step))
		if err != nil {
			t.Fatalf("modify: %v", err)
		}
		sameList(t, "tokens", v.tokensAt(inst.ID), "a", "charge", "inner", "sub")
		for _, tok := range res.Started {
			if tok.ScopeID != sub.ID {
				t.Fatalf("started %v not in the running scope %s", tok, sub.ID)
			}
		}
		if d := v.detail(inst.ID); !hasVar(d, "note", `"again"`) {
			t.Fatalf("variable note not set: %v", d.Variables)
		}

		// Cancelling the last tokens of the subprocess cancels it (and its timer, its
		// event subprocess start); the join it fed would then never fire: refused.
		_, err = v.e.PreviewModify(v.ctx, inst.ID, req(cancelAt("charge"), cancelAt("inner")))
		var me *engine.ModifyError
		if !errors.As(err, &me) || me.Step != -1 || !errors.Is(err, engine.ErrInvalidState) || !strings.Contains(err.Error(), `"join"`) {
			t.Fatalf("cancel the subprocess's tokens: %v, want a refusal naming the join", err)
		}
		// With the other branch cancelled too, nothing is left: the instance ends.
		res, err = v.e.PreviewModify(v.ctx, inst.ID, req(cancelAt("charge"), cancelAt("inner"), cancelAt("a")))
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if !res.Ends || res.State != store.InstanceCancelled || len(res.Tokens) != 0 {
			t.Fatalf("ends %v state %s tokens %v", res.Ends, res.State, res.Tokens)
		}
		sameList(t, "cancelled", elementsOf(res.Cancelled), "a", "charge", "inner", "sub")
		sameList(t, "timers cancelled", rowElements(res.TimersCancelled), "aTimeout", "subTimeout")
		sameList(t, "jobs cancelled", rowElements(res.JobsCancelled), "charge")
		sameList(t, "subs closed", rowElements(res.SubscriptionsClosed), "pingStart")
		sameList(t, "disarmed", res.BoundaryEventsDisarmed, "aTimeout", "subTimeout")
		if _, err := v.e.Modify(v.ctx, inst.ID, req(cancelAt("charge"), cancelAt("inner"), cancelAt("a"))); err != nil {
			t.Fatalf("modify: %v", err)
		}
		v.waitState(inst.ID, store.InstanceCancelled)
		if d := v.detail(inst.ID); len(d.Jobs) != 0 || len(d.Tokens) != 0 {
			t.Fatalf("ended instance keeps %d jobs, %d tokens", len(d.Jobs), len(d.Tokens))
		}
	})
}

// TestModifyJoin: a token started after an element arrives at the join by that
// element's flow and counts there; the join then fires when the other branch arrives.
func TestModifyJoin(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("modify.bpmn")
		inst := v.startInstance("modify", nil)
		v.completeTask(inst.ID, "prep", nil)
		sameList(t, "tokens", v.tokensAt(inst.ID), "a", "inner", "sub")

		// Moving a onto the join directly is refused: a token before a join arrives by
		// no flow.
		_, err := v.e.PreviewModify(v.ctx, inst.ID, req(move("a", "join")))
		var me *engine.ModifyError
		if !errors.As(err, &me) || me.Step != 0 || !errors.Is(err, engine.ErrInvalidInput) {
			t.Fatalf("start before the join: %v", err)
		}
		res, err := v.e.Modify(v.ctx, inst.ID, req(cancelAt("a"), startAfter("a")))
		if err != nil {
			t.Fatalf("modify: %v", err)
		}
		sameList(t, "tokens", elementsOf(res.Tokens), "inner", "join", "sub")
		sameList(t, "tasks cancelled", rowElements(res.TasksCancelled), "a")
		sameList(t, "timers cancelled", rowElements(res.TimersCancelled), "aTimeout")
		v.completeTask(inst.ID, "inner", nil)
		if _, err := v.e.Modify(v.ctx, inst.ID, req(move("charge", "subEnd"))); err != nil {
			t.Fatalf("move charge to the end: %v", err)
		}
		// The subprocess completed, the join fired, the multi-instance review started.
		sameList(t, "tokens", v.tokensAt(inst.ID), "review", "review", "review", "review")
	})
}

// TestModifyMultiInstance: starting before a multi-instance activity starts its body and
// its instances; cancelling the element cancels the body with them.
func TestModifyMultiInstance(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("modify.bpmn")
		inst := v.startInstance("modify", nil)
		res, err := v.e.Modify(v.ctx, inst.ID, req(move("prep", "review")))
		if err != nil {
			t.Fatalf("modify: %v", err)
		}
		sameList(t, "tokens", elementsOf(res.Tokens), "review", "review", "review", "review")
		sameList(t, "tasks", rowElements(res.TasksCreated), "review", "review", "review")
		// One inner instance alone: the body and the two others stay.
		var inner string
		for _, tok := range res.Tokens {
			if tok.State != store.TokenMultiInstance && inner == "" {
				inner = tok.ID
			}
		}
		res, err = v.e.Modify(v.ctx, inst.ID, req(engine.ModifyStep{Kind: engine.ModifyCancel, TokenID: inner}))
		if err != nil {
			t.Fatalf("cancel one inner instance: %v", err)
		}
		sameList(t, "tokens", elementsOf(res.Tokens), "review", "review", "review")
		res, err = v.e.Modify(v.ctx, inst.ID, req(move("review", "end")))
		if err != nil {
			t.Fatalf("move to the end: %v", err)
		}
		if !res.Ends || res.State != store.InstanceCompleted {
			t.Fatalf("ends %v state %s", res.Ends, res.State)
		}
		sameList(t, "tasks cancelled", rowElements(res.TasksCancelled), "review", "review")
	})
}

// TestModifyRefusals: what cannot work is refused with the step and the reason, and
// nothing is written.
func TestModifyRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("modify.bpmn")
		inst := v.startInstance("modify", nil)
		many := make([]engine.ModifyStep, engine.MaxModifySteps+1)
		for i := range many {
			many[i] = startBefore("a")
		}
		for _, c := range []struct {
			name string
			req  engine.ModifyRequest
			step int
			want error
			text string
		}{
			{"no steps", engine.ModifyRequest{}, 0, engine.ErrInvalidInput, "no steps"},
			{"too many steps", engine.ModifyRequest{Steps: many}, 0, engine.ErrInvalidInput, "MaxModifySteps"},
			{"unknown kind", req(engine.ModifyStep{Kind: "jump", ElementID: "a"}), 0, engine.ErrInvalidInput, "unknown step kind"},
			{"unknown element", req(startBefore("nope")), 0, engine.ErrInvalidInput, "not a flow node"},
			{"a flow is no node", req(startBefore("f1")), 0, engine.ErrInvalidInput, "not a flow node"},
			{"no token there", req(cancelAt("a")), 0, engine.ErrInvalidState, "no token stands at"},
			{"after a fork", req(cancelAt("prep"), startAfter("fork")), 1, engine.ErrInvalidInput, "2 outgoing flows"},
			{"after an end", req(startAfter("end")), 0, engine.ErrInvalidInput, "0 outgoing flows"},
			{"event subprocess", req(startBefore("subEvents")), 0, engine.ErrInvalidInput, "event subprocess"},
			{"event subprocess start", req(startBefore("pingStart")), 0, engine.ErrInvalidInput, "trigger"},
			{"inside an event subprocess not running", req(startBefore("pingEnd")), 0, engine.ErrInvalidState, "not running"},
			{"join waits forever", req(move("prep", "a")), -1, engine.ErrInvalidState, "would wait forever"},
			{"cancel sets no variables", req(engine.ModifyStep{Kind: engine.ModifyCancel, ElementID: "prep", Variables: map[string]any{"x": 1}}), 0, engine.ErrInvalidInput, "sets no variables"},
			{"reason too long", engine.ModifyRequest{Steps: []engine.ModifyStep{startBefore("a")}, Reason: strings.Repeat("x", engine.MaxReasonBytes+1)}, 0, engine.ErrInvalidInput, "reason"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := v.e.PreviewModify(v.ctx, inst.ID, c.req)
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
					t.Fatalf("preview: %v, want %v with %q", err, c.want, c.text)
				}
				var me *engine.ModifyError
				if errors.As(err, &me) && me.Step != c.step {
					t.Fatalf("step %d, want %d", me.Step, c.step)
				}
				if _, err2 := v.e.Modify(v.ctx, inst.ID, c.req); err2 == nil || err2.Error() != strings.Replace(err.Error(), "preview modification of", "modify", 1) {
					t.Fatalf("modify: %v, preview said %v", err2, err)
				}
			})
		}
		sameList(t, "tokens", v.tokensAt(inst.ID), "prep")
		for _, ev := range v.detail(inst.ID).History {
			if ev.Type == event.InstanceModified {
				t.Fatal("a refused modification wrote instance.modified")
			}
		}
		// A suspended instance is not modified.
		if err := v.e.SuspendInstance(v.ctx, inst.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.Modify(v.ctx, inst.ID, req(move("prep", "a"))); !errors.Is(err, engine.ErrInvalidState) || !strings.Contains(err.Error(), "suspended") {
			t.Fatalf("suspended: %v", err)
		}
	})
}

// TestModifyRequestJSON: a request is plain data and reads back the same.
func TestModifyRequestJSON(t *testing.T) {
	r := engine.ModifyRequest{Steps: []engine.ModifyStep{move("a", "b"), {Kind: engine.ModifyStartAfter, ElementID: "c", ScopeID: "s",
		Variables: map[string]any{"n": 1.5}}}, Variables: map[string]any{"x": "y"}, Actor: "alice", Reason: "why"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back engine.ModifyRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) || !strings.Contains(string(b), `"kind":"move"`) {
		t.Fatalf("round trip: %s vs %s", b, b2)
	}
}

// TestModifyCallActivity: moving a token off a call activity ends its called instance;
// starting one before it starts a new called instance; the preview starts none.
func TestModifyCallActivity(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		deployInvoices(v)
		order, err := v.e.StartInstance(v.ctx, "order_c7", engine.StartOptions{Variables: map[string]any{"amount": 21}})
		if err != nil {
			t.Fatal(err)
		}
		first := v.onlyCalled(order.ID)
		pre, err := v.e.PreviewModify(v.ctx, order.ID, req(move("Activity_invoice", "Activity_ship")))
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if pre.CalledInstancesEnded != 1 || pre.CalledInstancesStarted != 0 {
			t.Fatalf("preview: ended %d, started %d", pre.CalledInstancesEnded, pre.CalledInstancesStarted)
		}
		if v.state(first.ID) != store.InstanceActive {
			t.Fatal("the preview ended the called instance")
		}
		if _, err := v.e.Modify(v.ctx, order.ID, req(move("Activity_invoice", "Activity_ship"))); err != nil {
			t.Fatalf("modify: %v", err)
		}
		v.waitState(first.ID, store.InstanceCancelled)
		res, err := v.e.Modify(v.ctx, order.ID, req(move("Activity_ship", "Activity_invoice")))
		if err != nil {
			t.Fatalf("modify back: %v", err)
		}
		if res.CalledInstancesStarted != 1 {
			t.Fatalf("started %d called instances", res.CalledInstancesStarted)
		}
		var active int
		for _, c := range v.called(order.ID) {
			if c.State == store.InstanceActive {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("%d active called instances, want 1", active)
		}
	})
}

// TestModifyMultiInstanceSubprocess: a start inside a multi-instance subprocess that is
// not running is refused; one inside its running inner instance goes there; the body
// itself is no scope to start in.
func TestModifyMultiInstanceSubprocess(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("mi_c7.bpmn")
		items := []any{map[string]any{"sku": "a", "price": 3}, map[string]any{"sku": "b", "price": 4}, map[string]any{"sku": "c", "price": 5}}
		inst := v.startInstance("mi_c7", map[string]any{"items": items, "parcels": 1, "labels": ""})
		sameList(t, "tokens", v.tokensAt(inst.ID), "Activity_charge", "Activity_charge", "Activity_charge", "Activity_charge")

		_, err := v.e.PreviewModify(v.ctx, inst.ID, req(startBefore("Activity_seal")))
		if !errors.Is(err, engine.ErrInvalidState) || !strings.Contains(err.Error(), "multi-instance") {
			t.Fatalf("start inside a multi-instance subprocess not running: %v", err)
		}
		r := req(move("Activity_charge", "Activity_pack"))
		r.Variables = map[string]any{"parcels": 2}
		res, err := v.e.Modify(v.ctx, inst.ID, r)
		if err != nil {
			t.Fatalf("move to the subprocess: %v", err)
		}
		if len(res.JobsCancelled) != 3 {
			t.Fatalf("jobs cancelled %v", res.JobsCancelled)
		}
		sameList(t, "tasks", rowElements(res.TasksCreated), "Activity_seal")
		var body, inner string
		for _, tok := range res.Tokens {
			if tok.ElementID == "Activity_pack" && tok.State == store.TokenMultiInstance {
				body = tok.ID
			} else if tok.ElementID == "Activity_pack" {
				inner = tok.ID
			}
		}
		if body == "" || inner == "" {
			t.Fatalf("no body or inner instance in %v", res.Tokens)
		}
		if d := v.detail(inst.ID); !hasVar(d, "parcels", "2") {
			t.Fatalf("request variables not set: %v", d.Variables)
		}

		step := startBefore("Activity_seal")
		step.ScopeID = body
		if _, err := v.e.PreviewModify(v.ctx, inst.ID, req(step)); !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "inner instances") {
			t.Fatalf("start in the body: %v", err)
		}
		res, err = v.e.Modify(v.ctx, inst.ID, req(startBefore("Activity_seal")))
		if err != nil {
			t.Fatalf("start in the inner instance: %v", err)
		}
		for _, tok := range res.Started {
			if tok.ScopeID != inner {
				t.Fatalf("started %v, want it in inner instance %s", tok, inner)
			}
		}
		sameList(t, "tasks", rowElements(res.TasksCreated), "Activity_seal")
	})
}
