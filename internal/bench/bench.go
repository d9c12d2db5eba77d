// Package bench measures the engine on the reference flow (start, three service tasks
// with no-op handlers, end) on a fresh store: instances completed per second, start-to-
// end latency per instance, and the process's peak memory.
//
// Run sets up a rig (the store, one engine per node, NATS and the metrics projector when
// asked), drives a closed loop of starts, and measures from a collector that the engines'
// commits feed with completions; JobLatency (latency.go) probes one job's wake-up.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// ProcessKey is the process id of the reference flow.
const ProcessKey = "bench"

// JobTypes are the job types of the reference flow's three service tasks, in order.
var JobTypes = []string{"bench.a", "bench.b", "bench.c"}

// ReferenceFlow is the BPMN document of the reference flow.
const ReferenceFlow = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
                  id="Definitions_Bench" targetNamespace="https://cockpit.dev/bench">
  <bpmn:process id="bench" name="Benchmark reference flow" isExecutable="true">
    <bpmn:startEvent id="Start" />
    <bpmn:serviceTask id="TaskA" name="A" camunda:type="external" camunda:topic="bench.a" />
    <bpmn:serviceTask id="TaskB" name="B" camunda:type="external" camunda:topic="bench.b" />
    <bpmn:serviceTask id="TaskC" name="C" camunda:type="external" camunda:topic="bench.c" />
    <bpmn:endEvent id="End" />
    <bpmn:sequenceFlow id="F1" sourceRef="Start" targetRef="TaskA" />
    <bpmn:sequenceFlow id="F2" sourceRef="TaskA" targetRef="TaskB" />
    <bpmn:sequenceFlow id="F3" sourceRef="TaskB" targetRef="TaskC" />
    <bpmn:sequenceFlow id="F4" sourceRef="TaskC" targetRef="End" />
  </bpmn:process>
</bpmn:definitions>
`

// Options configure Run. Zero values take the documented defaults.
type Options struct {
	// N is the number of instances (default 10000).
	N int
	// Concurrency is the number of instances in flight: each of this many goroutines
	// starts an instance and waits for it to complete before starting the next
	// (default 64: on the 2-core reference machine more in flight only adds queueing).
	Concurrency int
	// Store names the store: "sqlite" (the default), or any name with OpenStore.
	Store string
	// OpenStore, when set, opens the (fresh) store to measure instead of a SQLite file in
	// Dir; Run closes it. `cockpit bench --store postgres` passes a throw-away schema.
	OpenStore func(ctx context.Context) (store.Store, error)
	// Dir is where the temporary store directory is made (default os.TempDir()); the
	// directory is removed when Run returns.
	Dir string
	// Nodes is how many engines share the store, as separate Cockpit nodes would (default
	// 1; more need OpenStore). Instances start on the nodes in turn.
	Nodes int
	// Workers is the engine's handler concurrency (0: as many as instances in flight, at
	// least the engine's default: each instance in flight has one job at a time).
	Workers int
	// Out receives the result: a few lines for people, or with JSON exactly one line.
	// Nil prints nothing.
	Out  io.Writer
	JSON bool
	// NATS runs an embedded NATS server and the outbox relay during the run, and
	// measures commit-to-arrival time of events at a subscriber and the outbox backlog.
	NATS bool
	// Metrics runs the metrics projector (internal/monitor) beside the engine, as serve
	// does, so its cost is part of the measurement; the result says how many events it
	// folded and how long it took to catch up after the last completion.
	Metrics bool
	// ExternalWorker, when set, runs the three tasks on a worker in another process, made
	// by this command, over an embedded NATS server (the job protocol of docs/workers.md),
	// instead of on the engines' own handlers.
	ExternalWorker WorkerCommand
	// EngineREST, when set, runs the three tasks on a Camunda 7 external-task client in
	// another process, made by this command with the base URL of the first engine's
	// /engine-rest (internal/camunda) served on a loopback port, instead of on the
	// engines' own handlers. It excludes ExternalWorker.
	EngineREST WorkerCommand
	// Logger gets the engine's log (default: discarded).
	Logger *slog.Logger
}

// Result is what Run measured. Its JSON form is the --json output.
type Result struct {
	Store string `json:"store"`
	N     int    `json:"n"`
	// Nodes is shown only for runs with more than one node.
	Nodes int `json:"nodes,omitempty"`
	// ExternalWorker: the tasks ran on a worker process over NATS.
	ExternalWorker bool `json:"external_worker,omitempty"`
	// EngineREST: the tasks ran on a Camunda 7 client over /engine-rest.
	EngineREST bool `json:"engine_rest,omitempty"`
	// IPS is completed instances per second, from the first start to the last completion.
	IPS float64 `json:"ips"`
	// P50Ms and P99Ms are start-to-completion latencies per instance in milliseconds.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// RSSMB is the process's peak resident memory in MiB (0 when the OS does not say).
	RSSMB float64 `json:"rss_mb"`

	// With Options.NATS only: every event committed during the run is timed from its
	// commit to its arrival at a core NATS subscriber (p50/p99 in ms); MaxBacklog is the
	// largest outbox seen (sampled every 20 ms).
	NATS       bool     `json:"nats,omitempty"`
	Events     *int     `json:"events,omitempty"`
	EventP50Ms *float64 `json:"event_p50_ms,omitempty"`
	EventP99Ms *float64 `json:"event_p99_ms,omitempty"`
	MaxBacklog *int64   `json:"max_backlog,omitempty"`

	// With Options.Metrics only: the events the projector folded, and the time from the
	// last completion until it had folded everything.
	Metrics         bool     `json:"metrics,omitempty"`
	MetricsEvents   *uint64  `json:"metrics_events,omitempty"`
	MetricsCatchUpS *float64 `json:"metrics_catch_up_s,omitempty"`

	Concurrency int           `json:"-"`
	Elapsed     time.Duration `json:"-"`
}

// ErrUnsupportedStore is returned for a store name Run does not know.
var ErrUnsupportedStore = errors.New("unsupported store")

// Run starts N instances of the reference flow from Concurrency goroutines on a fresh
// store and waits until all have completed (or ctx ends). It sets up (a rig: store,
// NATS, projector, engines), drives (a closed loop of starts, with a collector of
// completions) and measures, in that order.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	dir, err := os.MkdirTemp(o.Dir, "cockpit-bench-*")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	r := &rig{o: o, col: newCollector(o.N)}
	defer r.close(ctx)
	if err := r.setUp(ctx, dir); err != nil {
		return nil, err
	}
	first, err := r.drive(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: waiting for %d instances: %w", o.N, err)
	}
	if err := r.stopEngines(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if r.pub != nil {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := r.pub.wait(wctx)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	res := &Result{Store: o.Store, N: o.N, Concurrency: o.Concurrency, ExternalWorker: o.ExternalWorker != nil, EngineREST: o.EngineREST != nil}
	if r.proj != nil {
		if err := metricsCatchUp(ctx, r.st, r.proj, res); err != nil {
			return nil, err
		}
	}
	if o.Nodes > 1 {
		res.Nodes = o.Nodes
	}
	if err := r.col.measure(res, first); err != nil {
		return nil, err
	}
	res.RSSMB = round2(PeakRSSMB())
	if r.pub != nil {
		r.pub.result(res)
	}
	if o.Out != nil {
		if err := res.Write(o.Out, o.JSON); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// defaults fills in the documented defaults and refuses combinations Run cannot serve.
func (o *Options) defaults() error {
	if o.N <= 0 {
		o.N = 10000
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Store == "" {
		o.Store = "sqlite"
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.Nodes > 1 && o.OpenStore == nil {
		return fmt.Errorf("bench: %d nodes need a shared store (OpenStore): %w", o.Nodes, ErrUnsupportedStore)
	}
	if o.Store != "sqlite" && o.OpenStore == nil {
		return fmt.Errorf("bench: store %q: %w (sqlite, or pass OpenStore)", o.Store, ErrUnsupportedStore)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Workers == 0 {
		// Each instance in flight has one job at a time.
		o.Workers = max(o.Concurrency, 64)
	}
	return nil
}

// rig is what a run measures: the store, the NATS publication and the metrics projector
// when asked for, and one engine per node. close tears down whatever was set up, in the
// reverse order: engines (a running executor still reads), projector, NATS, store.
type rig struct {
	o    Options
	col  *collector
	st   store.Store
	pub  *publication
	proj *monitor.Projector
	// engines[0] runs on st; the others on their own store on the same database
	// (nodeStores, OpenStore again), as separate Cockpit processes would.
	engines        []*engine.Engine
	nodeStores     []store.Store
	enginesStopped bool
	// ext serves the tasks to a worker process (Options.ExternalWorker).
	ext *external
}

// setUp opens the store in dir (or OpenStore's), starts NATS and the projector as the
// options ask, then the engines; the first deploys the reference flow.
func (r *rig) setUp(ctx context.Context, dir string) error {
	o := r.o
	var err error
	if o.OpenStore != nil {
		r.st, err = o.OpenStore(ctx)
	} else {
		r.st, err = sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "bench.db")})
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if o.NATS {
		if r.pub, err = startPublication(ctx, dir, r.st, o.Logger); err != nil {
			return err
		}
	}
	if o.Metrics {
		proj, err := monitor.NewProjector(monitor.ProjectorOptions{Store: r.st, Owner: "bench", Logger: o.Logger})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := proj.Start(ctx); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		r.proj = proj
	}
	go r.col.run()
	noop := func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil }
	for i := range o.Nodes {
		nst := r.st
		if i > 0 {
			if nst, err = o.OpenStore(ctx); err != nil {
				return fmt.Errorf("bench: node %d: %w", i, err)
			}
			r.nodeStores = append(r.nodeStores, nst)
		}
		e, err := engine.New(engine.Options{Store: nst, Logger: o.Logger, Workers: o.Workers, OnCommit: r.onCommit,
			NodeID: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		r.engines = append(r.engines, e)
		if o.ExternalWorker == nil && o.EngineREST == nil {
			for _, t := range JobTypes {
				e.Handle(t, noop)
			}
		}
		if i == 0 {
			if _, err := e.Deploy(ctx, "bench.bpmn", []byte(ReferenceFlow)); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
		if err := e.Start(ctx); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if cmd, rest := workerOf(o.ExternalWorker, o.EngineREST); cmd != nil {
		if r.ext, err = startExternal(ctx, r.engines, o.Concurrency, cmd, rest, o.Logger); err != nil {
			return err
		}
	}
	return nil
}

// onCommit runs on an engine's committer goroutine: it hands the events to NATS and
// the projector, and the completions to the collector.
func (r *rig) onCommit(evs []*store.Event) {
	if r.pub != nil {
		r.pub.onCommit(evs)
	}
	if r.proj != nil {
		r.proj.Observe(evs)
	}
	r.col.observe(evs)
}

// stopEngines stops every engine (at most a minute), then closes the other nodes'
// stores; the first node's store stays open for the measurement. It runs once.
func (r *rig) stopEngines(ctx context.Context) error {
	if r.enginesStopped {
		return nil
	}
	r.enginesStopped = true
	if r.ext != nil {
		r.ext.stop()
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	for _, e := range r.engines {
		errs = append(errs, e.Stop(sctx))
	}
	// The other nodes' stores close after every engine has stopped (a running
	// executor still reads).
	for _, nst := range r.nodeStores {
		errs = append(errs, nst.Close())
	}
	return errors.Join(errs...)
}

// close tears the rig down; errors are the run's to report, not the teardown's.
func (r *rig) close(ctx context.Context) {
	_ = r.stopEngines(ctx)
	r.col.stop()
	if r.proj != nil {
		_ = r.proj.Stop(context.WithoutCancel(ctx))
	}
	if r.pub != nil {
		r.pub.close()
	}
	if r.st != nil {
		_ = r.st.Close()
	}
}

// drive is the closed loop: each of Concurrency workers starts an instance (on the
// nodes in turn) and waits for it to complete before starting the next, so the latency
// measured is the engine's, not the time an instance spent queued behind thousands
// started before it. It returns when N have completed, or at the first error.
func (r *rig) drive(ctx context.Context) (first time.Time, err error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		startErr error
		next     atomic.Int64
		wg       sync.WaitGroup
	)
	first = time.Now()
	for range r.o.Concurrency {
		wg.Go(func() {
			for {
				k := next.Add(1)
				if k > int64(r.o.N) || runCtx.Err() != nil {
					return
				}
				t0 := time.Now()
				inst, err := r.engines[int(k)%len(r.engines)].StartInstance(runCtx, ProcessKey, engine.StartOptions{})
				if err == nil {
					select {
					case <-r.col.started(inst.ID, t0):
					case <-runCtx.Done():
						err = runCtx.Err()
					}
				}
				if err != nil {
					mu.Lock()
					if startErr == nil {
						startErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	return first, startErr
}

// completion is what the committer hands to the collector: instances completed in one
// commit, and when.
type completion struct {
	ids []string
	at  time.Time
}

// collector records when each instance started and completed, and wakes the driver's
// worker waiting for each completion. observe runs on the committers and only hands
// completions over; run records them; quit keeps observe from blocking once Run is done.
type collector struct {
	completions chan completion
	quit        chan struct{}

	mu      sync.Mutex
	starts  map[string]time.Time
	ends    map[string]time.Time
	waiters map[string]chan struct{}
}

func newCollector(n int) *collector {
	return &collector{
		completions: make(chan completion, 1024),
		quit:        make(chan struct{}),
		starts:      make(map[string]time.Time, n),
		ends:        make(map[string]time.Time, n),
		waiters:     make(map[string]chan struct{}),
	}
}

// observe picks the completions out of one commit's events.
func (c *collector) observe(evs []*store.Event) {
	var ids []string
	for _, ev := range evs {
		if ev.Type == event.InstanceCompleted {
			ids = append(ids, ev.InstanceID)
		}
	}
	if len(ids) == 0 {
		return
	}
	select {
	case c.completions <- completion{ids: ids, at: time.Now()}:
	case <-c.quit:
	}
}

// run records completions until stop.
func (c *collector) run() {
	for {
		select {
		case done := <-c.completions:
			c.mu.Lock()
			for _, id := range done.ids {
				c.ends[id] = done.at
				if w := c.waiters[id]; w != nil {
					close(w)
					delete(c.waiters, id)
				}
			}
			c.mu.Unlock()
		case <-c.quit:
			return
		}
	}
}

func (c *collector) stop() { close(c.quit) }

// started records that the instance started at t0, and returns a channel closed when
// it has completed.
func (c *collector) started(id string, t0 time.Time) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.starts[id] = t0
	ch := make(chan struct{})
	if _, ok := c.ends[id]; ok {
		close(ch)
	} else {
		c.waiters[id] = ch
	}
	return ch
}

// measure fills in res's throughput and latencies from the recorded starts and
// completions; first is when the driver began.
func (c *collector) measure(res *Result, first time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	lats := make([]time.Duration, 0, len(c.ends))
	var last time.Time
	for id, end := range c.ends {
		start, ok := c.starts[id]
		if !ok {
			return fmt.Errorf("bench: instance %s completed but was not started by the benchmark", id)
		}
		lats = append(lats, end.Sub(start))
		if end.After(last) {
			last = end
		}
	}
	res.Elapsed = last.Sub(first)
	if res.Elapsed > 0 {
		res.IPS = round2(float64(res.N) / res.Elapsed.Seconds())
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	res.P50Ms = round2(ms(percentile(lats, 50)))
	res.P99Ms = round2(ms(percentile(lats, 99)))
	return nil
}

// Write prints the result: one JSON line, or a short text for people.
func (r *Result) Write(w io.Writer, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	where := "the engine's handlers"
	switch {
	case r.ExternalWorker:
		where = "a worker process over NATS"
	case r.EngineREST:
		where = "a Camunda 7 client over /engine-rest"
	}
	_, err := fmt.Fprintf(w, `cockpit bench: %d instances of the reference flow (start, 3 service tasks on %s, end) on %s, %d in flight
  throughput  %.1f instances/s (%.2fs from the first start to the last completion)
  latency     p50 %.2f ms, p99 %.2f ms (start to completion)
  peak RSS    %.1f MiB
`, r.N, where, r.Store, r.Concurrency, r.IPS, r.Elapsed.Seconds(), r.P50Ms, r.P99Ms, r.RSSMB)
	if err != nil {
		return err
	}
	if r.Metrics {
		if _, err := fmt.Fprintf(w, "  metrics     %d events folded by the projector, caught up %.2fs after the last completion\n",
			*r.MetricsEvents, *r.MetricsCatchUpS); err != nil {
			return err
		}
	}
	if !r.NATS {
		return nil
	}
	_, err = fmt.Fprintf(w, "  events      %d on NATS, p50 %.2f ms, p99 %.2f ms (commit to arrival at a subscriber), outbox backlog at most %d\n",
		*r.Events, *r.EventP50Ms, *r.EventP99Ms, *r.MaxBacklog)
	return err
}

// metricsCatchUp waits until the projector has folded the whole history (at most a
// minute) and records how long that took and how many events it folded.
func metricsCatchUp(ctx context.Context, st store.Store, proj *monitor.Projector, res *Result) error {
	began := time.Now()
	deadline := began.Add(time.Minute)
	for {
		var state store.MetricsState
		err := st.Read(ctx, func(tx store.Tx) error {
			var err error
			state, err = tx.MetricsState(ctx)
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: metrics state: %w", err)
		}
		if state.Next.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("bench: the metrics projector did not catch up within a minute")
		}
		proj.Notify()
		time.Sleep(10 * time.Millisecond)
	}
	events, took := proj.Stats().Events, round2(time.Since(began).Seconds())
	res.Metrics, res.MetricsEvents, res.MetricsCatchUpS = true, &events, &took
	return nil
}

// percentile returns the nearest-rank percentile p of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round2(x float64) float64 { return math.Round(x*100) / 100 }
