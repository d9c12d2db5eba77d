package crashtest

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// The operation nodes' settings: a short item lock, so that the items of a killed node
// come back within seconds, and a rate that makes the operation last long enough to
// kill a node in the middle of it.
const (
	opLockFor = 3 * time.Second
	opRate    = 150 // items a second per node
)

// runOperations is a node that runs the engine without job handlers (the instances stay
// where they are) and an operation executor that cancels instances, until SIGTERM.
func runOperations(ctx context.Context, log *slog.Logger, st store.Store, e *engine.Engine, name, rate string) int {
	r, err := strconv.ParseFloat(rate, 64)
	if err != nil {
		log.Error("operation rate", "err", err)
		return 1
	}
	if err := e.Start(ctx); err != nil {
		log.Error("start engine", "err", err)
		return 1
	}
	x, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Owner: name, Logger: log, Rate: r,
		LockFor: opLockFor, Poll: 100 * time.Millisecond, Kinds: []operation.Kind{operation.CancelInstances(e)}})
	if err != nil {
		log.Error("new executor", "err", err)
		return 1
	}
	if err := x.Start(ctx); err != nil {
		log.Error("start executor", "err", err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := 0
	if err := x.Stop(sctx); err != nil {
		log.Error("stop executor", "err", err)
		code = 1
	}
	if err := e.Stop(sctx); err != nil {
		log.Error("stop engine", "err", err)
		code = 1
	}
	return code
}

// TestKillDuringOperation: two nodes work off a bulk cancel of n instances; the node that
// holds locked items is SIGKILLed in the middle, and the other finishes the operation
// with every item done exactly once: one outcome and one audit row per item, every
// instance cancelled once (one instance.cancelled event each).
func TestKillDuringOperation(t *testing.T) {
	const n = 3000
	h := newHarness(t, n)
	ctx := h.ctx
	st, err := postgres.Open(ctx, postgres.Options{URL: h.url, Schema: h.schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var items []*store.OperationItem
	rows, err := h.db.Query(ctx, h.q(`SELECT id, definition_key FROM $S.instances WHERE state = 'active' ORDER BY id`))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		items = append(items, &store.OperationItem{Target: id, InstanceID: id, DefinitionKey: key})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("%d active instances, want %d", len(items), n)
	}
	op := &store.Operation{ID: uuid.NewString(), Kind: operation.KindCancelInstances, Actor: "crashtest",
		Reason: "node death", CreatedAt: time.Now()}
	if err := operation.Create(ctx, st, op, items); err != nil {
		t.Fatal(err)
	}

	c := &cluster{t: t, url: h.url, schema: h.schema, nodes: map[int]*exec.Cmd{}, names: map[int]string{}, killed: map[string]bool{}}
	slots := map[string]int{}
	for slot := range 2 {
		slots[c.start(slot, envOps+"="+strconv.Itoa(opRate))] = slot
	}
	defer c.stopAll()

	// Wait until some items are done and a node holds locked items it has not finished.
	var victim string
	var doneAtKill int
	wait.Until(t, 3*time.Minute, "a node holding items mid-way", func() error {
		done := h.count(`SELECT count(*) FROM $S.operation_items WHERE operation_id = $1 AND state <> 'pending'`, op.ID)
		if done < n/10 {
			return fmt.Errorf("%d of %d items done", done, n)
		}
		if done == n {
			t.Fatal("the operation ended before a node could be killed: make it longer")
		}
		err := h.db.QueryRow(ctx, h.q(`SELECT owner FROM $S.operation_items WHERE operation_id = $1 AND state = 'pending'
			AND owner <> '' AND locked_until > now() GROUP BY owner ORDER BY count(*) DESC LIMIT 1`), op.ID).Scan(&victim)
		if err != nil {
			return fmt.Errorf("no node holds items: %v", err)
		}
		doneAtKill = done
		return nil
	})
	c.kill(slots[victim])
	held := h.count(`SELECT count(*) FROM $S.operation_items WHERE operation_id = $1 AND state = 'pending' AND owner = $2`, op.ID, victim)
	t.Logf("killed %s with %d of %d items done, %d items locked by it", victim, doneAtKill, n, held)

	wait.Until(t, 5*time.Minute, "the operation to complete on the other node", func() error {
		var state string
		var pending int
		if err := h.db.QueryRow(ctx, h.q(`SELECT state, (SELECT count(*) FROM $S.operation_items WHERE operation_id = $1
			AND state = 'pending') FROM $S.operations WHERE id = $1`), op.ID).Scan(&state, &pending); err != nil {
			return err
		}
		if state != store.OperationCompleted {
			return fmt.Errorf("operation %s, %d items pending", state, pending)
		}
		return nil
	})
	c.stopAll()

	var got struct{ succeeded, failed, skipped int }
	if err := h.db.QueryRow(ctx, h.q(`SELECT succeeded, failed, skipped FROM $S.operations WHERE id = $1`), op.ID).
		Scan(&got.succeeded, &got.failed, &got.skipped); err != nil {
		t.Fatal(err)
	}
	if got.succeeded != n || got.failed != 0 || got.skipped != 0 {
		t.Errorf("operation counts %+v, want %d succeeded", got, n)
	}
	if k := h.count(`SELECT count(*) FROM $S.operation_items WHERE operation_id = $1 AND (state <> 'ok' OR done_at IS NULL)`, op.ID); k != 0 {
		t.Errorf("%d items without a success", k)
	}
	if k := h.count(`SELECT count(*) FROM $S.instances WHERE state <> 'cancelled'`); k != 0 {
		t.Errorf("%d instances not cancelled", k)
	}
	if k := h.count(`SELECT count(DISTINCT instance_id) FROM $S.events WHERE type = 'instance.cancelled'`); k != n {
		t.Errorf("%d instances with an instance.cancelled event, want %d", k, n)
	}
	if k := h.count(`SELECT count(*) FROM (SELECT instance_id FROM $S.events WHERE type = 'instance.cancelled'
		GROUP BY instance_id HAVING count(*) <> 1) x`); k != 0 {
		t.Errorf("%d instances cancelled more than once", k)
	}
	if k := h.count(`SELECT count(*) FROM $S.audit WHERE command = $1`, operation.KindCancelInstances); k != n {
		t.Errorf("%d item audit rows, want %d", k, n)
	}
	if k := h.count(`SELECT count(*) FROM (SELECT target FROM $S.audit WHERE command = $1 GROUP BY target
		HAVING count(*) <> 1) x`, operation.KindCancelInstances); k != 0 {
		t.Errorf("%d items with other than one audit row", k)
	}
	if k := h.count(`SELECT count(*) FROM $S.audit a WHERE a.command = $1 AND a.result <> 'ok'`, operation.KindCancelInstances); k != 0 {
		t.Errorf("%d item audit rows not ok", k)
	}
	// History per instance stays whole: instance_seq 1..n without gaps or repeats.
	if k := h.count(`SELECT count(*) FROM (SELECT instance_id, count(*) AS n, max(instance_seq) AS hi, min(instance_seq) AS lo
		FROM $S.events GROUP BY instance_id) x WHERE n <> hi OR lo <> 1`); k != 0 {
		t.Errorf("%d instances with gaps or repeats in their history", k)
	}
}
