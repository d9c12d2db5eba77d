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

// Migration: an operator moves running instances to another definition (Camunda 7's
// process instance migration, simplified).
//
// A MigrationPlan maps elements of the source definition to elements of the target, by
// id. ProposeMigration proposes one (equal ids where the elements are compatible); the
// caller may edit it. A plan is checked against the two models before it touches any
// instance (compileMigration): every mapping joins two elements of the same kind that
// wait the same way (a user task to a user task, a job to a job, a message catch to a
// catch of the same message, a timer to a timer, multi-instance only to multi-instance),
// the scope tree is kept (a mapped element's target sits in the target of its source's
// enclosing subprocess, a boundary event's target on the target of its host, an event
// subprocess's start event in the target of its event subprocess), and a call activity
// keeps its id (its called instance names it).
//
// Migrating one instance is one command, like Modify: one transaction, one instance
// version. It refuses (writes nothing, a *MigrationError with every reason) an instance
// that is not active, not of the plan's source, or that has a token, job, timer,
// subscription, task, incident or compensation record on an element without a target,
// or a wait the target changes (a join waiting for a flow the target join does not have,
// an event-based gateway whose events differ). Otherwise it keeps the ids of tokens, jobs
// (with their retries), timers (with their due dates), subscriptions, user tasks (with
// their assignees) and incidents and points them at the target elements; the boundary
// events and event subprocess starts that have no target are disarmed, those of the
// target that were not armed are armed as if their activity or scope had just begun;
// variables are kept. The instance row then names the target definition, so live token
// counts move with it; instance.migrated records actor, reason, source, target and the
// mapping. History written before stays under the source definition.

// Limits of a migration.
const (
	// MaxMigrationMappings bounds the mappings of one plan.
	MaxMigrationMappings = 10_000
	// MaxMigrationPreview bounds the instances one selection preview checks
	// (PreviewMigrationSelection); the rest are counted as not checked.
	MaxMigrationPreview = 10_000
	// MaxMigrationExamples bounds the instance ids a selection preview lists per reason.
	MaxMigrationExamples = 20
)

// MigrationMapping maps one element of the source definition to one of the target.
type MigrationMapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// MigrationPlan says how instances of definition Source become instances of definition
// Target (definition ids). It is plain data (JSON): a bulk operation stores it.
type MigrationPlan struct {
	Source  string             `json:"source"`
	Target  string             `json:"target"`
	Mapping []MigrationMapping `json:"mapping"`
}

// MigrationUnmapped is a source element that a proposal leaves without a target, and why.
type MigrationUnmapped struct {
	ElementID string `json:"elementId"`
	Kind      string `json:"kind"`
	Reason    string `json:"reason"`
	// Waits: a token can stand at the element (an instance waiting there cannot
	// migrate without a mapping for it).
	Waits bool `json:"waits"`
}

// MigrationProposal is a plan proposed by ProposeMigration, with what it leaves out.
type MigrationProposal struct {
	Plan          MigrationPlan `json:"plan"`
	SourceKey     string        `json:"sourceKey"`
	SourceVersion int           `json:"sourceVersion"`
	TargetKey     string        `json:"targetKey"`
	TargetVersion int           `json:"targetVersion"`
	// Unmapped are the source's flow nodes without a target; Added the target's flow
	// nodes no source element maps to.
	Unmapped []MigrationUnmapped `json:"unmapped"`
	Added    []string            `json:"added"`
}

// MigrationPlanError refuses a plan that does not fit the two models; Problems name the
// elements. It wraps ErrInvalidInput.
type MigrationPlanError struct {
	Problems []MigrationProblem
}

// MigrationProblem is one reason a plan is refused (ElementID: the source element, ""
// for the plan as a whole).
type MigrationProblem struct {
	ElementID string `json:"elementId,omitempty"`
	Message   string `json:"message"`
}

func (e *MigrationPlanError) Error() string {
	msgs := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		msgs = append(msgs, p.Message)
	}
	return "migration plan: " + strings.Join(msgs, "; ")
}

func (e *MigrationPlanError) Unwrap() error { return ErrInvalidInput }

// Reasons an instance cannot migrate (MigrationRefusal.Code).
const (
	// MigrationNotActive: the instance has ended or is suspended.
	MigrationNotActive = "notActive"
	// MigrationOtherDefinition: the instance does not run the plan's source definition.
	MigrationOtherDefinition = "otherDefinition"
	// MigrationUnmappedToken: a token stands at an element without a target.
	MigrationUnmappedToken = "unmappedToken"
	// MigrationUnmappedWait: a job, timer, subscription, user task, incident or
	// compensation record is on an element without a target.
	MigrationUnmappedWait = "unmappedWait"
	// MigrationChangedWait: the target waits differently (a join's flows, an event-based
	// gateway's events).
	MigrationChangedWait = "changedWaitState"
	// MigrationStuckJoin: a parallel join of the target would wait forever.
	MigrationStuckJoin = "stuckJoin"
	// MigrationNotFound: the instance does not exist (a selection preview).
	MigrationNotFound = "notFound"
	// MigrationArmFailed: a target's event subprocess start could not be armed (its
	// correlation key failed).
	MigrationArmFailed = "armFailed"
)

// MigrationRefusal is one reason an instance cannot migrate.
type MigrationRefusal struct {
	Code      string `json:"code"`
	ElementID string `json:"elementId,omitempty"`
	Message   string `json:"message"`
}

// MigrationError refuses the migration of one instance; nothing was written. It wraps
// ErrInvalidState.
type MigrationError struct {
	InstanceID string
	Refusals   []MigrationRefusal
}

func (e *MigrationError) Error() string {
	msgs := make([]string, 0, len(e.Refusals))
	for _, r := range e.Refusals {
		msgs = append(msgs, r.Message)
	}
	return fmt.Sprintf("instance %q cannot migrate: %s", e.InstanceID, strings.Join(msgs, "; "))
}

func (e *MigrationError) Unwrap() error { return ErrInvalidState }

// MigrateOptions are who migrates and why (recorded in instance.migrated).
type MigrateOptions struct {
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// MigratedRow is a token, job, timer, subscription, task or incident a migration
// pointed at a target element. Kind: the job's type, "message X" / "signal X", the
// task's name, the incident's type ("" for tokens).
type MigratedRow struct {
	ID   string `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	Kind string `json:"kind,omitempty"`
}

// MigrationResult is what a migration did (Migrate) or would do (PreviewMigration).
type MigrationResult struct {
	InstanceID string `json:"instanceId"`
	// Applied is false for a preview.
	Applied       bool          `json:"applied"`
	Source        string        `json:"source"`
	Target        string        `json:"target"`
	Tokens        []MigratedRow `json:"tokens"`
	Jobs          []MigratedRow `json:"jobs"`
	Timers        []MigratedRow `json:"timers"`
	Subscriptions []MigratedRow `json:"subscriptions"`
	Tasks         []MigratedRow `json:"tasks"`
	Incidents     []MigratedRow `json:"incidents"`
	// BoundaryEventsArmed are target boundary events armed (their timers or
	// subscriptions created); BoundaryEventsDisarmed source boundary events without a
	// target whose rows were removed. EventSubStartsArmed and EventSubStartsDisarmed
	// are the same for the start events of event subprocesses.
	BoundaryEventsArmed    []string `json:"boundaryEventsArmed"`
	BoundaryEventsDisarmed []string `json:"boundaryEventsDisarmed"`
	EventSubStartsArmed    []string `json:"eventSubStartsArmed"`
	EventSubStartsDisarmed []string `json:"eventSubStartsDisarmed"`
	// Events are the history events written, in order.
	Events []ModifyEvent `json:"events"`
}

// migration is a plan checked against its two compiled models.
type migration struct {
	plan     MigrationPlan
	from, to *plan
	// m maps source element ids to target nodes.
	m map[string]*node
}

// ProposeMigration proposes a plan from definition source to target: every flow node of
// the source whose id the target has, where the two are compatible (see the top of the
// file), is mapped to it; the others are listed with the reason.
func (e *Engine) ProposeMigration(ctx context.Context, sourceDefinitionID, targetDefinitionID string) (*MigrationProposal, error) {
	var from, to *plan
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		if from, err = e.planFor(ctx, tx, sourceDefinitionID); err != nil {
			return err
		}
		to, err = e.planFor(ctx, tx, targetDefinitionID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("propose migration from %q to %q: %w", sourceDefinitionID, targetDefinitionID, err)
	}
	res := &MigrationProposal{Plan: MigrationPlan{Source: from.def.ID, Target: to.def.ID, Mapping: []MigrationMapping{}},
		SourceKey: from.def.Key, SourceVersion: from.def.Version, TargetKey: to.def.Key, TargetVersion: to.def.Version,
		Unmapped: []MigrationUnmapped{}, Added: []string{}}
	// Parents before what they contain, hosts before their boundary events: a mapping's
	// check looks at the mapping of its scope and host.
	order := slices.Collect(maps.Values(from.nodes))
	rank := func(n *node) int {
		d := 0
		for a := n.parent; a != nil; a = a.parent {
			d++
		}
		d *= 2
		if n.attachedTo != nil || n.eventSub() != nil {
			d++
		}
		return d
	}
	slices.SortFunc(order, func(a, b *node) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a.el.ID, b.el.ID)) })
	m := map[string]*node{}
	used := map[string]bool{}
	for _, sn := range order {
		tn := to.nodes[sn.el.ID]
		var why string
		if tn == nil {
			why = fmt.Sprintf("the target has no element %q", sn.el.ID)
		} else if err := compatible(sn, tn, m); err != nil {
			why = err.Error()
		}
		if why != "" {
			res.Unmapped = append(res.Unmapped, MigrationUnmapped{ElementID: sn.el.ID, Kind: string(sn.el.Kind), Reason: why, Waits: canWait(sn)})
			continue
		}
		m[sn.el.ID] = tn
		used[tn.el.ID] = true
		res.Plan.Mapping = append(res.Plan.Mapping, MigrationMapping{From: sn.el.ID, To: tn.el.ID})
	}
	for id := range to.nodes {
		if !used[id] {
			res.Added = append(res.Added, id)
		}
	}
	slices.SortFunc(res.Plan.Mapping, func(a, b MigrationMapping) int { return strings.Compare(a.From, b.From) })
	slices.SortFunc(res.Unmapped, func(a, b MigrationUnmapped) int { return strings.Compare(a.ElementID, b.ElementID) })
	slices.Sort(res.Added)
	return res, nil
}

// canWait says whether a token can stand at n between commands.
func canWait(n *node) bool {
	switch n.el.Kind {
	case bpmn.KindStartEvent, bpmn.KindEndEvent, bpmn.KindIntermediateThrowEvent, bpmn.KindExclusiveGateway,
		bpmn.KindBoundaryEvent:
		return false
	}
	return true
}

// CheckMigrationPlan checks a plan against the two models without touching an
// instance: a *MigrationPlanError lists every problem.
func (e *Engine) CheckMigrationPlan(ctx context.Context, mp MigrationPlan) error {
	return e.store.Read(ctx, func(tx store.Tx) error {
		_, err := e.compileMigration(ctx, tx, mp)
		return err
	})
}

// compileMigration loads the plan's two models and checks the plan against them.
func (e *Engine) compileMigration(ctx context.Context, tx store.Tx, mp MigrationPlan) (*migration, error) {
	if mp.Source == "" || mp.Target == "" {
		return nil, fmt.Errorf("migration plan: a source and a target definition are required: %w", ErrInvalidInput)
	}
	if len(mp.Mapping) > MaxMigrationMappings {
		return nil, fmt.Errorf("migration plan: %d mappings, more than the limit of %d (MaxMigrationMappings): %w",
			len(mp.Mapping), MaxMigrationMappings, ErrInvalidInput)
	}
	if len(mp.Source) > MaxNameBytes || len(mp.Target) > MaxNameBytes {
		return nil, fmt.Errorf("migration plan: a definition id is more than the limit of %d bytes: %w", MaxNameBytes, ErrInvalidInput)
	}
	from, err := e.planFor(ctx, tx, mp.Source)
	if err != nil {
		return nil, fmt.Errorf("migration source: %w", err)
	}
	to, err := e.planFor(ctx, tx, mp.Target)
	if err != nil {
		return nil, fmt.Errorf("migration target: %w", err)
	}
	mg := &migration{plan: mp, from: from, to: to, m: make(map[string]*node, len(mp.Mapping))}
	var probs []MigrationProblem
	bad := func(id, format string, args ...any) {
		probs = append(probs, MigrationProblem{ElementID: id, Message: fmt.Sprintf(format, args...)})
	}
	if mp.Source == mp.Target {
		bad("", "the source and the target are the same definition %q", mp.Source)
	}
	for _, mm := range mp.Mapping {
		sn, tn := from.nodes[mm.From], to.nodes[mm.To]
		switch {
		case sn == nil:
			bad(mm.From, "%q is not a flow node of the source %q", mm.From, mp.Source)
		case tn == nil:
			bad(mm.From, "%q (mapped from %q) is not a flow node of the target %q", mm.To, mm.From, mp.Target)
		case mg.m[mm.From] != nil:
			bad(mm.From, "%q is mapped twice", mm.From)
		default:
			mg.m[mm.From] = tn
		}
	}
	if len(probs) == 0 {
		// The checks look at the mappings of scopes and hosts, which are all known now.
		scopes := map[string]string{} // target scope element → the source mapped to it
		for _, mm := range mp.Mapping {
			sn, tn := from.nodes[mm.From], mg.m[mm.From]
			if err := compatible(sn, tn, mg.m); err != nil {
				bad(mm.From, "%s", err)
				continue
			}
			if tn.el.Children != nil || tn.loop != nil {
				if other, ok := scopes[tn.el.ID]; ok {
					bad(mm.From, "%q and %q are both mapped to %q: two scopes cannot become one", other, mm.From, tn.el.ID)
				}
				scopes[tn.el.ID] = mm.From
			}
		}
	}
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b MigrationProblem) int { return strings.Compare(a.ElementID, b.ElementID) })
		return nil, &MigrationPlanError{Problems: probs}
	}
	return mg, nil
}

// compatible says why source element sn cannot become target element tn (nil: it can),
// given the mappings m (of its scope and host).
func compatible(sn, tn *node, m map[string]*node) error {
	s, t := sn.el, tn.el
	switch {
	case s.Kind != t.Kind:
		return fmt.Errorf("%q is a %s, the target %q a %s", s.ID, s.Kind, t.ID, t.Kind)
	case (sn.jobType != "") != (tn.jobType != ""):
		return fmt.Errorf("%q and the target %q differ in being a job", s.ID, t.ID)
	case (sn.timerKind != "") != (tn.timerKind != ""):
		return fmt.Errorf("%q and the target %q differ in being a timer", s.ID, t.ID)
	case sn.messageName != tn.messageName:
		return fmt.Errorf("%q waits for message %q, the target %q for %q", s.ID, sn.messageName, t.ID, tn.messageName)
	case sn.signalName != tn.signalName:
		return fmt.Errorf("%q waits for signal %q, the target %q for %q", s.ID, sn.signalName, t.ID, tn.signalName)
	case (sn.condition != nil) != (tn.condition != nil):
		return fmt.Errorf("%q and the target %q differ in waiting on a condition", s.ID, t.ID)
	case (sn.loop != nil) != (tn.loop != nil):
		return fmt.Errorf("%q and the target %q differ in being multi-instance or a loop (multi-instance maps only to multi-instance)", s.ID, t.ID)
	case sn.loop != nil && sn.loop.kind != tn.loop.kind:
		return fmt.Errorf("%q is a %s loop, the target %q a %s loop", s.ID, sn.loop.kind, t.ID, tn.loop.kind)
	case s.TriggeredByEvent != t.TriggeredByEvent:
		return fmt.Errorf("%q and the target %q differ in being an event subprocess", s.ID, t.ID)
	case (sn.compensates != nil) != (tn.compensates != nil):
		return fmt.Errorf("%q and the target %q differ in being a compensation handler", s.ID, t.ID)
	case s.Kind == bpmn.KindCallActivity && s.ID != t.ID:
		return fmt.Errorf("call activity %q must keep its id (its called instances name it), not become %q", s.ID, t.ID)
	}
	if (sn.attachedTo == nil) != (tn.attachedTo == nil) {
		return fmt.Errorf("%q and the target %q differ in being a boundary event", s.ID, t.ID)
	}
	if sn.attachedTo != nil {
		if h := m[sn.attachedTo.el.ID]; h != tn.attachedTo {
			return fmt.Errorf("boundary event %q is on %q, whose target is %s, but the target %q is on %q",
				s.ID, sn.attachedTo.el.ID, nodeName(h), t.ID, tn.attachedTo.el.ID)
		}
		if s.CancelActivity != t.CancelActivity {
			return fmt.Errorf("boundary event %q and the target %q differ in interrupting", s.ID, t.ID)
		}
	}
	if (sn.eventSub() == nil) != (tn.eventSub() == nil) {
		return fmt.Errorf("%q and the target %q differ in starting an event subprocess", s.ID, t.ID)
	}
	if es := sn.eventSub(); es != nil && s.IsInterrupting != t.IsInterrupting {
		return fmt.Errorf("event subprocess start %q and the target %q differ in interrupting", s.ID, t.ID)
	}
	switch {
	case sn.parent == nil && tn.parent != nil:
		return fmt.Errorf("%q is at process level, the target %q inside %q (a migration keeps the scopes)", s.ID, t.ID, tn.parent.el.ID)
	case sn.parent != nil:
		pm := m[sn.parent.el.ID]
		if pm == nil {
			return fmt.Errorf("%q is inside %q, which has no target (map the subprocess too)", s.ID, sn.parent.el.ID)
		}
		if pm != tn.parent {
			return fmt.Errorf("%q is inside %q, whose target is %q, but the target %q is %s (a migration keeps the scopes)",
				s.ID, sn.parent.el.ID, pm.el.ID, t.ID, inside(tn))
		}
	}
	return nil
}

func nodeName(n *node) string {
	if n == nil {
		return "none"
	}
	return fmt.Sprintf("%q", n.el.ID)
}

func inside(n *node) string {
	if n.parent == nil {
		return "at process level"
	}
	return fmt.Sprintf("inside %q", n.parent.el.ID)
}

// Migrate migrates one active instance by the plan in one transaction. A refusal is a
// *MigrationError (the instance) or a *MigrationPlanError (the plan).
func (e *Engine) Migrate(ctx context.Context, instanceID string, mp MigrationPlan, o MigrateOptions) (*MigrationResult, error) {
	return e.migrate(ctx, instanceID, mp, o, false)
}

// PreviewMigration runs a migration and rolls it back: its result is what Migrate would
// do on the instance as it stands now, and its error what Migrate would refuse.
func (e *Engine) PreviewMigration(ctx context.Context, instanceID string, mp MigrationPlan) (*MigrationResult, error) {
	return e.migrate(ctx, instanceID, mp, MigrateOptions{}, true)
}

func (e *Engine) migrate(ctx context.Context, instanceID string, mp MigrationPlan, o MigrateOptions, preview bool) (*MigrationResult, error) {
	verb := "migrate"
	if preview {
		verb = "preview migration of"
	}
	if err := checkSize("reason", len(o.Reason), MaxReasonBytes); err != nil {
		return nil, fmt.Errorf("%s instance %q: %w", verb, instanceID, err)
	}
	if err := checkSize("actor", len(o.Actor), MaxReasonBytes); err != nil {
		return nil, fmt.Errorf("%s instance %q: %w", verb, instanceID, err)
	}
	var res *MigrationResult
	err := e.exec(ctx, func(b *batch) (bool, error) {
		res = nil
		mg, err := e.compileMigration(ctx, b.tx, mp)
		if err != nil {
			return false, err
		}
		r, err := e.load(ctx, b, instanceID)
		if err != nil {
			return false, err
		}
		wrote := len(b.events)
		res, err = r.migrate(mg, o)
		if err != nil && r.fromCache && !e.exclusive && len(b.events) == wrote {
			// As in update: the cached instance may be behind another node's change.
			b.evict(instanceID)
			if r, err = e.load(ctx, b, instanceID); err != nil {
				return false, err
			}
			res, err = r.migrate(mg, o)
		}
		if err != nil {
			res = nil
			return false, err
		}
		if err := r.flush(); err != nil {
			res = nil
			return false, err
		}
		if preview {
			return false, errPreview
		}
		res.Applied = true
		// A bulk operation's item outcome commits with the migration (WithRecord).
		if err := writeRecord(ctx, b); err != nil {
			res = nil
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

// refusals lists why the instance cannot migrate by mg (none: it can). It only reads
// the run, so a selection preview runs it on loaded aggregates.
func (r *run) refusals(mg *migration) []MigrationRefusal {
	var out []MigrationRefusal
	add := func(code, id, format string, args ...any) {
		out = append(out, MigrationRefusal{Code: code, ElementID: id, Message: fmt.Sprintf(format, args...)})
	}
	if r.inst.DefinitionID != mg.plan.Source {
		add(MigrationOtherDefinition, "", "the instance runs %q, not the plan's source %q", r.inst.DefinitionID, mg.plan.Source)
		return out
	}
	if r.inst.State != store.InstanceActive {
		add(MigrationNotActive, "", "the instance is %s, not active", r.inst.State)
		return out
	}
	// A wait of the token itself must have a target; a boundary event's or event
	// subprocess start's row without one is disarmed instead.
	armedElsewhere := func(id string) bool {
		n := r.p.nodes[id]
		return n != nil && (n.attachedTo != nil || n.eventSub() != nil)
	}
	byToken := map[string][]string{} // token → elements of its own waits (event-based gateways)
	for _, t := range sortedTokens(r.tokens) {
		tn := mg.m[t.ElementID]
		if tn == nil {
			add(MigrationUnmappedToken, t.ElementID, "a token stands at %q, which has no target", t.ElementID)
			continue
		}
		if t.State == store.TokenJoining && t.Flow != "" {
			if fl := mg.to.flows[t.Flow]; fl == nil || fl.target != tn {
				add(MigrationChangedWait, t.ElementID, "a token waits at join %q for flow %q, which the target join %q does not have",
					t.ElementID, t.Flow, tn.el.ID)
			}
		}
	}
	for _, j := range sortedRows(r.jobs) {
		what := "job"
		if j.Kind == store.JobTimer {
			what = "timer"
		}
		if mg.m[j.ElementID] == nil && !armedElsewhere(j.ElementID) {
			add(MigrationUnmappedWait, j.ElementID, "a %s waits at %q, which has no target", what, j.ElementID)
		}
		byToken[j.TokenID] = append(byToken[j.TokenID], j.ElementID)
	}
	for _, s := range sortedRows(r.subs) {
		if mg.m[s.ElementID] == nil && !armedElsewhere(s.ElementID) {
			add(MigrationUnmappedWait, s.ElementID, "a subscription waits at %q, which has no target", s.ElementID)
		}
		byToken[s.TokenID] = append(byToken[s.TokenID], s.ElementID)
	}
	for _, t := range sortedRows(r.tasks) {
		if t.State == store.TaskOpen && mg.m[t.ElementID] == nil {
			add(MigrationUnmappedWait, t.ElementID, "user task %q is open at %q, which has no target", t.ID, t.ElementID)
		}
	}
	for _, i := range sortedRows(r.incidents) {
		if i.State == store.IncidentOpen && mg.m[i.ElementID] == nil {
			add(MigrationUnmappedWait, i.ElementID, "incident %q is open at %q, which has no target", i.ID, i.ElementID)
		}
	}
	for _, x := range sortedRows(r.comps) {
		if mg.m[x.ElementID] == nil {
			add(MigrationUnmappedWait, x.ElementID, "%q completed and could be compensated, but has no target", x.ElementID)
		}
	}
	// An event-based gateway waits for its events: the target's must be the targets of
	// the source's.
	for _, t := range sortedTokens(r.tokens) {
		sn, tn := r.p.nodes[t.ElementID], mg.m[t.ElementID]
		if sn == nil || tn == nil || sn.el.Kind != bpmn.KindEventBasedGateway {
			continue
		}
		want := map[string]bool{}
		for _, fl := range tn.out {
			want[fl.target.el.ID] = true
		}
		got := map[string]bool{}
		for _, id := range byToken[t.ID] {
			if x := mg.m[id]; x != nil {
				got[x.el.ID] = true
			}
		}
		if !maps.Equal(want, got) {
			add(MigrationChangedWait, t.ElementID, "event-based gateway %q waits for %s; its target %q waits for %s",
				t.ElementID, strings.Join(slices.Sorted(maps.Keys(got)), ", "), tn.el.ID, strings.Join(slices.Sorted(maps.Keys(want)), ", "))
		}
	}
	return out
}

// migrate moves the run to mg's target (see the top of the file).
func (r *run) migrate(mg *migration, o MigrateOptions) (*MigrationResult, error) {
	if refs := r.refusals(mg); len(refs) > 0 {
		return nil, &MigrationError{InstanceID: r.inst.ID, Refusals: refs}
	}
	stuck := r.stuckJoins()
	res := &MigrationResult{InstanceID: r.inst.ID, Source: mg.from.def.ID, Target: mg.to.def.ID,
		Tokens: []MigratedRow{}, Jobs: []MigratedRow{}, Timers: []MigratedRow{}, Subscriptions: []MigratedRow{},
		Tasks: []MigratedRow{}, Incidents: []MigratedRow{}, BoundaryEventsArmed: []string{}, BoundaryEventsDisarmed: []string{},
		EventSubStartsArmed: []string{}, EventSubStartsDisarmed: []string{}, Events: []ModifyEvent{}}
	events := len(r.events)
	to := mg.to
	defID, defKey := to.def.ID, to.def.Key
	// kept are the boundary events and event subprocess starts whose rows were carried
	// over, by owner (token or scope) and target element: those are not armed again.
	kept := map[[2]string]bool{}
	disarmed := func(id string) {
		if r.p.nodes[id].attachedTo != nil {
			res.BoundaryEventsDisarmed = append(res.BoundaryEventsDisarmed, id)
		} else {
			res.EventSubStartsDisarmed = append(res.EventSubStartsDisarmed, id)
		}
	}
	for _, j := range sortedRows(r.jobs) {
		tn := mg.m[j.ElementID]
		if tn == nil {
			disarmed(j.ElementID)
			r.dropJob(j)
			continue
		}
		row := MigratedRow{ID: j.ID, From: j.ElementID, To: tn.el.ID}
		kept[[2]string{j.TokenID, tn.el.ID}] = true
		j.ElementID, j.DefinitionID, j.DefinitionKey = tn.el.ID, defID, defKey
		if j.Kind == store.JobTimer {
			j.Type = tn.el.ID
			row.Kind = "timer"
			res.Timers = append(res.Timers, row)
		} else {
			j.Type = tn.jobType
			row.Kind = j.Type
			res.Jobs = append(res.Jobs, row)
		}
		r.putJob(j)
	}
	for _, s := range sortedRows(r.subs) {
		tn := mg.m[s.ElementID]
		if tn == nil {
			disarmed(s.ElementID)
			r.dropSub(s)
			continue
		}
		kind := "message " + s.MessageName
		if s.Kind == store.SubSignal {
			kind = "signal " + s.MessageName
		}
		res.Subscriptions = append(res.Subscriptions, MigratedRow{ID: s.ID, From: s.ElementID, To: tn.el.ID, Kind: kind})
		kept[[2]string{s.TokenID, tn.el.ID}] = true
		s.ElementID, s.DefinitionID, s.DefinitionKey = tn.el.ID, defID, defKey
		r.putSub(s)
	}
	for _, t := range sortedRows(r.tasks) {
		if t.State != store.TaskOpen {
			continue
		}
		tn := mg.m[t.ElementID]
		res.Tasks = append(res.Tasks, MigratedRow{ID: t.ID, From: t.ElementID, To: tn.el.ID, Kind: t.Name})
		t.ElementID, t.DefinitionKey = tn.el.ID, defKey
		r.putTask(t)
	}
	for _, i := range sortedRows(r.incidents) {
		if i.State != store.IncidentOpen {
			continue
		}
		tn := mg.m[i.ElementID]
		res.Incidents = append(res.Incidents, MigratedRow{ID: i.ID, From: i.ElementID, To: tn.el.ID, Kind: i.Type})
		i.ElementID, i.DefinitionKey = tn.el.ID, defKey
		r.putIncident(i)
	}
	for _, x := range sortedRows(r.comps) {
		tn := mg.m[x.ElementID]
		x.ElementID, x.HandlerID = tn.el.ID, ""
		if tn.compHandler != nil {
			x.HandlerID = tn.compHandler.el.ID
		}
		r.putComp(x)
	}
	wasConditional := map[string]bool{}
	for _, t := range sortedTokens(r.tokens) {
		sn, tn := r.p.nodes[t.ElementID], mg.m[t.ElementID]
		wasConditional[t.ID] = sn != nil && sn.conditional
		res.Tokens = append(res.Tokens, MigratedRow{ID: t.ID, From: t.ElementID, To: tn.el.ID})
		t.ElementID = tn.el.ID
		r.putToken(t)
	}

	// From here on the instance runs the target.
	r.p = to
	r.inst.DefinitionID, r.inst.DefinitionKey, r.inst.DefinitionVersion = defID, defKey, to.def.Version
	r.migrated = true
	mapping := make([]map[string]string, len(mg.plan.Mapping))
	for i, mm := range mg.plan.Mapping {
		mapping[i] = map[string]string{"from": mm.From, "to": mm.To}
	}
	r.event(event.InstanceMigrated, nil, nil, map[string]any{
		event.FieldActor: o.Actor, event.FieldReason: o.Reason,
		"sourceDefinitionId": mg.from.def.ID, "sourceVersion": mg.from.def.Version,
		"targetDefinitionId": defID, "targetVersion": to.def.Version, "mapping": mapping})

	// Arm what the target has and the source did not carry over: the boundary events of
	// the activities tokens stand at, and the event subprocess starts of the running scopes.
	toks := sortedTokens(r.tokens)
	for _, t := range toks {
		n := r.p.nodes[t.ElementID]
		if t.State != store.TokenActive && t.State != store.TokenMultiInstance {
			continue
		}
		if n.loop != nil && t.State != store.TokenMultiInstance {
			continue // an inner instance: the body holds the boundary events
		}
		for _, b := range n.boundaries {
			if kept[[2]string{t.ID, b.el.ID}] {
				continue
			}
			armed := true
			switch {
			case b.timerKind != "":
				_ = r.scheduleTimer(t, b, t.ID)
			case b.messageName != "":
				_ = r.subscribe(t, b)
			case b.signalName != "":
				r.subscribeSignal(t, b, t.ID)
			default:
				armed = false
			}
			if armed {
				res.BoundaryEventsArmed = append(res.BoundaryEventsArmed, b.el.ID)
			}
		}
		if n.conditional && !wasConditional[t.ID] {
			r.conditionArrived(t)
		}
	}
	scopes := []*store.Token{nil}
	for _, t := range toks {
		if n := r.p.nodes[t.ElementID]; len(n.eventSubs) > 0 && t.State == store.TokenActive {
			scopes = append(scopes, t)
		}
	}
	for _, sc := range scopes {
		scopeID, subs := "", r.p.eventSubs
		if sc != nil {
			scopeID, subs = sc.ID, r.p.nodes[sc.ElementID].eventSubs
		}
		if len(subs) == 0 || r.interrupted(scopeID) {
			continue
		}
		var missing []*node
		for _, es := range subs {
			st := es.trigger
			if kept[[2]string{scopeID, st.el.ID}] {
				continue
			}
			if st.timerKind != "" || st.messageName != "" || st.signalName != "" || st.condition != nil {
				missing = append(missing, es)
				if st.condition == nil {
					res.EventSubStartsArmed = append(res.EventSubStartsArmed, st.el.ID)
				}
			}
		}
		if len(missing) == 0 {
			continue
		}
		if err := r.armScope(sc, missing); err != nil {
			return nil, &MigrationError{InstanceID: r.inst.ID, Refusals: []MigrationRefusal{{Code: MigrationArmFailed,
				Message: err.Error()}}}
		}
	}
	if err := r.drain(); err != nil {
		return nil, err
	}
	after := r.stuckJoins()
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if _, was := stuck[k]; !was {
			id, _, _ := strings.Cut(k, "\x00")
			return nil, &MigrationError{InstanceID: r.inst.ID, Refusals: []MigrationRefusal{{Code: MigrationStuckJoin,
				ElementID: id, Message: after[k]}}}
		}
	}
	slices.Sort(res.BoundaryEventsArmed)
	slices.Sort(res.BoundaryEventsDisarmed)
	slices.Sort(res.EventSubStartsArmed)
	slices.Sort(res.EventSubStartsDisarmed)
	for _, ev := range r.events[events:] {
		res.Events = append(res.Events, ModifyEvent{Type: ev.Type, ElementID: ev.ElementID, TokenID: ev.TokenID})
	}
	return res, nil
}

// interrupted says whether an interrupting event subprocess runs in the scope (its
// starts stay disarmed until it ends).
func (r *run) interrupted(scopeID string) bool {
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

func sortedTokens(m map[string]*store.Token) []*store.Token {
	return slices.SortedFunc(maps.Values(m), func(a, b *store.Token) int { return strings.Compare(a.ID, b.ID) })
}

// sortedRows returns a run's rows in id order, so a migration writes and reports the
// same on every run.
func sortedRows[T interface {
	*store.Job | *store.Subscription | *store.UserTask | *store.Incident | *store.Compensation
}](m map[string]T) []T {
	ids := slices.Sorted(maps.Keys(m))
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// MigrationSelectionPreview is what PreviewMigrationSelection found: which of the
// selected instances cannot migrate, and why, grouped by reason.
type MigrationSelectionPreview struct {
	Plan MigrationPlan `json:"plan"`
	// Selected is how many instances were given; Checked how many were looked at (at
	// most MaxMigrationPreview); Migratable and Refused split the checked ones.
	Selected   int `json:"selected"`
	Checked    int `json:"checked"`
	Migratable int `json:"migratable"`
	Refused    int `json:"refused"`
	// Reasons groups the refusals by code and element, most instances first.
	Reasons []MigrationReasonCount `json:"reasons"`
	// Elements are the source definition's live tokens per element (all its running
	// instances, not only the selected ones), with each element's target ("" none).
	Elements []MigrationElementCount `json:"elements"`
}

// MigrationReasonCount is one reason of a selection preview: how many instances it
// refuses, with up to MaxMigrationExamples of their ids and the message of the first.
type MigrationReasonCount struct {
	Code      string   `json:"code"`
	ElementID string   `json:"elementId,omitempty"`
	Message   string   `json:"message"`
	Instances int      `json:"instances"`
	Examples  []string `json:"examples"`
}

// MigrationElementCount is the number of tokens at one source element.
type MigrationElementCount struct {
	ElementID string `json:"elementId"`
	Tokens    int    `json:"tokens"`
	To        string `json:"to,omitempty"`
}

// previewChunk is how many instances one read transaction of a selection preview loads.
const previewChunk = 256

// PreviewMigrationSelection checks a plan against the models and then each selected
// instance (the first MaxMigrationPreview of instanceIDs) as Migrate would, without
// changing anything: it reads the instances from the store and runs the refusal checks
// only (a parallel join the migration would leave stuck is found by Migrate and
// PreviewMigration, not here). An instance that does not exist counts as refused
// (code "notFound").
func (e *Engine) PreviewMigrationSelection(ctx context.Context, mp MigrationPlan, instanceIDs []string) (*MigrationSelectionPreview, error) {
	var mg *migration
	res := &MigrationSelectionPreview{Plan: mp, Selected: len(instanceIDs), Reasons: []MigrationReasonCount{},
		Elements: []MigrationElementCount{}}
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		if mg, err = e.compileMigration(ctx, tx, mp); err != nil {
			return err
		}
		counts, err := tx.CountTokens(ctx, mp.Source)
		if err != nil {
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(counts)) {
			c := MigrationElementCount{ElementID: id, Tokens: counts[id]}
			if tn := mg.m[id]; tn != nil {
				c.To = tn.el.ID
			}
			res.Elements = append(res.Elements, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("preview migration: %w", err)
	}
	ids := instanceIDs[:min(len(instanceIDs), MaxMigrationPreview)]
	type key struct{ code, element string }
	groups := map[key]*MigrationReasonCount{}
	refuse := func(id string, refs []MigrationRefusal) {
		res.Refused++
		seen := map[key]bool{}
		for _, rf := range refs {
			k := key{rf.Code, rf.ElementID}
			if seen[k] {
				continue
			}
			seen[k] = true
			g := groups[k]
			if g == nil {
				g = &MigrationReasonCount{Code: rf.Code, ElementID: rf.ElementID, Message: rf.Message}
				groups[k] = g
			}
			g.Instances++
			if len(g.Examples) < MaxMigrationExamples {
				g.Examples = append(g.Examples, id)
			}
		}
	}
	for start := 0; start < len(ids); start += previewChunk {
		chunk := ids[start:min(start+previewChunk, len(ids))]
		err := e.store.Read(ctx, func(tx store.Tx) error {
			for _, id := range chunk {
				agg, err := tx.LoadInstance(ctx, id)
				if errors.Is(err, store.ErrNotFound) {
					refuse(id, []MigrationRefusal{{Code: MigrationNotFound, Message: "the instance does not exist"}})
					continue
				}
				if err != nil {
					return fmt.Errorf("load instance %q: %w", id, err)
				}
				res.Checked++
				if agg.Instance.DefinitionID != mp.Source {
					refuse(id, []MigrationRefusal{{Code: MigrationOtherDefinition,
						Message: fmt.Sprintf("the instance runs %q, not the plan's source %q", agg.Instance.DefinitionID, mp.Source)}})
					continue
				}
				r, err := e.runOf(ctx, nil, mg.from, agg)
				if err != nil {
					return err
				}
				if refs := r.refusals(mg); len(refs) > 0 {
					refuse(id, refs)
				} else {
					res.Migratable++
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("preview migration: %w", err)
		}
	}
	for _, g := range groups {
		res.Reasons = append(res.Reasons, *g)
	}
	slices.SortFunc(res.Reasons, func(a, b MigrationReasonCount) int {
		return cmp.Or(cmp.Compare(b.Instances, a.Instances), strings.Compare(a.Code, b.Code), strings.Compare(a.ElementID, b.ElementID))
	})
	return res, nil
}
