package engine

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/schedule"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// enqueue schedules a token's arrival at a node.
func (r *run) enqueue(tok *store.Token, n *node, via *flow) {
	r.queue = append(r.queue, step{tok: tok, n: n, via: via})
}

// drain moves every queued token until each one waits, ends or has an incident; then,
// in a process with inclusive joins, fires the joins no token can reach any more, and
// when variables changed (or tokens reached conditional waits) checks the conditions;
// what these send on moves in turn.
func (r *run) drain() error {
	for {
		if err := r.drainQueue(); err != nil {
			return err
		}
		if r.p.inclusiveJoins {
			fired, err := r.fireInclusiveJoins()
			if err != nil {
				return err
			}
			if fired {
				continue
			}
		}
		if !r.condDirty {
			return nil
		}
		if err := r.evalConditions(); err != nil {
			return err
		}
		if len(r.queue) == 0 {
			return nil
		}
	}
}

// drainQueue moves every queued token until each one waits, ends or has an incident.
func (r *run) drainQueue() error {
	for len(r.queue) > 0 {
		s := r.queue[0]
		r.queue = r.queue[1:]
		if _, alive := r.tokens[s.tok.ID]; !alive {
			continue // cancelled by an earlier step (terminate, interrupting boundary)
		}
		r.steps++
		if r.steps > maxSteps {
			r.stopQueue(s, fmt.Sprintf("command stopped after %d steps without reaching a wait state (limit maxSteps; a loop without a wait state?)", maxSteps))
			return nil
		}
		if err := r.arrive(s.tok, s.n, s.via); err != nil {
			return err
		}
	}
	return nil
}

// stopQueue ends a command that reached one of its bounds: the token of step first and
// every token still queued stay where they are, each with an incident saying why, so
// that nothing is left moving without a sign. Retrying an incident moves its token on.
func (r *run) stopQueue(first step, msg string) {
	queue := append([]step{first}, r.queue...)
	r.queue = nil
	seen := map[string]bool{}
	for _, s := range queue {
		if _, alive := r.tokens[s.tok.ID]; !alive || seen[s.tok.ID] {
			continue
		}
		seen[s.tok.ID] = true
		if s.via != nil {
			// Remembered so that a retry arrives by the same flow (a join counts it).
			s.tok.Flow = s.via.f.ID
		}
		r.openIncident(s.tok, s.n, store.IncidentLimit, msg, "", "")
	}
}

// arrive runs what a node does when a token reaches it.
func (r *run) arrive(tok *store.Token, n *node, via *flow) error {
	tok.ElementID = n.el.ID
	tok.State = store.TokenActive
	tok.Flow = ""
	// CreatedAt is the arrival at the current element: element.left and element.cancelled
	// report the stay from it, and the stall detector reads it from the token row.
	tok.CreatedAt = r.now
	r.putToken(tok)
	// Every arrival is in the history with the flow it came by, joins included, so the
	// flow counts of the metrics are complete.
	ev := r.eventJSON(event.ElementEntered, tok, n, flowData(via))
	if n.loop != nil && !r.isInner(tok, n) {
		ev.ElementType = event.ElementTypeMultiInstanceBody
		return r.startBody(tok, n)
	}

	if len(n.inputs) > 0 {
		if err := r.applyMappings(n.inputs, nil, tok, n, setLocal); err != nil {
			r.openIncident(tok, n, store.IncidentExpression, err.Error(), "", "")
			return nil
		}
	}
	el := n.el
	switch el.Kind {
	case bpmn.KindStartEvent, bpmn.KindTask, bpmn.KindManualTask, bpmn.KindBoundaryEvent:
		if !r.outputs(tok, n, nil) {
			return nil
		}
		return r.next(tok, n)

	case bpmn.KindIntermediateThrowEvent:
		switch {
		case n.compThrow:
			return r.throwCompensation(tok, n)
		case n.jobType != "": // a message throw: the job sends it
			r.createJob(tok, n)
			return nil
		case n.linkTarget != nil:
			r.left(tok, n)
			r.enqueue(tok, n.linkTarget, nil)
			return nil
		case n.signalName != "":
			r.throwSignal(tok, n)
		case el.Event != nil && el.Event.Type == bpmn.EventEscalation:
			if err := r.throwEscalation(tok, n); err != nil {
				return err
			}
			if r.tokens[tok.ID] == nil {
				return nil // an interrupting boundary event caught it and took the token
			}
		}
		return r.next(tok, n)

	case bpmn.KindEndEvent:
		if n.jobType != "" { // a message end: the job sends it, then the token ends
			r.createJob(tok, n)
			return nil
		}
		return r.end(tok, n)

	case bpmn.KindServiceTask, bpmn.KindSendTask, bpmn.KindBusinessRuleTask:
		r.armBoundaries(tok, n)
		r.createJob(tok, n)
		return nil

	case bpmn.KindReceiveTask:
		r.armBoundaries(tok, n)
		return r.subscribe(tok, n)

	case bpmn.KindInclusiveGateway:
		if len(n.in) <= 1 {
			return r.fork(tok, n)
		}
		// A join: the token waits until no other token of its scope can still arrive
		// (fireInclusiveJoins, at the end of the drain).
		tok.State = store.TokenJoining
		if via != nil {
			tok.Flow = via.f.ID
		}
		r.putToken(tok)
		return nil

	case bpmn.KindEventBasedGateway:
		// The token waits at the gateway for the first of its events.
		for _, fl := range n.out {
			t := fl.target
			var err error
			switch {
			case t.timerKind != "":
				err = r.scheduleTimer(tok, t, tok.ID)
			case t.messageName != "":
				err = r.subscribe(tok, t)
			case t.signalName != "":
				r.subscribeSignal(tok, t, tok.ID)
			}
			if err != nil {
				return err
			}
		}
		return nil

	case bpmn.KindUserTask:
		r.armBoundaries(tok, n)
		t := &store.UserTask{
			ID: newID(), InstanceID: r.inst.ID, TokenID: tok.ID, ElementID: el.ID,
			DefinitionKey: r.inst.DefinitionKey, Name: el.Name, Assignee: el.Task.Assignee,
			CandidateGroups: el.Task.CandidateGroups, FormKey: el.Task.FormKey,
			State: store.TaskOpen, CreatedAt: r.now,
		}
		if t.Name == "" {
			t.Name = el.ID
		}
		r.putTask(t)
		r.event(event.UserTaskCreated, tok, n, map[string]any{"taskId": t.ID, "assignee": t.Assignee})
		return nil

	case bpmn.KindScriptTask:
		v, err := n.script.EvalIn(r.budget, r.env(tok))
		if err != nil {
			r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("script of %q failed: %v", el.ID, err), el.Task.Script, "")
			return nil
		}
		if el.Task.ResultVariable != "" {
			if err := r.setVariables(map[string]any{el.Task.ResultVariable: v}, tok, n); err != nil {
				r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("script of %q: %v", el.ID, err), "", "")
				return nil
			}
		}
		if !r.outputs(tok, n, nil) {
			return nil
		}
		return r.next(tok, n)

	case bpmn.KindExclusiveGateway:
		return r.exclusive(tok, n)

	case bpmn.KindParallelGateway:
		return r.parallel(tok, n, via)

	case bpmn.KindIntermediateCatchEvent:
		switch {
		case n.linkTarget == nil && el.Event != nil && el.Event.Type == bpmn.EventLink:
			return r.next(tok, n) // a link catch: reached from its throw
		case n.timerKind != "":
			return r.scheduleTimer(tok, n, tok.ID)
		case n.messageName != "":
			return r.subscribe(tok, n)
		case n.signalName != "":
			r.subscribeSignal(tok, n, tok.ID)
			return nil
		case n.condition != nil:
			// A condition already true passes at once (Camunda 7); else the token
			// waits until a variable change makes it true (evalConditions).
			ok, err := r.evalCondition(tok, n)
			if err != nil || !ok {
				return err
			}
		}
		return r.next(tok, n)

	case bpmn.KindSubProcess, bpmn.KindTransaction:
		return r.enterScope(tok, n, nil)

	case bpmn.KindCallActivity:
		return r.callActivity(tok, n)
	}
	return fmt.Errorf("element %q: %s cannot be executed", el.ID, el.Kind)
}

// createJob creates the job of an element that runs as a job (service, send and
// business rule tasks, message throw and end events).
func (r *run) createJob(tok *store.Token, n *node) {
	j := &store.Job{
		ID: newID(), Kind: store.JobService, Type: n.jobType, InstanceID: r.inst.ID, TokenID: tok.ID,
		ElementID: n.el.ID, DefinitionID: r.inst.DefinitionID, DefinitionKey: r.inst.DefinitionKey,
		Retries: n.retries, DueAt: r.now, CreatedAt: r.now,
		Suspended: r.inst.State == store.InstanceSuspended,
	}
	if j.Retries <= 0 {
		j.Retries = 1 // "0 retries" means one attempt and no retry
	}
	r.putJob(j)
	ev := r.event(event.JobCreated, tok, n, map[string]any{"jobType": j.Type, "retries": j.Retries})
	ev.JobID = j.ID
}

// fork sends a token on from a forking inclusive gateway (or a join that fired): along
// every flow whose condition holds, else the default flow.
func (r *run) fork(tok *store.Token, n *node) error {
	flows, err := r.chooseFlows(tok, n)
	if err != nil || flows == nil {
		return err
	}
	return r.leave(tok, n, flows)
}

// fireInclusiveJoins fires every inclusive join that has tokens waiting and that no
// other token of the same scope can still reach: the waiting tokens merge into one,
// which leaves as a fork. It reports whether any join fired.
func (r *run) fireInclusiveJoins() (bool, error) {
	type key struct{ element, scope string }
	waiting := map[key][]*store.Token{}
	var keys []key
	for _, t := range r.tokens {
		if t.State != store.TokenJoining {
			continue
		}
		if n := r.p.nodes[t.ElementID]; n != nil && n.reachers != nil {
			k := key{t.ElementID, t.ScopeID}
			if waiting[k] == nil {
				keys = append(keys, k)
			}
			waiting[k] = append(waiting[k], t)
		}
	}
	// Map order is random; joins fire in a fixed order so that runs repeat.
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].element != keys[j].element {
			return keys[i].element < keys[j].element
		}
		return keys[i].scope < keys[j].scope
	})
	fired := false
	for _, k := range keys {
		j := r.p.nodes[k.element]
		if r.canArrive(j, k.scope) {
			continue
		}
		toks := waiting[k]
		keep := toks[0]
		for _, t := range toks[1:] {
			if t.CreatedAt.Before(keep.CreatedAt) {
				keep = t
			}
		}
		for _, t := range toks {
			if t != keep {
				r.dropToken(t)
			}
		}
		// The join's stay runs from the first arrival: the token that leaves carries it.
		keep.State, keep.Flow = store.TokenActive, ""
		r.putToken(keep)
		if err := r.fork(keep, j); err != nil {
			return false, err
		}
		fired = true
	}
	return fired, nil
}

// canArrive reports whether a token of scope, other than those waiting at join j, stands
// where it can still reach j.
func (r *run) canArrive(j *node, scope string) bool {
	for _, t := range r.tokens {
		if t.ScopeID != scope || (t.ElementID == j.el.ID && t.State == store.TokenJoining) {
			continue
		}
		if j.reachers[t.ElementID] {
			return true
		}
	}
	return false
}

// catch moves a token on because the event it waited for happened at node n: n is the
// catch event or receive task where the token stands, a boundary event of the token's
// activity (which an interrupting one cancels), or one of the events after the
// event-based gateway where the token waits (the others are withdrawn).
func (r *run) catch(tok *store.Token, n *node, reason string) error {
	switch {
	case n.attachedTo != nil:
		return r.fireBoundary(tok, n, reason, nil)
	case tok.ElementID != n.el.ID:
		gw := r.p.nodes[tok.ElementID]
		if gw == nil || gw.el.Kind != bpmn.KindEventBasedGateway {
			return fmt.Errorf("instance %q: token %q at %q cannot take event %q: %w", r.inst.ID, tok.ID, tok.ElementID, n.el.ID, ErrInvalidState)
		}
		r.withdraw(tok, "")
		r.left(tok, gw)
		var via *flow
		for _, fl := range gw.out {
			if fl.target == n {
				via = fl
			}
		}
		tok.ElementID, tok.CreatedAt = n.el.ID, r.now
		r.putToken(tok)
		r.eventJSON(event.ElementEntered, tok, n, flowData(via))
	}
	return r.next(tok, n)
}

// flowData is the data of an element.entered through flow via ({"flow":ID}; nil when the
// token did not come by a flow).
func flowData(via *flow) []byte {
	if via == nil {
		return nil
	}
	return append(appendString(append(make([]byte, 0, 48), '{'), event.FieldFlow, via.f.ID), '}')
}

// withdraw removes the timers and subscriptions token tok waits on, except those of the
// element keep ("" keeps none): the events of an event-based gateway once one of them
// happened, or the boundary events of an activity it leaves.
func (r *run) withdraw(tok *store.Token, keep string) {
	for _, j := range r.jobs {
		if j.TokenID == tok.ID && j.Kind == store.JobTimer && j.ElementID != keep {
			r.dropJob(j)
		}
	}
	for _, s := range r.subs {
		if s.TokenID == tok.ID && s.ElementID != keep {
			r.dropSub(s)
		}
	}
}

// leave records that a token leaves a node and sends it along flows: the first flow
// moves the token, each further flow forks a new token in the same scope.
func (r *run) leave(tok *store.Token, n *node, flows []*flow) error {
	if n.loop != nil && tok.State != store.TokenMultiInstance && r.isInner(tok, n) {
		return r.innerDone(tok, n)
	}
	// A fork is refused before any token is made: thousands of branches would hold the
	// committer for seconds. (A single flow makes no token and is never refused.)
	forks := len(flows) - 1
	if forks > 0 && forks > maxNewTokens-r.newTokens {
		r.openIncident(tok, n, store.IncidentLimit,
			fmt.Sprintf("%q forks %d branches, more than the %d tokens one command may create (limit maxNewTokens)",
				n.el.ID, len(flows), maxNewTokens), "", "")
		return nil
	}
	if forks > 0 && forks > maxLiveTokens-len(r.tokens) {
		r.openIncident(tok, n, store.IncidentLimit,
			fmt.Sprintf("%q forks %d branches, more than the %d tokens one instance may have (limit maxLiveTokens)",
				n.el.ID, len(flows), maxLiveTokens), "", "")
		return nil
	}
	if n.compensable && r.compensationFull(tok, n) {
		return nil
	}
	r.disarmBoundaries(tok, n)
	r.left(tok, n)
	if n.compensable {
		r.recordCompensation(tok, n)
	}
	if r.locals != nil {
		r.endScope(tok.ID) // the token keeps its id at the next element, not its locals
	}
	if len(flows) == 0 {
		if n.compensates != nil {
			r.compensated(tok, n)
		}
		return r.consume(tok)
	}
	for i, fl := range flows {
		t := tok
		if i > 0 {
			t = r.newToken(fl.target, tok.ScopeID)
		}
		r.enqueue(t, fl.target, fl)
	}
	return nil
}

// left writes element.left with the token's stay at the element (durationMs, since its
// arrival) and, at an element where a token waits for something other than a job (user
// task, catch event, join), the same stay as waitMs. Service tasks report their wait on
// the job events instead (from the job's due time to the handler's start).
func (r *run) left(tok *store.Token, n *node) {
	d := millis(r.now.Sub(tok.CreatedAt))
	b := appendInt(append(make([]byte, 0, 40), '{'), event.FieldDurationMs, d)
	if n.waits {
		b = appendInt(b, event.FieldWaitMs, d)
	}
	ev := r.eventJSON(event.ElementLeft, tok, n, append(b, '}'))
	if tok.State == store.TokenMultiInstance {
		ev.ElementType = event.ElementTypeMultiInstanceBody
	}
}

// consume removes a token that reached the end of its path and completes its scope
// when it was the last one there.
func (r *run) consume(tok *store.Token) error {
	r.dropToken(tok)
	return r.completeScope(tok.ScopeID)
}

func (r *run) completeScope(scopeID string) error {
	for _, t := range r.tokens {
		if t.ScopeID == scopeID {
			return nil
		}
	}
	if scopeID == "" {
		r.complete(false)
		return nil
	}
	scope := r.tokens[scopeID]
	if scope == nil {
		return nil
	}
	n, err := r.nodeOf(scope)
	if err != nil {
		return err
	}
	if n.compThrow {
		return r.compensateNext(scope, n) // its last handler completed
	}
	if len(n.eventSubs) > 0 {
		r.disarmScope(scope.ID) // the scope is done, even if no flow can be taken from it
	}
	if !r.outputs(scope, n, nil) {
		return nil
	}
	return r.next(scope, n)
}

// outputs applies the output mappings of the element tok is leaving (with extra, a job's
// or task's result, in reach), into the scope around it. On a failure the token gets an
// incident and stays; outputs reports whether it may leave.
func (r *run) outputs(tok *store.Token, n *node, extra map[string]any) bool {
	if len(n.outputs) == 0 {
		return true
	}
	if err := r.applyMappings(n.outputs, extra, tok, n, setParent); err != nil {
		r.openIncident(tok, n, store.IncidentExpression, err.Error(), "", "")
		return false
	}
	return true
}

func (r *run) complete(terminated bool) {
	if len(r.p.eventSubs) > 0 {
		r.disarmScope("")
	}
	r.inst.State = store.InstanceCompleted
	now := r.now
	r.inst.EndedAt = &now
	b := appendInt(append(make([]byte, 0, 48), '{'), event.FieldDurationMs, millis(r.now.Sub(r.inst.StartedAt)))
	if terminated {
		b = append(b, `,"`+event.FieldTerminated+`":true`...)
	}
	r.eventJSON(event.InstanceCompleted, nil, nil, append(b, '}'))
	if r.inst.ParentInstanceID != "" {
		r.notify(callNotice{kind: calledCompleted, values: r.values})
	}
}

func (r *run) end(tok *store.Token, n *node) error {
	ev := n.el.Event
	switch {
	case n.cancelEnd:
		return r.cancelTransaction(tok, n)
	case n.compThrow:
		return r.throwCompensation(tok, n)
	case ev != nil && ev.Type == bpmn.EventTerminate:
		r.left(tok, n)
		var siblings []*store.Token
		for _, t := range r.tokens {
			if t.ScopeID == tok.ScopeID && t.ID != tok.ID {
				siblings = append(siblings, t)
			}
		}
		r.cancelTokens(siblings, event.ReasonTerminated(n.el.ID))
		if tok.ScopeID == "" {
			r.dropToken(tok)
			r.complete(true)
			return nil
		}
		return r.consume(tok)
	case n.signalName != "":
		r.throwSignal(tok, n)
	case ev != nil && ev.Type == bpmn.EventEscalation:
		if err := r.throwEscalation(tok, n); err != nil {
			return err
		}
		if r.tokens[tok.ID] == nil {
			return nil // an interrupting boundary event caught it and took the token
		}
	case ev != nil && ev.Type == bpmn.EventError:
		r.event(event.ErrorThrown, tok, n, map[string]any{"code": n.errorCode})
		caught, err := r.throwError(tok, n.errorCode, "error end event "+n.el.ID)
		if err != nil || caught {
			return err
		}
		r.openIncident(tok, n, store.IncidentUnhandledError,
			fmt.Sprintf("error %q thrown by %q is not caught by any boundary event", n.errorCode, n.el.ID), "", "")
		return nil
	}
	r.left(tok, n)
	return r.consume(tok)
}

// throwError looks for what catches the error code (findCatcher, in BPMN order: a
// boundary error event on the activity, then an error start of an event subprocess of
// the activity's scope, then a boundary on the enclosing subprocess, and so on). A
// boundary cancels the activity it is attached to (with everything inside) and runs its
// path; an event subprocess interrupts its scope (triggerEventSub).
func (r *run) throwError(tok *store.Token, code, msg string) (bool, error) {
	c := r.findCatcher(tok, bpmn.EventError, code)
	if c == nil {
		return r.throwToCaller(code, msg)
	}
	return true, r.fireCatcher(c, event.ReasonErrorCaught(code, c.at.el.ID), map[string]any{"errorCode": code, "errorMessage": msg})
}

func (r *run) exclusive(tok *store.Token, n *node) error {
	if len(n.out) <= 1 && n.defaultFlow == nil {
		return r.leave(tok, n, n.out)
	}
	for _, fl := range n.out {
		if fl == n.defaultFlow {
			continue
		}
		ok, err := r.holds(tok, fl)
		if err != nil {
			r.conditionFailed(tok, n, fl, err)
			return nil
		}
		if ok {
			return r.leave(tok, n, []*flow{fl})
		}
	}
	if n.defaultFlow != nil {
		return r.leave(tok, n, []*flow{n.defaultFlow})
	}
	r.noMatchingFlow(tok, n)
	return nil
}

// holds evaluates the condition of a flow (a flow without one always holds).
func (r *run) holds(tok *store.Token, fl *flow) (bool, error) {
	if fl.cond == nil {
		return true, nil
	}
	return fl.cond.EvalBoolIn(r.budget, r.env(tok))
}

func (r *run) conditionFailed(tok *store.Token, n *node, fl *flow, err error) {
	r.openIncident(tok, n, store.IncidentExpression,
		fmt.Sprintf("condition of flow %q failed: %v", fl.f.ID, err), fl.f.Condition, "")
}

func (r *run) noMatchingFlow(tok *store.Token, n *node) {
	what := "gateway"
	if !n.el.Kind.IsGateway() {
		what = string(n.el.Kind)
	}
	r.openIncident(tok, n, store.IncidentNoMatchingFlow,
		fmt.Sprintf("no outgoing flow of %s %q matches and it has no default flow", what, n.el.ID), "", "")
}

// next sends on a token whose element is done (any element but a gateway): along every
// outgoing flow without a condition and every one whose condition holds, or along the
// default flow when none of them does (BPMN's conditional and default flows leaving an
// activity or event). No flow to take is an incident, as at a gateway; the token then
// waits in state TokenLeaving, and retrying the incident evaluates the flows again
// without running the element a second time.
func (r *run) next(tok *store.Token, n *node) error {
	if n.loop != nil && tok.State != store.TokenMultiInstance && r.isInner(tok, n) {
		return r.innerDone(tok, n) // the body chooses the flows when it completes
	}
	if !n.choose {
		return r.leave(tok, n, n.out)
	}
	flows, err := r.chooseFlows(tok, n)
	if err != nil || flows == nil {
		return err
	}
	return r.leave(tok, n, flows)
}

// chooseFlows returns the flows a token takes from n: every flow (but the default one)
// whose condition holds, else the default flow. It returns nil, after opening an
// incident on tok, when a condition fails or nothing can be taken.
func (r *run) chooseFlows(tok *store.Token, n *node) ([]*flow, error) {
	var take []*flow
	for _, fl := range n.out {
		if fl == n.defaultFlow {
			continue
		}
		ok, err := r.holds(tok, fl)
		if err != nil {
			r.leaving(tok, n)
			r.conditionFailed(tok, n, fl, err)
			return nil, nil
		}
		if ok {
			take = append(take, fl)
		}
	}
	if len(take) == 0 && n.defaultFlow != nil {
		take = append(take, n.defaultFlow)
	}
	if len(take) == 0 {
		if len(n.out) == 0 {
			return []*flow{}, nil // the end of a path
		}
		r.leaving(tok, n)
		r.noMatchingFlow(tok, n)
		return nil, nil
	}
	return take, nil
}

// leaving marks a token that finished its element but found no flow to take: a retry
// continues with next instead of running the element again. Gateways run nothing, so
// their tokens are simply re-run.
func (r *run) leaving(tok *store.Token, n *node) {
	if !n.el.Kind.IsGateway() {
		tok.State = store.TokenLeaving
	}
}

// parallel forks, or joins: a join waits until a token has arrived through every
// incoming flow (in the same scope), then one token leaves.
func (r *run) parallel(tok *store.Token, n *node, via *flow) error {
	if len(n.in) <= 1 {
		return r.leave(tok, n, n.out)
	}
	if via != nil {
		tok.State, tok.Flow = store.TokenJoining, via.f.ID
		r.putToken(tok)
	}
	arrived := map[string]*store.Token{}
	for _, t := range r.tokens {
		if t.ElementID == n.el.ID && t.State == store.TokenJoining && t.ScopeID == tok.ScopeID {
			if _, seen := arrived[t.Flow]; !seen || t.ID == tok.ID {
				arrived[t.Flow] = t
			}
		}
	}
	for _, fl := range n.in {
		if arrived[fl.f.ID] == nil {
			return nil // still waiting
		}
	}
	// The join's stay runs from the first arrival: the token that leaves carries it.
	first := tok.CreatedAt
	for _, t := range arrived {
		if t.CreatedAt.Before(first) {
			first = t.CreatedAt
		}
		if t.ID != tok.ID {
			r.dropToken(t)
		}
	}
	tok.State, tok.Flow, tok.CreatedAt = store.TokenActive, "", first
	r.putToken(tok)
	return r.leave(tok, n, n.out)
}

// armBoundaries schedules the timers of boundary events on an activity, subscribes its
// signal boundary events, and has its conditional boundary events checked once the
// tokens stand still (a condition already true fires then).
// On a looping activity they belong to the body, not to its inner instances.
func (r *run) armBoundaries(tok *store.Token, n *node) {
	if n.loop != nil && tok.State != store.TokenMultiInstance {
		return
	}
	for _, b := range n.boundaries {
		switch {
		case b.timerKind != "":
			// A literal timer was checked at deploy time, an expression that gives no
			// timer opens an incident (scheduleTimer); a date in the past is due at once.
			_ = r.scheduleTimer(tok, b, tok.ID)
		case b.messageName != "":
			_ = r.subscribe(tok, b) // a bad correlation key is an incident on the token
		case b.signalName != "":
			r.subscribeSignal(tok, b, tok.ID)
		}
	}
	if n.conditional {
		r.conditionArrived(tok)
	}
}

// disarmBoundaries removes the timers and signal subscriptions of an activity's
// boundary events when its token leaves it.
func (r *run) disarmBoundaries(tok *store.Token, n *node) {
	if len(n.boundaries) == 0 {
		return
	}
	r.withdraw(tok, n.el.ID)
}

// scheduleTimer creates the timer job of a timer catch event or boundary event. A timer
// that cannot be read is an incident of tok at n.
func (r *run) scheduleTimer(tok *store.Token, n *node, tokenID string) error {
	j, err := r.timerJob(n, tokenID)
	if err != nil {
		r.openIncident(tok, r.at(tok, n), store.IncidentExpression, err.Error(), n.timerText, "")
		return nil
	}
	r.putTimer(tok, n, j)
	return nil
}

// timerJob makes (without writing it) the timer job of timer event n, owned by the
// token tokenID.
func (r *run) timerJob(n *node, tokenID string) (*store.Job, error) {
	spec, _, err := r.timerSpec(n)
	if err != nil {
		return nil, fmt.Errorf("timer of %q: %v", n.el.ID, err)
	}
	due, ok := spec.First(r.now)
	if !ok {
		due = r.now
	}
	j := &store.Job{
		ID: newID(), Kind: store.JobTimer, Type: n.el.ID, InstanceID: r.inst.ID, TokenID: tokenID,
		ElementID: n.el.ID, DefinitionID: r.inst.DefinitionID, DefinitionKey: r.inst.DefinitionKey,
		Retries: 1, DueAt: due, CreatedAt: r.now, Suspended: r.inst.State == store.InstanceSuspended,
	}
	if n.timerKind == "cycle" {
		j.Repeat = spec.String()
	}
	return j, nil
}

// putTimer writes timer job j of n with its timer.scheduled, which names tok (nil at
// process level).
func (r *run) putTimer(tok *store.Token, n *node, j *store.Job) {
	r.putJob(j)
	ev := r.event(event.TimerScheduled, tok, n, map[string]any{"dueAt": j.DueAt.Format(time.RFC3339Nano)})
	ev.JobID = j.ID
}

func (r *run) subscribe(tok *store.Token, n *node) error {
	key, err := r.correlationKey(tok, n)
	if err != nil {
		r.openIncident(tok, r.at(tok, n), store.IncidentExpression, err.Error(), "", "")
		return nil
	}
	r.putSubscription(tok, n, tok.ID, key)
	return nil
}

// correlationKey evaluates the correlation key of message event n where tok stands (nil:
// in the process) ("" when it has none).
func (r *run) correlationKey(tok *store.Token, n *node) (string, error) {
	if n.correlation == nil {
		return "", nil
	}
	v, err := n.correlation.EvalIn(r.budget, r.env(tok))
	if err != nil {
		return "", fmt.Errorf("correlation key of %q failed: %v", n.el.ID, err)
	}
	key := correlationString(v)
	if len(key) > MaxBusinessKeyBytes {
		return "", checkSize(fmt.Sprintf("correlation key of %q", n.el.ID), len(key), MaxBusinessKeyBytes)
	}
	return key, nil
}

// putSubscription subscribes message event n with key, owned by the token tokenID; tok
// (nil at process level) is the token its message.subscribed names.
func (r *run) putSubscription(tok *store.Token, n *node, tokenID, key string) {
	s := &store.Subscription{
		ID: newID(), InstanceID: r.inst.ID, TokenID: tokenID, ElementID: n.el.ID,
		DefinitionID: r.inst.DefinitionID, DefinitionKey: r.inst.DefinitionKey,
		MessageName: n.messageName, CorrelationKey: key, CreatedAt: r.now,
	}
	r.putSub(s)
	r.event(event.MessageSubscribed, tok, n, map[string]any{"message": n.messageName, "correlationKey": key})
}

// at is the node where tok stands, for an incident raised while arming n on its behalf
// (a boundary event of its activity, an event after its event-based gateway): the
// incident belongs where the token is.
func (r *run) at(tok *store.Token, n *node) *node {
	if cur := r.p.nodes[tok.ElementID]; cur != nil {
		return cur
	}
	return n
}

// correlationString renders a correlation value the way a sender writes it: numbers
// without a trailing ".0", strings as they are.
func correlationString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
	}
	return fmt.Sprint(v)
}

// applyMappings evaluates mappings against the variables tok sees (plus extra, the
// handler's result for output mappings) and stores the targets where mode says: input
// mappings in tok's own scope, output mappings from the scope around it outwards.
func (r *run) applyMappings(ms []compiledMapping, extra map[string]any, tok *store.Token, n *node, mode setMode) error {
	env, copied := r.envOf(tok)
	if extra != nil {
		if copied { // env is a map of its own: add to it
			for k, v := range extra {
				env[k] = v
			}
		} else {
			base := env
			env = make(map[string]any, len(base)+len(extra))
			for k, v := range base {
				env[k] = v
			}
			for k, v := range extra {
				env[k] = v
			}
		}
	}
	out := make(map[string]any, len(ms))
	for _, m := range ms {
		v, err := m.source.EvalIn(r.budget, env)
		if err != nil {
			return fmt.Errorf("mapping to %q: %w", m.target, err)
		}
		out[m.target] = v
	}
	return r.setVariablesIn(out, tok, n, mode)
}

// fireTimer runs a due timer job.
func (r *run) fireTimer(j *store.Job) error {
	n := r.p.nodes[j.ElementID]
	if n != nil && n.eventSub() != nil {
		return r.fireEventSubTimer(j, n)
	}
	tok := r.tokens[j.TokenID]
	if n == nil || tok == nil {
		r.dropJob(j) // its token is gone (it would have been deleted with it); nothing to do
		return nil
	}
	ev := r.event(event.TimerFired, tok, n, nil)
	ev.JobID = j.ID
	if n.el.Kind == bpmn.KindBoundaryEvent && !n.el.CancelActivity {
		r.rescheduleCycle(j) // a non-interrupting boundary timer may fire again
	} else {
		r.dropJob(j)
	}
	// A boundary timer: tok is the activity's token; after an event-based gateway, the
	// gateway's.
	return r.catch(tok, n, event.ReasonTimer(n.el.ID))
}

// fireBoundary runs boundary event b of the activity whose token is host: an
// interrupting one first cancels the activity with everything inside it (reason goes
// into element.cancelled), a non-interrupting one leaves it running. data goes into
// the boundary token's element.entered.
func (r *run) fireBoundary(host *store.Token, b *node, reason string, data map[string]any) error {
	scope := host.ScopeID
	if b.el.CancelActivity {
		r.cancelToken(host, reason)
	}
	bt := r.newToken(b, scope)
	r.event(event.ElementEntered, bt, b, data)
	return r.next(bt, b)
}

// rescheduleCycle moves a cycle timer job to its next due time, or drops it when the
// cycle is used up.
func (r *run) rescheduleCycle(j *store.Job) {
	if j.Repeat == "" {
		r.dropJob(j)
		return
	}
	spec, err := schedule.ParseTimer("cycle", j.Repeat)
	if err != nil {
		r.dropJob(j)
		return
	}
	// After downtime a cycle moves past now instead of firing every missed slot; on
	// time, it keeps its own rhythm.
	next, rest, ok := spec.NextAfter(j.DueAt, r.now)
	if !ok {
		r.dropJob(j)
		return
	}
	j.DueAt, j.Repeat, j.LockOwner, j.LockedUntil = next, rest.String(), "", nil
	r.putJob(j)
}

// completeJob finishes a service job with the handler's variables and moves on.
//
// started is when the handler began: job.completed reports the wait before it (waitMs,
// from the job's due time: the token's arrival, or the retry's due time).
func (r *run) completeJob(j *store.Job, vars map[string]any, started time.Time) error {
	tok := r.tokens[j.TokenID]
	n := r.p.nodes[j.ElementID]
	if tok == nil || n == nil {
		return fmt.Errorf("job %q: its token is gone: %w", j.ID, ErrInvalidState)
	}
	r.dropJob(j)
	b := appendInt(append(make([]byte, 0, 40), '{'), "attempt", int64(j.Attempt+1))
	b = appendInt(b, event.FieldWaitMs, millis(started.Sub(j.DueAt)))
	if r.worker != "" {
		b = appendString(b, event.FieldWorker, r.worker)
	}
	ev := r.eventJSON(event.JobCompleted, tok, n, append(b, '}'))
	ev.JobID = j.ID
	if len(n.outputs) > 0 {
		if !r.outputs(tok, n, vars) {
			return nil
		}
	} else if err := r.setVariables(vars, tok, n); err != nil {
		return err
	}
	return r.next(tok, n)
}

// failJob records a failed attempt: retry after the backoff, or open an incident.
// started is when the handler began (see completeJob).
func (r *run) failJob(j *store.Job, herr error, started time.Time) error {
	tok := r.tokens[j.TokenID]
	n := r.p.nodes[j.ElementID]
	if tok == nil || n == nil {
		return fmt.Errorf("job %q: its token is gone: %w", j.ID, ErrInvalidState)
	}
	var be *BPMNError
	if errors.As(herr, &be) {
		// A handler's error is recorded, never refused; what it says is cut to size.
		be = &BPMNError{Code: truncate(be.Code, MaxNameBytes), Message: truncate(be.Message, MaxErrorMessageBytes)}
		data := map[string]any{"code": be.Code, "message": be.Message, "attempt": j.Attempt + 1}
		if r.worker != "" {
			data[event.FieldWorker] = r.worker
		}
		r.event(event.ErrorThrown, tok, n, data).JobID = j.ID
		caught, err := r.throwError(tok, be.Code, be.Message)
		if err != nil || caught {
			return err
		}
		j.Attempt++
		j.Retries, j.LastError, j.ErrorDetails, j.LockOwner, j.LockedUntil = 0, truncate(herr.Error(), MaxErrorMessageBytes), "", "", nil
		r.putJob(j)
		r.openIncident(tok, n, store.IncidentUnhandledError,
			fmt.Sprintf("error %q thrown by %q is not caught by any boundary event", be.Code, n.el.ID), be.Message, j.ID)
		return nil
	}
	wait := millis(started.Sub(j.DueAt))
	j.Attempt++
	j.Retries--
	// Error and details are this attempt's: an error without details clears the ones an
	// earlier attempt left, or the incident would show another failure's stack.
	j.LastError, j.ErrorDetails = truncate(herr.Error(), MaxErrorMessageBytes), ""
	var d detailer
	if errors.As(herr, &d) {
		j.ErrorDetails = truncate(d.Details(), MaxErrorDetailsBytes)
	}
	var o retryOverride
	hasOverride := errors.As(herr, &o)
	if hasOverride {
		if left, ok := o.RetriesLeft(); ok {
			j.Retries = left
		}
	}
	j.LockOwner, j.LockedUntil = "", nil
	if j.Retries > 0 {
		if hasOverride && o.Backoff() > 0 {
			j.DueAt = r.now.Add(o.Backoff())
		} else {
			j.DueAt = r.now.Add(n.backoff.Delay(j.Attempt))
		}
	}
	r.putJob(j)
	data := map[string]any{"attempt": j.Attempt, "retriesLeft": j.Retries, "error": j.LastError, event.FieldWaitMs: wait}
	if r.worker != "" {
		data[event.FieldWorker] = r.worker
	}
	r.event(event.JobFailed, tok, n, data).JobID = j.ID
	if j.Retries <= 0 {
		r.openIncident(tok, n, store.IncidentFailedJob, j.LastError, j.ErrorDetails, j.ID)
	}
	return nil
}
