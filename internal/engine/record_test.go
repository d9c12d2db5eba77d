package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestRecord: a Record commits with its command, and a failing Record undoes it.
func TestRecord(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("usertask.bpmn")
		v.start()
		a := v.startInstance("usertask", nil)
		b := v.startInstance("usertask", nil)
		audit := func(id string) engine.Record {
			return func(ctx context.Context, tx store.Tx) error {
				return tx.InsertAudit(ctx, &store.AuditEntry{ID: id, Time: t0, Actor: "ann", Command: "instance.cancel",
					Target: id, Result: "ok"})
			}
		}
		if err := v.e.CancelInstance(engine.WithRecord(v.ctx, audit(a.ID)), a.ID, "done"); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("refused")
		err := v.e.CancelInstance(engine.WithRecord(v.ctx, func(context.Context, store.Tx) error { return refused }), b.ID, "")
		if !errors.Is(err, refused) {
			t.Fatalf("cancel with a failing record: %v", err)
		}
		if got := v.state(a.ID); got != store.InstanceCancelled {
			t.Errorf("instance with a record: %s, want cancelled", got)
		}
		if got := v.state(b.ID); got != store.InstanceActive {
			t.Errorf("instance whose record failed: %s, want active (the cancel undone)", got)
		}
		var n int
		if err := v.st.Read(v.ctx, func(tx store.Tx) error {
			rows, err := tx.ListAudit(v.ctx, store.AuditFilter{Target: a.ID})
			n = len(rows)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d audit rows written with the cancel, want 1", n)
		}
	})
}

// TestRecordLostItemInBatch: commands whose records write item outcomes commit together
// (a store may send the outcomes with the group commit's next round trip); the one whose
// item is not held fails with ErrLostItem and is undone, and the others commit once.
func TestRecordLostItemInBatch(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("usertask.bpmn")
		v.start()
		const n = 24
		ids := make([]string, n)
		items := make([]*store.OperationItem, n)
		for i := range n {
			ids[i] = v.startInstance("usertask", nil).ID
			items[i] = &store.OperationItem{Target: ids[i], InstanceID: ids[i]}
		}
		op := &store.Operation{ID: "op", Kind: "instance.cancel", Actor: "ann", State: store.OperationRunning,
			Total: n, CreatedAt: t0}
		if err := v.st.Write(v.ctx, func(tx store.Tx) error {
			if err := tx.InsertOperation(v.ctx, op, items); err != nil {
				return err
			}
			_, err := tx.ClaimOperationItems(v.ctx, store.ClaimItems{OperationID: op.ID, Owner: "A", Now: t0,
				Until: t0.Add(time.Minute), Limit: n})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		const lost = 7 // its record names an owner that does not hold it
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				owner := "A"
				if i == lost {
					owner = "B"
				}
				rec := func(ctx context.Context, tx store.Tx) error {
					if err := tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: i, Owner: owner,
						State: store.ItemOK, At: t0}); err != nil {
						return err
					}
					return tx.InsertAudit(ctx, &store.AuditEntry{ID: fmt.Sprintf("a%d", i), Time: t0, Actor: "ann",
						Command: "instance.cancel", Target: ids[i], Result: "ok"})
				}
				errs[i] = v.e.CancelInstance(engine.WithRecord(v.ctx, rec), ids[i], "bulk")
			})
		}
		wg.Wait()
		for i, err := range errs {
			want := store.InstanceCancelled
			if i == lost {
				want = store.InstanceActive
				if !errors.Is(err, store.ErrLostItem) {
					t.Errorf("cancel with a lost item: %v, want ErrLostItem", err)
				}
			} else if err != nil {
				t.Errorf("cancel %d: %v", i, err)
			}
			if got := v.state(ids[i]); got != want {
				t.Errorf("instance %d: %s, want %s", i, got, want)
			}
		}
		var audit []*store.AuditEntry
		var counts map[string]int
		if err := v.st.Read(v.ctx, func(tx store.Tx) error {
			var err error
			if audit, err = tx.ListAudit(v.ctx, store.AuditFilter{Command: "instance.cancel"}); err != nil {
				return err
			}
			counts, err = tx.CountOperationItems(v.ctx, op.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(audit) != n-1 {
			t.Errorf("%d audit rows, want %d", len(audit), n-1)
		}
		if counts[store.ItemOK] != n-1 || counts[store.ItemPending] != 1 {
			t.Errorf("item counts %v, want %d ok and 1 pending", counts, n-1)
		}
	})
}
