package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// syncBuffer is an output stream the server's goroutines write while the test reads.
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

type run struct {
	code           int
	stdout, stderr string
}

func runApp(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	var out, errOut syncBuffer
	a := &App{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }}
	code := a.Run(context.Background(), args)
	return run{code: code, stdout: out.String(), stderr: errOut.String()}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		addr     string
		demo     bool
		rate     float64
		workers  int
		database string
	}{
		{name: "defaults", addr: "127.0.0.1:8080", demo: true, rate: 1},
		{name: "env overrides default",
			env:  map[string]string{"COCKPIT_ADDR": "127.0.0.1:9000", "COCKPIT_DEMO": "false", "COCKPIT_DEMO_RATE": "2.5", "COCKPIT_WORKERS": "3", "COCKPIT_DATABASE_URL": "sqlite:/tmp/x.db"},
			addr: "127.0.0.1:9000", demo: false, rate: 2.5, workers: 3, database: "sqlite:/tmp/x.db"},
		{name: "flag overrides env",
			env:  map[string]string{"COCKPIT_ADDR": "127.0.0.1:9000", "COCKPIT_DEMO": "false", "COCKPIT_WORKERS": "3"},
			args: []string{"--addr", "127.0.0.1:9100", "--demo", "--workers=5", "--demo-rate", "0.5"},
			addr: "127.0.0.1:9100", demo: true, rate: 0.5, workers: 5},
		{name: "empty env is unset", env: map[string]string{"COCKPIT_ADDR": ""}, addr: "127.0.0.1:8080", demo: true, rate: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cfg := newServeCommand(func(k string) string { return tt.env[k] })
			if err := c.parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != tt.addr || cfg.Demo != tt.demo || cfg.DemoRate != tt.rate || cfg.Workers != tt.workers || cfg.DatabaseURL != tt.database {
				t.Fatalf("got %+v", cfg)
			}
		})
	}
}

func TestBadEnvironmentIsAUsageError(t *testing.T) {
	t.Parallel()
	r := runApp(t, map[string]string{"COCKPIT_WORKERS": "many"}, "serve")
	if r.code != exitUsage || !strings.Contains(r.stderr, "COCKPIT_WORKERS") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"serve", "--workers", "x"}, "workers"},
		{[]string{"serve", "--log-format", "xml"}, "log-format"},
		{[]string{"serve", "--log-level", "loud"}, "log-level"},
		{[]string{"serve", "extra"}, "unexpected argument"},
		{[]string{"serve", "--web-actor", "ann\x00"}, "--web-actor"},
		{[]string{"serve", "--lease-ttl", "500ms"}, "--lease-ttl"},
		{[]string{"serve", "--lease-ttl", "2h"}, "--lease-ttl"},
		{[]string{"serve", "--lease-ttl", "0s"}, "--lease-ttl"},
		{[]string{"serve", "--web-actor", "\u202eann"}, "--web-actor"},
		{[]string{"serve", "--allowed-hosts", "evil.example/path"}, "--allowed-hosts"},
		{[]string{"serve", "--allowed-hosts", "cockpit.example:99999"}, "--allowed-hosts"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"validate"}, "no BPMN file"},
		{[]string{"migrate", "sideways"}, "unknown action"},
		{[]string{"bench", "--n", "0"}, "--n"},
		{[]string{"bench", "--store", "oracle"}, "use sqlite or postgres"},
		{[]string{"bench", "--store", "postgres"}, "needs --database-url"},
	}
	for _, tt := range tests {
		r := runApp(t, nil, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%v: exit %d, stderr:\n%s", tt.args, r.code, r.stderr)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	r := runApp(t, nil, "--help")
	if r.code != exitOK || !strings.Contains(r.stdout, "validate") || !strings.Contains(r.stdout, "migrate") {
		t.Fatalf("top-level help: exit %d\n%s", r.code, r.stdout)
	}
	for cmd, envs := range map[string][]string{
		"serve":    {"COCKPIT_DATA_DIR", "COCKPIT_ADDR", "COCKPIT_DATABASE_URL", "COCKPIT_NATS_URL", "COCKPIT_DEMO", "COCKPIT_DEMO_RATE", "COCKPIT_WORKERS", "COCKPIT_LOG_LEVEL", "COCKPIT_LOG_FORMAT", "stalled", "COCKPIT_ALLOWED_HOSTS"},
		"migrate":  {"COCKPIT_DATA_DIR", "COCKPIT_DATABASE_URL"},
		"bench":    {"--json", "--concurrency"},
		"validate": {"FILE..."},
	} {
		r := runApp(t, nil, cmd, "--help")
		if r.code != exitOK || r.stderr != "" {
			t.Errorf("%s --help: exit %d, stderr %q", cmd, r.code, r.stderr)
		}
		for _, want := range envs {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help lacks %s:\n%s", cmd, want, r.stdout)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	r := runApp(t, nil, "validate", "testdata/executable.bpmn")
	if r.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// A process marked executable that cannot be deployed fails validation as it fails
	// deployment.
	r = runApp(t, nil, "validate", "testdata/executable.bpmn", "testdata/unsupported.bpmn")
	if r.code != exitError || !strings.Contains(r.stderr, "1 of 2 files have executable processes that cannot be deployed") {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`process hello "Hello": all elements execute`,
		"serviceTask  Greet",
		`process routing "Routing": cannot be deployed`,
		"does not execute (1):",
		"line 6  complexGateway  Split  complex gateways are not supported",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = runApp(t, nil, "validate", "testdata/executable.bpmn", "testdata/malformed.bpmn", "testdata/missing.bpmn")
	if r.code != exitError {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "testdata/malformed.bpmn:5:") || !strings.Contains(r.stderr, "testdata/missing.bpmn:") ||
		!strings.Contains(r.stderr, "2 of 3 files could not be imported") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	if !strings.Contains(r.stdout, "process hello") {
		t.Errorf("the good file was not reported:\n%s", r.stdout)
	}
}

// cockpit validate refuses what deploy refuses: each document below fails with exit
// status 1 and the problem in the output.
func TestValidateRefusesWhatDeployRefuses(t *testing.T) {
	t.Parallel()
	const model = `<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="p" isExecutable="true">` +
		`<startEvent id="s"><outgoing>f1</outgoing></startEvent><endEvent id="e"><incoming>f1</incoming></endEvent>` +
		`<sequenceFlow id="f1" sourceRef="s" targetRef="e"/></process></definitions>`
	tests := []struct{ name, old, new, want string }{
		{"dangling-outgoing", `<outgoing>f1</outgoing>`, `<outgoing>nope</outgoing>`, `outgoing "nope" names no sequence flow of this process`},
		{"short-cycle", `<startEvent id="s">`, `<startEvent id="s"><timerEventDefinition><timeCycle>R/PT0.001S</timeCycle></timerEventDefinition>`,
			"more often than the minimum of once every 1s"},
		{"bad-condition", `<endEvent id="e"><incoming>f1</incoming></endEvent>`,
			`<endEvent id="e"/><exclusiveGateway id="g"/><sequenceFlow id="f2" sourceRef="g" targetRef="e"><conditionExpression>)(</conditionExpression></sequenceFlow>`,
			`condition of flow "f2"`},
		{"too-deep", `<endEvent id="e">`, strings.Repeat(`<subProcess>`, 70) + strings.Repeat(`</subProcess>`, 70) + `<endEvent id="e">`, "nest more than 64 levels deep"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		name := filepath.Join(dir, tt.name+".bpmn")
		if err := os.WriteFile(name, []byte(strings.Replace(model, tt.old, tt.new, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runApp(t, nil, "validate", name)
		if r.code != exitError || !strings.Contains(r.stdout+r.stderr, tt.want) {
			t.Errorf("%s: exit %d, want 1 and %q:\n%s%s", tt.name, r.code, tt.want, r.stdout, r.stderr)
		}
	}
}

func TestValidateDemoFlows(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../demo/flows/*.bpmn")
	if err != nil || len(files) == 0 {
		t.Fatalf("demo flows: %v %v", files, err)
	}
	r := runApp(t, nil, append([]string{"validate"}, files...)...)
	if r.code != exitOK || strings.Contains(r.stdout, "does not execute") || strings.Contains(r.stdout, "problems") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"COCKPIT_DATA_DIR": dir}

	r := runApp(t, env, "migrate", "status")
	if r.code != exitError || !strings.Contains(r.stderr, "no database") {
		t.Fatalf("status before up: exit %d\n%s", r.code, r.stderr)
	}
	r = runApp(t, env, "migrate", "up")
	if r.code != exitOK || !strings.Contains(r.stdout, "applied 00001") {
		t.Fatalf("up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runApp(t, env, "migrate")
	if r.code != exitOK || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("second up: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runApp(t, nil, "migrate", "status", "--data-dir", dir)
	if r.code != exitOK || !strings.Contains(r.stdout, "applied") || strings.Contains(r.stdout, "pending") {
		t.Fatalf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runApp(t, env, "migrate", "down")
	// The newest migration is rolled back, whichever it is.
	if r.code != exitOK || !strings.Contains(r.stdout, "rolled back 000") {
		t.Fatalf("down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runApp(t, env, "migrate", "status")
	if r.code != exitOK || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("status after down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestResolveDatabase(t *testing.T) {
	t.Parallel()
	db, err := storeurl.Resolve("data", "")
	if err != nil || db.Path != filepath.Join("data", "cockpit.db") {
		t.Fatalf("%+v %v", db, err)
	}
	for _, u := range []string{"sqlite:/x/y.db", "sqlite:///x/y.db", "file:/x/y.db"} {
		if db, err := storeurl.Resolve("data", u); err != nil || !strings.HasSuffix(db.Path, "/x/y.db") {
			t.Errorf("%s: %+v %v", u, db, err)
		}
	}
	if db, err := storeurl.Resolve("data", "postgres://u:p@localhost/db"); err != nil || db.Dialect != "postgres" ||
		db.URL != "postgres://u:p@localhost/db" || strings.Contains(db.Path, ":p@") {
		t.Errorf("postgres: %+v %v", db, err)
	}
	if _, err := storeurl.Resolve("data", "mysql://localhost/db"); err == nil {
		t.Error("mysql accepted")
	}
	if got := storeurl.RedactURL("postgres://u:secret@h/db"); strings.Contains(got, "secret") {
		t.Errorf("redact: %s", got)
	}
}

func TestServePostgresUnreachable(t *testing.T) {
	t.Parallel()
	// Port 1: nothing listens, so opening the store fails at once and serve says why.
	r := runApp(t, map[string]string{"COCKPIT_DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=5"},
		"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0")
	if r.code != exitError || !strings.Contains(r.stderr, "open postgres store") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
}

// server is a running `cockpit serve` in this process.
type server struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
	client *http.Client
}

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{t: t, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{},
		// No keep-alive: no idle connection (and goroutine) outlives a request.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	ready := make(chan string, 1)
	a := &App{Stdout: io.Discard, Stderr: s.stderr, Getenv: func(string) string { return "" }, Ready: func(addr string) { ready <- addr }}
	go func() {
		s.done <- a.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "debug"}, args...))
	}()
	select {
	case addr := <-ready:
		s.base = "http://" + addr
	case code := <-s.done:
		cancel()
		t.Fatalf("serve exited with %d before listening:\n%s", code, s.stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return s
}

// stop cancels the context as a signal would and waits for Run to return.
func (s *server) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		if code != exitOK {
			s.t.Fatalf("serve exited with %d:\n%s", code, s.stderr.String())
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("serve did not stop:\n%s", s.stderr.String())
	}
}

func (s *server) get(path string, into any) int {
	s.t.Helper()
	resp, err := s.client.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.t.Errorf("GET %s: content type %q", path, ct)
	}
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			s.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func TestServeWithoutDemo(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--demo=false")
	var health map[string]string
	if code := s.get("/healthz", &health); code != http.StatusOK || health["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, health)
	}
	var ready map[string]string
	if code := s.get("/readyz", &ready); code != http.StatusOK || ready["status"] != "ready" {
		t.Fatalf("readyz: %d %v", code, ready)
	}
	var defs struct {
		Definitions []map[string]any `json:"definitions"`
	}
	if code := s.get("/api/definitions", &defs); code != http.StatusOK || len(defs.Definitions) != 0 {
		t.Fatalf("definitions: %d %v", code, defs)
	}
	// Camunda 7's REST API is mounted (docs/camunda.md).
	var version map[string]string
	if code := s.get("/engine-rest/version", &version); code != http.StatusOK || version["version"] == "" {
		t.Fatalf("/engine-rest/version: %d %v", code, version)
	}
	var insts struct {
		Instances []map[string]any `json:"instances"`
	}
	if code := s.get("/api/instances?state=active,completed&hasIncident=false&limit=10", &insts); code != http.StatusOK || len(insts.Instances) != 0 {
		t.Fatalf("instances: %d %v", code, insts)
	}
	var e errorBody
	if code := s.get("/api/instances?state=sleeping", &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "sleeping") {
		t.Errorf("bad state: %d %v", code, e)
	}
	if code := s.get("/api/instances?limit=0", &e); code != http.StatusBadRequest {
		t.Errorf("bad limit: %d", code)
	}
	if code := s.get("/api/instances/does-not-exist", &e); code != http.StatusNotFound {
		t.Errorf("missing instance: %d %v", code, e)
	}
	if code := s.get("/api/nothing", &e); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	for _, p := range []string{"/api/incidents?state=open", "/api/tasks?state=open"} {
		if code := s.get(p, nil); code != http.StatusOK {
			t.Errorf("%s: %d", p, code)
		}
	}
	if body := s.metrics(); !strings.Contains(body, "cockpit_outbox_backlog 0") || !strings.Contains(body, "cockpit_outbox_relay_leader 1") {
		t.Errorf("metrics:\n%s", body)
	}
	// Each lease's holder says so once: the relay's, the projector's and the detector's.
	// They take their leases concurrently with serving: wait for them (on a loaded
	// machine the detector's first attempt may come after the requests above).
	tookLease := func(lease string) bool {
		return slices.ContainsFunc(strings.Split(s.stderr.String(), "\n"), func(l string) bool {
			return strings.Contains(l, `msg="took the lease"`) && strings.Contains(l, " lease="+lease+" ")
		})
	}
	wait.For(t, "the outbox-relay, metrics and stalls leases taken", func() bool {
		return tookLease("outbox-relay") && tookLease("metrics") && tookLease("stalls")
	})
	s.stop()
	log := s.stderr.String()
	if !strings.Contains(log, "embedded NATS started") {
		t.Errorf("log lacks the embedded server's start:\n%s", log)
	}
}

// metrics returns the Prometheus text of /metrics.
func (s *server) metrics() string {
	s.t.Helper()
	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestServeWithDemo(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--demo-rate", "50")
	var defs struct {
		Definitions []struct {
			Key string `json:"key"`
		} `json:"definitions"`
	}
	if code := s.get("/api/definitions", &defs); code != http.StatusOK || len(defs.Definitions) != 3 { // order, invoice-approval, order-saga
		t.Fatalf("definitions: %d %+v", code, defs)
	}
	// Orders trickle in; wait (polling with a deadline) until one is listed, then read it.
	var id string
	wait.Until(t, 30*time.Second, "a demo order to be listed", func() error {
		var insts struct {
			Instances []struct {
				ID          string `json:"id"`
				BusinessKey string `json:"businessKey"`
			} `json:"instances"`
		}
		s.get("/api/instances?definition=order", &insts)
		if len(insts.Instances) == 0 {
			return fmt.Errorf("none yet; the server's log:\n%s", s.stderr.String())
		}
		id = insts.Instances[0].ID
		if !strings.HasPrefix(insts.Instances[0].BusinessKey, "ORD-") {
			t.Errorf("business key %q", insts.Instances[0].BusinessKey)
		}
		return nil
	})
	var detail struct {
		Instance struct {
			ID string `json:"id"`
		} `json:"instance"`
		Variables []struct {
			Name string `json:"name"`
		} `json:"variables"`
		History []map[string]any `json:"history"`
	}
	if code := s.get("/api/instances/"+id, &detail); code != http.StatusOK || detail.Instance.ID != id || len(detail.Variables) < 4 || len(detail.History) == 0 {
		t.Fatalf("detail: %d %+v", code, detail)
	}
	s.stop()
	log := s.stderr.String()
	for _, want := range []string{"demo driver started", "cockpit listening", "stopping"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestServeRefusesABusyAddress(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--demo=false")
	addr := strings.TrimPrefix(s.base, "http://")
	r := runApp(t, nil, "serve", "--demo=false", "--addr", addr, "--data-dir", t.TempDir())
	if r.code != exitError || !strings.Contains(r.stderr, "listen on") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	s.stop()
}

func TestMainUsesTheProcessEnvironment(t *testing.T) {
	// Not parallel: it sets a process environment variable.
	t.Setenv("COCKPIT_LOG_FORMAT", "yaml")
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"serve"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "yaml") {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
}

// TestServeEdge: every kind of answer of `cockpit serve` (API, API error, health,
// readiness, metrics, page, static file, error page, redirect) carries the security
// headers, and a Host the server does not serve is refused with 421, whatever the path
// (DNS rebinding), also with the headers.
func TestServeEdge(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--demo=false", "--allowed-hosts", "cockpit.example, other.example:9000")
	defer s.stop()
	do := func(path, host string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		client := *s.client
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	wantHeaders := func(what string, h http.Header) {
		t.Helper()
		for name, want := range map[string]string{
			"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "same-origin", "Cross-Origin-Opener-Policy": "same-origin", "Permissions-Policy": "camera=()",
		} {
			if !strings.Contains(h.Get(name), want) {
				t.Errorf("%s: %s is %q, want it to hold %q", what, name, h.Get(name), want)
			}
		}
	}
	kinds := []struct {
		kind, path string
		status     int
	}{
		{"api", "/api/definitions", 200},
		{"api error", "/api/instances?state=sleeping", 400},
		{"api unknown", "/api/nothing", 404},
		{"health", "/healthz", 200},
		{"readiness", "/readyz", 200},
		{"metrics", "/metrics", 200},
		{"page", "/", 200},
		{"static", "/static/app.js", 200},
		{"error page", "/no/such/page", 404},
		{"redirect", "/search?q=", 303},
		{"csv", "/instances.csv", 200},
		{"live stream refused", "/live?topic=bogus", 400},
		{"bad parameter", "/instances?limit=%00", 400},
	}
	for _, k := range kinds {
		for _, host := range []string{"", "localhost:1", "127.0.0.1", "[::1]:8080", "cockpit.example", "COCKPIT.example.:443", "other.example:9000"} {
			resp := do(k.path, host)
			what := fmt.Sprintf("%s (%s) for host %q", k.kind, k.path, host)
			if resp.StatusCode != k.status {
				t.Errorf("%s: %d, want %d", what, resp.StatusCode, k.status)
			}
			wantHeaders(what, resp.Header)
		}
		for _, host := range []string{"evil.example", "evil.example:8080", "other.example:9001", "cockpit.example.evil.example", "127.0.0.1.evil.example"} {
			resp := do(k.path, host)
			what := fmt.Sprintf("%s (%s) for host %q", k.kind, k.path, host)
			if resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("%s: %d, want 421", what, resp.StatusCode)
			}
			wantHeaders(what, resp.Header)
		}
	}
	// The refusal names the flag.
	req, _ := http.NewRequest(http.MethodGet, s.base+"/api/definitions", nil)
	req.Host = "evil.example"
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "--allowed-hosts") || !strings.Contains(string(b), "evil.example") {
		t.Errorf("421 body: %q", b)
	}
}

// TestWebActorTrimmed: --web-actor is trimmed once, where the configuration is checked,
// so the UI (deploys) and the command service record the same name.
func TestWebActorTrimmed(t *testing.T) {
	t.Parallel()
	c, cfg := newServeCommand(func(string) string { return "" })
	if err := c.parse([]string{"--web-actor", " bob "}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.check(); err != nil {
		t.Fatal(err)
	}
	if cfg.WebActor != "bob" {
		t.Errorf("web actor %q, want \"bob\"", cfg.WebActor)
	}
}
