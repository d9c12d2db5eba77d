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
// With Options.NATS the engine also publishes, as `cockpit serve` does: every state
// change as an event on NATS JetStream (subjects cockpit.events.<service>.<process>.<type>),
// and each deployed model in the bucket COCKPIT_MODELS under <service>/<process>/<version>,
// so that a cockpit or any subscriber sees this service without its store
// (docs/events.md in the repository is the contract). NATS being down delays both; it
// never stops the engine. The engine also answers operator commands sent to its service
// (<prefix>.cmd.<service>.<verb>, docs/commands.md): an observing cockpit
// (`cockpit serve --observe`) cancels, retries, modifies … this service's instances
// through it, and the engine writes each command to its audit log.
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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/command"
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

	// Service names this service in what it publishes on NATS: 1 to 64 ASCII letters,
	// digits, '-' and '_' (default: the host name's first label, lower case, other
	// characters as '_'). Engines sharing a store should use one name.
	Service string
	// NATS, when set, makes the engine publish its events and models on this connection
	// (subject scheme 2 of docs/events.md) and answer the operator commands sent to
	// Service (<NATSPrefix>.cmd.<Service>.<verb>, docs/commands.md; not the unscoped
	// subjects, which belong to `cockpit serve`). Start creates or updates the streams
	// and the models bucket; Close publishes what is left within its context and leaves
	// the connection open.
	NATS *nats.Conn
	// NATSPrefix is the first subject token and the start of the stream and bucket names
	// (default "cockpit": cockpit.events.> in COCKPIT_EVENTS).
	NATSPrefix string
	// CommandTrustedKeys, when set, are the public NKey user keys (U…) of the cockpits
	// whose commands this engine takes (`cockpit serve --command-key`): it then refuses
	// unsigned commands, and records the signed actor (docs/commands.md, "Signed
	// commands").
	CommandTrustedKeys []string
}

// Engine is an embedded engine on its store. Its methods are safe for concurrent use.
type Engine struct {
	e  *engine.Engine
	st store.Store

	// With Options.NATS: the outbox relay and the model publisher, and the streams'
	// options.
	nc          *nats.Conn
	relay       *bus.Relay
	models      *bus.ModelPublisher
	prefix      string
	service     string
	trustedKeys []string
	log         *slog.Logger
	// cmds answers the commands sent to this service (from Start to Close).
	cmds *command.Service

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
	if o.NATS != nil {
		if o.NATSPrefix == "" {
			o.NATSPrefix = bus.DefaultPrefix
		}
		if o.Service == "" {
			o.Service = bus.DefaultService()
		}
		if err := bus.CheckPrefix(o.NATSPrefix); err != nil {
			return nil, fmt.Errorf("open flow engine: %w: %w", ErrInvalidInput, err)
		}
		if err := bus.CheckService(o.Service); err != nil {
			return nil, fmt.Errorf("open flow engine: %w: %w", ErrInvalidInput, err)
		}
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
	eo := engine.Options{Store: st, Logger: o.Logger, NodeID: o.NodeID, Workers: o.Workers,
		LockDuration: o.LockDuration, OnCommit: fe.committed}
	if o.NATS != nil {
		fe.nc, fe.prefix, fe.service, fe.log = o.NATS, o.NATSPrefix, o.Service, o.Logger
		fe.trustedKeys = o.CommandTrustedKeys
		fe.relay, err = bus.NewRelay(bus.RelayOptions{Store: st, Conn: o.NATS, Prefix: o.NATSPrefix, Service: o.Service,
			Owner: o.NodeID, Logger: o.Logger})
		if err == nil {
			fe.models, err = bus.NewModelPublisher(bus.ModelPublisherOptions{Store: st, Conn: o.NATS, Prefix: o.NATSPrefix,
				Service: o.Service, Logger: o.Logger})
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("open flow engine: %w", err), st.Close())
		}
		eo.OnDeploy = fe.models.Deployed
	}
	e, err := engine.New(eo)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open flow engine: %w", err), st.Close())
	}
	fe.e = e
	return fe, nil
}

// Start starts running jobs and timers. Handlers registered later are used too. With
// Options.NATS it first creates or updates the streams and the models bucket (an error
// when the server cannot be reached), then publishes in the background.
func (e *Engine) Start(ctx context.Context) error {
	if e.nc != nil {
		if err := e.startPublishing(ctx); err != nil {
			return fmt.Errorf("start flow engine: %w", err)
		}
	}
	if err := e.e.Start(ctx); err != nil {
		return errors.Join(err, e.stopPublishing(ctx))
	}
	if e.nc != nil {
		cmds, err := command.Start(ctx, command.Options{Conn: e.nc, Engine: e.e, Prefix: e.prefix,
			Service: e.service, ServiceOnly: true, Logger: e.log, TrustedKeys: e.trustedKeys})
		if err != nil {
			return errors.Join(fmt.Errorf("start flow engine: %w", err), e.e.Stop(ctx), e.stopPublishing(ctx))
		}
		e.cmds = cmds
	}
	return nil
}

func (e *Engine) startPublishing(ctx context.Context) error {
	js, err := jetstream.New(e.nc)
	if err != nil {
		return err
	}
	so := bus.StreamOptions{Prefix: e.prefix}
	if err := bus.EnsureStreams(ctx, js, so); err != nil {
		return err
	}
	if _, err := bus.EnsureModelBucket(ctx, js, so); err != nil {
		return err
	}
	if err := e.relay.Start(ctx); err != nil {
		return err
	}
	if err := e.models.Start(ctx); err != nil {
		return errors.Join(err, e.relay.Stop(ctx))
	}
	return nil
}

// stopPublishing stops the relay (which publishes what is left first, while ctx lasts)
// and the model publisher.
func (e *Engine) stopPublishing(ctx context.Context) error {
	if e.nc == nil {
		return nil
	}
	return errors.Join(e.relay.Stop(ctx), e.models.Stop(ctx))
}

// Close stops the engine (running handlers finish, or are cut off when ctx ends: their
// jobs run again later), publishes the events still to publish (with Options.NATS, while
// ctx lasts; the rest goes at the next start) and closes the store.
func (e *Engine) Close(ctx context.Context) error {
	var err error
	if e.cmds != nil {
		// Commands in flight finish before the engine stops under them.
		err = e.cmds.Stop(ctx)
	}
	return errors.Join(err, e.e.Stop(ctx), e.stopPublishing(ctx), e.st.Close())
}

// committed wakes the relay and the Await calls of the instances a commit ended.
func (e *Engine) committed(evs []*store.Event) {
	if e.relay != nil {
		e.relay.Notify()
	}
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
