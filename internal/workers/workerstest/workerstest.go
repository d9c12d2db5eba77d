// Package workerstest runs, for tests, an engine on a fresh SQLite store with the job
// worker service on an embedded NATS server (no fixed port), stopped when the test ends:
// what a worker, in Go or any other language, talks to.
package workerstest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/workers"
)

// Rig is a running engine with its worker service.
type Rig struct {
	Engine  *engine.Engine
	Service *workers.Service
	// URL is the NATS server's client URL; Conn a connection to it for the test.
	URL  string
	Conn *nats.Conn
}

// Options configure New.
type Options struct {
	// Clock is the engine's (default the real one).
	Clock clock.Clock
	// Authenticate is the service's token check (workers.Options.Authenticate).
	Authenticate func(ctx context.Context, token string) ([]string, error)
}

// New starts a rig; deploy through its Engine.
func New(t testing.TB, o Options) *Rig {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "c.db")})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	e, err := engine.New(engine.Options{Store: st, Clock: o.Clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := workers.Start(context.Background(), workers.Options{Authenticate: o.Authenticate, Engine: e, Conn: sc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nc.Close()
		if err := svc.Stop(ctx); err != nil {
			t.Errorf("stop worker service: %v", err)
		}
		sc.Close()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &Rig{Engine: e, Service: svc, URL: ns.ClientURL(), Conn: nc}
}

// Start starts an instance of the process key with vars.
func (r *Rig) Start(t testing.TB, key string, vars map[string]any) string {
	t.Helper()
	in, err := r.Engine.StartInstance(context.Background(), key, engine.StartOptions{Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

// State is an instance's state ("" when it cannot be read).
func (r *Rig) State(id string) string {
	in, err := r.Engine.GetInstanceRow(context.Background(), id)
	if err != nil {
		return ""
	}
	return in.State
}
