package engine

import (
	"fmt"
	"slices"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Event subprocesses.
//
// A scope is the process instance (scope id "") or the token standing at an embedded
// subprocess or an event subprocess (its id): the tokens inside carry it as ScopeID.
// While a scope is active, the start events of the event subprocesses directly inside it
// are armed, as rows owned by the scope: a timer start is a timer job, a message start a
// subscription (its correlation key evaluated when the scope begins), a signal start a
// signal subscription (signal.go delivers it through catchSignalStart), each with TokenID
// = the scope id ("" at process level) and ElementID = the start event. A conditional
// start has no row: entering the scope asks for a check once the tokens stand still, and
// every variable change does too (evalEventSubConditions, from evalConditions); a scope an
// interrupting event subprocess took over checks no more. The rows go with the
// scope: a subprocess token that ends disarms them (completeScope → disarmScope), one that is
// cancelled takes them along (cancelTokens drops what a token waits on), and the end of
// the instance disarms the process level (complete, CancelInstance). Starts that wait for
// something thrown inside the scope (error, escalation) arm nothing: the throw looks
// for them (findCatcher → catchingEventSub).
//
// A trigger (triggerEventSub) starts the event subprocess as a token in the scope, its
// start event's token inside it. Interrupting: first every other token of the scope is
// cancelled and the scope's starts are disarmed (no other event subprocess of the scope
// fires after it); when the event subprocess ends, the scope completes. Non-interrupting:
// it runs beside the rest, its start stays armed (a message may start it again; a cycle
// timer moves to its next time), and the scope completes when all of it has ended.
//
// Errors thrown inside an event subprocess are looked for from the scope around it
// outwards, never by the event subprocesses of its own scope (an error start there would
// interrupt the very event subprocess that threw and could loop).

// eventSub returns the event subprocess whose start event n is, or nil.
func (n *node) eventSub() *node {
	if n.el.Kind == bpmn.KindStartEvent && n.parent != nil && n.parent.el.TriggeredByEvent {
		return n.parent
	}
	return nil
}

// eventSubsOf returns the event subprocesses of the scope scopeID.
func (r *run) eventSubsOf(scopeID string) []*node {
	if scopeID == "" {
		return r.p.eventSubs
	}
	if t := r.tokens[scopeID]; t != nil {
		if n := r.p.nodes[t.ElementID]; n != nil {
			return n.eventSubs
		}
	}
	return nil
}

// armScope arms the start events of the event subprocesses subs of the scope scope
// (nil: the process level). Timers and correlation keys are evaluated first: when one
// fails, nothing is armed and the error says which, so that a retry arms everything once.
func (r *run) armScope(scope *store.Token, subs []*node) error {
	scopeID := ""
	if scope != nil {
		scopeID = scope.ID
	}
	type armed struct {
		job *store.Job
		key string
	}
	rows := make([]armed, len(subs))
	for i, es := range subs {
		st := es.trigger
		var err error
		switch {
		case st.timerKind != "":
			rows[i].job, err = r.timerJob(st, scopeID)
		case st.messageName != "":
			rows[i].key, err = r.correlationKey(r.tokens[scopeID], st) // seen from the scope (nil: the process)
		}
		if err != nil {
			return fmt.Errorf("event subprocess %q: %w", es.el.ID, err)
		}
	}
	for i, es := range subs {
		st := es.trigger
		switch {
		case rows[i].job != nil:
			r.putTimer(scope, st, rows[i].job)
		case st.messageName != "":
			r.putSubscription(scope, st, scopeID, rows[i].key)
		case st.signalName != "":
			r.subscribeSignal(scope, st, scopeID)
		case st.condition != nil:
			// Armed as a check when the tokens stand still: a condition already true
			// starts the event subprocess (as a conditional boundary event fires).
			if r.condScopes == nil {
				r.condScopes = map[string]bool{}
			}
			r.condScopes[scopeID] = true
			r.condDirty = true
		}
	}
	return nil
}

// evalEventSubConditions checks the conditional starts of the event subprocesses of the
// running scopes: after a variable change (changed) those of every scope (one with
// camunda:variableName only when that variable changed), and those of the scopes just
// entered (entered). A condition that holds starts its event subprocess; a scope an
// interrupting event subprocess took over checks no more. Scopes are visited in id order
// (the process first), so what fires is the same on every run.
func (r *run) evalEventSubConditions(changed, entered map[string]bool) error {
	if !r.p.condStarts {
		return nil
	}
	var scopes []string
	if len(changed) > 0 {
		if hasCondStart(r.p.eventSubs) {
			scopes = append(scopes, "")
		}
		for _, t := range r.tokens {
			if n := r.p.nodes[t.ElementID]; n != nil && hasCondStart(n.eventSubs) && t.State == store.TokenActive {
				scopes = append(scopes, t.ID)
			}
		}
	} else {
		for id := range entered {
			scopes = append(scopes, id)
		}
	}
	slices.Sort(scopes)
	for _, id := range scopes {
		if (id == "" && r.ended()) || (id != "" && r.tokens[id] == nil) || r.scopeInterrupted(id) {
			continue
		}
		for _, es := range r.eventSubsOf(id) {
			st := es.trigger
			if st.condition == nil || !(entered[id] || st.condVar == "" || changed[st.condVar]) {
				continue
			}
			ok, err := r.conditionHolds(st)
			if err != nil {
				// As for conditional boundary events: the command that made the check
				// fails (there is no token of the event subprocess to hold an incident).
				return fmt.Errorf("condition of start event %q failed: %v: %w", st.el.ID, err, ErrInvalidInput)
			}
			if !ok {
				continue
			}
			if err := r.triggerEventSub(id, es, nil); err != nil {
				return err
			}
			if st.el.IsInterrupting {
				break
			}
		}
	}
	return nil
}

func hasCondStart(subs []*node) bool {
	for _, es := range subs {
		if es.trigger != nil && es.trigger.condition != nil {
			return true
		}
	}
	return false
}

// scopeInterrupted reports whether an interrupting event subprocess runs in the scope
// scopeID: its starts are then disarmed (conditional starts have no row to remove).
func (r *run) scopeInterrupted(scopeID string) bool {
	for _, t := range r.tokens {
		if t.ScopeID != scopeID {
			continue
		}
		if n := r.p.nodes[t.ElementID]; n != nil && n.el.TriggeredByEvent && n.trigger != nil && n.trigger.el.IsInterrupting {
			return true
		}
	}
	return false
}

// disarmScope removes the armed start events of the event subprocesses of the scope
// scopeID (its timer jobs and subscriptions).
func (r *run) disarmScope(scopeID string) {
	for _, j := range r.jobs {
		if j.TokenID == scopeID && j.InstanceID != "" && r.isEventSubStart(j.ElementID) {
			r.dropJob(j)
		}
	}
	for _, s := range r.subs {
		if s.TokenID == scopeID && s.InstanceID != "" && r.isEventSubStart(s.ElementID) {
			r.dropSub(s)
		}
	}
}

func (r *run) isEventSubStart(elementID string) bool {
	n := r.p.nodes[elementID]
	return n != nil && n.eventSub() != nil
}

// triggerEventSub starts the event subprocess es in the scope scopeID. data goes into
// the element.entered of its start event (what triggered it: an error's code and
// message).
func (r *run) triggerEventSub(scopeID string, es *node, data map[string]any) error {
	if scopeID != "" && r.tokens[scopeID] == nil {
		return nil // the scope has ended
	}
	if es.trigger.el.IsInterrupting {
		var inScope []*store.Token
		for _, t := range r.tokens {
			if t.ScopeID == scopeID {
				inScope = append(inScope, t)
			}
		}
		r.cancelTokens(inScope, event.ReasonInterrupted(es.el.ID))
		r.disarmScope(scopeID)
	} else if len(r.tokens)+2 > maxLiveTokens {
		// Each firing of a non-interrupting event subprocess adds tokens; its scope keeps
		// it armed, so the instance bound is what stops a cycle or a stream of messages.
		return fmt.Errorf("event subprocess %q cannot start: instance %q has %d tokens, the limit is %d (maxLiveTokens): %w",
			es.el.ID, r.inst.ID, len(r.tokens), maxLiveTokens, ErrInvalidState)
	}
	tok := r.newToken(es, scopeID)
	r.eventJSON(event.ElementEntered, tok, es, nil)
	if len(es.inputs) > 0 {
		if err := r.applyMappings(es.inputs, nil, tok, es, setLocal); err != nil {
			r.openIncident(tok, es, store.IncidentExpression, err.Error(), "", "")
			return nil
		}
	}
	return r.enterScope(tok, es, data)
}

// enterScope runs a token that arrived at a subprocess (an embedded one, or an event
// subprocess triggered): the scope's event subprocesses are armed, its boundary timers
// scheduled, and a token starts at its start event. startData, when set, is the data of
// that start event's element.entered (a triggered start, which leaves at once).
func (r *run) enterScope(tok *store.Token, n *node, startData map[string]any) error {
	if len(n.eventSubs) > 0 {
		if err := r.armScope(tok, n.eventSubs); err != nil {
			// Nothing was armed; a retry enters the subprocess again.
			r.openIncident(tok, n, store.IncidentExpression, err.Error(), "", "")
			return nil
		}
	}
	r.armBoundaries(tok, n)
	start := n.start
	if n.el.TriggeredByEvent {
		start = n.trigger
	}
	child := r.newToken(start, tok.ID)
	if startData == nil {
		r.enqueue(child, start, nil)
		return nil
	}
	r.event(event.ElementEntered, child, start, startData)
	return r.next(child, start)
}

// catchingEventSub returns the event subprocess of the scope scopeID whose error or
// escalation start (typ) catches code: one naming the code before one that catches
// every error or escalation.
func (r *run) catchingEventSub(scopeID string, typ bpmn.EventType, code string) *node {
	var all *node
	for _, es := range r.eventSubsOf(scopeID) {
		st := es.trigger
		if st == nil || st.el.Event == nil || st.el.Event.Type != typ {
			continue
		}
		switch c := st.catchCode(); {
		case c == code:
			return es
		case c == "":
			if all == nil {
				all = es
			}
		}
	}
	return all
}

// fireEventSubTimer runs the due timer job j of an event subprocess's start event st.
func (r *run) fireEventSubTimer(j *store.Job, st *node) error {
	var scope *store.Token
	if j.TokenID != "" {
		if scope = r.tokens[j.TokenID]; scope == nil {
			r.dropJob(j) // its scope is gone
			return nil
		}
	}
	ev := r.event(event.TimerFired, scope, st, nil)
	ev.JobID = j.ID
	if st.el.IsInterrupting {
		r.dropJob(j)
	} else {
		r.rescheduleCycle(j)
	}
	return r.triggerEventSub(j.TokenID, st.eventSub(), nil)
}

// correlateEventSub delivers message m to the armed message start st of an event
// subprocess (subscription s): an interrupting start takes it once, a non-interrupting
// one stays subscribed.
func (r *run) correlateEventSub(s *store.Subscription, st *node, m Message) error {
	scope := r.tokens[s.TokenID] // nil at process level
	if st.el.IsInterrupting {
		r.dropSub(s)
	}
	r.event(event.MessageCorrelated, scope, st, map[string]any{"message": m.Name, "correlationKey": m.CorrelationKey})
	if err := r.setVariables(m.Variables, scope, st); err != nil {
		return err
	}
	return r.triggerEventSub(s.TokenID, st.eventSub(), nil)
}
