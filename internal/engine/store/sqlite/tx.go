package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// tx implements store.Tx on one database/sql transaction.
type tx struct {
	tx    *sql.Tx
	write bool
	// prepared are the pool's statements; bound holds them bound to this transaction, made
	// on first use (database/sql reuses the statement already prepared on the connection).
	prepared *[numStmts]*sql.Stmt
	bound    [numStmts]*sql.Stmt
	// savepoints holds SAVEPOINT/RELEASE/ROLLBACK TO statements by text: the engine puts
	// each command of a batch under the same savepoint, so each is prepared once per
	// transaction rather than parsed per command.
	savepoints map[string]*sql.Stmt
	// built caches prepared run-time statements by text (writer only; nil on readers).
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

// getOne runs a single-row query and maps "no rows" to store.ErrNotFound.
func getOne[T any](ctx context.Context, t *tx, id stmtID, what string, scan func(scanner) (*T, error), args ...any) (*T, error) {
	v, err := scan(t.stmt(ctx, id).QueryRowContext(ctx, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", what, err)
	}
	return v, nil
}

func queryAll[T any](ctx context.Context, t *tx, id stmtID, scan func(scanner) (*T, error), args ...any) ([]*T, error) {
	rows, err := t.stmt(ctx, id).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
}

func queryBuilt[T any](ctx context.Context, t *tx, q *query, scan func(scanner) (*T, error)) ([]*T, error) {
	var rows *sql.Rows
	var err error
	if st := t.builtStmt(ctx, q.String()); st != nil {
		rows, err = st.QueryContext(ctx, q.args...)
	} else {
		rows, err = t.tx.QueryContext(ctx, q.String(), q.args...)
	}
	if err != nil {
		return nil, err
	}
	return collect(rows, scan)
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
	if !isIdent(name) {
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

func isIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Definitions.

func (t *tx) InsertDefinition(ctx context.Context, d *store.Definition) error {
	if err := t.writable("insert definition"); err != nil {
		return err
	}
	xml := d.XML
	if xml == nil {
		xml = []byte{}
	}
	_, err := t.exec(ctx, qInsertDefinition, d.ID, d.Key, d.Version, d.Name, d.Checksum, d.Resource, xml, micros(d.DeployedAt))
	if err != nil {
		return writeErr(fmt.Sprintf("insert definition %s version %d", d.Key, d.Version), err)
	}
	return nil
}

func (t *tx) GetDefinition(ctx context.Context, id string) (*store.Definition, error) {
	return getOne(ctx, t, qGetDefinition, "definition "+strconv.Quote(id), scanDefinition, id)
}

func (t *tx) LatestDefinition(ctx context.Context, key string) (*store.Definition, error) {
	return getOne(ctx, t, qLatestDefinition, "latest definition "+strconv.Quote(key), scanDefinition, key)
}

func (t *tx) DefinitionByVersion(ctx context.Context, key string, version int) (*store.Definition, error) {
	return getOne(ctx, t, qDefinitionByVersion, fmt.Sprintf("definition %q version %d", key, version), scanDefinition, key, version)
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
	ds, err := queryBuilt(ctx, t, q, scanDefinition)
	if err != nil {
		return nil, fmt.Errorf("list definitions: %w", err)
	}
	return ds, nil
}

// Instances.

func (t *tx) GetInstance(ctx context.Context, id string) (*store.Instance, error) {
	return getOne(ctx, t, qGetInstance, "instance "+strconv.Quote(id), scanInstance, id)
}

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
			a.Instance, err = scanInstance(row)
		case kindToken:
			err = appendRow(&a.Tokens, row, scanToken)
		case kindVariable:
			err = appendRow(&a.Variables, row, scanVariable)
		case kindJob:
			err = appendRow(&a.Jobs, row, scanJob)
		case kindSubscription:
			err = appendRow(&a.Subscriptions, row, scanSubscription)
		case kindTask:
			err = appendRow(&a.Tasks, row, scanUserTask)
		case kindIncident:
			err = appendRow(&a.Incidents, row, scanIncident)
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
				in.EventSeq); err != nil {
				return writeErr(fmt.Sprintf("insert instance %q", in.ID), err)
			}
		} else {
			res, err := t.exec(ctx, qUpdateInstance, in.BusinessKey, in.State, in.Version, in.IncidentCount,
				nullMicros(in.EndedAt), in.EventSeq, in.ID, in.Version-1)
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
		for _, name := range c.DeleteVariables {
			if _, err := t.exec(ctx, qDeleteVariable, c.Instance.ID, name); err != nil {
				return fmt.Errorf("delete variable %q: %w", name, err)
			}
		}
	}
	for _, v := range c.PutVariables {
		text, err := jsonText(v.Value)
		if err != nil {
			return fmt.Errorf("put variable %q: %w", v.Name, err)
		}
		if _, err := t.exec(ctx, qUpsertVariable, v.InstanceID, v.Name, v.Type, text, micros(v.UpdatedAt)); err != nil {
			return writeErr(fmt.Sprintf("put variable %q", v.Name), err)
		}
	}

	for _, id := range c.DeleteJobs {
		if _, err := t.exec(ctx, qDeleteJob, id); err != nil {
			return fmt.Errorf("delete job %q: %w", id, err)
		}
	}
	for _, j := range c.PutJobs {
		if err := t.putJob(ctx, j); err != nil {
			return err
		}
	}

	for _, id := range c.DeleteSubs {
		if _, err := t.exec(ctx, qDeleteSubscription, id); err != nil {
			return fmt.Errorf("delete subscription %q: %w", id, err)
		}
	}
	for _, s := range c.PutSubs {
		if err := t.putSubscription(ctx, s); err != nil {
			return err
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
		if _, err := t.exec(ctx, qUpsertIncident, in.ID, in.InstanceID, in.TokenID, in.ElementID, in.DefinitionKey,
			in.JobID, in.Type, in.Message, in.Details, in.State, micros(in.CreatedAt), nullMicros(in.ResolvedAt)); err != nil {
			return writeErr(fmt.Sprintf("put incident %q", in.ID), err)
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

// ListVariables returns the variables of the given instances, by instance id and name.
func (t *tx) ListVariables(ctx context.Context, instanceIDs []string) ([]*store.Variable, error) {
	var out []*store.Variable
	// Chunks keep the statement well under SQLite's limit on parameters.
	for ids := range slices.Chunk(instanceIDs, 500) {
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		q := newQuery(listVariablesSQL)
		q.and(`instance_id IN (`+placeholders(len(args))+`)`, args...)
		q.tail(` ORDER BY instance_id, name`)
		vs, err := queryBuilt(ctx, t, q, scanVariable)
		if err != nil {
			return nil, fmt.Errorf("list variables of %d instances: %w", len(instanceIDs), err)
		}
		out = append(out, vs...)
	}
	if len(instanceIDs) > 500 {
		slices.SortFunc(out, func(a, b *store.Variable) int {
			if c := strings.Compare(a.InstanceID, b.InstanceID); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return out, nil
}

// instanceCursor encodes the keyset position of the last instance of a page. It is opaque
// to callers; base64 keeps ids with any characters safe in a URL.
func instanceCursor(in *store.Instance) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(micros(in.StartedAt), 10) + ":" + in.ID))
}

func parseInstanceCursor(s string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	ts, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return 0, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	started, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || started < store.MinCursorMicros || started > store.MaxCursorMicros || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return 0, "", fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	}
	return started, id, nil
}

// Page sizes of ListInstances.
const (
	defaultInstancePage = 50
	maxInstancePage     = 1000
)

func (t *tx) ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error) {
	var dense denseFilters
	if f.VariableName != "" {
		value, err := jsonText(f.VariableValue)
		if err != nil {
			return nil, fmt.Errorf("list instances: variable %q: %w", f.VariableName, err)
		}
		if dense.variable, err = t.isDense(ctx, qCountVariableEquals, f.VariableName, value); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
	}
	if f.WaitingAt != "" {
		var err error
		if dense.waitingAt, err = t.isDense(ctx, qCountWaitingAt, f.WaitingAt); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
	}
	q, n, err := instanceQuery(f, dense)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	ins, err := queryBuilt(ctx, t, q, scanInstance)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	page := &store.InstancePage{Instances: ins}
	if len(ins) > n {
		page.Instances = ins[:n]
		page.Next = instanceCursor(ins[n-1])
	}
	return page, nil
}

// denseFilters tells which of the variable and waiting-at filters match many rows.
type denseFilters struct{ variable, waitingAt bool }

func (t *tx) isDense(ctx context.Context, id stmtID, args ...any) (bool, error) {
	var n int
	if err := t.stmt(ctx, id).QueryRowContext(ctx, args...).Scan(&n); err != nil {
		return false, err
	}
	return n >= denseMatches, nil
}

// instanceQuery builds the ListInstances query for f and returns it with the page size.
// It asks for one row more than the page: that row tells whether another page follows,
// without counting.
func instanceQuery(f store.InstanceFilter, dense denseFilters) (*query, int, error) {
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
		args := make([]any, len(f.States))
		for i, s := range f.States {
			args[i] = s
		}
		// The unary + keeps SQLite off instances_state here: with several states it would
		// read every instance in them and sort, where walking instances_started newest
		// first meets a page of them soon (state sets people ask for are large ones such
		// as "running" or "ended").
		q.and(`+state IN (`+placeholders(len(args))+`)`, args...)
	}
	if f.BusinessKey != "" {
		q.and(`business_key = ?`, f.BusinessKey)
	}
	if f.VariableName != "" {
		value, err := jsonText(f.VariableValue)
		if err != nil {
			return nil, 0, fmt.Errorf("variable %q: %w", f.VariableName, err)
		}
		if dense.variable {
			q.and(variableExistsCond, f.VariableName, value)
		} else {
			q.and(variableInCond, f.VariableName, value)
		}
	}
	if !f.StartedAfter.IsZero() {
		q.and(`started_at >= ?`, micros(f.StartedAfter))
	}
	if !f.StartedBefore.IsZero() {
		q.and(`started_at < ?`, micros(f.StartedBefore))
	}
	if f.HasIncident != nil {
		if *f.HasIncident {
			// Textually the condition of the instances_incident partial index.
			q.and(`incident_count > 0`)
		} else {
			q.and(`incident_count = 0`)
		}
	}
	if f.WaitingAt != "" {
		if dense.waitingAt {
			q.and(waitingAtExistsCond, f.WaitingAt)
		} else {
			q.and(waitingAtInCond, f.WaitingAt)
		}
	}
	if f.Stalled != nil {
		q.and(stalledFilter(*f.Stalled))
	}
	if f.After != "" {
		started, id, err := parseInstanceCursor(f.After)
		if err != nil {
			return nil, 0, err
		}
		q.and(instanceCursorCond, started, id)
	}
	q.tail(instanceOrder, n+1)
	return q, n, nil
}

// Jobs.

func (t *tx) putJob(ctx context.Context, j *store.Job) error {
	if _, err := t.exec(ctx, qUpsertJob, j.ID, j.Kind, j.Type, j.InstanceID, j.TokenID, j.ElementID, j.DefinitionID,
		j.DefinitionKey, j.Retries, j.Attempt, micros(j.DueAt), boolInt(j.Suspended), j.LockOwner,
		nullMicros(j.LockedUntil), j.Repeat, j.LastError, j.ErrorDetails, micros(j.CreatedAt)); err != nil {
		return writeErr(fmt.Sprintf("put job %q", j.ID), err)
	}
	return nil
}

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
	jobs, err := queryAll(ctx, t, qLockJobs, scanJob, p.Owner, micros(p.LockUntil), now, now,
		kindsJSON, kindsJSON, filterTypes, typesJSON, p.Limit)
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

func (t *tx) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return getOne(ctx, t, qGetJob, "job "+strconv.Quote(id), scanJob, id)
}

func (t *tx) PutJob(ctx context.Context, j *store.Job) error {
	if err := t.writable("put job"); err != nil {
		return err
	}
	return t.putJob(ctx, j)
}

func (t *tx) DeleteJob(ctx context.Context, id string) error {
	if err := t.writable("delete job"); err != nil {
		return err
	}
	res, err := t.exec(ctx, qDeleteJob, id)
	if err != nil {
		return fmt.Errorf("delete job %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete job %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete job %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteStartJobs(ctx context.Context, definitionKey string) error {
	if err := t.writable("delete start jobs"); err != nil {
		return err
	}
	if _, err := t.exec(ctx, qDeleteStartJobs, definitionKey); err != nil {
		return fmt.Errorf("delete start jobs of %q: %w", definitionKey, err)
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
	jobs, err := queryBuilt(ctx, t, q, scanJob)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

func (t *tx) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var unlocked, locked sql.NullInt64
	if err := t.stmt(ctx, qNextJobDue).QueryRowContext(ctx).Scan(&unlocked, &locked); err != nil {
		return time.Time{}, false, fmt.Errorf("next job due: %w", err)
	}
	switch {
	case unlocked.Valid && locked.Valid:
		return fromMicros(min(unlocked.Int64, locked.Int64)), true, nil
	case unlocked.Valid:
		return fromMicros(unlocked.Int64), true, nil
	case locked.Valid:
		return fromMicros(locked.Int64), true, nil
	}
	return time.Time{}, false, nil
}

// Subscriptions.

func (t *tx) putSubscription(ctx context.Context, s *store.Subscription) error {
	if _, err := t.exec(ctx, qUpsertSubscription, s.ID, s.InstanceID, s.TokenID, s.ElementID, s.DefinitionID,
		s.DefinitionKey, s.MessageName, s.CorrelationKey, micros(s.CreatedAt)); err != nil {
		return writeErr(fmt.Sprintf("put subscription %q", s.ID), err)
	}
	return nil
}

func (t *tx) FindSubscriptions(ctx context.Context, name, key string) ([]*store.Subscription, error) {
	subs, err := queryAll(ctx, t, qFindSubscriptions, scanSubscription, name, key)
	if err != nil {
		return nil, fmt.Errorf("find subscriptions for message %q key %q: %w", name, key, err)
	}
	return subs, nil
}

func (t *tx) PutSubscription(ctx context.Context, s *store.Subscription) error {
	if err := t.writable("put subscription"); err != nil {
		return err
	}
	return t.putSubscription(ctx, s)
}

func (t *tx) DeleteStartSubscriptions(ctx context.Context, definitionKey string) error {
	if err := t.writable("delete start subscriptions"); err != nil {
		return err
	}
	if _, err := t.exec(ctx, qDeleteStartSubscriptions, definitionKey); err != nil {
		return fmt.Errorf("delete start subscriptions of %q: %w", definitionKey, err)
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
	out, err := queryBuilt(ctx, t, q, scanIncident)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

func (t *tx) GetIncident(ctx context.Context, id string) (*store.Incident, error) {
	return getOne(ctx, t, qGetIncident, "incident "+strconv.Quote(id), scanIncident, id)
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
	out, err := queryBuilt(ctx, t, q, scanUserTask)
	if err != nil {
		return nil, fmt.Errorf("list user tasks: %w", err)
	}
	return out, nil
}

func (t *tx) GetUserTask(ctx context.Context, id string) (*store.UserTask, error) {
	return getOne(ctx, t, qGetUserTask, "user task "+strconv.Quote(id), scanUserTask, id)
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
	out, err := queryBuilt(ctx, t, q, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}
