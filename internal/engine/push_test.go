package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
)

// fetchCounter counts the jobs that LockJobs hands out (the executor's fetch path).
type fetchCounter struct {
	store.Store
	fetched atomic.Int64
}

func (s *fetchCounter) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Write(ctx, func(tx store.Tx) error { return fn(&fetchCountingTx{Tx: tx, s: s}) })
}

type fetchCountingTx struct {
	store.Tx
	s *fetchCounter
}

func (t *fetchCountingTx) LockJobs(ctx context.Context, p store.LockJobsParams) ([]*store.Job, error) {
	jobs, err := t.Tx.LockJobs(ctx, p)
	t.s.fetched.Add(int64(len(jobs)))
	return jobs, err
}

// A service job that a command makes due, of a type this engine handles, is locked by the
// command and started after its commit: no fetch hands it out.
func TestPushedJobsSkipTheFetch(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := &fetchCounter{Store: open(t)}
		v := newEnvOn(t, st, true)
		var runs atomic.Int64
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			runs.Add(1)
			if j.Variables["amount"] == nil {
				t.Errorf("job %s: the pushed job has no variables: %v", j.Key, j.Variables)
			}
			return map[string]any{"done": true}, nil
		})
		v.deploy("service.bpmn")
		v.start()
		for i := range 10 {
			inst := v.startInstance("service", map[string]any{"amount": i})
			v.waitState(inst.ID, store.InstanceCompleted)
		}
		if runs.Load() != 10 {
			t.Errorf("handler ran %d times, want 10", runs.Load())
		}
		if n := st.fetched.Load(); n != 0 {
			t.Errorf("%d jobs were fetched; all should have been pushed", n)
		}
	})
}

// Pushes and fetches share the workers: with one worker and many instances at once,
// every job runs, never two at a time, and nothing deadlocks (a fetch waiting for a slot
// that a pushed job holds runs that job).
func TestPushAndFetchShareOneWorker(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open, func(o *engine.Options) { o.Workers = 1 })
		var running, most atomic.Int64
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			return nil, nil
		})
		v.deploy("service.bpmn")
		v.start()
		var wg sync.WaitGroup
		ids := make([]string, 30)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst, err := v.e.StartInstance(v.ctx, "service", engine.StartOptions{Variables: map[string]any{"amount": i}})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = inst.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != "" {
				v.waitState(id, store.InstanceCompleted)
			}
		}
		if most.Load() != 1 {
			t.Errorf("at most %d handlers ran at once, want 1", most.Load())
		}
	})
}

// Two nodes change the same instances at once, many commands each: group commits run
// two at a time on each node (a pipelined batch builds on the one still committing), the
// version checks fail whole batches, and their commands are re-run. Every command must
// take effect exactly once: each instance ends at version 1 + the number of commands.
func TestConcurrentNodesChangeTheSameInstances(t *testing.T) {
	url := pgtest.URL()
	if url == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: two nodes need PostgreSQL")
	}
	var pg storeKind
	for _, k := range storeKinds() {
		if k.name == "postgres" {
			pg = k
		}
	}
	st := pg.open(t)
	a := newEnvOn(t, st, true)
	b := newEnvOn(t, st, false)
	a.deploy("usertask.bpmn")
	const instances, perNode = 4, 60
	ids := make([]string, instances)
	for i := range ids {
		ids[i] = a.startInstance("usertask", map[string]any{"n": 0}).ID
	}
	before := map[string]int64{}
	for _, id := range ids {
		before[id] = a.detail(id).Instance.Version
	}
	var wg sync.WaitGroup
	for _, v := range []*env{a, b} {
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode / 8 * instances {
					id := ids[(i+w)%instances]
					if err := v.e.SetVariables(v.ctx, id, map[string]any{fmt.Sprintf("w%d", w): i}); err != nil {
						t.Errorf("set variables on %s: %v", id, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	total := int64(0)
	for _, id := range ids {
		total += a.detail(id).Instance.Version - before[id]
	}
	if want := int64(2 * 8 * (perNode / 8 * instances)); total != want {
		t.Fatalf("the instances moved %d versions for %d commands", total, want)
	}
}

// A node remembers the latest version of a process for a short while only on a shared
// store: a version deployed on another node is used for new instances after that.
func TestOtherNodesDeploymentIsStarted(t *testing.T) {
	url := pgtest.URL()
	if url == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: two nodes need PostgreSQL")
	}
	var pg storeKind
	for _, k := range storeKinds() {
		if k.name == "postgres" {
			pg = k
		}
	}
	st := pg.open(t)
	a := newEnvOn(t, st, true)
	b := newEnvOn(t, st, false)
	a.deploy("service.bpmn")
	if v := a.startInstance("service", map[string]any{"amount": 1}).DefinitionVersion; v != 1 {
		t.Fatalf("first instance on version %d", v)
	}
	b.deploy("service_v2.bpmn")
	a.advance(2 * time.Second)
	if v := a.startInstance("service", map[string]any{"amount": 1}).DefinitionVersion; v != 2 {
		t.Fatalf("after another node deployed version 2, a new instance started on version %d", v)
	}
}

// probeHolder holds the executor's look for the next due job (NextJobDue) until released.
type probeHolder struct {
	store.Store
	once    sync.Once
	probing chan struct{} // closed when a probe waits
	release chan struct{}
}

func (s *probeHolder) Read(ctx context.Context, fn func(store.Tx) error) error {
	return s.Store.Read(ctx, func(tx store.Tx) error { return fn(&probeHoldingTx{Tx: tx, s: s}) })
}

type probeHoldingTx struct {
	store.Tx
	s *probeHolder
}

func (t *probeHoldingTx) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	t.s.once.Do(func() { close(t.s.probing) })
	select {
	case <-t.s.release:
	case <-ctx.Done():
	}
	return t.Tx.NextJobDue(ctx)
}

// The executor's looks at the store (a fetch, the probe for the next due job) run beside
// its loop: a slow one does not hold back the jobs pushed to it meanwhile.
func TestPushedJobsRunWhileTheExecutorLooks(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := &probeHolder{Store: open(t), probing: make(chan struct{}), release: make(chan struct{})}
		v := newEnvOn(t, st, true)
		defer close(st.release)
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		v.deploy("service.bpmn")
		v.start() // looks at once: finds nothing due, then probes, and the probe waits
		<-st.probing
		for i := range 3 {
			inst := v.startInstance("service", map[string]any{"amount": i})
			v.waitState(inst.ID, store.InstanceCompleted)
		}
	})
}

// A job's outcome hands its worker slot to the job it makes due: with one worker, each
// task of a three-task flow is pushed to it in turn (the finishing job needs no second
// slot), none waits for a fetch, and no two handlers run at once.
func TestOutcomeHandsItsSlotToTheNextJob(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := &fetchCounter{Store: open(t)}
		v := newEnvOn(t, st, true, func(o *engine.Options) { o.Workers = 1 })
		var running, most atomic.Int64
		for _, typ := range bench.JobTypes {
			v.e.Handle(typ, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
				n := running.Add(1)
				defer running.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				return nil, nil
			})
		}
		if _, err := v.e.Deploy(v.ctx, "bench.bpmn", []byte(bench.ReferenceFlow)); err != nil {
			t.Fatal(err)
		}
		v.start()
		for range 5 {
			v.waitState(v.startInstance("bench", nil).ID, store.InstanceCompleted)
		}
		if n := st.fetched.Load(); n != 0 {
			t.Errorf("%d jobs were fetched; each should have been pushed with its predecessor's slot", n)
		}
		if most.Load() != 1 {
			t.Errorf("at most %d handlers ran at once, want 1", most.Load())
		}
	})
}
