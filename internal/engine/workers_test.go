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
	return engine.JobRef{Worker: worker, Key: j.Key, InstanceID: j.InstanceID, Attempt: j.Attempt, Deadline: j.Deadline}
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
		if ws, err := v.e.Workers(v.ctx); err != nil || len(ws) != 1 || ws[0].Name != "w1" || ws[0].InFlight != 1 {
			t.Errorf("Workers() = %+v, %v", ws, err)
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
	v.waitFor("the worker is waiting", func() bool { ws, _ := v.e.Workers(v.ctx); return len(ws) == 1 })
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

// TestExternalWorkerSameNameReactivation: a lock that expired and was taken again by a
// worker of the same name (a replica) is another lock: the first activation's outcomes
// are refused, the second's accepted, and the worker counts one job in flight.
func TestExternalWorkerSameNameReactivation(t *testing.T) {
	v := newEnv(t, storeKinds()[0].open)
	v.deploy("service.bpmn")
	in := v.startInstance("service", map[string]any{"amount": 1})
	first := activate(t, v, "w", 0)
	v.advance(2 * time.Minute)
	second := activate(t, v, "w", 0)
	if len(first) != 1 || len(second) != 1 || first[0].Key != second[0].Key {
		t.Fatalf("activations %+v then %+v", first, second)
	}
	if err := v.e.ReturnJob(v.ctx, ref("w", first[0])); !errors.Is(err, engine.ErrLostLock) {
		t.Fatalf("return by the stale activation: %v, want ErrLostLock", err)
	}
	if _, err := v.e.ExtendJobLock(v.ctx, ref("w", first[0]), time.Minute); !errors.Is(err, engine.ErrLostLock) {
		t.Fatalf("extend by the stale activation: %v, want ErrLostLock", err)
	}
	if ws, err := v.e.Workers(v.ctx); err != nil || len(ws) != 1 || ws[0].InFlight != 1 {
		t.Fatalf("Workers() = %+v, %v; want one job in flight", ws, err)
	}
	// Extending gives a new deadline, which later outcomes name.
	until, err := v.e.ExtendJobLock(v.ctx, ref("w", second[0]), 10*time.Minute)
	if err != nil || !until.After(second[0].Deadline) {
		t.Fatalf("extend: %v, %v", until, err)
	}
	if err := v.e.CompleteJob(v.ctx, ref("w", second[0]), nil); !errors.Is(err, engine.ErrLostLock) {
		t.Fatalf("complete naming the old deadline: %v, want ErrLostLock", err)
	}
	extended := ref("w", second[0])
	extended.Deadline = until
	v.advance(5 * time.Minute) // past the first lock's end, inside the extended one
	if again := activate(t, v, "other", 0); len(again) != 0 {
		t.Fatalf("an extended lock was taken: %+v", again)
	}
	if err := v.e.CompleteJob(v.ctx, extended, nil); err != nil {
		t.Fatal(err)
	}
	v.waitState(in.ID, store.InstanceCompleted)
}

// TestExternalWorkerOutcomes: a failure with retries left and a backoff is offered again
// after that backoff, and repeated as a duplicate; a returned job is offered again at once
// with the same attempt; a thrown BPMN error sets the variables and, uncaught, opens an
// incident, and is a duplicate when repeated.
func TestExternalWorkerOutcomes(t *testing.T) {
	v := newEnv(t, storeKinds()[0].open)
	v.deploy("service.bpmn")
	in := v.startInstance("service", map[string]any{"amount": 1})

	jobs := activate(t, v, "w", 0)
	two := 2
	if err := v.e.FailJob(v.ctx, ref("w", jobs[0]), engine.JobFailure{Message: "busy", Retries: &two, Backoff: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := v.e.FailJob(v.ctx, ref("w", jobs[0]), engine.JobFailure{Message: "busy", Retries: &two, Backoff: time.Hour}); !errors.Is(err, engine.ErrDuplicateOutcome) {
		t.Fatalf("repeated failure: %v, want ErrDuplicateOutcome", err)
	}
	if got := activate(t, v, "w", 0); len(got) != 0 {
		t.Fatalf("activated before the backoff ended: %+v", got)
	}
	v.advance(time.Hour)
	jobs = activate(t, v, "w", 0)
	if len(jobs) != 1 || jobs[0].Attempt != 2 || jobs[0].Retries != 2 {
		t.Fatalf("after the backoff: %+v, want attempt 2 with 2 retries", jobs)
	}

	if err := v.e.ReturnJob(v.ctx, ref("w", jobs[0])); err != nil {
		t.Fatal(err)
	}
	jobs = activate(t, v, "w", 0)
	if len(jobs) != 1 || jobs[0].Attempt != 2 {
		t.Fatalf("after return: %+v, want attempt 2 again", jobs)
	}

	if err := v.e.ThrowJobError(v.ctx, ref("w", jobs[0]), "NO_STOCK", "out of stock", map[string]any{"stock": 0}); err != nil {
		t.Fatal(err)
	}
	if err := v.e.ThrowJobError(v.ctx, ref("w", jobs[0]), "NO_STOCK", "out of stock", nil); !errors.Is(err, engine.ErrDuplicateOutcome) {
		t.Fatalf("repeated throw: %v, want ErrDuplicateOutcome", err)
	}
	if inc := v.openIncidents(in.ID); len(inc) != 1 || inc[0].Type != store.IncidentUnhandledError {
		t.Fatalf("incidents %+v, want the uncaught error", inc)
	}
	stock := ""
	for _, vr := range v.detail(in.ID).Variables {
		if vr.Name == "stock" {
			stock = string(vr.Value)
		}
	}
	if stock != "0" {
		t.Fatalf("variable stock = %q, want 0", stock)
	}
	zero := -1
	if err := v.e.FailJob(v.ctx, ref("w", jobs[0]), engine.JobFailure{Retries: &zero}); !errors.Is(err, engine.ErrInvalidInput) {
		t.Fatalf("negative retries: %v", err)
	}
}

// TestExternalWorkerFilters: an activation may ask for one process's jobs only, and for
// only some of the instance's variables.
func TestExternalWorkerFilters(t *testing.T) {
	v := newEnv(t, storeKinds()[0].open)
	v.deploy("service.bpmn")
	v.startInstance("service", map[string]any{"amount": 2, "secret": "s"})
	req := engine.ActivateRequest{Worker: "w", Types: []string{"work"}, Max: 5, LockFor: time.Minute, ProcessKey: "other"}
	if jobs, err := v.e.ActivateJobs(v.ctx, req); err != nil || len(jobs) != 0 {
		t.Fatalf("another process's jobs: %+v, %v", jobs, err)
	}
	req.ProcessKey, req.BusinessKey = "", "someone else's"
	if jobs, err := v.e.ActivateJobs(v.ctx, req); err != nil || len(jobs) != 0 {
		t.Fatalf("another business key's jobs: %+v, %v", jobs, err)
	}
	req.BusinessKey = ""
	req.ProcessKey, req.Variables = "service", []string{"amount", "missing"}
	jobs, err := v.e.ActivateJobs(v.ctx, req)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("activate: %+v, %v", jobs, err)
	}
	if len(jobs[0].Variables) != 1 || jobs[0].Variables["amount"] != float64(2) {
		t.Fatalf("variables %v, want only amount", jobs[0].Variables)
	}
}
