package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ListOutbox returns queued events, lowest seq first.
func (t *tx) ListOutbox(ctx context.Context, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list outbox: limit %d must be positive", limit)
	}
	out, err := queryAll(ctx, t, qListOutbox, scanEvent, limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// DeleteOutbox records published events: the cursor moves past every event up to the
// first one not among seqs. Events published beyond that gap are handed out again.
func (t *tx) DeleteOutbox(ctx context.Context, seqs []int64) error {
	if err := t.writable("delete outbox"); err != nil {
		return err
	}
	if len(seqs) == 0 {
		return nil
	}
	head, err := queryAll(ctx, t, qOutboxAfter, func(s scanner) (*int64, error) {
		var v int64
		return &v, s.Scan(&v)
	}, len(seqs))
	if err != nil {
		return fmt.Errorf("delete outbox: %w", err)
	}
	cursor := store.OutboxCursor(seqs, derefAll(head))
	if cursor < 0 {
		return nil
	}
	if _, err := t.exec(ctx, qSetOutboxCursor, cursor); err != nil {
		return writeErr("move the outbox cursor", err)
	}
	return nil
}

func derefAll(ps []*int64) []int64 {
	out := make([]int64, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// OutboxStats returns the queue length and the time of its oldest event.
func (t *tx) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n, oldest int64
	if err := t.stmt(ctx, qOutboxStats).QueryRowContext(ctx).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox stats: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	return n, fromMicros(oldest), nil
}

// ParkOutbox records events the relay set aside.
func (t *tx) ParkOutbox(ctx context.Context, evs []*store.ParkedEvent) error {
	if err := t.writable("park outbox"); err != nil {
		return err
	}
	for _, p := range evs {
		if _, err := t.exec(ctx, qParkOutbox, p.Seq, p.ID, p.InstanceID, string(p.Type), p.Bytes, p.Reason,
			p.Placeholder, micros(p.ParkedAt)); err != nil {
			return writeErr(fmt.Sprintf("park event %d", p.Seq), err)
		}
	}
	return nil
}

// ListParked returns parked events, newest first.
func (t *tx) ListParked(ctx context.Context, limit int) ([]*store.ParkedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list parked events: limit %d must be positive", limit)
	}
	out, err := queryAll(ctx, t, qListParked, func(s scanner) (*store.ParkedEvent, error) {
		var p store.ParkedEvent
		var at int64
		if err := s.Scan(&p.Seq, &p.ID, &p.InstanceID, &p.Type, &p.Bytes, &p.Reason, &p.Placeholder, &at); err != nil {
			return nil, err
		}
		p.ParkedAt = fromMicros(at)
		return &p, nil
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	return out, nil
}

// CountParked returns how many events were parked.
func (t *tx) CountParked(ctx context.Context) (int64, error) {
	var n int64
	if err := t.stmt(ctx, qCountParked).QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, fmt.Errorf("count parked events: %w", err)
	}
	return n, nil
}

// AcquireLease takes or renews a named lease.
func (t *tx) AcquireLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if err := t.writable("acquire lease"); err != nil {
		return false, err
	}
	if name == "" || owner == "" {
		return false, errors.New("acquire lease: name and owner are required")
	}
	if _, err := t.exec(ctx, qAcquireLease, name, owner, micros(until), micros(now)); err != nil {
		return false, writeErr(fmt.Sprintf("acquire lease %q", name), err)
	}
	var holder string
	if err := t.stmt(ctx, qGetLease).QueryRowContext(ctx, name).Scan(&holder); err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return holder == owner, nil
}

// ReleaseLease gives a lease up if owner holds it.
func (t *tx) ReleaseLease(ctx context.Context, name, owner string) error {
	if err := t.writable("release lease"); err != nil {
		return err
	}
	if _, err := t.exec(ctx, qReleaseLease, name, owner); err != nil {
		return writeErr(fmt.Sprintf("release lease %q", name), err)
	}
	return nil
}

// InsertAudit records an operator command.
func (t *tx) InsertAudit(ctx context.Context, a *store.AuditEntry) error {
	if err := t.writable("insert audit"); err != nil {
		return err
	}
	if a.ID == "" || a.Actor == "" || a.Command == "" || a.Result == "" {
		return errors.New("insert audit: id, actor, command and result are required")
	}
	if _, err := t.exec(ctx, qInsertAudit, a.ID, micros(a.Time), a.Actor, a.Command, a.Target, a.Reason,
		nullJSON(a.Request), a.Result, a.Error); err != nil {
		return writeErr(fmt.Sprintf("insert audit %q", a.ID), err)
	}
	return nil
}

// UpdateAudit sets the result, error and request of an audit row.
func (t *tx) UpdateAudit(ctx context.Context, a *store.AuditEntry) error {
	if err := t.writable("update audit"); err != nil {
		return err
	}
	if a.ID == "" || a.Result == "" {
		return errors.New("update audit: id and result are required")
	}
	res, err := t.exec(ctx, qUpdateAudit, a.ID, a.Result, a.Error, nullJSON(a.Request))
	if err != nil {
		return writeErr(fmt.Sprintf("update audit %q", a.ID), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return writeErr(fmt.Sprintf("update audit %q", a.ID), err)
	} else if n == 0 {
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
	out, err := queryBuilt(ctx, t, q, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

func scanAudit(s scanner) (*store.AuditEntry, error) {
	var a store.AuditEntry
	var at int64
	var req sql.NullString
	if err := s.Scan(&a.ID, &at, &a.Actor, &a.Command, &a.Target, &a.Reason, &req, &a.Result, &a.Error); err != nil {
		return nil, err
	}
	a.Time = fromMicros(at)
	if req.Valid {
		a.Request = json.RawMessage(req.String)
	}
	return &a, nil
}
