package engine

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Compensation.
//
// An activity with a compensation boundary event records a compensation row each time
// it completes (leave). So does an embedded subprocess inside which such rows were
// recorded: the rows of its scope (ScopeID = the subprocess token's id) stay, reachable
// through the subprocess's row (InnerScopeID), after the token has left. A throw event
// compensates the rows of its own scope, a completed subprocess by its inner rows first
// and then its own handler, each scope's rows latest completion (Seq) first. The throw
// claims the rows in that order (ThrowTokenID, Position) and runs their handlers one at a
// time, each as a token whose scope is the throw event's token, so that the throw waits
// like a subprocess: when a handler's token is consumed, completeScope reaches the throw
// and compensateNext starts the next handler, or moves the throw on. Cancelling the throw
// (an interrupting boundary, the instance) cancels its handler with it.
//
// Rows go when they are compensated, when their scope is cancelled (cancelTokens), and
// when the instance ends (flush), so the table holds only what running instances could
// still undo.

// maxCompensations bounds the compensation rows of one instance (every completion of a
// compensable activity waits in one until the instance ends): a loop over a compensable
// activity stops with an incident instead of growing the instance without bound.
const maxCompensations = 10_000

// linkCompensation links compensation boundary events to their handlers and marks the
// subprocesses that can hold compensable completions and the compensation throw events.
func (c *compiler) linkCompensation() {
	handlers := bpmn.CompensationHandlers(c.p.defs, c.p.proc)
	for _, n := range c.p.nodes {
		el := n.el
		if bpmn.IsCompensationThrow(el) {
			n.compThrow, n.compActivity = true, el.Event.ActivityRef
			if ref := n.compActivity; ref != "" && c.p.nodes[ref] == nil {
				c.bad(el, "activityRef %q names no activity of the process", ref)
			}
		}
		if !bpmn.IsCompensationBoundary(el) || n.attachedTo == nil {
			continue
		}
		hs := handlers[el.ID]
		if len(hs) != 1 {
			c.bad(el, "compensation boundary event is associated with %d compensation handlers, not one", len(hs))
			continue
		}
		h := c.p.nodes[hs[0].ID]
		if h == nil {
			continue
		}
		if h.compensates != nil {
			c.bad(h.el, "compensation handler is associated with more than one compensation boundary event")
			continue
		}
		n.attachedTo.compHandler, h.compensates = h, n.attachedTo
	}
	// An event subprocess with a compensation start is the handler of the embedded
	// subprocess around it; it decides (with throw events inside) what of the
	// subprocess is compensated, so the subprocess's inner rows are handed to it.
	for _, n := range c.p.nodes {
		if !n.el.TriggeredByEvent || n.trigger == nil || !bpmn.IsCompensationStart(n.trigger.el) {
			continue
		}
		s := n.parent
		switch {
		case s == nil:
			c.bad(n.trigger.el, "compensation start events are supported in event subprocesses of embedded subprocesses only")
		case s.compHandler != nil:
			c.bad(n.trigger.el, "subprocess %q already has a compensation handler", s.el.ID)
		default:
			s.compHandler, n.compensates, n.compensable = n, s, true
		}
	}
	for _, n := range c.p.nodes {
		if n.compHandler == nil {
			continue
		}
		n.compensable = true
		for p := n.parent; p != nil && !p.compScope; p = p.parent {
			p.compScope, p.compensable = true, true
		}
	}
}

func (r *run) putComp(x *store.Compensation) {
	if r.comps == nil {
		r.comps = map[string]*store.Compensation{}
	}
	if r.putComps == nil {
		r.putComps = map[string]*store.Compensation{}
	}
	r.comps[x.ID], r.putComps[x.ID] = x, x
}

func (r *run) dropComp(x *store.Compensation) {
	delete(r.comps, x.ID)
	if r.delComps == nil {
		r.delComps = map[string]bool{}
	}
	r.delComps[x.ID] = true
}

// compensationFull reports (with an incident on tok) that node n cannot complete because
// the instance holds maxCompensations rows already.
func (r *run) compensationFull(tok *store.Token, n *node) bool {
	if n.compensates != nil || len(r.comps) < maxCompensations {
		return false
	}
	r.openIncident(tok, n, store.IncidentLimit,
		fmt.Sprintf("%q cannot complete: the instance holds %d completed activities that can be compensated (limit maxCompensations)",
			n.el.ID, maxCompensations), "", "")
	return true
}

// recordCompensation records that tok completed the compensable node n (called by leave).
// A subprocess without a handler is recorded only when something inside it can be
// compensated; a handler (which is never compensated itself) drops what completed
// inside it.
func (r *run) recordCompensation(tok *store.Token, n *node) {
	inner := false
	if n.compScope || n.compensates != nil {
		for _, x := range r.comps {
			if x.ScopeID == tok.ID {
				inner = true
				break
			}
		}
	}
	if n.compensates != nil {
		if inner {
			r.dropScopes(map[string]bool{tok.ID: true})
		}
		return
	}
	if n.compHandler == nil && !inner {
		return
	}
	x := &store.Compensation{ID: newID(), InstanceID: r.inst.ID, ScopeID: tok.ScopeID, ElementID: n.el.ID,
		Seq: r.inst.EventSeq, CompletedAt: r.now}
	if n.compHandler != nil {
		x.HandlerID = n.compHandler.el.ID
	}
	if inner {
		x.InnerScopeID = tok.ID
	}
	r.putComp(x)
}

// dropScopes deletes the compensation rows of the scopes in ids (cancelled tokens) and,
// through the subprocess rows among them, of the scopes inside; rows a cancelled throw
// event had claimed wait again for another.
func (r *run) dropScopes(ids map[string]bool) {
	if len(r.comps) == 0 {
		return
	}
	scopes := ids
	for len(scopes) > 0 {
		next := map[string]bool{}
		for _, x := range r.comps {
			if scopes[x.ScopeID] {
				r.dropComp(x)
				if x.InnerScopeID != "" {
					next[x.InnerScopeID] = true
				}
			}
		}
		scopes = next
	}
	for _, x := range r.comps {
		if x.ThrowTokenID != "" && ids[x.ThrowTokenID] {
			x.ThrowTokenID, x.Position = "", 0
			r.putComp(x)
		}
	}
}

// throwCompensation runs a compensation throw event (intermediate or end): it claims the
// rows to compensate, latest completion first, and starts the first handler.
func (r *run) throwCompensation(tok *store.Token, n *node) error {
	order := r.compensationOrder(tok.ScopeID, n.compActivity)
	for i, x := range order {
		x.ThrowTokenID, x.Position = tok.ID, i
		r.putComp(x)
	}
	data := map[string]any{"count": len(order)}
	if n.compActivity != "" {
		data["activity"] = n.compActivity
	}
	r.event(event.CompensationThrown, tok, n, data)
	return r.compensateNext(tok, n)
}

// compensationOrder returns the unclaimed rows a throw in scope compensates, in the order
// their handlers run: the rows of the scope (with activity set, the rows of that
// activity, looked for in the completed subprocesses too), latest completion first,
// each completed subprocess by what completed inside it (in the same order) before its
// own handler.
func (r *run) compensationOrder(scope, activity string) []*store.Compensation {
	if len(r.comps) == 0 {
		return nil
	}
	byScope := map[string][]*store.Compensation{}
	for _, x := range r.comps {
		if x.ThrowTokenID == "" {
			byScope[x.ScopeID] = append(byScope[x.ScopeID], x)
		}
	}
	for _, rows := range byScope {
		slices.SortFunc(rows, func(a, b *store.Compensation) int { return cmp.Compare(b.Seq, a.Seq) })
	}
	var out []*store.Compensation
	var tree func(x *store.Compensation)
	tree = func(x *store.Compensation) {
		if x.InnerScopeID != "" && !r.eventSubHandler(x) {
			for _, y := range byScope[x.InnerScopeID] {
				tree(y)
			}
		}
		out = append(out, x)
	}
	var find func(scope string)
	find = func(scope string) {
		for _, x := range byScope[scope] {
			switch {
			case activity == "" || x.ElementID == activity:
				tree(x)
			case x.InnerScopeID != "":
				find(x.InnerScopeID)
			}
		}
	}
	find(scope)
	return out
}

// eventSubHandler reports whether the handler of row x is an event subprocess with a
// compensation start: the rows inside x's subprocess are then left to it.
func (r *run) eventSubHandler(x *store.Compensation) bool {
	h := r.p.nodes[x.HandlerID]
	return h != nil && h.el.TriggeredByEvent
}

// compensateNext starts the handler of the next row throw tok claimed, or, when none is
// left, ends the compensation and moves the throw event on.
func (r *run) compensateNext(tok *store.Token, n *node) error {
	for {
		var next *store.Compensation
		for _, x := range r.comps {
			if x.ThrowTokenID == tok.ID && (next == nil || x.Position < next.Position) {
				next = x
			}
		}
		if next == nil {
			break
		}
		r.dropComp(next)
		h := r.p.nodes[next.HandlerID]
		if h == nil {
			continue // a subprocess without a handler: its inner rows came before it
		}
		ht := r.newToken(h, tok.ID)
		if h.el.TriggeredByEvent && next.InnerScopeID != "" {
			// What completed inside the subprocess is the event subprocess's to
			// compensate: a throw event inside it finds the rows in its own scope.
			for _, x := range r.comps {
				if x.ScopeID == next.InnerScopeID {
					x.ScopeID = ht.ID
					r.putComp(x)
				}
			}
		}
		b := appendString(append(make([]byte, 0, 64), '{'), event.FieldHandler, h.el.ID)
		b = appendString(b, event.FieldThrownBy, n.el.ID)
		r.eventJSON(event.CompensationStarted, ht, r.p.nodes[next.ElementID], append(b, '}'))
		r.enqueue(ht, h, nil)
		return nil
	}
	r.event(event.CompensationCompleted, tok, n, nil)
	if n.cancelEnd {
		return r.transactionCancelled(tok, n)
	}
	if n.el.Kind == bpmn.KindEndEvent {
		r.left(tok, n)
		return r.consume(tok)
	}
	return r.next(tok, n)
}

// compensated records that handler n, on tok, has completed (called by leave).
func (r *run) compensated(tok *store.Token, n *node) {
	b := appendString(append(make([]byte, 0, 40), '{'), event.FieldHandler, n.el.ID)
	r.eventJSON(event.ElementCompensated, tok, n.compensates, append(b, '}'))
}
