// Package observer builds a cockpit's read model from the events engines publish
// (docs/events.md), so that a cockpit without an engine of its own can show the
// instances of services that each run their own engine and store (issue "One cockpit
// for many services").
//
// The read model is the engine's own schema (store.Store): an observed instance is a
// row of instances with its tokens, variables, jobs, subscriptions, user tasks,
// incidents and history, written by the Folder from the instance's events, so the
// engine's query API (internal/engine's query.go) and every page built on it read it
// unchanged. Nothing runs there: an observing cockpit starts no job executor.
//
// Each instance's events are folded in their order (instanceSeq 1, 2, …), each exactly
// once: an event at or below the instance's last folded position is a repeat and is
// dropped; one past the next position is held back as a gap (Result.Gaps). The
// Observer waits a little for the missing event, then asks the owning engine for the
// instance's history from the missing position (bus.RequestHistory) and folds that: a
// lost message and one the stream's retention dropped are repaired alike. Events of
// several instances may come in any order.
package observer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// ModelSource finds the BPMN document of a definition the read model has not seen yet
// (the models an engine publishes, or a test's own store). The fold writes it with the
// event's service (store.Definition.Service), whatever the source put there.
type ModelSource func(ctx context.Context, m *bus.Message) (*store.Definition, error)

// Folder folds events into a read-model store.
type Folder struct {
	st     store.Store
	models ModelSource
	// known are the definition ids the read model holds (definitions are never
	// removed from it), so a batch looks up only the ones it has not seen.
	known sync.Map
}

// NewFolder folds into st; models supplies the definitions the events name.
func NewFolder(st store.Store, models ModelSource) (*Folder, error) {
	if st == nil || models == nil {
		return nil, errors.New("observer: a store and a model source are required")
	}
	return &Folder{st: st, models: models}, nil
}

// Result is what one Fold did.
type Result struct {
	// Applied events changed the read model; Repeats were folded before and dropped.
	Applied, Repeats int
	// Folded are the applied events, each instance's in their order.
	Folded []*bus.Message
	// Gaps are the events that came before an earlier event of their instance: the
	// instance's next position (Want) is missing. They are not folded.
	Gaps []Gap
	// Waiting are the events whose definition the read model lacks and could not get
	// (its model is not published yet, or the store failed): not folded.
	Waiting []Waiting
}

// Waiting is an event held back for its definition.
type Waiting struct {
	EventID string
	Err     error
}

// Gap is an event held back because its instance misses an earlier one.
type Gap struct {
	// Service published the instance's events ("" for events without one).
	Service    string
	InstanceID string
	// Want is the instanceSeq the read model expects next; Got the event's.
	Want, Got int64
	EventID   string
}

// Fold applies a batch of events in one transaction, each instance's in their order.
func (f *Folder) Fold(ctx context.Context, msgs []*bus.Message) (*Result, error) {
	res := &Result{}
	// Definitions first, outside the write: fetching a model may take a round trip. An
	// instance whose definition cannot be had waits (Result.Waiting), the others go on.
	defs := map[string]error{}
	for _, m := range msgs {
		if _, seen := defs[m.DefinitionID]; seen || m.DefinitionID == "" {
			continue
		}
		defs[m.DefinitionID] = f.ensureDefinition(ctx, m)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	byInstance := map[string][]*bus.Message{}
	var order []string
	for _, m := range msgs {
		if err := defs[m.DefinitionID]; err != nil {
			res.Waiting = append(res.Waiting, Waiting{EventID: m.ID, Err: err})
			continue
		}
		if _, ok := byInstance[m.InstanceID]; !ok {
			order = append(order, m.InstanceID)
		}
		byInstance[m.InstanceID] = append(byInstance[m.InstanceID], m)
	}
	err := f.st.Write(ctx, func(tx store.Tx) error {
		for _, id := range order {
			evs := byInstance[id]
			slices.SortStableFunc(evs, func(a, b *bus.Message) int { return cmp.Compare(a.InstanceSeq, b.InstanceSeq) })
			if err := f.foldInstance(ctx, tx, id, evs, res); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (f *Folder) ensureDefinition(ctx context.Context, m *bus.Message) error {
	if _, ok := f.known.Load(m.DefinitionID); ok {
		return nil
	}
	err := f.ensureDefinitionStored(ctx, m)
	if err == nil {
		f.known.Store(m.DefinitionID, struct{}{})
	}
	return err
}

func (f *Folder) ensureDefinitionStored(ctx context.Context, m *bus.Message) error {
	err := f.st.Read(ctx, func(tx store.Tx) error {
		_, err := tx.GetDefinition(ctx, m.DefinitionID)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	d, err := f.models(ctx, m)
	if err != nil {
		return fmt.Errorf("observer: the model of definition %q (%s): %w", m.DefinitionID, m.DefinitionKey, err)
	}
	// The read model's definitions are unique by (service, key, version): services that
	// deploy the same process key and version each keep theirs.
	c := *d
	c.Service = m.Service
	err = f.st.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, &c) })
	if !errors.Is(err, store.ErrDuplicate) {
		return err
	}
	// Another fold inserted it meanwhile, or the service holds another definition of
	// that key and version: its engine started over on a new store and deployed again
	// (new definition ids, the same versions). That one waits for an operator.
	return f.st.Read(ctx, func(tx store.Tx) error {
		_, err := tx.GetDefinition(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("observer: %s version %d of service %q: the read model holds another definition of that service, key and version (definition %q is new: did the service's engine start over on a new store?)",
				c.Key, c.Version, m.Service, c.ID)
		}
		return err
	})
}

// foldInstance folds one instance's events (sorted by instanceSeq) as one change.
func (f *Folder) foldInstance(ctx context.Context, tx store.Tx, id string, evs []*bus.Message, res *Result) error {
	agg, err := tx.LoadInstance(ctx, id)
	created := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		agg, created = &store.Aggregate{}, true
	case err != nil:
		return err
	}
	s := newState(agg)
	for _, m := range evs {
		next := int64(1)
		if s.inst != nil {
			next = s.inst.EventSeq + 1
		}
		switch {
		case m.InstanceSeq < next:
			res.Repeats++
			continue
		case m.InstanceSeq > next:
			res.Gaps = append(res.Gaps, Gap{Service: m.Service, InstanceID: id, Want: next, Got: m.InstanceSeq, EventID: m.ID})
			continue
		}
		if s.inst == nil && m.Type != event.InstanceStarted {
			// The instance's start is missing: the whole instance is a gap.
			res.Gaps = append(res.Gaps, Gap{Service: m.Service, InstanceID: id, Want: 1, Got: m.InstanceSeq, EventID: m.ID})
			continue
		}
		if err := s.apply(m); err != nil {
			return fmt.Errorf("observer: fold event %s (%s, instance %s #%d): %w", m.ID, m.Type, id, m.InstanceSeq, err)
		}
		s.inst.EventSeq = m.InstanceSeq
		s.change.Events = append(s.change.Events, &store.Event{ID: m.ID, InstanceID: id, InstanceSeq: m.InstanceSeq,
			DefinitionID: m.DefinitionID, DefinitionKey: m.DefinitionKey, Type: m.Type, ElementID: m.ElementID,
			ElementType: m.ElementType, TokenID: m.TokenID, JobID: m.JobID, IncidentID: m.IncidentID, Time: m.Time,
			Data: m.Data})
		res.Applied++
		res.Folded = append(res.Folded, m)
	}
	if len(s.change.Events) == 0 {
		return nil
	}
	s.inst.Version++
	// A new instance's first folded event is its instance.started (anything else is a
	// gap), so created means the row is inserted.
	s.change.Instance, s.change.Created = s.inst, created
	s.flush()
	return tx.Apply(ctx, s.change)
}

// state is an instance as its events leave it, and the change that writes it.
type state struct {
	inst      *store.Instance
	tokens    map[string]*store.Token
	vars      map[store.VariableKey]*store.Variable
	jobs      map[string]*store.Job
	subs      map[string]*store.Subscription
	tasks     map[string]*store.UserTask
	incidents map[string]*store.Incident
	change    *store.Change
	// touched rows, written by flush.
	putTokens, putJobs, putSubs, putTasks, putIncidents map[string]bool
	putVars                                             map[store.VariableKey]bool
}

func newState(a *store.Aggregate) *state {
	s := &state{inst: a.Instance, tokens: map[string]*store.Token{}, vars: map[store.VariableKey]*store.Variable{},
		jobs: map[string]*store.Job{}, subs: map[string]*store.Subscription{}, tasks: map[string]*store.UserTask{},
		incidents: map[string]*store.Incident{}, change: &store.Change{},
		putTokens: map[string]bool{}, putJobs: map[string]bool{}, putSubs: map[string]bool{}, putTasks: map[string]bool{},
		putIncidents: map[string]bool{}, putVars: map[store.VariableKey]bool{}}
	if s.inst != nil {
		c := *s.inst
		s.inst = &c
	}
	for _, t := range a.Tokens {
		s.tokens[t.ID] = t
	}
	for _, v := range a.Variables {
		s.vars[store.VariableKey{Scope: v.Scope, Name: v.Name}] = v
	}
	for _, j := range a.Jobs {
		s.jobs[j.ID] = j
	}
	for _, sub := range a.Subscriptions {
		s.subs[sub.ID] = sub
	}
	for _, t := range a.Tasks {
		s.tasks[t.ID] = t
	}
	for _, i := range a.Incidents {
		s.incidents[i.ID] = i
	}
	return s
}

// data is the union of the fields the folded event types carry.
type data struct {
	BusinessKey      string                     `json:"businessKey"`
	Version          int                        `json:"version"`
	ParentInstanceID string                     `json:"parentInstanceId"`
	ParentElementID  string                     `json:"parentElementId"`
	CallDepth        int                        `json:"callDepth"`
	Variables        map[string]json.RawMessage `json:"variables"`
	Scope            string                     `json:"scope"`
	Names            []string                   `json:"names"`
	From             string                     `json:"from"`
	To               string                     `json:"to"`
	TaskID           string                     `json:"taskId"`
	Assignee         string                     `json:"assignee"`
	IncidentID       string                     `json:"incidentId"`
	Type             string                     `json:"type"`
	Message          string                     `json:"message"`
	JobType          string                     `json:"jobType"`
	Retries          int                        `json:"retries"`
	RetriesLeft      *int                       `json:"retriesLeft"`
	Attempt          int                        `json:"attempt"`
	Error            string                     `json:"error"`
	DueAt            string                     `json:"dueAt"`
	CorrelationKey   string                     `json:"correlationKey"`
	Signal           string                     `json:"signal"`
	TargetDefinition string                     `json:"targetDefinitionId"`
	TargetVersion    int                        `json:"targetVersion"`
}

func (s *state) apply(m *bus.Message) error {
	var d data
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	switch m.Type {
	case event.InstanceStarted:
		s.inst = &store.Instance{ID: m.InstanceID, DefinitionID: m.DefinitionID, DefinitionKey: m.DefinitionKey,
			DefinitionVersion: d.Version, BusinessKey: d.BusinessKey, State: store.InstanceActive, StartedAt: m.Time,
			ParentInstanceID: d.ParentInstanceID, ParentElementID: d.ParentElementID, CallDepth: d.CallDepth}
	case event.InstanceCompleted, event.InstanceCancelled:
		s.inst.State = store.InstanceCompleted
		if m.Type == event.InstanceCancelled {
			s.inst.State = store.InstanceCancelled
		}
		at := m.Time
		s.inst.EndedAt = &at
		for id := range s.tokens {
			s.dropToken(id, m.Time)
		}
	case event.InstanceSuspended:
		s.inst.State = store.InstanceSuspended
	case event.InstanceResumed:
		s.inst.State = store.InstanceActive
	case event.InstanceMigrated:
		s.inst.DefinitionID, s.inst.DefinitionKey, s.inst.DefinitionVersion = d.TargetDefinition, m.DefinitionKey, d.TargetVersion
		s.change.Migrated = true
	case event.ElementEntered:
		if m.TokenID != "" {
			t := s.tokens[m.TokenID]
			if t == nil {
				t = &store.Token{ID: m.TokenID, InstanceID: m.InstanceID, State: store.TokenActive}
				s.tokens[t.ID] = t
			}
			t.ElementID, t.CreatedAt = m.ElementID, m.Time
			if m.ElementType == "multiInstanceBody" {
				t.State = store.TokenMultiInstance
			}
			s.putTokens[t.ID] = true
		}
	case event.ElementLeft, event.ElementCancelled:
		if t := s.tokens[m.TokenID]; t != nil && t.ElementID == m.ElementID {
			s.dropToken(t.ID, m.Time)
		}
	case event.JobCreated:
		if m.JobID != "" {
			s.jobs[m.JobID] = &store.Job{ID: m.JobID, Kind: store.JobService, Type: d.JobType, InstanceID: m.InstanceID,
				TokenID: m.TokenID, ElementID: m.ElementID, DefinitionID: m.DefinitionID, DefinitionKey: m.DefinitionKey,
				Retries: d.Retries, DueAt: m.Time, CreatedAt: m.Time}
			s.putJobs[m.JobID] = true
		}
	case event.JobFailed:
		if j := s.jobs[m.JobID]; j != nil {
			j.Attempt, j.LastError = d.Attempt, d.Error
			if d.RetriesLeft != nil {
				j.Retries = *d.RetriesLeft
			}
			s.putJobs[j.ID] = true
		}
	case event.JobRetriesSet:
		if j := s.jobs[m.JobID]; j != nil {
			j.Retries = d.Retries
			s.putJobs[j.ID] = true
		}
	case event.JobCompleted:
		s.dropJob(m.JobID)
	case event.TimerScheduled:
		if m.JobID != "" {
			due, _ := time.Parse(time.RFC3339Nano, d.DueAt)
			s.jobs[m.JobID] = &store.Job{ID: m.JobID, Kind: store.JobTimer, Type: m.ElementID, InstanceID: m.InstanceID,
				TokenID: m.TokenID, ElementID: m.ElementID, DefinitionID: m.DefinitionID, DefinitionKey: m.DefinitionKey,
				DueAt: due, CreatedAt: m.Time}
			s.putJobs[m.JobID] = true
		}
	case event.TimerFired:
		s.dropJob(m.JobID)
		for id, j := range s.jobs {
			if m.JobID == "" && j.Kind == store.JobTimer && j.TokenID == m.TokenID && j.ElementID == m.ElementID {
				s.dropJob(id)
			}
		}
	case event.MessageSubscribed, event.SignalSubscribed:
		kind, name := store.SubMessage, d.Message
		if m.Type == event.SignalSubscribed {
			kind, name = store.SubSignal, d.Signal
		}
		id := m.TokenID + "/" + m.ElementID
		s.subs[id] = &store.Subscription{ID: id, Kind: kind, InstanceID: m.InstanceID, TokenID: m.TokenID,
			ElementID: m.ElementID, DefinitionID: m.DefinitionID, DefinitionKey: m.DefinitionKey, MessageName: name,
			CorrelationKey: d.CorrelationKey, CreatedAt: m.Time}
		s.putSubs[id] = true
	case event.MessageCorrelated, event.SignalReceived:
		for id, sub := range s.subs {
			if sub.TokenID == m.TokenID && sub.ElementID == m.ElementID {
				s.dropSub(id)
			}
		}
	case event.UserTaskCreated:
		s.tasks[d.TaskID] = &store.UserTask{ID: d.TaskID, InstanceID: m.InstanceID, TokenID: m.TokenID, ElementID: m.ElementID,
			DefinitionKey: m.DefinitionKey, Name: m.ElementID, Assignee: d.Assignee, State: store.TaskOpen, CreatedAt: m.Time}
		s.putTasks[d.TaskID] = true
	case event.UserTaskCompleted:
		if t := s.tasks[d.TaskID]; t != nil {
			at := m.Time
			t.State, t.CompletedAt = store.TaskCompleted, &at
			s.putTasks[t.ID] = true
		}
	case event.UserTaskClaimed, event.UserTaskAssigned, event.UserTaskUnclaimed:
		if t := s.tasks[d.TaskID]; t != nil {
			t.Assignee = d.Assignee
			s.putTasks[t.ID] = true
		}
	case event.IncidentOpened:
		id := m.IncidentID
		if id == "" {
			id = d.IncidentID
		}
		s.incidents[id] = &store.Incident{ID: id, InstanceID: m.InstanceID, TokenID: m.TokenID, ElementID: m.ElementID,
			DefinitionKey: m.DefinitionKey, JobID: m.JobID, Type: d.Type, Message: d.Message, State: store.IncidentOpen,
			CreatedAt: m.Time}
		s.putIncidents[id] = true
		s.inst.IncidentCount++
	case event.IncidentResolved:
		id := m.IncidentID
		if id == "" {
			id = d.IncidentID
		}
		if i := s.incidents[id]; i != nil && i.State == store.IncidentOpen {
			at := m.Time
			i.State, i.ResolvedAt = store.IncidentResolved, &at
			s.putIncidents[id] = true
			if s.inst.IncidentCount > 0 {
				s.inst.IncidentCount--
			}
		}
	case event.VariablesChanged:
		for name, raw := range d.Variables {
			k := store.VariableKey{Scope: d.Scope, Name: name}
			s.vars[k] = &store.Variable{InstanceID: m.InstanceID, Scope: d.Scope, Name: name, Type: typeOf(raw),
				Value: raw, UpdatedAt: m.Time}
			s.putVars[k] = true
		}
	case event.VariablesDeleted:
		for _, name := range d.Names {
			s.dropVar(store.VariableKey{Scope: d.Scope, Name: name})
		}
	case event.VariablesRenamed:
		from := store.VariableKey{Scope: d.Scope, Name: d.From}
		if v := s.vars[from]; v != nil {
			to := store.VariableKey{Scope: d.Scope, Name: d.To}
			nv := *v
			nv.Name, nv.UpdatedAt = d.To, m.Time
			s.dropVar(from)
			s.vars[to] = &nv
			s.putVars[to] = true
		}
	}
	return nil
}

// dropToken removes a token with what only it holds: its jobs, subscriptions, open
// tasks (cancelled) and the variables of its scope.
func (s *state) dropToken(id string, at time.Time) {
	if _, ok := s.tokens[id]; !ok {
		return
	}
	delete(s.tokens, id)
	delete(s.putTokens, id)
	s.change.DeleteTokens = append(s.change.DeleteTokens, id)
	for jid, j := range s.jobs {
		if j.TokenID == id {
			s.dropJob(jid)
		}
	}
	for sid, sub := range s.subs {
		if sub.TokenID == id {
			s.dropSub(sid)
		}
	}
	for _, t := range s.tasks {
		if t.TokenID == id && t.State == store.TaskOpen {
			when := at
			t.State, t.CompletedAt = store.TaskCancelled, &when
			s.putTasks[t.ID] = true
		}
	}
	for k := range s.vars {
		if k.Scope == id {
			s.dropVar(k)
		}
	}
}

func (s *state) dropJob(id string) {
	if _, ok := s.jobs[id]; ok {
		delete(s.jobs, id)
		delete(s.putJobs, id)
		s.change.DeleteJobs = append(s.change.DeleteJobs, id)
	}
}

func (s *state) dropSub(id string) {
	if _, ok := s.subs[id]; ok {
		delete(s.subs, id)
		delete(s.putSubs, id)
		s.change.DeleteSubs = append(s.change.DeleteSubs, id)
	}
}

func (s *state) dropVar(k store.VariableKey) {
	if _, ok := s.vars[k]; ok {
		delete(s.vars, k)
		delete(s.putVars, k)
		s.change.DeleteVariables = append(s.change.DeleteVariables, k)
	}
}

// flush puts the rows the events touched into the change.
func (s *state) flush() {
	for id := range s.putTokens {
		s.change.PutTokens = append(s.change.PutTokens, s.tokens[id])
	}
	for k := range s.putVars {
		s.change.PutVariables = append(s.change.PutVariables, s.vars[k])
	}
	for id := range s.putJobs {
		s.change.PutJobs = append(s.change.PutJobs, s.jobs[id])
	}
	for id := range s.putSubs {
		s.change.PutSubs = append(s.change.PutSubs, s.subs[id])
	}
	for id := range s.putTasks {
		s.change.PutTasks = append(s.change.PutTasks, s.tasks[id])
	}
	for id := range s.putIncidents {
		s.change.PutIncidents = append(s.change.PutIncidents, s.incidents[id])
	}
}

// typeOf is a variable's type by its JSON value.
func typeOf(raw json.RawMessage) string {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			return store.TypeString
		case '{':
			return store.TypeObject
		case '[':
			return store.TypeArray
		case 't', 'f':
			return store.TypeBoolean
		case 'n':
			return store.TypeNull
		default:
			return store.TypeNumber
		}
	}
	return store.TypeNull
}
