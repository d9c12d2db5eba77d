package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// tx implements store.Tx on one database/sql transaction: the shared statements through
// sqlstore.Queries (tx is its Conn), the rest here.
type tx struct {
	sqlstore.Queries
	tx    *sql.Tx
	write bool
	// shared are the pool's sqlstore statements by ID (nil: not prepared on this pool, a
	// write statement on the readers); sharedBound holds them bound to this transaction,
	// made on first use, in sharedBuf (no allocation per transaction) while they fit.
	shared      []*sql.Stmt
	sharedBound []*sql.Stmt
	sharedBuf   [64]*sql.Stmt
	// prepared are the pool's statements; bound holds them bound to this transaction, made
	// on first use (database/sql reuses the statement already prepared on the connection).
	prepared *[numStmts]*sql.Stmt
	bound    [numStmts]*sql.Stmt
	// savepoints holds SAVEPOINT/RELEASE/ROLLBACK TO statements by text: the engine puts
	// each command of a batch under the same savepoint, so each is prepared once per
	// transaction rather than parsed per command.
	savepoints map[string]*sql.Stmt
	// built holds the multi-row event inserts prepared at Open, by text (writer only; nil on
	// readers).
	built map[string]*sql.Stmt
	// statsPrepared are the store's element stats upserts by row count (writer only);
	// stats holds them bound to this transaction, made on first use: nearly every Apply
	// runs one.
	statsPrepared *[statsChunk + 1]*sql.Stmt
	stats         [statsChunk + 1]*sql.Stmt
}

// builtStmt returns a multi-row statement prepared at Open, bound to this transaction,
// or nil on readers. (Preparing inside a transaction is not possible: the writer has one
// connection, and the transaction holds it.)
func (t *tx) builtStmt(ctx context.Context, text string) *sql.Stmt {
	st := t.built[text]
	if st == nil {
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

func (t *tx) stmt(ctx context.Context, id stmtID) *sql.Stmt {
	if st := t.bound[id]; st != nil {
		return st
	}
	st := t.tx.StmtContext(ctx, t.prepared[id])
	t.bound[id] = st
	return st
}

// writable fails a write method called in a read transaction.
func (t *tx) writable(op string) error {
	if !t.write {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

func (t *tx) exec(ctx context.Context, id stmtID, args ...any) (sql.Result, error) {
	return t.stmt(ctx, id).ExecContext(ctx, args...)
}

func queryAll[T any](ctx context.Context, t *tx, id stmtID, scan func(scanner) (*T, error), args ...any) ([]*T, error) {
	rows, err := t.stmt(ctx, id).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, scan)
}

// Savepoints.

func (t *tx) Savepoint(ctx context.Context, name string) error {
	return t.savepoint(ctx, "SAVEPOINT ", name)
}

func (t *tx) RollbackTo(ctx context.Context, name string) error {
	return t.savepoint(ctx, "ROLLBACK TO ", name)
}

func (t *tx) Release(ctx context.Context, name string) error {
	return t.savepoint(ctx, "RELEASE ", name)
}

func (t *tx) savepoint(ctx context.Context, verb, name string) error {
	// The name is spliced into the statement (SQL has no parameter for it), so only plain
	// identifiers are accepted.
	if !sqlstore.IsIdent(name) {
		return fmt.Errorf("%s%q: invalid savepoint name", verb, name)
	}
	text := verb + name
	st := t.savepoints[text]
	if st == nil {
		var err error
		if st, err = t.tx.PrepareContext(ctx, text); err != nil {
			return fmt.Errorf("%s: %w", text, err)
		}
		if t.savepoints == nil {
			t.savepoints = make(map[string]*sql.Stmt, 3)
		}
		t.savepoints[text] = st
	}
	if _, err := st.ExecContext(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("%s: %w", text, err)
	}
	return nil
}

// Instances.

func (t *tx) LoadInstance(ctx context.Context, id string) (*store.Aggregate, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load instance %q: %w", id, err)
	}
	// An uncancellable context spares the driver a watcher goroutine; the query is a
	// handful of index lookups.
	rows, err := t.stmt(ctx, qLoadInstance).QueryContext(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, fmt.Errorf("load instance %q: %w", id, err)
	}
	defer rows.Close()
	a := &store.Aggregate{}
	vals := make(valueRow, loadWidth)
	dest := make([]any, loadWidth)
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("load instance %q: %w", id, err)
		}
		row := vals[1:]
		switch kind, _ := vals[0].(int64); kind {
		case kindInstance:
			a.Instance, err = sqlstore.SQLite.ScanInstance(row)
		case kindToken:
			err = appendRow(&a.Tokens, row, sqlstore.SQLite.ScanToken)
		case kindVariable:
			err = appendRow(&a.Variables, row, sqlstore.SQLite.ScanVariable)
		case kindJob:
			err = appendRow(&a.Jobs, row, sqlstore.SQLite.ScanJob)
		case kindSubscription:
			err = appendRow(&a.Subscriptions, row, sqlstore.SQLite.ScanSubscription)
		case kindTask:
			err = appendRow(&a.Tasks, row, sqlstore.SQLite.ScanUserTask)
		case kindIncident:
			err = appendRow(&a.Incidents, row, sqlstore.SQLite.ScanIncident)
		case kindCompensation:
			err = appendRow(&a.Compensations, row, sqlstore.SQLite.ScanCompensation)
		default:
			err = fmt.Errorf("unknown row kind %v", vals[0])
		}
		if err != nil {
			return nil, fmt.Errorf("load instance %q: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load instance %q: %w", id, err)
	}
	if a.Instance == nil {
		return nil, fmt.Errorf("load instance %q: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func appendRow[T any](list *[]*T, row valueRow, scan func(scanner) (*T, error)) error {
	v, err := scan(row)
	if err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// Apply writes one Change. The instance row goes first, so that a version conflict returns
// before anything else of the change is written. Within each row kind deletes run before
// puts: an id both deleted and put ends up present.
//
// Statements run with a context that is not cancelled: the driver would start a watcher
// goroutine per statement otherwise, which costs more than the statement. Cancellation
// is still honoured: Apply checks ctx first, and database/sql rolls the transaction back
// when the context given to Write ends before the commit.
func (t *tx) Apply(ctx context.Context, c *store.Change) error {
	if err := t.writable("apply"); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	ctx = context.WithoutCancel(ctx)
	if in := c.Instance; in != nil {
		if c.Created {
			if _, err := t.exec(ctx, qInsertInstance, in.ID, in.DefinitionID, in.DefinitionKey, in.DefinitionVersion,
				in.BusinessKey, in.State, in.Version, in.IncidentCount, micros(in.StartedAt), nullMicros(in.EndedAt),
				in.EventSeq, in.ParentInstanceID, in.ParentTokenID, in.ParentElementID, in.CallDepth); err != nil {
				return writeErr(fmt.Sprintf("insert instance %q", in.ID), err)
			}
		} else {
			var res sql.Result
			var err error
			if c.Migrated {
				res, err = t.exec(ctx, qMigrateInstance, in.BusinessKey, in.State, in.Version, in.IncidentCount,
					nullMicros(in.EndedAt), in.EventSeq, in.DefinitionID, in.DefinitionKey, in.DefinitionVersion,
					in.ID, in.Version-1)
			} else {
				res, err = t.exec(ctx, qUpdateInstance, in.BusinessKey, in.State, in.Version, in.IncidentCount,
					nullMicros(in.EndedAt), in.EventSeq, in.ID, in.Version-1)
			}
			if err != nil {
				return writeErr(fmt.Sprintf("update instance %q", in.ID), err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("update instance %q: %w", in.ID, err)
			} else if n == 0 {
				return fmt.Errorf("update instance %q to version %d: %w", in.ID, in.Version, store.ErrConflict)
			}
		}
	}

	for _, id := range c.DeleteTokens {
		if _, err := t.exec(ctx, qDeleteToken, id); err != nil {
			return fmt.Errorf("delete token %q: %w", id, err)
		}
	}
	for _, tk := range c.PutTokens {
		if _, err := t.exec(ctx, qUpsertToken, tk.ID, tk.InstanceID, tk.ElementID, tk.ScopeID, tk.State, tk.Flow,
			micros(tk.CreatedAt)); err != nil {
			return writeErr(fmt.Sprintf("put token %q", tk.ID), err)
		}
	}

	if len(c.DeleteVariables) > 0 {
		if c.Instance == nil {
			return errors.New("apply: variables deleted without an instance")
		}
		for _, k := range c.DeleteVariables {
			if _, err := t.exec(ctx, qDeleteVariable, c.Instance.ID, k.Scope, k.Name); err != nil {
				return fmt.Errorf("delete variable %q: %w", k.Name, err)
			}
		}
	}
	for _, v := range c.PutVariables {
		text, err := sqlstore.SQLite.JSONValue(v.Value)
		if err != nil {
			return fmt.Errorf("put variable %q: %w", v.Name, err)
		}
		if _, err := t.exec(ctx, qUpsertVariable, v.InstanceID, v.Name, v.Type, text, micros(v.UpdatedAt), v.Scope); err != nil {
			return writeErr(fmt.Sprintf("put variable %q", v.Name), err)
		}
	}

	for _, id := range c.DeleteJobs {
		if _, err := t.execShared(ctx, sqlstore.DeleteJob, id); err != nil {
			return fmt.Errorf("delete job %q: %w", id, err)
		}
	}
	for _, j := range c.PutJobs {
		if _, err := t.execShared(ctx, sqlstore.UpsertJob, sqlstore.SQLite.JobArgs(j)...); err != nil {
			return writeErr(fmt.Sprintf("put job %q", j.ID), err)
		}
	}

	for _, id := range c.DeleteSubs {
		if _, err := t.exec(ctx, qDeleteSubscription, id); err != nil {
			return fmt.Errorf("delete subscription %q: %w", id, err)
		}
	}
	for _, s := range c.PutSubs {
		if _, err := t.execShared(ctx, sqlstore.UpsertSubscription, sqlstore.SQLite.SubscriptionArgs(s)...); err != nil {
			return writeErr(fmt.Sprintf("put subscription %q", s.ID), err)
		}
	}

	for _, u := range c.PutTasks {
		if _, err := t.exec(ctx, qUpsertTask, u.ID, u.InstanceID, u.TokenID, u.ElementID, u.DefinitionKey, u.Name,
			u.Assignee, u.CandidateGroups, u.FormKey, u.State, micros(u.CreatedAt), nullMicros(u.DueAt),
			nullMicros(u.CompletedAt)); err != nil {
			return writeErr(fmt.Sprintf("put user task %q", u.ID), err)
		}
	}
	for _, in := range c.PutIncidents {
		fp, code, masked := sqlstore.IncidentKeys(in)
		if _, err := t.exec(ctx, qUpsertIncident, in.ID, in.InstanceID, in.TokenID, in.ElementID, in.DefinitionKey,
			in.JobID, in.Type, in.Message, in.Details, in.State, micros(in.CreatedAt), nullMicros(in.ResolvedAt),
			in.CauseIncidentID, fp, code); err != nil {
			return writeErr(fmt.Sprintf("put incident %q", in.ID), err)
		}
		// The group's record, and with it the webhook notice of a new fingerprint, commits
		// with the incident (an outbox row).
		if in.State == store.IncidentOpen {
			if _, err := t.exec(ctx, qInsertIncidentGroup, fp, in.DefinitionKey, in.ElementID, in.Type, code, masked,
				in.ID, micros(in.CreatedAt), store.NoticePending, micros(in.CreatedAt)); err != nil {
				return writeErr(fmt.Sprintf("put incident group %q", fp), err)
			}
		}
	}

	for _, id := range c.DeleteCompensations {
		if _, err := t.exec(ctx, qDeleteCompensation, id); err != nil {
			return fmt.Errorf("delete compensation %q: %w", id, err)
		}
	}
	for _, x := range c.PutCompensations {
		if _, err := t.exec(ctx, qUpsertCompensation, x.ID, x.InstanceID, x.ScopeID, x.ElementID, x.HandlerID,
			x.InnerScopeID, x.Seq, x.ThrowTokenID, x.Position, micros(x.CompletedAt)); err != nil {
			return writeErr(fmt.Sprintf("put compensation %q", x.ID), err)
		}
	}

	if err := t.insertEvents(ctx, c.Events); err != nil {
		return err
	}
	// The events are the outbox (see outbox_cursor): nothing else to queue.
	return t.addElementStats(ctx, c.Events)
}

// eventChunk is how many events one INSERT writes: a command writes 4 to 20 events, and
// one statement per event was the largest cost of Apply.
const eventChunk = 16

// insertEventsText holds insertEventsSQL(n) for each chunk size, built once rather than
// per Apply.
var insertEventsText = func() (texts [eventChunk + 1]string) {
	for n := 1; n <= eventChunk; n++ {
		texts[n] = insertEventsSQL(n)
	}
	return texts
}()

// insertEvents appends events in chunks and assigns each its Seq.
func (t *tx) insertEvents(ctx context.Context, events []*store.Event) error {
	for len(events) > 0 {
		n := min(len(events), eventChunk)
		chunk := events[:n]
		events = events[n:]
		if n == 1 || t.built == nil {
			for _, e := range chunk {
				res, err := t.exec(ctx, qInsertEvent, eventArgs(e)...)
				if err != nil {
					return writeErr(fmt.Sprintf("insert event %q", e.ID), err)
				}
				if e.Seq, err = res.LastInsertId(); err != nil {
					return fmt.Errorf("insert event %q: %w", e.ID, err)
				}
			}
			continue
		}
		args := make([]any, 0, n*13)
		for _, e := range chunk {
			args = append(args, eventArgs(e)...)
		}
		st := t.builtStmt(ctx, insertEventsText[n])
		if st == nil {
			return fmt.Errorf("insert events: cannot prepare a %d-row insert", n)
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return writeErr("insert events", err)
		}
		last, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		// One writer, and the rows of a VALUES list are inserted in order, each at
		// max(rowid)+1: the chunk holds the n numbers ending at last.
		for i, e := range chunk {
			e.Seq = last - int64(n-1-i)
		}
	}
	return nil
}

func eventArgs(e *store.Event) []any {
	return []any{e.ID, e.InstanceID, e.InstanceSeq, e.DefinitionID, e.DefinitionKey,
		string(e.Type), e.ElementID, e.ElementType, e.TokenID, e.JobID, e.IncidentID, micros(e.Time), nullJSON(e.Data)}
}

// nullJSON stores a nil document as NULL.
func nullJSON(v json.RawMessage) any {
	if v == nil {
		return nil
	}
	return string(v)
}

// LockJobs locks due jobs in one UPDATE … RETURNING on the single writer.
func (t *tx) LockJobs(ctx context.Context, p store.LockJobsParams) ([]*store.Job, error) {
	if err := t.writable("lock jobs"); err != nil {
		return nil, err
	}
	if p.Limit <= 0 {
		return nil, fmt.Errorf("lock jobs: limit %d must be positive", p.Limit)
	}
	if p.Owner == "" {
		return nil, errors.New("lock jobs: owner required")
	}
	now := micros(p.Now)
	var kinds []string
	for _, k := range p.Kinds {
		if k == "" {
			kinds = nil // "" means all kinds
			break
		}
		kinds = append(kinds, k)
	}
	kindsJSON, filterTypes, typesJSON := "", 0, "[]"
	if len(kinds) > 0 {
		b, _ := json.Marshal(kinds)
		kindsJSON = string(b)
	}
	if p.Types != nil {
		filterTypes = 1
		b, _ := json.Marshal(p.Types)
		typesJSON = string(b)
	}
	// Variables arrive as one JSON array of [name, value] pairs, each value the text the
	// variables table holds (Dialect.JSONValue), or '' for no filter.
	varsJSON := ""
	if p.Variables != nil {
		pairs := make([][2]string, len(p.Variables))
		for i, m := range p.Variables {
			v, err := sqlstore.SQLite.JSONValue(m.Value)
			if err != nil {
				return nil, fmt.Errorf("lock jobs: variable %q: %w", m.Name, err)
			}
			pairs[i] = [2]string{m.Name, v}
		}
		b, _ := json.Marshal(pairs)
		varsJSON = string(b)
	}
	jobs, err := queryAll(ctx, t, qLockJobs, sqlstore.SQLite.ScanJob, p.Owner, micros(p.LockUntil), now, now,
		kindsJSON, kindsJSON, filterTypes, typesJSON, p.Limit, p.DefinitionKey, p.BusinessKey, p.DefinitionID, varsJSON)
	if err != nil {
		return nil, fmt.Errorf("lock jobs: %w", err)
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
