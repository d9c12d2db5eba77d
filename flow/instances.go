package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// State is an instance's state.
type State string

// Instance states.
const (
	Active    State = store.InstanceActive
	Suspended State = store.InstanceSuspended
	Completed State = store.InstanceCompleted
	Cancelled State = store.InstanceCancelled
)

// Ended reports whether the state is final.
func (s State) Ended() bool { return s == Completed || s == Cancelled }

// Instance is one run of a process.
type Instance struct {
	ID             string
	ProcessKey     string
	ProcessVersion int
	BusinessKey    string
	State          State
	// Incidents counts the open incidents (a job out of retries, an uncaught error, …).
	Incidents int
	StartedAt time.Time
	EndedAt   *time.Time
	// ParentID is the instance whose call activity (ParentActivity) started this one
	// ("" when it was not called).
	ParentID       string
	ParentActivity string
}

func instance(in *store.Instance) *Instance {
	return &Instance{ID: in.ID, ProcessKey: in.DefinitionKey, ProcessVersion: in.DefinitionVersion,
		BusinessKey: in.BusinessKey, State: State(in.State), Incidents: in.IncidentCount, StartedAt: in.StartedAt,
		EndedAt: in.EndedAt, ParentID: in.ParentInstanceID, ParentActivity: in.ParentElementID}
}

// StartOptions are the optional parts of StartInstance.
type StartOptions struct {
	// Version selects a process version (0: the latest).
	Version     int
	BusinessKey string
	Variables   map[string]any
}

// StartInstance starts an instance of the process at its none start event and runs it to
// its first wait states (the jobs it creates run on the engine's handlers).
func (e *Engine) StartInstance(ctx context.Context, processKey string, o StartOptions) (*Instance, error) {
	in, err := e.e.StartInstance(ctx, processKey, engine.StartOptions{Version: o.Version, BusinessKey: o.BusinessKey,
		Variables: o.Variables})
	if err != nil {
		return nil, err
	}
	return instance(in), nil
}

// InstanceDetail is an instance with its variables and what it waits for.
type InstanceDetail struct {
	Instance
	// Variables are the process's variables, JSON values (numbers are float64). The
	// variables local to a subprocess, a multi-instance instance or a task's input
	// mappings are not among them.
	Variables map[string]any
	// WaitingAt are the elements where its tokens stand, sorted.
	WaitingAt []string
	// Incidents are the open ones.
	OpenIncidents []Incident
	// Tasks are its open user tasks.
	Tasks []UserTask
}

// Incident is an open problem of an instance that someone must fix (then retry).
type Incident struct {
	ID        string
	ElementID string
	Type      string
	Message   string
	CreatedAt time.Time
}

// UserTask is a task a person completes (CompleteUserTask).
type UserTask struct {
	ID              string
	InstanceID      string
	ElementID       string
	ProcessKey      string
	Name            string
	Assignee        string
	CandidateGroups string
	CreatedAt       time.Time
}

func userTask(t *store.UserTask) UserTask {
	return UserTask{ID: t.ID, InstanceID: t.InstanceID, ElementID: t.ElementID, ProcessKey: t.DefinitionKey, Name: t.Name,
		Assignee: t.Assignee, CandidateGroups: t.CandidateGroups, CreatedAt: t.CreatedAt}
}

// Instance returns an instance with its variables, tokens, open incidents and open user
// tasks, read in one snapshot.
func (e *Engine) Instance(ctx context.Context, id string) (*InstanceDetail, error) {
	d, err := e.e.GetInstance(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &InstanceDetail{Instance: *instance(d.Instance), Variables: map[string]any{}}
	for _, v := range d.Variables {
		if v.Scope != "" {
			continue
		}
		var val any
		if err := json.Unmarshal(v.Value, &val); err != nil {
			return nil, fmt.Errorf("instance %q: variable %q: %w", id, v.Name, err)
		}
		out.Variables[v.Name] = val
	}
	for _, t := range d.Tokens {
		out.WaitingAt = append(out.WaitingAt, t.ElementID)
	}
	slices.Sort(out.WaitingAt)
	for _, i := range d.Incidents {
		if i.State == store.IncidentOpen {
			out.OpenIncidents = append(out.OpenIncidents, Incident{ID: i.ID, ElementID: i.ElementID, Type: i.Type,
				Message: i.Message, CreatedAt: i.CreatedAt})
		}
	}
	for _, t := range d.UserTasks {
		if t.State == store.TaskOpen {
			out.Tasks = append(out.Tasks, userTask(t))
		}
	}
	return out, nil
}

// InstanceQuery selects instances; empty fields select all.
type InstanceQuery struct {
	ProcessKey  string
	BusinessKey string
	States      []State
	// ParentID selects the instances that this instance's call activities started.
	ParentID string
	// Limit is the page size (default 50, at most 1000).
	Limit int
	// After is the Next of the previous page.
	After string
}

// InstancePage is a page of instances, newest first.
type InstancePage struct {
	Instances []*Instance
	// Next continues the list (InstanceQuery.After); "" on the last page.
	Next string
}

// Instances lists instances, newest first, a page at a time.
func (e *Engine) Instances(ctx context.Context, q InstanceQuery) (*InstancePage, error) {
	f := store.InstanceFilter{DefinitionKey: q.ProcessKey, BusinessKey: q.BusinessKey, ParentInstanceID: q.ParentID,
		Limit: q.Limit, After: q.After}
	for _, s := range q.States {
		f.States = append(f.States, string(s))
	}
	p, err := e.e.ListInstances(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &InstancePage{Next: p.Next}
	for _, in := range p.Instances {
		out.Instances = append(out.Instances, instance(in))
	}
	return out, nil
}

// UserTasks lists the open user tasks, oldest first: all, or those of an instance.
func (e *Engine) UserTasks(ctx context.Context, instanceID string) ([]UserTask, error) {
	ts, err := e.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: instanceID, State: store.TaskOpen})
	if err != nil {
		return nil, err
	}
	out := make([]UserTask, len(ts))
	for i, t := range ts {
		out[i] = userTask(t)
	}
	return out, nil
}

// CompleteUserTask completes an open user task with the variables to set.
func (e *Engine) CompleteUserTask(ctx context.Context, taskID string, vars map[string]any) error {
	return e.e.CompleteUserTask(ctx, taskID, vars)
}

// Correlation tells where a message went.
type Correlation struct {
	InstanceID string
	// Started is true when the message started a new instance (a message start event).
	Started bool
}

// CorrelateMessage delivers a message to the instance waiting for it with that
// correlation key, or starts an instance at a matching message start event; ErrNotFound
// when nothing waits for it.
func (e *Engine) CorrelateMessage(ctx context.Context, name, correlationKey string, vars map[string]any) (*Correlation, error) {
	r, err := e.e.CorrelateMessage(ctx, engine.Message{Name: name, CorrelationKey: correlationKey, Variables: vars})
	if err != nil {
		return nil, err
	}
	return &Correlation{InstanceID: r.InstanceID, Started: r.Started}, nil
}

// SetVariables sets (adds or replaces) variables of an instance that has not ended. The
// conditional events the instance waits at are checked against the new values.
func (e *Engine) SetVariables(ctx context.Context, instanceID string, vars map[string]any) error {
	return e.e.SetVariables(ctx, instanceID, vars)
}

// BroadcastSignal throws the signal name to every instance waiting for it (signal catch
// and boundary events) and starts an instance of every process with a signal start
// event of that name, with vars set on each. It returns the broadcast's id once the
// broadcast is stored; the engine delivers it in the background (Start the engine), so
// the instances move shortly after, not within this call.
func (e *Engine) BroadcastSignal(ctx context.Context, name string, vars map[string]any) (string, error) {
	sb, err := e.e.BroadcastSignal(ctx, name, vars)
	if err != nil {
		return "", err
	}
	return sb.ID, nil
}

// ConditionOptions configure EvaluateStartConditions.
type ConditionOptions struct {
	// ProcessKey limits the evaluation to one process ("": every process).
	ProcessKey  string
	BusinessKey string
	// Variables are what the conditions read, and the variables of every instance started.
	Variables map[string]any
}

// EvaluateStartConditions evaluates the conditional start events (ConditionalStart at
// process level) of the latest version of every process, or of o.ProcessKey, against
// o.Variables, and starts an instance at each one whose condition holds, all in one
// transaction (Camunda 7's evaluateStartConditions: nothing watches a start condition by
// itself). It returns the instances started, none when no condition holds; ErrNotFound
// when no process has a conditional start event; ErrInvalidInput when a condition
// cannot be evaluated, and then nothing is started.
func (e *Engine) EvaluateStartConditions(ctx context.Context, o ConditionOptions) ([]*Instance, error) {
	ins, err := e.e.EvaluateStartConditions(ctx, engine.ConditionOptions{ProcessKey: o.ProcessKey,
		BusinessKey: o.BusinessKey, Variables: o.Variables})
	if err != nil {
		return nil, err
	}
	out := make([]*Instance, 0, len(ins))
	for _, in := range ins {
		out = append(out, instance(in))
	}
	return out, nil
}

// Await waits until the instance ends (completed or cancelled) and returns it, or until
// ctx ends. It is woken by this engine's commits: on a store that several engines share,
// an instance another engine ends is seen when ctx ends, so give it a deadline there.
func (e *Engine) Await(ctx context.Context, instanceID string) (*Instance, error) {
	ch := make(chan struct{})
	e.mu.Lock()
	e.waiters[instanceID] = append(e.waiters[instanceID], ch)
	e.mu.Unlock()
	defer e.forget(instanceID, ch)
	in, err := e.e.GetInstanceRow(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if !State(in.State).Ended() {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("await instance %q: %w", instanceID, ctx.Err())
		case <-ch:
		}
		if in, err = e.e.GetInstanceRow(ctx, instanceID); err != nil {
			return nil, err
		}
	}
	return instance(in), nil
}

// forget drops an Await's channel when it did not fire.
func (e *Engine) forget(instanceID string, ch chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ws := e.waiters[instanceID]
	for i, c := range ws {
		if c == ch {
			e.waiters[instanceID] = slices.Delete(ws, i, i+1)
			break
		}
	}
	if len(e.waiters[instanceID]) == 0 {
		delete(e.waiters, instanceID)
	}
}
