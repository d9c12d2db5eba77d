package operation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

// BenchmarkBulkCancel measures a bulk cancel of 10,000 running instances on one node
// (SQLite) with the executor as `cockpit serve` configures it (--operation-rate 1000,
// 32 at once), while the reference flow (internal/bench) runs a closed loop of 64:
//
//	cancels/s     instances the operation cancelled per second (creation to completion)
//	ref_ips       reference flow completions per second without the operation
//	ref_ips_bulk  the same while the operation runs
//	ref_ratio     ref_ips_bulk / ref_ips
//
// Run: go test -run '^$' -bench BulkCancel -benchtime 1x ./internal/operation/
// It reports; it asserts nothing about time.
func BenchmarkBulkCancel(b *testing.B) {
	const selected, inFlight = 10_000, 64
	for range b.N {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "c.db")})
		if err != nil {
			b.Fatal(err)
		}
		var completed atomic.Int64
		tick := make(chan struct{}, 1) // poked after each commit that completed reference instances
		e, err := engine.New(engine.Options{Store: st, Workers: inFlight, Logger: slog.New(slog.DiscardHandler),
			OnCommit: func(evs []*store.Event) {
				n := 0
				for _, ev := range evs {
					if ev.Type == event.InstanceCompleted && ev.DefinitionKey == bench.ProcessKey {
						n++
					}
				}
				if n > 0 {
					completed.Add(int64(n))
					select {
					case tick <- struct{}{}:
					default:
					}
				}
			}})
		if err != nil {
			b.Fatal(err)
		}
		for _, typ := range bench.JobTypes {
			e.Handle(typ, func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil })
		}
		for name, doc := range map[string]string{"bench.bpmn": bench.ReferenceFlow, "wait.bpmn": waitFlow} {
			if _, err := e.Deploy(ctx, name, []byte(doc)); err != nil {
				b.Fatal(err)
			}
		}
		if err := e.Start(ctx); err != nil {
			b.Fatal(err)
		}

		// The instances to cancel, and the reference flow alone.
		items := make([]*store.OperationItem, 0, selected)
		for range selected {
			in, err := e.StartInstance(ctx, "wait", engine.StartOptions{})
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID, DefinitionKey: "wait"})
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := e.StartInstance(ctx, bench.ProcessKey, engine.StartOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		// Warm up, then measure the loop alone over refAlone completions.
		const warmUp, refAlone = 500, 3000
		waitCompleted := func(n int64) {
			for completed.Load() < n {
				<-tick
			}
		}
		waitCompleted(warmUp)
		c0, t0 := completed.Load(), time.Now()
		waitCompleted(c0 + refAlone)
		alone := float64(completed.Load()-c0) / time.Since(t0).Seconds()

		finished := make(chan struct{})
		var once sync.Once
		x, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: clock.Real{}, Owner: "bench",
			Kinds: []operation.Kind{operation.CancelInstances(e)}, Rate: operation.DefaultRate,
			Concurrency: operation.DefaultConcurrency, Logger: slog.New(slog.DiscardHandler),
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
		params, _ := json.Marshal(operation.CancelParams{Reason: "bench"})
		op := &store.Operation{ID: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Kind: operation.KindCancelInstances,
			Actor: "bench", Params: params, CreatedAt: time.Now()}
		c1, t1 := completed.Load(), time.Now()
		if err := operation.Create(ctx, st, op, items); err != nil {
			b.Fatal(err)
		}
		x.Wake()
		<-finished
		took := time.Since(t1)
		during := float64(completed.Load()-c1) / took.Seconds()
		var got *store.Operation
		if err := st.Read(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.GetOperation(ctx, op.ID)
			return err
		}); err != nil || got.Succeeded != selected {
			b.Fatalf("operation: %+v %v", got, err)
		}
		close(stop)
		wg.Wait()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := x.Stop(sctx); err != nil {
			b.Error(err)
		}
		if err := e.Stop(sctx); err != nil {
			b.Error(err)
		}
		cancel()
		_ = st.Close()
		b.ReportMetric(float64(selected)/took.Seconds(), "cancels/s")
		b.ReportMetric(alone, "ref_ips")
		b.ReportMetric(during, "ref_ips_bulk")
		b.ReportMetric(during/alone, "ref_ratio")
	}
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
