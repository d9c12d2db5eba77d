package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/job"
	"github.com/cockpit-engine/cockpit/worker"
)

// childEnv names the NATS URL a re-executed test binary works for (TestMain).
const childEnv = "COCKPIT_WORKER_CHILD_NATS"

// TestMain turns the test binary into a worker process when childEnv is set: it takes
// one job of type "work", says so on stdout, and holds it (extending its lock) until it
// is killed.
func TestMain(m *testing.M) {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(child(url))
	}
	os.Exit(m.Run())
}

func child(url string) int {
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := worker.New(worker.Options{Conn: nc, Name: "doomed", LockFor: time.Second, Concurrency: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w.Handle("work", func(ctx context.Context, j *job.Job) (map[string]any, error) {
		fmt.Printf("took %s %d\n", j.Key, j.Attempt)
		<-ctx.Done() // until killed (or the lock is lost)
		return nil, ctx.Err()
	})
	if err := w.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestWorkerKilledMidJob: a worker process killed (SIGKILL) while it runs a job loses it
// when its lock ends; another worker then runs the same job (same key, same attempt: a
// lost lock counts no attempt) and completes it, and nothing runs it again after that.
func TestWorkerKilledMidJob(t *testing.T) {
	r := newRig(t, flow.Build("p").Start("s").ServiceTask("work", flow.JobType("work")).End("e"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+r.URL)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	id := r.Start(t, "p", nil)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the worker process took no job: %v", err)
	}
	var key string
	var attempt int
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "took %s %d", &key, &attempt); err != nil {
		t.Fatalf("worker process said %q: %v", line, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	var runs atomic.Int32
	var gotKey atomic.Value
	w, err := worker.New(worker.Options{Conn: r.Conn, Name: "survivor", Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("work", func(ctx context.Context, j *job.Job) (map[string]any, error) {
		runs.Add(1)
		gotKey.Store(fmt.Sprintf("%s %d", j.Key, j.Attempt))
		return map[string]any{"by": "survivor"}, nil
	})
	runWorker(t, w)
	wait.For(t, "the job completed by the surviving worker", func() bool { return r.State(id) == store.InstanceCompleted })
	if got := gotKey.Load(); got != fmt.Sprintf("%s %d", key, attempt) {
		t.Errorf("the survivor ran %v, want the killed worker's job %s attempt %d", got, key, attempt)
	}
	// Another activation after the completion finds nothing: the job is gone.
	jobs, err := r.Engine.ListJobs(context.Background(), store.JobFilter{InstanceID: id})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("jobs left after completion: %+v, %v", jobs, err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("the job ran %d times on the survivor, want once", n)
	}
}
