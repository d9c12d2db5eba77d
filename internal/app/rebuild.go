package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"github.com/cockpit-engine/cockpit/internal/observer"
)

type rebuildConfig struct {
	DataDir     string
	DatabaseURL string
	NATS        natsConfig
	Consumer    string
	// Quiet is how long the rebuild waits without progress for events still held back
	// (a gap, a model not published) before it ends; Timeout bounds the whole run.
	Quiet   time.Duration
	Timeout time.Duration
	// FromEngines asks every engine node online for its store's history before the
	// stream is folded: what the stream's retention dropped.
	FromEngines bool
}

func newRebuildCommand(getenv func(string) string) (*command, *rebuildConfig) {
	cfg := &rebuildConfig{}
	c := newCommand("rebuild", "cockpit rebuild --nats-url URL [flags]",
		`Builds an observing cockpit's read model (serve --observe) from the event streams:
into an empty store (a new --data-dir, or an empty --database-url) it folds every event
the events stream still holds (its retention: docs/events.md), then stops once it has
caught up and prints what it folded. Start serve --observe on that store afterwards; it
goes on from there with the same consumer. A store that holds events is refused: the
fold is exactly once per instance position, so a rebuild starts from nothing.

With --from-engines it first asks every engine node online (NATS micro discovery) for
its store's whole history and folds that: instances the stream's retention dropped come
back too. The services must be running.`,
		getenv)
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_DATA_DIR", "./cockpit-data", "directory of the embedded database")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "database; empty means <data-dir>/cockpit.db; sqlite:PATH names another SQLite file; postgres://user@host/db a PostgreSQL database")
	c.stringVar(&cfg.NATS.URL, "nats-url", "COCKPIT_NATS_URL", "", "NATS server(s) the services publish on (required)")
	c.stringVar(&cfg.NATS.Creds, "nats-creds", "COCKPIT_NATS_CREDS", "", "NATS credentials file (user JWT and NKey seed)")
	c.stringVar(&cfg.NATS.TLSCA, "nats-tls-ca", "COCKPIT_NATS_TLS_CA", "", "CA certificates (PEM) to verify the NATS server")
	c.stringVar(&cfg.NATS.TLSCert, "nats-tls-cert", "COCKPIT_NATS_TLS_CERT", "", "client certificate (PEM) for NATS mutual TLS; needs --nats-tls-key")
	c.stringVar(&cfg.NATS.TLSKey, "nats-tls-key", "COCKPIT_NATS_TLS_KEY", "", "client key (PEM) for NATS mutual TLS")
	c.stringVar(&cfg.NATS.Prefix, "nats-prefix", "COCKPIT_NATS_PREFIX", bus.DefaultPrefix, "first token of every subject and start of the stream names")
	c.stringVar(&cfg.Consumer, "observe-consumer", "COCKPIT_OBSERVE_CONSUMER", "", "the durable consumer's name (empty: the one serve --observe derives for this store)")
	c.durationVar(&cfg.Quiet, "quiet", "COCKPIT_REBUILD_QUIET", 10*time.Second, "stop when every event was delivered and nothing was folded for this long (events held back for a gap or a missing model stay unfolded)")
	c.boolVar(&cfg.FromEngines, "from-engines", "COCKPIT_REBUILD_FROM_ENGINES", false, "first fold the whole history of every service whose engine nodes are online (what the stream no longer holds)")
	c.durationVar(&cfg.Timeout, "timeout", "COCKPIT_REBUILD_TIMEOUT", time.Hour, "give up after this long")
	return c, cfg
}

func (a *App) rebuild(ctx context.Context, args []string) error {
	c, cfg := newRebuildCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	if len(c.args()) > 0 {
		return a.usageError(c, "unexpected argument %q", c.args()[0])
	}
	if cfg.NATS.URL == "" {
		return a.usageError(c, "--nats-url is required: the server the services publish on")
	}
	if cfg.Quiet <= 0 || cfg.Timeout <= 0 {
		return a.usageError(c, "--quiet and --timeout must be positive")
	}
	if cfg.Consumer != "" {
		if err := bus.CheckService(cfg.Consumer); err != nil {
			return a.usageError(c, "--observe-consumer %q: %v", cfg.Consumer, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	db, err := storeurl.Resolve(cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	st, err := db.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var evs []*store.Event
	if err := st.Read(ctx, func(tx store.Tx) error {
		var err error
		evs, err = tx.ListEvents(ctx, store.EventFilter{Limit: 1})
		return err
	}); err != nil {
		return err
	}
	if len(evs) > 0 {
		return fmt.Errorf("the store at %s holds events already: rebuild into an empty one (a new --data-dir or database), then point serve --observe at it", db.Path)
	}
	nc, err := bus.Connect(ctx, bus.ConnectOptions{URL: cfg.NATS.URL, Name: "cockpit rebuild", CredsFile: cfg.NATS.Creds,
		TLSCA: cfg.NATS.TLSCA, TLSCert: cfg.NATS.TLSCert, TLSKey: cfg.NATS.TLSKey, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ob, err := observer.New(observer.Options{Store: st, Models: observer.BusModels(js, cfg.NATS.Prefix), JS: js,
		Prefix: cfg.NATS.Prefix, Durable: observerDurable(cfg.Consumer, *db), Batch: observer.MaxBatch, Logger: log})
	if err != nil {
		return err
	}
	began := time.Now()
	if cfg.FromEngines {
		if err := a.foldFromEngines(ctx, ob, nc, cfg.NATS.Prefix); err != nil {
			return err
		}
	}
	if err := ob.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = ob.Stop(context.WithoutCancel(ctx)) }()
	// Done when nothing waits, or when everything was delivered and nothing moved for
	// --quiet (what is left is held back for good or for long).
	var last int64
	moved := time.Now()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("rebuild: %w (folded %d events so far)", ctx.Err(), ob.Stats().Applied)
		case <-tick.C:
		}
		stats := ob.Stats()
		if n := stats.Applied + stats.Repeats; n != last {
			last, moved = n, time.Now()
		}
		pending, err := ob.Pending(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				continue
			}
			return err
		}
		if pending == 0 || time.Since(moved) > cfg.Quiet {
			if err := ob.Stop(ctx); err != nil {
				return err
			}
			stats = ob.Stats()
			fmt.Fprintf(a.Stdout, "%s: folded %d events of %d services in %s; %d held back (gaps %d, waiting for a model %d, given up %d); %d gaps repaired from the engines, %d repairs failed\n",
				db.Path, stats.Applied, len(stats.Services), time.Since(began).Round(time.Millisecond), pending, stats.Gaps,
				stats.Waiting, stats.Stuck, stats.Repairs, stats.RepairFailures)
			return nil
		}
	}
}

// foldFromEngines folds the history of every service with an engine node online.
func (a *App) foldFromEngines(ctx context.Context, ob *observer.Observer, nc *nats.Conn, prefix string) error {
	nodes, err := bus.Discover(ctx, nc, prefix, 2*time.Second)
	if err != nil {
		return err
	}
	var services []string
	for _, n := range nodes {
		if n.Service != "" && !slices.Contains(services, n.Service) {
			services = append(services, n.Service)
		}
	}
	slices.Sort(services)
	if len(services) == 0 {
		return errors.New("--from-engines: no engine node answered the discovery; start the services first")
	}
	for _, svc := range services {
		began := time.Now()
		n, err := ob.FoldHistory(ctx, svc)
		if err != nil {
			return fmt.Errorf("--from-engines: service %s (after %d events): %w", svc, n, err)
		}
		fmt.Fprintf(a.Stdout, "service %s: folded %d events of its history in %s\n", svc, n, time.Since(began).Round(time.Millisecond))
	}
	return nil
}
