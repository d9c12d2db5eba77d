package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/demo"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// serveConfig is the configuration of `cockpit serve`.
type serveConfig struct {
	DataDir         string
	Addr            string
	DatabaseURL     string
	NATSURL         string
	Demo            bool
	DemoRate        float64
	Workers         int
	JobBatchSize    int
	JobLock         time.Duration
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
}

func newServeCommand(getenv func(string) string) (*command, *serveConfig) {
	cfg := &serveConfig{}
	c := newCommand("serve", "cockpit [serve] [flags]",
		`Runs the engine on the embedded SQLite store in --data-dir, deploys and drives the demo
flows (unless --demo=false), and serves a read-only JSON API on --addr:

  GET /healthz                      liveness and store check
  GET /api/definitions              deployed process definitions
  GET /api/instances                instances, newest first; filters: state (comma-separated:
                                    active,suspended,completed,cancelled),
                                    definition, businessKey, hasIncident, after (cursor), limit
  GET /api/instances/{id}           one instance with tokens, variables, jobs, incidents,
                                    user tasks and history
  GET /api/incidents                incidents; filters: state, definition, instance, limit
  GET /api/tasks                    user tasks; filters: state, assignee, instance, limit

The API has no authentication: keep --addr on a loopback address (the default) unless a
proxy in front of it checks who is calling. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.`,
		getenv)
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_DATA_DIR", "./cockpit-data", "directory for the embedded database (created when missing)")
	c.stringVar(&cfg.Addr, "addr", "COCKPIT_ADDR", "127.0.0.1:8080", "address the HTTP server listens on")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "database to use; empty means embedded SQLite at <data-dir>/cockpit.db; sqlite:PATH names another SQLite file; postgres:// is not available yet")
	c.stringVar(&cfg.NATSURL, "nats-url", "COCKPIT_NATS_URL", "", "NATS server for events and commands (reserved: accepted but not wired yet)")
	c.boolVar(&cfg.Demo, "demo", "COCKPIT_DEMO", true, "deploy the demo flows and start demo orders")
	c.floatVar(&cfg.DemoRate, "demo-rate", "COCKPIT_DEMO_RATE", 1, "demo orders started per second")
	c.intVar(&cfg.Workers, "workers", "COCKPIT_WORKERS", 0, "job handlers run at once (0: the engine default, 64)")
	c.intVar(&cfg.JobBatchSize, "job-batch-size", "COCKPIT_JOB_BATCH_SIZE", 0, "jobs locked per fetch at most (0: the engine default, 128)")
	c.durationVar(&cfg.JobLock, "job-lock-duration", "COCKPIT_JOB_LOCK_DURATION", 0, "how long a fetched job stays locked before another node may run it (0: the engine default, 5m)")
	c.stringVar(&cfg.LogLevel, "log-level", "COCKPIT_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	c.stringVar(&cfg.LogFormat, "log-format", "COCKPIT_LOG_FORMAT", "text", "log format: text or json")
	c.durationVar(&cfg.ShutdownTimeout, "shutdown-timeout", "COCKPIT_SHUTDOWN_TIMEOUT", 30*time.Second, "how long a stop waits for requests and running jobs")
	return c, cfg
}

// check rejects values no run could use; they are usage errors.
func (cfg *serveConfig) check() error {
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return err
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
	}
	if cfg.DemoRate < 0 {
		return fmt.Errorf("--demo-rate %v: must not be negative", cfg.DemoRate)
	}
	if cfg.Workers < 0 {
		return fmt.Errorf("--workers %d: must not be negative", cfg.Workers)
	}
	if cfg.JobBatchSize < 0 || cfg.JobLock < 0 {
		return errors.New("--job-batch-size and --job-lock-duration must not be negative")
	}
	if cfg.Addr == "" {
		return errors.New("--addr is empty")
	}
	if cfg.DataDir == "" {
		return errors.New("--data-dir is empty")
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	l, _ := parseLevel(level) // checked by serveConfig.check
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func (a *App) serve(ctx context.Context, args []string) error {
	c, cfg := newServeCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	if len(c.args()) > 0 {
		return a.usageError(c, "unexpected argument %q", c.args()[0])
	}
	if err := cfg.check(); err != nil {
		return a.usageError(c, "%v", err)
	}
	log := newLogger(a.Stderr, cfg.LogLevel, cfg.LogFormat)
	if err := runServer(ctx, cfg, log, a.Ready); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// runServer runs until ctx ends, then stops everything it started, in reverse order:
// HTTP server, demo driver, engine (which waits for running handlers), store.
func runServer(ctx context.Context, cfg *serveConfig, log *slog.Logger, ready func(string)) (err error) {
	db, err := resolveDatabase(cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if cfg.NATSURL != "" {
		log.Warn("NATS is not wired yet; --nats-url is ignored", "nats_url", redactURL(cfg.NATSURL))
	}
	// Everything started below is stopped with this context, detached from ctx (which has
	// ended when we stop) and bounded by the shutdown timeout.
	stopCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	}

	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	log.Info("store opened", "dialect", st.Dialect(), "path", db.path)
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
	}()

	e, err := engine.New(engine.Options{Store: st, Logger: log, Workers: cfg.Workers,
		BatchSize: cfg.JobBatchSize, LockDuration: cfg.JobLock})
	if err != nil {
		return err
	}
	var driver *demo.Driver
	if cfg.Demo {
		if err := demo.Deploy(ctx, e); err != nil {
			stopEngine(stopCtx, e, log)
			return err
		}
		driver, err = demo.NewDriver(demo.Options{
			Engine: e, Rate: cfg.DemoRate, InvoiceEvery: 20, Simulation: demo.DefaultSimulation(), Logger: log,
		})
		if err != nil {
			stopEngine(stopCtx, e, log)
			return err
		}
	}
	if err := e.Start(ctx); err != nil {
		stopEngine(stopCtx, e, log)
		return err
	}
	defer stopEngine(stopCtx, e, log)
	if driver != nil {
		if err := driver.Start(ctx); err != nil {
			return err
		}
		defer func() {
			sctx, cancel := stopCtx()
			defer cancel()
			if serr := driver.Stop(sctx); serr != nil {
				log.Error("stop demo driver", "err", serr)
			}
		}()
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           newAPI(e, log),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	log.Info("cockpit listening", "url", "http://"+addr, "demo", cfg.Demo)
	if !isLoopback(ln.Addr()) {
		log.Warn("the JSON API has no authentication and listens beyond this machine", "addr", addr)
	}
	if ready != nil {
		ready(addr)
	}

	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := stopCtx()
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("stop http server", "err", err)
		_ = srv.Close()
	}
	<-served // http.ErrServerClosed
	return nil
}

func stopEngine(stopCtx func() (context.Context, context.CancelFunc), e *engine.Engine, log *slog.Logger) {
	ctx, cancel := stopCtx()
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		log.Error("stop engine", "err", err)
	}
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// redactURL drops a password from a URL before it is logged.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s, "@"); at > i {
			if colon := strings.Index(s[i+3:at], ":"); colon >= 0 {
				return s[:i+3+colon] + ":xxxxx" + s[at:]
			}
		}
	}
	return s
}

// database is where the store lives, resolved from --data-dir and --database-url.
type database struct {
	dialect string // "sqlite"
	path    string // the SQLite file
}

// errPostgresNotYet is returned for a postgres:// database URL until the PostgreSQL store exists.
var errPostgresNotYet = errors.New("PostgreSQL store not available yet: leave --database-url (COCKPIT_DATABASE_URL) empty to use the embedded SQLite store")

// resolveDatabase reads --database-url: empty means <dataDir>/cockpit.db; sqlite:PATH
// (or sqlite://PATH, file:PATH) another SQLite file; postgres:// is refused for now.
func resolveDatabase(dataDir, url string) (*database, error) {
	url = strings.TrimSpace(url)
	lower := strings.ToLower(url)
	switch {
	case url == "":
		return &database{dialect: "sqlite", path: filepath.Join(dataDir, "cockpit.db")}, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return nil, errPostgresNotYet
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			p := url[len(prefix):]
			if p == "" {
				break
			}
			return &database{dialect: "sqlite", path: p}, nil
		}
	}
	return nil, fmt.Errorf("database URL %q: unsupported (use sqlite:PATH, or leave it empty for <data-dir>/cockpit.db)", redactURL(url))
}

// open opens the store, creating the file's directory when missing.
func (d *database) open(ctx context.Context) (store.Store, error) {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: d.path})
	if err != nil {
		return nil, err
	}
	return st, nil
}
