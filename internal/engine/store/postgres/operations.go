package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Item outcomes and audit rows are deferred writes, like Apply: a bulk operation writes
// both in the transaction of each item's engine command, and sent one by one they cost the
// group commit two round trips per item (and split its merged writes, which are merged only
// between two round trips). Queued instead, they go out with the transaction's next round
// trip as one multi-row statement each (merge.go). A lost item (not pending under the
// writer's lock: store.ErrLostItem) then fails the statement (cockpit_lost_item) and
// with it the transaction, as a stale version does; the engine runs the batch's commands
// again one by one, and the lost item's command gets ErrLostItem. Lost items are rare
// (a lock that ran out and was taken over, an operation cancelled under a running item).

// FinishOperationItem records an item's outcome under its lock, deferred: ErrLostItem
// comes from the transaction's next statement or its commit.
func (t *tx) FinishOperationItem(ctx context.Context, o store.ItemOutcome) error {
	if o.State != store.ItemOK && o.State != store.ItemFailed {
		return fmt.Errorf("finish operation item: state %q is neither %q nor %q", o.State, store.ItemOK, store.ItemFailed)
	}
	if o.Owner == "" {
		// finishItemsSQL takes the owner's lock for the pending test.
		return fmt.Errorf("finish item %d of operation %q: no owner", o.Seq, o.OperationID)
	}
	return t.deferWrite(fmt.Sprintf("finish item %d of operation %q", o.Seq, o.OperationID), &deferredChange{outcome: &o})
}

// InsertAudit records an operator command, deferred: a duplicate id fails the
// transaction's next statement or its commit.
func (t *tx) InsertAudit(ctx context.Context, a *store.AuditEntry) error {
	if a.ID == "" || a.Actor == "" || a.Command == "" || a.Result == "" {
		return errors.New("insert audit: id, actor, command and result are required")
	}
	if a.Request != nil && !jsonValid(a.Request) {
		return fmt.Errorf("insert audit %q: request: invalid JSON value %.40q", a.ID, a.Request)
	}
	return t.deferWrite(fmt.Sprintf("insert audit %q", a.ID), &deferredChange{audit: a})
}

// deferWrite queues a deferred write (see Apply).
func (t *tx) deferWrite(op string, d *deferredChange) error {
	if !t.write {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	if t.poisoned != nil {
		return fmt.Errorf("%s: %w", op, t.poisoned)
	}
	t.begun = true
	t.pre = append(t.pre, pending{op: op, change: d})
	return nil
}

const (
	// finishItemsSQL writes item outcomes; an outcome whose item is not pending under its
	// owner's lock raises CK410 (cockpit_lost_item), which fails the transaction. The keys
	// of one statement are distinct (merged.queue), so all were written when as many rows
	// were, and the lost one is looked for only then.
	//
	// Each outcome finds its row by primary key, and the statement tests nothing of the
	// table's rows but through the join with v: a restriction such as state = 'pending'
	// (or operation_id = ANY) let the planner, without statistics for the items an
	// operation just inserted, read them all through operation_items_pending or
	// operation_items_state and filter by seq: 2 ms per group commit at 10,000 pending
	// items, and the first item's outcome as slow as the last. The owner's test is the
	// pending test: an item that is not pending has no owner (finishing and skipping clear
	// it, a claim sets it on pending items only), and an outcome's owner is never empty
	// (FinishOperationItem).
	finishItemsSQL = `WITH v AS (SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
		$6::timestamptz[], $7::text[]) AS v(op, seq, state, code, error, done_at, owner)),
	done AS (UPDATE operation_items AS i SET state = v.state, code = v.code, error = v.error, owner = '',
		locked_until = NULL, done_at = v.done_at
		FROM v WHERE i.operation_id = v.op AND i.seq = v.seq AND i.owner = v.owner
		RETURNING i.operation_id, i.seq)
	SELECT cockpit_lost_item(v.op, v.seq) FROM v
	WHERE (SELECT count(*) FROM done) < cardinality($2::int[])
	AND NOT EXISTS (SELECT 1 FROM done WHERE done.operation_id = v.op AND done.seq = v.seq) LIMIT 1`
	insertAuditsSQL = `INSERT INTO audit (` + sqlstore.AuditCols + `)
	SELECT a, b, c, d, e, f, g::jsonb, h, i, j FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[],
		$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) AS x(a, b, c, d, e, f, g, h, i, j)`
)

func outcomeArgs(os []*store.ItemOutcome) []any {
	n := len(os)
	op, state, code, msg, owner := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq := make([]int32, n)
	at := make([]time.Time, n)
	for i, o := range os {
		op[i], seq[i], state[i], code[i], msg[i], at[i], owner[i] = o.OperationID, int32(o.Seq), o.State, o.Code, o.Error, o.At, o.Owner
	}
	return []any{op, seq, state, code, msg, at, owner}
}

func auditArgs(as []*store.AuditEntry) []any {
	n := len(as)
	id, actor, command, target, reason, result, msg, inst := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]time.Time, n)
	req := make([]*string, n)
	for i, a := range as {
		id[i], at[i], actor[i], command[i], target[i], reason[i], result[i], msg[i], inst[i] = a.ID, a.Time, a.Actor,
			a.Command, a.Target, a.Reason, a.Result, a.Error, a.InstanceID
		if a.Request != nil {
			s, _ := jsonArg(a.Request) // checked by InsertAudit
			req[i] = &s
		}
	}
	return []any{id, at, actor, command, target, reason, req, result, msg, inst}
}
