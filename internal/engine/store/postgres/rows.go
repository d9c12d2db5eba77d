package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Times are timestamptz, which keeps microseconds; pgx hands them back in the local zone,
// and the store returns UTC like the SQLite store does.

func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// jsonArg passes a JSON value as text for a jsonb parameter (the server parses it; nil is
// JSON null), after checking it, so a bad value is a clear error rather than a server one.
func jsonArg(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "null", nil
	}
	if !json.Valid(v) {
		return "", fmt.Errorf("invalid JSON value %.40q", v)
	}
	return string(v), nil
}

// nullJSONArg stores a nil document as NULL.
func nullJSONArg(v json.RawMessage) *string {
	if v == nil {
		return nil
	}
	s := string(v)
	return &s
}

func scanDefinition(r pgx.Row) (*store.Definition, error) {
	var d store.Definition
	if err := r.Scan(&d.ID, &d.Key, &d.Version, &d.Name, &d.Checksum, &d.Resource, &d.XML, &d.DeployedAt); err != nil {
		return nil, err
	}
	d.DeployedAt = utc(d.DeployedAt)
	return &d, nil
}

func scanInstance(r pgx.Row) (*store.Instance, error) {
	var in store.Instance
	if err := r.Scan(&in.ID, &in.DefinitionID, &in.DefinitionKey, &in.DefinitionVersion, &in.BusinessKey, &in.State,
		&in.Version, &in.IncidentCount, &in.StartedAt, &in.EndedAt, &in.EventSeq); err != nil {
		return nil, err
	}
	in.StartedAt = utc(in.StartedAt)
	in.EndedAt = utcPtr(in.EndedAt)
	return &in, nil
}

func scanToken(r pgx.Row) (*store.Token, error) {
	var t store.Token
	if err := r.Scan(&t.ID, &t.InstanceID, &t.ElementID, &t.ScopeID, &t.State, &t.Flow, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	return &t, nil
}

func scanVariable(r pgx.Row) (*store.Variable, error) {
	var v store.Variable
	var value []byte
	if err := r.Scan(&v.InstanceID, &v.Name, &v.Type, &value, &v.UpdatedAt); err != nil {
		return nil, err
	}
	v.Value = value
	v.UpdatedAt = utc(v.UpdatedAt)
	return &v, nil
}

func scanJob(r pgx.Row) (*store.Job, error) {
	var j store.Job
	if err := r.Scan(&j.ID, &j.Kind, &j.Type, &j.InstanceID, &j.TokenID, &j.ElementID, &j.DefinitionID, &j.DefinitionKey,
		&j.Retries, &j.Attempt, &j.DueAt, &j.Suspended, &j.LockOwner, &j.LockedUntil, &j.Repeat, &j.LastError,
		&j.ErrorDetails, &j.CreatedAt); err != nil {
		return nil, err
	}
	j.DueAt = utc(j.DueAt)
	j.LockedUntil = utcPtr(j.LockedUntil)
	j.CreatedAt = utc(j.CreatedAt)
	return &j, nil
}

func scanSubscription(r pgx.Row) (*store.Subscription, error) {
	var s store.Subscription
	if err := r.Scan(&s.ID, &s.InstanceID, &s.TokenID, &s.ElementID, &s.DefinitionID, &s.DefinitionKey,
		&s.MessageName, &s.CorrelationKey, &s.CreatedAt); err != nil {
		return nil, err
	}
	s.CreatedAt = utc(s.CreatedAt)
	return &s, nil
}

func scanUserTask(r pgx.Row) (*store.UserTask, error) {
	var t store.UserTask
	if err := r.Scan(&t.ID, &t.InstanceID, &t.TokenID, &t.ElementID, &t.DefinitionKey, &t.Name, &t.Assignee,
		&t.CandidateGroups, &t.FormKey, &t.State, &t.CreatedAt, &t.DueAt, &t.CompletedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.DueAt = utcPtr(t.DueAt)
	t.CompletedAt = utcPtr(t.CompletedAt)
	return &t, nil
}

func scanIncident(r pgx.Row) (*store.Incident, error) {
	var in store.Incident
	if err := r.Scan(&in.ID, &in.InstanceID, &in.TokenID, &in.ElementID, &in.DefinitionKey, &in.JobID, &in.Type,
		&in.Message, &in.Details, &in.State, &in.CreatedAt, &in.ResolvedAt); err != nil {
		return nil, err
	}
	in.CreatedAt = utc(in.CreatedAt)
	in.ResolvedAt = utcPtr(in.ResolvedAt)
	return &in, nil
}

func scanEvent(r pgx.Row) (*store.Event, error) {
	var e store.Event
	var typ string // a plain string takes pgx's direct scan plan
	var data []byte
	if err := r.Scan(&e.Seq, &e.ID, &e.InstanceID, &e.InstanceSeq, &e.DefinitionID, &e.DefinitionKey, &typ,
		&e.ElementID, &e.ElementType, &e.TokenID, &e.JobID, &e.IncidentID, &e.Time, &data); err != nil {
		return nil, err
	}
	e.Type = event.Type(typ)
	e.Time = utc(e.Time)
	if data != nil {
		e.Data = data
	}
	return &e, nil
}

func scanAudit(r pgx.Row) (*store.AuditEntry, error) {
	var a store.AuditEntry
	var req []byte
	if err := r.Scan(&a.ID, &a.Time, &a.Actor, &a.Command, &a.Target, &a.Reason, &req, &a.Result, &a.Error); err != nil {
		return nil, err
	}
	a.Time = utc(a.Time)
	if req != nil {
		a.Request = req
	}
	return &a, nil
}

// collect reads all rows with scan and closes them.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
