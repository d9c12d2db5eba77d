package engine

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Multi-instance activities and standard loops.
//
// A token that arrives at a looping activity becomes its body: it stays at the element
// with State TokenMultiInstance, holds the activity's boundary events, and its scope
// holds nrOfInstances, nrOfActiveInstances, nrOfCompletedInstances and the output
// collection. Each run of the activity is an inner instance: a token at the same element
// whose ScopeID is the body, with loopCounter and the element variable local to it; it
// runs the activity like any token (input mappings, job, task, subprocess). When an inner
// instance leaves the activity (leave), it ends there instead of following the flows
// (innerDone): its output element goes into the output collection, the counters move,
// and the body starts the next instance (sequential, standard loop), or leaves by the
// activity's flows when every instance completed or the completion condition holds (the
// instances still running are cancelled).
//
// The body's element.entered (with the flow it came by), element.left and
// element.cancelled carry ElementType event.ElementTypeMultiInstanceBody: the metrics and
// the completion counts count the inner instances as the element's runs, and the body's
// arrival only as the flow taken.

// maxLoopInstances bounds the instances one multi-instance body or standard loop runs
// (the collection's size or the cardinality, the runs of a loop): the same bound as the
// tokens one command may create (maxNewTokens), since a parallel body creates them all at
// once. A body that would pass it gets a limitExceeded incident naming it.
const maxLoopInstances = maxNewTokens

// Local variables of multi-instance bodies and inner instances, as in Camunda.
const (
	varLoopCounter      = "loopCounter"
	varNrOfInstances    = "nrOfInstances"
	varNrOfActive       = "nrOfActiveInstances"
	varNrOfCompleted    = "nrOfCompletedInstances"
	loopCounterCamunda7 = 0 // Camunda 7 counts from 0, Zeebe from 1
)

// loopPlan is an activity's compiled loop marker.
type loopPlan struct {
	kind        bpmn.LoopKind
	cardinality *expression.Program
	collection  *expression.Program
	elementVar  string
	outputVar   string
	outputElem  *expression.Program
	completion  *expression.Program
	counterBase int
	// Standard loop.
	condition  *expression.Program
	testBefore bool
	maximum    int // 0: maxLoopInstances
}

func (l *loopPlan) sequential() bool { return l.kind != bpmn.LoopMultiParallel }

// compileLoop compiles the loop marker of node n.
func (c *compiler) compileLoop(n *node) {
	el := n.el
	if !el.Kind.IsActivity() || el.Loop == bpmn.LoopNone {
		return
	}
	s := el.LoopSpec
	l := &loopPlan{kind: el.Loop, elementVar: s.ElementVariable, outputVar: s.OutputCollection, counterBase: loopCounterCamunda7,
		testBefore: s.TestBefore}
	if s.ZeebeCounter {
		l.counterBase = 1
	}
	for _, name := range []string{s.ElementVariable, s.OutputCollection} {
		if len(name) > MaxNameBytes {
			c.bad(el, "loop variable name is %d bytes, more than the limit of %d bytes", len(name), MaxNameBytes)
		}
	}
	if el.Loop == bpmn.LoopStandard {
		if s.LoopCondition != "" {
			l.condition = c.compile(el, "loop condition", s.LoopCondition)
		}
		if s.LoopMaximum != "" {
			m, err := strconv.Atoi(s.LoopMaximum)
			if err != nil || m < 0 {
				c.bad(el, "loopMaximum %q is not a non-negative number", s.LoopMaximum)
			} else {
				l.maximum = m
			}
		}
		if l.condition == nil && l.maximum == 0 {
			c.bad(el, "standard loop has no loop condition and no loopMaximum (it would loop until the limit of %d runs)", maxLoopInstances)
		}
		n.loop = l
		return
	}
	switch {
	case s.Collection != "":
		l.collection = c.compile(el, "multi-instance collection", s.Collection)
	case s.Cardinality != "":
		l.cardinality = c.compile(el, "multi-instance cardinality", s.Cardinality)
	default:
		c.bad(el, "multi-instance activity has neither a collection nor a loop cardinality")
	}
	if s.CompletionCondition != "" {
		l.completion = c.compile(el, "completion condition", s.CompletionCondition)
	}
	if s.OutputCollection != "" {
		src := s.OutputElement
		if src == "" {
			if s.ElementVariable == "" {
				c.bad(el, "output collection %q has no output element", s.OutputCollection)
			}
			src = s.ElementVariable
		}
		l.outputElem = c.compile(el, "output element", src)
	}
	n.loop = l
}

// isInner reports whether tok, standing at n, is an inner instance of n's body (and
// not the body itself or a token arriving by a flow).
func (r *run) isInner(tok *store.Token, n *node) bool {
	if tok.ScopeID == "" {
		return false
	}
	s := r.tokens[tok.ScopeID]
	return s != nil && s.State == store.TokenMultiInstance && s.ElementID == n.el.ID
}

// startBody makes tok, arrived at looping activity n, its body and starts the first
// instances.
func (r *run) startBody(tok *store.Token, n *node) error {
	l := n.loop
	env := r.env(tok)
	count := 0
	switch {
	case l.collection != nil:
		items, err := r.collectionOf(tok, n, env)
		if err != nil {
			r.openIncident(tok, n, store.IncidentExpression, err.Error(), n.el.LoopSpec.Collection, "")
			return nil
		}
		count = len(items)
	case l.cardinality != nil:
		v, err := l.cardinality.EvalIn(r.budget, env)
		if err == nil {
			count, err = cardinality(v)
		}
		if err != nil {
			r.openIncident(tok, n, store.IncidentExpression,
				fmt.Sprintf("loop cardinality of %q: %v", n.el.ID, err), n.el.LoopSpec.Cardinality, "")
			return nil
		}
	default: // standard loop
		count = l.maximum
		if count == 0 {
			count = maxLoopInstances
		}
	}
	if count > maxLoopInstances {
		r.openIncident(tok, n, store.IncidentLimit, fmt.Sprintf(
			"%q would run %d instances, more than the %d one multi-instance activity or loop may run (limit maxLoopInstances = maxNewTokens)",
			n.el.ID, count, maxLoopInstances), "", "")
		return nil
	}
	if !l.sequential() {
		if count > maxNewTokens-r.newTokens {
			r.openIncident(tok, n, store.IncidentLimit, fmt.Sprintf(
				"%q would start %d instances, more than the %d tokens one command may still create (limit maxNewTokens)",
				n.el.ID, count, maxNewTokens-r.newTokens), "", "")
			return nil
		}
		if count > maxLiveTokens-len(r.tokens) {
			r.openIncident(tok, n, store.IncidentLimit, fmt.Sprintf(
				"%q would start %d instances, more than the %d tokens one instance may have (limit maxLiveTokens)",
				n.el.ID, count, maxLiveTokens), "", "")
			return nil
		}
	}
	tok.State = store.TokenMultiInstance
	r.putToken(tok)
	r.armBoundaries(tok, n)
	locals := map[string]any{varNrOfInstances: count, varNrOfCompleted: 0, varNrOfActive: 0}
	if l.kind == bpmn.LoopStandard {
		locals = map[string]any{varLoopCounter: 0}
	}
	if l.outputVar != "" {
		locals[l.outputVar] = make([]any, count)
	}
	if err := r.setVariablesIn(locals, tok, n, setLocal); err != nil {
		r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("multi-instance %q: %v", n.el.ID, err), "", "")
		return nil
	}
	if l.kind == bpmn.LoopStandard {
		if l.testBefore {
			ok, err := r.loopCondition(tok, n, tok)
			if err != nil || !ok {
				if err != nil {
					return nil
				}
				return r.completeBody(tok, n)
			}
		}
		return r.startInner(tok, n, 0)
	}
	if count == 0 {
		return r.completeBody(tok, n)
	}
	if l.sequential() {
		return r.startInner(tok, n, 0)
	}
	for i := range count {
		if err := r.startInner(tok, n, i); err != nil {
			return err
		}
	}
	return nil
}

// collectionOf evaluates a body's collection: an array (null counts as empty).
func (r *run) collectionOf(tok *store.Token, n *node, env map[string]any) ([]any, error) {
	v, err := n.loop.collection.EvalIn(r.budget, env)
	if err != nil {
		return nil, fmt.Errorf("multi-instance collection of %q: %v", n.el.ID, err)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	}
	return nil, fmt.Errorf("multi-instance collection of %q is a %T, not a list", n.el.ID, v)
}

// cardinality reads a loop cardinality: a whole number, or a string holding one.
func cardinality(v any) (int, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		f = p
	default:
		return 0, fmt.Errorf("%T is not a number", v)
	}
	if f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("%v is not a whole number of instances", f)
	}
	return int(f), nil
}

// startInner starts inner instance i (from 0) of body at n: a token in the body's scope
// with loopCounter and the element variable local to it.
func (r *run) startInner(body *store.Token, n *node, i int) error {
	l := n.loop
	locals := map[string]any{varLoopCounter: i + l.counterBase}
	if l.elementVar != "" && l.collection != nil {
		items, err := r.collectionOf(body, n, r.env(body))
		if err == nil && i >= len(items) {
			err = fmt.Errorf("multi-instance collection of %q has %d items now, fewer than instance %d needs", n.el.ID, len(items), i+1)
		}
		if err != nil {
			r.openIncident(body, n, store.IncidentExpression, err.Error(), n.el.LoopSpec.Collection, "")
			return nil
		}
		locals[l.elementVar] = items[i]
	}
	inner := r.newToken(n, body.ID)
	if err := r.setVariablesIn(locals, inner, n, setLocal); err != nil {
		r.openIncident(inner, n, store.IncidentExpression, fmt.Sprintf("multi-instance %q: %v", n.el.ID, err), "", "")
		return nil
	}
	if l.kind != bpmn.LoopStandard {
		if err := r.addCounts(body, n, 1, 0); err != nil {
			return nil
		}
	} else if err := r.setVariablesIn(map[string]any{varLoopCounter: i + 1}, body, n, setLocal); err != nil {
		r.openIncident(body, n, store.IncidentExpression, fmt.Sprintf("loop %q: %v", n.el.ID, err), "", "")
		return nil
	}
	r.enqueue(inner, n, nil)
	return nil
}

// addCounts moves a body's nrOfActiveInstances and nrOfCompletedInstances.
func (r *run) addCounts(body *store.Token, n *node, active, completed int) error {
	sv := r.locals[body.ID]
	if sv == nil {
		return fmt.Errorf("multi-instance body of %q has no scope", n.el.ID)
	}
	a, _ := sv.values[varNrOfActive].(float64)
	c, _ := sv.values[varNrOfCompleted].(float64)
	err := r.setVariablesIn(map[string]any{varNrOfActive: int(a) + active, varNrOfCompleted: int(c) + completed}, body, n, setLocal)
	if err != nil {
		r.openIncident(body, n, store.IncidentExpression, fmt.Sprintf("multi-instance %q: %v", n.el.ID, err), "", "")
	}
	return err
}

// localInt reads a whole-number local variable of scope id.
func (r *run) localInt(id, name string) int {
	if sv := r.locals[id]; sv != nil {
		if f, ok := sv.values[name].(float64); ok {
			return int(f)
		}
	}
	return 0
}

// loopCondition evaluates a standard loop's condition where at (the body, or the inner
// instance that completed) stands; a failure is an incident on at.
func (r *run) loopCondition(body *store.Token, n *node, at *store.Token) (bool, error) {
	if n.loop.condition == nil {
		return true, nil
	}
	ok, err := n.loop.condition.EvalBoolIn(r.budget, r.env(at))
	if err != nil {
		r.openIncident(at, n, store.IncidentExpression, fmt.Sprintf("loop condition of %q failed: %v", n.el.ID, err),
			n.el.LoopSpec.LoopCondition, "")
	}
	return ok, err
}

// innerDone ends inner instance tok of the body at n, which has run the activity, and
// moves the body on.
func (r *run) innerDone(tok *store.Token, n *node) error {
	l := n.loop
	body := r.tokens[tok.ScopeID]
	i := r.localInt(tok.ID, varLoopCounter) - l.counterBase
	if l.outputVar != "" {
		v, err := l.outputElem.EvalIn(r.budget, r.env(tok))
		if err != nil {
			r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("output element of %q failed: %v", n.el.ID, err), "", "")
			return nil
		}
		out, _ := r.locals[body.ID].values[l.outputVar].([]any)
		out = slices.Clone(out)
		if i >= 0 && i < len(out) {
			out[i] = v
		}
		if err := r.setVariablesIn(map[string]any{l.outputVar: out}, body, n, setLocal); err != nil {
			r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("output collection of %q: %v", n.el.ID, err), "", "")
			return nil
		}
	}
	if l.kind == bpmn.LoopStandard {
		runs := i + 1
		more := l.maximum == 0 || runs < l.maximum
		if more {
			ok, err := r.loopCondition(body, n, tok)
			if err != nil {
				return nil
			}
			more = ok
		}
		if more && runs >= maxLoopInstances {
			r.openIncident(body, n, store.IncidentLimit, fmt.Sprintf(
				"loop %q ran %d times, the most one loop may run (limit maxLoopInstances = maxNewTokens)", n.el.ID, runs), "", "")
			more = false
			r.finishInner(tok, n)
			return nil
		}
		r.finishInner(tok, n)
		if more {
			return r.startInner(body, n, runs)
		}
		return r.completeBody(body, n)
	}
	if err := r.addCounts(body, n, -1, 1); err != nil {
		return nil
	}
	if l.completion != nil {
		ok, err := l.completion.EvalBoolIn(r.budget, r.env(tok))
		if err != nil {
			r.openIncident(tok, n, store.IncidentExpression, fmt.Sprintf("completion condition of %q failed: %v", n.el.ID, err),
				n.el.LoopSpec.CompletionCondition, "")
			return nil
		}
		if ok {
			r.finishInner(tok, n)
			var rest []*store.Token
			for _, t := range r.tokens {
				if t.ScopeID == body.ID {
					rest = append(rest, t)
				}
			}
			r.cancelTokens(rest, event.ReasonCompletionCondition(n.el.ID))
			return r.completeBody(body, n)
		}
	}
	r.finishInner(tok, n)
	total := r.localInt(body.ID, varNrOfInstances)
	done := r.localInt(body.ID, varNrOfCompleted)
	if l.sequential() && done < total {
		return r.startInner(body, n, done)
	}
	if done >= total {
		return r.completeBody(body, n)
	}
	return nil
}

// finishInner writes an inner instance's element.left and removes it (with its locals).
func (r *run) finishInner(tok *store.Token, n *node) {
	r.left(tok, n)
	r.dropToken(tok)
}

// completeBody ends a body: its output collection goes to the scope around it, and it
// leaves by the activity's flows (their conditions evaluated for the body).
func (r *run) completeBody(body *store.Token, n *node) error {
	l := n.loop
	if l.outputVar != "" {
		out := r.locals[body.ID].values[l.outputVar]
		if err := r.setVariablesIn(map[string]any{l.outputVar: out}, body, n, setParent); err != nil {
			r.openIncident(body, n, store.IncidentExpression, fmt.Sprintf("output collection of %q: %v", n.el.ID, err), "", "")
			return nil
		}
	}
	return r.next(body, n)
}
