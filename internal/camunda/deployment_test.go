package camunda

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func readTestdata(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// modelerForm is a deployment exactly as Camunda Modeler (5.x) posts it.
func modelerForm(name string, files map[string][]byte) []part {
	parts := []part{
		{field: "deployment-name", data: []byte(name)},
		{field: "deployment-source", data: []byte("Camunda Modeler")},
		{field: "enable-duplicate-filtering", data: []byte("true")},
		{field: "deploy-changed-only", data: []byte("true")},
	}
	for file, data := range files {
		parts = append(parts, part{field: file, filename: file, data: data})
	}
	return parts
}

type deploymentAnswer struct {
	deploymentDTO
	DeployedProcessDefinitions map[string]definitionDTO `json:"deployedProcessDefinitions"`
}

// A deployment from Camunda Modeler: deployed and audited in the caller's name, answered
// with Camunda's DeploymentWithDefinitionsDto; the same file again deploys nothing new
// (duplicate filtering); a changed one is a new version in a new deployment.
func TestDeployFromModeler(t *testing.T) {
	t.Parallel()
	v := newTestServer(t, Options{Actor: "modeler-bot"})
	xml := readTestdata(t, "invoice.bpmn")
	a := v.postForm("/deployment/create", modelerForm("invoice", map[string][]byte{"invoice.bpmn": xml})...)
	var raw map[string]json.RawMessage
	a.ok(t, http.StatusOK, &raw)
	for _, k := range []string{"deployedCaseDefinitions", "deployedDecisionDefinitions", "deployedDecisionRequirementsDefinitions", "tenantId"} {
		if string(raw[k]) != "null" {
			t.Fatalf("%s = %s, want null", k, raw[k])
		}
	}
	var dep deploymentAnswer
	a.ok(t, http.StatusOK, &dep)
	if dep.ID == "" || dep.Name != "invoice" || dep.Source != "Camunda Modeler" || dep.DeploymentTime != "2026-12-07T09:00:00.000+0000" {
		t.Fatalf("deployment %+v", dep.deploymentDTO)
	}
	if len(dep.DeployedProcessDefinitions) != 1 {
		t.Fatalf("deployed %+v, want one definition", dep.DeployedProcessDefinitions)
	}
	var v1 definitionDTO
	for id, d := range dep.DeployedProcessDefinitions {
		if id != d.ID || d.Key != "invoice" || d.Version != 1 || d.DeploymentID != dep.ID || d.Resource != "invoice.bpmn" || d.Name != "Invoice" {
			t.Fatalf("definition %s: %+v", id, d)
		}
		v1 = d
	}
	rows := v.audit("deploy")
	if len(rows) != 1 || rows[0].Actor != "modeler-bot" || rows[0].Result != "ok" || rows[0].Target != "invoice.bpmn" || rows[0].Reason != reasonREST {
		t.Fatalf("audit rows %+v", rows)
	}

	// Unchanged: nothing new; the answer names the deployment that holds it.
	var again deploymentAnswer
	v.postForm("/deployment/create", modelerForm("invoice", map[string][]byte{"invoice.bpmn": xml})...).ok(t, http.StatusOK, &again)
	if again.ID != dep.ID || len(again.DeployedProcessDefinitions) != 0 {
		t.Fatalf("unchanged deployment answered %+v, want deployment %s with no definitions", again, dep.ID)
	}
	// Without duplicate filtering the unchanged definition is listed (no new version).
	var listed deploymentAnswer
	v.postForm("/deployment/create", part{field: "data", filename: "invoice.bpmn", data: xml}).ok(t, http.StatusOK, &listed)
	if listed.ID != dep.ID || len(listed.DeployedProcessDefinitions) != 1 || listed.DeployedProcessDefinitions[v1.ID].Version != 1 {
		t.Fatalf("unfiltered deployment answered %+v", listed)
	}

	changed := bytes.Replace(xml, []byte(`name="Archive"`), []byte(`name="Archive it"`), 1)
	var dep2 deploymentAnswer
	v.postForm("/deployment/create", modelerForm("invoice", map[string][]byte{"invoice.bpmn": changed})...).ok(t, http.StatusOK, &dep2)
	if dep2.ID == dep.ID || len(dep2.DeployedProcessDefinitions) != 1 {
		t.Fatalf("changed deployment %+v", dep2)
	}
	for _, d := range dep2.DeployedProcessDefinitions {
		if d.Version != 2 || d.DeploymentID != dep2.ID {
			t.Fatalf("changed definition %+v", d)
		}
	}
	if n := len(v.audit("deploy")); n != 4 {
		t.Fatalf("%d deploy audit rows, want 4", n)
	}

	// Queries.
	var list []deploymentDTO
	v.do("GET", "/deployment", nil).ok(t, http.StatusOK, &list)
	if len(list) != 2 || list[0].ID != dep.ID || list[1].ID != dep2.ID || list[0].Name != "invoice.bpmn" {
		t.Fatalf("deployments %+v", list)
	}
	v.do("GET", "/deployment?sortBy=deploymentTime&sortOrder=desc&maxResults=1", nil).ok(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != dep2.ID {
		t.Fatalf("newest deployment %+v", list)
	}
	// Camunda Modeler checks the endpoint so.
	v.do("GET", "/deployment?maxResults=0", nil).ok(t, http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("maxResults=0 listed %+v", list)
	}
	v.do("GET", "/deployment?id="+dep.ID, nil).ok(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != dep.ID {
		t.Fatalf("deployment by id %+v", list)
	}
	var count struct{ Count int }
	for q, want := range map[string]int{"": 2, "?nameLike=inv%25": 2, "?name=other.bpmn": 0, "?source=x": 0, "?firstResult=1": 2,
		"?after=2026-12-07T08:00:00.000%2B0000": 2, "?before=2026-12-07T08:00:00.000%2B0000": 0} {
		v.do("GET", "/deployment/count"+q, nil).ok(t, http.StatusOK, &count)
		if count.Count != want {
			t.Fatalf("count%s = %d, want %d", q, count.Count, want)
		}
	}
	var one deploymentDTO
	v.do("GET", "/deployment/"+dep2.ID, nil).ok(t, http.StatusOK, &one)
	if one.ID != dep2.ID || one.DeploymentTime != dep2.DeploymentTime {
		t.Fatalf("deployment %+v", one)
	}
	v.do("GET", "/deployment/nope", nil).failed(t, http.StatusNotFound, "RestException", "Deployment with id 'nope' does not exist")
	v.do("GET", "/deployment?sortBy=size", nil).failed(t, http.StatusBadRequest, "InvalidRequestException", "sortBy")
	v.do("GET", "/deployment?maxResults=1001", nil).failed(t, http.StatusBadRequest, "InvalidRequestException", "1000")
}

// A document Cockpit refuses is a ParseException with each problem's line, column and
// element, per resource; nothing of the deployment is deployed, nor audited.
func TestDeployParseException(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	good := readTestdata(t, "invoice.bpmn")
	a := v.postForm("/deployment/create", modelerForm("mixed", map[string][]byte{
		"invoice.bpmn": good, "unsupported.bpmn": readTestdata(t, "unsupported.bpmn")})...)
	e := a.failed(t, http.StatusBadRequest, "ParseException", "ENGINE-09005 Could not parse BPMN process. Errors in 'unsupported.bpmn'")
	var details map[string]resourceReport
	raw, _ := json.Marshal(e["details"])
	if err := json.Unmarshal(raw, &details); err != nil {
		t.Fatal(err)
	}
	rep := details["unsupported.bpmn"]
	if len(rep.Errors) != 1 || rep.Errors[0].MainElementID != "Gateway_complex" || rep.Errors[0].Line != 6 || rep.Errors[0].Column == 0 ||
		len(rep.Errors[0].ElementIDs) != 1 || rep.Errors[0].ElementIDs[0] != "Gateway_complex" || !strings.Contains(rep.Errors[0].Message, "cannot be executed") {
		t.Fatalf("details of unsupported.bpmn: %+v", rep)
	}
	if ok := details["invoice.bpmn"]; len(ok.Errors) != 0 || ok.Warnings == nil {
		t.Fatalf("details of invoice.bpmn: %+v", ok)
	}
	defs, err := v.Engine.ListDefinitions(v.ctx, store.DefinitionFilter{})
	if err != nil || len(defs) != 0 {
		t.Fatalf("definitions after a refused deployment: %v, %v", defs, err)
	}
	if rows := v.audit("deploy"); len(rows) != 0 {
		t.Fatalf("audit rows of a refused deployment: %+v", rows)
	}

	// Not well-formed: the parser's line and column, no element.
	a = v.postForm("/deployment/create", part{field: "broken.bpmn", filename: "broken.bpmn", data: []byte(`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">` + "\n  <process id=\"p\">\n</definitions>")})
	e = a.failed(t, http.StatusBadRequest, "ParseException", "broken.bpmn")
	raw, _ = json.Marshal(e["details"])
	details = nil
	_ = json.Unmarshal(raw, &details)
	if p := details["broken.bpmn"].Errors; len(p) != 1 || p[0].Line != 3 || p[0].MainElementID != nil {
		t.Fatalf("details of broken.bpmn: %+v", details)
	}
}

// The form is bounded and checked: each limit is named.
func TestDeployBounds(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	xml := readTestdata(t, "invoice.bpmn")
	v.do("POST", "/deployment/create", `{}`).failed(t, http.StatusBadRequest, "InvalidRequestException", "multipart/form-data")
	v.postForm("/deployment/create", part{field: "deployment-name", data: []byte("x")}).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "no file")
	v.postForm("/deployment/create", part{field: "tenant-id", data: []byte("t1")}, part{field: "a", filename: "a.bpmn", data: xml}).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "no tenants")
	v.postForm("/deployment/create", part{field: "enable-duplicate-filtering", data: []byte("maybe")}, part{field: "a", filename: "a.bpmn", data: xml}).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "true or false")
	v.postForm("/deployment/create", part{field: "deployment-name", data: bytes.Repeat([]byte("n"), maxFieldBytes+1)}).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "limit of 4096 bytes")
	var many []part
	for i := 0; i <= MaxDeployFiles; i++ {
		many = append(many, part{field: "f", filename: strings.Repeat("x", i+1) + ".bpmn", data: xml})
	}
	v.postForm("/deployment/create", many...).failed(t, http.StatusBadRequest, "InvalidRequestException", "at most 16 files (MaxDeployFiles)")
	v.postForm("/deployment/create", part{field: "big", filename: "big.bpmn", data: bytes.Repeat([]byte(" "), bpmn.MaxDocumentBytes+1)}).
		failed(t, http.StatusRequestEntityTooLarge, "InvalidRequestException", "bpmn.MaxDocumentBytes")
	var big []part
	for i := 0; i < 4; i++ {
		big = append(big, part{field: "f", filename: strings.Repeat("y", i+1) + ".bpmn", data: bytes.Repeat([]byte(" "), bpmn.MaxDocumentBytes)})
	}
	v.postForm("/deployment/create", big...).failed(t, http.StatusRequestEntityTooLarge, "InvalidRequestException", "MaxDeployBodyBytes")
	if rows := v.audit("deploy"); len(rows) != 0 {
		t.Fatalf("audit rows of refused deployments: %+v", rows)
	}
}

func TestLike(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s, pattern string
		want       bool
	}{
		{"invoice.bpmn", "inv%", true}, {"invoice.bpmn", "%.bpmn", true}, {"invoice.bpmn", "%voice%", true},
		{"invoice.bpmn", "invoice.bpm_", true}, {"invoice.bpmn", "invoice", false}, {"invoice.bpmn", "%x%", false},
		{"", "%", true}, {"", "", true}, {"a", "", false}, {"abcabc", "%a%c", true}, {"abcabd", "%a%c", false},
		{"ünïcode", "_n_code", true}, {"aaa", "%%a%%", true}, {strings.Repeat("a", 200), strings.Repeat("%a", 100) + "%b", false},
	} {
		if got := like(c.s, c.pattern); got != c.want {
			t.Errorf("like(%q, %q) = %v, want %v", c.s, c.pattern, got, c.want)
		}
	}
}
