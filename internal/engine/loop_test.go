package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestMultiInstanceCamunda7: a parallel service task runs once per item of
// camunda:collection with the item and loopCounter local to each instance (its input
// mapping reads the item); then a sequential subprocess runs loopCardinality times, one
// instance at a time, each seeing loopCounter and nrOfInstances; the locals are gone at
// the end.
func TestMultiInstanceCamunda7(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		var charged []string
		v.e.Handle("charge-item", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			mu.Lock()
			defer mu.Unlock()
			item, _ := j.Variables["item"].(map[string]any)
			charged = append(charged, fmt.Sprintf("%v:%v:%v:%v", j.Variables["loopCounter"], item["sku"], j.Variables["price"],
				j.Variables["nrOfInstances"]))
			return nil, nil
		})
		v.start()
		v.deploy("mi_c7.bpmn")
		items := []any{map[string]any{"sku": "a", "price": 3}, map[string]any{"sku": "b", "price": 4}, map[string]any{"sku": "c", "price": 5}}
		inst := v.startInstance("mi_c7", map[string]any{"items": items, "parcels": 2, "labels": ""})

		for round := range 2 {
			v.waitFor("a seal task", func() bool { return len(openTasks(v, inst.ID)) == 1 })
			if n := len(openTasks(v, inst.ID)); n != 1 {
				t.Fatalf("round %d: %d open tasks, want 1 (sequential)", round, n)
			}
			if err := v.e.CompleteUserTask(v.ctx, openTasks(v, inst.ID)[0].ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		mu.Lock()
		slices.Sort(charged)
		if want := []string{"0:a:3:3", "1:b:4:3", "2:c:5:3"}; !slices.Equal(charged, want) {
			t.Errorf("charged %v, want %v", charged, want)
		}
		mu.Unlock()
		vars := v.scopeVars(inst.ID)
		if len(vars) != 1 {
			t.Errorf("scopes left: %v", vars)
		}
		if got := fmt.Sprint(vars[""]["labels"]); got != "0/2;1/2;" {
			t.Errorf("labels %s, want 0/2;1/2;", got)
		}
		for _, name := range []string{"item", "price", "loopCounter", "nrOfInstances"} {
			if _, ok := vars[""][name]; ok {
				t.Errorf("%s leaked into the process", name)
			}
		}
		// The history counts three runs of the task and two of the subprocess; their bodies
		// are marked as such.
		runs := map[string]int{}
		bodies := 0
		for _, ev := range v.detail(inst.ID).History {
			if ev.Type == event.ElementLeft {
				if ev.ElementType == event.ElementTypeMultiInstanceBody {
					bodies++
				} else {
					runs[ev.ElementID]++
				}
			}
		}
		if runs["Activity_charge"] != 3 || runs["Activity_pack"] != 2 || bodies != 2 {
			t.Errorf("runs %v, %d bodies", runs, bodies)
		}
	})
}

func openTasks(v *env, id string) []*store.UserTask {
	var out []*store.UserTask
	for _, task := range v.detail(id).UserTasks {
		if task.State == store.TaskOpen {
			out = append(out, task)
		}
	}
	return out
}

// TestMultiInstanceCompletionCondition: when two of three approvals are in, the
// completion condition cancels the third task and the body leaves; a boundary timer on
// the body cancels every instance at once.
func TestMultiInstanceCompletionCondition(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("mi_completion.bpmn")
		approvers := []any{"ann", "bob", "cid"}
		inst := v.startInstance("mi_completion", map[string]any{"approvers": approvers})
		tasks := openTasks(v, inst.ID)
		if len(tasks) != 3 {
			t.Fatalf("%d open tasks, want 3", len(tasks))
		}
		// The diagram's counts: three instances, none completed yet.
		scopes := v.scopeVars(inst.ID)
		var body map[string]any
		for scope, vars := range scopes {
			if _, ok := vars["nrOfInstances"]; ok && scope != "" {
				body = vars
			}
		}
		if body["nrOfInstances"] != 3.0 || body["nrOfActiveInstances"] != 3.0 || body["nrOfCompletedInstances"] != 0.0 {
			t.Errorf("body locals %v", body)
		}
		for _, task := range tasks[:2] {
			if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		d := v.detail(inst.ID)
		cancelled := 0
		for _, task := range d.UserTasks {
			if task.State == store.TaskCancelled {
				cancelled++
			}
		}
		if cancelled != 1 || !slices.Contains(v.visited(inst.ID), "Event_approved") {
			t.Errorf("%d cancelled tasks, visited %v", cancelled, v.visited(inst.ID))
		}
		reason := ""
		for _, ev := range d.History {
			if ev.Type == event.ElementCancelled {
				reason = string(ev.Data)
			}
		}
		if !strings.Contains(reason, event.ReasonCompletionCondition("Activity_approve")) {
			t.Errorf("cancel reason %s", reason)
		}

		// The boundary timer belongs to the body: it cancels all three.
		late := v.startInstance("mi_completion", map[string]any{"approvers": approvers})
		if n := len(openTasks(v, late.ID)); n != 3 {
			t.Fatalf("%d open tasks, want 3", n)
		}
		if err := v.e.CompleteUserTask(v.ctx, openTasks(v, late.ID)[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		v.advance(time.Hour)
		v.waitState(late.ID, store.InstanceCompleted)
		if vis := v.visited(late.ID); !slices.Contains(vis, "Event_expired") || slices.Contains(vis, "Event_approved") {
			t.Errorf("visited %v", vis)
		}
		if n := len(openTasks(v, late.ID)); n != 0 {
			t.Errorf("%d tasks still open", n)
		}
		if vars := v.scopeVars(late.ID); len(vars) != 1 {
			t.Errorf("scopes left after the timer: %v", vars)
		}
	})
}

// TestMultiInstanceZeebe: zeebe:loopCharacteristics with an output collection collects
// each instance's output element in the collection's order, whatever order the jobs
// complete in; a sequential body counts loopCounter from 1, as Zeebe does.
func TestMultiInstanceZeebe(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		var booked []string
		release := make(chan struct{})
		v.e.Handle("quote", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			s, _ := j.Variables["supplier"].(string)
			if s == "a" { // the first supplier answers last
				<-release
			}
			return map[string]any{"quote": "q-" + s}, nil
		})
		v.e.Handle("book", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			mu.Lock()
			booked = append(booked, fmt.Sprintf("%v:%v", j.Variables["loopCounter"], j.Variables["carrier"]))
			mu.Unlock()
			return nil, nil
		})
		v.start()
		v.deploy("mi_zeebe.bpmn")
		inst := v.startInstance("mi_zeebe", map[string]any{"suppliers": []any{"a", "b", "c"}, "carriers": []any{"x", "y", "z"}})
		v.waitFor("b and c quoted", func() bool { return v.countEvents(event.JobCompleted, "Activity_quote") == 2 })
		close(release)
		v.waitState(inst.ID, store.InstanceCompleted)
		vars := v.scopeVars(inst.ID)
		if got := fmt.Sprint(vars[""]["quotes"]); got != "[q-a q-b q-c]" {
			t.Errorf("quotes %s, want [q-a q-b q-c]", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"1:x", "2:y", "3:z"}; !slices.Equal(booked, want) {
			t.Errorf("booked %v, want %v (in order, counted from 1)", booked, want)
		}
	})
}

// TestStandardLoop: a standard loop runs while its condition holds (tested after each
// run), at most loopMaximum times; with testBefore it may not run at all.
func TestStandardLoop(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("loop_c7.bpmn")
		for _, c := range []struct {
			tries, limit, wantTries, wantChecks float64
		}{
			{0, 2, 3, 2},    // the condition stops the first loop after 3 runs
			{-10, 0, -5, 0}, // loopMaximum stops it after 5; testBefore skips the second
		} {
			inst := v.startInstance("loop_c7", map[string]any{"tries": c.tries, "checks": 0, "limit": c.limit})
			v.waitState(inst.ID, store.InstanceCompleted)
			vars := v.scopeVars(inst.ID)
			if vars[""]["tries"] != c.wantTries || vars[""]["checks"] != c.wantChecks || len(vars) != 1 {
				t.Errorf("from %v: variables %v, want tries %v, checks %v", c.tries, vars, c.wantTries, c.wantChecks)
			}
		}
	})
}

// TestMultiInstanceLimit: a collection larger than maxLoopInstances is an incident on
// the body naming the limit, before any instance starts; fixed, the retry runs it.
func TestMultiInstanceLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("charge-item", func(ctx context.Context, j *engine.Job) (map[string]any, error) { return nil, nil })
		v.start()
		v.deploy("mi_c7.bpmn")
		items := make([]any, 1001)
		for i := range items {
			items[i] = map[string]any{"sku": i, "price": 1}
		}
		inst := v.startInstance("mi_c7", map[string]any{"items": items, "parcels": 0, "labels": ""})
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentLimit || incs[0].ElementID != "Activity_charge" ||
			!strings.Contains(incs[0].Message, "maxLoopInstances") || !strings.Contains(incs[0].Message, "1001") {
			t.Fatalf("incidents %+v, want one %s at Activity_charge naming maxLoopInstances", incs, store.IncidentLimit)
		}
		if n := len(v.detail(inst.ID).Jobs); n != 0 {
			t.Errorf("%d jobs made before the limit was checked", n)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{Variables: map[string]any{"items": items[:2]}}); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
	})
}
