package camunda

import (
	"net/http"
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// startInvoice starts an instance of invoice.bpmn (it waits for invoice.paid).
func (v *testEnv) startInvoice(businessKey string, vars map[string]any) string {
	v.t.Helper()
	in, err := v.Engine.StartInstance(v.ctx, "invoice", engine.StartOptions{BusinessKey: businessKey, Variables: vars})
	if err != nil {
		v.t.Fatal(err)
	}
	return in.ID
}

// tokensAt lists the elements where an instance's tokens stand.
func (v *testEnv) tokensAt(id string) []string {
	v.t.Helper()
	d, err := v.Engine.GetInstance(v.ctx, id)
	if err != nil {
		v.t.Fatal(err)
	}
	var out []string
	for _, tok := range d.Tokens {
		out = append(out, tok.ElementID)
	}
	slices.Sort(out)
	return out
}

// POST /message: Camunda's selection (business key, correlationKeys, instance id),
// exactly one match unless all, results when asked, a message start event.
func TestCorrelateMessage(t *testing.T) {
	t.Parallel()
	v := newTestServer(t, Options{Actor: "shop"})
	v.deploy("invoice.bpmn")
	a := v.startInvoice("A", map[string]any{"n": 1})
	b1 := v.startInvoice("B", map[string]any{"n": 1})
	b2 := v.startInvoice("B", map[string]any{"n": 2})

	v.do("POST", "/message", `{"messageName":"invoice.paid","businessKey":"A"}`).ok(t, http.StatusNoContent, nil)
	if at := v.tokensAt(a); !slices.Equal(at, []string{"Task_archive"}) {
		t.Fatalf("instance A stands at %v, want Task_archive", at)
	}
	if rows := v.audit("message.correlate"); len(rows) != 1 || rows[0].Actor != "shop" || rows[0].Target != "invoice.paid" || rows[0].Result != "ok" {
		t.Fatalf("audit %+v", rows)
	}

	v.do("POST", "/message", `{"messageName":"invoice.paid","businessKey":"B"}`).
		failed(t, http.StatusBadRequest, "RestException", "org.camunda.bpm.engine.MismatchingMessageCorrelationException: Cannot correlate message 'invoice.paid': more than one execution or process definition matches")
	v.do("POST", "/message", `{"messageName":"invoice.paid","businessKey":"nope"}`).
		failed(t, http.StatusBadRequest, "RestException",
			"Cannot correlate message 'invoice.paid': No process definition or execution matches the parameters")
	v.do("POST", "/message", `{"messageName":"other"}`).
		failed(t, http.StatusBadRequest, "RestException", "No process definition or execution matches the parameters")
	v.do("POST", "/message", `{}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "No message name")
	v.do("POST", "/message", `{"messageName":"x","tenantId":"t"}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "tenants")

	// correlationKeys (typed) select by process variable; processVariables are set; the
	// result names the execution and its variables.
	var res []struct {
		ResultType string `json:"resultType"`
		Execution  *struct {
			ID                string `json:"id"`
			ProcessInstanceID string `json:"processInstanceId"`
			Ended             bool   `json:"ended"`
		} `json:"execution"`
		ProcessInstance *instanceDTO        `json:"processInstance"`
		Variables       map[string]variable `json:"variables"`
	}
	v.do("POST", "/message", `{"messageName":"invoice.paid","businessKey":"B","correlationKeys":{"n":{"value":2,"type":"Long"}},
		"processVariables":{"paidAt":{"value":"2026-12-07T10:00:00.000+0000","type":"Date"}},"resultEnabled":true,"variablesInResultEnabled":true}`).
		ok(t, http.StatusOK, &res)
	if len(res) != 1 || res[0].ResultType != "Execution" || res[0].Execution == nil || res[0].Execution.ProcessInstanceID != b2 ||
		res[0].ProcessInstance != nil || res[0].Execution.Ended {
		t.Fatalf("result %+v", res)
	}
	if p := res[0].Variables["paidAt"]; p.Type != "Date" || string(p.Value) != `"2026-12-07T10:00:00.000+0000"` {
		t.Fatalf("variables in result %+v", res[0].Variables)
	}
	if at := v.tokensAt(b1); !slices.Equal(at, []string{"Event_paid"}) {
		t.Fatalf("instance b1 moved: %v", at)
	}

	// By instance id; then all: every waiting instance.
	c := v.startInvoice("C", nil)
	v.do("POST", "/message", `{"messageName":"invoice.paid","processInstanceId":"`+c+`"}`).ok(t, http.StatusNoContent, nil)
	d, e := v.startInvoice("D", nil), v.startInvoice("E", nil)
	v.do("POST", "/message", `{"messageName":"invoice.paid","all":true,"resultEnabled":true}`).ok(t, http.StatusOK, &res)
	var reached []string
	for _, r := range res {
		reached = append(reached, r.Execution.ProcessInstanceID)
	}
	slices.Sort(reached)
	want := []string{b1, d, e}
	slices.Sort(want)
	if !slices.Equal(reached, want) {
		t.Fatalf("all reached %v, want %v", reached, want)
	}
	v.do("POST", "/message", `{"messageName":"invoice.paid","all":true}`).
		failed(t, http.StatusBadRequest, "RestException", "No process definition or execution matches")

	// A message start event starts an instance with the business key.
	v.deploy("invoice_start.bpmn")
	v.do("POST", "/message", `{"messageName":"invoice.submitted","businessKey":"S1","resultEnabled":true}`).ok(t, http.StatusOK, &res)
	if len(res) != 1 || res[0].ResultType != "ProcessDefinition" || res[0].ProcessInstance == nil || res[0].Execution != nil ||
		res[0].ProcessInstance.BusinessKey != "S1" {
		t.Fatalf("start result %+v", res)
	}
	in, err := v.Engine.GetInstanceRow(v.ctx, res[0].ProcessInstance.ID)
	if err != nil || in.DefinitionKey != "invoice_start" || in.State != store.InstanceActive {
		t.Fatalf("started instance %+v, %v", in, err)
	}
}
