package engine_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// process wraps flow nodes and flows in a document with one executable process.
func process(id, body string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_` + id + `" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="` + id + `" isExecutable="true">
` + body + `
  </bpmn:process>
</bpmn:definitions>`)
}

// fork is a parallel gateway "id" with n flows to target.
func fork(id, target string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<bpmn:parallelGateway id=%q />\n", id)
	for i := range n {
		fmt.Fprintf(&b, "<bpmn:sequenceFlow id=\"%s_%d\" sourceRef=%q targetRef=%q />\n", id, i, id, target)
	}
	return b.String()
}

func (v *env) deployBytes(name string, data []byte) {
	v.t.Helper()
	if _, err := v.e.Deploy(v.ctx, name, data); err != nil {
		v.t.Fatalf("deploy %s: %v", name, err)
	}
}

// TestForkOfThousandsRefusedAtDeploy: a fork whose size is in the model is refused when
// it is deployed, naming the limit, instead of holding the committer when it runs.
func TestForkOfThousandsRefusedAtDeploy(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		for _, n := range []int{bpmn.MaxFlowsPerElement + 1, 10_000} {
			data := process("bigfork", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork" />
`+fork("fork", "end", n)+`<bpmn:endEvent id="end" />`)
			_, err := v.e.Deploy(v.ctx, "bigfork.bpmn", data)
			if !errors.Is(err, engine.ErrInvalidInput) || !strings.Contains(err.Error(), "MaxFlowsPerElement") {
				t.Fatalf("deploy a fork of %d: %v, want invalid input naming MaxFlowsPerElement", n, err)
			}
		}
		// At the limit it deploys and runs.
		v.deployBytes("forkok.bpmn", process("forkok", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork" />
`+fork("fork", "end", bpmn.MaxFlowsPerElement)+`<bpmn:endEvent id="end" />`))
		inst := v.startInstance("forkok", nil)
		if s := v.state(inst.ID); s != store.InstanceCompleted {
			t.Errorf("state %s, want completed", s)
		}
	})
}

// TestForkExplosionIsIncident: forks inside a subprocess that each stay under the
// static limit multiply to 40,000 tokens in one command. The command stops at
// maxNewTokens with incidents that name it, instead of making them all.
func TestForkExplosionIsIncident(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBytes("explode.bpmn", process("explode", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="outer" />
`+fork("outer", "sub", 200)+`<bpmn:subProcess id="sub">
  <bpmn:startEvent id="subStart" />
  <bpmn:sequenceFlow id="s0" sourceRef="subStart" targetRef="inner" />
  `+fork("inner", "wait", 200)+`
  <bpmn:userTask id="wait" />
</bpmn:subProcess>`))
		inst := v.startInstance("explode", nil)
		d := v.detail(inst.ID)
		if len(d.Tokens) > 2_000 {
			t.Errorf("%d tokens: the command made far more than its limit", len(d.Tokens))
		}
		incs := v.openIncidents(inst.ID)
		if len(incs) == 0 {
			t.Fatal("no incident")
		}
		for _, i := range incs {
			if i.Type != store.IncidentLimit || !strings.Contains(i.Message, "maxNewTokens") {
				t.Fatalf("incident %s: %q, want %s naming maxNewTokens", i.Type, i.Message, store.IncidentLimit)
			}
			// Only forks are refused: a token leaving by a single flow makes no token.
			if i.ElementID != "inner" {
				t.Fatalf("incident at %s (%q), want only at the fork \"inner\"", i.ElementID, i.Message)
			}
		}
	})
}

// TestLoopWithoutWaitStateIsIncident: a loop that never waits stops at maxSteps with an
// incident on the token (the instance and what it did are kept); retrying it runs
// another command's worth of steps.
func TestLoopWithoutWaitStateIsIncident(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBytes("loop.bpmn", process("loop", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw" />
<bpmn:exclusiveGateway id="gw" />
<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="step" />
<bpmn:task id="step" />
<bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="gw" />`))
		inst := v.startInstance("loop", nil)
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentLimit || !strings.Contains(incs[0].Message, "maxSteps") {
			t.Fatalf("incidents %+v, want one %s naming maxSteps", incs, store.IncidentLimit)
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{}); err != nil {
			t.Fatal(err)
		}
		if again := v.openIncidents(inst.ID); len(again) != 1 || again[0].ID == incs[0].ID {
			t.Fatalf("after retry: %+v, want a new incident", again)
		}
	})
}

// TestStepLimitStopsEveryQueuedToken: when the step limit stops a command, every token
// it had not moved yet gets an incident: none is left active without a sign.
func TestStepLimitStopsEveryQueuedToken(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		// 100 branches, each in a loop that never waits.
		v.deployBytes("loops.bpmn", process("loops", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split" />
`+fork("split", "gw", 100)+`<bpmn:exclusiveGateway id="gw" />
<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="step" />
<bpmn:task id="step" />
<bpmn:sequenceFlow id="f2" sourceRef="step" targetRef="gw" />`))
		inst := v.startInstance("loops", nil)
		d := v.detail(inst.ID)
		withIncident := map[string]bool{}
		for _, i := range v.openIncidents(inst.ID) {
			if i.Type != store.IncidentLimit {
				t.Errorf("incident %s: %s", i.Type, i.Message)
			}
			withIncident[i.TokenID] = true
		}
		if len(d.Tokens) != 100 || len(withIncident) != 100 {
			t.Errorf("%d tokens, %d with an incident; want 100 and 100", len(d.Tokens), len(withIncident))
		}
		for _, tok := range d.Tokens {
			if !withIncident[tok.ID] {
				t.Errorf("token at %s (%s) has no incident", tok.ElementID, tok.State)
			}
		}
	})
}

// TestHostileScriptIsIncidentAndOthersContinue: a script that would run for a minute
// (a billion predicate steps) becomes an incident naming the budget, and the commands
// of other instances complete meanwhile: without the budget the second start would
// wait behind the script in the committer and the test would time out.
func TestHostileScriptIsIncidentAndOthersContinue(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBytes("hostile.bpmn", process("hostile", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="spin" />
<bpmn:scriptTask id="spin" scriptFormat="expr" camunda:resultVariable="n">
  <bpmn:script>let r = 1..999; count(r, any(r, any(r, # &lt; 0)))</bpmn:script>
</bpmn:scriptTask>
<bpmn:sequenceFlow id="f1" sourceRef="spin" targetRef="end" />
<bpmn:endEvent id="end" />`))
		v.deployBytes("plain.bpmn", process("plain", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="end" />
<bpmn:endEvent id="end" />`))
		hostile := make(chan *store.Instance, 1)
		go func() {
			inst, err := v.e.StartInstance(v.ctx, "hostile", engine.StartOptions{})
			if err != nil {
				t.Errorf("start hostile: %v", err)
			}
			hostile <- inst
		}()
		for range 5 {
			inst := v.startInstance("plain", nil)
			v.waitState(inst.ID, store.InstanceCompleted)
		}
		inst := <-hostile
		if inst == nil {
			return
		}
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentExpression || !strings.Contains(incs[0].Message, "expression budget exceeded") {
			t.Fatalf("incidents %+v, want one expression incident naming the budget", incs)
		}
	})
}

// TestLiveTokensBounded: forks that each stay under the per-command limit add up over
// commands; the fork that would take the instance past maxLiveTokens (10,000) is an
// incident instead.
func TestLiveTokensBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 user tasks")
	}
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		// Every completion of "again" forks 250 waiting tasks and "again" once more.
		v.deployBytes("grow.bpmn", process("grow", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="merge" />
<bpmn:exclusiveGateway id="merge" />
<bpmn:sequenceFlow id="f1" sourceRef="merge" targetRef="split" />
`+fork("split", "wait", 250)+`<bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="again" />
<bpmn:userTask id="wait" />
<bpmn:userTask id="again" />
<bpmn:sequenceFlow id="f2" sourceRef="again" targetRef="merge" />`))
		inst := v.startInstance("grow", nil)
		for round := 0; ; round++ {
			incs, err := v.e.ListIncidents(v.ctx, store.IncidentFilter{InstanceID: inst.ID, State: store.IncidentOpen})
			if err != nil {
				t.Fatal(err)
			}
			if len(incs) > 0 {
				if len(incs) != 1 || incs[0].Type != store.IncidentLimit || !strings.Contains(incs[0].Message, "maxLiveTokens") {
					t.Fatalf("incidents %+v, want one naming maxLiveTokens", incs)
				}
				// Cancelling all of it indexes the instance's rows once (it scanned
				// them per token: 23 s for these 10,000 tokens on SQLite, now 1.5 s).
				if err := v.e.CancelInstance(v.ctx, inst.ID, "too big"); err != nil {
					t.Fatal(err)
				}
				tasks, err := v.e.ListUserTasks(v.ctx, store.UserTaskFilter{InstanceID: inst.ID, State: store.TaskOpen, Limit: 1})
				if err != nil || len(tasks) != 0 {
					t.Fatalf("open tasks after cancel: %d, %v", len(tasks), err)
				}
				if incs, err := v.e.ListIncidents(v.ctx, store.IncidentFilter{InstanceID: inst.ID, State: store.IncidentOpen}); err != nil || len(incs) != 0 {
					t.Fatalf("open incidents after cancel: %+v, %v", incs, err)
				}
				return
			}
			if round > 50 {
				t.Fatal("no incident after 50 rounds")
			}
			if err := v.e.CompleteUserTask(v.ctx, v.lastTask(inst.ID, "again"), nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// lastTask is the id of the user task created last at element, from the events.
func (v *env) lastTask(instanceID, element string) string {
	v.t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := len(v.events) - 1; i >= 0; i-- {
		ev := v.events[i]
		if ev.InstanceID == instanceID && ev.Type == event.UserTaskCreated && ev.ElementID == element {
			var data struct {
				TaskID string `json:"taskId"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				v.t.Fatal(err)
			}
			return data.TaskID
		}
	}
	v.t.Fatalf("no task at %s", element)
	return ""
}

// TestOnlyForksCountAgainstNewTokens: a loop through a subprocess makes a token per pass
// (past maxNewTokens within the command) but never forks; it stops at maxSteps, not at a
// single flow refused as a "fork".
func TestOnlyForksCountAgainstNewTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBytes("subloop.bpmn", process("subloop", `<bpmn:startEvent id="start" />
<bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="gw" />
<bpmn:exclusiveGateway id="gw" />
<bpmn:sequenceFlow id="f1" sourceRef="gw" targetRef="sub" />
<bpmn:subProcess id="sub">
  <bpmn:startEvent id="subStart" />
  <bpmn:sequenceFlow id="s0" sourceRef="subStart" targetRef="subEnd" />
  <bpmn:endEvent id="subEnd" />
</bpmn:subProcess>
<bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="gw" />`))
		inst := v.startInstance("subloop", nil)
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentLimit || !strings.Contains(incs[0].Message, "maxSteps") {
			for _, i := range incs {
				t.Logf("incident at %s: %s", i.ElementID, i.Message)
			}
			t.Fatalf("%d incidents, want one naming maxSteps", len(incs))
		}
	})
}
