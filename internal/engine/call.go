package engine

// Call activities.
//
// A call activity starts an instance of another process (the called instance) and waits
// until it ends. Both instances move in the one command that reaches the call activity
// and in every command that ends the call: a command loads each instance it touches
// into the same batch (engine.load: the batch's cache, else the transaction) and writes
// each with its own version check, so the call and its end are atomic — there is no
// hand-off to lose in a crash, and a conflict on either instance re-runs the whole
// command on fresh state.
//
//   - Start: the caller's run reaches the call activity and starts the called instance
//     right there (startCalled): it runs to its wait states and is written before the
//     caller goes on. If it ended at once (completed, or threw an error) the caller takes
//     its notices in memory (takeNotices) and moves on in the same drain.
//   - End: a command on the called instance that completes it, throws an error it does
//     not catch, opens or resolves an incident, or cancels it, leaves a notice on its run;
//     after its write (run.flush) the caller is loaded into the batch, takes the notice,
//     runs on and is written, and so on up the chain of calls.
//   - Cancel: a token at a call activity that is cancelled (the caller cancelled, an
//     interrupting boundary event, a terminate end event) ends its called instance after
//     the caller's write (endCalls), and that instance's own called instances in turn.
//
// The work of the runs of one command shares the command's bounds (maxSteps,
// maxNewTokens, the expression budget): each run starts with what the run before it
// used. The chain of calls is bounded by MaxCallDepth.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// MaxCallDepth bounds a chain of call activities: an instance that MaxCallDepth calls led
// to cannot call another process (its call activity gets an incident naming the limit),
// so a process that calls itself without end stops there.
const MaxCallDepth = 32

// callPlan is a call activity compiled: what it calls and what passes both ways.
type callPlan struct {
	key         string              // the called process key, or
	keyExpr     *expression.Program // an expression that gives it
	binding     string
	version     int                 // BindingVersion: a literal version, or
	versionExpr *expression.Program // an expression that gives it
	versionTag  string
	inAll       bool
	outAll      bool
	in, out     []callVar
	// inputs and outputs are the activity's input/output mappings (zeebe:ioMapping),
	// evaluated for the call only (never written to the caller's variables as inputs).
	inputs, outputs []compiledMapping
	businessKey     *expression.Program
}

// callVar passes one variable: target gets the variable source, or the value of expr.
type callVar struct {
	source string
	expr   *expression.Program
	target string
}

// isExpression reports whether a call activity's attribute is an expression (Camunda
// "${...}" / "#{...}", Zeebe "=...") rather than a literal.
func isExpression(s string) bool {
	return strings.HasPrefix(s, "${") || strings.HasPrefix(s, "#{") || strings.HasPrefix(s, "=")
}

// compileCall compiles a call activity's called process, binding and mappings.
func (c *compiler) compileCall(n *node) {
	el := n.el
	cd := el.Call
	cp := &callPlan{binding: cd.Binding, versionTag: strings.TrimSpace(cd.VersionTag), inAll: cd.InAll, outAll: cd.OutAll}
	key := strings.TrimSpace(el.CalledElement)
	switch {
	case key == "":
		c.bad(el, "call activity names no called process")
	case isExpression(key):
		cp.keyExpr = c.compile(el, "called element", key)
	case len(key) > MaxNameBytes:
		c.bad(el, "called process key is %d bytes, more than the limit of %d bytes", len(key), MaxNameBytes)
	default:
		cp.key = key
	}
	switch cd.Binding {
	case "", bpmn.BindingLatest, bpmn.BindingDeployment:
	case bpmn.BindingVersion:
		v := strings.TrimSpace(cd.Version)
		if isExpression(v) {
			cp.versionExpr = c.compile(el, "called element version", v)
		} else if n, err := strconv.Atoi(v); err != nil || n < 1 {
			c.bad(el, "called element version %q is not a version number (1 or more) or an expression", cd.Version)
		} else {
			cp.version = n
		}
	case bpmn.BindingVersionTag:
		if cp.versionTag == "" {
			c.bad(el, "call activity bound by version tag has no version tag")
		} else if len(cp.versionTag) > MaxNameBytes {
			c.bad(el, "version tag is %d bytes, more than the limit of %d bytes", len(cp.versionTag), MaxNameBytes)
		}
	default:
		c.bad(el, "call activity binding %q is not supported", cd.Binding)
	}
	vars := func(what string, ms []bpmn.CallMapping) []callVar {
		var out []callVar
		for _, m := range ms {
			v := callVar{source: strings.TrimSpace(m.Source), target: strings.TrimSpace(m.Target)}
			switch {
			case v.target == "":
				c.bad(el, "%s mapping has no target", what)
				continue
			case len(v.target) > MaxNameBytes:
				c.bad(el, "%s mapping target is %d bytes, more than the limit of %d bytes", what, len(v.target), MaxNameBytes)
				continue
			case strings.TrimSpace(m.SourceExpression) != "":
				if v.expr = c.compile(el, fmt.Sprintf("%s mapping %q", what, v.target), m.SourceExpression); v.expr == nil {
					continue
				}
			case v.source == "":
				c.bad(el, "%s mapping %q has no source or sourceExpression", what, v.target)
				continue
			}
			out = append(out, v)
		}
		return out
	}
	cp.in, cp.out = vars("in", cd.In), vars("out", cd.Out)
	if bk := strings.TrimSpace(cd.BusinessKey); bk != "" {
		cp.businessKey = c.compile(el, "business key", bk)
	}
	// The activity's own mappings belong to the call: inputs go to the called instance,
	// outputs come from it.
	cp.inputs, cp.outputs, n.inputs, n.outputs = n.inputs, n.outputs, nil, nil
	n.call = cp
	n.waits = true // element.left reports the call's length as waiting time
}

// Notices a called instance leaves for its caller (see takeNotices).
type noticeKind int

const (
	calledCompleted noticeKind = iota + 1
	calledThrew                // a BPMN error the caller (or one of its callers) catches
	calledCancelled            // cancelled on its own, not by its caller
	calledIncident             // an incident opened
	calledResolved             // an incident resolved
	calledEscalated            // an escalation the caller catches
)

type callNotice struct {
	kind   noticeKind
	values map[string]any // calledCompleted: the called instance's variables
	code   string         // calledThrew
	msg    string         // calledThrew, calledCancelled
	ended  bool           // calledEscalated: the called instance ended (an interrupting catch)
	inc    *store.Incident
}

// notify leaves a notice for the caller of a called instance, unless the caller is the
// one ending it.
func (r *run) notify(n callNotice) {
	if r.inst.ParentInstanceID == "" || r.byCaller {
		return
	}
	r.notices = append(r.notices, n)
}

// callEnv is the environment of a call activity's expressions: the variables the
// caller's token sees (its scopes' over the process's) and, unless a variable has the
// name, Camunda's execution (processBusinessKey, processInstanceId), which models use to
// pass the business key on.
func (r *run) callEnv(tok *store.Token) map[string]any {
	vars := r.env(tok)
	if _, ok := vars["execution"]; ok {
		return vars
	}
	env := make(map[string]any, len(vars)+1)
	for k, v := range vars {
		env[k] = v
	}
	env["execution"] = map[string]any{"processBusinessKey": r.inst.BusinessKey, "processInstanceId": r.inst.ID}
	return env
}

// callActivity starts the called instance of the call activity n for token tok. What
// keeps it from starting (no such process or version, the depth limit, a failing
// mapping) is an incident at the call activity; retrying the incident calls again.
func (r *run) callActivity(tok *store.Token, n *node) error {
	cp := n.call
	// A retried call arrives again: the boundary timers of its first arrival go.
	r.disarmBoundaries(tok, n)
	fail := func(typ, format string, args ...any) error {
		r.openIncident(tok, n, typ, fmt.Sprintf(format, args...), "", "")
		return nil
	}
	if r.inst.CallDepth >= MaxCallDepth {
		return fail(store.IncidentCall, "call activity %q cannot call: instance %s is already %d calls deep, the limit (MaxCallDepth %d); does a process call itself without end?",
			n.el.ID, r.inst.ID, r.inst.CallDepth, MaxCallDepth)
	}
	if r.newTokens >= maxNewTokens {
		return fail(store.IncidentLimit, "call activity %q cannot call: the command already created %d tokens, the limit (maxNewTokens)", n.el.ID, maxNewTokens)
	}
	env := r.callEnv(tok)
	key := cp.key
	if cp.keyExpr != nil {
		v, err := cp.keyExpr.EvalIn(r.budget, env)
		if err != nil {
			return fail(store.IncidentExpression, "called element of %q failed: %v", n.el.ID, err)
		}
		s, ok := v.(string)
		if !ok || strings.TrimSpace(s) == "" || len(s) > MaxNameBytes {
			return fail(store.IncidentExpression, "called element of %q is %s, not a process key (a string of 1 to %d bytes)", n.el.ID, describe(v), MaxNameBytes)
		}
		key = s
	}
	p, why, err := r.calledPlan(n, key, env)
	if err != nil {
		return err
	}
	if why != "" {
		return fail(store.IncidentCall, "call activity %q: %s", n.el.ID, why)
	}
	vars, err := r.callInputs(tok, cp, env)
	if err != nil {
		return fail(store.IncidentExpression, "call activity %q: %v", n.el.ID, err)
	}
	bk := ""
	if cp.businessKey != nil {
		v, err := cp.businessKey.EvalIn(r.budget, env)
		if err != nil {
			return fail(store.IncidentExpression, "business key of %q failed: %v", n.el.ID, err)
		}
		if bk = correlationString(v); len(bk) > MaxBusinessKeyBytes {
			return fail(store.IncidentExpression, "business key of %q is %d bytes, more than the limit of %d bytes", n.el.ID, len(bk), MaxBusinessKeyBytes)
		}
	}
	r.armBoundaries(tok, n)
	child, err := r.startCalled(tok, n, p, bk, vars)
	if errors.Is(err, ErrInvalidInput) {
		// The values passed do not fit the limits: nothing of the called instance was written.
		return fail(store.IncidentCall, "call activity %q: %v", n.el.ID, err)
	}
	if err != nil {
		return err
	}
	r.event(event.CallStarted, tok, n, map[string]any{
		"calledInstanceId": child.inst.ID, "calledProcess": p.def.Key, "calledVersion": p.def.Version})
	return r.takeNotices(child.inst, child.notices)
}

// calledPlan finds the plan a call activity starts, by its binding. why is set, and the
// plan nil, when there is none (an incident, not an error of the command).
func (r *run) calledPlan(n *node, key string, env map[string]any) (p *plan, why string, err error) {
	cp := n.call
	e, ctx, tx := r.e, r.ctx, r.b.tx
	var def *store.Definition
	what := fmt.Sprintf("process %q", key)
	switch cp.binding {
	case "", bpmn.BindingLatest:
		p, err = e.startPlan(ctx, tx, key, 0)
	case bpmn.BindingVersion:
		v := cp.version
		if cp.versionExpr != nil {
			x, err := cp.versionExpr.EvalIn(r.budget, env)
			if err != nil {
				return nil, fmt.Sprintf("called element version failed: %v", err), nil
			}
			f, ok := x.(float64)
			if s, isStr := x.(string); isStr {
				n, perr := strconv.Atoi(strings.TrimSpace(s))
				f, ok = float64(n), perr == nil
			}
			if !ok || f < 1 || f != float64(int(f)) {
				return nil, fmt.Sprintf("called element version is %s, not a version number", describe(x)), nil
			}
			v = int(f)
		}
		what = fmt.Sprintf("process %q version %d", key, v)
		p, err = e.startPlan(ctx, tx, key, v)
	case bpmn.BindingVersionTag:
		what = fmt.Sprintf("process %q with version tag %q", key, cp.versionTag)
		if def, err = tx.DefinitionByVersionTag(ctx, key, cp.versionTag); err == nil {
			p, err = e.planFor(ctx, tx, def.ID)
		}
	case bpmn.BindingDeployment:
		what = fmt.Sprintf("process %q deployed with %q version %d", key, r.p.def.Key, r.p.def.Version)
		if def, err = tx.DefinitionByChecksum(ctx, key, r.p.def.Checksum); err == nil {
			p, err = e.planFor(ctx, tx, def.ID)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, what + " is not deployed", nil
	}
	if err != nil {
		return nil, "", err
	}
	if p.start == nil {
		return nil, fmt.Sprintf("process %q version %d has no none start event to call", p.def.Key, p.def.Version), nil
	}
	return p, "", nil
}

// callInputs are the variables the called instance starts with.
func (r *run) callInputs(tok *store.Token, cp *callPlan, env map[string]any) (map[string]any, error) {
	vars := map[string]any{}
	seen := r.env(tok) // the caller's variables as its token sees them
	if cp.inAll {
		for k, v := range seen {
			vars[k] = v
		}
	}
	for _, m := range cp.in {
		if m.expr == nil {
			vars[m.target] = seen[m.source] // a missing variable passes as null, as in Camunda
			continue
		}
		v, err := m.expr.EvalIn(r.budget, env)
		if err != nil {
			return nil, fmt.Errorf("in mapping %q: %w", m.target, err)
		}
		vars[m.target] = v
	}
	for _, m := range cp.inputs {
		v, err := m.source.EvalIn(r.budget, env)
		if err != nil {
			return nil, fmt.Errorf("input mapping %q: %w", m.target, err)
		}
		vars[m.target] = v
	}
	return vars, nil
}

// callOutputs are the variables a completed call gives its caller, from the called
// instance's variables (child).
func (r *run) callOutputs(cp *callPlan, child map[string]any) (map[string]any, error) {
	out := map[string]any{}
	if cp.outAll && len(cp.outputs) == 0 {
		for k, v := range child {
			out[k] = v
		}
	}
	for _, m := range cp.out {
		if m.expr == nil {
			out[m.target] = child[m.source]
			continue
		}
		v, err := m.expr.EvalIn(r.budget, child)
		if err != nil {
			return nil, fmt.Errorf("out mapping %q: %w", m.target, err)
		}
		out[m.target] = v
	}
	if len(cp.outputs) > 0 {
		// Zeebe evaluates output mappings in the call activity's scope, where the called
		// instance's variables cover the caller's.
		env := make(map[string]any, len(r.values)+len(child))
		for k, v := range r.values {
			env[k] = v
		}
		for k, v := range child {
			env[k] = v
		}
		for _, m := range cp.outputs {
			v, err := m.source.EvalIn(r.budget, env)
			if err != nil {
				return nil, fmt.Errorf("output mapping %q: %w", m.target, err)
			}
			out[m.target] = v
		}
	}
	return out, nil
}

// startCalled starts the called instance of p for the caller's token tok at call
// activity n, runs it to its wait states and writes it. The returned run holds what it
// has to tell the caller (notices), which the caller takes in memory.
func (r *run) startCalled(tok *store.Token, n *node, p *plan, businessKey string, vars map[string]any) (*run, error) {
	c := r.e.newRun(r.ctx, r.b, p)
	c.created = true
	c.caller, c.parent = r, r
	c.steps, c.newTokens, c.budget = r.steps, r.newTokens, r.budget
	c.inst = &store.Instance{
		ID: newID(), DefinitionID: p.def.ID, DefinitionKey: p.def.Key, DefinitionVersion: p.def.Version,
		BusinessKey: businessKey, State: store.InstanceActive, StartedAt: c.now,
		ParentInstanceID: r.inst.ID, ParentTokenID: tok.ID, ParentElementID: n.el.ID, CallDepth: r.inst.CallDepth + 1,
	}
	c.event(event.InstanceStarted, nil, nil, map[string]any{"businessKey": businessKey, "version": p.def.Version,
		"parentInstanceId": r.inst.ID, "parentElementId": n.el.ID, "callDepth": c.inst.CallDepth})
	if err := c.setVariables(vars, nil, nil); err != nil {
		return nil, err
	}
	start := c.newToken(p.start, "")
	c.enqueue(start, p.start, nil)
	if err := c.drain(); err != nil {
		return nil, err
	}
	r.steps, r.newTokens = c.steps, c.newTokens
	if err := c.flush(); err != nil {
		return nil, err
	}
	r.callWake = r.callWake || c.wake
	return c, nil
}

// takeNotices applies what a called instance (child) told its caller r: move on, catch
// its error, or open or resolve an incident at the call activity.
func (r *run) takeNotices(child *store.Instance, notices []callNotice) error {
	for _, nt := range notices {
		tok := r.tokens[child.ParentTokenID]
		n := r.p.nodes[child.ParentElementID]
		if tok == nil || n == nil || n.call == nil || tok.ElementID != n.el.ID {
			return nil // the call is over on this side (its token moved on or went)
		}
		switch nt.kind {
		case calledCompleted:
			out, err := r.callOutputs(n.call, nt.values)
			if err == nil {
				err = r.setVariables(out, tok, n)
			}
			if err != nil {
				r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("call activity %q: %v", n.el.ID, err), "", "")
				continue
			}
			if err := r.next(tok, n); err != nil {
				return err
			}
		case calledThrew:
			r.callEnded(tok.ID) // the called instance ended itself
			caught, err := r.throwError(tok, nt.code, nt.msg)
			if err != nil {
				return err
			}
			if !caught {
				r.openIncident(tok, n, store.IncidentUnhandledError,
					fmt.Sprintf("error %q thrown by called instance %s is not caught by any boundary event", nt.code, child.ID), nt.msg, "")
			}
		case calledEscalated:
			if nt.ended {
				r.callEnded(tok.ID) // the called instance ended itself
			}
			c := r.findCatcher(tok, bpmn.EventEscalation, nt.code)
			if c == nil {
				continue // the catching event went meanwhile: an uncaught escalation is no error
			}
			data := map[string]any{"escalationCode": nt.code, "calledInstance": child.ID}
			if err := r.fireCatcher(c, event.ReasonEscalation(nt.code, c.at.el.ID), data); err != nil {
				return err
			}
		case calledCancelled:
			r.openIncident(tok, n, store.IncidentCall,
				fmt.Sprintf("called instance %s was cancelled (%s); retry to call again", child.ID, nt.msg), "", "")
		case calledIncident:
			i := r.openIncident(tok, n, store.IncidentCalledInstance,
				fmt.Sprintf("incident in called instance %s at %q: %s", child.ID, nt.inc.ElementID, nt.inc.Message), "", "")
			i.CauseIncidentID = nt.inc.ID
		case calledResolved:
			for _, i := range r.incidents {
				if i.CauseIncidentID == nt.inc.ID {
					r.resolveIncident(i, "cause resolved")
				}
			}
		}
	}
	return nil
}

// callEnded records that the called instance of the token at a call activity ended on
// its own, so cancelling the token does not cancel it again.
func (r *run) callEnded(tokenID string) {
	if r.callsDone == nil {
		r.callsDone = map[string]bool{}
	}
	r.callsDone[tokenID] = true
}

// catches reports whether an error with code thrown at tok would be caught in this
// instance (throwError's search, findCatcher, without its effects).
func (r *run) catches(tok *store.Token, code string) bool {
	return r.findCatcher(tok, bpmn.EventError, code) != nil
}

// loadParent returns the run of the instance that called this one: the caller's run in
// memory, or the caller loaded into this command's batch. nil: the caller has ended or
// is gone, and there is nobody to tell.
func (r *run) loadParent() (*run, error) {
	if r.parent != nil {
		return r.parent, nil
	}
	id := r.inst.ParentInstanceID
	p, err := r.e.load(r.ctx, r.b, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p.fromCache && !r.e.exclusive && p.tokens[r.inst.ParentTokenID] == nil {
		// The cached caller may be behind another node's change: read it again.
		r.b.evict(id)
		if p, err = r.e.load(r.ctx, r.b, id); err != nil {
			return nil, err
		}
	}
	if p.ended() {
		return nil, nil
	}
	p.steps, p.newTokens, p.budget = r.steps, r.newTokens, r.budget
	r.parent = p
	return p, nil
}

// throwToCaller is throwError's last resort in a called instance: when a caller up the
// chain catches the error, this instance ends (cancelled, its tokens with it) and the
// error goes to its call activity.
func (r *run) throwToCaller(code, msg string) (bool, error) {
	if r.inst.ParentInstanceID == "" || r.byCaller {
		return false, nil
	}
	caught, err := r.ancestorCatches(code)
	if err != nil || !caught {
		return false, err
	}
	reason := fmt.Sprintf("error %s passed to the calling instance %s", code, r.inst.ParentInstanceID)
	r.endInstance(reason)
	r.notify(callNotice{kind: calledThrew, code: code, msg: msg})
	return true, nil
}

// ancestorCatches reports whether a caller up the chain catches an error with code at
// its call activity (or around it).
func (r *run) ancestorCatches(code string) (bool, error) {
	for cur := r; cur.inst.ParentInstanceID != ""; {
		p, err := cur.loadParent()
		if err != nil || p == nil {
			return false, err
		}
		tok := p.tokens[cur.inst.ParentTokenID]
		if tok == nil {
			return false, nil
		}
		if p.catches(tok, code) {
			return true, nil
		}
		cur = p
	}
	return false, nil
}

// endInstance cancels every token of the instance and ends it as cancelled.
func (r *run) endInstance(reason string) {
	var top []*store.Token
	for _, t := range r.tokens {
		if t.ScopeID == "" {
			top = append(top, t)
		}
	}
	r.cancelTokens(top, event.ReasonInstanceCancelled)
	r.disarmScope("")
	r.inst.State = store.InstanceCancelled
	now := r.now
	r.inst.EndedAt = &now
	r.event(event.InstanceCancelled, nil, nil, map[string]any{event.FieldReason: reason, event.FieldDurationMs: millis(now.Sub(r.inst.StartedAt))})
}

// afterFlush runs, after a run was written, what its change means for the other
// instances of its calls: the called instances of its cancelled call activities end, and
// a caller not in memory takes this instance's notices (loaded into the batch, run on
// and written, which may go on up the chain).
func (r *run) afterFlush() error {
	if len(r.endCalls) > 0 {
		if err := r.endCalled(); err != nil {
			return err
		}
	}
	if len(r.notices) == 0 || r.caller != nil {
		return nil // a caller in memory takes them itself (callActivity)
	}
	notices := r.notices
	r.notices = nil
	p, err := r.loadParent()
	if err != nil || p == nil {
		return err
	}
	p.steps, p.newTokens = r.steps, r.newTokens
	if err := p.takeNotices(r.inst, notices); err != nil {
		return err
	}
	if err := p.drain(); err != nil {
		return err
	}
	if err := p.flush(); err != nil {
		return err
	}
	r.wake = r.wake || p.wake
	return nil
}

// endCalled cancels the called instances of the call activities whose tokens this run
// cancelled (endCalls), and theirs in turn (each one's flush).
func (r *run) endCalled() error {
	ends := r.endCalls
	r.endCalls = nil
	page := store.InstanceFilter{ParentInstanceID: r.inst.ID, States: []string{store.InstanceActive, store.InstanceSuspended}, Limit: 1000}
	for {
		res, err := r.b.tx.ListInstances(r.ctx, page)
		if err != nil {
			return fmt.Errorf("called instances of %q: %w", r.inst.ID, err)
		}
		for _, in := range res.Instances {
			if !ends[in.ParentTokenID] {
				continue
			}
			c, err := r.e.load(r.ctx, r.b, in.ID)
			if err != nil {
				return err
			}
			if c.ended() {
				continue
			}
			c.byCaller = true
			c.endInstance(fmt.Sprintf("call activity %s of the calling instance %s ended", in.ParentElementID, r.inst.ID))
			if err := c.flush(); err != nil {
				return err
			}
			r.wake = r.wake || c.wake
		}
		if res.Next == "" {
			return nil
		}
		page.After = res.Next
	}
}

// cancelledCall records, while tokens are cancelled, a token at a call activity whose
// called instance must end after the write.
func (r *run) cancelledCall(t *store.Token) {
	if r.callsDone[t.ID] {
		return
	}
	if n := r.p.nodes[t.ElementID]; n == nil || n.call == nil {
		return
	}
	if r.endCalls == nil {
		r.endCalls = map[string]bool{}
	}
	r.endCalls[t.ID] = true
}

// cancelledHow is what a caller's incident says of a called instance cancelled on its own.
func cancelledHow(reason string) string {
	if reason == "" {
		return "no reason given"
	}
	return "reason: " + truncate(reason, 200)
}
