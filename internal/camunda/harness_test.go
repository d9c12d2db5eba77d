package camunda

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// TestMain checks that no test leaves a goroutine behind (a long poll, a server).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEnv is the API served over HTTP by a real engine on its own SQLite store, with a
// command service on an embedded NATS server (no fixed port): what a Camunda client
// talks to. Everything stops when the test ends.
type testEnv struct {
	t      *testing.T
	ctx    context.Context
	Engine *engine.Engine
	Store  store.Store
	Clock  *clock.Fake
	Server *Server
	// URL is the HTTP server's base URL; the API is at URL+Prefix.
	URL string
}

// envT0 is the fake clock's start.
var envT0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// newTestServer starts a testEnv; o (optional) configures the Server (Engine and
// Commands are set here).
func newTestServer(t *testing.T, o ...Options) *testEnv {
	t.Helper()
	ctx := context.Background()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready for connections")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	clk := clock.NewFake(envT0)
	quiet := slog.New(slog.DiscardHandler)
	e, err := engine.New(engine.Options{Store: st, Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
	})
	if err := e.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	connect := func() *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL(), nats.Name(t.Name()), nats.MaxReconnects(0))
		if err != nil {
			t.Fatalf("connect to nats: %v", err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "test" + hex.EncodeToString(b)
	svc, err := command.Start(ctx, command.Options{Conn: connect(), Engine: e, Store: st, Prefix: prefix, Clock: clk, Logger: quiet})
	if err != nil {
		t.Fatalf("start command service: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("stop command service: %v", err)
		}
	})
	var opts Options
	if len(o) > 0 {
		opts = o[0]
	}
	opts.Engine, opts.Commands, opts.Logger = e, command.NewClient(connect(), prefix), quiet
	s, err := New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	h := httptest.NewServer(s)
	t.Cleanup(func() { s.Stop(); h.Close() })
	return &testEnv{t: t, ctx: ctx, Engine: e, Store: st, Clock: clk, Server: s, URL: h.URL}
}

// withAuth serves the API again, in front of the same engine and command service, with
// --auth local's check of API tokens; issue gives a new user of a role a token.
func (v *testEnv) withAuth() (issue func(name string, role auth.Role) string) {
	v.t.Helper()
	svc, err := auth.New(auth.Options{Store: v.Store, Clock: v.Clock})
	if err != nil {
		v.t.Fatal(err)
	}
	o := v.Server.o
	o.Auth = svc
	s, err := New(o)
	if err != nil {
		v.t.Fatal(err)
	}
	h := httptest.NewServer(s)
	v.t.Cleanup(func() { s.Stop(); h.Close() })
	v.Server, v.URL = s, h.URL
	return func(name string, role auth.Role) string {
		v.t.Helper()
		u, err := svc.CreateUser(v.ctx, name, "a long password 123", role)
		if err != nil {
			v.t.Fatal(err)
		}
		tok, _, err := svc.IssueToken(v.ctx, u.ID, name+"-token", role, nil, nil)
		if err != nil {
			v.t.Fatal(err)
		}
		return tok
	}
}

// deploy deploys a file of testdata on the engine (not through the API).
func (v *testEnv) deploy(file string) *engine.Deployment {
	v.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		v.t.Fatal(err)
	}
	dep, err := v.Engine.Deploy(v.ctx, file, data)
	if err != nil {
		v.t.Fatalf("deploy %s: %v", file, err)
	}
	return dep
}

// reply is one HTTP answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the API (path after Prefix); a body that is not a string or
// []byte is sent as JSON.
func (v *testEnv) do(method, path string, body any, header ...string) reply {
	v.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			v.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, v.URL+Prefix+path, rd)
	if err != nil {
		v.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		v.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, data}
}

// ok checks the status (and, for a body, the exact Content-Type) and decodes the body.
func (a reply) ok(t *testing.T, status int, into any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if into == nil {
		return
	}
	if ct := a.header.Get("Content-Type"); ct != contentType {
		t.Fatalf("Content-Type %q, want exactly %s", ct, contentType)
	}
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// failed checks a Camunda error answer: status, type and a part of the message.
func (a reply) failed(t *testing.T, status int, typ, msg string) map[string]any {
	t.Helper()
	var e map[string]any
	a.ok(t, status, &e)
	if e["type"] != typ || !strings.Contains(e["message"].(string), msg) || e["code"] != 0.0 {
		t.Fatalf("answer %d %s, want %d %s with %q and code 0", a.status, a.body, status, typ, msg)
	}
	return e
}

// part is one part of a multipart form: a field, or a file when filename is set.
type part struct {
	field, filename string
	data            []byte
}

// multipartForm encodes parts as multipart/form-data: the body and its Content-Type.
func multipartForm(t *testing.T, parts ...part) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.field, p.filename)
		} else {
			w, err = mw.CreateFormField(p.field)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// postForm sends a multipart/form-data request to the API.
func (v *testEnv) postForm(path string, parts ...part) reply {
	v.t.Helper()
	body, ct := multipartForm(v.t, parts...)
	return v.do(http.MethodPost, path, body, "Content-Type", ct)
}

// audit lists the audit rows of a command, newest first.
func (v *testEnv) audit(cmd string) []*store.AuditEntry {
	v.t.Helper()
	var out []*store.AuditEntry
	err := v.Store.Read(v.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(v.ctx, store.AuditFilter{Command: cmd, Limit: 100})
		return err
	})
	if err != nil {
		v.t.Fatalf("list audit: %v", err)
	}
	return out
}
