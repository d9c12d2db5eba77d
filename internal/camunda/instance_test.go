package camunda

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

// Process instances: the running ones, by filter, count and id, with their variables.
func TestProcessInstances(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	def := v.deploy("invoice.bpmn").Processes[0].Definition
	a := v.startInvoice("A", map[string]any{"amount": 12.5, "obj": engine.Typed{Type: "Object:com.acme.Invoice", Value: map[string]any{"x": 1}}})
	b := v.startInvoice("B", nil)
	c := v.startInvoice("C", nil)
	if err := v.Engine.SuspendInstance(v.ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := v.Engine.CancelInstance(v.ctx, c, "test"); err != nil {
		t.Fatal(err)
	}
	ids := func(q string) string {
		t.Helper()
		var list []instanceDTO
		v.do("GET", "/process-instance"+q, nil).ok(t, http.StatusOK, &list)
		var out []string
		for _, in := range list {
			switch in.ID {
			case a:
				out = append(out, "a")
			case b:
				out = append(out, "b")
			case c:
				out = append(out, "c")
			}
		}
		var count struct{ Count int }
		v.do("GET", "/process-instance/count"+q, nil).ok(t, http.StatusOK, &count)
		if count.Count != len(list) && !strings.Contains(q, "Result") {
			t.Fatalf("count%s = %d, list has %d", q, count.Count, len(list))
		}
		return strings.Join(out, ",")
	}
	for q, want := range map[string]string{
		"":                                          "a,b",
		"?businessKey=A":                            "a",
		"?active=true":                              "a",
		"?suspended=true":                           "b",
		"?processDefinitionKey=invoice":             "a,b",
		"?processDefinitionId=" + def.ID:            "a,b",
		"?processDefinitionKey=nope":                "",
		"?processInstanceIds=" + a + "," + c:        "a",
		"?processInstanceIds=" + b + "," + a:        "a,b",
		"?withIncident=true":                        "",
		"?tenantIdIn=t":                             "",
		"?maxResults=1&firstResult=5":               "",
		"?processInstanceIds=" + b + "&active=true": "",
	} {
		got := ids(q)
		// Newest first for a list; by id for processInstanceIds: compare as sets.
		if !sameSet(got, want) {
			t.Errorf("instances%s = %q, want %q", q, got, want)
		}
	}
	var in instanceDTO
	v.do("GET", "/process-instance/"+a, nil).ok(t, http.StatusOK, &in)
	if in.ID != a || in.DefinitionID != def.ID || in.BusinessKey != "A" || in.Ended || in.Suspended {
		t.Fatalf("instance %+v", in)
	}
	v.do("GET", "/process-instance/"+b, nil).ok(t, http.StatusOK, &in)
	if !in.Suspended {
		t.Fatalf("suspended instance %+v", in)
	}
	v.do("GET", "/process-instance/"+c, nil).failed(t, http.StatusNotFound, "RestException", "Process instance with id "+c+" does not exist")
	v.do("POST", "/process-instance", `{"businessKey":"A"}`).ok(t, http.StatusOK, &[]instanceDTO{})

	var vars map[string]variable
	v.do("GET", "/process-instance/"+a+"/variables", nil).ok(t, http.StatusOK, &vars)
	if x := vars["amount"]; x.Type != "Double" || string(x.Value) != "12.5" {
		t.Fatalf("amount %+v", x)
	}
	if o := vars["obj"]; o.Type != "Object" || string(o.Value) != `{"x":1}` || o.ValueInfo["objectTypeName"] != "com.acme.Invoice" {
		t.Fatalf("deserialized object %+v", o)
	}
	v.do("GET", "/process-instance/"+a+"/variables?deserializeValues=false", nil).ok(t, http.StatusOK, &vars)
	if o := vars["obj"]; string(o.Value) != `"{\"x\":1}"` {
		t.Fatalf("serialized object %s", o.Value)
	}
	var one variable
	v.do("GET", "/process-instance/"+a+"/variables/amount", nil).ok(t, http.StatusOK, &one)
	if one.Type != "Double" {
		t.Fatalf("variable %+v", one)
	}
	v.do("GET", "/process-instance/"+a+"/variables/nope", nil).failed(t, http.StatusNotFound, "RestException", "nope")
	v.do("GET", "/process-instance/"+c+"/variables", nil).failed(t, http.StatusNotFound, "RestException", c)
	v.do("GET", "/process-instance?active=maybe", nil).failed(t, http.StatusBadRequest, "InvalidRequestException", "true or false")
	v.do("GET", "/process-instance?maxResults=5000", nil).failed(t, http.StatusBadRequest, "InvalidRequestException", "1000")
	// Pages past the first 10,000 are read from the store (no scan bound).
	var far []instanceDTO
	v.do("GET", "/process-instance?firstResult=9999&maxResults=2", nil).ok(t, http.StatusOK, &far)
	if len(far) != 0 {
		t.Fatalf("page past the end %+v", far)
	}
	var second []instanceDTO
	v.do("GET", "/process-instance?firstResult=1&maxResults=1", nil).ok(t, http.StatusOK, &second)
	if len(second) != 1 {
		t.Fatalf("second page %+v", second)
	}
}

func sameSet(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	if len(as) != len(bs) {
		return false
	}
	seen := map[string]int{}
	for _, x := range as {
		seen[x]++
	}
	for _, x := range bs {
		seen[x]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}
