package operation_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

var (
	bulkStore = flag.String("bulk.store", "sqlite", "store of the bulk benchmarks: sqlite, or postgres (COCKPIT_TEST_DATABASE_URL)")
	bulkItems = flag.Int("bulk.items", 10_000, "items of the bulk benchmarks' operation")
	bulkRate  = flag.Float64("bulk.rate", operation.DefaultRate, "the executor's rate (--operation-rate) in the bulk benchmarks")
	bulkConc  = flag.Int("bulk.concurrency", operation.DefaultConcurrency, "the executor's concurrency (--operation-concurrency) in the bulk benchmarks")
)

// BenchmarkBulkCancel measures a bulk cancel of 10,000 running instances (each waiting
// at a user task) on one node, with the executor as `cockpit serve` configures it, while
// the reference flow runs at full speed beside it (see benchBulk for what it reports).
//
//	go test -run '^$' -bench BulkCancel -benchtime 1x ./internal/operation/
//	go test -run '^$' -bench BulkCancel -benchtime 1x ./internal/operation/ -args -bulk.store postgres
func BenchmarkBulkCancel(b *testing.B) {
	benchBulk(b, bulkCase{
		Kind:   operation.CancelInstances,
		Deploy: map[string]string{"wait.bpmn": waitFlow},
		Targets: func(ctx context.Context, e *engine.Engine, n int) ([]*store.OperationItem, json.RawMessage, error) {
			ids, err := startInstances(ctx, e, "wait", n)
			if err != nil {
				return nil, nil, err
			}
			items := make([]*store.OperationItem, len(ids))
			for i, id := range ids {
				items[i] = &store.OperationItem{Target: id, InstanceID: id, DefinitionKey: "wait", ElementID: "task"}
			}
			params, err := json.Marshal(operation.CancelParams{Reason: "bench"})
			return items, params, err
		},
	})
}

// BenchmarkBulkMigrate measures a bulk migration of 10,000 running instances (each
// waiting at a user task) from version 1 of a process to version 2, which adds a
// boundary timer on the task (each migration arms it), beside the reference flow (see
// benchBulk).
//
//	go test -run '^$' -bench BulkMigrate -benchtime 1x ./internal/operation/
func BenchmarkBulkMigrate(b *testing.B) {
	benchBulk(b, bulkCase{
		Kind:   operation.MigrateInstances,
		Deploy: map[string]string{"wait.bpmn": waitFlow},
		Targets: func(ctx context.Context, e *engine.Engine, n int) ([]*store.OperationItem, json.RawMessage, error) {
			ids, err := startInstances(ctx, e, "wait", n)
			if err != nil {
				return nil, nil, err
			}
			v1, err := e.ListDefinitions(ctx, store.DefinitionFilter{Key: "wait", LatestOnly: true})
			if err != nil || len(v1) != 1 {
				return nil, nil, fmt.Errorf("version 1 of wait: %v", err)
			}
			v2, err := e.Deploy(ctx, "wait.bpmn", []byte(waitFlowV2))
			if err != nil {
				return nil, nil, err
			}
			prop, err := e.ProposeMigration(ctx, v1[0].ID, v2.Processes[0].Definition.ID)
			if err != nil {
				return nil, nil, err
			}
			items := make([]*store.OperationItem, len(ids))
			for i, id := range ids {
				items[i] = &store.OperationItem{Target: id, InstanceID: id, DefinitionKey: "wait", ElementID: "task"}
			}
			params, err := json.Marshal(operation.MigrateParams{Plan: prop.Plan})
			return items, params, err
		},
	})
}

// bulkCase is a bulk operation for benchBulk: its kind, what its targets need deployed,
// and how to make its targets (on the started engine, before the reference flow runs).
// A migration or modification benchmark passes its own.
type bulkCase struct {
	Kind    func(e *engine.Engine) operation.Kind
	Deploy  map[string]string
	Targets func(ctx context.Context, e *engine.Engine, n int) ([]*store.OperationItem, json.RawMessage, error)
}

// benchBulk measures one bulk operation of -bulk.items items on one node (-bulk.store;
// the executor at -bulk.rate and -bulk.concurrency, by default those of `cockpit serve`)
// while the reference flow (internal/bench) runs its closed loop of 64 beside it, and
// reports:
//
//	items/s       items the operation did per second (creation to completion)
//	ref_ips       reference flow completions per second without the operation (the mean
//	              of a window before it and one after it)
//	ref_ips_bulk  the same while the operation runs
//	ref_ratio     ref_ips_bulk / ref_ips
//
// It asserts nothing about time; it fails when an item does not succeed.
func benchBulk(b *testing.B, bc bulkCase) {
	const inFlight = 64
	for range b.N {
		ctx := context.Background()
		var st store.Store
		switch *bulkStore {
		case "sqlite":
			var err error
			if st, err = sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "bulk.db")}); err != nil {
				b.Fatal(err)
			}
		case "postgres":
			st = pgtest.Open(b, postgres.Options{})
		default:
			b.Fatalf("-bulk.store %q: use sqlite or postgres", *bulkStore)
		}
		loop := bench.NewLoop()
		e, err := engine.New(engine.Options{Store: st, Workers: inFlight, Logger: slog.New(slog.DiscardHandler), OnCommit: loop.Observe})
		if err != nil {
			b.Fatal(err)
		}
		for _, typ := range bench.JobTypes {
			e.Handle(typ, func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil })
		}
		docs := map[string]string{"bench.bpmn": bench.ReferenceFlow}
		for name, doc := range bc.Deploy {
			docs[name] = doc
		}
		for name, doc := range docs {
			if _, err := e.Deploy(ctx, name, []byte(doc)); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Start(ctx); err != nil {
			b.Fatal(err)
		}
		k := bc.Kind(e)
		items, params, err := bc.Targets(ctx, e, *bulkItems)
		if err != nil {
			b.Fatal(err)
		}

		// The reference flow alone: warm up, then a window before the operation.
		loop.Start(ctx, e, inFlight)
		const warmUp, window = 500, 3000
		rate := func(n int64) float64 {
			r, err := loop.Rate(ctx, n)
			if err != nil {
				b.Fatal(err)
			}
			return r
		}
		rate(warmUp)
		before := rate(window)

		finished := make(chan struct{})
		var once sync.Once
		x, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: clock.Real{}, Owner: "bench",
			Kinds: []operation.Kind{k}, Rate: *bulkRate, Concurrency: *bulkConc, Logger: slog.New(slog.DiscardHandler),
			OnProgress: func(_ string, done bool) {
				if done {
					once.Do(func() { close(finished) })
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		if err := x.Start(ctx); err != nil {
			b.Fatal(err)
		}
		op := &store.Operation{ID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Kind: k.Name, Actor: "bench",
			Params: params, CreatedAt: time.Now()}
		c1, t1 := loop.Completed(), time.Now()
		if err := operation.Create(ctx, st, op, items); err != nil {
			b.Fatal(err)
		}
		x.Wake()
		<-finished
		took := time.Since(t1)
		during := float64(loop.Completed()-c1) / took.Seconds()
		after := rate(window)
		alone := (before + after) / 2

		var got *store.Operation
		if err := st.Read(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.GetOperation(ctx, op.ID)
			return err
		}); err != nil || got.Succeeded != len(items) {
			b.Fatalf("operation: %+v %v", got, err)
		}
		if err := loop.Stop(); err != nil {
			b.Error(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := x.Stop(sctx); err != nil {
			b.Error(err)
		}
		if err := e.Stop(sctx); err != nil {
			b.Error(err)
		}
		cancel()
		_ = st.Close()
		b.Logf("%s of %d items on %s in %v: %.0f items/s; reference flow %.0f/s alone (%.0f before, %.0f after), %.0f/s beside it (%.0f%%)",
			k.Name, len(items), *bulkStore, took.Round(time.Millisecond), float64(len(items))/took.Seconds(), alone, before, after,
			during, 100*during/alone)
		b.ReportMetric(float64(len(items))/took.Seconds(), "items/s")
		b.ReportMetric(alone, "ref_ips")
		b.ReportMetric(during, "ref_ips_bulk")
		b.ReportMetric(during/alone, "ref_ratio")
	}
}

// startInstances starts n instances of key, 64 at a time, and returns their ids.
func startInstances(ctx context.Context, e *engine.Engine, key string, n int) ([]string, error) {
	ids := make([]string, n)
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				in, err := e.StartInstance(ctx, key, engine.StartOptions{})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				ids[i] = in.ID
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	return ids, nil
}

const waitFlow = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="https://cockpit.dev/bench">
  <bpmn:process id="wait" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task" />
    <bpmn:userTask id="task" />
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
`

// waitFlowV2 is the wait flow's second version: a boundary timer on its task.
const waitFlowV2 = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="https://cockpit.dev/bench">
  <bpmn:process id="wait" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task" />
    <bpmn:userTask id="task" />
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end" />
    <bpmn:boundaryEvent id="late" attachedToRef="task">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P1D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
`
