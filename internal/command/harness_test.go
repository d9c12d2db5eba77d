package command_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// maxPayload lets the embedded server carry requests above the service's 1 MiB limit, so
// the service's own check is what refuses them.
const maxPayload = 8 << 20

// natsServer starts an embedded NATS server owned by the test.
func natsServer(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: false, MaxPayload: maxPayload,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready for connections")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(t.Name()), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// uniquePrefix keeps tests apart on a shared server.
func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test" + hex.EncodeToString(b)
}

// env is one engine on its own SQLite store, a NATS server (embedded, or the shared one),
// a command service and a client.
type env struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	e      *engine.Engine
	clock  *clock.Fake
	url    string
	prefix string
	nc     *nats.Conn
	svc    *command.Service
	client *command.Client
}

type envConfig struct {
	url         string // "" starts an embedded server
	postgres    bool   // the store is PostgreSQL (COCKPIT_TEST_DATABASE_URL), not SQLite
	wrapStore   func(store.Store) store.Store
	serviceOpts func(*command.Options)
}

type envOption func(*envConfig)

func onServer(url string) envOption { return func(c *envConfig) { c.url = url } }

// onPostgres puts the env's store on a fresh schema of the PostgreSQL test database, or
// skips the test when COCKPIT_TEST_DATABASE_URL is not set.
func onPostgres() envOption { return func(c *envConfig) { c.postgres = true } }

func withServiceOptions(f func(*command.Options)) envOption {
	return func(c *envConfig) { c.serviceOpts = f }
}

// withEngineStore puts a wrapper between the engine and its store (the audit log keeps
// the real store).
func withEngineStore(f func(store.Store) store.Store) envOption {
	return func(c *envConfig) { c.wrapStore = f }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	v := &env{t: t, ctx: context.Background(), clock: clock.NewFake(t0), prefix: uniquePrefix(), url: cfg.url}
	if v.url == "" {
		v.url = natsServer(t).ClientURL()
	}
	var st store.Store
	var err error
	if cfg.postgres {
		url := os.Getenv("COCKPIT_TEST_DATABASE_URL")
		if url == "" {
			t.Skip("COCKPIT_TEST_DATABASE_URL not set")
		}
		schema := uniquePrefix()
		t.Cleanup(func() {
			if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		})
		st, err = postgres.Open(v.ctx, postgres.Options{URL: url, Schema: schema})
	} else {
		st, err = sqlite.Open(v.ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	}
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	v.st = st
	var engineStore store.Store = st
	if cfg.wrapStore != nil {
		engineStore = cfg.wrapStore(st)
	}
	e, err := engine.New(engine.Options{Store: engineStore, Clock: v.clock, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	v.e = e
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
	})
	if err := e.Start(v.ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	for _, f := range []string{"usertask.bpmn", "nodefault.bpmn", "message.bpmn", "signal_catch.bpmn", "conditional_start.bpmn"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Deploy(v.ctx, f, data); err != nil {
			t.Fatalf("deploy %s: %v", f, err)
		}
	}
	v.nc = connect(t, v.url)
	v.svc = v.startService(v.nc, cfg.serviceOpts)
	v.client = command.NewClient(connect(t, v.url), v.prefix)
	return v
}

// startService starts one more command service on the env's engine (a second node of
// the same queue group, for instance). It is stopped at cleanup.
func (v *env) startService(nc *nats.Conn, opt func(*command.Options)) *command.Service {
	v.t.Helper()
	o := command.Options{
		Conn: nc, Engine: v.e, Store: v.st, Prefix: v.prefix, Clock: v.clock,
		Logger: slog.New(slog.DiscardHandler), BulkChunkSize: 10,
	}
	if opt != nil {
		opt(&o)
	}
	svc, err := command.Start(v.ctx, o)
	if err != nil {
		v.t.Fatalf("start command service: %v", err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(ctx); err != nil {
			v.t.Errorf("stop command service: %v", err)
		}
	})
	return svc
}

func (v *env) startInstance(key string, vars map[string]any) *store.Instance {
	v.t.Helper()
	inst, err := v.e.StartInstance(v.ctx, key, engine.StartOptions{Variables: vars})
	if err != nil {
		v.t.Fatalf("start %s: %v", key, err)
	}
	return inst
}

func (v *env) detail(id string) *engine.InstanceDetail {
	v.t.Helper()
	d, err := v.e.GetInstance(v.ctx, id)
	if err != nil {
		v.t.Fatalf("get instance %s: %v", id, err)
	}
	return d
}

func (v *env) state(id string) string { return v.detail(id).Instance.State }

func (v *env) openIncident(instanceID string) *store.Incident {
	v.t.Helper()
	for _, i := range v.detail(instanceID).Incidents {
		if i.State == store.IncidentOpen {
			return i
		}
	}
	v.t.Fatalf("instance %s has no open incident", instanceID)
	return nil
}

func (v *env) openTask(instanceID string) *store.UserTask {
	v.t.Helper()
	for _, task := range v.detail(instanceID).UserTasks {
		if task.State == store.TaskOpen {
			return task
		}
	}
	v.t.Fatalf("instance %s has no open task", instanceID)
	return nil
}

func (v *env) audit(f store.AuditFilter) []*store.AuditEntry {
	v.t.Helper()
	var out []*store.AuditEntry
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListAudit(v.ctx, f)
		return err
	})
	if err != nil {
		v.t.Fatalf("list audit: %v", err)
	}
	return out
}

// lastAudit returns the newest audit entry for a target.
func (v *env) lastAudit(target string) *store.AuditEntry {
	v.t.Helper()
	rows := v.audit(store.AuditFilter{Target: target, Limit: 1})
	if len(rows) == 0 {
		v.t.Fatalf("no audit entry for target %q", target)
	}
	return rows[0]
}

func meta(actor string) command.Meta { return command.Meta{Actor: actor, Reason: "test"} }

// wantCode checks that err is a *command.Error with the code.
func wantCode(t *testing.T, err error, code command.Code) *command.Error {
	t.Helper()
	var cerr *command.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *command.Error with code %s, got %T %v", code, err, err)
	}
	if cerr.Code != code {
		t.Fatalf("want code %s, got %s: %s", code, cerr.Code, cerr.Message)
	}
	return cerr
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// sharedNATS returns the URL of the shared server of the NATS suites, or skips.
func sharedNATS(t *testing.T) string {
	url := os.Getenv("COCKPIT_TEST_NATS_URL")
	if url == "" {
		t.Skip("COCKPIT_TEST_NATS_URL is not set")
	}
	return url
}
