package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// dataOf returns the data of the instance's events of a type at an element, in order.
func dataOf(t *testing.T, v *env, instanceID string, typ event.Type, element string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range v.detail(instanceID).History {
		if ev.Type != typ || (element != "" && ev.ElementID != element) {
			continue
		}
		m := map[string]any{}
		if len(ev.Data) > 0 {
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatalf("%s at %s: data %s: %v", typ, element, ev.Data, err)
			}
		}
		out = append(out, m)
	}
	return out
}

// one returns the data of the only event of a type at an element.
func one(t *testing.T, v *env, instanceID string, typ event.Type, element string) map[string]any {
	t.Helper()
	ds := dataOf(t, v, instanceID, typ, element)
	if len(ds) != 1 {
		t.Fatalf("%d %s events at %q, want 1", len(ds), typ, element)
	}
	return ds[0]
}

func wantMs(t *testing.T, what string, data map[string]any, field string, want time.Duration) {
	t.Helper()
	got, ok := data[field].(float64)
	if !ok || int64(got) != want.Milliseconds() {
		t.Errorf("%s: %s = %v, want %d (data %v)", what, field, data[field], want.Milliseconds(), data)
	}
}

// The history describes itself for the metrics: element.left carries the stay since the
// token arrived (durationMs, and waitMs where the token waits for something other than a
// job), instance.completed the instance's duration, every arrival its flow (joins
// included), and a token's CreatedAt is its arrival at its current element.
func TestHistoryCarriesStaysAndFlows(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("parallel.bpmn")
		inst := v.startInstance("parallel", nil)
		v.clock.Advance(2 * time.Second)
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "a").ID, nil); err != nil {
			t.Fatal(err)
		}
		for _, tok := range v.detail(inst.ID).Tokens {
			want := t0
			if tok.ElementID == "join" {
				want = t0.Add(2 * time.Second)
			}
			if !tok.CreatedAt.Equal(want) {
				t.Errorf("token at %s: CreatedAt %v, want its arrival %v", tok.ElementID, tok.CreatedAt, want)
			}
		}
		v.clock.Advance(3 * time.Second)
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "b").ID, nil); err != nil {
			t.Fatal(err)
		}
		a := one(t, v, inst.ID, event.ElementLeft, "a")
		wantMs(t, "a left", a, "durationMs", 2*time.Second)
		wantMs(t, "a left", a, "waitMs", 2*time.Second)
		wantMs(t, "b left", one(t, v, inst.ID, event.ElementLeft, "b"), "durationMs", 5*time.Second)
		join := one(t, v, inst.ID, event.ElementLeft, "join")
		wantMs(t, "join left (since the first arrival)", join, "durationMs", 3*time.Second)
		wantMs(t, "join left", join, "waitMs", 3*time.Second)
		if fork := one(t, v, inst.ID, event.ElementLeft, "fork"); fork["waitMs"] != nil {
			t.Errorf("a fork does not wait: %v", fork)
		}
		wantMs(t, "instance completed", one(t, v, inst.ID, event.InstanceCompleted, ""), "durationMs", 5*time.Second)

		var flows []string
		for _, d := range dataOf(t, v, inst.ID, event.ElementEntered, "") {
			if f, ok := d["flow"].(string); ok {
				flows = append(flows, f)
			}
		}
		slices.Sort(flows)
		if want := []string{"f1", "f2", "fa", "fb", "ja", "jb"}; !slices.Equal(flows, want) {
			t.Errorf("flows entered by %v, want %v", flows, want)
		}
		if n := len(dataOf(t, v, inst.ID, event.ElementEntered, "join")); n != 2 {
			t.Errorf("join entered %d times, want once per incoming token (2)", n)
		}

		// Cancelling reports the stays cut short.
		c := v.startInstance("parallel", nil)
		v.clock.Advance(time.Second)
		if err := v.e.CancelInstance(v.ctx, c.ID, "test"); err != nil {
			t.Fatal(err)
		}
		wantMs(t, "instance cancelled", one(t, v, c.ID, event.InstanceCancelled, ""), "durationMs", time.Second)
		wantMs(t, "a cancelled", one(t, v, c.ID, event.ElementCancelled, "a"), "durationMs", time.Second)
	})
}

// Job events carry the wait from the job's due time (the token's arrival, then each
// retry's due time) to the handler's start.
func TestJobEventsCarryWait(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var calls atomic.Int32
		v.e.Handle("flaky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if calls.Add(1) == 1 {
				return nil, errors.New("first attempt fails")
			}
			return nil, nil
		})
		v.start()
		v.deploy("retry.bpmn")
		inst := v.startInstance("retry", nil)
		v.waitFor("first failure", func() bool { return v.countEvents(event.JobFailed, "") == 1 })
		// Due 10 s after the failure; the handler starts 15 s after it.
		v.advance(15 * time.Second)
		v.waitState(inst.ID, store.InstanceCompleted)
		wantMs(t, "job failed", one(t, v, inst.ID, event.JobFailed, "flaky"), "waitMs", 0)
		wantMs(t, "job completed", one(t, v, inst.ID, event.JobCompleted, "flaky"), "waitMs", 5*time.Second)
		left := one(t, v, inst.ID, event.ElementLeft, "flaky")
		wantMs(t, "service task left", left, "durationMs", 15*time.Second)
		if left["waitMs"] != nil {
			t.Errorf("a service task reports its wait on the job events, not element.left: %v", left)
		}
		// The worker counts its job done just after the completion's commit has answered it.
		v.waitFor("the worker to finish", func() bool { return v.e.ExecutorStats().Running == 0 })
		if s := v.e.ExecutorStats(); s.Workers != 4 || s.Running != 0 || s.Busy <= 0 {
			t.Errorf("executor stats %+v", s)
		}
	})
}

// A handler result that cannot be stored is a failed attempt: the job stays, with one
// retry less, and no job.completed is written.
func TestUnstorableHandlerResultIsFailure(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("flaky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return map[string]any{"bad": func() {}}, nil
		})
		v.start()
		v.deploy("retry.bpmn")
		inst := v.startInstance("retry", nil)
		v.waitFor("failure", func() bool { return v.countEvents(event.JobFailed, "") == 1 })
		d := v.detail(inst.ID)
		if len(d.Jobs) != 1 || d.Jobs[0].Retries != 2 {
			t.Fatalf("jobs after an unstorable result: %+v", d.Jobs)
		}
		if n := v.countEvents(event.JobCompleted, ""); n != 0 {
			t.Errorf("%d job.completed events for a failed attempt", n)
		}
	})
}
