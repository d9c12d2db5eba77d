package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// LatencyOptions configure JobLatency.
type LatencyOptions struct {
	// Samples is how many instances run, one after the other (default 200).
	Samples int
	// Nodes is how many engines share the store (default 1). With one node the job is
	// pushed: its handler starts in the process that committed it. With several, the
	// instances start on the first node, which does not handle the first task's type, so
	// the job runs on another node: the time includes waking an idle node (PostgreSQL:
	// LISTEN/NOTIFY) and its fetch.
	Nodes int
	// ExternalWorker, when set, runs the tasks on a worker in another process over NATS
	// (see Options.ExternalWorker): the time is from the job's commit to its handler's
	// start in that process.
	ExternalWorker WorkerCommand
	// EngineREST, when set, runs the tasks on a Camunda 7 client over /engine-rest (see
	// Options.EngineREST).
	EngineREST WorkerCommand
	// OpenStore opens one node's store (each node gets its own connections).
	OpenStore func(ctx context.Context) (store.Store, error)
	Store     string
	Out       io.Writer
	JSON      bool
	Logger    *slog.Logger
}

// LatencyResult is the time from a job's commit to its handler's start, on an idle system.
type LatencyResult struct {
	Store          string  `json:"store"`
	Nodes          int     `json:"nodes"`
	ExternalWorker bool    `json:"external_worker,omitempty"`
	EngineREST     bool    `json:"engine_rest,omitempty"`
	Samples        int     `json:"samples"`
	P50Ms          float64 `json:"job_start_p50_ms"`
	P99Ms          float64 `json:"job_start_p99_ms"`
	MaxMs          float64 `json:"job_start_max_ms"`
}

// JobLatency measures how long a job waits between the commit that creates it and the
// start of its handler when nothing else is going on: one instance of the reference flow
// at a time. The commit time is taken in OnCommit of the node that created the job.
func JobLatency(ctx context.Context, o LatencyOptions) (*LatencyResult, error) {
	if o.Samples <= 0 {
		o.Samples = 200
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		mu       sync.Mutex
		created  = map[string]time.Time{} // instance → commit time of its first job
		started  = map[string]time.Time{} // instance → first handler start
		finished = map[string]chan struct{}{}
		complete = map[string]bool{}
	)
	onCommit := func(evs []*store.Event) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			switch {
			case ev.Type == event.JobCreated && ev.ElementID == "TaskA":
				created[ev.InstanceID] = now
			case ev.Type == event.InstanceCompleted:
				complete[ev.InstanceID] = true
				if ch := finished[ev.InstanceID]; ch != nil {
					close(ch)
					delete(finished, ev.InstanceID)
				}
			}
		}
	}
	first := func(_ context.Context, j *engine.Job) (map[string]any, error) {
		now := time.Now()
		mu.Lock()
		if _, ok := started[j.InstanceID]; !ok {
			started[j.InstanceID] = now
		}
		mu.Unlock()
		return nil, nil
	}
	noop := func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil }

	var engines []*engine.Engine
	var stores []store.Store
	// Engines stop before their stores close: a running executor still reads.
	defer func() {
		for _, e := range engines {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			_ = e.Stop(sctx)
			cancel()
		}
		for _, st := range stores {
			_ = st.Close()
		}
	}()
	for i := range o.Nodes {
		st, err := o.OpenStore(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: node %d: %w", i, err)
		}
		stores = append(stores, st)
		e, err := engine.New(engine.Options{Store: st, Logger: o.Logger, OnCommit: onCommit, NodeID: fmt.Sprintf("bench-%d", i)})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		engines = append(engines, e)
		if o.ExternalWorker == nil && o.EngineREST == nil {
			if i > 0 || o.Nodes == 1 {
				e.Handle(JobTypes[0], first)
			}
			e.Handle(JobTypes[1], noop)
			e.Handle(JobTypes[2], noop)
		}
		if i == 0 {
			if _, err := e.Deploy(ctx, "bench.bpmn", []byte(ReferenceFlow)); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
		}
		if err := e.Start(ctx); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	cmd, rest := workerOf(o.ExternalWorker, o.EngineREST)
	if cmd != nil {
		x, err := startExternal(ctx, engines, 1, cmd, rest, o.Logger)
		if err != nil {
			return nil, err
		}
		defer x.stop() // before the engines stop (deferred earlier)
	}
	lats := make([]time.Duration, 0, o.Samples)
	for range o.Samples {
		done := make(chan struct{})
		inst, err := engines[0].StartInstance(ctx, ProcessKey, engine.StartOptions{})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		mu.Lock()
		if _, ok := started[inst.ID]; ok && created[inst.ID].IsZero() {
			mu.Unlock()
			return nil, fmt.Errorf("bench: no commit time for %s", inst.ID)
		}
		if complete[inst.ID] {
			close(done)
		} else {
			finished[inst.ID] = done
		}
		mu.Unlock()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("bench: instance %s did not complete in 30s", inst.ID)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if cmd != nil {
			at, err := workerStart(ctx, engines[0], inst.ID)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			started[inst.ID] = at
			mu.Unlock()
		}
		mu.Lock()
		lats = append(lats, started[inst.ID].Sub(created[inst.ID]))
		mu.Unlock()
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	res := &LatencyResult{Store: o.Store, Nodes: o.Nodes, Samples: o.Samples, ExternalWorker: o.ExternalWorker != nil,
		EngineREST: o.EngineREST != nil, P50Ms: round2(ms(percentile(lats, 50))), P99Ms: round2(ms(percentile(lats, 99))), MaxMs: round2(ms(lats[len(lats)-1]))}
	if o.Out != nil {
		if o.JSON {
			b, _ := json.Marshal(res)
			fmt.Fprintf(o.Out, "%s\n", b)
		} else {
			fmt.Fprintf(o.Out, "cockpit bench --latency: %d idle instances on %s, %d node(s)\n  job commit to handler start  p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				res.Samples, res.Store, res.Nodes, res.P50Ms, res.P99Ms, res.MaxMs)
		}
	}
	return res, nil
}

// workerStart reads when the worker process started the instance's first task: the
// variable its handler set.
func workerStart(ctx context.Context, e *engine.Engine, instanceID string) (time.Time, error) {
	d, err := e.GetInstance(ctx, instanceID)
	if err != nil {
		return time.Time{}, fmt.Errorf("bench: %w", err)
	}
	for _, v := range d.Variables {
		if v.Name != startedVar {
			continue
		}
		var s string
		if err := json.Unmarshal(v.Value, &s); err != nil {
			return time.Time{}, fmt.Errorf("bench: %s of %s: %w", startedVar, instanceID, err)
		}
		ns, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("bench: %s of %s: %w", startedVar, instanceID, err)
		}
		return time.Unix(0, ns), nil
	}
	return time.Time{}, fmt.Errorf("bench: instance %s has no %s: the worker process did not run its first task", instanceID, startedVar)
}
