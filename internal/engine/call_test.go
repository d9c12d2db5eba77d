package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// called lists the instances an instance's call activities started, newest first.
func (v *env) called(parentID string) []*store.Instance {
	v.t.Helper()
	page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{ParentInstanceID: parentID})
	if err != nil {
		v.t.Fatalf("list called instances: %v", err)
	}
	return page.Instances
}

// onlyCalled is the one instance parentID called.
func (v *env) onlyCalled(parentID string) *store.Instance {
	v.t.Helper()
	cs := v.called(parentID)
	if len(cs) != 1 {
		v.t.Fatalf("instance %s called %d instances, want 1", parentID, len(cs))
	}
	return cs[0]
}

// vars are an instance's variables as JSON text by name.
func (v *env) vars(id string) map[string]string {
	v.t.Helper()
	out := map[string]string{}
	for _, va := range v.detail(id).Variables {
		out[va.Name] = string(va.Value)
	}
	return out
}

// deployText deploys a document given as text.
func (v *env) deployText(name, doc string) *engine.Deployment {
	v.t.Helper()
	dep, err := v.e.Deploy(v.ctx, name, []byte(doc))
	if err != nil {
		v.t.Fatalf("deploy %s: %v", name, err)
	}
	return dep
}

func readTestdata(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deployInvoices deploys invoice_c7 version 1 (tag v1) and version 2 (tag v2), so that
// the order's binding by version tag has to pick the older one.
func deployInvoices(v *env) {
	v.deploy("call_invoice_c7.bpmn")
	v2 := strings.Replace(readTestdata(v.t, "call_invoice_c7.bpmn"), `camunda:versionTag="v1"`, `camunda:versionTag="v2"`, 1)
	if dep := v.deployText("call_invoice_c7_v2.bpmn", v2); dep.Processes[0].Definition.Version != 2 {
		v.t.Fatalf("second invoice deployment is version %d", dep.Processes[0].Definition.Version)
	}
	v.deploy("call_order_c7.bpmn")
}

// TestCallActivityCamunda7: a Camunda 7 model (Camunda Modeler 5) calls the version with
// its version tag, passes the business key and the mapped variables only, and gets the
// mapped variables back when the called instance completes.
func TestCallActivityCamunda7(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		deployInvoices(v)
		order, err := v.e.StartInstance(v.ctx, "order_c7", engine.StartOptions{BusinessKey: "ORD-1",
			Variables: map[string]any{"amount": 21, "secret": "kept"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.tokensAt(order.ID); !slices.Equal(got, []string{"Activity_invoice"}) {
			t.Fatalf("order waits at %v", got)
		}
		inv := v.onlyCalled(order.ID)
		if inv.DefinitionKey != "invoice_c7" || inv.DefinitionVersion != 1 || inv.BusinessKey != "ORD-1" ||
			inv.ParentInstanceID != order.ID || inv.ParentElementID != "Activity_invoice" || inv.CallDepth != 1 ||
			inv.ParentTokenID != v.detail(order.ID).Tokens[0].ID {
			t.Fatalf("called instance %+v", inv)
		}
		if got := v.vars(inv.ID); len(got) != 2 || got["total"] != "21" || got["doubled"] != "42" {
			t.Errorf("called instance's variables %v, want total and doubled only", got)
		}
		if !v.hasEvent(order.ID, event.CallStarted, "Activity_invoice") {
			t.Error("no call.started in the order's history")
		}
		task := v.openTask(inv.ID, "Activity_approve")
		if err := v.e.CompleteUserTask(v.ctx, task.ID, map[string]any{"invoiceNo": "INV-7", "approvedBy": "ann", "reject": false}); err != nil {
			t.Fatal(err)
		}
		if v.state(inv.ID) != store.InstanceCompleted {
			t.Fatalf("invoice %s", v.state(inv.ID))
		}
		if got := v.tokensAt(order.ID); !slices.Equal(got, []string{"Activity_ship"}) {
			t.Fatalf("order at %v after the invoice, want Activity_ship", got)
		}
		got := v.vars(order.ID)
		if got["invoiceNumber"] != `"INV-7"` || got["approver"] != `"ann"` || got["reject"] != "" || got["invoiceNo"] != "" {
			t.Errorf("order's variables %v: want invoiceNumber and approver mapped back, nothing else", got)
		}
		if !slices.Contains(v.visited(order.ID), "Activity_invoice") {
			t.Error("the call activity was not left")
		}
	})
}

// TestCallActivityErrorPropagates: an error end event the called instance does not catch
// goes to the error boundary event on the call activity; the called instance ends.
func TestCallActivityErrorPropagates(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		deployInvoices(v)
		order := v.startInstance("order_c7", map[string]any{"amount": 5})
		inv := v.onlyCalled(order.ID)
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inv.ID, "Activity_approve").ID, map[string]any{"reject": true}); err != nil {
			t.Fatal(err)
		}
		if v.state(inv.ID) != store.InstanceCancelled {
			t.Errorf("invoice %s, want cancelled by the error it passed on", v.state(inv.ID))
		}
		if v.state(order.ID) != store.InstanceCompleted {
			t.Fatalf("order %s", v.state(order.ID))
		}
		if got := v.visited(order.ID); !slices.Contains(got, "Event_rejected") || !slices.Contains(got, "Event_cancelled") {
			t.Errorf("order's path %v, want the boundary", got)
		}
		if len(v.openIncidents(order.ID)) != 0 || len(v.openIncidents(inv.ID)) != 0 {
			t.Error("incidents left")
		}
	})
}

// TestCallActivityCancel: cancelling the caller cancels the called instance; a called
// instance cancelled on its own leaves an incident at the call activity, and retrying it
// calls again.
func TestCallActivityCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		deployInvoices(v)
		order := v.startInstance("order_c7", map[string]any{"amount": 5})
		inv := v.onlyCalled(order.ID)
		if err := v.e.CancelInstance(v.ctx, order.ID, "customer withdrew"); err != nil {
			t.Fatal(err)
		}
		if v.state(inv.ID) != store.InstanceCancelled {
			t.Errorf("called instance %s after its caller was cancelled", v.state(inv.ID))
		}
		if d := v.detail(inv.ID); len(d.Tokens) != 0 || d.UserTasks[0].State != store.TaskCancelled {
			t.Errorf("called instance keeps tokens %v / tasks %v", d.Tokens, d.UserTasks)
		}

		order = v.startInstance("order_c7", map[string]any{"amount": 5})
		inv = v.onlyCalled(order.ID)
		if err := v.e.CancelInstance(v.ctx, inv.ID, "wrong amount"); err != nil {
			t.Fatal(err)
		}
		incs := v.openIncidents(order.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentCall || incs[0].ElementID != "Activity_invoice" ||
			!strings.Contains(incs[0].Message, inv.ID) || !strings.Contains(incs[0].Message, "wrong amount") {
			t.Fatalf("caller's incidents %+v", incs)
		}
		if v.state(order.ID) != store.InstanceActive {
			t.Fatalf("order %s", v.state(order.ID))
		}
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{}); err != nil {
			t.Fatal(err)
		}
		calls := v.called(order.ID)
		if len(calls) != 2 || calls[0].State != store.InstanceActive || calls[1].State != store.InstanceCancelled {
			t.Fatalf("called instances after the retry: %+v", calls)
		}
		if len(v.openIncidents(order.ID)) != 0 {
			t.Error("incident still open after the retry")
		}
	})
}

// TestCallActivityZeebe: a Camunda 8 model passes every variable down (with its input
// mapping) and only its output mapping back (propagateAllChildVariables="false"); an
// incident in the called instance is visible at the call activity, and retrying the
// caller's incident retries its cause.
func TestCallActivityZeebe(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var fail atomic.Bool
		fail.Store(true)
		v.e.Handle("charge", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if fail.Load() {
				return nil, errors.New("card declined")
			}
			return map[string]any{"receipt": fmt.Sprintf("R-%v", j.Variables["cents"]), "secret": "x"}, nil
		})
		v.start()
		v.deploy("call_payment_zeebe.bpmn")
		v.deploy("call_order_zeebe.bpmn")
		order := v.startInstance("order_z", map[string]any{"amount": 21})
		pay := v.onlyCalled(order.ID)
		if got := v.vars(pay.ID); got["amount"] != "21" || got["cents"] != "2100" {
			t.Errorf("called instance's variables %v", got)
		}
		if _, ok := v.vars(order.ID)["cents"]; ok {
			t.Error("the input mapping wrote the caller's variables")
		}
		v.waitFor("an incident at the call activity", func() bool { return len(v.openIncidents(order.ID)) == 1 })
		inc := v.openIncidents(order.ID)[0]
		cause := v.openIncidents(pay.ID)
		if len(cause) != 1 || cause[0].Type != store.IncidentFailedJob ||
			inc.Type != store.IncidentCalledInstance || inc.ElementID != "Activity_pay" || inc.CauseIncidentID != cause[0].ID ||
			!strings.Contains(inc.Message, "card declined") {
			t.Fatalf("caller's incident %+v, cause %+v", inc, cause)
		}
		if d := v.detail(order.ID); d.Instance.IncidentCount != 1 {
			t.Errorf("caller's incident count %d", d.Instance.IncidentCount)
		}
		fail.Store(false)
		if err := v.e.RetryIncident(v.ctx, inc.ID, engine.RetryOptions{}); err != nil {
			t.Fatal(err)
		}
		v.waitState(order.ID, store.InstanceCompleted)
		if got := v.vars(order.ID); got["paymentReceipt"] != `"R-2100"` || got["secret"] != "" || got["receipt"] != "" {
			t.Errorf("caller's variables %v: want paymentReceipt alone back", got)
		}
		d := v.detail(order.ID)
		if d.Instance.IncidentCount != 0 || len(d.Incidents) != 1 || d.Incidents[0].State != store.IncidentResolved {
			t.Errorf("caller's incidents %+v", d.Incidents)
		}
	})
}

// TestCallActivityRecursionLimit: a process that calls itself stops at MaxCallDepth with
// an incident naming the limit, visible all the way up; cancelling the top instance
// cancels the whole chain.
func TestCallActivityRecursionLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("call_recursive.bpmn")
		top := v.startInstance("recurse", map[string]any{"n": 1})
		chain := []*store.Instance{v.detail(top.ID).Instance}
		for {
			cs := v.called(chain[len(chain)-1].ID)
			if len(cs) == 0 {
				break
			}
			if len(cs) != 1 {
				t.Fatalf("instance at depth %d called %d instances", len(chain)-1, len(cs))
			}
			chain = append(chain, cs[0])
		}
		if len(chain) != engine.MaxCallDepth+1 {
			t.Fatalf("chain of %d instances, want %d", len(chain), engine.MaxCallDepth+1)
		}
		last := chain[len(chain)-1]
		incs := v.openIncidents(last.ID)
		if last.CallDepth != engine.MaxCallDepth || len(incs) != 1 || incs[0].Type != store.IncidentCall ||
			!strings.Contains(incs[0].Message, "MaxCallDepth") {
			t.Fatalf("deepest instance (depth %d) incidents %+v", last.CallDepth, incs)
		}
		topIncs := v.openIncidents(top.ID)
		if len(topIncs) != 1 || topIncs[0].Type != store.IncidentCalledInstance || !strings.Contains(topIncs[0].Message, "MaxCallDepth") {
			t.Fatalf("top instance's incidents %+v", topIncs)
		}
		if err := v.e.CancelInstance(v.ctx, top.ID, "stop"); err != nil {
			t.Fatal(err)
		}
		for _, in := range chain {
			if s := v.state(in.ID); s != store.InstanceCancelled {
				t.Fatalf("instance at depth %d is %s after the top was cancelled", in.CallDepth, s)
			}
			if n := len(v.openIncidents(in.ID)); n != 0 {
				t.Errorf("instance at depth %d keeps %d incidents", in.CallDepth, n)
			}
		}
	})
}

// callDoc is a document with a process "caller" whose call activity has the given
// attributes and extension elements, and optionally a second process in it.
func callDoc(attrs, ext, more string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="d" targetNamespace="t">
  <bpmn:process id="caller" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call" />
    <bpmn:callActivity id="call" ` + attrs + `><bpmn:extensionElements>` + ext + `</bpmn:extensionElements></bpmn:callActivity>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>` + more + `
</bpmn:definitions>`
}

// calleeDoc is a process key waiting at a user task, tagged.
func calleeDoc(key, tag, note string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">` +
		calleeProcess(key, tag, note) + `</bpmn:definitions>`
}

func calleeProcess(key, tag, note string) string {
	return `<bpmn:process id="` + key + `" name="` + note + `" isExecutable="true" camunda:versionTag="` + tag + `">
    <bpmn:startEvent id="s" /><bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="wait" />
    <bpmn:userTask id="wait" /><bpmn:sequenceFlow id="g2" sourceRef="wait" targetRef="e" /><bpmn:endEvent id="e" />
  </bpmn:process>`
}

// TestCallActivityBindings: latest, a fixed version, a version tag and the deployment
// bind the versions they name; a process or version that is not deployed is an
// incident, and the retry after its deployment calls it.
func TestCallActivityBindings(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		for i, tag := range []string{"a", "b", "a"} {
			v.deployText(fmt.Sprintf("callee%d.bpmn", i), calleeDoc("callee", tag, fmt.Sprint(i)))
		}
		tests := []struct {
			name, attrs, ext string
			version          int
		}{
			{"latest", `calledElement="callee"`, ``, 3},
			{"version", `calledElement="callee" camunda:calledElementBinding="version" camunda:calledElementVersion="2"`, ``, 2},
			{"version expression", `calledElement="${key}" camunda:calledElementBinding="version" camunda:calledElementVersion="${v}"`, ``, 1},
			{"versionTag", `calledElement="callee" camunda:calledElementBinding="versionTag" camunda:calledElementVersionTag="b"`, ``, 2},
			{"zeebe versionTag", ``, `<zeebe:calledElement processId="callee" bindingType="versionTag" versionTag="a" />`, 3},
			{"zeebe key expression", ``, `<zeebe:calledElement processId="=key" />`, 3},
		}
		for i, tt := range tests {
			caller := fmt.Sprintf("caller%d", i)
			doc := strings.ReplaceAll(callDoc(tt.attrs, tt.ext, ""), `"caller"`, `"`+caller+`"`)
			v.deployText(caller+".bpmn", doc)
			inst := v.startInstance(caller, map[string]any{"key": "callee", "v": 1})
			if incs := v.openIncidents(inst.ID); len(incs) > 0 {
				t.Errorf("%s: incident %s", tt.name, incs[0].Message)
				continue
			}
			if c := v.onlyCalled(inst.ID); c.DefinitionVersion != tt.version {
				t.Errorf("%s: called version %d, want %d", tt.name, c.DefinitionVersion, tt.version)
			}
		}

		// The deployment binding: the callee deployed with the caller, not a later one.
		v.deployText("both.bpmn", callDoc(`calledElement="mate" camunda:calledElementBinding="deployment"`, ``, calleeProcess("mate", "", "with caller")))
		v.deployText("mate.bpmn", calleeDoc("mate", "", "later"))
		inst := v.startInstance("caller", nil)
		if c := v.onlyCalled(inst.ID); c.DefinitionVersion != 1 {
			t.Errorf("deployment binding called version %d, want 1", c.DefinitionVersion)
		}

		// Not deployed: an incident at the call activity; retried once deployed.
		v.deployText("missing.bpmn", strings.ReplaceAll(callDoc(`calledElement="later"`, ``, ""), `"caller"`, `"missing"`))
		inst = v.startInstance("missing", nil)
		incs := v.openIncidents(inst.ID)
		if len(incs) != 1 || incs[0].Type != store.IncidentCall || !strings.Contains(incs[0].Message, `process "later" is not deployed`) {
			t.Fatalf("incidents %+v", incs)
		}
		v.deployText("later.bpmn", calleeDoc("later", "", ""))
		if err := v.e.RetryIncident(v.ctx, incs[0].ID, engine.RetryOptions{}); err != nil {
			t.Fatal(err)
		}
		if c := v.onlyCalled(inst.ID); c.DefinitionKey != "later" {
			t.Errorf("called %s after the retry", c.DefinitionKey)
		}
		// A tag nobody has, a version that does not exist.
		for i, attrs := range []string{
			`calledElement="callee" camunda:calledElementBinding="versionTag" camunda:calledElementVersionTag="zzz"`,
			`calledElement="callee" camunda:calledElementBinding="version" camunda:calledElementVersion="9"`,
		} {
			key := fmt.Sprintf("nobind%d", i)
			v.deployText(key+".bpmn", strings.ReplaceAll(callDoc(attrs, ``, ""), `"caller"`, `"`+key+`"`))
			inst := v.startInstance(key, nil)
			if incs := v.openIncidents(inst.ID); len(incs) != 1 || !strings.Contains(incs[0].Message, "is not deployed") {
				t.Errorf("%s: incidents %+v", attrs, incs)
			}
		}
	})
}

// TestCallActivityAllVariables: camunda:in/out variables="all" pass every variable both
// ways, and a called instance that completes at once completes the call in the same
// command.
func TestCallActivityAllVariables(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployText("quick.bpmn", `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="q" targetNamespace="t">
  <bpmn:process id="quick" isExecutable="true">
    <bpmn:startEvent id="s" /><bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="calc" />
    <bpmn:scriptTask id="calc" camunda:resultVariable="z"><bpmn:script>x * 2</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="g2" sourceRef="calc" targetRef="e" /><bpmn:endEvent id="e" />
  </bpmn:process>
</bpmn:definitions>`)
		v.deployText("caller.bpmn", callDoc(`calledElement="quick"`,
			`<camunda:in variables="all" /><camunda:out variables="all" />`, ""))
		inst := v.startInstance("caller", map[string]any{"x": 4, "y": "why"})
		if v.state(inst.ID) != store.InstanceCompleted {
			t.Fatalf("caller %s, incidents %+v", v.state(inst.ID), v.openIncidents(inst.ID))
		}
		c := v.onlyCalled(inst.ID)
		if got := v.vars(c.ID); got["x"] != "4" || got["y"] != `"why"` {
			t.Errorf("called instance's variables %v", got)
		}
		if got := v.vars(inst.ID); got["z"] != "8" {
			t.Errorf("caller's variables %v, want z back", got)
		}
		if v.state(c.ID) != store.InstanceCompleted {
			t.Errorf("called instance %s", v.state(c.ID))
		}
	})
}

// TestMultiInstanceCallActivity: a parallel multi-instance call activity (Camunda 8
// model) calls one instance per item, each with its own input, and collects their
// outputs in item order whatever order they end in; a sequential one calls the next
// only when the previous ended; cancelling the caller cancels every called instance.
func TestMultiInstanceCallActivity(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deploy("call_each_zeebe.bpmn")
		finish := func(c *store.Instance) {
			t.Helper()
			task := v.openTask(c.ID, "Activity_check")
			if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
		inst := v.startInstance("each_z", map[string]any{"items": []any{1, 2, 3}})
		children := v.called(inst.ID)
		if len(children) != 3 {
			t.Fatalf("parallel: %d called instances, want 3", len(children))
		}
		var ns []string
		for _, c := range children {
			ns = append(ns, v.vars(c.ID)["n"])
		}
		slices.Sort(ns)
		if !slices.Equal(ns, []string{"1", "2", "3"}) {
			t.Errorf("called instances got n = %v", ns)
		}
		// End them newest first (the last item first): the output collection keeps item order.
		for _, c := range children {
			finish(c)
		}
		if got := strings.ReplaceAll(v.vars(inst.ID)["results"], " ", ""); got != "[2,4,6]" {
			t.Fatalf("results = %s, want [2,4,6]", got)
		}

		// Sequential: one called instance at a time, over the results.
		for i := range 3 {
			running := 0
			var current *store.Instance
			for _, c := range v.called(inst.ID) {
				if c.State == store.InstanceActive {
					running++
					current = c
				}
			}
			if running != 1 {
				t.Fatalf("sequential step %d: %d called instances running, want 1", i, running)
			}
			if want := []string{"2", "4", "6"}[i]; v.vars(current.ID)["n"] != want {
				t.Errorf("sequential step %d: n = %s, want %s", i, v.vars(current.ID)["n"], want)
			}
			finish(current)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if n := len(v.called(inst.ID)); n != 6 {
			t.Errorf("%d called instances in all, want 6", n)
		}

		// Cancelling the caller cancels every instance it called.
		other := v.startInstance("each_z", map[string]any{"items": []any{5, 6}})
		if err := v.e.CancelInstance(v.ctx, other.ID, "wrong order"); err != nil {
			t.Fatal(err)
		}
		for _, c := range v.called(other.ID) {
			v.waitState(c.ID, store.InstanceCancelled)
		}
	})
}

// TestCallActivityEscalation: an escalation a called instance does not catch goes to its
// call activity (Camunda 7): a non-interrupting boundary event there starts its path and
// the called instance runs on; an interrupting one ends the called instance and takes
// the call activity's token; one the caller does not catch is no error.
func TestCallActivityEscalation(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.deployBuilt(bpmn.Build("approve").Start("s").
			EscalationThrow("ask", "MANAGER").UserTask("decide").
			ExclusiveGateway("late").Condition("late == true").End("tooLate", bpmn.EscalationEnd("LATE")).
			Default().EscalationThrow("odd", "UNCAUGHT").End("done"))
		v.deployBuilt(bpmn.Build("order").Start("s").
			CallActivity("approveIt", "approve", bpmn.CallInAll()).
			BoundaryEscalation("manager", "MANAGER", bpmn.NonInterrupting()).UserTask("inform").End("informed").
			MoveTo("approveIt").BoundaryEscalation("lateOne", "LATE").End("cancelled").
			MoveTo("approveIt").End("approved"))

		for _, late := range []bool{false, true} {
			inst := v.startInstance("order", map[string]any{"late": late})
			child := v.onlyCalled(inst.ID)
			if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"approveIt", "inform"}) {
				t.Fatalf("late=%v: order waits at %v, want the call and the manager's task", late, got)
			}
			if got := v.tokensAt(child.ID); !slices.Equal(got, []string{"decide"}) {
				t.Fatalf("late=%v: the called instance waits at %v", late, got)
			}
			task := v.openTask(child.ID, "decide")
			if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
				t.Fatal(err)
			}
			if late {
				v.waitState(child.ID, store.InstanceCancelled)
				if !v.hasEvent(inst.ID, event.ElementEntered, "cancelled") || v.hasEvent(inst.ID, event.ElementEntered, "approved") {
					t.Error("the interrupting escalation did not take the call activity's token")
				}
			} else {
				v.waitState(child.ID, store.InstanceCompleted)
				if !v.hasEvent(inst.ID, event.ElementEntered, "approved") {
					t.Error("the call activity did not complete")
				}
				if !v.hasEvent(child.ID, event.EscalationThrown, "odd") || len(v.openIncidents(child.ID)) != 0 {
					t.Error("an escalation nobody catches is not thrown quietly")
				}
			}
			if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"inform"}) {
				t.Errorf("late=%v: order waits at %v, want the manager's task only", late, got)
			}
		}
	})
}
