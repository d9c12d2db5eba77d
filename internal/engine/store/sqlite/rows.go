package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Times are stored as INTEGER unix microseconds (UTC): an integer compares and indexes
// faster than text, and microseconds are what PostgreSQL keeps too, so both stores hand
// back the same instant.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicros maps an unset time to NULL.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// jsonText returns the compact text of a JSON value, so that equal values stored and
// filtered for compare equal as text. nil is JSON null. The common case (already compact,
// as json.Marshal writes it) costs one scan and no copy beyond the string conversion.
func jsonText(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "null", nil
	}
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return string(v), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "", fmt.Errorf("invalid JSON value: %w", err)
	}
	return b.String(), nil
}

// nullJSON stores a nil document as NULL.
func nullJSON(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return string(v)
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanDefinition(s scanner) (*store.Definition, error) {
	var d store.Definition
	var deployed int64
	if err := s.Scan(&d.ID, &d.Key, &d.Version, &d.Name, &d.Checksum, &d.Resource, &d.XML, &deployed); err != nil {
		return nil, err
	}
	d.DeployedAt = fromMicros(deployed)
	return &d, nil
}

func scanInstance(s scanner) (*store.Instance, error) {
	var in store.Instance
	var started int64
	var ended sql.NullInt64
	if err := s.Scan(&in.ID, &in.DefinitionID, &in.DefinitionKey, &in.DefinitionVersion, &in.BusinessKey, &in.State,
		&in.Version, &in.IncidentCount, &started, &ended, &in.EventSeq); err != nil {
		return nil, err
	}
	in.StartedAt = fromMicros(started)
	in.EndedAt = fromNullMicros(ended)
	return &in, nil
}

func scanToken(s scanner) (*store.Token, error) {
	var t store.Token
	var created int64
	if err := s.Scan(&t.ID, &t.InstanceID, &t.ElementID, &t.ScopeID, &t.State, &t.Flow, &created); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	return &t, nil
}

func scanVariable(s scanner) (*store.Variable, error) {
	var v store.Variable
	var value []byte
	var updated int64
	if err := s.Scan(&v.InstanceID, &v.Name, &v.Type, &value, &updated); err != nil {
		return nil, err
	}
	v.Value = value
	v.UpdatedAt = fromMicros(updated)
	return &v, nil
}

func scanJob(s scanner) (*store.Job, error) {
	var j store.Job
	var due, created int64
	var suspended int64
	var locked sql.NullInt64
	if err := s.Scan(&j.ID, &j.Kind, &j.Type, &j.InstanceID, &j.TokenID, &j.ElementID, &j.DefinitionID, &j.DefinitionKey,
		&j.Retries, &j.Attempt, &due, &suspended, &j.LockOwner, &locked, &j.Repeat, &j.LastError, &j.ErrorDetails,
		&created); err != nil {
		return nil, err
	}
	j.DueAt = fromMicros(due)
	j.Suspended = suspended != 0
	j.LockedUntil = fromNullMicros(locked)
	j.CreatedAt = fromMicros(created)
	return &j, nil
}

func scanSubscription(s scanner) (*store.Subscription, error) {
	var sub store.Subscription
	var created int64
	if err := s.Scan(&sub.ID, &sub.InstanceID, &sub.TokenID, &sub.ElementID, &sub.DefinitionID, &sub.DefinitionKey,
		&sub.MessageName, &sub.CorrelationKey, &created); err != nil {
		return nil, err
	}
	sub.CreatedAt = fromMicros(created)
	return &sub, nil
}

func scanUserTask(s scanner) (*store.UserTask, error) {
	var t store.UserTask
	var created int64
	var due, completed sql.NullInt64
	if err := s.Scan(&t.ID, &t.InstanceID, &t.TokenID, &t.ElementID, &t.DefinitionKey, &t.Name, &t.Assignee,
		&t.CandidateGroups, &t.FormKey, &t.State, &created, &due, &completed); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(created)
	t.DueAt = fromNullMicros(due)
	t.CompletedAt = fromNullMicros(completed)
	return &t, nil
}

func scanIncident(s scanner) (*store.Incident, error) {
	var in store.Incident
	var created int64
	var resolved sql.NullInt64
	if err := s.Scan(&in.ID, &in.InstanceID, &in.TokenID, &in.ElementID, &in.DefinitionKey, &in.JobID, &in.Type,
		&in.Message, &in.Details, &in.State, &created, &resolved); err != nil {
		return nil, err
	}
	in.CreatedAt = fromMicros(created)
	in.ResolvedAt = fromNullMicros(resolved)
	return &in, nil
}

func scanEvent(s scanner) (*store.Event, error) {
	var e store.Event
	var t int64
	var typ string // a plain string scans without database/sql's reflection
	var data []byte
	if err := s.Scan(&e.Seq, &e.ID, &e.InstanceID, &e.InstanceSeq, &e.DefinitionID, &e.DefinitionKey, &typ,
		&e.ElementID, &e.ElementType, &e.TokenID, &e.JobID, &e.IncidentID, &t, &data); err != nil {
		return nil, err
	}
	e.Type = event.Type(typ)
	e.Time = fromMicros(t)
	if data != nil {
		e.Data = data
	}
	return &e, nil
}

// collect reads all rows with scan.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]*T, error) {
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

// valueRow is a row already read into driver values (int64, float64, string, []byte, nil),
// scanned again into typed fields by the same scan functions as a *sql.Rows. It lets one
// statement return rows of several kinds (see qLoadInstance).
type valueRow []any

func (r valueRow) Scan(dest ...any) error {
	if len(dest) > len(r) {
		return fmt.Errorf("scan %d columns from a row of %d", len(dest), len(r))
	}
	for i, d := range dest {
		v := r[i]
		ok := true
		switch d := d.(type) {
		case *string:
			switch v := v.(type) {
			case string:
				*d = v
			case []byte:
				*d = string(v)
			case nil:
				*d = ""
			default:
				ok = false
			}
		case *int64:
			*d, ok = v.(int64)
		case *int:
			var n int64
			n, ok = v.(int64)
			*d = int(n)
		case *sql.NullInt64:
			switch v := v.(type) {
			case int64:
				*d = sql.NullInt64{Int64: v, Valid: true}
			case nil:
				*d = sql.NullInt64{}
			default:
				ok = false
			}
		case *[]byte:
			switch v := v.(type) {
			case string:
				*d = []byte(v)
			case []byte:
				*d = bytes.Clone(v)
			case nil:
				*d = nil
			default:
				ok = false
			}
		default:
			return fmt.Errorf("scan column %d: unsupported destination %T", i, d)
		}
		if !ok {
			return fmt.Errorf("scan column %d: unexpected value %T into %T", i, v, d)
		}
	}
	return nil
}
