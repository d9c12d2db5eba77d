package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Instances: the aggregate a command loads and the change it applies.

// LoadInstance reads the aggregate with one pipelined batch of eight lookups, ahead of
// the deferred writes when none of them changes the instance (readAhead).
func (t *tx) LoadInstance(ctx context.Context, id string) (*store.Aggregate, error) {
	a := &store.Aggregate{}
	send := t.do
	if !t.changesInstance(id) {
		send = func(ctx context.Context, op string, _ bool, queue func(b *pgx.Batch), read func(br pgx.BatchResults) error) error {
			return t.readAhead(ctx, op, queue, read)
		}
	}
	err := send(ctx, "load instance", false, func(b *pgx.Batch) {
		b.Queue(getInstanceSQL, id)
		b.Queue(loadTokensSQL, id)
		b.Queue(loadVariablesSQL, id)
		b.Queue(loadJobsSQL, id)
		b.Queue(loadSubscriptionsSQL, id)
		b.Queue(loadTasksSQL, id)
		b.Queue(loadIncidentsSQL, id)
		b.Queue(loadCompensationsSQL, id)
	}, func(br pgx.BatchResults) error {
		var err error
		if a.Instance, err = sqlstore.Postgres.ScanInstance(br.QueryRow()); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := loadRows(br, &a.Tokens, sqlstore.Postgres.ScanToken); err != nil {
			return err
		}
		if err := loadRows(br, &a.Variables, sqlstore.Postgres.ScanVariable); err != nil {
			return err
		}
		if err := loadRows(br, &a.Jobs, sqlstore.Postgres.ScanJob); err != nil {
			return err
		}
		if err := loadRows(br, &a.Subscriptions, sqlstore.Postgres.ScanSubscription); err != nil {
			return err
		}
		if err := loadRows(br, &a.Tasks, sqlstore.Postgres.ScanUserTask); err != nil {
			return err
		}
		if err := loadRows(br, &a.Incidents, sqlstore.Postgres.ScanIncident); err != nil {
			return err
		}
		return loadRows(br, &a.Compensations, sqlstore.Postgres.ScanCompensation)
	})
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("load instance %q", id), err)
	}
	if a.Instance == nil {
		return nil, fmt.Errorf("load instance %q: %w", id, store.ErrNotFound)
	}
	return a, nil
}

func loadRows[T any](br pgx.BatchResults, dst *[]*T, scan func(sqlstore.Scanner) (*T, error)) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	*dst, err = sqlstore.Collect(rows, scan)
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
	t.planForWrite()
	t.begun = true
	t.hold(c.Events) // inserted at COMMIT, behind the write lock (held.go)
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
	inst, name, typ, scope := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	updated := make([]time.Time, n)
	for i, v := range vs {
		inst[i], name[i], typ[i], updated[i], scope[i] = v.InstanceID, v.Name, v.Type, v.UpdatedAt, v.Scope
	}
	return []any{inst, name, typ, vals, updated, scope}
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
	id, inst, tok, el, defID, defKey, name, key, kind := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	for i, s := range ss {
		id[i], inst[i], tok[i], el[i], defID[i], defKey[i], name[i], key[i], created[i], kind[i] = s.ID, s.InstanceID, s.TokenID,
			s.ElementID, s.DefinitionID, s.DefinitionKey, s.MessageName, s.CorrelationKey, s.CreatedAt, s.Kind
	}
	return []any{id, inst, tok, el, defID, defKey, name, key, created, kind}
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
	cause, fp, code := make([]string, n), make([]string, n), make([]string, n)
	for i, x := range is {
		id[i], inst[i], tok[i], el[i], defKey[i], job[i], typ[i], msg[i], details[i], state[i] = x.ID, x.InstanceID,
			x.TokenID, x.ElementID, x.DefinitionKey, x.JobID, x.Type, x.Message, x.Details, x.State
		created[i], resolved[i], cause[i] = x.CreatedAt, x.ResolvedAt, x.CauseIncidentID
		fp[i], code[i], _ = sqlstore.IncidentKeys(x)
	}
	return []any{id, inst, tok, el, defKey, job, typ, msg, details, state, created, resolved, cause, fp, code}
}

// incidentGroupArgs are the arguments of insertIncidentGroupsSQL: the open incidents'
// groups (nil when none is open).
func incidentGroupArgs(is []*store.Incident) []any {
	var fp, defKey, el, typ, code, msg, id []string
	var at []time.Time
	for _, x := range is {
		if x.State != store.IncidentOpen {
			continue
		}
		f, c, m := sqlstore.IncidentKeys(x)
		fp, defKey, el, typ, code, msg, id = append(fp, f), append(defKey, x.DefinitionKey), append(el, x.ElementID),
			append(typ, x.Type), append(code, c), append(msg, m), append(id, x.ID)
		at = append(at, x.CreatedAt)
	}
	if fp == nil {
		return nil
	}
	return []any{fp, defKey, el, typ, code, msg, id, at}
}

func compensationArgs(cs []*store.Compensation) []any {
	n := len(cs)
	id, inst, scope, el, handler, inner, throw := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seq, pos := make([]int64, n), make([]int32, n)
	completed := make([]time.Time, n)
	for i, x := range cs {
		id[i], inst[i], scope[i], el[i], handler[i], inner[i], throw[i] = x.ID, x.InstanceID, x.ScopeID, x.ElementID,
			x.HandlerID, x.InnerScopeID, x.ThrowTokenID
		seq[i], pos[i], completed[i] = x.Seq, int32(x.Position), x.CompletedAt
	}
	return []any{id, inst, scope, el, handler, inner, seq, throw, pos, completed}
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
