package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// tx implements store.Tx on one pooled connection.
//
// Transaction control travels with the statements: BEGIN, SAVEPOINT, RELEASE and ROLLBACK
// TO are queued in pre and sent in the same pipelined batch as the next statement (or
// COMMIT), in order, so the server sees exactly the sequence the caller asked for, one
// round trip later at no extra cost. Invariant: whatever is in pre has not been sent, and
// every send empties pre; so a SAVEPOINT still in pre has nothing sent after it.
type tx struct {
	conn   *pgx.Conn
	write  bool
	traced bool

	begun bool      // BEGIN has been sent: the server has a transaction to end
	pre   []pending // statements to send before the next one: control statements and deferred Applies
	sps   []string  // open savepoints, innermost last
	// locked: the write lock (writeLockSQL) is held; lockDepth is len(sps) when it was
	// taken, so a rollback to an outer savepoint (which releases it) is noticed.
	locked    bool
	lockDepth int
	// lockUnsent: the write lock is queued in pre and not sent yet.
	lockUnsent bool
	// failed: a statement failed, so the server's (sub)transaction is aborted until a
	// ROLLBACK TO, which RollbackTo then sends at once.
	failed bool
	// poisoned: a deferred Apply failed when it reached the server. Its command had already
	// returned, so the transaction cannot be repaired by a savepoint: every later call
	// fails with this error, Write fails, and the engine re-runs the batch's commands.
	poisoned error
	// completed holds the element completions counted by Apply, per savepoint level
	// (completed[0] is the transaction's own), written with one upsert before COMMIT:
	// the same few counter rows, updated once per Apply, cost a new row version each.
	completed []map[[2]string]int64
}

// pending is a statement waiting for the next round trip: a control statement (text) or
// a deferred Apply (queue and read).
type pending struct {
	text  string
	op    string
	queue func(b *pgx.Batch)
	read  func(br pgx.BatchResults) error
	// change is a deferred Apply; consecutive ones are merged when sent.
	change *deferredChange
}

func control(text string) pending { return pending{text: text} }

func newTx(conn *pgx.Conn, write bool) *tx {
	t := &tx{conn: conn, write: write, traced: conn.Config().Tracer != nil, pre: make([]pending, 0, 8)}
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
		if t.locked && t.lockUnsent {
			t.locked = false // maybe never taken; taking it again is harmless
		}
	}
	t.lockUnsent = false
	if t.poisoned != nil {
		return fmt.Errorf("%s: %w", op, t.poisoned)
	}
	return markUnavailable(err)
}

// lockForWrite queues the write lock before the first Apply of the transaction: event seqs
// must be handed out in commit order (the outbox and the metrics projector read the
// history by seq), so transactions that insert events commit one at a time. Other writes
// (job locks, leases, the outbox cursor, audit rows) do not take it: a job fetch does not
// wait for a group commit, nor a group commit for a fetch.
func (t *tx) lockForWrite() {
	if t.locked {
		return
	}
	t.pre = append(t.pre, control(writeLockSQL), control(noSeqScanSQL))
	t.locked, t.lockDepth, t.lockUnsent = true, len(t.sps), true
}

// queuePending moves the pending statements into b and returns them for readPending.
// Each run of deferred Applies becomes one merged write.
func (t *tx) queuePending(b *pgx.Batch) []pending {
	pre := make([]pending, 0, len(t.pre))
	var run []deferredChange
	// lateLock: the write lock was queued right before a run of Changes; it is sent just
	// before that run's events, so the run's other writes execute before it is taken (on
	// a shared store another transaction's may run meanwhile) and the lock is held only
	// for the events insert and the commit.
	lateLock := false
	flush := func() {
		if len(run) == 0 {
			return
		}
		stmts := mergeChanges(run).queue(b, lateLock)
		lateLock = false
		n := len(run)
		run = run[:0:0]
		pre = append(pre, pending{op: fmt.Sprintf("apply (%d changes)", n), read: func(br pgx.BatchResults) error {
			for _, st := range stmts {
				if err := st.read(br); err != nil {
					return fmt.Errorf("%s: %w", st.what, err)
				}
			}
			return nil
		}})
	}
	for k, p := range t.pre {
		if p.change != nil {
			run = append(run, *p.change)
			continue
		}
		flush()
		if p.text == writeLockSQL && t.changeFollows(k) {
			lateLock = true
			continue
		}
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

// changeFollows reports whether pre[k]'s next entries, past the planner setting, are a
// deferred Change (so nothing else happens between the write lock and that run).
func (t *tx) changeFollows(k int) bool {
	for _, p := range t.pre[k+1:] {
		if p.text == noSeqScanSQL {
			continue
		}
		return p.change != nil
	}
	return false
}

// readPending reads the results of the pending statements. A deferred Apply that fails
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
	t.queueCompleted()
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
	if !isIdent(name) {
		return fmt.Errorf("savepoint %q: invalid savepoint name", name)
	}
	if t.poisoned != nil {
		return fmt.Errorf("savepoint %q: %w", name, t.poisoned)
	}
	t.sps = append(t.sps, name)
	t.pre = append(t.pre, control("SAVEPOINT "+name))
	t.completedLevel(len(t.sps))
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
	// The savepoint stays; those inside it are gone. A write lock taken inside it is
	// released by the server, and so are the completions counted inside it.
	t.sps = t.sps[:i+1]
	if len(t.completed) > i+1 {
		t.completed = t.completed[:i+1]
	}
	if t.locked && t.lockDepth > i {
		t.locked = false
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
	if t.locked && t.lockDepth > i {
		t.lockDepth = i // the lock now belongs to the enclosing (sub)transaction
	}
	t.mergeCompleted(i)
	if k := t.unsentSavepoint(name); k >= 0 && t.onlyDeferredAfter(k) {
		// Nothing inside it reached the server and nothing inside it needs it (deferred
		// Applies and the write lock belong to the enclosing transaction now): neither
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

// onlyDeferredAfter reports whether pre holds nothing after index k but deferred Applies
// and the write lock (with its planner setting).
func (t *tx) onlyDeferredAfter(k int) bool {
	for _, p := range t.pre[k+1:] {
		if p.change == nil && p.text != writeLockSQL && p.text != noSeqScanSQL {
			return false
		}
	}
	return true
}

// Helpers for one statement.

// queryOne runs a single-row query; no row is store.ErrNotFound.
func queryOne[T any](ctx context.Context, t *tx, op, what string, sql string, scan func(pgx.Row) (*T, error), args ...any) (*T, error) {
	var v *T
	err := t.do(ctx, op, false, func(b *pgx.Batch) { b.Queue(sql, args...) }, func(br pgx.BatchResults) error {
		var err error
		v, err = scan(br.QueryRow())
		return err
	})
	if err != nil {
		return nil, wrapErr("get "+what, err)
	}
	return v, nil
}

// queryAll runs a query and scans every row.
func queryAll[T any](ctx context.Context, t *tx, op string, write bool, sql string, scan func(pgx.Row) (*T, error), args ...any) ([]*T, error) {
	var out []*T
	err := t.do(ctx, op, write, func(b *pgx.Batch) { b.Queue(sql, args...) }, func(br pgx.BatchResults) error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		out, err = collect(rows, scan)
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

// Definitions.

func (t *tx) InsertDefinition(ctx context.Context, d *store.Definition) error {
	xml := d.XML
	if xml == nil {
		xml = []byte{}
	}
	_, err := t.exec(ctx, "insert definition", insertDefinitionSQL, d.ID, d.Key, d.Version, d.Name, d.Checksum, d.Resource, xml, d.DeployedAt)
	if err != nil {
		return wrapErr(fmt.Sprintf("insert definition %s version %d", d.Key, d.Version), err)
	}
	return nil
}

func (t *tx) GetDefinition(ctx context.Context, id string) (*store.Definition, error) {
	return queryOne(ctx, t, "get definition", "definition "+strconv.Quote(id), getDefinitionSQL, scanDefinition, id)
}

func (t *tx) LatestDefinition(ctx context.Context, key string) (*store.Definition, error) {
	return queryOne(ctx, t, "latest definition", "latest definition "+strconv.Quote(key), latestDefinitionSQL, scanDefinition, key)
}

func (t *tx) DefinitionByVersion(ctx context.Context, key string, version int) (*store.Definition, error) {
	return queryOne(ctx, t, "definition by version", fmt.Sprintf("definition %q version %d", key, version),
		definitionByVersionSQL, scanDefinition, key, version)
}

func (t *tx) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error) {
	q := newQuery(listDefinitionsSQL)
	if f.Key != "" {
		q.and(`key = ?`, f.Key)
	}
	if f.LatestOnly {
		q.and(latestOnlyCond)
	}
	q.tail(` ORDER BY key, version`)
	ds, err := queryAll(ctx, t, "list definitions", false, q.String(), scanDefinition, q.args...)
	if err != nil {
		return nil, wrapErr("list definitions", err)
	}
	return ds, nil
}

// Instances.

func (t *tx) GetInstance(ctx context.Context, id string) (*store.Instance, error) {
	return queryOne(ctx, t, "get instance", "instance "+strconv.Quote(id), getInstanceSQL, scanInstance, id)
}

// LoadInstance reads the aggregate with one pipelined batch of seven lookups.
func (t *tx) LoadInstance(ctx context.Context, id string) (*store.Aggregate, error) {
	a := &store.Aggregate{}
	err := t.do(ctx, "load instance", false, func(b *pgx.Batch) {
		b.Queue(getInstanceSQL, id)
		b.Queue(loadTokensSQL, id)
		b.Queue(loadVariablesSQL, id)
		b.Queue(loadJobsSQL, id)
		b.Queue(loadSubscriptionsSQL, id)
		b.Queue(loadTasksSQL, id)
		b.Queue(loadIncidentsSQL, id)
	}, func(br pgx.BatchResults) error {
		var err error
		if a.Instance, err = scanInstance(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := loadRows(br, &a.Tokens, scanToken); err != nil {
			return err
		}
		if err := loadRows(br, &a.Variables, scanVariable); err != nil {
			return err
		}
		if err := loadRows(br, &a.Jobs, scanJob); err != nil {
			return err
		}
		if err := loadRows(br, &a.Subscriptions, scanSubscription); err != nil {
			return err
		}
		if err := loadRows(br, &a.Tasks, scanUserTask); err != nil {
			return err
		}
		return loadRows(br, &a.Incidents, scanIncident)
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("load instance %q", id), err)
	}
	if a.Instance == nil {
		return nil, fmt.Errorf("load instance %q: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func loadRows[T any](br pgx.BatchResults, dst *[]*T, scan func(pgx.Row) (*T, error)) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	*dst, err = collect(rows, scan)
	return err
}

// Apply queues one Change; it reaches the server with the transaction's next round trip,
// merged with its neighbours (merge.go). A stale version then fails that round trip (or
// COMMIT) with store.ErrConflict, and the whole transaction with it. Within each row kind
// deletes apply before puts: an id both deleted and put ends up present.
func (t *tx) Apply(ctx context.Context, c *store.Change) error {
	if !t.write {
		return fmt.Errorf("apply: %w", ErrReadOnly)
	}
	if len(c.DeleteVariables) > 0 && c.Instance == nil {
		return errors.New("apply: variables deleted without an instance")
	}
	// Everything that can fail in Go is checked before anything is sent.
	var varValues []string
	if len(c.PutVariables) > 0 {
		varValues = make([]string, len(c.PutVariables))
		for i, v := range c.PutVariables {
			var err error
			if varValues[i], err = jsonArg(v.Value); err != nil {
				return fmt.Errorf("apply: put variable %q: %w", v.Name, err)
			}
		}
	}
	for _, e := range c.Events {
		if e.Data != nil && !jsonValid(e.Data) {
			return fmt.Errorf("apply: event %q: invalid JSON data", e.ID)
		}
	}

	// Deferred: the Change goes to the server with the next statement of the transaction
	// (another command's read, or COMMIT), merged with the Changes queued beside it (see
	// merge.go), so a group commit of many commands costs one round trip and a handful of
	// statements instead of several per command. A failure then surfaces there and fails
	// the whole transaction (tx.poisoned); the engine re-runs the batch's commands.
	if t.poisoned != nil {
		return fmt.Errorf("apply: %w", t.poisoned)
	}
	t.lockForWrite()
	t.begun = true
	t.countCompleted(c.Events)
	t.pre = append(t.pre, pending{op: "apply", change: &deferredChange{c: c, vals: varValues}})
	return nil
}

// jsonValid is jsonArg's check without its copy (empty means null).
func jsonValid(b []byte) bool { return len(b) == 0 || json.Valid(b) }

func tokenArgs(tks []*store.Token) []any {
	n := len(tks)
	id, inst, el, scope, state, flow := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	for i, x := range tks {
		id[i], inst[i], el[i], scope[i], state[i], flow[i], created[i] = x.ID, x.InstanceID, x.ElementID, x.ScopeID,
			x.State, x.Flow, x.CreatedAt
	}
	return []any{id, inst, el, scope, state, flow, created}
}

func variableArgs(vs []*store.Variable, vals []string) []any {
	n := len(vs)
	inst, name, typ := make([]string, n), make([]string, n), make([]string, n)
	updated := make([]time.Time, n)
	for i, v := range vs {
		inst[i], name[i], typ[i], updated[i] = v.InstanceID, v.Name, v.Type, v.UpdatedAt
	}
	return []any{inst, name, typ, vals, updated}
}

func jobArgs(js []*store.Job) []any {
	n := len(js)
	id, kind, typ, inst, tok, el, defID, defKey := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	retries, attempt := make([]int32, n), make([]int32, n)
	due, created := make([]time.Time, n), make([]time.Time, n)
	suspended := make([]bool, n)
	owner, repeat, lastErr, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	locked := make([]*time.Time, n)
	for i, j := range js {
		id[i], kind[i], typ[i], inst[i], tok[i], el[i], defID[i], defKey[i] = j.ID, j.Kind, j.Type, j.InstanceID,
			j.TokenID, j.ElementID, j.DefinitionID, j.DefinitionKey
		retries[i], attempt[i] = int32(j.Retries), int32(j.Attempt)
		due[i], suspended[i], owner[i], locked[i] = j.DueAt, j.Suspended, j.LockOwner, j.LockedUntil
		repeat[i], lastErr[i], details[i], created[i] = j.Repeat, j.LastError, j.ErrorDetails, j.CreatedAt
	}
	return []any{id, kind, typ, inst, tok, el, defID, defKey, retries, attempt, due, suspended, owner, locked, repeat,
		lastErr, details, created}
}

func subscriptionArgs(ss []*store.Subscription) []any {
	n := len(ss)
	id, inst, tok, el, defID, defKey, name, key := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	for i, s := range ss {
		id[i], inst[i], tok[i], el[i], defID[i], defKey[i], name[i], key[i], created[i] = s.ID, s.InstanceID, s.TokenID,
			s.ElementID, s.DefinitionID, s.DefinitionKey, s.MessageName, s.CorrelationKey, s.CreatedAt
	}
	return []any{id, inst, tok, el, defID, defKey, name, key, created}
}

func taskArgs(us []*store.UserTask) []any {
	n := len(us)
	id, inst, tok, el, defKey, name, assignee, groups, form, state := make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	due, completed := make([]*time.Time, n), make([]*time.Time, n)
	for i, u := range us {
		id[i], inst[i], tok[i], el[i], defKey[i], name[i], assignee[i], groups[i], form[i], state[i] = u.ID, u.InstanceID,
			u.TokenID, u.ElementID, u.DefinitionKey, u.Name, u.Assignee, u.CandidateGroups, u.FormKey, u.State
		created[i], due[i], completed[i] = u.CreatedAt, u.DueAt, u.CompletedAt
	}
	return []any{id, inst, tok, el, defKey, name, assignee, groups, form, state, created, due, completed}
}

func incidentArgs(is []*store.Incident) []any {
	n := len(is)
	id, inst, tok, el, defKey, job, typ, msg, details, state := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n)
	created := make([]time.Time, n)
	resolved := make([]*time.Time, n)
	for i, x := range is {
		id[i], inst[i], tok[i], el[i], defKey[i], job[i], typ[i], msg[i], details[i], state[i] = x.ID, x.InstanceID,
			x.TokenID, x.ElementID, x.DefinitionKey, x.JobID, x.Type, x.Message, x.Details, x.State
		created[i], resolved[i] = x.CreatedAt, x.ResolvedAt
	}
	return []any{id, inst, tok, el, defKey, job, typ, msg, details, state, created, resolved}
}

func eventArgs(evs []*store.Event) []any {
	n := len(evs)
	id, inst, defID, defKey, typ, el, elType, tok, job, inc := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n)
	iseq := make([]int64, n)
	at := make([]time.Time, n)
	data := make([]*string, n)
	for i, e := range evs {
		id[i], inst[i], iseq[i], defID[i], defKey[i], typ[i], el[i], elType[i], tok[i], job[i], inc[i] = e.ID, e.InstanceID,
			e.InstanceSeq, e.DefinitionID, e.DefinitionKey, string(e.Type), e.ElementID, e.ElementType, e.TokenID, e.JobID, e.IncidentID
		at[i], data[i] = e.Time, nullJSONArg(e.Data)
	}
	return []any{id, inst, iseq, defID, defKey, typ, el, elType, tok, job, inc, at, data}
}

// ListVariables returns the variables of the given instances, by instance id and name.
func (t *tx) ListVariables(ctx context.Context, instanceIDs []string) ([]*store.Variable, error) {
	if len(instanceIDs) == 0 {
		return nil, nil
	}
	vs, err := queryAll(ctx, t, "list variables", false, listVariablesSQL, scanVariable, instanceIDs)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("list variables of %d instances", len(instanceIDs)), err)
	}
	return vs, nil
}

// instanceCursor encodes the keyset position of the last instance of a page (the same
// form as the SQLite store's: base64 of "micros:id").
func instanceCursor(in *store.Instance) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(in.StartedAt.UnixMicro(), 10) + ":" + in.ID))
}

func parseInstanceCursor(s string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	ts, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return time.Time{}, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	started, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || started < store.MinCursorMicros || started > store.MaxCursorMicros || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return time.Time{}, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	return time.UnixMicro(started).UTC(), id, nil
}

// Page sizes of ListInstances.
const (
	defaultInstancePage = 50
	maxInstancePage     = 1000
)

func (t *tx) ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error) {
	n := f.Limit
	if n <= 0 {
		n = defaultInstancePage
	}
	n = min(n, maxInstancePage)
	q := newQuery(listInstancesSQL)
	if f.DefinitionKey != "" {
		q.and(`definition_key = ?`, f.DefinitionKey)
	}
	if f.DefinitionID != "" {
		q.and(`definition_id = ?`, f.DefinitionID)
	}
	switch len(f.States) {
	case 0:
	case 1:
		q.and(`state = ?`, f.States[0])
	default:
		q.and(`state = ANY(?::text[])`, f.States)
	}
	if f.BusinessKey != "" {
		q.and(`business_key = ?`, f.BusinessKey)
	}
	if f.VariableName != "" {
		value, err := jsonArg(f.VariableValue)
		if err != nil {
			return nil, fmt.Errorf("list instances: variable %q: %w", f.VariableName, err)
		}
		q.and(variableCond, f.VariableName, value, value)
	}
	if !f.StartedAfter.IsZero() {
		q.and(`started_at >= ?`, f.StartedAfter)
	}
	if !f.StartedBefore.IsZero() {
		q.and(`started_at < ?`, f.StartedBefore)
	}
	if f.HasIncident != nil {
		if *f.HasIncident {
			q.and(`incident_count > 0`)
		} else {
			q.and(`incident_count = 0`)
		}
	}
	if f.WaitingAt != "" {
		q.and(waitingAtCond, f.WaitingAt)
	}
	if f.Stalled != nil {
		q.and(stalledFilter(*f.Stalled))
	}
	if f.After != "" {
		started, id, err := parseInstanceCursor(f.After)
		if err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		q.and(instanceCursorCond, started, id)
	}
	q.tail(instanceOrder, n+1)
	ins, err := queryAll(ctx, t, "list instances", false, q.String(), scanInstance, q.args...)
	if err != nil {
		return nil, wrapErr("list instances", err)
	}
	page := &store.InstancePage{Instances: ins}
	if len(ins) > n {
		page.Instances = ins[:n]
		page.Next = instanceCursor(ins[n-1])
	}
	return page, nil
}

// Jobs.

func (t *tx) LockJobs(ctx context.Context, p store.LockJobsParams) ([]*store.Job, error) {
	if !t.write {
		return nil, fmt.Errorf("lock jobs: %w", ErrReadOnly)
	}
	if p.Limit <= 0 {
		return nil, fmt.Errorf("lock jobs: limit %d must be positive", p.Limit)
	}
	if p.Owner == "" {
		return nil, errors.New("lock jobs: owner required")
	}
	var kinds []string
	for _, k := range p.Kinds {
		if k == "" {
			kinds = nil // "" means all kinds
			break
		}
		kinds = append(kinds, k)
	}
	var types []string // nil: every service type
	if p.Types != nil {
		types = append(make([]string, 0, len(p.Types)), p.Types...)
	}
	jobs, err := queryAll(ctx, t, "lock jobs", true, lockJobsSQL, scanJob, p.Owner, p.LockUntil, p.Now, kinds, types, p.Limit)
	if err != nil {
		return nil, wrapErr("lock jobs", err)
	}
	// RETURNING yields rows in no particular order.
	slices.SortFunc(jobs, func(a, b *store.Job) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

func (t *tx) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return queryOne(ctx, t, "get job", "job "+strconv.Quote(id), getJobSQL, scanJob, id)
}

func (t *tx) PutJob(ctx context.Context, j *store.Job) error {
	if _, err := t.exec(ctx, "put job", upsertJobsSQL, jobArgs([]*store.Job{j})...); err != nil {
		return wrapErr(fmt.Sprintf("put job %q", j.ID), err)
	}
	return nil
}

func (t *tx) DeleteJob(ctx context.Context, id string) error {
	n, err := t.exec(ctx, "delete job", deleteJobSQL, id)
	if err != nil {
		return wrapErr(fmt.Sprintf("delete job %q", id), err)
	}
	if n == 0 {
		return fmt.Errorf("delete job %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteStartJobs(ctx context.Context, definitionKey string) error {
	if _, err := t.exec(ctx, "delete start jobs", deleteStartJobsSQL, definitionKey); err != nil {
		return wrapErr(fmt.Sprintf("delete start jobs of %q", definitionKey), err)
	}
	return nil
}

func (t *tx) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	q := newQuery(listJobsSQL)
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if f.Type != "" {
		q.and(`type = ?`, f.Type)
	}
	q.tail(` ORDER BY due_at, id LIMIT ?`, limit(f.Limit))
	jobs, err := queryAll(ctx, t, "list jobs", false, q.String(), scanJob, q.args...)
	if err != nil {
		return nil, wrapErr("list jobs", err)
	}
	return jobs, nil
}

func (t *tx) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var unlocked, locked *time.Time
	err := t.do(ctx, "next job due", false, func(b *pgx.Batch) { b.Queue(nextJobDueSQL) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&unlocked, &locked)
	})
	if err != nil {
		return time.Time{}, false, wrapErr("next job due", err)
	}
	switch {
	case unlocked != nil && locked != nil:
		if locked.Before(*unlocked) {
			return locked.UTC(), true, nil
		}
		return unlocked.UTC(), true, nil
	case unlocked != nil:
		return unlocked.UTC(), true, nil
	case locked != nil:
		return locked.UTC(), true, nil
	}
	return time.Time{}, false, nil
}

// Subscriptions.

func (t *tx) FindSubscriptions(ctx context.Context, name, key string) ([]*store.Subscription, error) {
	subs, err := queryAll(ctx, t, "find subscriptions", false, findSubscriptionsSQL, scanSubscription, name, key)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("find subscriptions for message %q key %q", name, key), err)
	}
	return subs, nil
}

func (t *tx) PutSubscription(ctx context.Context, s *store.Subscription) error {
	if _, err := t.exec(ctx, "put subscription", upsertSubscriptionsSQL, subscriptionArgs([]*store.Subscription{s})...); err != nil {
		return wrapErr(fmt.Sprintf("put subscription %q", s.ID), err)
	}
	return nil
}

func (t *tx) DeleteStartSubscriptions(ctx context.Context, definitionKey string) error {
	if _, err := t.exec(ctx, "delete start subscriptions", deleteStartSubscriptionsSQL, definitionKey); err != nil {
		return wrapErr(fmt.Sprintf("delete start subscriptions of %q", definitionKey), err)
	}
	return nil
}

// Queries for the cockpit.

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
