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
	now := time.Now()
	rows, err := conn.Query(ctx, "EXPLAIN "+claim, op.ID, now, 128, "A", now.Add(time.Minute), op.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "InitPlan") || strings.Contains(plan, "SubPlan") || strings.Contains(plan, "Join") ||
		!strings.Contains(plan, "(seq >= $") || !strings.Contains(plan, "(seq <= $") {
		t.Errorf("the claim does not pick its seqs once and find its rows in their range:\n%s", plan)
	}
}
