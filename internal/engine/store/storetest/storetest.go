// Package storetest is the conformance suite of the storage seam: every implementation of
// store.Store runs Exercise from its own tests, so that the engine sees one behaviour
// whatever the database.
//
// The suite talks to the seam only. Where the seam leaves a choice open it fixes one here,
// and each such rule is named in the test that checks it:
//
//   - Times come back as the same instant at microsecond precision (compared in UTC).
//   - JSON values (variable values, event data) come back as equal JSON, not necessarily the
//     same bytes; variable-equals filters compare JSON after compaction.
//   - A Limit of 0 means no limit, except InstanceFilter (default page 50).
//   - ListInstances is newest first by (StartedAt, ID); StartedAfter is inclusive and
//     StartedBefore exclusive.
//   - ListIncidents is newest first, ListUserTasks oldest first, ListJobs by due time,
//     ListEvents by Seq, ListDefinitions by key then version.
//   - LockJobs: a lock is held while Now < LockedUntil; Types nil means every service type
//     and an empty non-nil Types means none.
//   - DeleteJob of an unknown id is ErrNotFound; deletes inside a Change are idempotent.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Exercise runs the suite. newStore returns a new, empty store owned by the test (it
// registers its own cleanup); subtests run in parallel, each on its own store.
func Exercise(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Dialect", testDialect},
		{"Definitions", testDefinitions},
		{"DefinitionDuplicate", testDefinitionDuplicate},
		{"DefinitionLookups", testDefinitionLookups},
		{"DefinitionServices", testDefinitionServices},
		{"Calls", testCalls},
		{"ApplyCreateAndLoad", testApplyCreateAndLoad},
		{"ApplyUpdate", testApplyUpdate},
		{"ApplyMigrated", testApplyMigrated},
		{"ApplyConflict", testApplyConflict},
		{"ApplyCreateDuplicate", testApplyCreateDuplicate},
		{"ApplyWithoutInstance", testApplyWithoutInstance},
		{"ApplyVariableJSON", testApplyVariableJSON},
		{"Compensations", testCompensations},
		{"WriteErrorRollsBack", testWriteErrorRollsBack},
		{"ReadOnly", testReadOnly},
		{"NotFound", testNotFound},
		{"Savepoint", testSavepoint},
		{"GroupCommit", testGroupCommit},
		{"GroupCommitWithReads", testGroupCommitWithReads},
		{"ListVariables", testListVariables},
		{"ListTokens", testListTokens},
		{"VariableScopes", testVariableScopes},
		{"Events", testEvents},
		{"EventsCommitOrder", testEventsCommitOrder},
		{"Jobs", testJobs},
		{"LockJobs", testLockJobs},
		{"LockJobsFilters", testLockJobsFilters},
		{"LockJobsConcurrent", testLockJobsConcurrent},
		{"NextJobDue", testNextJobDue},
		{"CountJobTypes", testCountJobTypes},
		{"Subscriptions", testSubscriptions},
		{"Signals", testSignals},
		{"InstanceFilters", testInstanceFilters},
		{"InstancePagination", testInstancePagination},
		{"InstanceDefaultPage", testInstanceDefaultPage},
		{"Incidents", testIncidents},
		{"UserTasks", testUserTasks},
		{"CountTokens", testCountTokens},
		{"ElementCounts", testElementCounts},
		{"Outbox", testOutbox},
		{"OutboxParked", testOutboxParked},
		{"LargeValues", testLargeValues},
		{"Leases", testLeases},
		{"Audit", testAudit},
		{"AuditFilters", testAuditFilters},
		{"Operations", testOperations},
		{"OperationCancel", testOperationCancel},
		{"OperationFailingAgain", testOperationFailingAgain},
		{"OperationClaimConcurrent", testOperationClaimConcurrent},
		{"MetricsCursor", testMetricsCursor},
		{"Rollups", testRollups},
		{"WorkCounts", testWorkCounts},
		{"WaitingTokens", testWaitingTokens},
		{"Stalls", testStalls},
		{"StallCounts", testStallCounts},
		{"StallThresholds", testStallThresholds},
		{"IncidentQueue", testIncidentQueue},
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"APITokens", testAPITokens},
		{"AccountLimits", testAccountLimits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// t0 is the suite's clock origin; times are whole microseconds so every store keeps them.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus d seconds.
func at(d float64) time.Time { return t0.Add(time.Duration(d * float64(time.Second))) }

func ptr[T any](v T) *T { return &v }

func write(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Write(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func read(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Read(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("read: %v", err)
	}
}

func apply(t *testing.T, s store.Store, cs ...*store.Change) {
	t.Helper()
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, c := range cs {
			if err := tx.Apply(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
}

// get runs one read and returns its value.
func get[T any](t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) (T, error)) T {
	t.Helper()
	var v T
	read(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		v, err = fn(ctx, tx)
		return err
	})
	return v
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// Fixtures.

func newInstance(id, key string, started time.Time) *store.Instance {
	return &store.Instance{
		ID: id, DefinitionID: key + ":1", DefinitionKey: key, DefinitionVersion: 1,
		State: store.InstanceActive, Version: 1, StartedAt: started,
	}
}

func newToken(id, instanceID, element string, created time.Time) *store.Token {
	return &store.Token{ID: id, InstanceID: instanceID, ElementID: element, State: store.TokenActive, CreatedAt: created}
}

func newJob(id, kind, typ string, due time.Time) *store.Job {
	return &store.Job{
		ID: id, Kind: kind, Type: typ, InstanceID: "i-" + id, TokenID: "t-" + id, ElementID: "task",
		DefinitionID: "proc:1", DefinitionKey: "proc", Retries: 3, DueAt: due, CreatedAt: at(-100),
	}
}

func variable(instanceID, name, value string) *store.Variable {
	var v any
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		panic(fmt.Sprintf("fixture variable %s: %v", name, err))
	}
	typ := store.TypeString
	switch v.(type) {
	case float64:
		typ = store.TypeNumber
	case bool:
		typ = store.TypeBoolean
	case map[string]any:
		typ = store.TypeObject
	case []any:
		typ = store.TypeArray
	case nil:
		typ = store.TypeNull
	}
	return &store.Variable{InstanceID: instanceID, Name: name, Type: typ, Value: json.RawMessage(value), UpdatedAt: t0}
}

// Comparison: rows are compared field by field after canonicalising what stores may
// legitimately represent differently (time zone, JSON formatting, nil versus empty).

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func canon(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return canon(v.Elem())
	}
	switch v.Type() {
	case timeType:
		return v.Interface().(time.Time).UTC().Format(time.RFC3339Nano)
	case rawType:
		raw := v.Interface().(json.RawMessage)
		if len(raw) == 0 {
			return nil
		}
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			return "invalid JSON: " + string(raw)
		}
		return x
	}
	switch v.Kind() {
	case reflect.Struct:
		m := make(map[string]any, v.NumField())
		for i := range v.NumField() {
			m[v.Type().Field(i).Name] = canon(v.Field(i))
		}
		return m
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes())
		}
		l := make([]any, v.Len())
		for i := range v.Len() {
			l[i] = canon(v.Index(i))
		}
		return l
	}
	return v.Interface()
}

func show(v any) string {
	b, err := json.MarshalIndent(canon(reflect.ValueOf(v)), "", "  ")
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(canon(reflect.ValueOf(got)), canon(reflect.ValueOf(want))) {
		t.Fatalf("%s:\ngot  %s\nwant %s", what, show(got), show(want))
	}
}

// byID sorts rows with an ID field, for comparisons where the seam promises no order.
func byID[T any](rows []*T, id func(*T) string) []*T {
	out := slices.Clone(rows)
	slices.SortFunc(out, func(a, b *T) int { return strings.Compare(id(a), id(b)) })
	return out
}

func sortAggregate(a *store.Aggregate) *store.Aggregate {
	c := *a
	c.Tokens = byID(a.Tokens, func(x *store.Token) string { return x.ID })
	c.Variables = byID(a.Variables, func(x *store.Variable) string { return x.Scope + "\x00" + x.Name })
	c.Jobs = byID(a.Jobs, func(x *store.Job) string { return x.ID })
	c.Subscriptions = byID(a.Subscriptions, func(x *store.Subscription) string { return x.ID })
	c.Tasks = byID(a.Tasks, func(x *store.UserTask) string { return x.ID })
	c.Incidents = byID(a.Incidents, func(x *store.Incident) string { return x.ID })
	c.Compensations = byID(a.Compensations, func(x *store.Compensation) string { return x.ID })
	return &c
}

func ids[T any](rows []*T, id func(*T) string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func jobIDs(js []*store.Job) []string { return ids(js, func(j *store.Job) string { return j.ID }) }

func instanceIDs(ins []*store.Instance) []string {
	return ids(ins, func(i *store.Instance) string { return i.ID })
}

func testDialect(t *testing.T, s store.Store) {
	if s.Dialect() == "" {
		t.Fatal("Dialect is empty")
	}
}
