package engine

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// faultStoreKinds are the stores the committer's failure tests run on, each wrapped in a
// storetest.FaultStore: SQLite as it is (batches one after the other), SQLite posing as a
// shared store (the two-stage pipeline, on SQLite), and PostgreSQL when the README's test
// database variable is set.
func faultStoreKinds() []struct {
	name string
	open func(t *testing.T) *storetest.FaultStore
} {
	openSQLite := func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		return st
	}
	kinds := []struct {
		name string
		open func(t *testing.T) *storetest.FaultStore
	}{
		{"sqlite", func(t *testing.T) *storetest.FaultStore { return storetest.NewFaultStore(openSQLite(t)) }},
		{"sqlite-pipelined", func(t *testing.T) *storetest.FaultStore {
			fs := storetest.NewFaultStore(openSQLite(t))
			fs.Shared = true
			return fs
		}},
	}
	if url := pgtest.URL(); url != "" {
		kinds = append(kinds, struct {
			name string
			open func(t *testing.T) *storetest.FaultStore
		}{"postgres", func(t *testing.T) *storetest.FaultStore {
			st := pgtest.Open(t, postgres.Options{URL: url})
			return storetest.NewFaultStore(st)
		}})
	}
	return kinds
}

// faultFixture is an engine on a FaultStore, with k instances of a process that waits at
// a user task, then runs a service job on this node (counted per instance), then waits at
// a second user task.
type faultFixture struct {
	t   *testing.T
	fs  *storetest.FaultStore
	e   *Engine
	clk *clock.Fake
	ctx context.Context

	mu       sync.Mutex
	runs     map[string]int // handler runs per instance
	reported map[string]int // usertask.completed events given to OnCommit, per instance

	ids, tasks []string // the instances and their first tasks
}

func newFaultFixture(t *testing.T, fs *storetest.FaultStore, k int, opts Options) *faultFixture {
	t.Helper()
	f := &faultFixture{t: t, fs: fs, clk: clock.NewFake(t0Internal), ctx: context.Background(),
		runs: map[string]int{}, reported: map[string]int{}}
	opts.Store, opts.Clock, opts.Workers = fs, f.clk, 2*k
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.OnCommit = func(evs []*store.Event) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, ev := range evs {
			if ev.Type == event.UserTaskCompleted {
				f.reported[ev.InstanceID]++
			}
		}
	}
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	e.Handle("work", func(_ context.Context, j *Job) (map[string]any, error) {
		f.mu.Lock()
		f.runs[j.InstanceID]++
		f.mu.Unlock()
		return nil, nil
	})
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := fs.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	defs, err := bpmn.Build("p").Start("start").UserTask("task").
		ServiceTask("work", bpmn.JobType("work")).UserTask("after").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(f.ctx, "p.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	for i := range k {
		inst, err := e.StartInstance(f.ctx, "p", StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.GetInstance(f.ctx, inst.ID)
		if err != nil || len(d.UserTasks) != 1 {
			t.Fatalf("instance %d: %v, %d tasks", i, err, len(d.UserTasks))
		}
		f.ids, f.tasks = append(f.ids, inst.ID), append(f.tasks, d.UserTasks[0].ID)
	}
	return f
}

// plug holds the committer: a command waits in its Write until release is called, so
// the commands sent meanwhile queue (see queued) and form the next batches.
func (f *faultFixture) plug() (release func()) {
	waiting, let := f.fs.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := f.e.StartInstance(f.ctx, "p", StartOptions{})
		done <- err
	}()
	<-waiting
	return func() {
		let()
		if err := <-done; err != nil {
			f.t.Errorf("plug: %v", err)
		}
	}
}

// send runs fn(i) for i < n on goroutines of their own, waits until their commands are
// queued behind a plug (n more than before), and returns a wait for their answers, which
// checks that each call returned once.
func (f *faultFixture) send(n int, fn func(i int) error) (answered func() []error) {
	f.t.Helper()
	before := len(f.e.com.cmds)
	results := make([]error, n)
	answers := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = fn(i)
			answers[i].Add(1)
		}()
	}
	wait.For(f.t, "the commands to queue", func() bool { return len(f.e.com.cmds) == before+n })
	return func() []error {
		wg.Wait()
		for i := range answers {
			if got := answers[i].Load(); got != 1 {
				f.t.Errorf("call %d answered %d times", i, got)
			}
		}
		return results
	}
}

// check waits until every instance stands at its second task and checks that its first
// task was completed once (reportedOnce: and given to OnCommit once) and its job ran
// once, that every worker slot came back (each pushed-job reservation answered once),
// and that the cache holds what the store holds.
func (f *faultFixture) check(reportedOnce bool) {
	t := f.t
	t.Helper()
	for i, id := range f.ids {
		wait.For(t, "instance "+id+" to reach the second task", func() bool {
			d, err := f.e.GetInstance(f.ctx, id)
			return err == nil && len(d.UserTasks) == 2
		})
		d, _ := f.e.GetInstance(f.ctx, id)
		completed := 0
		for _, ev := range d.History {
			if ev.Type == event.UserTaskCompleted {
				completed++
			}
		}
		f.mu.Lock()
		ran, rep := f.runs[id], f.reported[id]
		f.mu.Unlock()
		if completed != 1 || ran != 1 {
			t.Errorf("instance %d: task completed %d times, job ran %d times; want once each", i, completed, ran)
		}
		if reportedOnce && rep != 1 {
			t.Errorf("instance %d: OnCommit saw %d task completions, want 1", i, rep)
		}
	}
	e := f.e
	wait.For(t, "every worker slot to come back", func() bool {
		e.pushMu.Lock()
		defer e.pushMu.Unlock()
		return len(e.sem) == 0 && e.pushPending == 0
	})
	// Read on the committer goroutine, with nothing else in flight (the instances wait).
	cached := 0
	err := e.exec(f.ctx, func(b *batch) (bool, error) {
		for i, id := range f.ids {
			snap := b.cached(id)
			if snap == nil {
				continue
			}
			cached++
			agg, err := b.tx.LoadInstance(f.ctx, id)
			if err != nil {
				return false, err
			}
			if snap.inst.Version != agg.Instance.Version || snap.inst.State != agg.Instance.State ||
				len(snap.tasks) != len(agg.Tasks) || len(snap.jobs) != len(agg.Jobs) {
				t.Errorf("instance %d: cached version %d (%d open tasks, %d jobs), stored %d (%d, %d)", i,
					snap.inst.Version, len(snap.tasks), len(snap.jobs), agg.Instance.Version, len(agg.Tasks), len(agg.Jobs))
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cached == 0 {
		t.Error("no instance is cached: the cache check checked nothing")
	}
}

// TestFailedBatch: a group commit of several commands whose transaction fails as a whole
// (its commit refused, or its outcome lost after it was written), or one of whose
// commands has its Apply refused. Eight user-task completions are queued behind a held
// write so that they form one batch; each completion pushes a service job to this node.
// Whatever the fault: every caller gets exactly one answer, each task is completed once
// and each job runs once, every pushed-job reservation is answered once (all worker
// slots come back), OnCommit sees no event of a batch that was not written, and the
// cache holds what the store holds.
func TestFailedBatch(t *testing.T) {
	const k = 8
	faults := []struct {
		name   string
		commit storetest.Fault // the fate of the batch of k completions
		refuse bool            // refuse the Apply of one completion instead
	}{
		{name: "commit fails", commit: storetest.FailCommit},
		{name: "commit lost", commit: storetest.LoseCommit},
		{name: "one apply refused", refuse: true},
	}
	for _, kind := range faultStoreKinds() {
		for _, fc := range faults {
			t.Run(kind.name+"/"+fc.name, func(t *testing.T) {
				t.Parallel()
				f := newFaultFixture(t, kind.open(t), k, Options{})
				release := f.plug()
				victim := f.ids[k/2]
				var fired atomic.Bool
				if fc.refuse {
					f.fs.OnApply(func(c *store.Change) error {
						if c.Instance != nil && c.Instance.ID == victim {
							fired.Store(true)
							return storetest.ErrInjected
						}
						return nil
					})
				} else {
					f.fs.OnCommit(func(w storetest.WriteInfo) storetest.Fault {
						if w.Applies >= 2 && fired.CompareAndSwap(false, true) {
							return fc.commit
						}
						return storetest.NoFault
					})
				}
				wait := f.send(k, func(i int) error { return f.e.CompleteUserTask(f.ctx, f.tasks[i], nil) })
				release()
				results := wait()
				if !fired.Load() {
					t.Fatal("the fault was never injected: the completions did not form one batch")
				}
				f.fs.OnApply(nil)
				f.fs.OnCommit(nil)
				for i, err := range results {
					switch {
					case fc.refuse && f.ids[i] == victim:
						if !errors.Is(err, storetest.ErrInjected) {
							t.Errorf("refused completion: got %v, want the injected error", err)
						}
					case fc.commit == storetest.LoseCommit:
						// Written, but its batch reported a failure: the re-run finds the
						// task completed. The caller learns that, not a second completion.
						if !errors.Is(err, ErrInvalidState) {
							t.Errorf("completion %d after a lost commit: got %v, want ErrInvalidState", i, err)
						}
					case err != nil:
						t.Errorf("completion %d: %v", i, err)
					}
				}
				if fc.commit == storetest.LoseCommit {
					// The lost batch's jobs are locked for this node, their reservations
					// answered void: they run once their locks expire.
					f.clk.Advance(5*time.Minute + time.Second)
					f.e.Wake()
				}
				if fc.refuse {
					// The refused command left nothing behind: the task completes now.
					if err := f.e.CompleteUserTask(f.ctx, f.tasks[k/2], nil); err != nil {
						t.Fatalf("complete the refused task again: %v", err)
					}
				}
				// A lost commit's events are in the store, for the outbox; OnCommit never
				// saw them, as the engine could not know they were written.
				f.check(fc.commit != storetest.LoseCommit)
			})
		}
	}
}

// TestFailedBatchBeforeNext: on a shared store the next batch runs while the one before
// it commits, on the state that one staged. Here the first batch (eight task
// completions) fails at its commit after the second (a variable set on each of the same
// instances) has run on its state: the second must fail too or be retried on the
// store's state (it is finished first), then the first's commands run one by one. Every
// caller gets one answer and every command takes effect once.
func TestFailedBatchBeforeNext(t *testing.T) {
	const k = 8
	for _, kind := range faultStoreKinds() {
		if kind.name == "sqlite" {
			continue // batches one after the other: nothing runs before a failed batch ends
		}
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			fs := kind.open(t)
			f := newFaultFixture(t, fs, k, Options{MaxCommandsPerTx: k})
			release := f.plug()
			// The first batch's commit waits until the second's commands have run, where the
			// store lets two write transactions be open at once (SQLite has one writer: the
			// second begins only when the first has ended, and so runs after it anyway).
			concurrent := kind.name == "postgres"
			secondRan := make(chan struct{})
			var first, second atomic.Bool
			fs.OnCommit(func(w storetest.WriteInfo) storetest.Fault {
				switch {
				case w.Applies >= 2 && first.CompareAndSwap(false, true):
					if concurrent {
						<-secondRan
					}
					return storetest.FailCommit
				case first.Load() && second.CompareAndSwap(false, true):
					close(secondRan)
				}
				return storetest.NoFault
			})
			completions := f.send(k, func(i int) error { return f.e.CompleteUserTask(f.ctx, f.tasks[i], nil) })
			sets := f.send(k, func(i int) error {
				return f.e.SetVariables(f.ctx, f.ids[i], map[string]any{"set": i})
			})
			release()
			for i, err := range completions() {
				if err != nil {
					t.Errorf("completion %d: %v", i, err)
				}
			}
			for i, err := range sets() {
				if err != nil {
					t.Errorf("set variables %d: %v", i, err)
				}
			}
			if !first.Load() || !second.Load() {
				t.Fatalf("faults: first batch failed %v, second batch ran %v", first.Load(), second.Load())
			}
			fs.OnCommit(nil)
			f.check(true)
			for i, id := range f.ids {
				d, err := f.e.GetInstance(f.ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				sets := 0
				for _, ev := range d.History {
					if ev.Type == event.VariablesChanged {
						sets++
					}
				}
				if sets != 1 {
					t.Errorf("instance %d: variables set %d times, want once", i, sets)
				}
			}
		})
	}
}

// TestConflictedBatchBeforeNext: one command a batch. The first batch (a task's
// completion) fails at its commit with a conflict, which its caller retries, after the
// next batch (a variable set on the same instance) has run on the state the first
// staged. The next batch is finished before the first's caller gets its answer, so the
// retry reads the store, not what the next batch staged on the failed state: there the
// task was gone, and the completion (like a job's outcome, which found its job gone and
// was dropped) failed.
func TestConflictedBatchBeforeNext(t *testing.T) {
	for _, kind := range faultStoreKinds() {
		if kind.name == "sqlite" {
			continue // batches one after the other: nothing runs before a failed batch ends
		}
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			fs := kind.open(t)
			f := newFaultFixture(t, fs, 1, Options{MaxCommandsPerTx: 1})
			release := f.plug()
			concurrent := kind.name == "postgres"
			secondRan := make(chan struct{})
			var first, second atomic.Bool
			var writes atomic.Int64 // the plug (an instance's start) commits first
			fs.OnCommit(func(w storetest.WriteInfo) storetest.Fault {
				if w.Applies == 0 {
					return storetest.NoFault
				}
				switch writes.Add(1) {
				case 2:
					first.Store(true)
					if concurrent {
						<-secondRan
					}
					return storetest.ConflictCommit
				case 3:
					second.Store(true)
					close(secondRan)
				}
				return storetest.NoFault
			})
			completion := f.send(1, func(int) error { return f.e.CompleteUserTask(f.ctx, f.tasks[0], nil) })
			set := f.send(1, func(int) error { return f.e.SetVariables(f.ctx, f.ids[0], map[string]any{"set": true}) })
			release()
			if err := completion()[0]; err != nil {
				t.Errorf("completion: %v", err)
			}
			if err := set()[0]; err != nil {
				t.Errorf("set variables: %v", err)
			}
			if !first.Load() || !second.Load() {
				t.Fatalf("faults: first batch failed %v, second batch ran %v", first.Load(), second.Load())
			}
			fs.OnCommit(nil)
			f.check(true)
		})
	}
}
