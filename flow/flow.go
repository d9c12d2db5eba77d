// Package flow runs Cockpit's BPMN engine inside a Go service: your process, your store
// (an embedded SQLite file by default, or PostgreSQL), your handlers doing the work.
//
//	eng, err := flow.Open(ctx, flow.Options{DataDir: "./data"})
//	flow.HandleJSON(eng, "payment.charge", func(ctx context.Context, job *flow.Job, in Charge) (Receipt, error) { … })
//	eng.DeployFile(ctx, "order.bpmn") // a Camunda Modeler / bpmn.io file, or flow.Build(…) in Go
//	eng.Start(ctx)
//	inst, err := eng.StartInstance(ctx, "order", flow.StartOptions{Variables: map[string]any{"amount": 42}})
//	…
//	eng.Close(ctx)
//
// Jobs run at least once: a handler that is cut off (a crash, a lock that expires) runs
// again, with the same Job.Key, so make the work idempotent on it. The engine writes every
// state change with its history event in one transaction; a `cockpit serve` on the same
// PostgreSQL database shows and operates the instances this service runs.
//
// The package is a thin layer over the engine Cockpit itself runs: results are this
// package's types, errors are its sentinels (errors.Is) and *DeployError (errors.As).
package flow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Errors. Every error the engine returns wraps one of these, or is a *DeployError.
var (
	// ErrNotFound: no such process, instance, task, or nothing waits for a message.
	ErrNotFound = engine.ErrNotFound
	// ErrInvalidInput: a request breaks a rule (an empty key, a value too large, …); the
	// message names the rule and the limit.
	ErrInvalidInput = engine.ErrInvalidInput
	// ErrInvalidState: the request does not fit the instance's state (completing a task of
	// an ended instance, …).
	ErrInvalidState = engine.ErrInvalidState
	// ErrStopped: the engine was closed.
	ErrStopped = engine.ErrStopped
	// ErrUnavailable: the store could not be reached or was busy; the request may be sent
	// again.
	ErrUnavailable = store.ErrUnavailable
)

// Options configure Open.
type Options struct {
	// DataDir holds the embedded SQLite database (cockpit.db); default "./cockpit-data".
	// Only one process may have it open.
	DataDir string
	// DatabaseURL selects another store: "postgres://user@host/db" (several services and
	// `cockpit serve` may share it), or "sqlite:PATH". Empty: <DataDir>/cockpit.db.
	DatabaseURL string
	// Workers bounds the handlers that run at once (default 64).
	Workers int
	// LockDuration is how long a job is locked for its handler (default 5 minutes): a
	// handler still running after it may see the job run again elsewhere. The handler's
	// context ends then.
	LockDuration time.Duration
	// NodeID names this process in job locks (default: a random id).
	NodeID string
	// Logger receives the engine's logs (default slog.Default()).
	Logger *slog.Logger
}

// Engine is an embedded engine on its store. Its methods are safe for concurrent use.
type Engine struct {
	e  *engine.Engine
	st store.Store

	mu sync.Mutex
	// waiters are the Await calls per instance id, closed when the instance ends.
	waiters map[string][]chan struct{}
}

// Open opens (creating when missing, and migrating) the store and returns an engine on
// it. Register handlers and deploy, then Start it; Close it when done.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if o.DataDir == "" {
		o.DataDir = "./cockpit-data"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	db, err := storeurl.Resolve(o.DataDir, o.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open flow engine: %w", err)
	}
	db.Log = o.Logger
	st, err := db.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open flow engine: %w", err)
	}
	fe := &Engine{st: st, waiters: map[string][]chan struct{}{}}
	e, err := engine.New(engine.Options{Store: st, Logger: o.Logger, NodeID: o.NodeID, Workers: o.Workers,
		LockDuration: o.LockDuration, OnCommit: fe.committed})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open flow engine: %w", err), st.Close())
	}
	fe.e = e
	return fe, nil
}

// Start starts running jobs and timers. Handlers registered later are used too.
func (e *Engine) Start(ctx context.Context) error { return e.e.Start(ctx) }

// Close stops the engine (running handlers finish, or are cut off when ctx ends: their
// jobs run again later) and closes the store.
func (e *Engine) Close(ctx context.Context) error {
	return errors.Join(e.e.Stop(ctx), e.st.Close())
}

// committed wakes the Await calls of the instances a commit ended.
func (e *Engine) committed(evs []*store.Event) {
	for _, ev := range evs {
		if ev.Type != event.InstanceCompleted && ev.Type != event.InstanceCancelled {
			continue
		}
		e.mu.Lock()
		for _, ch := range e.waiters[ev.InstanceID] {
			close(ch)
		}
		delete(e.waiters, ev.InstanceID)
		e.mu.Unlock()
	}
}
