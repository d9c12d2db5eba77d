package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Instances: the aggregate a command loads, the change it applies, and the instance list.

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
