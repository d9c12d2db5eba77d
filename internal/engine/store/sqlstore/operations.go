package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Operations (see store.OperationTx).

const (
	OperationCols = `id, kind, actor, reason, request_id, selection, params, state, total, succeeded, failed, skipped,
	failing_again, checked_at, created_at, finished_at`
	OperationItemCols = `operation_id, seq, target, instance_id, definition_key, element_id, state, code, error, owner,
	locked_until, done_at`
	// insertItemsPerStatement bounds the rows of one multi-row insert of items (12
	// parameters each, well below SQLite's and PostgreSQL's parameter limits).
	insertItemsPerStatement = 500
)

var (
	insertOperation = writef(func(d *Dialect) string {
		return `INSERT INTO operations (` + OperationCols + `) VALUES (?, ?, ?, ?, ?, ?, ` + d.jsonParam() +
			`, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	})
	getOperation = read(`SELECT ` + OperationCols + ` FROM operations WHERE id = ?`)
	countItems   = read(`SELECT state, count(*) FROM operation_items WHERE operation_id = ? GROUP BY state`)
	// claimItems locks the first pending items whose lock is free or expired. The outer
	// condition repeats the inner one: on PostgreSQL a row another node claimed meanwhile
	// is re-checked after its lock wait and left out.
	//
	// On PostgreSQL the seqs are picked once, as an array (an init plan), and the rows
	// found in the range of seqs they span. The planner has no statistics yet for the
	// items an operation just inserted (it guesses one pending row): as "seq IN
	// (subquery)" it chose a nested loop that ran the LIMIT subquery again for every
	// pending item (730 ms per claim with 5,000 items pending: the larger the operation,
	// the slower each of its items), and with "seq = ANY(array)" alone it read every
	// pending item of the operation through operation_items_state, testing each against
	// the array (15 ms per claim at 5,000). Whichever index it takes now, the range
	// bounds the scan. SQLite runs the IN subquery once.
	claimItems = writef(func(d *Dialect) string {
		if d.pg {
			return `WITH pick AS (SELECT ARRAY(SELECT seq FROM operation_items WHERE operation_id = ? AND state = 'pending'
		AND (owner = '' OR locked_until <= ?) ORDER BY seq LIMIT ?) AS seqs)
	UPDATE operation_items SET owner = ?, locked_until = ?
	WHERE operation_id = ? AND state = 'pending' AND (owner = '' OR locked_until <= ?)
	AND seq = ANY((SELECT seqs FROM pick)::int[])
	AND seq >= (SELECT seqs[1] FROM pick) AND seq <= (SELECT seqs[cardinality(seqs)] FROM pick)
	RETURNING ` + OperationItemCols
		}
		return `UPDATE operation_items SET owner = ?, locked_until = ?
	WHERE operation_id = ? AND state = 'pending' AND (owner = '' OR locked_until <= ?) AND seq IN (
		SELECT seq FROM operation_items WHERE operation_id = ? AND state = 'pending' AND (owner = '' OR locked_until <= ?)
		ORDER BY seq LIMIT ?)
	RETURNING ` + OperationItemCols
	})
	finishItem = write(`UPDATE operation_items SET state = ?, code = ?, error = ?, owner = '', locked_until = NULL, done_at = ?
	WHERE operation_id = ? AND seq = ? AND state = 'pending' AND owner = ?`)
	completeOperation = write(`UPDATE operations SET state = 'completed', finished_at = ?,
	succeeded = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'ok'),
	failed = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'failed'),
	skipped = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'skipped')
	WHERE id = ? AND state = 'running'
	AND NOT EXISTS (SELECT 1 FROM operation_items WHERE operation_id = ? AND state = 'pending')`)
	skipItems = write(`UPDATE operation_items SET state = 'skipped', owner = '', locked_until = NULL, done_at = ?
	WHERE operation_id = ? AND state = 'pending'`)
	cancelOperation = write(`UPDATE operations SET state = 'cancelled', finished_at = ?,
	succeeded = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'ok'),
	failed = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'failed'),
	skipped = (SELECT count(*) FROM operation_items WHERE operation_id = ? AND state = 'skipped')
	WHERE id = ? AND state = 'running'`)
	// failingAgain: a retried item has failed again when an incident opened at its place
	// (instance and element) after the retry: created when or after the retry resolved
	// the item's incident (the same command may fail again at once, with the same time).
	// One primary-key and one incidents_instance probe per succeeded item (an instance
	// has few incidents), and the count stops past store.MaxFailingAgain.
	failingAgain = read(`SELECT count(*) FROM (SELECT 1 FROM operation_items it JOIN incidents r ON r.id = it.target
	WHERE it.operation_id = ? AND it.state = 'ok' AND it.instance_id <> ''
	AND EXISTS (SELECT 1 FROM incidents i WHERE i.instance_id = it.instance_id AND i.element_id = it.element_id
		AND i.id <> it.target AND i.created_at >= coalesce(r.resolved_at, it.done_at))
	LIMIT ` + strconv.Itoa(store.MaxFailingAgain+1) + `) x`)
	releaseItems    = write(`UPDATE operation_items SET owner = '', locked_until = NULL WHERE operation_id = ? AND owner = ? AND state = 'pending'`)
	setFailingAgain = write(`UPDATE operations SET failing_again = ?, checked_at = ? WHERE id = ?`)
)

// InsertOperation writes an operation and its items.
func (q *Queries) InsertOperation(ctx context.Context, op *store.Operation, items []*store.OperationItem) error {
	if op.ID == "" || op.Kind == "" || op.Actor == "" || op.State == "" {
		return errors.New("insert operation: id, kind, actor and state are required")
	}
	params, err := q.D.JSON(op.Params)
	if err != nil {
		return fmt.Errorf("insert operation %q: params: %w", op.ID, err)
	}
	what := fmt.Sprintf("insert operation %q", op.ID)
	if _, err := q.exec(ctx, what, q.static(insertOperation, op.ID, op.Kind, op.Actor, op.Reason, op.RequestID,
		op.Selection, params, op.State, op.Total, op.Succeeded, op.Failed, op.Skipped, op.FailingAgain,
		q.D.NullTime(op.CheckedAt), q.D.Time(op.CreatedAt), q.D.NullTime(op.FinishedAt))); err != nil {
		return err
	}
	for start := 0; start < len(items); start += insertItemsPerStatement {
		chunk := items[start:min(start+insertItemsPerStatement, len(items))]
		b := NewQuery(q.D, `INSERT INTO operation_items (`+OperationItemCols+`) VALUES `)
		for i, it := range chunk {
			it.OperationID, it.Seq = op.ID, start+i
			if it.Target == "" {
				return fmt.Errorf("%s: item %d has no target", what, it.Seq)
			}
			if it.State == "" {
				it.State = store.ItemPending
			}
			if i > 0 {
				b.Tail(`, `)
			}
			b.Tail(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, it.OperationID, it.Seq, it.Target, it.InstanceID,
				it.DefinitionKey, it.ElementID, it.State, it.Code, it.Error, it.Owner, q.D.NullTime(it.LockedUntil),
				q.D.NullTime(it.DoneAt))
		}
		if _, err := q.exec(ctx, what+" items", built(b)); err != nil {
			return err
		}
	}
	return nil
}

// GetOperation reads an operation.
func (q *Queries) GetOperation(ctx context.Context, id string) (*store.Operation, error) {
	return One(ctx, q.C, "get operation", fmt.Sprintf("operation %q", id), q.static(getOperation, id), q.D.ScanOperation)
}

// ListOperations lists operations, newest first.
func (q *Queries) ListOperations(ctx context.Context, f store.OperationFilter) ([]*store.Operation, error) {
	b := NewQuery(q.D, `SELECT `+OperationCols+` FROM operations`)
	if f.State != "" {
		b.And(`state = ?`, f.State)
	}
	if f.Kind != "" {
		b.And(`kind = ?`, f.Kind)
	}
	if f.Actor != "" {
		b.And(`actor = ?`, f.Actor)
	}
	b.Tail(` ORDER BY created_at DESC, id DESC LIMIT ?`, q.D.Limit(f.Limit))
	return All(ctx, q.C, "list operations", built(b), q.D.ScanOperation)
}

// ListOperationItems lists an operation's items in seq order.
func (q *Queries) ListOperationItems(ctx context.Context, f store.OperationItemFilter) ([]*store.OperationItem, error) {
	if f.OperationID == "" {
		return nil, errors.New("list operation items: the operation id is required")
	}
	b := NewQuery(q.D, `SELECT `+OperationItemCols+` FROM operation_items`)
	b.And(`operation_id = ?`, f.OperationID)
	if f.State != "" {
		b.And(`state = ?`, f.State)
	}
	if f.AfterSeq >= 0 {
		b.And(`seq > ?`, f.AfterSeq)
	}
	b.Tail(` ORDER BY seq LIMIT ?`, q.D.Limit(f.Limit))
	return All(ctx, q.C, fmt.Sprintf("list items of operation %q", f.OperationID), built(b), q.D.ScanOperationItem)
}

// CountOperationItems counts an operation's items by state.
func (q *Queries) CountOperationItems(ctx context.Context, operationID string) (map[string]int, error) {
	return countBy[int](ctx, q, fmt.Sprintf("count items of operation %q", operationID), q.static(countItems, operationID))
}

// ClaimOperationItems locks pending items, lowest seq first.
func (q *Queries) ClaimOperationItems(ctx context.Context, c store.ClaimItems) ([]*store.OperationItem, error) {
	if c.Owner == "" || c.Limit <= 0 || !c.Until.After(c.Now) {
		return nil, errors.New("claim operation items: an owner, a positive limit and a lock in the future are required")
	}
	now := q.D.Time(c.Now)
	args := []any{c.Owner, q.D.Time(c.Until), c.OperationID, now, c.OperationID, now, c.Limit}
	if q.D.pg {
		args = []any{c.OperationID, now, c.Limit, c.Owner, q.D.Time(c.Until), c.OperationID, now}
	}
	items, err := All(ctx, q.C, fmt.Sprintf("claim items of operation %q", c.OperationID), q.static(claimItems, args...),
		q.D.ScanOperationItem)
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order.
	sortItems(items)
	return items, nil
}

// ReleaseOperationItems gives back owner's locks on the operation's pending items.
func (q *Queries) ReleaseOperationItems(ctx context.Context, operationID, owner string) error {
	_, err := q.exec(ctx, fmt.Sprintf("release items of operation %q", operationID), q.static(releaseItems, operationID, owner))
	return err
}

// FinishOperationItem records an item's outcome under its lock.
func (q *Queries) FinishOperationItem(ctx context.Context, o store.ItemOutcome) error {
	if o.State != store.ItemOK && o.State != store.ItemFailed {
		return fmt.Errorf("finish operation item: state %q is neither %q nor %q", o.State, store.ItemOK, store.ItemFailed)
	}
	what := fmt.Sprintf("finish item %d of operation %q", o.Seq, o.OperationID)
	n, err := q.exec(ctx, what, q.static(finishItem, o.State, o.Code, o.Error, q.D.Time(o.At), o.OperationID, o.Seq, o.Owner))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrLostItem)
	}
	return nil
}

// CompleteOperation ends a running operation without pending items.
func (q *Queries) CompleteOperation(ctx context.Context, id string, at time.Time) (bool, error) {
	n, err := q.exec(ctx, fmt.Sprintf("complete operation %q", id), q.static(completeOperation, q.D.Time(at), id, id, id, id, id))
	return n > 0, err
}

// CancelOperation skips a running operation's pending items and ends it.
func (q *Queries) CancelOperation(ctx context.Context, id string, at time.Time) error {
	what := fmt.Sprintf("cancel operation %q", id)
	op, err := q.GetOperation(ctx, id)
	if err != nil {
		return err
	}
	if op.State != store.OperationRunning {
		return fmt.Errorf("%s: it is %s: %w", what, op.State, store.ErrConflict)
	}
	if _, err := q.exec(ctx, what, q.static(skipItems, q.D.Time(at), id)); err != nil {
		return err
	}
	if err := q.execOne(ctx, what, q.static(cancelOperation, q.D.Time(at), id, id, id, id)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: it ended meanwhile: %w", what, store.ErrConflict)
		}
		return err
	}
	return nil
}

// CountFailingAgain counts the succeeded items that failed again.
func (q *Queries) CountFailingAgain(ctx context.Context, operationID string) (int, error) {
	n, err := One(ctx, q.C, "count failing again", fmt.Sprintf("failing again of operation %q", operationID),
		q.static(failingAgain, operationID), scanInt)
	if err != nil {
		return 0, err
	}
	return *n, nil
}

// SetFailingAgain records a CountFailingAgain.
func (q *Queries) SetFailingAgain(ctx context.Context, operationID string, n int, at time.Time) error {
	return q.execOne(ctx, fmt.Sprintf("set failing again of operation %q", operationID),
		q.static(setFailingAgain, n, q.D.Time(at), operationID))
}

func sortItems(items []*store.OperationItem) {
	for i := 1; i < len(items); i++ {
		for j := i; j > 0 && items[j].Seq < items[j-1].Seq; j-- {
			items[j], items[j-1] = items[j-1], items[j]
		}
	}
}

func scanInt(s Scanner) (*int, error) {
	var n int
	if err := s.Scan(&n); err != nil {
		return nil, err
	}
	return &n, nil
}

// ScanOperation reads an OperationCols row.
func (d *Dialect) ScanOperation(s Scanner) (*store.Operation, error) {
	var op store.Operation
	var params []byte
	if err := s.Scan(&op.ID, &op.Kind, &op.Actor, &op.Reason, &op.RequestID, &op.Selection, &params, &op.State,
		&op.Total, &op.Succeeded, &op.Failed, &op.Skipped, &op.FailingAgain, d.nullTimeDest(&op.CheckedAt),
		d.timeDest(&op.CreatedAt), d.nullTimeDest(&op.FinishedAt)); err != nil {
		return nil, err
	}
	if params != nil {
		op.Params = params
	}
	op.CheckedAt, op.CreatedAt, op.FinishedAt = utcPtr(op.CheckedAt), utc(op.CreatedAt), utcPtr(op.FinishedAt)
	return &op, nil
}

// ScanOperationItem reads an OperationItemCols row.
func (d *Dialect) ScanOperationItem(s Scanner) (*store.OperationItem, error) {
	var it store.OperationItem
	if err := s.Scan(&it.OperationID, &it.Seq, &it.Target, &it.InstanceID, &it.DefinitionKey, &it.ElementID,
		&it.State, &it.Code, &it.Error, &it.Owner, d.nullTimeDest(&it.LockedUntil), d.nullTimeDest(&it.DoneAt)); err != nil {
		return nil, err
	}
	it.LockedUntil, it.DoneAt = utcPtr(it.LockedUntil), utcPtr(it.DoneAt)
	return &it, nil
}
