package sqlstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Page sizes of ListInstances.
const (
	defaultInstancePage = 50
	maxInstancePage     = 1000
)

// DenseMatches is where a variable or waiting filter counts as common for SQLite: below
// it the matching rows are few enough to sort; from it on a walk over the newest
// instances meets a page of matches soon enough (about page size * instances / matches
// rows).
const DenseMatches = 2000

var (
	// How common a variable value or a waiting element is, counted up to DenseMatches
	// (SQLite only: it picks the filter's form by it).
	countVariableEquals = read(`SELECT count(*) FROM (SELECT 1 FROM variables WHERE name = ? AND value = ? LIMIT ` +
		strconv.Itoa(DenseMatches) + `) x`)
	countWaitingAt = read(`SELECT count(*) FROM (SELECT 1 FROM tokens WHERE element_id = ? LIMIT ` +
		strconv.Itoa(DenseMatches) + `) x`)
)

// The filter conditions of ListInstances.
const (
	// SQLite's variable and token filters come in two forms, chosen by how many rows
	// match. IN lets SQLite start from the few matching variables or tokens and sort them;
	// EXISTS makes it walk the instances newest first and probe each one, which finds a
	// page quickly when matches are common, where IN would sort them all.
	variableInCond      = `id IN (SELECT instance_id FROM variables WHERE name = ? AND value = ?)`
	variableExistsCond  = `EXISTS (SELECT 1 FROM variables v WHERE v.instance_id = instances.id AND v.name = ? AND v.value = ?)`
	waitingAtInCond     = `id IN (SELECT instance_id FROM tokens WHERE element_id = ?)`
	waitingAtExistsCond = `EXISTS (SELECT 1 FROM tokens k WHERE k.instance_id = instances.id AND k.element_id = ?)`
	// PostgreSQL's variable filter: the md5 term is what variables_value_md5 indexes
	// (migration 00007): values of any size can be indexed that way; the value itself is
	// compared after it. Its planner needs no hint between the two forms.
	variableMD5Cond = `id IN (SELECT instance_id FROM variables WHERE name = ? AND md5(value::text) = md5(?::jsonb::text) AND value = ?::jsonb)`
	// The instances of one service's definitions. Services are few and each holds a
	// large share of the instances, so on SQLite a unary + keeps the planner off
	// instances_definition_id (which would read the service's whole history and sort
	// it): it walks the instances newest first (or by the other filters' index) and
	// checks each one's definition against the service's few definition ids, read once
	// through definitions_service_key_version.
	serviceCond = `definition_id IN (SELECT id FROM definitions WHERE service = ?)`
	// The rows of a table that names an instance and its process key but not its
	// definition (incidents, user_tasks) whose instance is one of a service's: the
	// service's keys narrow them by a column of their own (serviceKeyCond), and each row
	// left is checked through its instance's definition, a primary-key probe
	// (fmt: the table's name).
	serviceKeyCond      = `definition_key IN (SELECT key FROM definitions WHERE service = ?)`
	serviceInstanceCond = `EXISTS (SELECT 1 FROM instances si WHERE si.id = %s.instance_id
	AND si.definition_id IN (SELECT id FROM definitions WHERE service = ?))`
	// Keyset pagination, newest first; a row value, so SQLite uses it as an index range.
	instanceCursorCond = `(started_at, id) < (?, ?)`
	instanceOrder      = ` ORDER BY started_at DESC, id DESC LIMIT ?`
)

// Dense tells which of the variable and waiting-at filters of an InstanceFilter match
// many rows (SQLite's choice of form; PostgreSQL ignores it).
type Dense struct{ Variable, WaitingAt bool }

// ListInstances returns a page of instances, newest first.
func (q *Queries) ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error) {
	var dense Dense
	if !q.D.pg {
		var err error
		if dense, err = q.dense(ctx, f); err != nil {
			return nil, err
		}
	}
	b, n, err := InstanceQuery(q.D, f, dense)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	ins, err := All(ctx, q.C, "list instances", built(b), q.D.ScanInstance)
	if err != nil {
		return nil, err
	}
	page := &store.InstancePage{Instances: ins}
	if len(ins) > n {
		page.Instances = ins[:n]
		page.Next = instanceCursor(ins[n-1])
	}
	return page, nil
}

// dense counts, up to DenseMatches, the rows the variable and waiting-at filters match.
func (q *Queries) dense(ctx context.Context, f store.InstanceFilter) (Dense, error) {
	var dense Dense
	count := func(st Statement) (bool, error) {
		var n int64
		if err := q.row(ctx, "list instances", st, &n); err != nil {
			return false, err
		}
		return n >= DenseMatches, nil
	}
	if f.VariableName != "" {
		value, err := q.D.JSONValue(f.VariableValue)
		if err != nil {
			return dense, fmt.Errorf("list instances: variable %q: %w", f.VariableName, err)
		}
		if dense.Variable, err = count(q.static(countVariableEquals, f.VariableName, value)); err != nil {
			return dense, err
		}
	}
	if f.WaitingAt != "" {
		var err error
		if dense.WaitingAt, err = count(q.static(countWaitingAt, f.WaitingAt)); err != nil {
			return dense, err
		}
	}
	return dense, nil
}

// InstanceQuery builds the ListInstances query for f and returns it with the page size.
// It asks for one row more than the page: that row tells whether another page follows,
// without counting.
func InstanceQuery(d *Dialect, f store.InstanceFilter, dense Dense) (*Query, int, error) {
	return instanceQuery(d, f, dense, false)
}

// instanceQuery is InstanceQuery, or with count the count of the rows it selects (its
// order, limit and offset aside).
func instanceQuery(d *Dialect, f store.InstanceFilter, dense Dense, count bool) (*Query, int, error) {
	n := f.Limit
	if n <= 0 {
		n = defaultInstancePage
	}
	n = min(n, maxInstancePage)
	head := `SELECT ` + InstanceCols + ` FROM instances`
	if count {
		head = `SELECT count(*) FROM (SELECT id FROM instances`
	}
	b := NewQuery(d, head)
	// Running instances (active, suspended) are the live set, bounded by the workload;
	// ended ones grow without bound. On SQLite a filter to running states reads them
	// through instances_state, in its order, and the unary + keeps it off the definition
	// indexes: walking a definition's instances newest first would pass through its
	// whole history to reach a running instance that started long ago (one that has
	// waited for weeks). PostgreSQL's planner weighs that itself.
	running := len(f.States) > 0 && !d.pg
	for _, st := range f.States {
		running = running && (st == store.InstanceActive || st == store.InstanceSuspended)
	}
	if running && len(f.States) > 1 {
		// One ordered read per state, merged: SQLite merges the arms of a UNION ALL in
		// their index order, so a page costs a page per state, not a sort of them all.
		// The arms are the one-state queries without their order and limit (SQLite's "?"
		// placeholders are not numbered, so their texts and arguments join as they are).
		q := NewQuery(d, ``)
		if count {
			q = NewQuery(d, `SELECT count(*) FROM (`)
		}
		for i, st := range f.States {
			one := f
			one.States, one.Offset = []string{st}, 0
			arm, _, err := instanceQuery(d, one, dense, false)
			if err != nil {
				return nil, 0, err
			}
			if i > 0 {
				q.Tail(` UNION ALL `)
			}
			args := arm.Args()
			q.Tail(strings.TrimSuffix(arm.String(), instanceOrder), args[:len(args)-1]...)
		}
		if count {
			q.Tail(`) c`)
			return q, n, nil
		}
		q.Tail(instanceOrder, n+1)
		offset(q, f.Offset)
		return q, n, nil
	}
	unary := ""
	// The same for instances with an open incident or a stall: few, through their own
	// (partial) index or table, where a process key's index would walk its history.
	narrow := !d.pg && (f.HasIncident != nil && *f.HasIncident || f.Stalled != nil && *f.Stalled)
	if running || narrow {
		unary = "+"
	}
	if f.DefinitionKey != "" {
		b.And(unary+`definition_key = ?`, f.DefinitionKey)
	}
	if f.DefinitionID != "" {
		b.And(unary+`definition_id = ?`, f.DefinitionID)
	}
	if f.Service != "" {
		if d.pg {
			b.And(serviceCond, f.Service)
		} else {
			b.And("+"+serviceCond, f.Service)
		}
	}
	switch {
	case len(f.States) == 0:
	case len(f.States) == 1:
		b.And(`state = ?`, f.States[0])
	case running || d.pg:
		b.In(`state`, false, f.States)
	default:
		// The unary + keeps SQLite off instances_state here: with several states, some
		// ended, it would read every instance in them and sort, where walking
		// instances_started newest first meets a page of them soon.
		b.In(`+state`, false, f.States)
	}
	if f.BusinessKey != "" {
		b.And(`business_key = ?`, f.BusinessKey)
	}
	if f.ParentInstanceID != "" {
		// The first term is the condition of the instances_parent partial index, as
		// written, so that both databases use it.
		b.And(`parent_instance_id <> '' AND parent_instance_id = ?`, f.ParentInstanceID)
	}
	if f.VariableName != "" {
		value, err := d.JSONValue(f.VariableValue)
		if err != nil {
			return nil, 0, fmt.Errorf("variable %q: %w", f.VariableName, err)
		}
		switch {
		case d.pg:
			b.And(variableMD5Cond, f.VariableName, value, value)
		case dense.Variable:
			b.And(variableExistsCond, f.VariableName, value)
		default:
			b.And(variableInCond, f.VariableName, value)
		}
	}
	if !f.StartedAfter.IsZero() {
		b.And(`started_at >= ?`, d.Time(f.StartedAfter))
	}
	if !f.StartedBefore.IsZero() {
		b.And(`started_at < ?`, d.Time(f.StartedBefore))
	}
	if f.HasIncident != nil {
		if *f.HasIncident {
			// Textually the condition of the instances_incident partial index.
			b.And(`incident_count > 0`)
		} else {
			b.And(`incident_count = 0`)
		}
	}
	if f.WaitingAt != "" {
		if dense.WaitingAt && !d.pg {
			b.And(waitingAtExistsCond, f.WaitingAt)
		} else {
			b.And(waitingAtInCond, f.WaitingAt)
		}
	}
	if f.Stalled != nil {
		if *f.Stalled {
			b.And(stalledCond)
		} else {
			b.And(notStalledCond)
		}
	}
	if f.After != "" {
		started, id, err := parseInstanceCursor(f.After)
		if err != nil {
			return nil, 0, err
		}
		b.And(instanceCursorCond, d.Time(started), id)
	}
	if count {
		b.Tail(`) c`)
		return b, n, nil
	}
	b.Tail(instanceOrder, n+1)
	offset(b, f.Offset)
	return b, n, nil
}

// offset skips the first n rows of a query that ends in its order and limit.
func offset(b *Query, n int) {
	if n > 0 {
		b.Tail(` OFFSET ?`, n)
	}
}

// CountInstances counts the instances ListInstances selects.
func (q *Queries) CountInstances(ctx context.Context, f store.InstanceFilter) (int64, error) {
	f.After, f.Offset = "", 0
	var dense Dense
	if !q.D.pg {
		var err error
		if dense, err = q.dense(ctx, f); err != nil {
			return 0, err
		}
	}
	b, _, err := instanceQuery(q.D, f, dense, true)
	if err != nil {
		return 0, fmt.Errorf("count instances: %w", err)
	}
	var n int64
	err = q.row(ctx, "count instances", built(b), &n)
	return n, err
}

// instanceCursor encodes the keyset position of the last instance of a page: base64 of
// "micros:id". It is opaque to callers; base64 keeps ids with any characters safe in a URL.
func instanceCursor(in *store.Instance) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(in.StartedAt.UnixMicro(), 10) + ":" + in.ID))
}

func parseInstanceCursor(s string) (t time.Time, id string, err error) {
	bad := fmt.Errorf("%w %q", store.ErrInvalidCursor, s)
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, "", bad
	}
	ts, id, ok := strings.Cut(string(b), ":")
	if !ok {
		return t, "", bad
	}
	started, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || started < store.MinCursorMicros || started > store.MaxCursorMicros || !utf8.ValidString(id) ||
		strings.ContainsRune(id, 0) {
		return t, "", bad
	}
	return time.UnixMicro(started).UTC(), id, nil
}
