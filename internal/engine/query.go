package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The query API reads through the store's read transactions; it never waits for commands.

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
