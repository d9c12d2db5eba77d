// Package camundajs runs Camunda 7's JavaScript external-task client, unchanged, against
// a running Cockpit's /engine-rest (docs/camunda.md).
package camundajs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/app"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestJavaScriptClient: camunda-external-task-client-js 3.x (worker.js, Node.js) serves
// the two topics of order.bpmn against `cockpit serve`: it completes with typed variables
// that the next task reads back with their types (and a file it loads), fails with
// retries and then succeeds, throws a BPMN error a boundary event catches, extends a
// lock, and fails with no retries left, which opens an incident. The process is
// deployed as Camunda Modeler deploys it. It needs node and `npm ci` in this directory:
// .ci/run installs both and sets COCKPIT_TEST_NODE=1, which makes their absence a
// failure instead of a skip.
func TestJavaScriptClient(t *testing.T) {
	node := nodeOrSkip(t)
	c := startCockpit(t)
	c.deployAsModeler(t, "order.bpmn")

	scenarios := []string{"ok", "flaky", "declined", "slow", "broken"}
	ids := map[string]string{}
	for _, sc := range scenarios {
		var res struct {
			ID string `json:"id"`
		}
		c.do(t, "POST", "/engine-rest/process-definition/key/camunda-order/start",
			fmt.Sprintf(`{"businessKey":"order-%s","variables":{"scenario":{"value":%q,"type":"String"}}}`, sc, sc), 200, &res)
		ids[sc] = res.ID
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "worker.js", c.base+"/engine-rest")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("worker.js output:\n%s", out.String())
		}
	})

	for _, sc := range []string{"ok", "flaky", "declined", "slow"} {
		wait.For(t, "instance "+sc+" completed by the JavaScript client", func() bool { return c.instance(t, ids[sc]).Instance.State == "completed" })
	}
	wait.For(t, "an incident on the broken instance", func() bool { return len(c.instance(t, ids["broken"]).Incidents) > 0 })

	// ok: "ship" saw what "charge" set, each with its type, and loaded the file.
	ok := c.instance(t, ids["ok"])
	var seen map[string]struct {
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(ok.variable(t, "seen"), &seen); err != nil {
		t.Fatalf("seen: %v", err)
	}
	for name, want := range map[string]string{
		"amount": `integer 42`, "charged": `long 5000000000`, "rate": `double 1.5`, "paid": `boolean true`,
		"note": `string "paid in full"`, "paidAt": `date "2026-12-07T10:30:00.000Z"`, "code": `short 7`,
		"receipt": `json {"id":7,"items":["book","pen"]}`, "customer": `object "{\"name\":\"Ada\"}"`,
		"receiptFile": `file {"filename":"receipt.txt","content":"receipt for order 7\n"}`, "scenario": `string "ok"`,
	} {
		if got := seen[name].Type + " " + string(seen[name].Value); got != want {
			t.Errorf("ship saw %s as %s, want %s", name, got, want)
		}
	}
	// The types were kept in the store too (the cockpit shows them).
	for name, want := range map[string]string{"charged": "Long", "code": "Short", "paidAt": "Date", "receipt": "Json",
		"customer": "Object:com.example.Customer", "receiptFile": "File", "rate": "Double"} {
		if got := ok.variableType(name); got != want {
			t.Errorf("stored type of %s = %q, want %q", name, got, want)
		}
	}

	// flaky: one failed attempt with the client's message, then completed.
	flaky := c.instance(t, ids["flaky"])
	if !flaky.has("job.failed", "payment gateway timed out") || !flaky.has("job.completed", "") {
		t.Errorf("flaky instance history lacks a failure then a completion:\n%s", flaky.history())
	}
	// declined: the boundary event caught the error; the variable sent with it is set.
	declined := c.instance(t, ids["declined"])
	if !declined.has("element.entered", "End_declined") || string(declined.variable(t, "declineReason")) != `"insufficient funds"` {
		t.Errorf("declined instance did not end at End_declined with declineReason:\n%s", declined.history())
	}
	// slow: completed after its lock was extended (the client logs it).
	if !strings.Contains(out.String(), "handled extend lock") {
		t.Errorf("the client did not extend a lock:\n%s", out.String())
	}
	// broken: an incident with the client's message and details, seen through the API.
	var incidents []struct {
		ProcessInstanceID string `json:"processInstanceId"`
		IncidentType      string `json:"incidentType"`
		IncidentMessage   string `json:"incidentMessage"`
		ActivityID        string `json:"activityId"`
	}
	c.do(t, "GET", "/engine-rest/incident?processInstanceId="+ids["broken"], "", 200, &incidents)
	if len(incidents) != 1 || incidents[0].IncidentMessage != "card number malformed" || incidents[0].ActivityID != "Task_charge" {
		t.Errorf("incidents of the broken instance = %+v", incidents)
	}
}

// nodeOrSkip finds node and the installed client, or skips (fails under CI).
func nodeOrSkip(t *testing.T) string {
	t.Helper()
	required := os.Getenv("COCKPIT_TEST_NODE") == "1"
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "camunda-external-task-client-js"))
	}
	if err != nil {
		if required {
			t.Fatalf("COCKPIT_TEST_NODE=1 but node or the client is missing (npm ci in examples/camunda-js): %v", err)
		}
		t.Skipf("node or node_modules/camunda-external-task-client-js missing (npm ci in examples/camunda-js; .ci/run does): %v", err)
	}
	return node
}

// cockpit is a `cockpit serve` running in this process (embedded SQLite and NATS).
type cockpit struct {
	base   string
	client *http.Client
}

func startCockpit(t *testing.T, args ...string) *cockpit {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan int, 1)
	var stderr syncBuffer
	a := &app.App{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }, Ready: func(addr string) { ready <- addr }}
	go func() {
		done <- a.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--demo=false"}, args...))
	}()
	c := &cockpit{client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	select {
	case addr := <-ready:
		c.base = "http://" + addr
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d before listening:\n%s", code, stderr.String())
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("serve did not start")
	}
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d:\n%s", code, stderr.String())
		}
	})
	return c
}

// deployAsModeler posts a BPMN file as Camunda Modeler 5 deploys to Camunda 7.
func (c *cockpit) deployAsModeler(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, f := range [][2]string{{"deployment-name", "order"}, {"deployment-source", "Camunda Modeler"},
		{"enable-duplicate-filtering", "true"}, {"deploy-changed-only", "true"}} {
		_ = w.WriteField(f[0], f[1])
	}
	fw, _ := w.CreateFormFile(file, file)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", c.base+"/engine-rest/deployment/create", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	var res struct {
		Deployed map[string]struct {
			Key string `json:"key"`
		} `json:"deployedProcessDefinitions"`
	}
	c.send(t, req, 200, &res)
	if len(res.Deployed) != 1 {
		t.Fatalf("deployedProcessDefinitions = %+v, want the one process", res.Deployed)
	}
}

func (c *cockpit) do(t *testing.T, method, path, body string, want int, into any) {
	t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c.send(t, req, want, into)
}

func (c *cockpit) send(t *testing.T, req *http.Request, want int, into any) {
	t.Helper()
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, b)
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s %s: %v: %s", req.Method, req.URL.Path, err, b)
		}
	}
}

// detail is what the JSON API says of an instance.
type detail struct {
	Instance struct {
		State string `json:"state"`
	} `json:"instance"`
	Variables []struct {
		Name  string          `json:"name"`
		Type  string          `json:"type"`
		Value json.RawMessage `json:"value"`
	} `json:"variables"`
	Incidents []json.RawMessage `json:"incidents"`
	History   []struct {
		Type      string          `json:"type"`
		ElementID string          `json:"elementId"`
		Data      json.RawMessage `json:"data"`
	} `json:"history"`
}

func (c *cockpit) instance(t *testing.T, id string) *detail {
	t.Helper()
	var d detail
	c.do(t, "GET", "/api/instances/"+id, "", 200, &d)
	return &d
}

// variable is a process variable's value, compacted.
func (d *detail) variable(t *testing.T, name string) json.RawMessage {
	t.Helper()
	for _, v := range d.Variables {
		if v.Name == name {
			var b bytes.Buffer
			_ = json.Compact(&b, v.Value)
			return b.Bytes()
		}
	}
	t.Fatalf("no variable %q", name)
	return nil
}

func (d *detail) variableType(name string) string {
	for _, v := range d.Variables {
		if v.Name == name {
			return v.Type
		}
	}
	return ""
}

// has reports whether the history holds an event of the type whose element or data
// mentions what ("" for any).
func (d *detail) has(typ, what string) bool {
	for _, e := range d.History {
		if e.Type == typ && (what == "" || e.ElementID == what || strings.Contains(string(e.Data), what)) {
			return true
		}
	}
	return false
}

func (d *detail) history() string {
	var b strings.Builder
	for _, e := range d.History {
		fmt.Fprintf(&b, "  %s %s %s\n", e.Type, e.ElementID, e.Data)
	}
	return b.String()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
