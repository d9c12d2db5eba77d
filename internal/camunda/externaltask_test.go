package camunda

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/workers/workerstest"
)

// taskRig is an engine with order.bpmn deployed and the API served over HTTP.
type taskRig struct {
	*workerstest.Rig
	srv  *Server
	http *httptest.Server
	clk  *clock.Fake
}

var start = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func newTaskRig(t *testing.T, o Options) *taskRig {
	t.Helper()
	clk := clock.NewFake(start)
	r := workerstest.New(t, workerstest.Options{Clock: clk})
	xml, err := os.ReadFile("testdata/order.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine.Deploy(context.Background(), "order.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	o.Engine, o.Commands = r.Engine, command.NewClient(r.Conn, "")
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(s)
	t.Cleanup(func() { s.Stop(); h.Close() })
	return &taskRig{Rig: r, srv: s, http: h, clk: clk}
}

func (r *taskRig) start(t *testing.T, businessKey string, vars map[string]any) string {
	t.Helper()
	in, err := r.Engine.StartInstance(context.Background(), "camunda-order", engine.StartOptions{BusinessKey: businessKey, Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// answer is one HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("%v: %s", err, a.body)
	}
}

// wantError checks a Camunda error answer: status, type and a part of the message.
func (a answer) wantError(t *testing.T, status int, typ, msg string) {
	t.Helper()
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Code    *int   `json:"code"`
	}
	a.decode(t, &e)
	if a.status != status || e.Type != typ || !strings.Contains(e.Message, msg) || e.Code == nil || *e.Code != 0 {
		t.Fatalf("answer %d %s, want %d %s with %q and code 0", a.status, a.body, status, typ, msg)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json", ct)
	}
}

func (r *taskRig) call(t *testing.T, method, path, body string, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, r.http.URL+Prefix+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// fetched is a task as fetchAndLock returns it.
type fetched struct {
	ID                 string              `json:"id"`
	TopicName          string              `json:"topicName"`
	WorkerID           string              `json:"workerId"`
	ProcessInstanceID  string              `json:"processInstanceId"`
	ExecutionID        string              `json:"executionId"`
	ActivityID         string              `json:"activityId"`
	BusinessKey        *string             `json:"businessKey"`
	Retries            *int                `json:"retries"`
	ErrorMessage       *string             `json:"errorMessage"`
	ErrorDetails       *string             `json:"errorDetails"`
	LockExpirationTime string              `json:"lockExpirationTime"`
	ProcessDefKey      string              `json:"processDefinitionKey"`
	Variables          map[string]variable `json:"variables"`
}

func (r *taskRig) fetch(t *testing.T, body string) []fetched {
	t.Helper()
	a := r.call(t, "POST", "/external-task/fetchAndLock", body)
	if a.status != 200 {
		t.Fatalf("fetchAndLock: %d %s", a.status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json (the JavaScript client compares it)", ct)
	}
	var out []fetched
	a.decode(t, &out)
	return out
}

// TestFetchAndLockAndTypedVariables: a task is fetched with its instance's variables in
// Camunda's typed form; completing it with every type Camunda has keeps each type, and
// the next task gets them back as they were sent.
func TestFetchAndLockAndTypedVariables(t *testing.T) {
	r := newTaskRig(t, Options{})
	id := r.start(t, "order-7", map[string]any{"scenario": "ok", "amount": 42})

	tasks := r.fetch(t, `{"workerId":"w1","maxTasks":5,"usePriority":true,"topics":[{"topicName":"charge","lockDuration":30000}]}`)
	if len(tasks) != 1 {
		t.Fatalf("fetched %d tasks, want 1", len(tasks))
	}
	tk := tasks[0]
	if tk.TopicName != "charge" || tk.WorkerID != "w1" || tk.ProcessInstanceID != id || tk.ExecutionID != id || tk.ActivityID != "Task_charge" ||
		tk.BusinessKey == nil || *tk.BusinessKey != "order-7" || tk.Retries != nil || tk.ProcessDefKey != "camunda-order" ||
		tk.LockExpirationTime != "2026-12-07T09:00:30.000+0000" {
		t.Fatalf("task %+v", tk)
	}
	if v := tk.Variables["amount"]; v.Type != "Integer" || string(v.Value) != "42" {
		t.Fatalf("amount %+v", v)
	}
	// A second fetch finds nothing: the task is locked.
	if got := r.fetch(t, `{"workerId":"w2","maxTasks":5,"topics":[{"topicName":"charge","lockDuration":30000}]}`); len(got) != 0 {
		t.Fatalf("locked task fetched again: %+v", got)
	}

	file := base64.StdEncoding.EncodeToString([]byte("receipt 7"))
	a := r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w1","variables":{
		"s":{"value":"text","type":"String"},
		"b":{"value":true,"type":"boolean"},
		"sh":{"value":7,"type":"Short"},
		"i":{"value":70000,"type":"Integer"},
		"l":{"value":5000000000,"type":"Long"},
		"small":{"value":5,"type":"Long"},
		"d":{"value":2,"type":"Double"},
		"dt":{"value":"2026-12-07T10:30:00.000+0100","type":"Date"},
		"n":{"value":null,"type":"Null"},
		"j":{"value":"{\"a\":[1,2]}","type":"Json"},
		"o":{"value":"{\"name\":\"Ada\"}","type":"Object","valueInfo":{"objectTypeName":"com.example.Customer","serializationDataFormat":"application/json"}},
		"by":{"value":"AAEC","type":"Bytes"},
		"f":{"value":"`+file+`","type":"File","valueInfo":{"filename":"r.txt","mimetype":"text/plain","encoding":"utf-8"}},
		"untyped":{"value":1.25}
	}}`)
	if a.status != http.StatusNoContent {
		t.Fatalf("complete: %d %s", a.status, a.body)
	}
	ship := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"ship","lockDuration":1000}]}`)
	if len(ship) != 1 {
		t.Fatalf("ship task not fetched: %+v", ship)
	}
	want := map[string]string{
		"s": `String "text" {}`, "b": `Boolean true {}`, "sh": `Short 7 {}`, "i": `Integer 70000 {}`, "l": `Long 5000000000 {}`,
		"small": `Long 5 {}`, "d": `Double 2 {}`, "dt": `Date "2026-12-07T09:30:00.000+0000" {}`, "n": `Null null {}`,
		"j": `Json "{\"a\":[1,2]}" {}`, "untyped": `Double 1.25 {}`, "amount": `Integer 42 {}`, "scenario": `String "ok" {}`,
		"o":  `Object "{\"name\":\"Ada\"}" {"objectTypeName":"com.example.Customer","serializationDataFormat":"application/json"}`,
		"by": `Bytes "AAEC" {}`, "f": `File null {"encoding":"utf-8","filename":"r.txt","mimeType":"text/plain"}`,
	}
	for name, w := range want {
		v, ok := ship[0].Variables[name]
		info, _ := json.Marshal(v.ValueInfo)
		if got := v.Type + " " + string(v.Value) + " " + string(info); !ok || got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
	// deserializeValues gives an Object as its JSON; variables limits what comes.
	if a := r.call(t, "POST", "/external-task/"+ship[0].ID+"/unlock", ""); a.status != http.StatusNoContent {
		t.Fatalf("unlock: %d %s", a.status, a.body)
	}
	again := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"ship","lockDuration":1000,"variables":["o","f"],"deserializeValues":true}]}`)
	if len(again) != 1 || len(again[0].Variables) != 2 || string(again[0].Variables["o"].Value) != `{"name":"Ada"}` {
		t.Fatalf("deserialized fetch %+v", again)
	}
	// The file's content, where the JavaScript client's File.load asks for it.
	d := r.call(t, "GET", "/execution/"+id+"/localVariables/f/data", "")
	if d.status != 200 || string(d.body) != "receipt 7" || d.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("file data: %d %q %v", d.status, d.body, d.header)
	}
	r.call(t, "GET", "/execution/"+id+"/localVariables/s/data", "").wantError(t, 400, "InvalidRequestException", "not a File or Bytes")
	r.call(t, "GET", "/execution/"+id+"/localVariables/zz/data", "").wantError(t, 404, "RestException", "no variable")
}

// TestFetchFilters: businessKey, processDefinitionKey(In), processDefinitionId,
// processVariables and localVariables select and shape what a topic takes.
func TestFetchFilters(t *testing.T) {
	r := newTaskRig(t, Options{})
	a := r.start(t, "order-a", map[string]any{"region": "eu", "tier": 1})
	b := r.start(t, "order-b", map[string]any{"region": "us", "tier": 1})
	defs, err := r.Engine.ListDefinitions(context.Background(), store.DefinitionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, topic string
		want        []string
	}{
		{"business key", `"businessKey":"order-b"`, []string{b}},
		{"process variable", `"processVariables":{"region":"eu"}`, []string{a}},
		{"process variables all", `"processVariables":{"region":"us","tier":1}`, []string{b}},
		{"process variable typed", `"processVariables":{"tier":{"value":2,"type":"Integer"}}`, nil},
		{"definition key", `"processDefinitionKey":"camunda-order"`, []string{a, b}},
		{"definition key in", `"processDefinitionKeyIn":["other","camunda-order"]`, []string{a, b}},
		{"definition key other", `"processDefinitionKey":"other"`, nil},
		{"key and list disagree", `"processDefinitionKey":"camunda-order","processDefinitionKeyIn":["other"]`, nil},
		{"definition id", `"processDefinitionId":"` + defs[0].ID + `"`, []string{a, b}},
		{"tenant", `"tenantIdIn":["t1"]`, nil},
		{"version tag", `"processDefinitionVersionTag":"1.0"`, nil},
	}
	for _, c := range cases {
		got := r.fetch(t, `{"workerId":"w","maxTasks":10,"topics":[{"topicName":"charge","lockDuration":60000,`+c.topic+`}]}`)
		var ids []string
		for _, tk := range got {
			ids = append(ids, tk.ProcessInstanceID)
			if a := r.call(t, "POST", "/external-task/"+tk.ID+"/unlock", ""); a.status != http.StatusNoContent {
				t.Fatalf("unlock: %d %s", a.status, a.body)
			}
		}
		if strings.Join(ids, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: fetched %v, want %v", c.name, ids, c.want)
		}
	}
	// localVariables: only the task's own scope (none here).
	got := r.fetch(t, `{"workerId":"w","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":60000,"localVariables":true}]}`)
	if len(got) != 1 || len(got[0].Variables) != 0 {
		t.Fatalf("local variables fetch %+v", got)
	}
}

// TestFetchAndLockLongPoll: a fetch with asyncResponseTimeout waits for a task and is
// answered as soon as one is committed; Stop answers a waiting one with no tasks.
func TestFetchAndLockLongPoll(t *testing.T) {
	r := newTaskRig(t, Options{})
	got := make(chan []fetched, 1)
	go func() {
		got <- r.fetch(t, `{"workerId":"w","maxTasks":1,"asyncResponseTimeout":30000,"topics":[{"topicName":"charge","lockDuration":1000}]}`)
	}()
	wait.For(t, "the fetch waits", func() bool { return len(r.srv.waiting) == 1 })
	id := r.start(t, "", nil)
	tasks := <-got
	if len(tasks) != 1 || tasks[0].ProcessInstanceID != id {
		t.Fatalf("long poll answered %+v", tasks)
	}
	go func() {
		got <- r.fetch(t, `{"workerId":"w","maxTasks":1,"asyncResponseTimeout":30000,"topics":[{"topicName":"ship","lockDuration":1000}]}`)
	}()
	wait.For(t, "the second fetch waits", func() bool { return len(r.srv.waiting) == 1 })
	r.srv.Stop()
	if tasks := <-got; len(tasks) != 0 {
		t.Fatalf("a stopped long poll answered %+v", tasks)
	}
}

// TestOutcomes: failure with retries and then without (an incident with the message and
// details), a BPMN error caught by the boundary event, extendLock, lock and the errors
// Camunda answers for a task locked by another worker or gone.
func TestOutcomes(t *testing.T) {
	r := newTaskRig(t, Options{})
	id := r.start(t, "", nil)
	tk := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`)[0]

	// Another worker may not report on it, nor extend its lock, nor lock it.
	r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w2"}`).
		wantError(t, 500, "RestException", "cannot be completed by worker 'w2'. It is locked by worker 'w1'.")
	r.call(t, "POST", "/external-task/"+tk.ID+"/extendLock", `{"workerId":"w2","newDuration":1000}`).
		wantError(t, 500, "RestException", "It is locked by worker 'w1'.")
	r.call(t, "POST", "/external-task/"+tk.ID+"/lock", `{"workerId":"w2","lockDuration":1000}`).
		wantError(t, 400, "InvalidRequestException", "locked by worker \"w1\"")
	r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{}`).wantError(t, 400, "InvalidRequestException", "workerId is required")
	r.call(t, "POST", "/external-task/nope/complete", `{"workerId":"w1"}`).wantError(t, 404, "RestException", "External task with id nope does not exist")
	r.call(t, "POST", "/external-task/"+tk.ID+"/extendLock", `{"workerId":"w1","newDuration":-1}`).wantError(t, 400, "InvalidRequestException", "newDuration")

	// extendLock moves the deadline.
	if a := r.call(t, "POST", "/external-task/"+tk.ID+"/extendLock", `{"workerId":"w1","newDuration":600000}`); a.status != 204 {
		t.Fatalf("extendLock: %d %s", a.status, a.body)
	}
	var got taskDTO
	r.call(t, "GET", "/external-task/"+tk.ID, "").decode(t, &got)
	if got.LockExpirationTime != "2026-12-07T09:10:00.000+0000" || got.WorkerID != "w1" {
		t.Fatalf("after extendLock: %+v", got)
	}

	// A failure with retries left: offered again after retryTimeout, retries and the
	// message shown.
	if a := r.call(t, "POST", "/external-task/"+tk.ID+"/failure",
		`{"workerId":"w1","errorMessage":"gateway down","errorDetails":"trace","retries":2,"retryTimeout":5000}`); a.status != 204 {
		t.Fatalf("failure: %d %s", a.status, a.body)
	}
	if got := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`); len(got) != 0 {
		t.Fatalf("fetched before retryTimeout: %+v", got)
	}
	r.clk.Advance(5 * time.Second)
	tk = r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`)[0]
	if tk.Retries == nil || *tk.Retries != 2 || tk.ErrorMessage == nil || *tk.ErrorMessage != "gateway down" {
		t.Fatalf("retried task %+v", tk)
	}
	r.call(t, "GET", "/external-task/"+tk.ID, "").decode(t, &got)
	if got.ErrorDetails != "trace" {
		t.Fatalf("errorDetails %v", got.ErrorDetails)
	}
	// retries 0: an incident with the message and details.
	if a := r.call(t, "POST", "/external-task/"+tk.ID+"/failure",
		`{"workerId":"w1","errorMessage":"card malformed","errorDetails":"no retry helps","retries":0,"retryTimeout":0}`); a.status != 204 {
		t.Fatalf("failure: %d %s", a.status, a.body)
	}
	incs, err := r.Engine.ListIncidents(context.Background(), store.IncidentFilter{InstanceID: id})
	if err != nil || len(incs) != 1 || incs[0].Message != "card malformed" || incs[0].Details != "no retry helps" {
		t.Fatalf("incidents %+v %v", incs, err)
	}
	var n struct{ Count int }
	r.call(t, "GET", "/external-task/count?noRetriesLeft=true", "").decode(t, &n)
	if n.Count != 1 {
		t.Fatalf("tasks without retries: %d", n.Count)
	}
	r.call(t, "POST", "/external-task/"+tk.ID+"/lock", `{"workerId":"w1","lockDuration":1000}`).wantError(t, 400, "InvalidRequestException", "no retries left")

	// A BPMN error the boundary event catches: the instance ends at End_declined, with
	// the variables sent along.
	id2 := r.start(t, "", nil)
	tk2 := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`)[0]
	r.call(t, "POST", "/external-task/"+tk2.ID+"/bpmnError", `{"workerId":"w1"}`).wantError(t, 400, "InvalidRequestException", "errorCode is required")
	if a := r.call(t, "POST", "/external-task/"+tk2.ID+"/bpmnError",
		`{"workerId":"w1","errorCode":"DECLINED","errorMessage":"card declined","variables":{"reason":{"value":"funds","type":"String"}}}`); a.status != 204 {
		t.Fatalf("bpmnError: %d %s", a.status, a.body)
	}
	wait.For(t, "the declined instance ends", func() bool { return r.State(id2) == store.InstanceCompleted })
	d, err := r.Engine.GetInstance(context.Background(), id2)
	if err != nil {
		t.Fatal(err)
	}
	ended := false
	for _, ev := range d.History {
		ended = ended || (ev.Type == "element.entered" && ev.ElementID == "End_declined")
	}
	if !ended {
		t.Fatal("the BPMN error was not caught by the boundary event")
	}
	// The task is gone: a late outcome is a 404, as in Camunda.
	r.call(t, "POST", "/external-task/"+tk2.ID+"/complete", `{"workerId":"w1"}`).wantError(t, 404, "RestException", "does not exist")

	// lock takes an unlocked task for a worker; its outcomes then come from it.
	r.start(t, "", nil)
	var list []taskDTO
	r.call(t, "GET", "/external-task?topicName=charge&notLocked=true&withRetriesLeft=true", "").decode(t, &list)
	if len(list) != 1 {
		t.Fatalf("unlocked tasks %+v", list)
	}
	if a := r.call(t, "POST", "/external-task/"+list[0].ID+"/lock", `{"workerId":"w3","lockDuration":60000}`); a.status != 204 {
		t.Fatalf("lock: %d %s", a.status, a.body)
	}
	r.call(t, "GET", "/external-task?workerId=w3", "").decode(t, &list)
	if len(list) != 1 || list[0].WorkerID != "w3" {
		t.Fatalf("w3's tasks %+v", list)
	}
	if a := r.call(t, "POST", "/external-task/"+list[0].ID+"/complete", `{"workerId":"w3"}`); a.status != 204 {
		t.Fatalf("complete after lock: %d %s", a.status, a.body)
	}
}

// TestTaskQueries: the list, count and get endpoints and their filters and bounds.
func TestTaskQueries(t *testing.T) {
	r := newTaskRig(t, Options{})
	a := r.start(t, "", nil)
	r.start(t, "", nil)
	r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`)
	count := func(q string) int {
		var n struct{ Count int }
		r.call(t, "GET", "/external-task/count"+q, "").decode(t, &n)
		return n.Count
	}
	for q, want := range map[string]int{"": 2, "?topicName=charge": 2, "?topicName=ship": 0, "?locked=true": 1, "?notLocked=true": 1,
		"?workerId=w1": 1, "?workerId=w2": 0, "?processInstanceId=" + a: 1, "?executionId=" + a: 1, "?activityId=Task_charge": 2,
		"?locked=true&notLocked=true": 0, "?processDefinitionKey=camunda-order": 2, "?withRetriesLeft=true": 2} {
		if got := count(q); got != want {
			t.Errorf("count%s = %d, want %d", q, got, want)
		}
	}
	var list []taskDTO
	r.call(t, "POST", "/external-task", `{"topicName":"charge","maxResults":1}`).decode(t, &list)
	if len(list) != 1 {
		t.Fatalf("POST query %+v", list)
	}
	r.call(t, "GET", "/external-task?firstResult=1&maxResults=5", "").decode(t, &list)
	if len(list) != 1 {
		t.Fatalf("second page %+v", list)
	}
	r.call(t, "GET", "/external-task?maxResults=5000", "").wantError(t, 400, "InvalidRequestException", "maxResults must be 0 to 1000")
	r.call(t, "GET", "/external-task?locked=maybe", "").wantError(t, 400, "InvalidRequestException", "locked must be true or false")
	r.call(t, "GET", "/external-task/nope", "").wantError(t, 404, "RestException", "External task with id nope does not exist")
	r.call(t, "GET", "/nothing-here", "").wantError(t, 404, "RestException", "no such endpoint")
}

// TestRequestBounds: bodies, task counts, topics and durations are bounded, each with a
// clear error naming the limit.
func TestRequestBounds(t *testing.T) {
	r := newTaskRig(t, Options{})
	big := `{"workerId":"w","maxTasks":1,"topics":[{"topicName":"` + strings.Repeat("x", MaxBodyBytes) + `"}]}`
	r.call(t, "POST", "/external-task/fetchAndLock", big).wantError(t, 413, "InvalidRequestException", "limit of 1048576 bytes")
	for body, msg := range map[string]string{
		`{"maxTasks":1,"topics":[]}`:                                                                                                      "workerId is required",
		`{"workerId":"w","topics":[]}`:                                                                                                    "maxTasks is required",
		`{"workerId":"w","maxTasks":101,"topics":[]}`:                                                                                     "maxTasks must be 0 to 100",
		`{"workerId":"w","maxTasks":1,"topics":[{"topicName":"charge"}]}`:                                                                 "lockDuration must be a positive",
		`{"workerId":"w","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":3600001}]}`:                                          "at most 3600000 ms",
		`{"workerId":"w","maxTasks":1,"topics":[{"topicName":"a","lockDuration":1},{"topicName":"a","lockDuration":1}]}`:                  "given twice",
		`{"workerId":"w","maxTasks":1,"asyncResponseTimeout":-1,"topics":[{"topicName":"a","lockDuration":1}]}`:                           "asyncResponseTimeout",
		`{"workerId":"w","maxTasks":1,"topics":[{"topicName":"a","lockDuration":1,"processVariables":{"x":{"value":1,"type":"Weird"}}}]}`: "unknown type",
		`not json`: "not the JSON expected",
	} {
		r.call(t, "POST", "/external-task/fetchAndLock", body).wantError(t, 400, "InvalidRequestException", msg)
	}
	many := make([]string, engine.MaxWorkerTypes+1)
	for i := range many {
		many[i] = `{"topicName":"t` + strings.Repeat("x", i) + `","lockDuration":1000}`
	}
	r.call(t, "POST", "/external-task/fetchAndLock", `{"workerId":"w","maxTasks":1,"topics":[`+strings.Join(many, ",")+`]}`).
		wantError(t, 400, "InvalidRequestException", "at most 32 topics")
	// maxTasks 0 and no topics answer at once with nothing, as Camunda.
	if got := r.fetch(t, `{"workerId":"w","maxTasks":0,"topics":[{"topicName":"charge","lockDuration":1000}]}`); len(got) != 0 {
		t.Fatalf("maxTasks 0 fetched %+v", got)
	}
	// A variable too large for the engine is refused by name.
	r.start(t, "", nil)
	tk := r.fetch(t, `{"workerId":"w","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":60000}]}`)[0]
	huge, _ := json.Marshal(strings.Repeat("y", engine.MaxVariableBytes))
	r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w","variables":{"v":{"value":`+string(huge)+`,"type":"String"}}}`).
		wantError(t, 400, "InvalidRequestException", "more than the limit")
	r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w","variables":{"v":{"value":"x","type":"Short"}}}`).
		wantError(t, 400, "InvalidRequestException", `Cannot set variable "v"`)
	r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w","variables":{"v":{"value":"%%%","type":"Bytes"}}}`).
		wantError(t, 400, "InvalidRequestException", "base64")
}

// TestAuthorization: with sign-in, only API tokens of a role that may act fetch and
// report (Bearer, or HTTP Basic with the token as password); a token limited to job
// types takes only those topics; a viewer may read.
func TestAuthorization(t *testing.T) {
	clk := clock.NewFake(start)
	r0 := workerstest.New(t, workerstest.Options{Clock: clk})
	svc, err := auth.New(auth.Options{Store: r0.Engine.Store(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	issue := func(name string, role auth.Role, types []string) string {
		u, err := svc.CreateUser(ctx, name, "a long password 123", role)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := svc.IssueToken(ctx, u.ID, name+"-token", role, nil, types)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	op, viewer, limited := issue("ops", auth.Operator, nil), issue("eve", auth.Viewer, nil), issue("shipper", auth.Operator, []string{"ship"})
	s, err := New(Options{Engine: r0.Engine, Commands: command.NewClient(r0.Conn, ""), Auth: svc})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(s)
	t.Cleanup(func() { s.Stop(); h.Close() })
	r := &taskRig{Rig: r0, srv: s, http: h, clk: clk}
	fetch := `{"workerId":"w","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":1000}]}`
	r.call(t, "POST", "/external-task/fetchAndLock", fetch).wantError(t, 401, "AuthenticationException", "API token")
	r.call(t, "POST", "/external-task/fetchAndLock", fetch, "Authorization", "Bearer ck_wrong").wantError(t, 401, "AuthenticationException", "API token")
	r.call(t, "POST", "/external-task/fetchAndLock", fetch, "Authorization", "Bearer "+viewer).wantError(t, 403, "AuthorizationException", "needs operator")
	r.call(t, "POST", "/external-task/fetchAndLock", fetch, "Authorization", "Bearer "+limited).wantError(t, 403, "AuthorizationException", `not "charge"`)
	if a := r.call(t, "GET", "/external-task/count", "", "Authorization", "Bearer "+viewer); a.status != 200 {
		t.Fatalf("viewer count: %d %s", a.status, a.body)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("worker:"+op))
	if a := r.call(t, "POST", "/external-task/fetchAndLock", fetch, "Authorization", basic); a.status != 200 {
		t.Fatalf("basic with token: %d %s", a.status, a.body)
	}
	wrongBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:a long password 123"))
	r.call(t, "POST", "/external-task/fetchAndLock", fetch, "Authorization", wrongBasic).wantError(t, 401, "AuthenticationException", "API token")
	// Session cookies are not taken here.
	req, _ := http.NewRequest("GET", h.URL+Prefix+"/external-task/count", nil)
	req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: "whatever"})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("a session cookie was taken: %d", resp.StatusCode)
	}
}

// TestLocalVariables: a fetch with localVariables gets the task's own scope (its input
// mappings' results); a completion's localVariables are seen by the task's output
// mappings and not kept.
func TestLocalVariables(t *testing.T) {
	r := newTaskRig(t, Options{})
	xml, err := os.ReadFile("testdata/mapped.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Engine.Deploy(ctx, "mapped.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	in, err := r.Engine.StartInstance(ctx, "mapped", engine.StartOptions{Variables: map[string]any{"amount": 4}})
	if err != nil {
		t.Fatal(err)
	}
	tk := r.fetch(t, `{"workerId":"w","maxTasks":1,"topics":[{"topicName":"calc","lockDuration":10000,"localVariables":true}]}`)
	if len(tk) != 1 || len(tk[0].Variables) != 1 || string(tk[0].Variables["doubled"].Value) != "8" {
		t.Fatalf("local fetch %+v", tk)
	}
	if a := r.call(t, "POST", "/external-task/"+tk[0].ID+"/complete",
		`{"workerId":"w","variables":{"result":{"value":10,"type":"Integer"}},"localVariables":{"bonus":{"value":5,"type":"Integer"}}}`); a.status != 204 {
		t.Fatalf("complete: %d %s", a.status, a.body)
	}
	wait.For(t, "the instance completes", func() bool { return r.State(in.ID) == store.InstanceCompleted })
	d, err := r.Engine.GetInstance(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range d.Variables {
		got[v.Name] = string(v.Value)
	}
	if got["total"] != "15" || got["bonus"] != "" || got["doubled"] != "" {
		t.Fatalf("variables after completion %v, want total 15 and no bonus or doubled", got)
	}
}

// TestTopicsLockEachForItsOwnDuration: one fetch of two topics locks each topic's tasks
// for that topic's lockDuration, and maxTasks counts across the topics.
func TestTopicsLockEachForItsOwnDuration(t *testing.T) {
	r := newTaskRig(t, Options{})
	xml, err := os.ReadFile("testdata/mapped.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Engine.Deploy(ctx, "mapped.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r.start(t, "", nil)
		if _, err := r.Engine.StartInstance(ctx, "mapped", engine.StartOptions{Variables: map[string]any{"amount": 1}}); err != nil {
			t.Fatal(err)
		}
	}
	got := r.fetch(t, `{"workerId":"w","maxTasks":3,"topics":[{"topicName":"charge","lockDuration":10000},{"topicName":"calc","lockDuration":20000}]}`)
	if len(got) != 3 {
		t.Fatalf("fetched %d tasks, want 3 (maxTasks)", len(got))
	}
	for _, tk := range got {
		want := map[string]string{"charge": "2026-12-07T09:00:10.000+0000", "calc": "2026-12-07T09:00:20.000+0000"}[tk.TopicName]
		if tk.LockExpirationTime != want {
			t.Errorf("%s task locked until %s, want %s", tk.TopicName, tk.LockExpirationTime, want)
		}
	}
}

// TestOutcomeOnAnotherNode: a node remembers the locks it handed out; when the lock
// changed elsewhere (extended through another node), the remembered one is refused by
// the engine and the node reads the task's lock instead: the outcome still counts.
func TestOutcomeOnAnotherNode(t *testing.T) {
	r := newTaskRig(t, Options{})
	other, err := New(Options{Engine: r.Engine, Commands: command.NewClient(r.Conn, "")})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(other)
	t.Cleanup(func() { other.Stop(); h.Close() })
	b := &taskRig{Rig: r.Rig, srv: other, http: h, clk: r.clk}

	id := r.start(t, "", nil)
	tk := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":10000}]}`)[0]
	if a := b.call(t, "POST", "/external-task/"+tk.ID+"/extendLock", `{"workerId":"w1","newDuration":20000}`); a.status != 204 {
		t.Fatalf("extendLock on the other node: %d %s", a.status, a.body)
	}
	if a := r.call(t, "POST", "/external-task/"+tk.ID+"/complete", `{"workerId":"w1"}`); a.status != 204 {
		t.Fatalf("complete on the first node after the lock moved: %d %s", a.status, a.body)
	}
	wait.For(t, "the task's instance moves on", func() bool {
		jobs, err := r.Engine.ListJobs(context.Background(), store.JobFilter{InstanceID: id, Type: "ship"})
		return err == nil && len(jobs) == 1
	})
	// And the other way: a lock taken again by another worker after it ended.
	id2 := r.start(t, "", nil)
	tk2 := r.fetch(t, `{"workerId":"w1","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":1000}]}`)[0]
	r.clk.Advance(2 * time.Second)
	if got := b.fetch(t, `{"workerId":"w2","maxTasks":1,"topics":[{"topicName":"charge","lockDuration":60000}]}`); len(got) != 1 || got[0].ProcessInstanceID != id2 {
		t.Fatalf("the expired task was not fetched again: %+v", got)
	}
	r.call(t, "POST", "/external-task/"+tk2.ID+"/complete", `{"workerId":"w1"}`).
		wantError(t, 500, "RestException", "It is locked by worker 'w2'.")
}
