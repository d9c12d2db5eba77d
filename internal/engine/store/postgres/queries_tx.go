package postgres

import (
	"context"
	"strconv"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Incidents, user tasks and history events: what the pages and the API read.

// ListIncidents returns incidents newest first.
func (t *tx) ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error) {
	q := newQuery(listIncidentsSQL)
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if f.DefinitionKey != "" {
		q.and(`definition_key = ?`, f.DefinitionKey)
	}
	if f.State != "" {
		q.and(`state = ?`, f.State)
	}
	q.tail(` ORDER BY created_at DESC, id DESC LIMIT ?`, limit(f.Limit))
	out, err := queryAll(ctx, t, "list incidents", false, q.String(), scanIncident, q.args...)
	if err != nil {
		return nil, wrapErr("list incidents", err)
	}
	return out, nil
}

func (t *tx) GetIncident(ctx context.Context, id string) (*store.Incident, error) {
	return queryOne(ctx, t, "get incident", "incident "+strconv.Quote(id), getIncidentSQL, scanIncident, id)
}

// ListUserTasks returns tasks oldest first (a work queue).
func (t *tx) ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error) {
	q := newQuery(listUserTasksSQL)
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if f.State != "" {
		q.and(`state = ?`, f.State)
	}
	if f.Assignee != "" {
		q.and(`assignee = ?`, f.Assignee)
	}
	q.tail(` ORDER BY created_at, id LIMIT ?`, limit(f.Limit))
	out, err := queryAll(ctx, t, "list user tasks", false, q.String(), scanUserTask, q.args...)
	if err != nil {
		return nil, wrapErr("list user tasks", err)
	}
	return out, nil
}

func (t *tx) GetUserTask(ctx context.Context, id string) (*store.UserTask, error) {
	return queryOne(ctx, t, "get user task", "user task "+strconv.Quote(id), getUserTaskSQL, scanUserTask, id)
}

func (t *tx) ListEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	q := newQuery(listEventsSQL)
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if f.AfterSeq > 0 {
		q.and(`seq > ?`, f.AfterSeq)
	}
	q.tail(` ORDER BY seq LIMIT ?`, limit(f.Limit))
	out, err := queryAll(ctx, t, "list events", false, q.String(), scanEvent, q.args...)
	if err != nil {
		return nil, wrapErr("list events", err)
	}
	return out, nil
}

// Outbox, leases and audit.
