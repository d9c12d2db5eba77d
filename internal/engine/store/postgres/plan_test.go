package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// TestClaimPlan: an operation's claim picks its items' seqs once (an init plan) and finds
// the rows in the range they span, on a table the planner has no statistics for yet (an
// operation's items were just inserted). As "seq IN (subquery)" it chose a nested loop
// that ran the LIMIT subquery again for every pending item: 730 ms per claim with 5,000
// pending; with "seq = ANY(array)" alone it read every pending item of the operation.
func TestClaimPlan(t *testing.T) {
	testURL(t)
	s := open(t, postgres.Options{})
	ctx := t.Context()
	const n = 2000
	op := &store.Operation{ID: "op", Kind: "instance.cancel", Actor: "ann", State: store.OperationRunning, Total: n,
		CreatedAt: time.Now()}
	items := make([]*store.OperationItem, n)
	for i := range items {
		items[i] = &store.OperationItem{Target: fmt.Sprintf("i%d", i)}
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertOperation(ctx, op, items) }); err != nil {
		t.Fatal(err)
	}
	var claim string
	for _, st := range sqlstore.Statements() {
		if text := st.Text(sqlstore.Postgres); strings.Contains(text, "UPDATE operation_items SET owner = $4, locked_until = $5") {
			claim = text
		}
	}
	if claim == "" {
		t.Fatal("the claim statement was not found")
	}
	now := time.Now()
	plan := explain(t, s, claim, op.ID, now, 128, "A", now.Add(time.Minute), op.ID, now)
	if !strings.Contains(plan, "InitPlan") || strings.Contains(plan, "SubPlan") || strings.Contains(plan, "Join") ||
		!strings.Contains(plan, "(seq >= $") || !strings.Contains(plan, "(seq <= $") {
		t.Errorf("the claim does not pick its seqs once and find its rows in their range:\n%s", plan)
	}
}

// TestNextJobDuePlan: each probe of NextJobDue is one step down an index, on a jobs table
// full of dead rows (every job is inserted and deleted; only vacuum removes them). As a
// min() over all locked rows the planner, whose statistics still saw a small table, took
// a sequential scan of the whole heap: 4 to 8 ms a probe beside a bulk operation.
func TestNextJobDuePlan(t *testing.T) {
	testURL(t)
	s := open(t, postgres.Options{})
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) // a fixed instant: NextJobDue reads no clock
	until := now.Add(time.Minute)
	const n = 3000
	jobs := make([]*store.Job, n)
	ids := make([]string, n)
	for i := range jobs {
		ids[i] = fmt.Sprintf("j%d", i)
		jobs[i] = &store.Job{ID: ids[i], Kind: store.JobService, Type: "a", InstanceID: "i", TokenID: "t", ElementID: "e",
			DefinitionID: "d:1", DefinitionKey: "d", Retries: 3, DueAt: now, LockOwner: "n", LockedUntil: &until, CreatedAt: now}
	}
	write := func(c *store.Change) {
		t.Helper()
		if err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, c) }); err != nil {
			t.Fatal(err)
		}
	}
	write(&store.Change{PutJobs: jobs})
	write(&store.Change{DeleteJobs: ids[:n-10]})
	var text string
	for _, st := range sqlstore.Statements() {
		if t := st.Text(sqlstore.Postgres); strings.Contains(t, "due_at > locked_until") && strings.HasPrefix(t, "SELECT") {
			text = t
		}
	}
	if text == "" {
		t.Fatal("the NextJobDue statement was not found")
	}
	plan := explain(t, s, text)
	if strings.Contains(plan, "Seq Scan") || strings.Count(plan, "Index") < 3 || !strings.Contains(plan, "jobs_locked_early") {
		t.Errorf("NextJobDue does not probe an index for each part:\n%s", plan)
	}
	var due time.Time
	var ok bool
	if err := s.Read(ctx, func(tx store.Tx) error {
		var err error
		due, ok, err = tx.NextJobDue(ctx)
		return err
	}); err != nil || !ok || !due.Equal(until) {
		t.Fatalf("NextJobDue = %v, %v, %v; want %v", due, ok, err, until)
	}
}

// explain returns the plan PostgreSQL makes for a statement in the store's schema.
func explain(t *testing.T, s *postgres.Store, text string, args ...any) string {
	t.Helper()
	ctx := t.Context()
	cfg, err := pgx.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = s.Schema()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "EXPLAIN "+text, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
