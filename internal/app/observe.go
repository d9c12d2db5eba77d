package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	commandsvc "github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// observeReadOnly is what an observing cockpit says on every page, and to a deployment.
const observeReadOnly = "This cockpit observes the services that publish on its NATS server: its store is a read model of their events. Actions on an instance, an incident or a task are sent to the service that runs it, which carries them out; deploy from the cockpit of the service."

// runObserver serves an observing cockpit (--observe): no engine runs, no relay
// publishes, actions go to the services that own them (command.Router); the observer folds every service's events into st, the metrics projector
// folds st's history into rollups, and the pages read st through an engine that is
// never started (its query API only).
func runObserver(ctx context.Context, cfg *serveConfig, log *slog.Logger, st store.Store, durable string, nr *natsRuntime, nodeID string,
	ready func(string), stopCtx func() (context.Context, context.CancelFunc)) error {
	js, err := jetstream.New(nr.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	mon, proj, stopProj, err := startMetrics(ctx, cfg, st, nodeID, log, stopCtx)
	if err != nil {
		return err
	}
	defer stopProj()
	// The live pages follow the folds, not the stream: an event reaches them once the
	// read model holds it (observer.FoldedPrefix).
	folded := observer.NewFoldedPublisher(nr.nc, cfg.NATS.Prefix, log)
	ob, err := observer.New(observer.Options{Store: st, Models: observer.BusModels(js, cfg.NATS.Prefix), JS: js,
		Prefix: cfg.NATS.Prefix, Durable: durable, Logger: log, OnFold: func(res *observer.Result) {
			proj.Notify()
			folded.Publish(res)
		}})
	if err != nil {
		return err
	}
	if err := ob.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := ob.Stop(sctx); serr != nil {
			log.Error("stop observer", "err", serr)
		}
	}()
	e, err := engine.New(engine.Options{Store: st, Logger: log, NodeID: nodeID})
	if err != nil {
		return err
	}
	defer stopEngine(stopCtx, e, log)
	log.Info("observing", "prefix", cfg.NATS.Prefix, "consumer", durable)
	cfg.Demo = false
	report := &observedServices{ob: ob, nc: nr.nc, prefix: cfg.NATS.Prefix}
	signer, err := commandSigner(cfg)
	if err != nil {
		return err
	}
	client := commandClient(cfg, nr, signer, log)
	return serveHTTP(ctx, cfg, log, nr, e, web.Options{Metrics: mon, ReadOnly: observeReadOnly,
		Prefix: observer.FoldedPrefix(cfg.NATS.Prefix), Subjects: bus.SubjectsV2, Services: report,
		Commands: commandsvc.NewRouter(client, st)}, nil, ready, stopCtx)
}

// discoveryWait is how long a discovery collects answers; discoveryAge how long its
// result serves the services page.
const (
	discoveryWait = 250 * time.Millisecond
	discoveryAge  = 5 * time.Second
)

// observedServices reports the services page: the observer's counters and the engine
// nodes that answer a NATS discovery (cached for discoveryAge).
type observedServices struct {
	ob     *observer.Observer
	nc     *nats.Conn
	prefix string

	mu    sync.Mutex
	nodes []bus.Node
	at    time.Time
}

func (o *observedServices) ServicesReport(ctx context.Context) (*web.ServicesReport, error) {
	rep := &web.ServicesReport{Services: map[string]web.ObservedService{}}
	rep.Pending, rep.PendingErr = o.ob.Pending(ctx)
	stats := o.ob.Stats()
	for name, st := range stats.Services {
		rep.Services[name] = web.ObservedService{Events: st.Events, Last: st.Last}
	}
	rep.Repairs, rep.RepairFailures, rep.Stuck = stats.Repairs, stats.RepairFailures, stats.Stuck
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.at.IsZero() || time.Since(o.at) > discoveryAge {
		nodes, err := bus.Discover(ctx, o.nc, o.prefix, discoveryWait)
		if err != nil {
			return nil, err
		}
		o.nodes, o.at = nodes, time.Now()
	}
	rep.Nodes = o.nodes
	return rep, nil
}

// observerDurable is the observer's consumer: the one named, or one per store: a
// PostgreSQL read model is one wherever it is opened from (nodes sharing it share the
// consumer), a SQLite file is this host's.
func observerDurable(named string, db storeurl.Database) string {
	if named != "" {
		return named
	}
	where := db.Dialect + ":" + db.Path
	if db.Dialect != "postgres" {
		host, _ := os.Hostname()
		if abs, err := filepath.Abs(db.Path); err == nil {
			where = host + ":" + abs
		}
	}
	sum := sha256.Sum256([]byte(where))
	return observer.DefaultDurable + "-" + hex.EncodeToString(sum[:5])
}
