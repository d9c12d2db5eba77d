package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Instance modification: an operator moves tokens.
//
// A ModifyRequest is a list of steps (cancel the tokens at an element, start a token
// before or after an element, move: cancel and start) applied to one instance as one
// command: one transaction, one instance version, like any other command. The steps run
// in their order, each on what the steps before it left:
//
//   - cancel removes tokens with everything they own (cancelTokens: jobs, timers,
//     subscriptions, tasks, the scopes inside them with their event subprocess starts,
//     called instances, open incidents), each with element.cancelled (reason
//     event.ReasonModified).
//   - start makes a token in the scope of the element's subprocess: the one running
//     there (or the one the step names), else the subprocesses around the element are
//     entered first, from the outermost one not running: their tokens are made with
//     element.entered, their input mappings, boundary events and event subprocess starts,
//     but none starts at its start event (ancestor instantiation, as in Camunda 7).
//     "Before" the token arrives at the element as if by a flow (the element runs);
//     "after" it takes the element's one outgoing flow, without running the element.
//
// Only when every step has run does the command look at the scopes its cancels left
// empty: a subprocess with no token left is cancelled too, and an instance with no token
// left ends as cancelled (instance.cancelled). Then the new tokens move until they wait,
// as in any command. Last, the command refuses (and writes nothing) when a parallel join
// that could fire before can no longer: a token waits at it, or will arrive, but no token
// can arrive by another of its flows.
//
// The history records instance.modified (actor, reason, the steps without their
// variable values) before the events of the steps. PreviewModify runs the same command
// and rolls its transaction back: what it returns is what Modify would do, made by the
// same code.

// ModifyKind is what a modification step does.
type ModifyKind string

// Modification steps.
const (
	// ModifyCancel cancels the tokens at ElementID (or the token TokenID).
	ModifyCancel ModifyKind = "cancel"
	// ModifyStartBefore starts a token that arrives at ElementID (the element runs).
	ModifyStartBefore ModifyKind = "startBefore"
	// ModifyStartAfter starts a token on ElementID's only outgoing flow (the element does
	// not run; a join the flow leads to counts the token as arrived by it).
	ModifyStartAfter ModifyKind = "startAfter"
	// ModifyMove cancels the tokens at From (or the token TokenID) and starts a token
	// before ElementID.
	ModifyMove ModifyKind = "move"
)

// Limits of a modification.
const (
	// MaxModifySteps bounds the steps of one modification.
	MaxModifySteps = 100
)

// ModifyStep is one step of a modification. It is plain data (JSON), so a modification
// can be stored and run later (a bulk operation runs one request on many instances).
type ModifyStep struct {
	Kind ModifyKind `json:"kind"`
	// ElementID: where tokens are cancelled (cancel), or where the new token starts
	// (startBefore, startAfter, move).
	ElementID string `json:"elementId"`
	// From is, for move, the element whose tokens are cancelled (or give TokenID).
	From string `json:"from,omitempty"`
	// TokenID is, for cancel and move, the one token to cancel instead of every token
	// at the element.
	TokenID string `json:"tokenId,omitempty"`
	// ScopeID is, for a start, the token of a subprocess around ElementID that the new
	// token starts in; needed only when several tokens stand at that subprocess (a
	// multi-instance subprocess's inner instances).
	ScopeID string `json:"scopeId,omitempty"`
	// Variables are set from the new token before it moves (where each name already is
	// in its scopes, else in the process); for cancel they are refused.
	Variables map[string]any `json:"variables,omitempty"`
}

// ModifyRequest is a modification of one instance.
type ModifyRequest struct {
	Steps []ModifyStep `json:"steps"`
	// Variables are process variables set before the steps run.
	Variables map[string]any `json:"variables,omitempty"`
	// Actor and Reason go into instance.modified (who asked, and why).
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// DefinitionID, when set, is the definition the instance must run: the steps name
	// elements of that model. A stored bulk modification sets it, so an instance that
	// runs another version by the time its turn comes (it was migrated) is refused in
	// the command's own transaction rather than modified by the wrong model's ids.
	DefinitionID string `json:"definitionId,omitempty"`
}

// ModifyError refuses a modification: Step is the index of the step that cannot work
// (-1: the modification as a whole, e.g. a join it would leave waiting forever). It
// wraps ErrInvalidInput (the request is wrong for the model) or ErrInvalidState (it is
// wrong for where the instance stands); nothing was written.
type ModifyError struct {
	Step int
	Err  error
}

func (e *ModifyError) Error() string {
	if e.Step < 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("step %d: %v", e.Step+1, e.Err)
}

func (e *ModifyError) Unwrap() error { return e.Err }

// ModifyResult is what a modification did (Modify) or would do (PreviewModify).
type ModifyResult struct {
	InstanceID string `json:"instanceId"`
	// Applied is false for a preview.
	Applied bool `json:"applied"`
	// State is the instance's state afterwards; Ends: the modification ends it.
	State string `json:"state"`
	Ends  bool   `json:"ends"`
	// Tokens are where the instance's tokens stand afterwards; Started are the tokens
	// made, Cancelled the tokens removed (by a step, as an emptied scope, or moved on
	// and consumed).
	Tokens    []ModifyToken `json:"tokens"`
	Started   []ModifyToken `json:"started"`
	Cancelled []ModifyToken `json:"cancelled"`
	// Jobs and timers removed and created, subscriptions (message and signal) closed and
	// opened, user tasks cancelled and created, incidents resolved and opened.
	JobsCancelled       []ModifyRow `json:"jobsCancelled"`
	JobsCreated         []ModifyRow `json:"jobsCreated"`
	TimersCancelled     []ModifyRow `json:"timersCancelled"`
	TimersScheduled     []ModifyRow `json:"timersScheduled"`
	SubscriptionsClosed []ModifyRow `json:"subscriptionsClosed"`
	SubscriptionsOpened []ModifyRow `json:"subscriptionsOpened"`
	TasksCancelled      []ModifyRow `json:"tasksCancelled"`
	TasksCreated        []ModifyRow `json:"tasksCreated"`
	IncidentsResolved   []ModifyRow `json:"incidentsResolved"`
	IncidentsOpened     []ModifyRow `json:"incidentsOpened"`
	// BoundaryEventsArmed and BoundaryEventsDisarmed are the boundary events whose timers
	// or subscriptions were created or removed (element ids).
	BoundaryEventsArmed    []string `json:"boundaryEventsArmed"`
	BoundaryEventsDisarmed []string `json:"boundaryEventsDisarmed"`
	// CalledInstancesStarted and CalledInstancesEnded count the instances of call
	// activities started and ended.
	CalledInstancesStarted int `json:"calledInstancesStarted"`
	CalledInstancesEnded   int `json:"calledInstancesEnded"`
	// Events are the history events written, in order.
	Events []ModifyEvent `json:"events"`
}

// ModifyToken is a token of a ModifyResult.
type ModifyToken struct {
	ID        string `json:"id"`
	ElementID string `json:"elementId"`
	ScopeID   string `json:"scopeId,omitempty"`
	State     string `json:"state"`
}

// ModifyRow is a job, timer, subscription, task or incident of a ModifyResult. Kind
// says which: the job's type, "message" or "signal", the task's name, the incident's
// type.
type ModifyRow struct {
	ID        string `json:"id"`
	ElementID string `json:"elementId"`
	Kind      string `json:"kind,omitempty"`
}

// ModifyEvent is a history event of a ModifyResult.
type ModifyEvent struct {
	Type      event.Type `json:"type"`
	ElementID string     `json:"elementId,omitempty"`
	TokenID   string     `json:"tokenId,omitempty"`
}

// Modify applies a modification to an active instance in one transaction and returns
// what it did. A refusal is a *ModifyError.
func (e *Engine) Modify(ctx context.Context, instanceID string, req ModifyRequest) (*ModifyResult, error) {
	return e.modify(ctx, instanceID, req, false)
}

// PreviewModify runs a modification and rolls it back: its result is what Modify
// would do on the instance as it stands now, and its error what Modify would refuse.
func (e *Engine) PreviewModify(ctx context.Context, instanceID string, req ModifyRequest) (*ModifyResult, error) {
	return e.modify(ctx, instanceID, req, true)
}

// errPreview ends a preview's command so that the committer rolls it back.
var errPreview = errors.New("modification preview: rolled back")

func (e *Engine) modify(ctx context.Context, instanceID string, req ModifyRequest, preview bool) (*ModifyResult, error) {
	verb := "modify"
	if preview {
		verb = "preview modification of"
	}
	if err := req.check(); err != nil {
		return nil, fmt.Errorf("%s instance %q: %w", verb, instanceID, err)
	}
	var res *ModifyResult
	err := e.exec(ctx, func(b *batch) (bool, error) {
		res = nil
		r, err := e.load(ctx, b, instanceID)
		if err != nil {
			return false, err
		}
		wrote := len(b.events)
		before := r.captureRows()
		err = r.modify(req)
		if err != nil && r.fromCache && !e.exclusive && len(b.events) == wrote {
			// As in update: the cached instance may be behind another node's change.
			b.evict(instanceID)
			if r, err = e.load(ctx, b, instanceID); err != nil {
				return false, err
			}
			before = r.captureRows()
			err = r.modify(req)
		}
		if err != nil {
			return false, err
		}
		ends := len(r.endCalls) // flush ends the called instances and forgets them
		if err := r.flush(); err != nil {
			return false, err
		}
		res = r.modifyResult(before)
		res.CalledInstancesEnded = ends
		if preview {
			return false, errPreview
		}
		res.Applied = true
		// A bulk operation's item outcome commits with the modification (WithRecord).
		if err := writeRecord(ctx, b); err != nil {
			return false, err
		}
		return r.wake, nil
	})
	if preview && errors.Is(err, errPreview) && res != nil {
		return res, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s instance %q: %w", verb, instanceID, err)
	}
	return res, nil
}

// check refuses a request that no instance could take.
func (req *ModifyRequest) check() error {
	if len(req.Steps) == 0 {
		return fmt.Errorf("no steps given: %w", ErrInvalidInput)
	}
	if len(req.Steps) > MaxModifySteps {
		return fmt.Errorf("%d steps, more than the limit of %d (MaxModifySteps): %w", len(req.Steps), MaxModifySteps, ErrInvalidInput)
	}
	if err := checkSize("reason", len(req.Reason), MaxReasonBytes); err != nil {
		return err
	}
	if err := checkSize("actor", len(req.Actor), MaxReasonBytes); err != nil {
		return err
	}
	if err := checkSize("definitionId", len(req.DefinitionID), MaxNameBytes); err != nil {
		return err
	}
	for i, s := range req.Steps {
		bad := func(format string, args ...any) error {
			return &ModifyError{Step: i, Err: fmt.Errorf(format+": %w", append(args, ErrInvalidInput)...)}
		}
		for _, id := range []string{s.ElementID, s.From, s.TokenID, s.ScopeID} {
			if len(id) > MaxNameBytes {
				return bad("an id is %d bytes, more than the limit of %d bytes", len(id), MaxNameBytes)
			}
		}
		switch s.Kind {
		case ModifyCancel:
			if s.ElementID == "" && s.TokenID == "" {
				return bad("cancel needs an element or a token")
			}
			if len(s.Variables) > 0 {
				return bad("cancel sets no variables (set them on a start, or on the request)")
			}
			if s.ScopeID != "" || s.From != "" {
				return bad("cancel takes an element or a token, not a scope or a source")
			}
		case ModifyStartBefore, ModifyStartAfter:
			if s.ElementID == "" {
				return bad("%s needs an element", s.Kind)
			}
			if s.TokenID != "" || s.From != "" {
				return bad("%s starts a token; it cancels none (use move)", s.Kind)
			}
		case ModifyMove:
			if s.ElementID == "" || (s.From == "" && s.TokenID == "") {
				return bad("move needs the element to move to and an element (from) or token to move")
			}
		default:
			return bad("unknown step kind %q (cancel, startBefore, startAfter or move)", s.Kind)
		}
	}
	return nil
}

// modify runs the request's steps on the run, then the emptied scopes, the drain and
// the join check (see the top of the file).
func (r *run) modify(req ModifyRequest) error {
	if err := r.mustBeActive("modify"); err != nil {
		return err
	}
	if req.DefinitionID != "" && r.inst.DefinitionID != req.DefinitionID {
		return &ModifyError{Step: -1, Err: fmt.Errorf("instance %q runs definition %q, not %q that the steps were made for: %w",
			r.inst.ID, r.inst.DefinitionID, req.DefinitionID, ErrInvalidState)}
	}
	stuck := r.stuckJoins()
	r.event(event.InstanceModified, nil, nil, map[string]any{
		event.FieldActor: req.Actor, event.FieldReason: req.Reason, "steps": stepSummary(req.Steps)})
	if err := r.setVariables(req.Variables, nil, nil); err != nil {
		return &ModifyError{Step: -1, Err: err}
	}
	emptied := map[string]bool{}
	for i, s := range req.Steps {
		var err error
		switch s.Kind {
		case ModifyCancel:
			err = r.modCancel(s.TokenID, s.ElementID, emptied)
		case ModifyMove:
			if err = r.modCancel(s.TokenID, s.From, emptied); err == nil {
				err = r.modStart(s, false)
			}
		default:
			err = r.modStart(s, s.Kind == ModifyStartAfter)
		}
		if err != nil {
			return &ModifyError{Step: i, Err: err}
		}
	}
	r.cancelEmptied(emptied, req.Reason)
	if err := r.drain(); err != nil {
		return err
	}
	after := r.stuckJoins()
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, was := stuck[k]; !was {
			return &ModifyError{Step: -1, Err: fmt.Errorf("%s: %w", after[k], ErrInvalidState)}
		}
	}
	return nil
}

// stepSummary is what instance.modified says of the steps: everything but the
// variables' values (those are in variables.changed).
func stepSummary(steps []ModifyStep) []map[string]any {
	out := make([]map[string]any, len(steps))
	for i, s := range steps {
		m := map[string]any{"kind": s.Kind, "elementId": s.ElementID}
		if s.From != "" {
			m["from"] = s.From
		}
		if s.TokenID != "" {
			m["tokenId"] = s.TokenID
		}
		if s.ScopeID != "" {
			m["scopeId"] = s.ScopeID
		}
		if len(s.Variables) > 0 {
			m["variables"] = sortedKeys(s.Variables)
		}
		out[i] = m
	}
	return out
}

// modCancel cancels the token tokenID, or every token at elementID (a multi-instance
// body takes its inner instances along), and notes the scopes they stood in.
func (r *run) modCancel(tokenID, elementID string, emptied map[string]bool) error {
	var roots []*store.Token
	if tokenID != "" {
		t := r.tokens[tokenID]
		if t == nil {
			return fmt.Errorf("no token %q in the instance (cancelled by an earlier step?): %w", tokenID, ErrInvalidState)
		}
		if elementID != "" && t.ElementID != elementID {
			return fmt.Errorf("token %q stands at %q, not at %q: %w", tokenID, t.ElementID, elementID, ErrInvalidInput)
		}
		roots = append(roots, t)
	} else {
		if r.p.nodes[elementID] == nil {
			return fmt.Errorf("%q is not a flow node of process %q: %w", elementID, r.inst.DefinitionKey, ErrInvalidInput)
		}
		for _, t := range r.tokens {
			if t.ElementID != elementID {
				continue
			}
			if s := r.tokens[t.ScopeID]; s != nil && s.ElementID == elementID {
				continue // an inner instance: its body is cancelled with it
			}
			roots = append(roots, t)
		}
		if len(roots) == 0 {
			return fmt.Errorf("no token stands at %q: %w", elementID, ErrInvalidState)
		}
		slices.SortFunc(roots, func(a, b *store.Token) int { return strings.Compare(a.ID, b.ID) })
	}
	for _, t := range roots {
		emptied[t.ScopeID] = true
	}
	r.cancelTokens(roots, event.ReasonModified)
	return nil
}

// cancelEmptied cancels the scopes the steps' cancels left without a token, innermost
// first, and ends the instance when none is left at all.
func (r *run) cancelEmptied(emptied map[string]bool, reason string) {
	if reason == "" {
		reason = event.ReasonModified
	}
	work := slices.Sorted(maps.Keys(emptied))
	for len(work) > 0 {
		id := work[len(work)-1]
		work = work[:len(work)-1]
		busy := false
		for _, t := range r.tokens {
			if t.ScopeID == id {
				busy = true
				break
			}
		}
		if busy {
			continue
		}
		if id == "" {
			r.endInstance(reason)
			r.notify(callNotice{kind: calledCancelled, msg: cancelledHow(reason)})
			return
		}
		s := r.tokens[id]
		if s == nil {
			continue
		}
		r.cancelTokens([]*store.Token{s}, event.ReasonModified)
		work = append(work, s.ScopeID)
	}
}

// modStart makes the token of a start step (see ModifyStep) and queues it.
func (r *run) modStart(s ModifyStep, after bool) error {
	n := r.p.nodes[s.ElementID]
	if n == nil {
		return fmt.Errorf("%q is not a flow node of process %q: %w", s.ElementID, r.inst.DefinitionKey, ErrInvalidInput)
	}
	if err := startable(n, after); err != nil {
		return err
	}
	if len(r.tokens) >= maxLiveTokens {
		return fmt.Errorf("instance has %d tokens, the limit is %d (maxLiveTokens): %w", len(r.tokens), maxLiveTokens, ErrInvalidState)
	}
	if r.newTokens >= maxNewTokens {
		return fmt.Errorf("the modification made %d tokens, the limit of one command (maxNewTokens): %w", r.newTokens, ErrInvalidInput)
	}
	scope, err := r.modScope(n, s.ScopeID)
	if err != nil {
		return err
	}
	tok := r.newToken(n, scope)
	if err := r.setVariables(s.Variables, tok, n); err != nil {
		return err
	}
	if after {
		fl := n.out[0]
		tok.ElementID = fl.target.el.ID
		r.enqueue(tok, fl.target, fl)
		return nil
	}
	r.enqueue(tok, n, nil)
	return nil
}

// startable refuses a start at an element where a token cannot start.
func startable(n *node, after bool) error {
	id := n.el.ID
	switch {
	case n.compensates != nil:
		return fmt.Errorf("%q is a compensation handler: it runs only when compensation is thrown: %w", id, ErrInvalidInput)
	case n.el.TriggeredByEvent:
		return fmt.Errorf("%q is an event subprocess: it starts only by its trigger (start before an element inside it while it runs): %w", id, ErrInvalidInput)
	case n.eventSub() != nil:
		return fmt.Errorf("%q is the start event of event subprocess %q: it starts only by its trigger: %w", id, n.parent.el.ID, ErrInvalidInput)
	case after && len(n.out) != 1:
		return fmt.Errorf("%q has %d outgoing flows; start after an element with one, or before the element a flow leads to: %w", id, len(n.out), ErrInvalidInput)
	case !after && n.el.Kind == bpmn.KindParallelGateway && len(n.in) > 1:
		return fmt.Errorf("%q is a parallel join: a token started before it arrives by none of its flows and could never be joined; start after the source of the flow it waits for: %w", id, ErrInvalidInput)
	}
	return nil
}

// modScope returns the scope a token starting at n goes into: the running scope token
// of n's innermost subprocess that has one (want, when given), after entering the
// subprocesses between it and n.
func (r *run) modScope(n *node, want string) (string, error) {
	var ancestors []*node // innermost first
	for a := n.parent; a != nil; a = a.parent {
		ancestors = append(ancestors, a)
	}
	if want != "" {
		t := r.tokens[want]
		if t == nil {
			return "", fmt.Errorf("no token %q in the instance to start in: %w", want, ErrInvalidState)
		}
		for i, a := range ancestors {
			if a.el.ID != t.ElementID {
				continue
			}
			if t.State == store.TokenMultiInstance {
				return "", fmt.Errorf("token %q is the body of multi-instance %q: start in one of its inner instances: %w", want, a.el.ID, ErrInvalidInput)
			}
			return r.enterScopes(ancestors[:i], want)
		}
		return "", fmt.Errorf("token %q stands at %q, which is not a subprocess around %q: %w", want, t.ElementID, n.el.ID, ErrInvalidInput)
	}
	queued := map[string]bool{}
	for _, s := range r.queue {
		queued[s.tok.ID] = true
	}
	for i, a := range ancestors {
		var found []string
		for _, t := range r.tokens {
			// A scope runs at its element as an active token that has entered it (a
			// token still queued there enters it, with a start token of its own).
			if t.ElementID == a.el.ID && t.State == store.TokenActive && !queued[t.ID] {
				found = append(found, t.ID)
			}
		}
		switch len(found) {
		case 0:
			continue
		case 1:
			return r.enterScopes(ancestors[:i], found[0])
		}
		slices.Sort(found)
		return "", fmt.Errorf("%d tokens stand at subprocess %q (%s): choose the one to start in (scopeId): %w",
			len(found), a.el.ID, strings.Join(found, ", "), ErrInvalidInput)
	}
	return r.enterScopes(ancestors, "")
}

// enterScopes enters the subprocesses subs (innermost first) from scope outer inwards,
// without starting any at its start event, and returns the innermost one's token.
func (r *run) enterScopes(subs []*node, outer string) (string, error) {
	scope := outer
	for i := len(subs) - 1; i >= 0; i-- {
		a := subs[i]
		switch {
		case a.loop != nil:
			return "", fmt.Errorf("%q is a multi-instance or looping subprocess that is not running: start before it, or inside one of its running inner instances: %w", a.el.ID, ErrInvalidState)
		case a.el.TriggeredByEvent:
			return "", fmt.Errorf("%q is an event subprocess that is not running: it starts only by its trigger: %w", a.el.ID, ErrInvalidState)
		}
		tok := r.newToken(a, scope)
		r.eventJSON(event.ElementEntered, tok, a, nil)
		if len(a.inputs) > 0 {
			if err := r.applyMappings(a.inputs, nil, tok, a, setLocal); err != nil {
				return "", fmt.Errorf("entering %q: %v: %w", a.el.ID, err, ErrInvalidState)
			}
		}
		if len(a.eventSubs) > 0 {
			if err := r.armScope(tok, a.eventSubs); err != nil {
				return "", fmt.Errorf("entering %q: %v: %w", a.el.ID, err, ErrInvalidState)
			}
		}
		r.armBoundaries(tok, a)
		scope = tok.ID
	}
	return scope, nil
}

// stuckJoins finds the parallel joins that can never fire: in some scope a token waits
// at the join, or can still arrive by one of its flows, while no token can arrive by
// another. The messages are by join and scope.
func (r *run) stuckJoins() map[string]string {
	var joins []*node
	throws := map[*node][]*node{}
	for _, n := range r.p.nodes {
		if n.el.Kind == bpmn.KindParallelGateway && len(n.in) > 1 {
			joins = append(joins, n)
		}
		if n.linkTarget != nil {
			throws[n.linkTarget] = append(throws[n.linkTarget], n)
		}
	}
	if len(joins) == 0 || r.ended() {
		return nil
	}
	byScope := map[string][]*store.Token{}
	for _, t := range r.tokens {
		byScope[t.ScopeID] = append(byScope[t.ScopeID], t)
	}
	out := map[string]string{}
	for _, j := range joins {
		reach := make([]map[string]bool, len(j.in))
		for i, fl := range j.in {
			reach[i] = flowReachers(fl, throws)
		}
		var scopes []string
		if j.parent == nil {
			scopes = []string{""}
		} else {
			for _, t := range r.tokens {
				if t.ElementID == j.parent.el.ID && t.State != store.TokenMultiInstance {
					scopes = append(scopes, t.ID)
				}
			}
		}
		for _, scope := range scopes {
			toks := byScope[scope]
			if len(toks) == 0 {
				continue
			}
			var missing *flow
			some := false
			for i, fl := range j.in {
				ok := false
				for _, t := range toks {
					if t.ElementID == j.el.ID && t.State == store.TokenJoining {
						ok = t.Flow == fl.f.ID
					} else {
						ok = reach[i][t.ElementID]
					}
					if ok {
						break
					}
				}
				if ok {
					some = true
				} else if missing == nil {
					missing = fl
				}
			}
			if some && missing != nil {
				out[j.el.ID+"\x00"+scope] = fmt.Sprintf(
					"parallel gateway %q would wait forever: a token waits at it or will arrive, but none can arrive by flow %q (from %q); start a token after %q, or cancel the other branches too",
					j.el.ID, missing.f.ID, missing.source.el.ID, missing.source.el.ID)
			}
		}
	}
	return out
}

// flowReachers returns the elements from which a token can reach flow fl (its source
// included): backwards along flows, from a boundary event to its activity, from a link
// catch event to its throws (throws: by catch event).
func flowReachers(fl *flow, throws map[*node][]*node) map[string]bool {
	out := map[string]bool{fl.source.el.ID: true}
	stack := []*node{fl.source}
	visit := func(p *node) {
		if !out[p.el.ID] {
			out[p.el.ID] = true
			stack = append(stack, p)
		}
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, in := range n.in {
			visit(in.source)
		}
		if n.attachedTo != nil {
			visit(n.attachedTo)
		}
		for _, t := range throws[n] {
			visit(t)
		}
	}
	return out
}

// rowsBefore is what an instance held before a modification, to tell what it changed.
type rowsBefore struct {
	tokens    map[string]store.Token
	jobs      map[string]store.Job
	subs      map[string]store.Subscription
	tasks     map[string]store.UserTask
	incidents map[string]store.Incident
	events    int
}

func (r *run) captureRows() *rowsBefore {
	b := &rowsBefore{tokens: make(map[string]store.Token, len(r.tokens)), jobs: make(map[string]store.Job, len(r.jobs)),
		subs: make(map[string]store.Subscription, len(r.subs)), tasks: map[string]store.UserTask{},
		incidents: map[string]store.Incident{}, events: len(r.events)}
	for id, t := range r.tokens {
		b.tokens[id] = *t
	}
	for id, j := range r.jobs {
		b.jobs[id] = *j
	}
	for id, s := range r.subs {
		b.subs[id] = *s
	}
	for id, t := range r.tasks {
		if t.State == store.TaskOpen {
			b.tasks[id] = *t
		}
	}
	for id, i := range r.incidents {
		if i.State == store.IncidentOpen {
			b.incidents[id] = *i
		}
	}
	return b
}

// modifyResult compares the run with what it held before.
func (r *run) modifyResult(b *rowsBefore) *ModifyResult {
	res := &ModifyResult{InstanceID: r.inst.ID, State: r.inst.State, Ends: r.ended()}
	tokRow := func(t store.Token) ModifyToken {
		return ModifyToken{ID: t.ID, ElementID: t.ElementID, ScopeID: t.ScopeID, State: t.State}
	}
	for _, t := range r.tokens {
		res.Tokens = append(res.Tokens, tokRow(*t))
		if _, ok := b.tokens[t.ID]; !ok {
			res.Started = append(res.Started, tokRow(*t))
		}
	}
	for id, t := range b.tokens {
		if r.tokens[id] == nil {
			res.Cancelled = append(res.Cancelled, tokRow(t))
		}
	}
	armed, disarmed := map[string]bool{}, map[string]bool{}
	boundary := func(set map[string]bool, elementID string) {
		if n := r.p.nodes[elementID]; n != nil && n.attachedTo != nil {
			set[elementID] = true
		}
	}
	jobRow := func(j store.Job, created bool) {
		row := ModifyRow{ID: j.ID, ElementID: j.ElementID, Kind: j.Type}
		switch {
		case j.Kind == store.JobTimer && created:
			res.TimersScheduled = append(res.TimersScheduled, row)
			boundary(armed, j.ElementID)
		case j.Kind == store.JobTimer:
			res.TimersCancelled = append(res.TimersCancelled, row)
			boundary(disarmed, j.ElementID)
		case created:
			res.JobsCreated = append(res.JobsCreated, row)
		default:
			res.JobsCancelled = append(res.JobsCancelled, row)
		}
	}
	for id, j := range r.jobs {
		if _, ok := b.jobs[id]; !ok {
			jobRow(*j, true)
		}
	}
	for id, j := range b.jobs {
		if r.jobs[id] == nil {
			jobRow(j, false)
		}
	}
	subKind := func(s store.Subscription) string {
		if s.Kind == store.SubSignal {
			return "signal " + s.MessageName
		}
		return "message " + s.MessageName
	}
	for id, s := range r.subs {
		if _, ok := b.subs[id]; !ok {
			res.SubscriptionsOpened = append(res.SubscriptionsOpened, ModifyRow{ID: id, ElementID: s.ElementID, Kind: subKind(*s)})
			boundary(armed, s.ElementID)
		}
	}
	for id, s := range b.subs {
		if r.subs[id] == nil {
			res.SubscriptionsClosed = append(res.SubscriptionsClosed, ModifyRow{ID: id, ElementID: s.ElementID, Kind: subKind(s)})
			boundary(disarmed, s.ElementID)
		}
	}
	for id, t := range r.tasks {
		if _, ok := b.tasks[id]; !ok && t.State == store.TaskOpen {
			res.TasksCreated = append(res.TasksCreated, ModifyRow{ID: id, ElementID: t.ElementID, Kind: t.Name})
		}
	}
	for id, t := range b.tasks {
		if now := r.tasks[id]; now == nil || now.State != store.TaskOpen {
			res.TasksCancelled = append(res.TasksCancelled, ModifyRow{ID: id, ElementID: t.ElementID, Kind: t.Name})
		}
	}
	for id, i := range r.incidents {
		if _, ok := b.incidents[id]; !ok && i.State == store.IncidentOpen {
			res.IncidentsOpened = append(res.IncidentsOpened, ModifyRow{ID: id, ElementID: i.ElementID, Kind: i.Type})
		}
	}
	for id, i := range b.incidents {
		if now := r.incidents[id]; now == nil || now.State != store.IncidentOpen {
			res.IncidentsResolved = append(res.IncidentsResolved, ModifyRow{ID: id, ElementID: i.ElementID, Kind: i.Type})
		}
	}
	res.BoundaryEventsArmed, res.BoundaryEventsDisarmed = slices.Sorted(maps.Keys(armed)), slices.Sorted(maps.Keys(disarmed))
	for _, ev := range r.events[b.events:] {
		if ev.Type == event.CallStarted {
			res.CalledInstancesStarted++
		}
		res.Events = append(res.Events, ModifyEvent{Type: ev.Type, ElementID: ev.ElementID, TokenID: ev.TokenID})
	}
	byToken := func(s []ModifyToken) {
		slices.SortFunc(s, func(a, b ModifyToken) int {
			return cmp.Or(strings.Compare(a.ElementID, b.ElementID), strings.Compare(a.ID, b.ID))
		})
	}
	byRow := func(s []ModifyRow) {
		slices.SortFunc(s, func(a, b ModifyRow) int {
			return cmp.Or(strings.Compare(a.ElementID, b.ElementID), strings.Compare(a.ID, b.ID))
		})
	}
	byToken(res.Tokens)
	byToken(res.Started)
	byToken(res.Cancelled)
	for _, s := range [][]ModifyRow{res.JobsCancelled, res.JobsCreated, res.TimersCancelled, res.TimersScheduled,
		res.SubscriptionsClosed, res.SubscriptionsOpened, res.TasksCancelled, res.TasksCreated,
		res.IncidentsResolved, res.IncidentsOpened} {
		byRow(s)
	}
	return res
}
