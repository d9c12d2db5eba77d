package operation_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// deployTwoTasksRenamed deploys twotasks.bpmn with its "ship" task renamed "send" (a
// new version) and returns the definition id.
func (v *env) deployTwoTasksRenamed() string {
	v.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "twotasks.bpmn"))
	if err != nil {
		v.t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), `"ship"`, `"send"`))
	d, err := v.e.Deploy(v.t.Context(), "twotasks.bpmn", data)
	if err != nil {
		v.t.Fatal(err)
	}
	return d.Processes[0].Definition.ID
}

// TestMigrateOperation: a bulk migration migrates each selected instance once, in its
// own transaction, with its audit row and instance.migrated naming the operation's actor
// and reason; an instance with a token on an element without a target fails alone; the
// items a dead node held are migrated by the next node after their locks end.
func TestMigrateOperation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		v1 := v.deployTwoTasks("")
		var items []*store.OperationItem
		var ids []string
		for range 12 {
			in, err := v.e.StartInstance(t.Context(), "twotasks", engine.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
			items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID, DefinitionKey: "twotasks"})
		}
		// Instance 3 stands at ship, which version 2 does not have.
		if _, err := v.e.Modify(t.Context(), ids[3], engine.ModifyRequest{Steps: []engine.ModifyStep{
			{Kind: engine.ModifyMove, From: "approve", ElementID: "ship"}}}); err != nil {
			t.Fatal(err)
		}
		v2 := v.deployTwoTasksRenamed()
		prop, err := v.e.ProposeMigration(t.Context(), v1, v2)
		if err != nil {
			t.Fatal(err)
		}
		op := v.create(operation.KindMigrateInstances, operation.MigrateParams{Plan: prop.Plan}, items)

		// Node A claims 5 items and dies; node B does the rest, then A's after their locks.
		var dead []*store.OperationItem
		if err := st.Write(t.Context(), func(tx store.Tx) error {
			var err error
			dead, err = tx.ClaimOperationItems(t.Context(), store.ClaimItems{OperationID: op.ID, Owner: "node-a",
				Now: v.clock.Now(), Until: v.clock.Now().Add(30 * time.Second), Limit: 5})
			return err
		}); err != nil || len(dead) != 5 {
			t.Fatalf("claim: %d items, %v", len(dead), err)
		}
		b := v.executor("node-b", operation.MigrateInstances(v.e))
		v.startX(b)
		wait.For(t, "node B ran the free items", func() bool {
			done := 0
			for _, it := range v.items(op.ID) {
				if it.State != store.ItemPending {
					done++
				}
			}
			return done == 7
		})
		if v.op(op.ID).State != store.OperationRunning {
			t.Fatal("the operation ended while a dead node held items")
		}
		v.clock.Advance(31 * time.Second)
		b.Wake()
		wait.For(t, "operation completed", func() bool { return v.op(op.ID).State == store.OperationCompleted })
		got := v.op(op.ID)
		if got.Succeeded != 11 || got.Failed != 1 || got.Total != 12 {
			t.Fatalf("operation: %+v", got)
		}
		for i, it := range v.items(op.ID) {
			if i == 3 {
				if it.State != store.ItemFailed || it.Code != "invalid_state" || !strings.Contains(it.Error, `"ship"`) {
					t.Errorf("item 3 (at ship): %+v", it)
				}
				continue
			}
			if it.State != store.ItemOK {
				t.Errorf("item %d: %+v", i, it)
			}
		}
		for i, id := range ids {
			d, err := v.e.GetInstance(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			want, n := v2, 1
			if i == 3 {
				want, n = v1, 0
			}
			if d.Instance.DefinitionID != want || v.count(event.InstanceMigrated, id) != n {
				t.Errorf("instance %d: definition %s, migrated %d times", i, d.Instance.DefinitionID, v.count(event.InstanceMigrated, id))
			}
			for _, ev := range d.History {
				if ev.Type != event.InstanceMigrated {
					continue
				}
				var data map[string]any
				if err := json.Unmarshal(ev.Data, &data); err != nil || data["actor"] != "ann" || data["reason"] != "cleanup" {
					t.Errorf("instance.migrated without the operation's actor and reason: %s", ev.Data)
				}
			}
		}
		if a := v.audit(store.AuditFilter{Command: operation.KindMigrateInstances, Result: "ok"}); len(a) != 11 {
			t.Errorf("%d ok audit rows, want 11", len(a))
		}

		// Node A was only slow: its late run of an item changes nothing.
		rec := func(ctx context.Context, tx store.Tx) error {
			return tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: dead[0].Seq, Owner: "node-a",
				State: store.ItemOK, At: v.clock.Now()})
		}
		_, err = v.e.Migrate(engine.WithRecord(context.Background(), rec), dead[0].Target, prop.Plan, engine.MigrateOptions{})
		var me *engine.MigrationError
		if !errors.Is(err, store.ErrLostItem) && !errors.As(err, &me) {
			t.Fatalf("late run: %v, want ErrLostItem or a refusal", err)
		}
		if n := v.count(event.InstanceMigrated, dead[0].Target); n != 1 {
			t.Errorf("the late run migrated again: %d", n)
		}
	})
}
