package operation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// eachStore runs fn on SQLite and, when the test database is set, on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
	if url := pgtest.URL(); url != "" {
		t.Run("postgres", func(t *testing.T) {
			t.Parallel()
			st := pgtest.Open(t, postgres.Options{URL: url})
			t.Cleanup(func() { st.Close() })
			fn(t, st)
		})
	}
}

type env struct {
	t     *testing.T
	st    store.Store
	e     *engine.Engine
	clock *clock.Fake
	seq   int
	mu    sync.Mutex
	evs   []*store.Event
}

func newEnv(t *testing.T, st store.Store) *env {
	v := &env{t: t, st: st, clock: clock.NewFake(t0)}
	e, err := engine.New(engine.Options{Store: st, Clock: v.clock, Workers: 2, Logger: slog.New(slog.DiscardHandler),
		OnCommit: func(evs []*store.Event) { v.mu.Lock(); v.evs = append(v.evs, evs...); v.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	v.e = e
	for _, f := range []string{"usertask.bpmn", "nodefault.bpmn"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Deploy(t.Context(), f, data); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func (v *env) count(typ event.Type, instance string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, ev := range v.evs {
		if ev.Type == typ && ev.InstanceID == instance {
			n++
		}
	}
	return n
}

func (v *env) executor(owner string, kinds ...operation.Kind) *operation.Executor {
	x, err := operation.NewExecutor(operation.ExecutorOptions{Store: v.st, Clock: v.clock, Owner: owner, Kinds: kinds,
		Batch: 8, Concurrency: 4, LockFor: 30 * time.Second})
	if err != nil {
		v.t.Fatal(err)
	}
	return x
}

func (v *env) startX(x *operation.Executor) {
	if err := x.Start(v.t.Context()); err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := x.Stop(ctx); err != nil {
			v.t.Error(err)
		}
	})
}

func (v *env) create(kind string, params any, items []*store.OperationItem) *store.Operation {
	raw, _ := json.Marshal(params)
	v.seq++
	op := &store.Operation{ID: fmt.Sprintf("op-%s-%d", kind, v.seq), Kind: kind, Actor: "ann", Reason: "cleanup",
		Params: raw, CreatedAt: v.clock.Now()}
	if err := operation.Create(v.t.Context(), v.st, op, items); err != nil {
		v.t.Fatal(err)
	}
	return op
}

func (v *env) op(id string) *store.Operation {
	var op *store.Operation
	if err := v.st.Read(v.t.Context(), func(tx store.Tx) error {
		var err error
		op, err = tx.GetOperation(v.t.Context(), id)
		return err
	}); err != nil {
		v.t.Fatal(err)
	}
	return op
}

func (v *env) items(id string) []*store.OperationItem {
	var its []*store.OperationItem
	if err := v.st.Read(v.t.Context(), func(tx store.Tx) error {
		var err error
		its, err = tx.ListOperationItems(v.t.Context(), store.OperationItemFilter{OperationID: id, AfterSeq: -1})
		return err
	}); err != nil {
		v.t.Fatal(err)
	}
	return its
}

func (v *env) audit(f store.AuditFilter) []*store.AuditEntry {
	var out []*store.AuditEntry
	if err := v.st.Read(v.t.Context(), func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(v.t.Context(), f)
		return err
	}); err != nil {
		v.t.Fatal(err)
	}
	return out
}

// TestCancelOperation: a bulk cancel cancels each selected instance once, records each
// outcome with its audit row, and an instance that ended before its turn fails alone.
func TestCancelOperation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		var items []*store.OperationItem
		var ids []string
		for range 20 {
			in, err := v.e.StartInstance(t.Context(), "usertask", engine.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
			items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID, DefinitionKey: "usertask"})
		}
		if err := v.e.CancelInstance(t.Context(), ids[5], "by hand"); err != nil {
			t.Fatal(err)
		}
		op := v.create(operation.KindCancelInstances, operation.CancelParams{Reason: "cleanup"}, items)
		v.startX(v.executor("node-a", operation.CancelInstances(v.e)))
		wait.For(t, "operation completed", func() bool { return v.op(op.ID).State == store.OperationCompleted })
		got := v.op(op.ID)
		if got.Succeeded != 19 || got.Failed != 1 || got.Total != 20 {
			t.Fatalf("operation: %+v", got)
		}
		for i, it := range v.items(op.ID) {
			want := store.ItemOK
			if i == 5 {
				want = store.ItemFailed
				if it.Code != "invalid_state" {
					t.Errorf("item 5 code %q", it.Code)
				}
			}
			if it.State != want {
				t.Errorf("item %d: %s, want %s", i, it.State, want)
			}
		}
		for _, id := range ids {
			if n := v.count(event.InstanceCancelled, id); n != 1 {
				t.Errorf("instance %s cancelled %d times", id, n)
			}
		}
		if a := v.audit(store.AuditFilter{Command: operation.KindCancelInstances, Result: "ok"}); len(a) != 19 {
			t.Errorf("%d ok audit rows, want 19", len(a))
		}
		if a := v.audit(store.AuditFilter{Instance: ids[5], Command: operation.KindCancelInstances}); len(a) != 1 || a[0].Result != "invalid_state" {
			t.Errorf("audit of the failed item: %+v", a)
		}
	})
}

// TestTakeOver: a node that dies holding items (it claimed them and never finished)
// leaves them to another node when their locks end; a late run of the dead node's item
// (it was only slow) is undone, so nothing is done twice.
func TestTakeOver(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		var items []*store.OperationItem
		for range 12 {
			in, err := v.e.StartInstance(t.Context(), "usertask", engine.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID})
		}
		// A kind whose second run would succeed: only the record keeps it to one.
		var runs atomic.Int64
		bump := operation.Kind{Name: "variables.bump", Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
			runs.Add(1)
			return v.e.SetVariables(ctx, it.Target, map[string]any{"bumped": true})
		}}
		op := v.create("variables.bump", nil, items)

		// Node A claims 5 items and dies.
		var dead []*store.OperationItem
		if err := st.Write(t.Context(), func(tx store.Tx) error {
			var err error
			dead, err = tx.ClaimOperationItems(t.Context(), store.ClaimItems{OperationID: op.ID, Owner: "node-a",
				Now: v.clock.Now(), Until: v.clock.Now().Add(30 * time.Second), Limit: 5})
			return err
		}); err != nil || len(dead) != 5 {
			t.Fatalf("claim: %d items, %v", len(dead), err)
		}
		b := v.executor("node-b", bump)
		v.startX(b)
		wait.For(t, "node B ran the free items", func() bool {
			c := 0
			for _, it := range v.items(op.ID) {
				if it.State == store.ItemOK {
					c++
				}
			}
			return c == 7
		})
		if v.op(op.ID).State != store.OperationRunning {
			t.Fatal("the operation ended while a dead node held items")
		}
		v.clock.Advance(31 * time.Second)
		b.Wake()
		wait.For(t, "node B finished the dead node's items", func() bool { return v.op(op.ID).State == store.OperationCompleted })

		// Node A was only slow: it runs its first item now, after B did it.
		late := context.Background()
		rec := func(ctx context.Context, tx store.Tx) error {
			return tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: dead[0].Seq, Owner: "node-a",
				State: store.ItemOK, At: v.clock.Now()})
		}
		err := v.e.SetVariables(engine.WithRecord(late, rec), dead[0].Target, map[string]any{"bumped": true})
		if !errors.Is(err, store.ErrLostItem) {
			t.Fatalf("late run of a taken-over item: %v, want ErrLostItem", err)
		}
		for _, it := range items {
			if n := v.count(event.VariablesChanged, it.Target); n != 1 {
				t.Errorf("instance %s: variables set %d times, want once", it.Target, n)
			}
		}
		if got := v.op(op.ID); got.Succeeded != 12 {
			t.Fatalf("operation: %+v", got)
		}
		if n := len(v.audit(store.AuditFilter{Command: "variables.bump"})); n != 12 {
			t.Errorf("%d audit rows, want 12", n)
		}
	})
}

// TestRetryOperation: a bulk retry retries each incident; one that fails again counts.
func TestRetryOperation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		var items []*store.OperationItem
		for range 4 {
			in, err := v.e.StartInstance(t.Context(), "nodefault", engine.StartOptions{Variables: map[string]any{"amount": 5}})
			if err != nil {
				t.Fatal(err)
			}
			incs, err := v.e.ListIncidents(t.Context(), store.IncidentFilter{InstanceID: in.ID})
			if err != nil || len(incs) != 1 {
				t.Fatalf("incidents: %d %v", len(incs), err)
			}
			items = append(items, &store.OperationItem{Target: incs[0].ID, InstanceID: in.ID, ElementID: incs[0].ElementID})
		}
		// Nothing fixed: every retried incident fails again.
		op := v.create(operation.KindRetryIncidents, operation.RetryParams{}, items[:2])
		x := v.executor("node-a", incidents.RetryOperation(v.e))
		v.startX(x)
		wait.For(t, "retry completed", func() bool { return v.op(op.ID).State == store.OperationCompleted })
		if got := v.op(op.ID); got.Succeeded != 2 || got.FailingAgain != 2 {
			t.Fatalf("retry without a fix: %+v", got)
		}
		// Fixed by the retry's variables: none fails again.
		op2 := v.create(operation.KindRetryIncidents, operation.RetryParams{Variables: map[string]any{"amount": 500}}, items[2:])
		x.Wake()
		wait.For(t, "second retry completed", func() bool { return v.op(op2.ID).State == store.OperationCompleted })
		if got := v.op(op2.ID); got.Succeeded != 2 || got.FailingAgain != 0 {
			t.Fatalf("retry with a fix: %+v", got)
		}
	})
}

// TestCancelWhileRunning: cancelling an operation skips what has not run.
func TestCancelWhileRunning(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		var items []*store.OperationItem
		for i := range 30 {
			items = append(items, &store.OperationItem{Target: fmt.Sprintf("t%d", i)})
		}
		release := make(chan struct{})
		var ran atomic.Int64
		slow := operation.Kind{Name: "slow", Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
			ran.Add(1)
			<-release
			return nil
		}}
		op := v.create("slow", nil, items)
		v.startX(v.executor("node-a", slow))
		wait.For(t, "items running", func() bool { return ran.Load() == 4 })
		if err := st.Write(t.Context(), func(tx store.Tx) error { return tx.CancelOperation(t.Context(), op.ID, v.clock.Now()) }); err != nil {
			t.Fatal(err)
		}
		close(release)
		got := v.op(op.ID)
		if got.State != store.OperationCancelled || got.Skipped != 30 {
			t.Fatalf("cancelled operation: %+v", got)
		}
		wait.For(t, "the running items' outcomes refused", func() bool {
			for _, it := range v.items(op.ID) {
				if it.State != store.ItemSkipped {
					return false
				}
			}
			return true
		})
	})
}

// TestThrottleGrains: the rate starts items in grains of Concurrency (at most a tenth of
// a second's worth), a grain every grain/Rate, so the engine commits a grain's commands
// together; here 4 items every 100 ms at 40 items a second.
func TestThrottleGrains(t *testing.T) {
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v := &env{t: t, st: st, clock: clock.NewFake(t0)}
	var mu sync.Mutex
	var started []time.Time
	record := operation.Kind{Name: "test.record", Run: func(context.Context, *store.Operation, *store.OperationItem) error {
		mu.Lock()
		started = append(started, v.clock.Now())
		mu.Unlock()
		return nil
	}}
	runs := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(started)
	}
	items := make([]*store.OperationItem, 12)
	for i := range items {
		items[i] = &store.OperationItem{Target: fmt.Sprintf("t%d", i)}
	}
	op := v.create("test.record", nil, items)
	x, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: v.clock, Owner: "node-a",
		Kinds: []operation.Kind{record}, Rate: 40, Concurrency: 4, Batch: 8, LockFor: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v.startX(x)
	for grain := 1; grain <= 3; grain++ {
		wait.For(t, fmt.Sprintf("grain %d started", grain), func() bool { return runs() == 4*grain })
		v.clock.Advance(100 * time.Millisecond)
	}
	wait.For(t, "operation completed", func() bool { return v.op(op.ID).State == store.OperationCompleted })
	for i, at := range started {
		if want := t0.Add(time.Duration(i/4) * 100 * time.Millisecond); !at.Equal(want) {
			t.Errorf("item %d started at +%s, want +%s", i, at.Sub(t0), want.Sub(t0))
		}
	}
}
