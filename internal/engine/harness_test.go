package engine_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// storeKind is one store the engine tests run on. PostgreSQL joins this list when the
// README's test database variable is set.
type storeKind struct {
	name string
	open func(t *testing.T) store.Store
}

func storeKinds() []storeKind {
	kinds := []storeKind{{name: "sqlite", open: func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		return st
	}}}
	if url := pgtest.URL(); url != "" {
		kinds = append(kinds, storeKind{name: "postgres", open: func(t *testing.T) store.Store {
			// Each test in its own schema, dropped when the test ends (this cleanup is
			// registered before the env's, so it runs after the store is closed).
			st := pgtest.Open(t, postgres.Options{URL: url})
			return st
		}})
	}
	return kinds
}

// eachStore runs a test on every store kind.
func eachStore(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store.Store)) {
	t.Helper()
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			fn(t, k.open)
		})
	}
}

// env is one engine on its own store with a fake clock and a record of committed events.
type env struct {
	t     *testing.T
	e     *engine.Engine
	st    store.Store
	clock *clock.Fake
	ctx   context.Context

	mu     sync.Mutex
	events []*store.Event
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

type envOption func(*engine.Options)

func newEnv(t *testing.T, open func(t *testing.T) store.Store, opts ...envOption) *env {
	t.Helper()
	st := open(t)
	return newEnvOn(t, st, true, opts...)
}

func newEnvOn(t *testing.T, st store.Store, owner bool, opts ...envOption) *env {
	t.Helper()
	v := &env{t: t, st: st, clock: clock.NewFake(t0), ctx: context.Background()}
	o := engine.Options{Store: st, Clock: v.clock, OnCommit: v.record, Workers: 4, DefaultBackoff: "R3/PT10S",
		Logger: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	e, err := engine.New(o)
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
		if owner {
			if err := st.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		}
	})
	return v
}

func (v *env) start() {
	v.t.Helper()
	if err := v.e.Start(v.ctx); err != nil {
		v.t.Fatalf("start engine: %v", err)
	}
}

func (v *env) record(evs []*store.Event) {
	v.mu.Lock()
	v.events = append(v.events, evs...)
	v.mu.Unlock()
}

// waitFor is wait.For on the env's test.
func (v *env) waitFor(what string, cond func() bool) {
	v.t.Helper()
	wait.For(v.t, what, cond)
}

func (v *env) hasEvent(instanceID string, typ event.Type, elementID string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, ev := range v.events {
		if ev.InstanceID == instanceID && ev.Type == typ && (elementID == "" || ev.ElementID == elementID) {
			return true
		}
	}
	return false
}

func (v *env) countEvents(typ event.Type, elementID string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, ev := range v.events {
		if ev.Type == typ && (elementID == "" || ev.ElementID == elementID) {
			n++
		}
	}
	return n
}

func (v *env) deploy(file string) *engine.Deployment {
	v.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		v.t.Fatal(err)
	}
	dep, err := v.e.Deploy(v.ctx, file, data)
	if err != nil {
		v.t.Fatalf("deploy %s: %v", file, err)
	}
	return dep
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
		v.t.Fatalf("get instance: %v", err)
	}
	return d
}

func (v *env) state(id string) string { return v.detail(id).Instance.State }

func (v *env) waitState(id, state string) {
	v.t.Helper()
	v.waitFor("instance "+id+" "+state, func() bool { return v.state(id) == state })
}

// tokensAt lists the elements the instance's tokens stand at, sorted.
func (v *env) tokensAt(id string) []string {
	v.t.Helper()
	var at []string
	for _, tok := range v.detail(id).Tokens {
		at = append(at, tok.ElementID)
	}
	slices.Sort(at)
	return at
}

func (v *env) openTask(id, element string) *store.UserTask {
	v.t.Helper()
	for _, task := range v.detail(id).UserTasks {
		if task.ElementID == element && task.State == store.TaskOpen {
			return task
		}
	}
	v.t.Fatalf("no open task at %s", element)
	return nil
}

func (v *env) openIncidents(id string) []*store.Incident {
	v.t.Helper()
	var out []*store.Incident
	for _, i := range v.detail(id).Incidents {
		if i.State == store.IncidentOpen {
			out = append(out, i)
		}
	}
	return out
}

// advance moves the fake clock and tells the executor to look.
func (v *env) advance(d time.Duration) {
	v.clock.Advance(d)
	v.e.Wake()
}

func (v *env) visited(id string) []string {
	var out []string
	for _, ev := range v.detail(id).History {
		if ev.Type == event.ElementLeft {
			out = append(out, ev.ElementID)
		}
	}
	return out
}
