package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Bounds on the work of one command on one instance. The committer runs every command
// of the node, so one instance's model must not be able to hold it: a command that
// reaches a bound stops moving tokens, and the tokens it could not move get an incident
// that names the bound (retrying the incident continues with a fresh budget).
const (
	// maxSteps bounds the elements one command may pass through, so a model that
	// loops without a wait state stops instead of hanging the engine.
	maxSteps = 10_000
	// maxNewTokens bounds the tokens one command may create (forks, subprocesses,
	// boundary events): a fork that would pass it is refused before it creates any.
	maxNewTokens = 1_000
	// maxLiveTokens bounds the tokens of one instance (forks over many commands add
	// up); joins and scope ends look at the instance's tokens on every step.
	maxLiveTokens = 10_000
)

// run is one command's view of an instance: the loaded aggregate, the moves made in
// memory, and the rows to write. It is used by one goroutine inside one transaction.
type run struct {
	e    *Engine
	ctx  context.Context
	b    *batch // the command's batch: its tx, the cache, pushed jobs, events
	p    *plan
	now  time.Time
	inst *store.Instance

	created bool
	tokens  map[string]*store.Token
	// vars and values are the process's variables (scope ""), as rows and decoded (for
	// expressions and handlers); locals are the variables of the scopes below it, by
	// scope (scope.go), nil while the instance has none.
	vars      map[string]*store.Variable
	values    map[string]any
	locals    map[string]*scopeVars
	jobs      map[string]*store.Job
	subs      map[string]*store.Subscription
	tasks     map[string]*store.UserTask
	incidents map[string]*store.Incident

	putTokens    map[string]*store.Token
	delTokens    map[string]bool
	putVars      map[store.VariableKey]*store.Variable
	delVars      map[store.VariableKey]bool // nil until a scope ends
	putJobs      map[string]*store.Job
	delJobs      map[string]bool
	putSubs      map[string]*store.Subscription
	delSubs      map[string]bool
	putTasks     map[string]*store.UserTask
	putIncidents map[string]*store.Incident
	events       []*store.Event

	// Compensation rows (compensation.go), made on first use: most instances have none.
	comps    map[string]*store.Compensation
	putComps map[string]*store.Compensation
	delComps map[string]bool

	queue []step
	steps int
	// newTokens counts the tokens this command created (maxNewTokens).
	newTokens int
	// budget is what the expressions of this command may spend, together
	// (expression.MaxSteps, MaxBuiltBytes, MaxDuration).
	budget *expression.Budget
	// fromCache: the instance came from the engine's cache, not the store.
	fromCache bool
	// wake: the command left work due now that it did not push (set by pushJobs in flush).
	wake bool
	// worker names the external worker whose outcome this command records (job events
	// carry it as event.FieldWorker); "" for the engine's own handlers.
	worker string
	// migrated: the command moved the instance to another definition (migrate.go);
	// flush tells the store (store.Change.Migrated).
	migrated bool

	// Conditions (catch.go): condDirty asks drain to check them; condVars are the
	// variables changed and condArrived the tokens that reached conditional waits since
	// the last check. Only processes with conditional events set them.
	condDirty   bool
	condVars    map[string]bool
	condArrived map[string]bool
	// condScopes are the scopes entered (ids, "" for the process) whose event
	// subprocesses have conditional starts, to check once the tokens stand still.
	condScopes map[string]bool
	// signals are the broadcasts this command's events threw, written by flush.
	signals []*store.Signal

	// Calls (call.go). caller is the calling instance's run when it started this one in
	// this command (it takes the notices itself); parent is the calling instance's run
	// (caller, or loaded by loadParent). byCaller: the caller is ending this instance,
	// which tells it nothing back. notices are what this instance tells its caller after
	// its write; endCalls the tokens at call activities whose called instances end after
	// it; callsDone the tokens whose called instance ended on its own; callWake: a
	// called instance started in this run left work due now.
	caller, parent *run
	byCaller       bool
	notices        []callNotice
	endCalls       map[string]bool
	callsDone      map[string]bool
	callWake       bool
}

// step is a token arriving at a node (through a flow, or nil when re-entered).
type step struct {
	tok *store.Token
	n   *node
	via *flow
}

func (e *Engine) newRun(ctx context.Context, b *batch, p *plan) *run {
	return &run{
		e: e, ctx: ctx, b: b, p: p, now: e.clock.Now(),
		tokens: map[string]*store.Token{}, vars: map[string]*store.Variable{}, values: map[string]any{},
		jobs: map[string]*store.Job{}, subs: map[string]*store.Subscription{}, tasks: map[string]*store.UserTask{},
		incidents: map[string]*store.Incident{},
		putTokens: map[string]*store.Token{}, delTokens: map[string]bool{}, putVars: map[store.VariableKey]*store.Variable{},
		putJobs: map[string]*store.Job{}, delJobs: map[string]bool{}, putSubs: map[string]*store.Subscription{},
		delSubs: map[string]bool{}, putTasks: map[string]*store.UserTask{}, putIncidents: map[string]*store.Incident{},
		budget: expression.NewBudget(),
	}
}

// load reads an instance (from the cache when it holds it) and its plan.
func (e *Engine) load(ctx context.Context, b *batch, instanceID string) (*run, error) {
	tx := b.tx
	if snap := b.cached(instanceID); snap != nil {
		p, err := e.planFor(ctx, tx, snap.inst.DefinitionID)
		if err != nil {
			return nil, err
		}
		r := e.newRun(ctx, b, p)
		r.restore(snap)
		r.fromCache = true
		return r, nil
	}
	agg, err := tx.LoadInstance(ctx, instanceID)
	if err != nil {
		return nil, fmt.Errorf("load instance %q: %w", instanceID, err)
	}
	p, err := e.planFor(ctx, tx, agg.Instance.DefinitionID)
	if err != nil {
		return nil, err
	}
	return e.runOf(ctx, b, p, agg)
}

// runOf makes the run of a loaded aggregate (b is nil for a run that only reads: a
// migration check over many instances).
func (e *Engine) runOf(ctx context.Context, b *batch, p *plan, agg *store.Aggregate) (*run, error) {
	instanceID := agg.Instance.ID
	r := e.newRun(ctx, b, p)
	r.inst = agg.Instance
	for _, t := range agg.Tokens {
		r.tokens[t.ID] = t
	}
	for _, v := range agg.Variables {
		dv, err := decodeValue(v.Value)
		if err != nil {
			return nil, fmt.Errorf("instance %q: variable %q: %w", instanceID, v.Name, err)
		}
		if v.Scope == "" {
			r.vars[v.Name], r.values[v.Name] = v, dv
		} else {
			sv := r.local(v.Scope)
			sv.vars[v.Name], sv.values[v.Name] = v, dv
		}
	}
	for _, j := range agg.Jobs {
		r.jobs[j.ID] = j
	}
	for _, s := range agg.Subscriptions {
		r.subs[s.ID] = s
	}
	for _, t := range agg.Tasks {
		r.tasks[t.ID] = t
	}
	for _, i := range agg.Incidents {
		r.incidents[i.ID] = i
	}
	if len(agg.Compensations) > 0 {
		r.comps = make(map[string]*store.Compensation, len(agg.Compensations))
		for _, x := range agg.Compensations {
			r.comps[x.ID] = x
		}
	}
	return r, nil
}

func (r *run) ended() bool {
	return r.inst.State != store.InstanceActive && r.inst.State != store.InstanceSuspended
}

// flush writes everything the command did, as the next instance version.
func (r *run) flush() error {
	// No event may be too large to publish: the outbox relay could never move past it.
	// The specific limits (variables, keys, reasons, error messages) keep events far
	// below this; the check is the backstop for what they do not foresee.
	for _, ev := range r.events {
		if len(ev.Data) > event.MaxDataBytes {
			return fmt.Errorf("event %s of instance %q: data is %d bytes, more than the limit of %d bytes: %w",
				ev.Type, r.inst.ID, len(ev.Data), event.MaxDataBytes, ErrInvalidInput)
		}
	}
	if err := r.pushJobs(); err != nil {
		return err
	}
	if len(r.signals) > 0 {
		if err := r.e.storeSignals(r.ctx, r.b.tx, r.signals, r.inst.DefinitionKey); err != nil {
			return err
		}
		r.wake = true
	}
	r.wake = r.wake || r.callWake
	c := &store.Change{Instance: r.inst, Created: r.created, Migrated: r.migrated, Events: r.events}
	r.inst.Version++
	for id, t := range r.putTokens {
		if !r.delTokens[id] {
			c.PutTokens = append(c.PutTokens, t)
		}
	}
	for id := range r.delTokens {
		c.DeleteTokens = append(c.DeleteTokens, id)
	}
	for _, v := range r.putVars {
		c.PutVariables = append(c.PutVariables, v)
	}
	for k := range r.delVars {
		c.DeleteVariables = append(c.DeleteVariables, k)
	}
	for id, j := range r.putJobs {
		if !r.delJobs[id] {
			c.PutJobs = append(c.PutJobs, j)
		}
	}
	for id := range r.delJobs {
		c.DeleteJobs = append(c.DeleteJobs, id)
	}
	for id, s := range r.putSubs {
		if !r.delSubs[id] {
			c.PutSubs = append(c.PutSubs, s)
		}
	}
	for id := range r.delSubs {
		c.DeleteSubs = append(c.DeleteSubs, id)
	}
	for _, t := range r.putTasks {
		c.PutTasks = append(c.PutTasks, t)
	}
	for _, i := range r.putIncidents {
		c.PutIncidents = append(c.PutIncidents, i)
	}
	if r.ended() {
		// What an ended instance could have compensated goes with it.
		for _, x := range r.comps {
			r.dropComp(x)
		}
	}
	for id, x := range r.putComps {
		if !r.delComps[id] {
			c.PutCompensations = append(c.PutCompensations, x)
		}
	}
	for id := range r.delComps {
		c.DeleteCompensations = append(c.DeleteCompensations, id)
	}
	if err := r.b.tx.Apply(r.ctx, c); err != nil {
		r.b.evict(r.inst.ID)
		return fmt.Errorf("write instance %q: %w", r.inst.ID, err)
	}
	r.b.wrote(r)
	if len(r.endCalls) > 0 || len(r.notices) > 0 {
		return r.afterFlush()
	}
	return nil
}

// event appends a history event.
func (r *run) event(typ event.Type, tok *store.Token, n *node, data map[string]any) *store.Event {
	r.inst.EventSeq++
	ev := &store.Event{
		ID: newID(), InstanceID: r.inst.ID, InstanceSeq: r.inst.EventSeq,
		DefinitionID: r.inst.DefinitionID, DefinitionKey: r.inst.DefinitionKey,
		Type: typ, Time: r.now,
	}
	if tok != nil {
		ev.TokenID = tok.ID
	}
	if n != nil {
		ev.ElementID, ev.ElementType = n.el.ID, string(n.el.Kind)
	}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			ev.Data = b
		}
	}
	r.events = append(r.events, ev)
	return ev
}

// eventJSON appends a history event whose data is already encoded: the events of every
// step (element.entered, element.left, job.completed) build their few fields with
// appendInt and appendString instead of marshalling a map.
func (r *run) eventJSON(typ event.Type, tok *store.Token, n *node, data []byte) *store.Event {
	ev := r.event(typ, tok, n, nil)
	ev.Data = data
	return ev
}

// millis is a duration in whole milliseconds, never negative (a clock that stepped back
// must not produce a negative duration in the metrics).
func millis(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d / time.Millisecond)
}

// appendInt appends "name":v to a JSON object under construction (b ends with '{' or a
// value). name must be a plain JSON key (the callers pass constants).
func appendInt(b []byte, name string, v int64) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, v, 10)
}

// appendString appends "name":"v"; v is escaped as JSON requires (element and flow ids
// are plain, so the fast path is a copy).
func appendString(b []byte, name, v string) []byte {
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			q, _ := json.Marshal(v)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, v...)
	return append(b, '"')
}

// Row bookkeeping.

func (r *run) putToken(t *store.Token) { r.tokens[t.ID] = t; r.putTokens[t.ID] = t }
func (r *run) dropToken(t *store.Token) {
	delete(r.tokens, t.ID)
	r.delTokens[t.ID] = true
	if r.locals != nil {
		r.endScope(t.ID)
	}
}
func (r *run) putJob(j *store.Job)  { r.jobs[j.ID] = j; r.putJobs[j.ID] = j }
func (r *run) dropJob(j *store.Job) { delete(r.jobs, j.ID); r.delJobs[j.ID] = true }
func (r *run) putSub(s *store.Subscription) {
	r.subs[s.ID] = s
	r.putSubs[s.ID] = s
}
func (r *run) dropSub(s *store.Subscription) { delete(r.subs, s.ID); r.delSubs[s.ID] = true }
func (r *run) putTask(t *store.UserTask)     { r.tasks[t.ID] = t; r.putTasks[t.ID] = t }
func (r *run) putIncident(i *store.Incident) { r.incidents[i.ID] = i; r.putIncidents[i.ID] = i }

func (r *run) newToken(n *node, scopeID string) *store.Token {
	r.newTokens++
	t := &store.Token{ID: newID(), InstanceID: r.inst.ID, ElementID: n.el.ID, ScopeID: scopeID,
		State: store.TokenActive, CreatedAt: r.now}
	r.putToken(t)
	return t
}

// waits is what tokens wait on, by token id: built in one pass over the instance's
// rows, so that cancelling many tokens costs one pass, not one per token.
type waits struct {
	jobs      map[string][]*store.Job
	subs      map[string][]*store.Subscription
	tasks     map[string][]*store.UserTask
	incidents map[string][]*store.Incident
}

// waitsOf indexes the jobs, subscriptions, open tasks and open incidents of the tokens
// in ids.
func (r *run) waitsOf(ids map[string]bool) waits {
	w := waits{jobs: map[string][]*store.Job{}, subs: map[string][]*store.Subscription{},
		tasks: map[string][]*store.UserTask{}, incidents: map[string][]*store.Incident{}}
	for _, j := range r.jobs {
		if ids[j.TokenID] {
			w.jobs[j.TokenID] = append(w.jobs[j.TokenID], j)
		}
	}
	for _, s := range r.subs {
		if ids[s.TokenID] {
			w.subs[s.TokenID] = append(w.subs[s.TokenID], s)
		}
	}
	for _, t := range r.tasks {
		if ids[t.TokenID] && t.State == store.TaskOpen {
			w.tasks[t.TokenID] = append(w.tasks[t.TokenID], t)
		}
	}
	for _, i := range r.incidents {
		if ids[i.TokenID] && i.State == store.IncidentOpen {
			w.incidents[i.TokenID] = append(w.incidents[i.TokenID], i)
		}
	}
	return w
}

// cancelWaits removes what a token waits on (jobs, subscriptions, tasks) and resolves
// its open incidents.
func (r *run) cancelWaits(tok *store.Token, w waits) {
	for _, j := range w.jobs[tok.ID] {
		r.dropJob(j)
	}
	for _, s := range w.subs[tok.ID] {
		r.dropSub(s)
	}
	for _, t := range w.tasks[tok.ID] {
		t.State = store.TaskCancelled
		now := r.now
		t.CompletedAt = &now
		r.putTask(t)
		delete(r.tasks, t.ID)
	}
	for _, i := range w.incidents[tok.ID] {
		r.resolveIncident(i, "cancelled")
	}
}

func (r *run) resolveIncident(i *store.Incident, how string) {
	i.State = store.IncidentResolved
	now := r.now
	i.ResolvedAt = &now
	r.putIncident(i)
	delete(r.incidents, i.ID)
	if r.inst.IncidentCount > 0 {
		r.inst.IncidentCount--
	}
	r.event(event.IncidentResolved, r.tokens[i.TokenID], r.p.nodes[i.ElementID],
		map[string]any{"incidentId": i.ID, "type": i.Type, "resolution": how})
	if r.inst.ParentInstanceID != "" {
		r.notify(callNotice{kind: calledResolved, inc: i})
	}
}

func (r *run) openIncident(tok *store.Token, n *node, typ, msg, details, jobID string) *store.Incident {
	msg = truncate(msg, MaxErrorMessageBytes) // it goes into incident.opened
	i := &store.Incident{
		ID: newID(), InstanceID: r.inst.ID, TokenID: tok.ID, ElementID: n.el.ID,
		DefinitionKey: r.inst.DefinitionKey, JobID: jobID, Type: typ, Message: msg, Details: details,
		State: store.IncidentOpen, CreatedAt: r.now,
	}
	r.putIncident(i)
	r.inst.IncidentCount++
	ev := r.event(event.IncidentOpened, tok, n, map[string]any{"incidentId": i.ID, "type": typ, "message": msg})
	ev.IncidentID, ev.JobID = i.ID, jobID
	// The token stays where it is, visibly.
	tok.ElementID = n.el.ID
	r.putToken(tok)
	if r.inst.ParentInstanceID != "" {
		r.notify(callNotice{kind: calledIncident, inc: i})
	}
	return i
}

// cancelToken removes a token, everything inside its scope and everything it waits on.
func (r *run) cancelToken(tok *store.Token, reason string) {
	r.cancelTokens([]*store.Token{tok}, reason)
}

// cancelTokens removes tokens, everything inside their scopes and everything they wait
// on, children before their scope token. It indexes the instance's rows once, so that
// cancelling an instance with thousands of tokens takes one pass, not one per token (a
// scan per token held the committer for seconds).
func (r *run) cancelTokens(roots []*store.Token, reason string) {
	children := map[string][]*store.Token{}
	for _, t := range r.tokens {
		if t.ScopeID != "" {
			children[t.ScopeID] = append(children[t.ScopeID], t)
		}
	}
	ids := map[string]bool{}
	var order []*store.Token
	var visit func(t *store.Token)
	visit = func(t *store.Token) {
		if ids[t.ID] {
			return
		}
		ids[t.ID] = true
		for _, c := range children[t.ID] {
			visit(c)
		}
		order = append(order, t)
	}
	for _, t := range roots {
		visit(t)
	}
	r.dropScopes(ids)
	w := r.waitsOf(ids)
	for _, t := range order {
		r.cancelWaits(t, w)
		r.cancelledCall(t)
		r.dropToken(t)
		ev := r.event(event.ElementCancelled, t, r.p.nodes[t.ElementID],
			map[string]any{event.FieldReason: reason, event.FieldDurationMs: millis(r.now.Sub(t.CreatedAt))})
		if t.State == store.TokenMultiInstance {
			ev.ElementType = event.ElementTypeMultiInstanceBody
		}
	}
}

func (r *run) nodeOf(tok *store.Token) (*node, error) {
	n := r.p.nodes[tok.ElementID]
	if n == nil {
		return nil, fmt.Errorf("instance %q: token at unknown element %q", r.inst.ID, tok.ElementID)
	}
	return n, nil
}
