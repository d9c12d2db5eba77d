package engine_test

import (
	"context"
	"errors"
	"testing"

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
