package engine_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func TestServiceTaskRunsHandlerAndCompletes(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var got *engine.Job
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			got = j
			return map[string]any{"result": "done", "n": 3}, nil
		})
		v.start()
		v.deploy("service.bpmn")
		inst := v.startInstance("service", map[string]any{"amount": 21})
		v.waitState(inst.ID, store.InstanceCompleted)

		if got.Attempt != 1 || got.Key == "" || got.Type != "work" || got.ElementID != "work" {
			t.Errorf("handler got %+v", got)
		}
		if got.Variables["doubled"] != float64(42) {
			t.Errorf("input mapping: doubled = %v, want 42", got.Variables["doubled"])
		}
		d := v.detail(inst.ID)
		vars := map[string]string{}
		for _, va := range d.Variables {
			vars[va.Name] = string(va.Value)
		}
		if vars["result"] != `"done"` || vars["n"] != "3" {
			t.Errorf("variables = %v", vars)
		}
		if len(d.Tokens) != 0 || len(d.Jobs) != 0 {
			t.Errorf("left tokens %v jobs %v", d.Tokens, d.Jobs)
		}
		var types []string
		var seq int64
		for _, ev := range d.History {
			if ev.InstanceSeq <= seq {
				t.Errorf("history out of order at %s", ev.Type)
			}
			seq = ev.InstanceSeq
			types = append(types, string(ev.Type)+":"+ev.ElementID)
		}
		want := []string{
			"instance.started:", "variables.changed:", "element.entered:start", "element.left:start",
			"element.entered:work", "variables.changed:work", "job.created:work", "job.completed:work",
			"variables.changed:work", "element.left:work", "element.entered:end", "element.left:end",
			"instance.completed:",
		}
		if !slices.Equal(types, want) {
			t.Errorf("history:\n got %v\nwant %v", types, want)
		}
	})
}

func TestExclusiveGateway(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("gateway.bpmn")
		high := v.startInstance("gateway", map[string]any{"amount": 600})
		low := v.startInstance("gateway", map[string]any{"amount": 5})
		if v.state(high.ID) != store.InstanceCompleted || v.state(low.ID) != store.InstanceCompleted {
			t.Fatalf("states %s %s", v.state(high.ID), v.state(low.ID))
		}
		if got := v.visited(high.ID); !slices.Contains(got, "markHigh") || !slices.Contains(got, "endHigh") {
			t.Errorf("high path %v", got)
		}
		if got := v.visited(low.ID); !slices.Contains(got, "endLow") || slices.Contains(got, "markHigh") {
			t.Errorf("default path %v", got)
		}
		for _, va := range v.detail(high.ID).Variables {
			if va.Name == "level" && string(va.Value) != `"high-600"` {
				t.Errorf("script result %s", va.Value)
			}
		}
	})
}

func TestNoMatchingFlowIncidentAndRetryWithVariables(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("nodefault.bpmn")
		inst := v.startInstance("nodefault", map[string]any{"amount": 50})
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentNoMatchingFlow || incs[0].ElementID != "check" {
			t.Fatalf("incidents %+v", incs)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"check"}) {
			t.Errorf("token at %v, want the gateway", got)
		}
		if d := v.detail(inst.ID); d.Instance.IncidentCount != 1 {
			t.Errorf("incident count %d", d.Instance.IncidentCount)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{Variables: map[string]any{"amount": 500}}); err != nil {
			t.Fatal(err)
		}
		d := v.detail(inst.ID)
		if d.Instance.State != store.InstanceCompleted || d.Instance.IncidentCount != 0 {
			t.Fatalf("after retry: %s, %d incidents", d.Instance.State, d.Instance.IncidentCount)
		}
		if len(d.Incidents) != 1 || d.Incidents[0].State != store.IncidentResolved || d.Incidents[0].ResolvedAt == nil {
			t.Errorf("incident history lost: %+v", d.Incidents)
		}
		err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{})
		if !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("retrying a resolved incident: %v", err)
		}
	})
}

func TestConditionRuntimeErrorIsIncident(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("nodefault.bpmn")
		inst := v.startInstance("nodefault", nil) // amount is not set
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentExpression || !strings.Contains(incs[0].Message, "amount") {
			t.Fatalf("incidents %+v", incs)
		}
		if err := v.e.SetVariables(v.ctx, inst.ID, map[string]any{"amount": -1}); err != nil {
			t.Fatal(err)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{}); err != nil {
			t.Fatal(err)
		}
		if s := v.state(inst.ID); s != store.InstanceCompleted {
			t.Errorf("state %s", s)
		}
	})
}

func TestParallelJoinWaitsForAllBranches(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("parallel.bpmn")
		inst := v.startInstance("parallel", nil)
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("tokens %v", got)
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "a").ID, map[string]any{"a": true}); err != nil {
			t.Fatal(err)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"b", "join"}) {
			t.Fatalf("after a: tokens %v", got)
		}
		if v.state(inst.ID) != store.InstanceActive {
			t.Fatal("join did not wait")
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "b").ID, nil); err != nil {
			t.Fatal(err)
		}
		if s := v.state(inst.ID); s != store.InstanceCompleted {
			t.Fatalf("state %s", s)
		}
		n := 0
		for _, ev := range v.detail(inst.ID).History {
			if ev.Type == event.ElementLeft && ev.ElementID == "end" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("end reached %d times, want 1", n)
		}
	})
}

func TestUserTaskFormTypes(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("usertask.bpmn")
		inst := v.startInstance("usertask", nil)
		task := v.openTask(inst.ID, "approve")
		if task.Assignee != "ops" || task.CandidateGroups != "managers" || task.Name != "Approve order" {
			t.Errorf("task %+v", task)
		}
		err := v.e.CompleteUserTask(v.ctx, task.ID, map[string]any{"approved": "yes"})
		if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "approved") {
			t.Fatalf("wrong type accepted: %v", err)
		}
		err = v.e.CompleteUserTask(v.ctx, task.ID, map[string]any{"limit": 2.5})
		if !errors.Is(err, engine.ErrInvalidInput) {
			t.Fatalf("fraction accepted for long: %v", err)
		}
		if v.state(inst.ID) != store.InstanceActive || len(v.detail(inst.ID).Variables) != 0 {
			t.Fatal("a refused completion changed the instance")
		}
		if err := v.e.CompleteUserTask(v.ctx, task.ID, map[string]any{"approved": true, "limit": 100}); err != nil {
			t.Fatal(err)
		}
		if s := v.state(inst.ID); s != store.InstanceCompleted {
			t.Fatalf("state %s", s)
		}
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("completing twice: %v", err)
		}
		if err := v.e.CompleteUserTask(v.ctx, "nope", nil); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("unknown task: %v", err)
		}
	})
}

func TestIntermediateTimerDurationAndDate(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("timer.bpmn")
		inst := v.startInstance("timer", nil)
		jobs := v.detail(inst.ID).Jobs
		if len(jobs) != 1 || jobs[0].Kind != store.JobTimer || !jobs[0].DueAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("timer job %+v", jobs)
		}
		v.advance(9 * time.Minute)
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"wait"}) {
			t.Fatalf("fired early: %v", got)
		}
		v.advance(time.Minute)
		v.waitFor("duration timer", func() bool { return slices.Equal(v.tokensAt(inst.ID), []string{"waitDate"}) })
		due := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		if j := v.detail(inst.ID).Jobs; len(j) != 1 || !j[0].DueAt.Equal(due) {
			t.Fatalf("date timer %+v", j)
		}
		v.clock.Set(due)
		v.e.Wake()
		v.waitState(inst.ID, store.InstanceCompleted)
	})
}

func TestMessageCatchWithCorrelationKey(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("message.bpmn")
		a := v.startInstance("message", map[string]any{"orderId": "A-1"})
		b := v.startInstance("message", map[string]any{"orderId": 17})
		_, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "Z-9"})
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
		res, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "17",
			Variables: map[string]any{"paid": 99.5}})
		if err != nil {
			t.Fatal(err)
		}
		if res.InstanceID != b.ID || res.Started {
			t.Errorf("correlated to %+v, want %s", res, b.ID)
		}
		if v.state(b.ID) != store.InstanceCompleted || v.state(a.ID) != store.InstanceActive {
			t.Errorf("states a=%s b=%s", v.state(a.ID), v.state(b.ID))
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "A-1"}); err != nil {
			t.Fatal(err)
		}
		if v.state(a.ID) != store.InstanceCompleted {
			t.Error("a did not complete")
		}
	})
}

func TestBoundaryTimers(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("boundary_timer.bpmn")
		inst := v.startInstance("boundary_timer", nil)
		// Non-interrupting R2/PT10M on "sign": fires twice, the task stays.
		v.advance(10 * time.Minute)
		v.waitFor("first reminder", func() bool { return v.hasEvent(inst.ID, event.ElementLeft, "endReminded") })
		v.advance(10 * time.Minute)
		v.waitFor("second reminder", func() bool { return v.countEvents(event.ElementLeft, "endReminded") == 2 })
		v.advance(10 * time.Minute)
		if n := v.countEvents(event.ElementLeft, "endReminded"); n != 2 {
			t.Errorf("reminders %d, want 2 (R2)", n)
		}
		v.openTask(inst.ID, "sign")
		// Interrupting PT1H on "review": cancels the task and escalates.
		v.advance(30 * time.Minute)
		v.waitFor("escalation", func() bool { return v.hasEvent(inst.ID, event.ElementLeft, "endEscalated") })
		for _, task := range v.detail(inst.ID).UserTasks {
			if task.ElementID == "review" && task.State != store.TaskCancelled {
				t.Errorf("review task %s, want cancelled", task.State)
			}
		}
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "sign").ID, nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if j := v.detail(inst.ID).Jobs; len(j) != 0 {
			t.Errorf("timer jobs left: %+v", j)
		}
	})
}

func TestBoundaryErrorOnServiceTask(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("charge", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			switch j.Variables["card"] {
			case "declined":
				return nil, engine.ThrowError("DECLINED", "card declined")
			case "weird":
				return nil, engine.ThrowError("UNKNOWN", "no boundary for this")
			}
			return nil, nil
		})
		v.start()
		v.deploy("boundary_error.bpmn")
		ok := v.startInstance("boundary_error", map[string]any{"card": "good"})
		declined := v.startInstance("boundary_error", map[string]any{"card": "declined"})
		weird := v.startInstance("boundary_error", map[string]any{"card": "weird"})
		v.waitState(ok.ID, store.InstanceCompleted)
		v.waitState(declined.ID, store.InstanceCompleted)
		if !slices.Contains(v.visited(declined.ID), "endDeclined") || slices.Contains(v.visited(declined.ID), "endPaid") {
			t.Errorf("declined path %v", v.visited(declined.ID))
		}
		v.waitFor("unhandled error incident", func() bool { return len(v.openIncidents(weird.ID)) == 1 })
		inc := v.openIncidents(weird.ID)[0]
		if inc.Type != store.IncidentUnhandledError || inc.JobID == "" || !strings.Contains(inc.Message, "UNKNOWN") {
			t.Errorf("incident %+v", inc)
		}
	})
}

func TestSubprocessCompletesErrorsAndTimesOut(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("pick", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if j.Variables["slow"] == true {
				return nil, fmt.Errorf("warehouse offline") // stays retrying until the timeout
			}
			return map[string]any{"picked": true}, nil
		})
		v.start()
		v.deploy("subprocess.bpmn")
		ok := v.startInstance("subprocess", map[string]any{"outOfStock": false})
		failed := v.startInstance("subprocess", map[string]any{"outOfStock": true})
		slow := v.startInstance("subprocess", map[string]any{"slow": true, "outOfStock": false})
		v.waitState(ok.ID, store.InstanceCompleted)
		if got := v.visited(ok.ID); !slices.Contains(got, "subEnd") || !slices.Contains(got, "sub") || !slices.Contains(got, "end") {
			t.Errorf("ok path %v", got)
		}
		v.waitState(failed.ID, store.InstanceCompleted)
		if got := v.visited(failed.ID); !slices.Contains(got, "endFailed") || slices.Contains(got, "end") {
			t.Errorf("error path %v", got)
		}
		v.waitFor("slow job failed once", func() bool { return v.hasEvent(slow.ID, event.JobFailed, "pick") })
		v.advance(time.Hour)
		v.waitState(slow.ID, store.InstanceCompleted)
		d := v.detail(slow.ID)
		if !slices.Contains(v.visited(slow.ID), "endTimeout") || len(d.Jobs) != 0 || len(d.Tokens) != 0 {
			t.Errorf("timeout path %v, jobs %d tokens %d", v.visited(slow.ID), len(d.Jobs), len(d.Tokens))
		}
	})
}

// TestElementCountsFollowHistory: the completion counts the store keeps are the
// element.left events of the history, per definition (the store matches the event type
// by its own constant).
func TestElementCountsFollowHistory(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("pick", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		v.start()
		sub := v.deploy("subprocess.bpmn").Processes[0].Definition
		par := v.deploy("parallel.bpmn").Processes[0].Definition
		for _, outOfStock := range []bool{false, false, true} {
			inst := v.startInstance("subprocess", map[string]any{"outOfStock": outOfStock})
			v.waitState(inst.ID, store.InstanceCompleted)
		}
		inst := v.startInstance("parallel", nil)
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "a").ID, nil); err != nil {
			t.Fatal(err)
		}
		v.startInstance("parallel", nil) // waits at a and b: only start and fork completed
		for _, def := range []*store.Definition{sub, par} {
			want := map[string]int64{}
			for _, id := range v.instancesOf(def.ID) {
				for _, ev := range v.detail(id).History {
					if ev.Type == event.ElementLeft {
						want[ev.ElementID]++
					}
				}
			}
			got, err := v.e.ElementCounts(v.ctx, def.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("%s: ElementCounts %v, want the element.left events %v", def.Key, got, want)
			}
		}
		if got, _ := v.e.ElementCounts(v.ctx, par.ID); got["a"] != 1 || got["b"] != 0 || got["start"] != 2 || got["end"] != 0 {
			t.Errorf("parallel: %v", got)
		}
	})
}

func (v *env) instancesOf(definitionID string) []string {
	v.t.Helper()
	page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionID: definitionID, Limit: 100})
	if err != nil {
		v.t.Fatal(err)
	}
	return ids(page.Instances)
}

func ids(ins []*store.Instance) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	return out
}

func TestTerminateEndEvent(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("terminate.bpmn")
		inst := v.startInstance("terminate", nil)
		d := v.detail(inst.ID)
		if d.Instance.State != store.InstanceCompleted || len(d.Tokens) != 0 {
			t.Fatalf("state %s tokens %v", d.Instance.State, d.Tokens)
		}
		if len(d.UserTasks) != 1 || d.UserTasks[0].State != store.TaskCancelled {
			t.Errorf("user task not cancelled: %+v", d.UserTasks)
		}
	})
}

func TestUncaughtErrorEndIsIncident(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("error_end.bpmn")
		inst := v.startInstance("error_end", nil)
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentUnhandledError || incs[0].ElementID != "boom" {
			t.Fatalf("incidents %+v", incs)
		}
	})
}

func TestTimerStartCycleAndCron(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("timer_start.bpmn")
		v.deploy("cron_start.bpmn")
		count := func(key string) int {
			page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: key, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Instances)
		}
		if count("timer_start") != 0 {
			t.Fatal("started before due")
		}
		for i := 1; i <= 3; i++ {
			v.advance(time.Hour)
			want := min(i, 2)
			v.waitFor(fmt.Sprintf("%d timer starts", want), func() bool { return count("timer_start") == want })
		}
		// Cron "0 0 6 * * *": the clock started at 09:00, so the next run is 06:00 tomorrow.
		if count("cron_start") != 0 {
			t.Fatalf("cron started early: %d", count("cron_start"))
		}
		v.clock.Set(time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC))
		v.e.Wake()
		v.waitFor("cron start", func() bool { return count("cron_start") == 1 })
		v.clock.Set(time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC))
		v.e.Wake()
		v.waitFor("second cron start", func() bool { return count("cron_start") == 2 })
	})
}

func TestMessageStart(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("message_start.bpmn")
		res, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.placed", CorrelationKey: "O-1",
			Variables: map[string]any{"total": 12}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Started {
			t.Fatalf("result %+v", res)
		}
		d := v.detail(res.InstanceID)
		if d.Instance.BusinessKey != "O-1" || len(d.UserTasks) != 1 {
			t.Errorf("instance %+v tasks %d", d.Instance, len(d.UserTasks))
		}
		if _, err := v.e.StartInstance(v.ctx, "message_start", engine.StartOptions{}); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("plain start of a message-start process: %v", err)
		}
	})
}

func TestVersionedDeployments(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		d1 := v.deploy("service.bpmn")
		again := v.deploy("service.bpmn")
		if !d1.Processes[0].Created || again.Processes[0].Created || again.Processes[0].Definition.ID != d1.Processes[0].Definition.ID {
			t.Fatalf("same bytes made a new version: %+v %+v", d1.Processes[0], again.Processes[0])
		}
		old := v.startInstance("service", map[string]any{"amount": 1})
		d2 := v.deploy("service_v2.bpmn")
		if !d2.Processes[0].Created || d2.Processes[0].Definition.Version != 2 {
			t.Fatalf("changed model: %+v", d2.Processes[0].Definition)
		}
		newer := v.startInstance("service", map[string]any{"amount": 1})
		if old.DefinitionVersion != 1 || newer.DefinitionVersion != 2 {
			t.Errorf("versions %d %d", old.DefinitionVersion, newer.DefinitionVersion)
		}
		v1, err := v.e.StartInstance(v.ctx, "service", engine.StartOptions{Version: 1, Variables: map[string]any{"amount": 1}})
		if err != nil || v1.DefinitionVersion != 1 {
			t.Fatalf("start version 1: %v %+v", err, v1)
		}
		v.start()
		v.waitState(old.ID, store.InstanceCompleted)
		if got := v.detail(old.ID).Instance.DefinitionID; got != d1.Processes[0].Definition.ID {
			t.Errorf("old instance moved to %s", got)
		}
		defs, err := v.e.ListDefinitions(v.ctx, store.DefinitionFilter{Key: "service"})
		if err != nil || len(defs) != 2 {
			t.Errorf("definitions %d %v", len(defs), err)
		}
	})
}

func TestRetriesBackoffIncidentAndRetry(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var fail atomic.Bool
		fail.Store(true)
		var attempts []int
		var keys []string
		var mu sync.Mutex
		v.e.Handle("flaky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			mu.Lock()
			attempts = append(attempts, j.Attempt)
			keys = append(keys, j.Key)
			mu.Unlock()
			if fail.Load() {
				return nil, detailedErr{"payment service returned 503"}
			}
			return map[string]any{"ok": true}, nil
		})
		v.start()
		v.deploy("retry.bpmn")
		inst := v.startInstance("retry", nil)
		v.waitFor("first failure", func() bool { return v.countEvents(event.JobFailed, "") == 1 })
		j := v.detail(inst.ID).Jobs[0]
		if j.Retries != 2 || !j.DueAt.Equal(t0.Add(10*time.Second)) || j.LastError != "payment service returned 503" {
			t.Fatalf("after first failure: %+v", j)
		}
		v.advance(5 * time.Second)
		if v.countEvents(event.JobFailed, "") != 1 {
			t.Fatal("retried before the backoff")
		}
		v.advance(5 * time.Second)
		v.waitFor("second failure", func() bool { return v.countEvents(event.JobFailed, "") == 2 })
		v.advance(10 * time.Second)
		v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
		// The commit is visible to readers a moment before OnCommit has recorded its events.
		v.waitFor("the third failure recorded", func() bool { return v.countEvents(event.JobFailed, "") == 3 })
		inc := v.openIncidents(inst.ID)[0]
		if inc.Type != store.IncidentFailedJob || inc.JobID != j.ID || inc.Details != "stack: here" || inc.ElementID != "flaky" {
			t.Errorf("incident %+v", inc)
		}
		mu.Lock()
		if !slices.Equal(attempts, []int{1, 2, 3}) || keys[0] != keys[2] {
			t.Errorf("attempts %v keys %v", attempts, keys)
		}
		mu.Unlock()
		v.advance(time.Hour)
		if got := v.countEvents(event.JobFailed, ""); got != 3 {
			t.Errorf("ran again without retries: %d failures", got)
		}
		fail.Store(false)
		if err := v.e.RetryIncident(v.ctx, inc.ID, engine.RetryOptions{Retries: 2, Variables: map[string]any{"fixed": true}}); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		d := v.detail(inst.ID)
		if len(d.Incidents) != 1 || d.Incidents[0].State != store.IncidentResolved {
			t.Errorf("incident history %+v", d.Incidents)
		}
	})
}

// An incident's details are its own attempt's: a failure without details after one with
// them opens an incident with none (they were the earlier attempt's stack, issue 10).
func TestIncidentDetailsAreTheLastAttempts(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var detailed atomic.Bool
		detailed.Store(true)
		v.e.Handle("flaky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if detailed.Load() {
				return nil, detailedErr{"payment service returned 503"}
			}
			return nil, errors.New("payment service unreachable")
		})
		v.start()
		v.deploy("retry.bpmn")
		inst := v.startInstance("retry", nil)
		v.waitFor("first failure", func() bool { return v.countEvents(event.JobFailed, "") == 1 })
		detailed.Store(false)
		v.advance(10 * time.Second)
		v.waitFor("second failure", func() bool { return v.countEvents(event.JobFailed, "") == 2 })
		if j := v.detail(inst.ID).Jobs[0]; j.LastError != "payment service unreachable" || j.ErrorDetails != "" {
			t.Errorf("job after a failure without details: error %q, details %q", j.LastError, j.ErrorDetails)
		}
		v.advance(10 * time.Second)
		v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
		if inc := v.openIncidents(inst.ID)[0]; inc.Message != "payment service unreachable" || inc.Details != "" {
			t.Errorf("incident: message %q, details %q (the first attempt's)", inc.Message, inc.Details)
		}

		// Retried, the job fails with details, then without: the second incident has none.
		detailed.Store(true)
		first := v.openIncidents(inst.ID)[0]
		if err := v.e.RetryIncident(v.ctx, first.ID, engine.RetryOptions{Retries: 2}); err != nil {
			t.Fatal(err)
		}
		v.waitFor("failure after the retry", func() bool { return v.countEvents(event.JobFailed, "") == 4 })
		detailed.Store(false)
		v.advance(time.Minute)
		v.waitFor("second incident", func() bool {
			open := v.openIncidents(inst.ID)
			return len(open) == 1 && open[0].ID != first.ID
		})
		if inc := v.openIncidents(inst.ID)[0]; inc.Details != "" {
			t.Errorf("second incident's details %q belong to the attempt before", inc.Details)
		}
	})
}

type detailedErr struct{ msg string }

func (e detailedErr) Error() string   { return e.msg }
func (e detailedErr) Details() string { return "stack: here" }

func TestHandlerPanicIsFailure(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) { panic("boom") })
		v.start()
		v.deploy("service.bpmn")
		inst := v.startInstance("service", map[string]any{"amount": 1})
		v.waitFor("failure", func() bool { return v.hasEvent(inst.ID, event.JobFailed, "work") })
		j := v.detail(inst.ID).Jobs[0]
		if !strings.Contains(j.LastError, "boom") || !strings.Contains(j.ErrorDetails, "goroutine") {
			t.Errorf("job %+v", j)
		}
	})
}

func TestCancelSuspendResumeSetVariables(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		ran := make(chan string, 10)
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			ran <- j.InstanceID
			return nil, nil
		})
		v.deploy("service.bpmn")
		v.deploy("parallel.bpmn")
		a := v.startInstance("service", map[string]any{"amount": 1})
		if err := v.e.SuspendInstance(v.ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := v.e.SuspendInstance(v.ctx, a.ID); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("suspend twice: %v", err)
		}
		v.start()
		b := v.startInstance("service", map[string]any{"amount": 2})
		if got := <-ran; got != b.ID {
			t.Fatalf("suspended instance ran")
		}
		if v.state(a.ID) != store.InstanceSuspended {
			t.Fatal("not suspended")
		}
		if err := v.e.ResumeInstance(v.ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if got := <-ran; got != a.ID {
			t.Fatal("resumed instance did not run")
		}
		v.waitState(a.ID, store.InstanceCompleted)

		p := v.startInstance("parallel", nil)
		if err := v.e.SetVariables(v.ctx, p.ID, map[string]any{"note": "hi", "n": 2}); err != nil {
			t.Fatal(err)
		}
		if err := v.e.SetVariables(v.ctx, p.ID, map[string]any{"bad": math.NaN()}); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("NaN accepted: %v", err)
		}
		if err := v.e.SetVariables(v.ctx, p.ID, map[string]any{"ch": make(chan int)}); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("channel accepted: %v", err)
		}
		if err := v.e.CancelInstance(v.ctx, p.ID, "customer called"); err != nil {
			t.Fatal(err)
		}
		d := v.detail(p.ID)
		if d.Instance.State != store.InstanceCancelled || len(d.Tokens) != 0 || d.Instance.EndedAt == nil {
			t.Fatalf("cancel: %+v tokens %d", d.Instance, len(d.Tokens))
		}
		for _, task := range d.UserTasks {
			if task.State != store.TaskCancelled {
				t.Errorf("task %s %s", task.ElementID, task.State)
			}
		}
		if len(d.Variables) != 2 {
			t.Errorf("variables %d, want 2", len(d.Variables))
		}
		if err := v.e.CancelInstance(v.ctx, p.ID, ""); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("cancel twice: %v", err)
		}
		if err := v.e.SetVariables(v.ctx, p.ID, map[string]any{"x": 1}); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("set variables on ended instance: %v", err)
		}
		if err := v.e.CancelInstance(v.ctx, "nope", ""); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("unknown instance: %v", err)
		}
	})
}

func TestBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		_, err := v.e.Deploy(v.ctx, "broken.bpmn", []byte("<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">\n<bpmn:process id=\"p\">\n</bpmn:definitions>"))
		var de *engine.DeployError
		if !errors.As(err, &de) || !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "line") {
			t.Errorf("malformed XML: %v", err)
		}
		data, _ := os.ReadFile("testdata/bad_expression.bpmn")
		_, err = v.e.Deploy(v.ctx, "bad_expression.bpmn", data)
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "f2") {
			t.Errorf("bad condition: %v", err)
		}
		data, _ = os.ReadFile("testdata/unsupported.bpmn")
		_, err = v.e.Deploy(v.ctx, "unsupported.bpmn", data)
		if err == nil || !strings.Contains(err.Error(), "incl") {
			t.Errorf("unsupported element: %v", err)
		}
		huge := make([]byte, 11<<20)
		if _, err := v.e.Deploy(v.ctx, "huge.bpmn", huge); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("oversize: %v", err)
		}
		defs, err := v.e.ListDefinitions(v.ctx, store.DefinitionFilter{})
		if err != nil || len(defs) != 0 {
			t.Errorf("failed deployments stored something: %d %v", len(defs), err)
		}
		if _, err := v.e.StartInstance(v.ctx, "nope", engine.StartOptions{}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("unknown key: %v", err)
		}
		if _, err := v.e.StartInstance(v.ctx, "", engine.StartOptions{}); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("empty key: %v", err)
		}
		v.deploy("service.bpmn")
		_, err = v.e.StartInstance(v.ctx, "service", engine.StartOptions{Variables: map[string]any{"f": func() {}}})
		if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), `"f"`) {
			t.Errorf("func variable: %v", err)
		}
		page, _ := v.e.ListInstances(v.ctx, store.InstanceFilter{})
		if len(page.Instances) != 0 {
			t.Errorf("a refused start stored an instance")
		}
		// A run-time expression failure (the input mapping reads an unset variable) is an
		// incident on the element, not a lost instance.
		inst := v.startInstance("service", nil)
		if incs := v.openIncidents(inst.ID); len(incs) != 1 || incs[0].Type != store.IncidentExpression {
			t.Errorf("runtime expression error: %+v", incs)
		}
	})
}

func TestLostLockIsRunAgainAndCountedOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		lock := func(o *engine.Options) { o.LockDuration = time.Minute; o.NodeID = "slow" }
		slow := newEnvOn(t, st, false, lock)
		fast := newEnvOn(t, st, false, func(o *engine.Options) { o.NodeID = "fast" })
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		slow.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			started <- struct{}{}
			<-release
			return map[string]any{"by": "slow"}, nil
		})
		var fastRuns atomic.Int32
		fast.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			fastRuns.Add(1)
			return map[string]any{"by": "fast"}, nil
		})
		slow.deploy("service.bpmn")
		slow.start()
		inst := slow.startInstance("service", map[string]any{"amount": 1})
		<-started
		fast.clock.Set(t0.Add(2 * time.Minute)) // the slow node's lock has expired
		fast.start()
		fast.waitFor("fast node completes", func() bool { return fast.state(inst.ID) == store.InstanceCompleted })
		close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := slow.e.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		d := fast.detail(inst.ID)
		n := 0
		for _, ev := range d.History {
			if ev.Type == event.JobCompleted {
				n++
			}
		}
		if n != 1 || fastRuns.Load() != 1 {
			t.Errorf("job completed %d times, fast ran %d", n, fastRuns.Load())
		}
		for _, va := range d.Variables {
			if va.Name == "by" && string(va.Value) != `"fast"` {
				t.Errorf("late result of the lost lock was written: %s", va.Value)
			}
		}
	})
}

func TestQueries(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("nodefault.bpmn")
		v.deploy("usertask.bpmn")
		inc := v.startInstance("nodefault", map[string]any{"amount": 1})
		var waiting []string
		for i := 0; i < 5; i++ {
			inst, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{BusinessKey: fmt.Sprintf("BK-%d", i),
				Variables: map[string]any{"customer": fmt.Sprintf("c%d", i%2)}})
			if err != nil {
				t.Fatal(err)
			}
			waiting = append(waiting, inst.ID)
		}
		yes := true
		cases := []struct {
			name string
			f    store.InstanceFilter
			want int
		}{
			{"all", store.InstanceFilter{}, 6},
			{"definition", store.InstanceFilter{DefinitionKey: "usertask"}, 5},
			{"state", store.InstanceFilter{States: []string{store.InstanceActive}}, 6},
			{"business key", store.InstanceFilter{BusinessKey: "BK-3"}, 1},
			{"variable", store.InstanceFilter{VariableName: "customer", VariableValue: []byte(`"c1"`)}, 2},
			{"has incident", store.InstanceFilter{HasIncident: &yes}, 1},
			{"waiting at", store.InstanceFilter{WaitingAt: "approve"}, 5},
			{"started range", store.InstanceFilter{StartedAfter: t0.Add(-time.Second), StartedBefore: t0.Add(time.Second)}, 6},
			{"started later", store.InstanceFilter{StartedAfter: t0.Add(time.Hour)}, 0},
		}
		for _, c := range cases {
			page, err := v.e.ListInstances(v.ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(page.Instances) != c.want {
				t.Errorf("%s: %d instances, want %d", c.name, len(page.Instances), c.want)
			}
		}
		page, _ := v.e.ListInstances(v.ctx, store.InstanceFilter{HasIncident: &yes})
		if len(page.Instances) == 1 && page.Instances[0].ID != inc.ID {
			t.Errorf("has incident returned %s", page.Instances[0].ID)
		}
		incs, err := v.e.ListIncidents(v.ctx, store.IncidentFilter{State: store.IncidentOpen})
		if err != nil || len(incs) != 1 {
			t.Errorf("open incidents %d %v", len(incs), err)
		}
		tasks, err := v.e.ListUserTasks(v.ctx, store.UserTaskFilter{State: store.TaskOpen})
		if err != nil || len(tasks) != 5 {
			t.Errorf("open tasks %d %v", len(tasks), err)
		}
		if _, err := v.e.GetInstance(v.ctx, "missing"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("missing instance: %v", err)
		}
	})
}

func TestStopLetsHandlersFinishOrReleasesTheirJobs(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		v := newEnvOn(t, st, false)
		started := make(chan struct{}, 1)
		v.e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			started <- struct{}{}
			<-ctx.Done() // a handler that only stops when told
			return nil, ctx.Err()
		})
		v.start()
		v.deploy("service.bpmn")
		inst := v.startInstance("service", map[string]any{"amount": 1})
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := v.e.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stop: %v", err)
		}
		// A fresh engine on the same store sees the job unharmed and unlocked.
		w := newEnvOn(t, st, false)
		jobs := w.detail(inst.ID).Jobs
		if len(jobs) != 1 || jobs[0].Attempt != 0 || jobs[0].Retries != 3 || jobs[0].LockOwner != "" {
			t.Fatalf("job after forced stop: %+v", jobs)
		}
		if w.hasEvent(inst.ID, event.JobFailed, "") || v.countEvents(event.JobFailed, "") != 0 {
			t.Error("a forced stop counted as a failure")
		}
	})
}

func TestExponentialBackoffOnABuiltModel(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		defs, err := bpmn.Build("built").
			Start("start").
			ServiceTask("call", bpmn.JobType("call"), bpmn.Backoff("R4/PT1S/exp")).
			End("end").
			Definitions()
		if err != nil {
			t.Fatal(err)
		}
		v.e.Handle("call", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return nil, errors.New("remote down")
		})
		v.start()
		if _, err := v.e.DeployModel(v.ctx, "built.bpmn", defs); err != nil {
			t.Fatal(err)
		}
		inst := v.startInstance("built", nil)
		// Delays double: 1 s, 2 s, 4 s after the first, second and third failure.
		for i, delay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			v.waitFor(fmt.Sprintf("failure %d", i+1), func() bool { return v.countEvents(event.JobFailed, "call") == i+1 })
			j := v.detail(inst.ID).Jobs[0]
			if want := v.clock.Now().Add(delay); !j.DueAt.Equal(want) {
				t.Fatalf("after failure %d due %v, want %v", i+1, j.DueAt, want)
			}
			v.advance(delay)
		}
		v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
	})
}
