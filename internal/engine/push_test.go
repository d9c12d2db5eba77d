package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
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
