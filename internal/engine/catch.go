package engine

import (
	"errors"
	"fmt"
	"slices"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Catching what a token throws (errors and escalations) and waiting on conditions.
//
// An error or escalation travels from the element that threw it outwards, scope by
// scope, to the first event that catches it. findCatcher is the one walk; the kinds of
// catching events it knows are the boundary events of the activities it passes. (Event
// subprocesses with an error or escalation start catch inside their scope, before the
// boundary events of the scope's own activity: they join the walk at the marked step.)

// catcher is where a thrown error or escalation is caught: boundary event at of the
// activity whose token is host, or (eventSub set) the event subprocess eventSub of the
// scope scopeID, whose start event is at.
type catcher struct {
	host     *store.Token
	at       *node
	eventSub *node
	scopeID  string
}

// findCatcher finds the event that catches an error or escalation (typ) with code thrown
// at tok, in BPMN order: from tok's own element (a task whose job threw) outwards, at
// each level first the boundary events of the activity, then the starts of the event
// subprocesses of the activity's scope, then the enclosing subprocess's boundary events,
// and so on. On one activity, and among one scope's event subprocesses, an event naming
// the code wins over a catch-all (one without a code), whatever their order in the
// document. It returns nil when nothing catches it.
func (r *run) findCatcher(tok *store.Token, typ bpmn.EventType, code string) *catcher {
	for cur := tok; cur != nil; {
		n := r.p.nodes[cur.ElementID]
		// An inner instance of a looping activity has no boundary events: its body has.
		if n != nil && (n.loop == nil || !r.isInner(cur, n)) {
			var all *node
			for _, b := range n.boundaries {
				ev := b.el.Event
				if ev == nil || ev.Type != typ {
					continue
				}
				switch c := b.catchCode(); {
				case c == code && c != "":
					return &catcher{host: cur, at: b}
				case c == "" && all == nil:
					all = b
				}
			}
			if all != nil {
				return &catcher{host: cur, at: all}
			}
		}
		// Here the walk leaves cur's scope: the starts of that scope's event
		// subprocesses come next. What is thrown inside an event subprocess skips the
		// event subprocesses of its own scope (see eventsub.go).
		if n == nil || !n.el.TriggeredByEvent {
			if es := r.catchingEventSub(cur.ScopeID, typ, code); es != nil {
				return &catcher{at: es.trigger, eventSub: es, scopeID: cur.ScopeID}
			}
		}
		if cur.ScopeID == "" {
			return nil
		}
		cur = r.tokens[cur.ScopeID]
	}
	return nil
}

// fireCatcher runs the catcher c: a boundary event fires (reason goes into the
// element.cancelled of an interrupted activity), an event subprocess starts. data goes
// into the element.entered of the boundary or start event.
func (r *run) fireCatcher(c *catcher, reason string, data map[string]any) error {
	if c.at.errorCodeVar != "" || c.at.errorMessageVar != "" {
		// Camunda 7's errorCodeVariable and errorMessageVariable: the error caught, for
		// the path that handles it.
		vars := map[string]any{}
		if c.at.errorCodeVar != "" {
			vars[c.at.errorCodeVar] = data["errorCode"]
		}
		if c.at.errorMessageVar != "" {
			vars[c.at.errorMessageVar] = data["errorMessage"]
		}
		if err := r.setVariables(vars, c.host, c.at); err != nil {
			return err
		}
	}
	if c.eventSub != nil {
		return r.triggerEventSub(c.scopeID, c.eventSub, data)
	}
	return r.fireBoundary(c.host, c.at, reason, data)
}

// catchCode is the code a catching error or escalation event catches ("": every one).
func (n *node) catchCode() string {
	if n.el.Event != nil && n.el.Event.Type == bpmn.EventEscalation {
		return n.escalationCode
	}
	return n.errorCode
}

// throwEscalation throws the escalation of event n (an intermediate throw or end event)
// at tok. A catching boundary event runs (an interrupting one takes the activity, and
// tok with it, when tok is inside); an escalation nothing catches is not an error
// (Camunda 7): the caller goes on as if none was thrown. escalation.thrown records it
// either way.
func (r *run) throwEscalation(tok *store.Token, n *node) error {
	code := n.escalationCode
	c := r.findCatcher(tok, bpmn.EventEscalation, code)
	data := map[string]any{"code": code}
	if c == nil {
		// Uncaught here: the call activity that called this instance may catch it (when
		// its catch is interrupting, this instance has ended and tok is gone too).
		caller, err := r.escalateToCaller(code)
		if err != nil {
			return err
		}
		if caller != "" {
			data["caughtBy"] = caller
		}
		r.event(event.EscalationThrown, tok, n, data)
		return nil
	}
	data["caughtBy"] = c.at.el.ID // the boundary event, or the event subprocess's start event
	r.event(event.EscalationThrown, tok, n, data)
	return r.fireCatcher(c, event.ReasonEscalation(code, c.at.el.ID), map[string]any{"escalationCode": code})
}

// escalateToCaller passes an escalation that nothing in this called instance catches to
// its call activity, as Camunda 7 does: when the caller catches it there (a boundary
// event of the call activity or around it, or an escalation event subprocess of its
// scope), the caller fires that event once this command's notices reach it; an
// interrupting one ends this instance first (it is cancelled, like the call activity it
// ran for). It returns the caller's catching element, or "" when the caller does not
// catch it (then, as any uncaught escalation, it is no error). One level: a caller that
// does not catch it does not pass it further up.
func (r *run) escalateToCaller(code string) (string, error) {
	if r.inst.ParentInstanceID == "" || r.byCaller {
		return "", nil
	}
	p, err := r.loadParent()
	if err != nil || p == nil {
		return "", err
	}
	at := p.tokens[r.inst.ParentTokenID]
	if at == nil || at.ElementID != r.inst.ParentElementID {
		return "", nil
	}
	c := p.findCatcher(at, bpmn.EventEscalation, code)
	if c == nil {
		return "", nil
	}
	interrupting := c.at.el.CancelActivity
	if c.eventSub != nil {
		interrupting = c.at.el.IsInterrupting
	}
	if interrupting {
		r.endInstance(fmt.Sprintf("escalation %s passed to the calling instance %s", code, r.inst.ParentInstanceID))
	}
	r.notify(callNotice{kind: calledEscalated, code: code, ended: interrupting})
	return c.at.el.ID, nil
}

// Conditions. A process with conditional events (plan.conditional) notes every variable
// change (setVariables) and every token that reaches an activity with a conditional
// boundary event (conditionArrived); when the command's tokens stand still, drain calls
// evalConditions, which checks the conditions of the waiting tokens concerned. A process
// without conditional events never sets condDirty and pays nothing.

// conditionArrived has the conditional boundary events of tok's activity checked once
// the tokens stand still (the activity is then fully entered: its job, task or
// subprocess exists, and an interrupting boundary event cancels it cleanly).
func (r *run) conditionArrived(tok *store.Token) {
	if r.condArrived == nil {
		r.condArrived = map[string]bool{}
	}
	r.condArrived[tok.ID] = true
	r.condDirty = true
}

// varsChangedFor notes a variable change for the conditions (only in processes with
// conditional events).
func (r *run) varsChangedFor(names []string) {
	if r.condVars == nil {
		r.condVars = map[string]bool{}
	}
	for _, name := range names {
		r.condVars[name] = true
	}
	r.condDirty = true
}

// evalConditions checks the conditions concerned since the last check: on a variable
// change every conditional wait of the instance (a conditional event with
// camunda:variableName only when that variable changed), else those of the tokens that
// just arrived. Each true condition fires: a catch event's token leaves, a boundary
// event runs. Tokens are visited in creation order, so what fires first is the same on
// every run.
func (r *run) evalConditions() error {
	changed, arrived, entered := r.condVars, r.condArrived, r.condScopes
	r.condDirty, r.condVars, r.condArrived, r.condScopes = false, nil, nil, nil
	if err := r.evalEventSubConditions(changed, entered); err != nil {
		return err
	}
	var toks []*store.Token
	if len(changed) > 0 {
		for _, t := range r.tokens {
			if n := r.p.nodes[t.ElementID]; n != nil && n.conditional {
				toks = append(toks, t)
			}
		}
	} else {
		for id := range arrived {
			if t := r.tokens[id]; t != nil {
				toks = append(toks, t)
			}
		}
	}
	if len(toks) == 0 {
		return nil
	}
	slices.SortFunc(toks, func(a, b *store.Token) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	stuck := map[string]bool{} // tokens with an open incident wait for its retry
	for _, i := range r.incidents {
		if i.State == store.IncidentOpen {
			stuck[i.TokenID] = true
		}
	}
	concerns := func(tok *store.Token, n *node) bool {
		return arrived[tok.ID] || n.condVar == "" || changed[n.condVar]
	}
	for _, tok := range toks {
		if r.tokens[tok.ID] == nil || stuck[tok.ID] || tok.State != store.TokenActive {
			continue // gone meanwhile (an interrupting event fired), or held
		}
		n := r.p.nodes[tok.ElementID]
		if n == nil || !n.conditional {
			continue
		}
		if n.el.Kind == bpmn.KindIntermediateCatchEvent {
			if !concerns(tok, n) {
				continue
			}
			ok, err := r.evalCondition(tok, n)
			if err != nil {
				return err
			}
			if ok {
				if err := r.next(tok, n); err != nil {
					return err
				}
			}
			continue
		}
		for _, b := range n.boundaries {
			if b.condition == nil || !concerns(tok, b) {
				continue
			}
			ok, err := r.conditionHolds(b)
			if err != nil {
				// As in Camunda 7, the command that made the check fails (a job's
				// completion becomes a failed attempt): an incident on the activity's
				// token could not be retried without running the activity again.
				return fmt.Errorf("condition of boundary event %q failed: %v: %w", b.el.ID, err, ErrInvalidInput)
			}
			if !ok {
				continue
			}
			if err := r.fireBoundary(tok, b, event.ReasonCondition(b.el.ID), nil); err != nil {
				return err
			}
			if r.tokens[tok.ID] == nil {
				break // interrupted: its other boundary events went with it
			}
		}
	}
	return nil
}

// evalCondition evaluates the condition of conditional catch event n for tok, which
// stands there. A condition that fails to evaluate opens an incident on tok (reported
// as false): retrying it arrives at the event again, which checks the condition again.
func (r *run) evalCondition(tok *store.Token, n *node) (bool, error) {
	ok, err := r.conditionHolds(n)
	if err != nil {
		r.openIncident(tok, n, store.IncidentExpression,
			fmt.Sprintf("condition of %q failed: %v", n.el.ID, err), n.el.Event.Condition, "")
		return false, nil
	}
	return ok, nil
}

// conditionHolds evaluates the condition of conditional event n. A condition that reads
// a variable not set yet is false (it waits for the variable), not an error.
func (r *run) conditionHolds(n *node) (bool, error) {
	ok, err := n.condition.EvalBoolIn(r.budget, r.values)
	if errors.Is(err, expression.ErrUndefined) {
		return false, nil
	}
	return ok, err
}
