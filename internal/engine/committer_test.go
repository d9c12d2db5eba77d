package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
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
	if url := os.Getenv("COCKPIT_TEST_DATABASE_URL"); url != "" {
		kinds = append(kinds, struct {
			name string
			open func(t *testing.T) *storetest.FaultStore
		}{"postgres", func(t *testing.T) *storetest.FaultStore {
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			schema := "cockpit_test_" + hex.EncodeToString(b)
			t.Cleanup(func() {
				if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
					t.Errorf("drop schema %s: %v", schema, err)
				}
			})
			st, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema})
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			return storetest.NewFaultStore(st)
		}})
	}
	return kinds
}

// waitUntil polls cond until it holds, for at most 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestFailedBatch: a group commit of several commands whose transaction fails as a whole
// (its commit refused, or its outcome lost after it was written), or one of whose
// commands has its Apply refused. Eight user-task completions are queued behind a held
// write so that they form one batch; each completion pushes a service job to this node.
// Whatever the fault: every caller gets exactly one answer, each task is completed once
// and each job runs once (the instances then wait at a second task), every pushed-job reservation is answered once (all worker
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
				fs := kind.open(t)
				clk := clock.NewFake(t0Internal)
				var mu sync.Mutex
				runs := map[string]int{}     // handler runs per instance
				reported := map[string]int{} // usertask.completed events given to OnCommit, per instance
				e, err := New(Options{Store: fs, Clock: clk, Workers: 2 * k, Logger: slog.New(slog.DiscardHandler),
					OnCommit: func(evs []*store.Event) {
						mu.Lock()
						defer mu.Unlock()
						for _, ev := range evs {
							if ev.Type == EventUserTaskCompleted {
								reported[ev.InstanceID]++
							}
						}
					}})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				e.Handle("work", func(_ context.Context, j *Job) (map[string]any, error) {
					mu.Lock()
					runs[j.InstanceID]++
					mu.Unlock()
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
				if _, err := e.DeployModel(ctx, "p.bpmn", defs); err != nil {
					t.Fatal(err)
				}
				if err := e.Start(ctx); err != nil {
					t.Fatal(err)
				}
				ids, tasks := make([]string, k), make([]string, k)
				for i := range k {
					inst, err := e.StartInstance(ctx, "p", StartOptions{})
					if err != nil {
						t.Fatal(err)
					}
					d, err := e.GetInstance(ctx, inst.ID)
					if err != nil || len(d.UserTasks) != 1 {
						t.Fatalf("instance %d: %v, %d tasks", i, err, len(d.UserTasks))
					}
					ids[i], tasks[i] = inst.ID, d.UserTasks[0].ID
				}

				// A plug command holds the committer in its Write while the k completions queue.
				waiting, release := fs.Hold()
				plug := make(chan error, 1)
				go func() {
					_, err := e.StartInstance(ctx, "p", StartOptions{})
					plug <- err
				}()
				<-waiting
				victim := ids[k/2]
				var fired atomic.Bool
				if fc.refuse {
					fs.OnApply(func(c *store.Change) error {
						if c.Instance != nil && c.Instance.ID == victim {
							fired.Store(true)
							return storetest.ErrInjected
						}
						return nil
					})
				} else {
					fs.OnCommit(func(w storetest.WriteInfo) storetest.Fault {
						if w.Applies >= 2 && fired.CompareAndSwap(false, true) {
							return fc.commit
						}
						return storetest.NoFault
					})
				}
				results := make([]error, k)
				answers := make([]atomic.Int32, k)
				var wg sync.WaitGroup
				for i := range k {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i] = e.CompleteUserTask(ctx, tasks[i], nil)
						answers[i].Add(1)
					}()
				}
				waitUntil(t, "the completions to queue", func() bool { return len(e.com.cmds) == k })
				release()
				wg.Wait()
				if err := <-plug; err != nil {
					t.Fatalf("plug: %v", err)
				}
				if !fired.Load() {
					t.Fatal("the fault was never injected: the completions did not form one batch")
				}
				fs.OnApply(nil)
				fs.OnCommit(nil)

				for i, err := range results {
					if n := answers[i].Load(); n != 1 {
						t.Errorf("completion %d answered %d times", i, n)
					}
					switch {
					case fc.refuse && ids[i] == victim:
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
					clk.Advance(5*time.Minute + time.Second)
					e.Wake()
				}
				if fc.refuse {
					// The refused command left nothing behind: the task completes now.
					if err := e.CompleteUserTask(ctx, tasks[k/2], nil); err != nil {
						t.Fatalf("complete the refused task again: %v", err)
					}
				}
				for i, id := range ids {
					waitUntil(t, "instance "+id+" to reach the second task", func() bool {
						d, err := e.GetInstance(ctx, id)
						return err == nil && len(d.UserTasks) == 2
					})
					d, _ := e.GetInstance(ctx, id)
					completed := 0
					for _, ev := range d.History {
						if ev.Type == EventUserTaskCompleted {
							completed++
						}
					}
					mu.Lock()
					ran, rep := runs[id], reported[id]
					mu.Unlock()
					if completed != 1 || ran != 1 {
						t.Errorf("instance %d: task completed %d times, job ran %d times; want once each", i, completed, ran)
					}
					if fc.commit != storetest.LoseCommit && rep != 1 {
						// (A lost commit's events are in the store, for the outbox; OnCommit
						// never saw them, as the engine could not know they were written.)
						t.Errorf("instance %d: OnCommit saw %d task completions, want 1", i, rep)
					}
				}
				waitUntil(t, "every worker slot to come back", func() bool {
					e.pushMu.Lock()
					defer e.pushMu.Unlock()
					return len(e.sem) == 0 && e.pushPending == 0
				})
				cachedSome := false
				// The cache holds what the store holds (read on the committer goroutine, with
				// nothing else in flight: the instances wait at their second task).
				err = e.exec(ctx, func(b *batch) (bool, error) {
					for i, id := range ids {
						snap := b.cached(id)
						if snap == nil {
							continue
						}
						cachedSome = true
						agg, err := b.tx.LoadInstance(ctx, id)
						if err != nil {
							return false, err
						}
						if snap.inst.Version != agg.Instance.Version || snap.inst.State != agg.Instance.State {
							t.Errorf("instance %d: cached version %d (%s), stored %d (%s)", i,
								snap.inst.Version, snap.inst.State, agg.Instance.Version, agg.Instance.State)
						}
					}
					return false, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if !cachedSome {
					t.Error("no instance is cached: the cache check checked nothing")
				}
			})
		}
	}
}
