package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The query API reads through the store's read transactions; it never waits for commands.
// It is all the UI and the JSON API read (with the probes and audit rows of admin.go):
// neither reaches the store itself, so every read they make is one of these methods, one
// read transaction each, bounded by its filter's limit or by running work.

// read runs one query in a read transaction and names it in the error.
func read[T any](ctx context.Context, e *Engine, what string, fn func(tx store.Tx) (T, error)) (T, error) {
	var out T
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// ListDefinitions lists deployed definitions.
func (e *Engine) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error) {
	return read(ctx, e, "list definitions", func(tx store.Tx) ([]*store.Definition, error) { return tx.ListDefinitions(ctx, f) })
}

// GetDefinition returns one definition by id.
func (e *Engine) GetDefinition(ctx context.Context, id string) (*store.Definition, error) {
	return read(ctx, e, "get definition", func(tx store.Tx) (*store.Definition, error) { return tx.GetDefinition(ctx, id) })
}

// ListInstances lists instances, newest first, one page at a time.
func (e *Engine) ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error) {
	page, err := read(ctx, e, "list instances", func(tx store.Tx) (*store.InstancePage, error) { return tx.ListInstances(ctx, f) })
	if errors.Is(err, store.ErrInvalidCursor) {
		err = fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return page, err
}

// ListIncidents lists incidents.
func (e *Engine) ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error) {
	return read(ctx, e, "list incidents", func(tx store.Tx) ([]*store.Incident, error) { return tx.ListIncidents(ctx, f) })
}

// ListUserTasks lists user tasks.
func (e *Engine) ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error) {
	return read(ctx, e, "list user tasks", func(tx store.Tx) ([]*store.UserTask, error) { return tx.ListUserTasks(ctx, f) })
}

// ListJobs lists jobs.
func (e *Engine) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	return read(ctx, e, "list jobs", func(tx store.Tx) ([]*store.Job, error) { return tx.ListJobs(ctx, f) })
}

// CountInstances counts the instances ListInstances selects (its paging aside).
func (e *Engine) CountInstances(ctx context.Context, f store.InstanceFilter) (int64, error) {
	return read(ctx, e, "count instances", func(tx store.Tx) (int64, error) { return tx.CountInstances(ctx, f) })
}

// CountJobs counts the jobs ListJobs selects (its Offset and Limit aside).
func (e *Engine) CountJobs(ctx context.Context, f store.JobFilter) (int64, error) {
	return read(ctx, e, "count jobs", func(tx store.Tx) (int64, error) { return tx.CountJobs(ctx, f) })
}

// History returns history events in commit order.
func (e *Engine) History(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	return read(ctx, e, "history", func(tx store.Tx) ([]*store.Event, error) { return tx.ListEvents(ctx, f) })
}

// InstanceDetail is everything the cockpit shows about one instance.
type InstanceDetail struct {
	Instance  *store.Instance
	Tokens    []*store.Token
	Variables []*store.Variable
	Jobs      []*store.Job
	// Incidents include resolved ones.
	Incidents []*store.Incident
	// UserTasks include completed and cancelled ones.
	UserTasks []*store.UserTask
	History   []*store.Event
}

// GetInstance returns an instance with its tokens, variables, jobs, incidents, tasks
// and history, read in one snapshot.
func (e *Engine) GetInstance(ctx context.Context, id string) (*InstanceDetail, error) {
	return read(ctx, e, "get instance", func(tx store.Tx) (*InstanceDetail, error) {
		agg, err := tx.LoadInstance(ctx, id)
		if err != nil {
			return nil, err
		}
		d := &InstanceDetail{Instance: agg.Instance, Tokens: agg.Tokens, Variables: agg.Variables, Jobs: agg.Jobs}
		if d.Incidents, err = tx.ListIncidents(ctx, store.IncidentFilter{InstanceID: id}); err != nil {
			return nil, err
		}
		if d.UserTasks, err = tx.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: id}); err != nil {
			return nil, err
		}
		d.History, err = tx.ListEvents(ctx, store.EventFilter{InstanceID: id})
		return d, err
	})
}

// ListTokens returns where several instances stand, by instance and arrival (one
// query for a page of instances).
func (e *Engine) ListTokens(ctx context.Context, instanceIDs []string) ([]*store.Token, error) {
	var out []*store.Token
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListTokens(ctx, instanceIDs)
		return err
	})
	return out, err
}

// CountTokens tells where a definition's running instances stand: tokens per element.
func (e *Engine) CountTokens(ctx context.Context, definitionID string) (map[string]int, error) {
	return read(ctx, e, "count tokens", func(tx store.Tx) (map[string]int, error) { return tx.CountTokens(ctx, definitionID) })
}

// ElementCounts tells how many times each element of a definition was completed (left by
// a token), over its whole history. The store keeps the counts as it writes the events,
// so reading them costs the same after a million instances as after one.
func (e *Engine) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	return read(ctx, e, "element counts", func(tx store.Tx) (map[string]int64, error) { return tx.ElementCounts(ctx, definitionID) })
}

// GetInstanceRow returns the row of one instance alone (state, definition, business key),
// without the tokens, variables and history GetInstance reads: one indexed lookup, for
// pages that need to know only that the instance exists or which process it runs.
func (e *Engine) GetInstanceRow(ctx context.Context, id string) (*store.Instance, error) {
	return read(ctx, e, "get instance", func(tx store.Tx) (*store.Instance, error) { return tx.GetInstance(ctx, id) })
}

// GetIncident returns one incident by id (open or resolved).
func (e *Engine) GetIncident(ctx context.Context, id string) (*store.Incident, error) {
	return read(ctx, e, "get incident", func(tx store.Tx) (*store.Incident, error) { return tx.GetIncident(ctx, id) })
}

// UserTaskDetail is one user task with the row of its instance.
type UserTaskDetail struct {
	Task     *store.UserTask
	Instance *store.Instance
}

// GetUserTask returns one user task (open, completed or cancelled) and its instance's
// row, read in one snapshot. The error wraps ErrNotFound only when no task has the id: a
// task whose instance is missing is an inconsistency of the store, not a wrong link.
func (e *Engine) GetUserTask(ctx context.Context, id string) (*UserTaskDetail, error) {
	return read(ctx, e, "get user task", func(tx store.Tx) (*UserTaskDetail, error) {
		task, err := tx.GetUserTask(ctx, id)
		if err != nil {
			return nil, err
		}
		inst, err := tx.GetInstance(ctx, task.InstanceID)
		if err != nil {
			return nil, fmt.Errorf("instance %s of the task: %v", task.InstanceID, err)
		}
		return &UserTaskDetail{Task: task, Instance: inst}, nil
	})
}

// ParkedQuery selects parked events (see ListParked).
type ParkedQuery struct {
	// Limit bounds the events returned, newest first; it must be positive.
	Limit int
}

// ParkedEvents is a page of the events the outbox relay set aside and how many there are.
type ParkedEvents struct {
	// Count is how many events are parked in all.
	Count int64
	// Events are the newest q.Limit of them, newest (highest Seq) first.
	Events []*store.ParkedEvent
}

// ListParked returns the events the outbox relay set aside because NATS can never take
// them, newest first, and their count, read in one snapshot.
func (e *Engine) ListParked(ctx context.Context, q ParkedQuery) (*ParkedEvents, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("list parked events: %w: limit %d must be positive", ErrInvalidInput, q.Limit)
	}
	return read(ctx, e, "list parked events", func(tx store.Tx) (*ParkedEvents, error) {
		n, err := tx.CountParked(ctx)
		if err != nil {
			return nil, err
		}
		evs, err := tx.ListParked(ctx, q.Limit)
		return &ParkedEvents{Count: n, Events: evs}, err
	})
}

// CountParked counts the events the outbox relay set aside (without reading them).
func (e *Engine) CountParked(ctx context.Context) (int64, error) {
	return read(ctx, e, "count parked events", func(tx store.Tx) (int64, error) { return tx.CountParked(ctx) })
}

// Stalls are written by the stall detector (internal/monitor); the engine reads them
// because what they count depends on its tokens: a stall shows only while its token
// still stands where it stalled.

// CountStalls counts a definition's stalled tokens per element (all definitions when
// definitionID is ""): open stalls whose token still stands at the element.
func (e *Engine) CountStalls(ctx context.Context, definitionID string) (map[string]int, error) {
	return read(ctx, e, "count stalls", func(tx store.Tx) (map[string]int, error) { return tx.CountStalls(ctx, definitionID) })
}

// CountStalledInstances counts, per definition key, the instances with a stalled token
// (as CountStalls counts them).
func (e *Engine) CountStalledInstances(ctx context.Context) (map[string]int, error) {
	return read(ctx, e, "count stalled instances", func(tx store.Tx) (map[string]int, error) { return tx.CountStalledInstances(ctx) })
}

// ListStalls lists stalls, newest detection first. The rows are as the detector wrote
// them: an open stall whose token has moved on since its last pass is still listed.
func (e *Engine) ListStalls(ctx context.Context, f store.StallFilter) ([]*store.Stall, error) {
	return read(ctx, e, "list stalls", func(tx store.Tx) ([]*store.Stall, error) { return tx.ListStalls(ctx, f) })
}

// ListStallThresholds lists the operators' stall thresholds of a process key ("" for
// every key), by key and element.
func (e *Engine) ListStallThresholds(ctx context.Context, definitionKey string) ([]*store.StallThreshold, error) {
	return read(ctx, e, "list stall thresholds", func(tx store.Tx) ([]*store.StallThreshold, error) {
		return tx.ListStallThresholds(ctx, definitionKey)
	})
}
