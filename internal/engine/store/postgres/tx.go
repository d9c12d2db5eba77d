package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// tx implements store.Tx on one pooled connection.
//
// Transaction control travels with the statements: BEGIN, SAVEPOINT, RELEASE and ROLLBACK
// TO are queued in pre and sent in the same pipelined batch as the next statement (or
// COMMIT), in order, so the server sees exactly the sequence the caller asked for, one
// round trip later at no extra cost. Invariant: whatever is in pre has not been sent, and
// every send empties pre, but for a read sent ahead (readAhead), which leaves the deferred
// writes and what follows them queued; so a SAVEPOINT still in pre has nothing sent after
// it but such reads, which change nothing a rollback to it would have to undo.
type tx struct {
	sqlstore.Queries
	conn   *pgx.Conn
	write  bool
	traced bool

	begun bool      // BEGIN has been sent: the server has a transaction to end
	pre   []pending // statements to send before the next one: control statements and deferred writes
	sps   []string  // open savepoints, innermost last
	// planned: the planner setting of the merged writes (noSeqScanSQL) is made;
	// planDepth is len(sps) when it was, so a rollback to an outer savepoint (which
	// undoes it) is noticed.
	planned   bool
	planDepth int
	// planUnsent: the planner setting is queued in pre and not sent yet.
	planUnsent bool
	// failed: a statement failed, so the server's (sub)transaction is aborted until a
	// ROLLBACK TO, which RollbackTo then sends at once.
	failed bool
	// poisoned: a deferred write (an Apply, an item outcome, an audit row) failed when it
	// reached the server. Its command had already returned, so the transaction cannot be
	// repaired by a savepoint: every later call fails with this error, Write fails, and
	// the engine re-runs the batch's commands.
	poisoned error
	// held is what the Applies keep back for COMMIT, per savepoint level (held[0] is
	// the transaction's own, held[n] inside the n-th open savepoint): their events and
	// element completions (see heldLevel).
	held []heldLevel
}

// pending is a statement waiting for the next round trip: a control statement (text), a
// statement with its own queue and read, or a deferred write (change).
type pending struct {
	text  string
	op    string
	queue func(b *pgx.Batch)
	read  func(br pgx.BatchResults) error
	// change is a deferred write (an Apply, an item outcome, an audit row); consecutive
	// ones are merged when sent.
	change *deferredChange
}

func control(text string) pending { return pending{text: text} }

func newTx(conn *pgx.Conn, write bool) *tx {
	t := &tx{conn: conn, write: write, traced: conn.Config().Tracer != nil, pre: make([]pending, 0, 8)}
	t.Queries = sqlstore.Queries{D: sqlstore.Postgres, C: t}
	if write {
		t.pre = append(t.pre, control(beginWriteSQL))
	} else {
		t.pre = append(t.pre, control(beginReadSQL))
	}
	return t
}

// do sends one pipelined batch: the queued control statements and deferred Applies (with
// the write lock an Apply queued), then what queue adds; read consumes the results of the
// latter in order. It is one round trip (plus one the first time a statement text is used on the
// connection, to prepare it).
func (t *tx) do(ctx context.Context, op string, write bool, queue func(b *pgx.Batch), read func(br pgx.BatchResults) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if t.poisoned != nil {
		return fmt.Errorf("%s: %w", op, t.poisoned)
	}
	if write && !t.write {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	if t.write {
		// The committer's statements are short and bounded by statement_timeout; an
		// uncancellable context spares pgx a watcher per statement. Write's own context
		// still ends the transaction.
		ctx = context.WithoutCancel(ctx)
	}
	ctx = t.withOp(ctx, op)
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(t.pre)+8)}
	pre := t.queuePending(b)
	t.begun = true
	queue(b)
	br := t.conn.SendBatch(ctx, b)
	err := t.readPending(br, pre)
	if err == nil {
		err = read(br)
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.failed = true
		if t.planned && t.planUnsent {
			t.planned = false // maybe never made; making it again is harmless
		}
	}
	t.planUnsent = false
	if t.poisoned != nil {
		return fmt.Errorf("%s: %w", op, t.poisoned)
	}
	return markUnavailable(err)
}

// readAhead sends a read that reads nothing the deferred writes write (the aggregate of
// an instance none of them changes) with the control statements queued before the first
// deferred write, and leaves that write and everything after it queued: the group
// commit's writes then stay one merged run sent with COMMIT, however many of its commands
// read an instance the engine's cache did not hold (a bulk operation's items). Sent with
// the read instead, the run would be split, and its statements would wait there for the
// rows the engine's previous batch, still committing, has locked.
//
// The read may reach the server before a SAVEPOINT queued ahead of it. That changes
// nothing for a read that succeeds; one that fails has aborted the server's transaction
// outside the savepoint that should have contained it, so it poisons the transaction (the
// engine then re-runs the batch's commands one by one).
func (t *tx) readAhead(ctx context.Context, op string, queue func(b *pgx.Batch), read func(br pgx.BatchResults) error) error {
	k := slices.IndexFunc(t.pre, func(p pending) bool { return p.change != nil })
	if k < 0 {
		return t.do(ctx, op, false, queue, read)
	}
	kept := slices.Clone(t.pre[k:])
	planUnsent := t.planUnsent && slices.ContainsFunc(kept, func(p pending) bool { return p.text == noSeqScanSQL })
	t.pre = t.pre[:k]
	failed := t.failed
	err := t.do(ctx, op, false, queue, read)
	t.pre = append(t.pre, kept...)
	t.planUnsent = t.planUnsent || planUnsent
	if t.failed && !failed && t.poisoned == nil {
		t.poisoned = wrapErr(op+" (read ahead of the deferred writes)", err)
	}
	return err
}

// changesInstance reports whether a deferred write still queued changes rows of the
// instance id. A Change is one instance's (run.flush): its rows are that instance's, so
// its Instance names them; one without an Instance might change any.
func (t *tx) changesInstance(id string) bool {
	for _, p := range t.pre {
		if d := p.change; d != nil && d.c != nil && (d.c.Instance == nil || d.c.Instance.ID == id) {
			return true
		}
	}
	return false
}

// planForWrite queues the planner setting of the merged writes before the first Apply
// of the transaction (see noSeqScanSQL).
func (t *tx) planForWrite() {
	if t.planned {
		return
	}
	t.pre = append(t.pre, control(noSeqScanSQL))
	t.planned, t.planDepth, t.planUnsent = true, len(t.sps), true
}

// queuePending moves the pending statements into b and returns them for readPending.
// Each run of deferred writes becomes one merged write.
func (t *tx) queuePending(b *pgx.Batch) []pending {
	pre := make([]pending, 0, len(t.pre))
	var run []deferredChange
	flush := func() {
		if len(run) == 0 {
			return
		}
		stmts := mergeChanges(run).queue(b)
		n := len(run)
		run = run[:0:0]
		pre = append(pre, pending{op: fmt.Sprintf("%d deferred writes", n), read: func(br pgx.BatchResults) error {
			for _, st := range stmts {
				if err := st.read(br); err != nil {
					return fmt.Errorf("%s: %w", st.what, err)
				}
			}
			return nil
		}})
	}
	for _, p := range t.pre {
		if p.change != nil {
			run = append(run, *p.change)
			continue
		}
		flush()
		if p.queue != nil {
			p.queue(b)
		} else {
			b.Queue(p.text)
		}
		pre = append(pre, p)
	}
	flush()
	t.pre = t.pre[:0]
	return pre
}

// readPending reads the results of the pending statements. A deferred write that fails
// poisons the transaction (see tx.poisoned).
func (t *tx) readPending(br pgx.BatchResults, pre []pending) error {
	for _, p := range pre {
		if p.read == nil {
			if _, err := br.Exec(); err != nil {
				return err
			}
			continue
		}
		if err := p.read(br); err != nil {
			t.poisoned = wrapErr(p.op+" (sent with the next statement)", err)
			return t.poisoned
		}
	}
	return nil
}

// commit ends the transaction: COMMIT for a write (with whatever is queued before it),
// and the same for a read, which has nothing to write.
func (t *tx) commit(ctx context.Context) error {
	if !t.begun {
		return nil // nothing was ever sent: there is no server transaction
	}
	if t.poisoned != nil {
		t.rollback(context.WithoutCancel(ctx))
		return t.poisoned
	}
	if t.failed {
		t.rollback(context.WithoutCancel(ctx))
		return errors.New("transaction aborted by a failed statement (roll back to a savepoint after an error)")
	}
	t.queueHeld()
	b := &pgx.Batch{}
	pre := t.queuePending(b)
	b.Queue(commitSQL)
	br := t.conn.SendBatch(t.withOp(ctx, "commit"), b)
	err := t.readPending(br, pre)
	if err == nil {
		var tag interface{ String() string }
		tag, err = br.Exec()
		// COMMIT of a transaction the server had aborted answers ROLLBACK, not an error.
		if err == nil && tag.String() == "ROLLBACK" {
			err = errors.New("transaction rolled back by the server")
		}
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		t.rollback(context.WithoutCancel(ctx))
		return err
	}
	t.begun = false
	return nil
}

// rollback ends the transaction without committing. Errors are not reported: a
// connection left in a transaction is destroyed by the pool when released.
func (t *tx) rollback(ctx context.Context) {
	if !t.begun {
		return
	}
	t.begun = false
	_, _ = t.conn.PgConn().Exec(ctx, rollbackSQL).ReadAll()
}

// Savepoints.

func (t *tx) Savepoint(ctx context.Context, name string) error {
	if !sqlstore.IsIdent(name) {
		return fmt.Errorf("savepoint %q: invalid savepoint name", name)
	}
	if t.poisoned != nil {
		return fmt.Errorf("savepoint %q: %w", name, t.poisoned)
	}
	t.sps = append(t.sps, name)
	t.pre = append(t.pre, control("SAVEPOINT "+name))
	t.heldLevel(len(t.sps))
	return nil
}

func (t *tx) findSavepoint(name string) int {
	for i := len(t.sps) - 1; i >= 0; i-- {
		if t.sps[i] == name {
			return i
		}
	}
	return -1
}

func (t *tx) RollbackTo(ctx context.Context, name string) error {
	if t.poisoned != nil {
		return fmt.Errorf("rollback to savepoint %q: %w", name, t.poisoned)
	}
	i := t.findSavepoint(name)
	if i < 0 {
		return fmt.Errorf("rollback to savepoint %q: no such savepoint", name)
	}
	// The savepoint stays; those inside it are gone. A planner setting made inside it is
	// undone by the server; the events and completions held inside it are dropped.
	t.sps = t.sps[:i+1]
	if len(t.held) > i+1 {
		t.held = t.held[:i+1]
	}
	if t.planned && t.planDepth > i {
		t.planned = false
	}
	if k := t.unsentSavepoint(name); k >= 0 {
		// Nothing inside it reached the server: forget what was queued after it.
		t.pre = t.pre[:k+1]
		return nil
	}
	text := "ROLLBACK TO SAVEPOINT " + name
	if !t.failed {
		t.pre = append(t.pre, control(text))
		return nil
	}
	// The server's transaction is aborted: it accepts nothing but the rollback, so send
	// it now, on its own. What was queued after the failure concerned savepoints inside
	// this one, which the rollback ends.
	t.pre = t.pre[:0]
	if _, err := t.conn.PgConn().Exec(context.WithoutCancel(ctx), text).ReadAll(); err != nil {
		return fmt.Errorf("%s: %w", text, err)
	}
	t.failed = false
	return nil
}

func (t *tx) Release(ctx context.Context, name string) error {
	if t.poisoned != nil {
		return fmt.Errorf("release savepoint %q: %w", name, t.poisoned)
	}
	i := t.findSavepoint(name)
	if i < 0 {
		return fmt.Errorf("release savepoint %q: no such savepoint", name)
	}
	t.sps = t.sps[:i]
	if t.planned && t.planDepth > i {
		t.planDepth = i // the setting now belongs to the enclosing (sub)transaction
	}
	t.foldHeld(i)
	if k := t.unsentSavepoint(name); k >= 0 && t.onlyDeferredAfter(k) {
		// Nothing inside it reached the server and nothing inside it needs it (deferred
		// Applies and the planner setting belong to the enclosing transaction now): neither
		// SAVEPOINT nor RELEASE needs to be sent, and the Applies can merge with their
		// neighbours. This is the group commit's common case.
		t.pre = slices.Delete(t.pre, k, k+1)
		return nil
	}
	t.pre = append(t.pre, control("RELEASE SAVEPOINT "+name))
	return nil
}

// unsentSavepoint returns the index in pre of the SAVEPOINT statement of the innermost
// savepoint called name, or -1 when it was sent. Everything in pre is unsent, and was
// queued after everything sent, so the last SAVEPOINT name there is the innermost one.
func (t *tx) unsentSavepoint(name string) int {
	text := "SAVEPOINT " + name
	for k := len(t.pre) - 1; k >= 0; k-- {
		if t.pre[k].text == text {
			return k
		}
	}
	return -1
}

// onlyDeferredAfter reports whether pre holds nothing after index k but deferred writes
// and their planner setting.
func (t *tx) onlyDeferredAfter(k int) bool {
	for _, p := range t.pre[k+1:] {
		if p.change == nil && p.text != noSeqScanSQL {
			return false
		}
	}
	return true
}

// Helpers for one statement.

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, t *tx, op string, write bool, sql string, scan func(sqlstore.Scanner) (*T, error), args ...any) ([]*T, error) {
	var out []*T
	err := t.do(ctx, op, write, func(b *pgx.Batch) { b.Queue(sql, args...) }, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = sqlstore.Collect(rows, scan)
		return err
	})
	return out, err
}

// exec runs one writing statement and returns the number of rows it affected.
func (t *tx) exec(ctx context.Context, op string, sql string, args ...any) (int64, error) {
	var n int64
	err := t.do(ctx, op, true, func(b *pgx.Batch) { b.Queue(sql, args...) }, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// Rows implements sqlstore.Conn: one statement, sent with whatever is pending.
func (t *tx) Rows(ctx context.Context, op string, st sqlstore.Statement, row func(sqlstore.Scanner) error) error {
	return t.do(ctx, op, st.Write, func(b *pgx.Batch) { b.Queue(st.Text, st.Args...) }, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		return sqlstore.Each(rows, row)
	})
}

// Exec implements sqlstore.Conn.
func (t *tx) Exec(ctx context.Context, op string, st sqlstore.Statement) (int64, error) {
	return t.exec(ctx, op, st.Text, st.Args...)
}

// Err implements sqlstore.Conn.
func (t *tx) Err(what string, err error) error { return wrapErr(what, err) }
