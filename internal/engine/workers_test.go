package engine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func activate(t *testing.T, v *env, worker string, wait time.Duration) []*engine.Job {
	t.Helper()
	jobs, err := v.e.ActivateJobs(v.ctx, engine.ActivateRequest{Worker: worker, Types: []string{"work"}, Max: 10,
		LockFor: time.Minute, Wait: wait})
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	return jobs
}

func ref(worker string, j *engine.Job) engine.JobRef {
	return engine.JobRef{Worker: worker, Key: j.Key, InstanceID: j.InstanceID, Attempt: j.Attempt}
}

// TestExternalWorkerCompletesJob: a worker activates a job with its instance's
// variables, locked in its name; its completion moves the instance on, is recorded with
// the worker's name, and a repeat of it is a duplicate, not an error of the job's.
func TestExternalWorkerCompletesJob(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("service.bpmn")
		in := v.startInstance("service", map[string]any{"amount": 3})
		jobs := activate(t, v, "w1", 0)
		if len(jobs) != 1 || jobs[0].InstanceID != in.ID || jobs[0].Attempt != 1 || jobs[0].Variables["amount"] != float64(3) {
			t.Fatalf("activated %+v", jobs)
		}
		if !v.e.Serves("work") {
			t.Error("a worker asked for work: Serves(work) is false")
		}
		if ws := v.e.Workers(); len(ws) != 1 || ws[0].Name != "w1" || ws[0].InFlight != 1 {
			t.Errorf("Workers() = %+v", ws)
		}
		if again := activate(t, v, "w2", 0); len(again) != 0 {
			t.Fatalf("a locked job was activated twice: %+v", again)
		}
		// Only the holder may report.
		if err := v.e.CompleteJob(v.ctx, ref("w2", jobs[0]), nil); !errors.Is(err, engine.ErrLostLock) {
			t.Fatalf("complete by another worker: %v, want ErrLostLock", err)
		}
		if err := v.e.CompleteJob(v.ctx, ref("w1", jobs[0]), map[string]any{"paid": true}); err != nil {
			t.Fatal(err)
		}
		v.waitState(in.ID, store.InstanceCompleted)
		if err := v.e.CompleteJob(v.ctx, ref("w1", jobs[0]), map[string]any{"paid": true}); !errors.Is(err, engine.ErrDuplicateOutcome) {
			t.Fatalf("repeated completion: %v, want ErrDuplicateOutcome", err)
		}
		evs, err := v.e.History(v.ctx, store.EventFilter{InstanceID: in.ID})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range evs {
			if ev.Type == event.JobCompleted {
				var d map[string]any
				found = json.Unmarshal(ev.Data, &d) == nil && d[event.FieldWorker] == "w1"
			}
		}
		if !found {
			t.Error("job.completed does not name the worker")
		}
	})
}

// TestExternalWorkerLongPoll: an activation that finds nothing waits, and a job committed
// meanwhile reaches it without the clock moving; one that waits in vain returns nothing
// when its wait ends.
func TestExternalWorkerLongPoll(t *testing.T) {
	v := newEnv(t, storeKinds()[0].open)
	v.deploy("service.bpmn")
	got := make(chan []*engine.Job, 1)
	go func() { got <- activate(t, v, "w1", 30*time.Second) }()
	v.waitFor("the worker is waiting", func() bool { return len(v.e.Workers()) == 1 })
	in := v.startInstance("service", map[string]any{"amount": 1})
	jobs := <-got
	if len(jobs) != 1 || jobs[0].InstanceID != in.ID {
		t.Fatalf("long poll got %+v", jobs)
	}

	go func() { got <- activate(t, v, "w1", 5*time.Second) }()
	var empty []*engine.Job
	v.waitFor("the empty wait to end as the clock moves", func() bool {
		select {
		case empty = <-got:
			return true
		default:
			v.advance(time.Second)
			return false
		}
	})
	if len(empty) != 0 {
		t.Fatalf("an empty wait returned %+v", empty)
	}
}

// TestExternalWorkerFailsAndLosesLock: a failure with no retries left opens an incident;
// a lock that expires is taken by another worker, and the first one's outcome is refused.
func TestExternalWorkerFailsAndLosesLock(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("service.bpmn")
		a := v.startInstance("service", map[string]any{"amount": 1})
		jobs := activate(t, v, "w1", 0)
		zero := 0
		if err := v.e.FailJob(v.ctx, ref("w1", jobs[0]), engine.JobFailure{Message: "card declined", Retries: &zero}); err != nil {
			t.Fatal(err)
		}
		if inc := v.openIncidents(a.ID); len(inc) != 1 || inc[0].Message != "card declined" {
			t.Fatalf("incidents %+v", inc)
		}

		b := v.startInstance("service", map[string]any{"amount": 2})
		jobs = activate(t, v, "w1", 0)
		if len(jobs) != 1 || jobs[0].InstanceID != b.ID {
			t.Fatalf("activated %+v", jobs)
		}
		v.advance(2 * time.Minute) // w1's lock ends
		taken := activate(t, v, "w2", 0)
		if len(taken) != 1 || taken[0].Key != jobs[0].Key || taken[0].Attempt != jobs[0].Attempt {
			t.Fatalf("after expiry w2 got %+v", taken)
		}
		if err := v.e.CompleteJob(v.ctx, ref("w1", jobs[0]), nil); !errors.Is(err, engine.ErrLostLock) {
			t.Fatalf("late completion: %v, want ErrLostLock", err)
		}
		if err := v.e.CompleteJob(v.ctx, ref("w2", taken[0]), nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(b.ID, store.InstanceCompleted)
	})
}

// TestActivateRequestBounds: every bound of an activation is refused by name.
func TestActivateRequestBounds(t *testing.T) {
	v := newEnv(t, storeKinds()[0].open)
	ok := engine.ActivateRequest{Worker: "w", Types: []string{"work"}, Max: 1, LockFor: time.Minute}
	for _, c := range []struct {
		name string
		edit func(r *engine.ActivateRequest)
		want string
	}{
		{"no worker", func(r *engine.ActivateRequest) { r.Worker = "" }, "worker name"},
		{"long worker", func(r *engine.ActivateRequest) { r.Worker = strings.Repeat("w", 129) }, "worker name"},
		{"no types", func(r *engine.ActivateRequest) { r.Types = nil }, "job types"},
		{"many jobs", func(r *engine.ActivateRequest) { r.Max = 101 }, "max jobs"},
		{"short lock", func(r *engine.ActivateRequest) { r.LockFor = time.Millisecond }, "lock duration"},
		{"long wait", func(r *engine.ActivateRequest) { r.Wait = time.Hour }, "wait"},
	} {
		r := ok
		c.edit(&r)
		if _, err := v.e.ActivateJobs(v.ctx, r); !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
