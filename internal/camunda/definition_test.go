package camunda

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Process definitions: list with filters, count, one by id or key (the latest), XML.
func TestProcessDefinitions(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	xml := readTestdata(t, "invoice.bpmn")
	d1 := v.deploy("invoice.bpmn").Processes[0].Definition
	dep2, err := v.Engine.Deploy(v.ctx, "invoice.bpmn", bytes.Replace(xml, []byte(`name="Archive"`), []byte(`name="Archive it"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	d2 := dep2.Processes[0].Definition
	v.deploy("invoice_start.bpmn")

	var list []definitionDTO
	v.do("GET", "/process-definition?key=invoice", nil).ok(t, http.StatusOK, &list)
	if len(list) != 2 || list[0].ID != d1.ID || list[1].ID != d2.ID || list[0].DeploymentID != d1.ID || list[1].Version != 2 {
		t.Fatalf("definitions of invoice %+v", list)
	}
	if d := list[0]; d.Name != "Invoice" || d.Resource != "invoice.bpmn" || d.Suspended || !d.StartableInTasklist || d.TenantID != nil {
		t.Fatalf("definition %+v", d)
	}
	var count struct{ Count int }
	for q, want := range map[string]int{"": 3, "?latestVersion=true": 2, "?key=invoice&version=1": 1, "?keysIn=invoice,invoice_start": 3,
		"?nameLike=Invoice%25": 3, "?name=Invoice": 2, "?deploymentId=" + d2.ID: 1, "?tenantIdIn=t": 0, "?suspended=true": 0} {
		v.do("GET", "/process-definition/count"+q, nil).ok(t, http.StatusOK, &count)
		if count.Count != want {
			t.Fatalf("count%s = %d, want %d", q, count.Count, want)
		}
	}
	v.do("GET", "/process-definition?sortBy=version&sortOrder=desc&maxResults=1", nil).ok(t, http.StatusOK, &list)
	if len(list) != 1 || list[0].Version != 2 {
		t.Fatalf("highest version %+v", list)
	}

	var one definitionDTO
	v.do("GET", "/process-definition/"+d1.ID, nil).ok(t, http.StatusOK, &one)
	if one.ID != d1.ID || one.Version != 1 || one.DeploymentID != d1.ID {
		t.Fatalf("definition by id %+v", one)
	}
	v.do("GET", "/process-definition/key/invoice", nil).ok(t, http.StatusOK, &one)
	if one.ID != d2.ID {
		t.Fatalf("definition by key %+v, want the latest %s", one, d2.ID)
	}
	var x struct {
		ID        string `json:"id"`
		BPMN20XML string `json:"bpmn20Xml"`
	}
	v.do("GET", "/process-definition/key/invoice/xml", nil).ok(t, http.StatusOK, &x)
	if x.ID != d2.ID || !strings.Contains(x.BPMN20XML, `name="Archive it"`) {
		t.Fatalf("xml of the latest: %s", x.ID)
	}
	v.do("GET", "/process-definition/"+d1.ID+"/xml", nil).ok(t, http.StatusOK, &x)
	if x.ID != d1.ID || x.BPMN20XML != string(xml) {
		t.Fatalf("xml of version 1: %s", x.ID)
	}
	v.do("GET", "/process-definition/key/nope", nil).failed(t, http.StatusNotFound, "RestException", "No matching process definition with key: nope")
	v.do("GET", "/process-definition/nope", nil).failed(t, http.StatusNotFound, "RestException", "nope")
	v.do("GET", "/process-definition/nope/other", nil).failed(t, http.StatusNotFound, "RestException", "no such endpoint")

	var ver struct{ Version string }
	v.do("GET", "/version", nil).ok(t, http.StatusOK, &ver)
	if ver.Version != "7.22.0" {
		t.Fatalf("version %q", ver.Version)
	}
	var engines []map[string]string
	v.do("GET", "/engine", nil).ok(t, http.StatusOK, &engines)
	if len(engines) != 1 || engines[0]["name"] != "default" {
		t.Fatalf("engines %v", engines)
	}
}

// Starting an instance goes through the command service, audited in the caller's name;
// every Camunda type goes in and comes back as it was sent.
func TestStartWithTypedVariables(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	d1 := v.deploy("invoice.bpmn").Processes[0].Definition
	body := `{"businessKey":"inv-1","withVariablesInReturn":true,"variables":{
		"s":{"value":7,"type":"Short"},
		"l":{"value":9007199254740993,"type":"Long"},
		"i":{"value":42,"type":"Integer"},
		"d":{"value":"2026-12-07T10:11:12.345+0100","type":"Date"},
		"j":{"value":"{\"a\":[1,2]}","type":"Json"},
		"o":{"value":"{\"total\":12.5}","type":"Object","valueInfo":{"objectTypeName":"com.acme.Invoice","serializationDataFormat":"application/json"}},
		"f":{"value":"aGVsbG8=","type":"File","valueInfo":{"filename":"hello.txt","mimeType":"text/plain","encoding":"UTF-8"}},
		"str":{"value":"text","type":"String"},
		"b":{"value":true,"type":"Boolean"},
		"n":{"value":null,"type":"Null"}}}`
	var in struct {
		instanceDTO
		Variables map[string]variable `json:"variables"`
	}
	v.do("POST", "/process-definition/key/invoice/start", body).ok(t, http.StatusOK, &in)
	if in.ID == "" || in.DefinitionID != d1.ID || in.BusinessKey != "inv-1" || in.Ended || in.Suspended || in.CaseInstanceID != nil ||
		len(in.Links) != 1 || in.Links[0].Href != v.URL+Prefix+"/process-instance/"+in.ID || in.Links[0].Rel != "self" {
		t.Fatalf("started %+v", in.instanceDTO)
	}
	want := map[string]string{
		"s": `7 Short`, "l": `9007199254740993 Long`, "i": `42 Integer`, "d": `"2026-12-07T09:11:12.345+0000" Date`,
		"j": `"{\"a\":[1,2]}" Json`, "o": `"{\"total\":12.5}" Object`, "f": `null File`, "str": `"text" String`, "b": `true Boolean`, "n": `null Null`,
	}
	for name, w := range want {
		got := in.Variables[name]
		if s := string(got.Value) + " " + got.Type; s != w {
			t.Errorf("%s = %s, want %s", name, s, w)
		}
	}
	if info := in.Variables["o"].ValueInfo; info["objectTypeName"] != "com.acme.Invoice" || info["serializationDataFormat"] != "application/json" {
		t.Errorf("Object valueInfo %v", info)
	}
	if info := in.Variables["f"].ValueInfo; info["filename"] != "hello.txt" || info["mimeType"] != "text/plain" || info["encoding"] != "UTF-8" {
		t.Errorf("File valueInfo %v", info)
	}
	rows, err := v.Engine.GetInstance(v.ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows.Variables {
		if row.Name == "l" && (row.Type != "Long" || string(row.Value) != "9007199254740993") {
			t.Fatalf("stored Long %+v", row)
		}
	}
	var audit []*store.AuditEntry
	for _, a := range v.audit("instance.start") {
		if a.Target == "invoice" {
			audit = append(audit, a)
		}
	}
	if len(audit) != 1 || audit[0].Actor != "engine-rest" || audit[0].Result != "ok" || audit[0].InstanceID != "" && audit[0].InstanceID != in.ID {
		t.Fatalf("audit %+v", audit)
	}

	// By id, without variables in return: the version asked for.
	dep2, err := v.Engine.Deploy(v.ctx, "invoice.bpmn", bytes.Replace(readTestdata(t, "invoice.bpmn"), []byte(`name="Archive"`), []byte(`name="Other"`), 1))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	v.do("POST", "/process-definition/"+d1.ID+"/start", `{}`).ok(t, http.StatusOK, &raw)
	if _, has := raw["variables"]; has || string(raw["definitionId"]) != `"`+d1.ID+`"` || string(raw["businessKey"]) != "null" {
		t.Fatalf("start by id: %v", raw)
	}
	v.do("POST", "/process-definition/key/invoice/start", `{}`).ok(t, http.StatusOK, &raw)
	if string(raw["definitionId"]) != `"`+dep2.Processes[0].Definition.ID+`"` {
		t.Fatalf("start by key did not start the latest: %s", raw["definitionId"])
	}

	v.do("POST", "/process-definition/key/nope/start", `{}`).failed(t, http.StatusNotFound, "RestException", "No matching process definition with key: nope")
	v.do("POST", "/process-definition/nope/start", `{}`).failed(t, http.StatusNotFound, "RestException", "nope")
	v.do("POST", "/process-definition/key/invoice/start", `{"variables":{"s":{"value":70000,"type":"Short"}}}`).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "Short")
	v.do("POST", "/process-definition/key/invoice/start", `{"startInstructions":[{"type":"startBeforeActivity"}]}`).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "startInstructions")
	v.do("POST", "/process-definition/key/invoice/start", `{"businessKey":"`+strings.Repeat("k", 1025)+`"}`).
		failed(t, http.StatusBadRequest, "InvalidRequestException", "1024")
}

// With --auth local: deploying is an admin's, starting and correlating an operator's,
// reading anyone's; the audit rows name the token's user.
func TestPermissionsAndActors(t *testing.T) {
	t.Parallel()
	v := newTestServer(t)
	issue := v.withAuth()
	admin, op, viewer := issue("ada", auth.Admin), issue("otto", auth.Operator), issue("vera", auth.Viewer)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	form := modelerForm("invoice", map[string][]byte{"invoice.bpmn": readTestdata(t, "invoice.bpmn")})

	deploy := func(tok string) reply {
		body, ct := multipartForm(t, form...)
		return v.do("POST", "/deployment/create", body, append(bearer(tok), "Content-Type", ct)...)
	}
	deploy(op).failed(t, http.StatusForbidden, "AuthorizationException", "needs admin")
	deploy(admin).ok(t, http.StatusOK, &deploymentAnswer{})
	if rows := v.audit("deploy"); len(rows) != 1 || rows[0].Actor != "ada" {
		t.Fatalf("deploy audit %+v", rows)
	}
	v.do("POST", "/process-definition/key/invoice/start", `{}`, bearer(viewer)...).failed(t, http.StatusForbidden, "AuthorizationException", "needs operator")
	v.do("POST", "/process-definition/key/invoice/start", `{}`, bearer(op)...).ok(t, http.StatusOK, &instanceDTO{})
	if rows := v.audit("instance.start"); len(rows) != 1 || rows[0].Actor != "otto" {
		t.Fatalf("start audit %+v", rows)
	}
	v.do("GET", "/process-definition", nil, bearer(viewer)...).ok(t, http.StatusOK, &[]definitionDTO{})
	v.do("GET", "/process-definition", nil).failed(t, http.StatusUnauthorized, "AuthenticationException", "API token")
}
