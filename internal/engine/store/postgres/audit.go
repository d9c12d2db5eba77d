package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The audit log of operator commands.

// InsertAudit records an operator command.
func (t *tx) InsertAudit(ctx context.Context, a *store.AuditEntry) error {
	if !t.write {
		return fmt.Errorf("insert audit: %w", ErrReadOnly)
	}
	if a.ID == "" || a.Actor == "" || a.Command == "" || a.Result == "" {
		return errors.New("insert audit: id, actor, command and result are required")
	}
	if a.Request != nil && !jsonValid(a.Request) {
		return fmt.Errorf("insert audit %q: invalid JSON request", a.ID)
	}
	if _, err := t.exec(ctx, "insert audit", insertAuditSQL, a.ID, a.Time, a.Actor, a.Command, a.Target, a.Reason,
		nullJSONArg(a.Request), a.Result, a.Error); err != nil {
		return wrapErr(fmt.Sprintf("insert audit %q", a.ID), err)
	}
	return nil
}

// UpdateAudit sets the result, error and request of an audit row.
func (t *tx) UpdateAudit(ctx context.Context, a *store.AuditEntry) error {
	if !t.write {
		return fmt.Errorf("update audit: %w", ErrReadOnly)
	}
	if a.ID == "" || a.Result == "" {
		return errors.New("update audit: id and result are required")
	}
	if a.Request != nil && !jsonValid(a.Request) {
		return fmt.Errorf("update audit %q: invalid JSON request", a.ID)
	}
	n, err := t.exec(ctx, "update audit", updateAuditSQL, a.ID, a.Result, a.Error, nullJSONArg(a.Request))
	if err != nil {
		return wrapErr(fmt.Sprintf("update audit %q", a.ID), err)
	}
	if n == 0 {
		return fmt.Errorf("update audit %q: %w", a.ID, store.ErrNotFound)
	}
	return nil
}

// ListAudit lists audit entries, newest first.
func (t *tx) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	q := newQuery(listAuditSQL)
	if f.Actor != "" {
		q.and(`actor = ?`, f.Actor)
	}
	if f.Target != "" {
		q.and(`target = ?`, f.Target)
	}
	q.tail(` ORDER BY time DESC, id DESC LIMIT ?`, limit(f.Limit))
	out, err := queryAll(ctx, t, "list audit", false, q.String(), scanAudit, q.args...)
	if err != nil {
		return nil, wrapErr("list audit", err)
	}
	return out, nil
}
