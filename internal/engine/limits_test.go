package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// ltStrings is a string of n '<': 1 byte each as text, 6 as published JSON (\u003c).
func ltString(n int) string { return strings.Repeat("<", n) }

// TestSizeLimitsAtTheCommand: every command that takes variables, keys or reasons refuses
// values over the limits with invalid input naming the limit, and stores nothing; sizes
// are those of the JSON as published, so a value that escaping grows sixfold is caught.
func TestSizeLimitsAtTheCommand(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("usertask.bpmn")
		v.deploy("nodefault.bpmn")
		v.deploy("message.bpmn")
		v.deploy("message_start.bpmn")
		task := v.startInstance("usertask", nil)
		taskID := v.openTask(task.ID, "approve").ID
		inc := v.startInstance("nodefault", map[string]any{"amount": 50})
		incID := v.openIncidents(inc.ID)[0].ID
		waiting := v.startInstance("message", map[string]any{"orderId": "A-1"})

		// Just over each limit, in the encodings an attacker would pick.
		overOne := ltString(engine.MaxVariableBytes/6 + 1) // small as text, too large as JSON
		chunk := strings.Repeat("x", engine.MaxVariableBytes-100)
		overAll := map[string]any{"a": chunk, "b": chunk, "c": chunk}
		limit := func(n int) string { return strconv.Itoa(n) }
		cases := []struct {
			name  string
			limit string
			run   func() error
		}{
			{"start: business key", limit(engine.MaxBusinessKeyBytes), func() error {
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{BusinessKey: strings.Repeat("k", engine.MaxBusinessKeyBytes+1)})
				return err
			}},
			{"start: escaped value", limit(engine.MaxVariableBytes), func() error {
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Variables: map[string]any{"v": overOne}})
				return err
			}},
			{"start: raw JSON value", limit(engine.MaxVariableBytes), func() error {
				raw, _ := json.Marshal(overOne)
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Variables: map[string]any{"v": json.RawMessage(strings.ReplaceAll(string(raw), `\u003c`, "<"))}})
				return err
			}},
			{"start: nested value", limit(engine.MaxVariableBytes), func() error {
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Variables: map[string]any{"v": map[string]any{"deep": []any{overOne}}}})
				return err
			}},
			{"start: all variables", limit(engine.MaxVariablesBytes), func() error {
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Variables: overAll})
				return err
			}},
			{"start: variable name", limit(engine.MaxNameBytes), func() error {
				_, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Variables: map[string]any{strings.Repeat("n", engine.MaxNameBytes+1): 1}})
				return err
			}},
			{"set variables", limit(engine.MaxVariableBytes), func() error {
				return v.e.SetVariables(v.ctx, task.ID, map[string]any{"v": overOne})
			}},
			{"set variables: all", limit(engine.MaxVariablesBytes), func() error {
				return v.e.SetVariables(v.ctx, task.ID, overAll)
			}},
			{"complete user task", limit(engine.MaxVariableBytes), func() error {
				return v.e.CompleteUserTask(v.ctx, taskID, map[string]any{"note": overOne})
			}},
			{"retry incident with variables", limit(engine.MaxVariablesBytes), func() error {
				return v.e.RetryIncident(v.ctx, incID, engine.RetryOptions{Variables: overAll})
			}},
			{"correlate: variables", limit(engine.MaxVariableBytes), func() error {
				_, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "payment.received", CorrelationKey: "A-1", Variables: map[string]any{"v": overOne}})
				return err
			}},
			{"correlate: start variables", limit(engine.MaxVariablesBytes), func() error {
				_, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.placed", CorrelationKey: "new", Variables: overAll})
				return err
			}},
			{"correlate: correlation key", limit(engine.MaxBusinessKeyBytes), func() error {
				_, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.placed", CorrelationKey: strings.Repeat("k", engine.MaxBusinessKeyBytes+1)})
				return err
			}},
			{"correlate: message name", limit(engine.MaxNameBytes), func() error {
				_, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: strings.Repeat("m", engine.MaxNameBytes+1)})
				return err
			}},
			{"cancel: reason", limit(engine.MaxReasonBytes), func() error {
				return v.e.CancelInstance(v.ctx, task.ID, ltString(engine.MaxReasonBytes+1))
			}},
		}
		for _, c := range cases {
			before := len(v.allEvents())
			err := c.run()
			if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), c.limit) {
				t.Errorf("%s: %v, want invalid input naming the limit %s", c.name, err, c.limit)
			}
			if n := len(v.allEvents()); n != before {
				t.Errorf("%s: a refused command committed %d events", c.name, n-before)
			}
		}
		// Nothing moved: the task is open, the incident open, the message still waited for.
		v.openTask(task.ID, "approve")
		if len(v.openIncidents(inc.ID)) != 1 || v.state(waiting.ID) != store.InstanceActive || v.state(task.ID) != store.InstanceActive {
			t.Error("a refused command changed an instance")
		}
		page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: "message_start"})
		if err != nil || len(page.Instances) != 0 {
			t.Errorf("a refused correlation started an instance: %v %v", page, err)
		}

		// At the limits everything is stored, and found again by its key and value.
		key := strings.Repeat("k", engine.MaxBusinessKeyBytes)
		atLimit := strings.Repeat("y", engine.MaxVariableBytes-2) // plus its quotes
		inst, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{BusinessKey: key,
			Variables: map[string]any{"big": atLimit, strings.Repeat("n", engine.MaxNameBytes): true}})
		if err != nil {
			t.Fatalf("start at the limits: %v", err)
		}
		byKey, err := v.e.ListInstances(v.ctx, store.InstanceFilter{BusinessKey: key})
		if err != nil || len(byKey.Instances) != 1 || byKey.Instances[0].ID != inst.ID {
			t.Errorf("filter by a business key at the limit: %v %v", byKey, err)
		}
		raw, _ := json.Marshal(atLimit)
		byValue, err := v.e.ListInstances(v.ctx, store.InstanceFilter{VariableName: "big", VariableValue: raw})
		if err != nil || len(byValue.Instances) != 1 || byValue.Instances[0].ID != inst.ID {
			t.Errorf("filter by a variable at the limit: %v %v", byValue, err)
		}
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "order.placed", CorrelationKey: key}); err != nil {
			t.Errorf("correlate with a key at the limit: %v", err)
		}
		v.checkEventSizes()
	})
}

// TestOversizeValuesFromTheModelAndHandlers: what the engine computes itself (a script's
// result, a correlation key from a variable, a handler's output or error) cannot make an
// event too large either: the value is refused as an incident or a failed attempt, and
// error texts are cut, never left to block the stream.
func TestOversizeValuesFromTheModelAndHandlers(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("limits.bpmn")
		v.deploy("message.bpmn")
		v.deploy("retry.bpmn")
		v.deploy("boundary_error.bpmn")
		huge := ltString(1 << 20)
		v.e.Handle("flaky", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if j.Attempt == 1 {
				return map[string]any{"out": ltString(engine.MaxVariableBytes)}, nil
			}
			return nil, detailedErr2{msg: huge, details: huge}
		})
		v.e.Handle("charge", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			return nil, engine.ThrowError(huge, huge)
		})
		v.start()

		script := v.startInstance("limits", map[string]any{"n": engine.MaxVariableBytes/6 + 1})
		incs := v.openIncidents(script.ID)
		if len(incs) != 1 || incs[0].ElementID != "grow" || !strings.Contains(incs[0].Message, strconv.Itoa(engine.MaxVariableBytes)) {
			t.Errorf("script result over the limit: %+v", incs)
		}
		for _, sv := range v.detail(script.ID).Variables {
			if sv.Name == "out" {
				t.Error("the script's oversize result was stored")
			}
		}

		corr := v.startInstance("message", map[string]any{"orderId": strings.Repeat("o", engine.MaxBusinessKeyBytes+1)})
		incs = v.openIncidents(corr.ID)
		if len(incs) != 1 || incs[0].ElementID != "waitPaid" || !strings.Contains(incs[0].Message, strconv.Itoa(engine.MaxBusinessKeyBytes)) {
			t.Errorf("correlation key over the limit: %+v", incs)
		}

		flaky := v.startInstance("retry", nil)
		v.waitFor("the first failed attempt", func() bool { return v.countEvents(event.JobFailed, "flaky") == 1 })
		v.advance(10 * time.Second) // the retry policy's backoff
		v.waitFor("the second failed attempt", func() bool { return v.countEvents(event.JobFailed, "flaky") == 2 })
		j := v.detail(flaky.ID).Jobs
		if len(j) != 1 || len(j[0].LastError) > engine.MaxErrorMessageBytes || len(j[0].ErrorDetails) > engine.MaxErrorDetailsBytes || len(j[0].ErrorDetails) == 0 {
			t.Errorf("job after a huge error: %+v", j)
		}
		if v.countEvents(event.JobFailed, "flaky") < 2 || !v.hasEventContaining(flaky.ID, event.JobFailed, strconv.Itoa(engine.MaxVariableBytes)) {
			t.Error("an oversize handler result is not a failed attempt naming the limit")
		}

		thrown := v.startInstance("boundary_error", map[string]any{"amount": 1})
		v.waitFor("the uncaught error's incident", func() bool { return len(v.openIncidents(thrown.ID)) == 1 })
		if i := v.openIncidents(thrown.ID)[0]; len(i.Message) > engine.MaxErrorMessageBytes || len(i.Details) > engine.MaxErrorMessageBytes {
			t.Errorf("thrown error not cut: message %d bytes, details %d bytes", len(i.Message), len(i.Details))
		}
		v.checkEventSizes()
	})
}

// allEvents is a copy of the events committed so far.
func (v *env) allEvents() []*store.Event {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*store.Event(nil), v.events...)
}

func (v *env) hasEventContaining(instanceID string, typ event.Type, text string) bool {
	for _, ev := range v.allEvents() {
		if ev.InstanceID == instanceID && ev.Type == typ && strings.Contains(string(ev.Data), text) {
			return true
		}
	}
	return false
}

// checkEventSizes fails the test if any committed event is larger than an event may be.
func (v *env) checkEventSizes() {
	v.t.Helper()
	for _, ev := range v.allEvents() {
		if len(ev.Data) > event.MaxDataBytes {
			v.t.Errorf("event %s of %s: %d bytes", ev.Type, ev.InstanceID, len(ev.Data))
		}
	}
}

// TestDeployRefusesOversizeNames: names a model puts into rows, indexes and events
// (process key, element ids, job types, assignees, message names, error codes) are
// bounded at deployment, each refusal naming what and the limit.
func TestDeployRefusesOversizeNames(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		long := strings.Repeat("n", engine.MaxNameBytes+1)
		model := func(process, task, jobType, assignee, message, code string, flowID ...string) []byte {
			flow := "f4"
			if len(flowID) > 0 {
				flow = flowID[0]
			}
			return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:message id="m" name="` + message + `" />
  <bpmn:error id="e" errorCode="` + code + `" />
  <bpmn:process id="` + process + `" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="` + task + `" />
    <bpmn:serviceTask id="` + task + `" camunda:type="external" camunda:topic="` + jobType + `" />
    <bpmn:boundaryEvent id="failed" attachedToRef="` + task + `"><bpmn:errorEventDefinition errorRef="e" /></bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="` + task + `" targetRef="review" />
    <bpmn:userTask id="review" camunda:assignee="` + assignee + `" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait"><bpmn:messageEventDefinition messageRef="m" /></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="` + flow + `" sourceRef="wait" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="failed" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>`)
		}
		if _, err := v.e.Deploy(v.ctx, "ok.bpmn", model("p", "work", "work", "ann", "paid", "E1")); err != nil {
			t.Fatalf("a model within the limits: %v", err)
		}
		cases := []struct {
			name, what string
			data       []byte
		}{
			{"process key", "process id", model(long, "work", "work", "ann", "paid", "E1")},
			{"element id", "id is", model("p2", long, "work", "ann", "paid", "E1")},
			{"job type", "job type", model("p2", "work", long, "ann", "paid", "E1")},
			{"assignee", "assignee", model("p2", "work", "work", long, "paid", "E1")},
			{"message name", "message name", model("p2", "work", "work", "ann", long, "E1")},
			{"error code", "error code", model("p2", "work", "work", "ann", "paid", long)},
			{"sequence flow id", "sequence flow", model("p2", "work", "work", "ann", "paid", "E1", long)},
		}
		for _, c := range cases {
			_, err := v.e.Deploy(v.ctx, c.name+".bpmn", c.data)
			if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), c.what) ||
				!strings.Contains(err.Error(), strconv.Itoa(engine.MaxNameBytes)) {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	})
}

// detailedErr2 is a failure whose message and details are both chosen by the test.
type detailedErr2 struct{ msg, details string }

func (e detailedErr2) Error() string   { return e.msg }
func (e detailedErr2) Details() string { return e.details }
