package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The outbox the relay reads, the events it set aside, and the store leases.

// ListOutbox returns queued events, lowest seq first.
func (t *tx) ListOutbox(ctx context.Context, n int) ([]*store.Event, error) {
	if n <= 0 {
		return nil, fmt.Errorf("list outbox: limit %d must be positive", n)
	}
	out, err := queryAll(ctx, t, "list outbox", false, listOutboxSQL, scanEvent, n)
	if err != nil {
		return nil, wrapErr("list outbox", err)
	}
	return out, nil
}

// DeleteOutbox removes published events from the queue.
func (t *tx) DeleteOutbox(ctx context.Context, seqs []int64) error {
	if !t.write {
		return fmt.Errorf("delete outbox: %w", ErrReadOnly)
	}
	if len(seqs) == 0 {
		return nil
	}
	// Move the cursor past the unbroken run of published events at the head; anything
	// published beyond a gap is handed out again.
	head, err := queryAll(ctx, t, "delete outbox", true, outboxAfterSQL, func(r pgx.Row) (*int64, error) {
		var v int64
		return &v, r.Scan(&v)
	}, len(seqs))
	if err != nil {
		return wrapErr("delete outbox", err)
	}
	tail := make([]int64, len(head))
	for i, p := range head {
		tail[i] = *p
	}
	cursor := store.OutboxCursor(seqs, tail)
	if cursor < 0 {
		return nil
	}
	if _, err := t.exec(ctx, "move the outbox cursor", setOutboxCursor, cursor); err != nil {
		return wrapErr("move the outbox cursor", err)
	}
	return nil
}

// OutboxStats returns the queue length and the time of its oldest event.
func (t *tx) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest *time.Time
	err := t.do(ctx, "outbox stats", false, func(b *pgx.Batch) { b.Queue(outboxStatsSQL) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&n, &oldest)
	})
	if err != nil {
		return 0, time.Time{}, wrapErr("outbox stats", err)
	}
	if n == 0 || oldest == nil {
		return n, time.Time{}, nil
	}
	return n, oldest.UTC(), nil
}

// ParkOutbox records events the relay set aside, in one statement.
func (t *tx) ParkOutbox(ctx context.Context, evs []*store.ParkedEvent) error {
	if !t.write {
		return fmt.Errorf("park outbox: %w", ErrReadOnly)
	}
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	seqs, bytes := make([]int64, n), make([]int64, n)
	ids, insts, types, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	placeholders, at := make([]bool, n), make([]time.Time, n)
	for i, p := range evs {
		seqs[i], ids[i], insts[i], types[i], bytes[i] = p.Seq, p.ID, p.InstanceID, string(p.Type), p.Bytes
		reasons[i], placeholders[i], at[i] = p.Reason, p.Placeholder, p.ParkedAt
	}
	if _, err := t.exec(ctx, "park outbox", parkOutboxSQL, seqs, ids, insts, types, bytes, reasons, placeholders, at); err != nil {
		return wrapErr("park outbox", err)
	}
	return nil
}

// ListParked returns parked events, newest first.
func (t *tx) ListParked(ctx context.Context, limit int) ([]*store.ParkedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list parked events: limit %d must be positive", limit)
	}
	out, err := queryAll(ctx, t, "list parked events", false, listParkedSQL, func(r pgx.Row) (*store.ParkedEvent, error) {
		var p store.ParkedEvent
		if err := r.Scan(&p.Seq, &p.ID, &p.InstanceID, &p.Type, &p.Bytes, &p.Reason, &p.Placeholder, &p.ParkedAt); err != nil {
			return nil, err
		}
		p.ParkedAt = p.ParkedAt.UTC()
		return &p, nil
	}, limit)
	if err != nil {
		return nil, wrapErr("list parked events", err)
	}
	return out, nil
}

// CountParked returns how many events were parked.
func (t *tx) CountParked(ctx context.Context) (int64, error) {
	var n int64
	err := t.do(ctx, "count parked events", false, func(b *pgx.Batch) { b.Queue(countParkedSQL) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return 0, wrapErr("count parked events", err)
	}
	return n, nil
}

// AcquireLease takes or renews a named lease.
func (t *tx) AcquireLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if !t.write {
		return false, fmt.Errorf("acquire lease: %w", ErrReadOnly)
	}
	if name == "" || owner == "" {
		return false, errors.New("acquire lease: name and owner are required")
	}
	held := false
	err := t.do(ctx, "acquire lease", true, func(b *pgx.Batch) { b.Queue(acquireLeaseSQL, name, owner, until, now) },
		func(br pgx.BatchResults) error {
			var holder string
			err := br.QueryRow().Scan(&holder)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // held by someone else
			}
			held = err == nil && holder == owner
			return err
		})
	if err != nil {
		return false, wrapErr(fmt.Sprintf("acquire lease %q", name), err)
	}
	return held, nil
}

// ReleaseLease gives a lease up if owner holds it.
func (t *tx) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := t.exec(ctx, "release lease", releaseLeaseSQL, name, owner); err != nil {
		return wrapErr(fmt.Sprintf("release lease %q", name), err)
	}
	return nil
}
