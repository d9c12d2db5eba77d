package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/workers/workerstest"
	"github.com/cockpit-engine/cockpit/job"
	"github.com/cockpit-engine/cockpit/worker"
)

// newRig starts an engine with the worker service (workerstest) and deploys process.
func newRig(t *testing.T, process *flow.Builder) *workerstest.Rig {
	t.Helper()
	r := workerstest.New(t, workerstest.Options{})
	defs, err := process.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine.DeployModel(context.Background(), "p.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	return r
}

// runWorker runs w until the test ends, and checks that Run returned cleanly.
func runWorker(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// TestWorkerCompletesTypedJobs: a typed handler in another process (over NATS) completes
// the jobs of two instances with their own variables.
func TestWorkerCompletesTypedJobs(t *testing.T) {
	r := newRig(t, flow.Build("order").Start("s").ServiceTask("charge", flow.JobType("charge")).End("e"))
	w, err := worker.New(worker.Options{Conn: r.Conn, Name: "go-1", Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	type in struct {
		Amount float64 `json:"amount"`
	}
	type out struct {
		Charged float64 `json:"charged"`
	}
	worker.HandleJSON(w, "charge", func(ctx context.Context, j *job.Job, v in) (out, error) {
		return out{Charged: v.Amount}, nil
	})
	runWorker(t, w)
	a, b := r.Start(t, "order", map[string]any{"amount": 1}), r.Start(t, "order", map[string]any{"amount": 2})
	for id, want := range map[string]string{a: "1", b: "2"} {
		wait.For(t, "instance "+id+" completed", func() bool { return r.State(id) == store.InstanceCompleted })
		d, _ := r.Engine.GetInstance(context.Background(), id)
		got := ""
		for _, v := range d.Variables {
			if v.Name == "charged" {
				got = string(v.Value)
			}
		}
		if got != want {
			t.Errorf("instance %s: charged = %s, want %s", id, got, want)
		}
	}
}

// TestWorkerReportsErrors: a BPMN error goes to the boundary event; a failure is
// retried, and the job completes on its next attempt.
func TestWorkerReportsErrors(t *testing.T) {
	r := newRig(t, flow.Build("p").Start("s").
		ServiceTask("work", flow.JobType("work"), flow.Retries(3), flow.Backoff("PT0S")).End("ok").
		MoveTo("work").BoundaryError("oops", "OOPS").End("caught"))
	var attempts atomic.Int32
	w, err := worker.New(worker.Options{Conn: r.Conn, Name: "go-2", Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("work", func(ctx context.Context, j *job.Job) (map[string]any, error) {
		if j.Variables["throw"] == true {
			return nil, job.Throw("OOPS", "thrown")
		}
		if attempts.Add(1) == 1 {
			return nil, errors.New("first attempt fails")
		}
		return map[string]any{"attempt": j.Attempt}, nil
	})
	runWorker(t, w)
	thrown := r.Start(t, "p", map[string]any{"throw": true})
	retried := r.Start(t, "p", nil)
	for _, id := range []string{thrown, retried} {
		wait.For(t, "instance "+id+" completed", func() bool { return r.State(id) == store.InstanceCompleted })
	}
	d, _ := r.Engine.GetInstance(context.Background(), thrown)
	ended := ""
	for _, tok := range d.History {
		if tok.Type == "element.entered" {
			ended = tok.ElementID
		}
	}
	if ended != "caught" {
		t.Errorf("the thrown error ended at %q, want caught", ended)
	}
	if attempts.Load() != 2 {
		t.Errorf("%d attempts, want 2 (one failure, one success)", attempts.Load())
	}
}

// TestWorkerExtendsLocks: a handler that runs longer than its lock keeps the job: the
// worker extends the lock while it runs, and the completion is accepted.
func TestWorkerExtendsLocks(t *testing.T) {
	r := newRig(t, flow.Build("slow").Start("s").ServiceTask("work", flow.JobType("slow")).End("e"))
	w, err := worker.New(worker.Options{Conn: r.Conn, Name: "go-3", LockFor: time.Second, Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var runs atomic.Int32
	w.Handle("slow", func(ctx context.Context, j *job.Job) (map[string]any, error) {
		runs.Add(1)
		select { // work until the test saw the lock extended
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	runWorker(t, w)
	id := r.Start(t, "slow", nil)
	lockedUntil := func() time.Time {
		jobs, err := r.Engine.ListJobs(context.Background(), store.JobFilter{InstanceID: id})
		if err != nil || len(jobs) != 1 || jobs[0].LockedUntil == nil {
			return time.Time{}
		}
		return *jobs[0].LockedUntil
	}
	var first time.Time
	wait.For(t, "the job locked by the worker", func() bool { first = lockedUntil(); return !first.IsZero() })
	wait.For(t, "the lock extended", func() bool { return lockedUntil().After(first) })
	close(release)
	wait.For(t, "the slow instance completed", func() bool { return r.State(id) == store.InstanceCompleted })
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times: the lock was not kept while it ran", n)
	}
}

func TestNewChecksOptions(t *testing.T) {
	if _, err := worker.New(worker.Options{Name: "x"}); err == nil {
		t.Error("no connection accepted")
	}
	if _, err := worker.New(worker.Options{Conn: &nats.Conn{}}); err == nil {
		t.Error("no name accepted")
	}
	if _, err := worker.New(worker.Options{Conn: &nats.Conn{}, Name: "x", LockFor: time.Millisecond}); err == nil {
		t.Error("a 1 ms lock accepted")
	}
}

// TestWorkerToken: engines that take only API tokens refuse a worker without one, with
// an unknown one, or with one limited to other job types (Run returns the refusal), and
// run the jobs of a worker with a good one.
func TestWorkerToken(t *testing.T) {
	r := workerstest.New(t, workerstest.Options{Authenticate: func(_ context.Context, token string) ([]string, error) {
		switch token {
		case "ck_good":
			return nil, nil
		case "ck_shipping":
			return []string{"ship"}, nil
		}
		return nil, errors.New("unknown token")
	}})
	defs, err := flow.Build("order").Start("s").ServiceTask("charge", flow.JobType("charge")).End("e").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine.DeployModel(context.Background(), "p.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"", "ck_bad", "ck_shipping"} {
		w, err := worker.New(worker.Options{Conn: r.Conn, Name: "go-1", Wait: time.Second, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		w.Handle("charge", func(context.Context, *job.Job) (map[string]any, error) { return nil, nil })
		if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "unauthorized") {
			t.Errorf("token %q: Run = %v", token, err)
		}
	}
	w, err := worker.New(worker.Options{Conn: r.Conn, Name: "go-2", Wait: 5 * time.Second, Token: "ck_good"})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("charge", func(context.Context, *job.Job) (map[string]any, error) { return nil, nil })
	runWorker(t, w)
	id := r.Start(t, "order", nil)
	wait.For(t, "the instance completed", func() bool { return r.State(id) == store.InstanceCompleted })
}
