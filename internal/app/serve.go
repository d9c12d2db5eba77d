package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/camunda"
	commandsvc "github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/demo"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/web"
	"github.com/cockpit-engine/cockpit/internal/workers"
	"github.com/google/uuid"
)

// serveConfig is the configuration of `cockpit serve`.
type serveConfig struct {
	DataDir         string
	Addr            string
	DatabaseURL     string
	NATS            natsConfig
	Demo            bool
	DemoRate        float64
	Workers         int
	JobBatchSize    int
	JobLock         time.Duration
	DBMaxConns      int
	LogLevel        string
	LogFormat       string
	ShutdownTimeout time.Duration
	// WebActor names the operator of web UI actions in the audit log; TrustProxyUser
	// takes it from X-Forwarded-User instead (only behind an authenticating proxy).
	WebActor       string
	TrustProxyUser bool
	// CommandKey names the NKey user seed file this cockpit signs its commands with;
	// CommandTrustedKeys the public keys (comma-separated) whose signed commands this
	// node's command service takes, refusing all others (internal/command/signed.go).
	CommandKey, CommandTrustedKeys string
	// CommandRequireCredentials makes this node's command service refuse commands that
	// carry neither a trusted signature nor an API token.
	CommandRequireCredentials bool
	// Auth is "none" (nobody signs in) or "local" (users of the store sign in;
	// internal/auth); SessionIdle and SessionMaxAge a session's expiries.
	Auth                       string
	SessionIdle, SessionMaxAge time.Duration
	// OIDC* configure sign-in through an OpenID Connect provider (with --auth local).
	OIDCIssuer, OIDCClientID, OIDCClientSecret, OIDCRedirectURL string
	OIDCRoleClaim, OIDCRoles, OIDCDefaultRole                   string
	// AdminPassword is COCKPIT_ADMIN_PASSWORD: the first admin's (no flag: a flag would
	// show in the process list).
	AdminPassword string
	// TLSCert and TLSKey name the PEM files of the HTTPS certificate and its key (both
	// or neither; tls.go).
	TLSCert, TLSKey string
	// AllowedHosts are the Host names (comma-separated; host or host:port, "*" for any)
	// the HTTP server answers besides the loopback names and the listen address's host.
	AllowedHosts string
	// StallInterval is the time between stall detector passes; StallMin the floor of a
	// threshold learnt from waiting times.
	StallInterval time.Duration
	StallMin      time.Duration
	// LeaseTTL is how long the outbox relay, the metrics projector and the stall detector
	// take their store leases for (package leadership).
	LeaseTTL time.Duration
	// OperationRate bounds the items of bulk operations this node runs per second (0: no
	// bound); OperationConcurrency how many run at once.
	OperationRate        float64
	OperationConcurrency int
	// IncidentWebhook and IncidentWebhookSecret: where new incident causes are posted
	// (package incidents' Notifier; "" posts nothing) and the key of their signature.
	IncidentWebhook       string
	IncidentWebhookSecret string
	// Observe runs without an engine: the store is a read model of the events every
	// service publishes on NATS (observe.go).
	Observe bool
	// ObserveConsumer names its durable consumer ("": one derived from the store).
	ObserveConsumer string
}

func newServeCommand(getenv func(string) string) (*command, *serveConfig) {
	cfg := &serveConfig{AdminPassword: getenv("COCKPIT_ADMIN_PASSWORD")}
	c := newCommand("serve", "cockpit [serve] [flags]",
		`Runs the engine on the embedded SQLite store in --data-dir (or PostgreSQL with
--database-url), deploys and drives the demo flows (unless --demo=false), and serves the
web cockpit on --addr (http://127.0.0.1:8080 by default: dashboard, processes, instances,
incidents, tasks, live over SSE, actions over NATS) beside a read-only JSON API:

  GET /healthz                      liveness and store check
  GET /readyz                       readiness: store answers, migrations applied
  GET /api/definitions              deployed process definitions
  GET /api/instances                instances, newest first; filters: state (comma-separated:
                                    active,suspended,completed,cancelled),
                                    definition, businessKey, hasIncident, stalled (true or
                                    false: a token waits past its stall threshold), after
                                    (cursor), limit
  GET /api/instances/{id}           one instance with tokens, variables, jobs, incidents,
                                    user tasks and history
  GET /api/incidents                incidents; filters: state, definition, instance, limit
  GET /api/tasks                    user tasks; filters: state, assignee, instance, limit
  GET /api/parked-events            events NATS can never take (too large), set aside by the
                                    outbox relay, newest first; count; filter: limit
  GET /metrics                      Prometheus metrics (outbox backlog, events published, ...)
  /engine-rest/...                  Camunda 7's REST API for its external-task clients and
                                    Camunda Modeler (docs/camunda.md)

Every history event is published on NATS JetStream (docs/events.md): on an embedded
server with its data in <data-dir>/nats, or on --nats-url.

The UI and the API have no authentication: keep --addr on a loopback address (the default) unless a
proxy in front of it checks who is calling. A request naming a Host other than localhost,
127.0.0.1, [::1], the host of --addr or one of --allowed-hosts is refused (421). Ctrl-C
(SIGINT) or SIGTERM stops it cleanly.`,
		getenv)
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_DATA_DIR", "./cockpit-data", "directory for the embedded database (created when missing)")
	c.stringVar(&cfg.Addr, "addr", "COCKPIT_ADDR", "127.0.0.1:8080", "address the HTTP server listens on")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "database to use; empty means embedded SQLite at <data-dir>/cockpit.db; sqlite:PATH names another SQLite file; postgres://user@host/db uses PostgreSQL")
	c.natsFlags(&cfg.NATS)
	c.boolVar(&cfg.Demo, "demo", "COCKPIT_DEMO", true, "deploy the demo flows and start demo orders")
	c.stringVar(&cfg.ObserveConsumer, "observe-consumer", "COCKPIT_OBSERVE_CONSUMER", "", "with --observe: the durable consumer's name on the events stream (empty: cockpit-observer- and a hash of this host and the store, so cockpits with stores of their own have consumers of their own, and nodes sharing a PostgreSQL read model share one); 1 to 64 letters, digits, '-' and '_'")
	c.boolVar(&cfg.Observe, "observe", "COCKPIT_OBSERVE", false, "run without an engine of its own: fold the events every service publishes on NATS into this store (a read model) and show them; no demo, read only (docs/architecture.md, Observing other services)")
	c.floatVar(&cfg.DemoRate, "demo-rate", "COCKPIT_DEMO_RATE", 1, "demo orders started per second")
	c.intVar(&cfg.Workers, "workers", "COCKPIT_WORKERS", 0, "job handlers run at once (0: the engine default, 64)")
	c.intVar(&cfg.JobBatchSize, "job-batch-size", "COCKPIT_JOB_BATCH_SIZE", 0, "jobs locked per fetch at most (0: the engine default, 128)")
	c.intVar(&cfg.DBMaxConns, "db-max-conns", "COCKPIT_DB_MAX_CONNS", 0, "PostgreSQL connection pool size (0: the store default, 10)")
	c.durationVar(&cfg.JobLock, "job-lock-duration", "COCKPIT_JOB_LOCK_DURATION", 0, "how long a fetched job stays locked before another node may run it (0: the engine default, 5m)")
	c.stringVar(&cfg.LogLevel, "log-level", "COCKPIT_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	c.stringVar(&cfg.LogFormat, "log-format", "COCKPIT_LOG_FORMAT", "text", "log format: text or json")
	c.stringVar(&cfg.WebActor, "web-actor", "COCKPIT_WEB_ACTOR", "web", "operator name the audit log records for actions taken in the web UI")
	c.stringVar(&cfg.Auth, "auth", "COCKPIT_AUTH", "none", "who may use the web UI and the JSON API: none (anyone who reaches --addr, acting as --web-actor) or local (users in the store sign in; the first start makes user admin with COCKPIT_ADMIN_PASSWORD, or prints a random password)")
	c.durationVar(&cfg.SessionIdle, "session-idle", "COCKPIT_SESSION_IDLE", auth.DefaultIdle, "with --auth local: a session unused this long ends")
	c.durationVar(&cfg.SessionMaxAge, "session-max-age", "COCKPIT_SESSION_MAX_AGE", auth.DefaultMaxAge, "with --auth local: a session ends this long after sign-in")
	c.stringVar(&cfg.OIDCIssuer, "oidc-issuer", "COCKPIT_OIDC_ISSUER", "", "with --auth local: also sign in through this OpenID Connect provider (its issuer URL)")
	c.stringVar(&cfg.OIDCClientID, "oidc-client-id", "COCKPIT_OIDC_CLIENT_ID", "", "this cockpit's client id at the provider")
	c.stringVar(&cfg.OIDCClientSecret, "oidc-client-secret", "COCKPIT_OIDC_CLIENT_SECRET", "", "its client secret (prefer the environment variable: a flag shows in the process list)")
	c.stringVar(&cfg.OIDCRedirectURL, "oidc-redirect-url", "COCKPIT_OIDC_REDIRECT_URL", "", "the callback registered at the provider: https://<host>/oidc/callback")
	c.stringVar(&cfg.OIDCRoleClaim, "oidc-role-claim", "COCKPIT_OIDC_ROLE_CLAIM", "groups", "the ID token claim (a string or a list) mapped to roles")
	c.stringVar(&cfg.OIDCRoles, "oidc-roles", "COCKPIT_OIDC_ROLES", "", "claim values to roles, e.g. ops=operator,cockpit-admins=admin (the highest of a user's wins)")
	c.stringVar(&cfg.OIDCDefaultRole, "oidc-default-role", "COCKPIT_OIDC_DEFAULT_ROLE", "", "the role of a user none of whose claim values maps (empty: such a user is refused)")
	c.stringVar(&cfg.CommandKey, "command-key", "COCKPIT_COMMAND_KEY", "", "NKey user seed file (nk -gen user) this cockpit signs the commands of its web UI with")
	c.stringVar(&cfg.CommandTrustedKeys, "command-trusted-keys", "COCKPIT_COMMAND_TRUSTED_KEYS", "", "public NKey user keys (U…, comma-separated) whose signed commands this node's command service takes; set, it refuses unsigned commands and the request's actor is the signed one")
	c.boolVar(&cfg.CommandRequireCredentials, "command-require-credentials", "COCKPIT_COMMAND_REQUIRE_CREDENTIALS", false, "refuse NATS commands that carry neither a signature by a trusted key nor an API token (needs --command-key, whose key this node then trusts, so its web UI's commands pass)")
	c.stringVar(&cfg.TLSCert, "tls-cert", "COCKPIT_TLS_CERT", "", "serve HTTPS with this certificate (PEM, the chain after it); needs --tls-key; reloaded when the file changes")
	c.stringVar(&cfg.TLSKey, "tls-key", "COCKPIT_TLS_KEY", "", "the private key (PEM) of --tls-cert")
	c.boolVar(&cfg.TrustProxyUser, "trust-proxy-user", "COCKPIT_TRUST_PROXY_USER", false, "take the web UI operator's name from the X-Forwarded-User header (only behind a proxy that authenticates users and sets it)")
	c.stringVar(&cfg.AllowedHosts, "allowed-hosts", "COCKPIT_ALLOWED_HOSTS", "", "host names the HTTP server answers to, comma-separated (host, or host:port; * for any): besides localhost, 127.0.0.1, [::1] and the host of --addr; a request naming another host gets 421 (DNS rebinding)")
	c.durationVar(&cfg.ShutdownTimeout, "shutdown-timeout", "COCKPIT_SHUTDOWN_TIMEOUT", 30*time.Second, "how long a stop waits for requests and running jobs")
	c.durationVar(&cfg.StallInterval, "stall-interval", "COCKPIT_STALL_INTERVAL", monitor.DefaultStallInterval, "how often the stall detector looks for tokens waiting past their element's threshold")
	c.durationVar(&cfg.LeaseTTL, "lease-ttl", "COCKPIT_LEASE_TTL", leadership.DefaultTTL, "how long the outbox relay, the metrics projector and the stall detector hold their store leases; renewed every third of it, so another node takes over within about this long after the holder died")
	c.floatVar(&cfg.OperationRate, "operation-rate", "COCKPIT_OPERATION_RATE", operation.DefaultRate, "items of bulk operations (retry incidents, cancel, modify and migrate instances) this node runs per second at most, so a bulk action does not take the engine from the flows (0: no bound)")
	c.intVar(&cfg.OperationConcurrency, "operation-concurrency", "COCKPIT_OPERATION_CONCURRENCY", operation.DefaultConcurrency, "items of bulk operations this node runs at once")
	c.durationVar(&cfg.StallMin, "stall-min", "COCKPIT_STALL_MIN", monitor.DefaultStallMin, "the least stall threshold learnt from an element's p99 waiting time (an operator's threshold is used as set)")
	c.stringVar(&cfg.IncidentWebhook, "incident-webhook-url", "COCKPIT_INCIDENT_WEBHOOK_URL", "", "POST a signed JSON notice here when an incident of a new cause (fingerprint) opens; empty sends none")
	c.stringVar(&cfg.IncidentWebhookSecret, "incident-webhook-secret", "COCKPIT_INCIDENT_WEBHOOK_SECRET", "", "key of the notices' HMAC-SHA256 signature (X-Cockpit-Signature); required with --incident-webhook-url")
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
	if cfg.JobBatchSize < 0 || cfg.JobLock < 0 || cfg.DBMaxConns < 0 {
		return errors.New("--job-batch-size, --job-lock-duration and --db-max-conns must not be negative")
	}
	if cfg.Addr == "" {
		return errors.New("--addr is empty")
	}
	if cfg.DataDir == "" {
		return errors.New("--data-dir is empty")
	}
	if err := web.CheckAllowedHosts(splitList(cfg.AllowedHosts)); err != nil {
		return fmt.Errorf("--allowed-hosts: %w", err)
	}
	if err := checkIncidentWebhook(cfg.IncidentWebhook, cfg.IncidentWebhookSecret); err != nil {
		return err
	}
	if cfg.StallInterval < time.Second {
		return fmt.Errorf("--stall-interval %s: use at least 1s", cfg.StallInterval)
	}
	if err := leadership.CheckTTL(cfg.LeaseTTL); err != nil {
		return fmt.Errorf("--lease-ttl: %w", err)
	}
	if cfg.OperationRate < 0 {
		return fmt.Errorf("--operation-rate %v: must not be negative", cfg.OperationRate)
	}
	if cfg.OperationConcurrency < 1 || cfg.OperationConcurrency > operation.MaxConcurrency {
		return fmt.Errorf("--operation-concurrency %d: use 1 to %d", cfg.OperationConcurrency, operation.MaxConcurrency)
	}
	if cfg.StallMin <= 0 {
		return fmt.Errorf("--stall-min %s: must be positive", cfg.StallMin)
	}
	// Trimmed here, once: deploys (recorded by the UI) and commands (whose service trims
	// too) then record the same name.
	cfg.WebActor = strings.TrimSpace(cfg.WebActor)
	if err := commandsvc.CheckActor(cfg.WebActor); err != nil {
		return fmt.Errorf("--web-actor %q: %v", cfg.WebActor, err)
	}
	if err := checkTLSFlags(cfg.TLSCert, cfg.TLSKey); err != nil {
		return err
	}
	if cfg.CommandRequireCredentials && cfg.CommandKey == "" {
		return errors.New("--command-require-credentials needs --command-key: the web UI's own commands must be signed")
	}
	switch cfg.Auth {
	case "none", "local":
	default:
		return fmt.Errorf("--auth %q: use none or local", cfg.Auth)
	}
	if cfg.OIDCIssuer != "" {
		if cfg.Auth != "local" {
			return errors.New("--oidc-issuer needs --auth local")
		}
		if cfg.OIDCClientID == "" || cfg.OIDCRedirectURL == "" {
			return errors.New("--oidc-issuer needs --oidc-client-id and --oidc-redirect-url")
		}
		if _, err := parseOIDCRoles(cfg.OIDCRoles); err != nil {
			return err
		}
		if cfg.OIDCDefaultRole != "" {
			if _, err := auth.ParseRole(cfg.OIDCDefaultRole); err != nil {
				return fmt.Errorf("--oidc-default-role: %v", err)
			}
		}
	}
	if cfg.SessionIdle <= 0 || cfg.SessionMaxAge < cfg.SessionIdle {
		return fmt.Errorf("--session-idle %s and --session-max-age %s: both positive, the idle expiry not longer than the absolute one", cfg.SessionIdle, cfg.SessionMaxAge)
	}
	if cfg.ObserveConsumer != "" {
		if err := bus.CheckService(cfg.ObserveConsumer); err != nil {
			return fmt.Errorf("--observe-consumer %q: %v", cfg.ObserveConsumer, err)
		}
	}
	return cfg.NATS.check()
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
// HTTP server, demo driver, engine (which waits for running handlers), outbox relay
// (which publishes what is left, within the shutdown timeout), NATS connection, embedded
// NATS server, store.
func runServer(ctx context.Context, cfg *serveConfig, log *slog.Logger, ready func(string)) (err error) {
	db, err := storeurl.Resolve(cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	// Everything started below is stopped with this context, detached from ctx (which has
	// ended when we stop) and bounded by the shutdown timeout.
	stopCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	}

	db.MaxConns, db.Log = int32(cfg.DBMaxConns), log
	st, err := db.Open(ctx)
	if err != nil {
		return err
	}
	log.Info("store opened", "dialect", st.Dialect(), "path", db.Path)
	defer func() {
		if cerr := st.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store: %w", cerr))
		}
	}()

	nodeID := newNodeID()
	nr, err := startNATS(ctx, &cfg.NATS, cfg.DataDir, st, nodeID, cfg.LeaseTTL, log)
	if err != nil {
		return err
	}
	defer nr.close(context.WithoutCancel(ctx), log)
	if cfg.Observe {
		return runObserver(ctx, cfg, log, st, observerDurable(cfg.ObserveConsumer, *db), nr, nodeID, ready, stopCtx)
	}
	// The relay starts before the engine and stops after it, so the last commits are
	// published (within the shutdown timeout) before the connection closes.
	if err := nr.relay.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := nr.relay.Stop(sctx); serr != nil {
			log.Error("stop outbox relay", "err", serr)
		}
	}()
	// Models: the bucket is reconciled with the store in the background (what was
	// deployed while NATS was away), and each deployment is published as it commits.
	if err := nr.models.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := nr.models.Stop(sctx); serr != nil {
			log.Error("stop model publisher", "err", serr)
		}
	}()

	// Metrics: the projector folds the history into rollups while this node holds the
	// "metrics" lease. Like the relay it starts before the engine and stops after it.
	mon, proj, stopProj, err := startMetrics(ctx, cfg, st, nodeID, log, stopCtx)
	if err != nil {
		return err
	}
	defer stopProj()

	// OnCommit is one func: compose every listener here. Each must not block.
	onCommit := func(evs []*store.Event) {
		nr.relay.Notify()
		proj.Observe(evs)
	}
	e, err := engine.New(engine.Options{Store: st, Logger: log, Workers: cfg.Workers,
		BatchSize: cfg.JobBatchSize, LockDuration: cfg.JobLock, NodeID: nodeID, OnCommit: onCommit,
		OnDeploy: nr.models.Deployed})
	if err != nil {
		return err
	}
	nr.registry.MustRegister(monitor.NewCollector(monitor.CollectorOptions{Store: st, Executor: e.ExecutorStats, Projector: proj}))
	var driver *demo.Driver
	if cfg.Demo {
		if err := demo.Deploy(ctx, e); err != nil {
			stopEngine(stopCtx, e, log)
			return err
		}
		driver, err = demo.NewDriver(demo.Options{
			Engine: e, Rate: cfg.DemoRate, InvoiceEvery: 20, SagaEvery: 5, Simulation: demo.DefaultSimulation(), Logger: log,
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

	// Bulk operations (package operation): every node works off the stored operations'
	// items; started after the engine, stopped (deferred) before it.
	opx, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: e.Clock(), Owner: nodeID,
		Kinds: []operation.Kind{incidents.RetryOperation(e), operation.CancelInstances(e), operation.ModifyInstances(e), operation.MigrateInstances(e)}, Rate: cfg.OperationRate,
		Concurrency: cfg.OperationConcurrency, Logger: log, OnProgress: commandsvc.OperationProgress(nr.nc, cfg.NATS.Prefix, log)})
	if err != nil {
		return err
	}
	if err := opx.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := opx.Stop(sctx); serr != nil {
			log.Error("stop operation executor", "err", serr)
		}
	}()

	// Sign-in (--auth local): users, sessions and tokens in the store.
	var authSvc *auth.Service
	var sso *auth.OIDC
	if cfg.Auth == "local" {
		if authSvc, sso, err = startAuth(ctx, cfg, e.Store(), log); err != nil {
			return err
		}
	}
	// Command service (request/reply over NATS, docs/commands.md): started after the
	// engine and before the demo, stopped (deferred) before the engine stops. It trusts
	// the listed keys and this cockpit's own (--command-key), and with sign-in takes API
	// tokens.
	signer, err := commandSigner(cfg)
	if err != nil {
		return err
	}
	trusted := splitList(cfg.CommandTrustedKeys)
	if cfg.CommandKey != "" && (len(trusted) > 0 || cfg.CommandRequireCredentials) {
		trusted = append(trusted, signer.PublicKey())
	}
	co := commandsvc.Options{Conn: nr.nc, Engine: e, Prefix: cfg.NATS.Prefix, Service: cfg.NATS.service(), Logger: log,
		TrustedKeys: trusted, RequireCredentials: cfg.CommandRequireCredentials, WakeOperations: opx.Wake}
	if authSvc != nil {
		// With sign-in every command proves its sender: an API token, or a signature by
		// a key of a node of this store (each web UI's), or a listed key.
		co.Tokens, co.KeyLookup, co.RequireCredentials = authSvc.Token, authSvc.NodeKeyTrusted, true
		revoke, err := startNodeKey(ctx, cfg, signer, authSvc, nodeID, log)
		if err != nil {
			return err
		}
		defer revoke()
	}
	cmds, err := commandsvc.Start(ctx, co)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := cmds.Stop(sctx); serr != nil {
			log.Error("stop command service", "err", serr)
		}
	}()

	// Job workers over NATS (docs/workers.md): started after the engine, stopped
	// (deferred) before it, so waiting activations end first.
	wo := workers.Options{Engine: e, Conn: nr.nc, Prefix: cfg.NATS.Prefix, Logger: log}
	if authSvc != nil {
		wo.Authenticate = workerToken(authSvc)
	}
	jobs, err := workers.Start(ctx, wo)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := jobs.Stop(sctx); serr != nil {
			log.Error("stop worker service", "err", serr)
		}
	}()

	// Stall detector (one node at a time holds its lease): started after the engine,
	// stopped (deferred) before the NATS connection closes.
	stalls, err := startStallDetector(ctx, cfg, st, nr, nodeID, mon, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := stalls.Stop(sctx); serr != nil {
			log.Error("stop stall detector", "err", serr)
		}
	}()

	// Incident fingerprints of older rows, then the webhook notices of new causes.
	stopNotifier, err := startIncidentNotifier(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		stopNotifier(sctx)
	}()

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

	// Camunda 7's REST API (/engine-rest): external-task clients and Camunda Modeler.
	// Its commands go through the command service with the web UI's client.
	cmdClient := commandClient(cfg, nr, signer, log)
	rest, err := camunda.New(camunda.Options{Engine: e, Commands: cmdClient, Auth: authSvc, Actor: cfg.WebActor, Logger: log})
	if err != nil {
		return err
	}
	return serveHTTP(ctx, cfg, log, nr, e, web.Options{Commands: cmdClient, Stalls: stalls,
		Metrics: mon, Auth: authSvc, OIDC: sso}, rest, ready, stopCtx)
}

// serveHTTP serves the web UI on e (uiOpts: what differs between serving an engine and
// observing), the JSON API, /metrics and the health checks until ctx ends.
func serveHTTP(ctx context.Context, cfg *serveConfig, log *slog.Logger, nr *natsRuntime, e *engine.Engine, uiOpts web.Options,
	rest *camunda.Server, ready func(string), stopCtx func() (context.Context, context.CancelFunc)) error {
	var certs *certReloader
	if cfg.TLSCert != "" {
		var err error
		if certs, err = newCertReloader(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	mux := http.NewServeMux()
	authSvc := uiOpts.Auth
	if authSvc == nil && cfg.Auth == "local" {
		var err error
		if authSvc, uiOpts.OIDC, err = startAuth(ctx, cfg, e.Store(), log); err != nil {
			_ = ln.Close()
			return err
		}
	}
	mux.Handle("GET /metrics", requireRead(authSvc, nr.metricsHandler()))
	api := newAPI(e, log)
	mux.Handle("/api/", requireRead(authSvc, api))
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	if rest != nil { // an engine's node (an observing cockpit runs no external tasks)
		mux.Handle(camunda.Prefix+"/", rest)
	}
	// The web UI has every other path; its commands go through the command service.
	// Live updates (SSE) come from the same connection's events.
	uiOpts.Engine, uiOpts.Logger, uiOpts.NATS = e, log, nr.nc
	if uiOpts.Prefix == "" { // an observing cockpit's pages follow the folds instead
		uiOpts.Prefix, uiOpts.Subjects = cfg.NATS.Prefix, cfg.NATS.Subjects
	}
	uiOpts.Actor, uiOpts.TrustProxyUser = cfg.WebActor, cfg.TrustProxyUser
	uiOpts.Auth, uiOpts.SecureCookies = authSvc, certs != nil
	ui := web.New(uiOpts)
	if err := ui.Start(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	defer func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := ui.Stop(sctx); serr != nil {
			log.Error("stop live updates", "err", serr)
		}
	}()
	mux.Handle("/", ui)
	srv := &http.Server{
		// Guard is outermost: every answer (UI, API, /metrics, health, errors) carries the
		// security headers, and a request for a host this server does not serve is refused.
		Handler: web.Guard(mux, web.GuardOptions{AllowedHosts: allowedHosts(cfg.AllowedHosts, cfg.Addr, ln.Addr()),
			HSTS: certs != nil}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Live streams last as long as their pages: Shutdown ends them first (the browsers
	// reconnect to the next server), or it would wait for them until its timeout.
	if rest != nil {
		// Waiting fetchAndLock requests (long polls) are answered first, with no tasks.
		srv.RegisterOnShutdown(rest.Stop)
	}
	srv.RegisterOnShutdown(func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := ui.Stop(sctx); serr != nil {
			log.Error("stop live updates", "err", serr)
		}
	})
	served := make(chan error, 1)
	scheme := "http"
	if certs != nil {
		scheme = "https"
		srv.TLSConfig = certs.tlsConfig()
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	addr := ln.Addr().String()
	log.Info("cockpit listening", "url", scheme+"://"+addr, "demo", cfg.Demo)
	if !isLoopback(ln.Addr()) {
		log.Warn("the JSON API has no authentication and listens beyond this machine", "addr", addr)
		if cfg.AllowedHosts == "" {
			log.Warn("only loopback names and the listen address are accepted as Host; name the others with --allowed-hosts", "addr", addr)
		}
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

// startStallDetector starts the stall detector: thresholds learnt from the metrics when
// a source is given (else only operators' thresholds apply), notices on NATS.
func startStallDetector(ctx context.Context, cfg *serveConfig, st store.Store, nr *natsRuntime, nodeID string,
	thresholds monitor.ThresholdSource, log *slog.Logger) (*monitor.StallDetector, error) {
	pub, err := bus.NewStallPublisher(nr.nc, cfg.NATS.subjects())
	if err != nil {
		return nil, err
	}
	d, err := monitor.NewStallDetector(monitor.StallOptions{Store: st, Thresholds: thresholds, Publisher: pub,
		Owner: nodeID, Interval: cfg.StallInterval, Min: cfg.StallMin, LeaseTTL: cfg.LeaseTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func stopEngine(stopCtx func() (context.Context, context.CancelFunc), e *engine.Engine, log *slog.Logger) {
	ctx, cancel := stopCtx()
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		log.Error("stop engine", "err", err)
	}
}

// allowedHosts are the hosts of --allowed-hosts and the listen address's host (unless
// it listens on every address: 0.0.0.0 or :: names no host a browser would use).
func allowedHosts(flag, addr string, listen net.Addr) []string {
	hosts := splitList(flag)
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, host)
		}
	}
	if tcp, ok := listen.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() {
		hosts = append(hosts, tcp.IP.String())
	}
	return hosts
}

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// newNodeID names this process in job locks and the outbox relay lease: the host name
// (so an operator can tell nodes apart) and a random part (so two processes on one host
// differ).
func newNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	return host + "-" + uuid.NewString()[:8]
}

// startMetrics starts the metrics projector (it folds the history into rollups while
// this node holds the "metrics" lease) and returns the monitor that reads them; stop
// stops the projector.
func startMetrics(ctx context.Context, cfg *serveConfig, st store.Store, nodeID string, log *slog.Logger,
	stopCtx func() (context.Context, context.CancelFunc)) (_ *monitor.Monitor, _ *monitor.Projector, stop func(), err error) {
	mon, err := monitor.New(monitor.Options{Store: st})
	if err != nil {
		return nil, nil, nil, err
	}
	proj, err := monitor.NewProjector(monitor.ProjectorOptions{Store: st, Owner: nodeID, LeaseTTL: cfg.LeaseTTL, Logger: log})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := proj.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	return mon, proj, func() {
		sctx, cancel := stopCtx()
		defer cancel()
		if serr := proj.Stop(sctx); serr != nil {
			log.Error("stop metrics projector", "err", serr)
		}
	}, nil
}

// commandClient is the web UI's command client, signing with --command-key when set.
func commandClient(cfg *serveConfig, nr *natsRuntime, signer *commandsvc.Signer, log *slog.Logger) *commandsvc.Client {
	c := commandsvc.NewClient(nr.nc, cfg.NATS.Prefix)
	if signer == nil {
		return c
	}
	log.Info("the web UI signs its commands", "public_key", signer.PublicKey())
	return c.WithSigner(signer)
}

// commandSigner is the web UI's signer: --command-key's, else with --auth local a key of
// this run (its public key is registered in the store: startNodeKey); nil for neither.
func commandSigner(cfg *serveConfig) (*commandsvc.Signer, error) {
	var seed []byte
	switch {
	case cfg.CommandKey != "":
		b, err := os.ReadFile(cfg.CommandKey)
		if err != nil {
			return nil, fmt.Errorf("--command-key: %w", err)
		}
		seed = b
	case cfg.Auth == "local":
		kp, err := nkeys.CreateUser()
		if err == nil {
			seed, err = kp.Seed()
		}
		if err != nil {
			return nil, fmt.Errorf("make this node's command key: %w", err)
		}
	default:
		return nil, nil
	}
	signer, err := commandsvc.NewSigner(seed)
	if err != nil {
		return nil, fmt.Errorf("--command-key %s: %w", cfg.CommandKey, err)
	}
	return signer, nil
}

// startNodeKey registers the web UI's signing key in the store, so that the command
// service of every node of the store trusts it; a key of this run only is revoked when
// the node stops (one of --command-key stays).
func startNodeKey(ctx context.Context, cfg *serveConfig, signer *commandsvc.Signer, svc *auth.Service, node string, log *slog.Logger) (func(), error) {
	id, err := svc.RegisterNodeKey(ctx, signer.PublicKey(), node)
	if err != nil {
		return nil, fmt.Errorf("register this node's command key: %w", err)
	}
	if cfg.CommandKey != "" {
		return func() {}, nil
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := svc.RevokeToken(rctx, id); err != nil {
			log.Warn("revoke this node's command key", "err", err)
		}
	}, nil
}
