package engine_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A model in the legacy Activiti namespace runs as Camunda 7 reads it: activiti:class is
// a job of type "class:<name>", literal, null, list and map input values are values,
// the user task has its assignee, group and form, a prefixed messageRef names the
// message, and a shared timer definition (eventDefinitionRef) times the catch event.
func TestActivitiDialectRuns(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var got *engine.Job
		v.e.Handle("class:com.acme.orders.ChargeCard", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			got = j
			return nil, nil
		})
		v.start()
		dep := v.deploy("activiti.bpmn")
		if len(dep.Warnings) != 0 {
			t.Errorf("warnings %+v: the class's job type is served", dep.Warnings)
		}
		inst := v.startInstance("activiti", map[string]any{"amount": 21, "zip": "69001"})
		task := v.waitTask(inst.ID, "approve")
		want := map[string]any{
			"currency": "EUR", "total": float64(42), "nothing": nil,
			"lines":   []any{"book", float64(21)},
			"address": map[string]any{"city": "Lyon", "zip": "69001"},
		}
		for k, w := range want {
			if g, ok := got.Variables[k]; !ok || !reflect.DeepEqual(g, w) {
				t.Errorf("job variable %s = %#v, want %#v", k, g, w)
			}
		}
		if task.Assignee != "ops" || task.CandidateGroups != "managers" || task.FormKey != "approve-form" {
			t.Errorf("user task %+v", task)
		}
		if err := v.e.CompleteUserTask(v.ctx, task.ID, map[string]any{"approved": true}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.paid"}); err != nil {
			t.Fatalf("message by prefixed ref: %v", err)
		}
		jobs := v.detail(inst.ID).Jobs
		if len(jobs) != 1 || jobs[0].Kind != store.JobTimer || jobs[0].ElementID != "cool" {
			t.Fatalf("shared timer: jobs %+v", jobs)
		}
		if due := v.clock.Now().Add(5 * time.Minute); !jobs[0].DueAt.Equal(due) {
			t.Errorf("shared timer due %v, want %v", jobs[0].DueAt, due)
		}
		v.advance(5 * time.Minute)
		v.waitState(inst.ID, store.InstanceCompleted)
	})
}

// waitTask waits for the open user task at element.
func (v *env) waitTask(id, element string) *store.UserTask {
	v.t.Helper()
	var found *store.UserTask
	v.waitFor("user task "+element, func() bool {
		for _, task := range v.detail(id).UserTasks {
			if task.ElementID == element && task.State == store.TaskOpen {
				found = task
				return true
			}
		}
		return false
	})
	return found
}

// A script format or condition language the engine cannot run is refused by Validate and
// Deploy alike, with the same findings, even where the text happens to parse as an
// expression ("amount + 1" is valid groovy and a valid expression).
func TestScriptFormatRefusedByValidateAndDeploy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "scriptformat.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	val, err := engine.Validate(data)
	if err != nil {
		t.Fatal(err)
	}
	verr := val.Err()
	if verr == nil {
		t.Fatal("validate accepted a groovy script and a javascript condition")
	}
	for _, want := range []string{`scriptFormat "groovy" cannot run`, `"Flow_3"`, `language "javascript" cannot run`} {
		if !strings.Contains(verr.Error(), want) {
			t.Errorf("validate error lacks %q:\n%v", want, verr)
		}
	}
	pr := val.Report.Process("scriptformat")
	for _, f := range pr.Executes {
		if f.ElementID == "score" {
			t.Error("validate lists the groovy script task among the elements that execute")
		}
	}
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		_, err := v.e.Deploy(v.ctx, "scriptformat.bpmn", data)
		if !errors.Is(err, engine.ErrInvalidInput) {
			t.Fatalf("deploy: %v", err)
		}
		var de *engine.DeployError
		if !errors.As(err, &de) || !strings.Contains(err.Error(), verr.Error()) {
			t.Errorf("deploy refuses otherwise than validate:\n deploy: %v\nvalidate: %v", err, verr)
		}
	})
}

// Zeebe task headers reach the handler on the job, and a Zeebe mapping source without
// "=" is a literal: the input "EUR" is the string, the output "sent" sets the string
// (not the handler's variable named sent).
func TestZeebeHeadersAndLiteralMappings(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var got *engine.Job
		var headers map[string]string
		v.e.Handle("notify", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			got, headers = j, maps.Clone(j.Headers)
			j.Headers["method"] = "changed by the handler" // a copy: the next job is not affected
			return map[string]any{"sent": false}, nil
		})
		v.start()
		v.deploy("zeebe_headers.bpmn")
		for range 2 {
			inst := v.startInstance("zeebe_headers", map[string]any{"amount": 5})
			v.waitState(inst.ID, store.InstanceCompleted)
			if want := map[string]string{"method": "POST", "url": "https://hooks.example/orders"}; !reflect.DeepEqual(headers, want) {
				t.Errorf("headers %v, want %v", headers, want)
			}
			if got.Variables["currency"] != "EUR" || got.Variables["total"] != float64(10) {
				t.Errorf("inputs: %v", got.Variables)
			}
			vars := map[string]string{}
			for _, va := range v.detail(inst.ID).Variables {
				vars[va.Name] = string(va.Value)
			}
			if vars["status"] != `"sent"` {
				t.Errorf("literal output: status = %s", vars["status"])
			}
		}
	})
}

// Timers written as expressions ("${delay}", "=due") are evaluated when the token
// arrives; a value that is no timer opens an incident naming the timer, and retrying it
// after fixing the variable schedules it.
func TestTimerExpressions(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("timer_expression.bpmn")
		due := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		inst := v.startInstance("timer_expression", map[string]any{"delay": "PT10M", "due": due.Format(time.RFC3339)})
		jobs := v.detail(inst.ID).Jobs
		if len(jobs) != 1 || !jobs[0].DueAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("duration from ${delay}: jobs %+v", jobs)
		}
		v.advance(10 * time.Minute)
		v.waitFor("date timer", func() bool { return slices.Equal(v.tokensAt(inst.ID), []string{"until"}) })
		if j := v.detail(inst.ID).Jobs; len(j) != 1 || !j[0].DueAt.Equal(due) {
			t.Fatalf("date from =due: jobs %+v", j)
		}
		v.clock.Set(due)
		v.e.Wake()
		v.waitState(inst.ID, store.InstanceCompleted)

		bad := v.startInstance("timer_expression", map[string]any{"delay": 42, "due": "soon"})
		incs := v.openIncidents(bad.ID)
		if len(incs) != 1 || incs[0].ElementID != "wait" || !strings.Contains(incs[0].Message, `timer of "wait"`) ||
			!strings.Contains(incs[0].Message, "42") {
			t.Fatalf("incidents %+v", incs)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{Variables: map[string]any{"delay": "PT1M"}}); err != nil {
			t.Fatal(err)
		}
		if j := v.detail(bad.ID).Jobs; len(j) != 1 || j[0].ElementID != "wait" {
			t.Fatalf("after retry: jobs %+v", j)
		}
	})
}

// A Camunda 8 model's "=…" expressions are FEEL: if-then-else and a name with spaces in
// a script, is defined, "in" a list and a 1-based index in a condition, a timer computed
// from a name with spaces.
func TestZeebeFEEL(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("zeebe_feel.bpmn")
		big := v.startInstance("zeebe_feel", map[string]any{"order total": 250, "wait minutes": 3,
			"customer": map[string]any{"tier": "gold"}, "items": []any{"book", "pen"}})
		jobs := v.detail(big.ID).Jobs
		if len(jobs) != 1 || jobs[0].ElementID != "cool" || !jobs[0].DueAt.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("big order: jobs %+v (tokens %v, incidents %+v)", jobs, v.tokensAt(big.ID), v.openIncidents(big.ID))
		}
		v.advance(3 * time.Minute)
		v.waitState(big.ID, store.InstanceCompleted)
		// No tier: is defined is false, the default flow is taken.
		small := v.startInstance("zeebe_feel", map[string]any{"order total": 250, "wait minutes": 3, "customer": map[string]any{},
			"items": []any{"book"}})
		v.waitState(small.ID, store.InstanceCompleted)
		if got := v.visited(small.ID); slices.Contains(got, "cool") {
			t.Errorf("small order went by the timer: %v", got)
		}
	})
}
