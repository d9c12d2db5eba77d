package observer_test

import (
	"context"
	"flag"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/observer"
)

var catchUpInstances = flag.Int("observer.instances", 5000, "reference flow instances whose events BenchmarkObserverCatchUp folds")

// BenchmarkObserverCatchUp measures how fast an observer catches up a backlog: an engine
// runs -observer.instances instances of the reference flow (18 events each) and its
// relay publishes them to an embedded NATS server; then an observer on a fresh SQLite
// read model folds the whole stream. Reports events/s (creation of the consumer to the
// last event folded).
//
//	go test -run '^$' -bench ObserverCatchUp -benchtime 1x ./internal/observer/ -args -observer.instances 20000
func BenchmarkObserverCatchUp(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	const prefix = "benchobs"
	_, nc, js := natsServer(b, prefix)
	e, done := referenceSource(b, nc, prefix)
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	n := *catchUpInstances
	go func() {
		for range n {
			if _, err := e.StartInstance(ctx, "bench", engine.StartOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	for range n {
		<-done
	}
	stream, err := js.Stream(ctx, bus.EventsStream(prefix))
	if err != nil {
		b.Fatal(err)
	}
	var total uint64
	for { // the relay publishes the rest
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if info.State.Msgs == total && total > 0 {
			break
		}
		total = info.State.Msgs
		time.Sleep(200 * time.Millisecond) // a benchmark's settle wait, not a test's
	}
	b.ResetTimer()
	for range b.N {
		dst, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "read.db")})
		if err != nil {
			b.Fatal(err)
		}
		ob, err := observer.New(observer.Options{Store: dst, Models: observer.BusModels(js, prefix), JS: js, Prefix: prefix,
			Durable: "bench", Batch: observer.MaxBatch, Logger: log})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := ob.Start(ctx); err != nil {
			b.Fatal(err)
		}
		for ob.Stats().Applied < int64(total) {
			time.Sleep(10 * time.Millisecond)
		}
		took := time.Since(t0)
		_ = ob.Stop(ctx)
		_ = dst.Close()
		b.ReportMetric(float64(total)/took.Seconds(), "events/s")
		b.Logf("%d events of %d instances folded in %v: %.0f events/s", total, n, took.Round(time.Millisecond), float64(total)/took.Seconds())
	}
}

// BenchmarkObserverLive measures an observer that keeps up with an engine running the
// reference flow at full speed (-observer.instances instances, 64 in flight): the time
// from each event's commit on the engine to its fold into the read model (p50, p99),
// and whether the observer kept up (events/s of both).
//
//	go test -run '^$' -bench ObserverLive -benchtime 1x ./internal/observer/ -args -observer.instances 10000
func BenchmarkObserverLive(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	const prefix = "benchlive"
	_, nc, js := natsServer(b, prefix)
	for range b.N {
		e, done := referenceSource(b, nc, prefix)
		dst, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "read.db")})
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var lats []time.Duration
		folded := 0
		ob, err := observer.New(observer.Options{Store: dst, Models: observer.BusModels(js, prefix), JS: js, Prefix: prefix,
			Durable: "live", Logger: log, OnFold: func(res *observer.Result) {
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				for _, m := range res.Folded {
					lats = append(lats, now.Sub(m.Time))
				}
				folded += len(res.Folded)
			}})
		if err != nil {
			b.Fatal(err)
		}
		if err := ob.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			b.Fatal(err)
		}
		n := *catchUpInstances
		t0 := time.Now()
		go func() {
			sem := make(chan struct{}, 64)
			for range n {
				sem <- struct{}{}
				go func() {
					defer func() { <-sem }()
					if _, err := e.StartInstance(ctx, "bench", engine.StartOptions{}); err != nil {
						b.Error(err)
					}
				}()
			}
		}()
		for range n {
			<-done
		}
		engineTook := time.Since(t0)
		total := n * 18
		for {
			mu.Lock()
			f := folded
			mu.Unlock()
			if f >= total {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		foldTook := time.Since(t0)
		_ = ob.Stop(ctx)
		_ = e.Stop(ctx)
		_ = dst.Close()
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		p50, p99 := lats[len(lats)/2], lats[len(lats)*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(total)/engineTook.Seconds(), "engine-events/s")
		b.Logf("%d instances, %d events: the engine in %v (%.0f events/s), folded by %v; commit to fold p50 %v, p99 %v",
			n, total, engineTook.Round(time.Millisecond), float64(total)/engineTook.Seconds(), foldTook.Round(time.Millisecond),
			p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	}
}

// referenceSource is an engine on a SQLite store of its own with the reference flow
// deployed and its handlers, its relay and model publisher publishing as service
// "bench" (all stopped when the benchmark ends); not started. done receives a value per
// completed instance.
func referenceSource(b *testing.B, nc *nats.Conn, prefix string) (*engine.Engine, <-chan struct{}) {
	b.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	src, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "src.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() })
	relay, err := bus.NewRelay(bus.RelayOptions{Store: src, Conn: nc, Prefix: prefix, Service: "bench", Owner: "bench-1", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = relay.Stop(context.Background()) })
	done := make(chan struct{}, 1024)
	e, err := engine.New(engine.Options{Store: src, Workers: 64, Logger: log, OnCommit: func(evs []*store.Event) {
		relay.Notify()
		for _, ev := range evs {
			if ev.Type == "instance.completed" {
				done <- struct{}{}
			}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	for _, typ := range bench.JobTypes {
		e.Handle(typ, func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil })
	}
	if _, err := e.Deploy(ctx, "bench.bpmn", []byte(bench.ReferenceFlow)); err != nil {
		b.Fatal(err)
	}
	models, err := bus.NewModelPublisher(bus.ModelPublisherOptions{Store: src, Conn: nc, Prefix: prefix, Service: "bench", Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := models.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = models.Stop(context.Background()) })
	b.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e, done
}
