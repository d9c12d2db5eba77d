package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// natsConfig is the NATS part of `cockpit serve`.
type natsConfig struct {
	URL     string // empty: start the embedded server
	Creds   string
	TLSCA   string
	TLSCert string
	TLSKey  string
	Prefix  string
	// Service names this engine in events, subjects and models ("" : derived from the
	// host name, bus.DefaultService); Subjects is the subject scheme version.
	Service  string
	Subjects int
	// Listen is where the embedded server listens: host:port (port 0: a free one), or
	// "none" for no listener (in-process connections only).
	Listen string
}

func (c *command) natsFlags(cfg *natsConfig) {
	c.stringVar(&cfg.URL, "nats-url", "COCKPIT_NATS_URL", "", "NATS server(s) for events and commands, comma-separated; empty starts an embedded server with its data in <data-dir>/nats")
	c.stringVar(&cfg.Creds, "nats-creds", "COCKPIT_NATS_CREDS", "", "NATS credentials file (user JWT and NKey seed) for --nats-url")
	c.stringVar(&cfg.TLSCA, "nats-tls-ca", "COCKPIT_NATS_TLS_CA", "", "CA certificates (PEM) to verify the NATS server")
	c.stringVar(&cfg.TLSCert, "nats-tls-cert", "COCKPIT_NATS_TLS_CERT", "", "client certificate (PEM) for NATS mutual TLS; needs --nats-tls-key")
	c.stringVar(&cfg.TLSKey, "nats-tls-key", "COCKPIT_NATS_TLS_KEY", "", "client key (PEM) for NATS mutual TLS")
	c.stringVar(&cfg.Prefix, "nats-prefix", "COCKPIT_NATS_PREFIX", bus.DefaultPrefix, "first token of every subject and start of the stream names (cockpit: cockpit.events.> in COCKPIT_EVENTS)")
	c.stringVar(&cfg.Service, "service", "COCKPIT_SERVICE", "", "this engine's service name, in every event, its subjects and the models bucket: 1 to 64 letters, digits, '-' and '_' (empty: the host name's first label, lower case, other characters as '_'); nodes sharing a store should use one name")
	c.intVar(&cfg.Subjects, "nats-subjects", "COCKPIT_NATS_SUBJECTS", bus.DefaultSubjects, "subject scheme version: 2 puts the service after events/incidents/stalls (cockpit.events.<service>.<process>.<type>); 1 is the form without it, for subscribers not yet moved (docs/events.md)")
	c.stringVar(&cfg.Listen, "nats-listen", "COCKPIT_NATS_LISTEN", "127.0.0.1:0", "where the embedded NATS server listens (port 0: a free port, logged at start); none: no listener")
}

func (cfg *natsConfig) check() error {
	if err := bus.CheckPrefix(cfg.Prefix); err != nil {
		return fmt.Errorf("--nats-prefix: %w", err)
	}
	if cfg.Service != "" {
		if err := bus.CheckService(cfg.Service); err != nil {
			return fmt.Errorf("--service: %w", err)
		}
	}
	if err := bus.CheckSubjects(cfg.Subjects); err != nil {
		return fmt.Errorf("--nats-subjects: %w", err)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together")
	}
	if cfg.URL == "" && (cfg.Creds != "" || cfg.TLSCA != "" || cfg.TLSCert != "") {
		return errors.New("--nats-creds and --nats-tls-* need --nats-url (the embedded server uses neither)")
	}
	if _, _, _, err := cfg.listen(); err != nil {
		return err
	}
	return nil
}

// listen splits --nats-listen.
func (cfg *natsConfig) listen() (host string, port int, none bool, err error) {
	if cfg.Listen == "none" {
		return "", 0, true, nil
	}
	h, p, err := net.SplitHostPort(cfg.Listen)
	if err == nil {
		port, err = strconv.Atoi(p)
	}
	if err != nil || port < 0 || port > 65535 {
		return "", 0, false, fmt.Errorf("--nats-listen %q: use host:port (port 0 for a free one) or none", cfg.Listen)
	}
	return h, port, false, nil
}

// service is --service, or the name derived from the host name.
func (cfg *natsConfig) service() string {
	if cfg.Service == "" {
		return bus.DefaultService()
	}
	return cfg.Service
}

// subjects is where this engine publishes.
func (cfg *natsConfig) subjects() bus.Subjects {
	return bus.Subjects{Prefix: cfg.Prefix, Service: cfg.service(), Version: cfg.Subjects}
}

// natsRuntime is the event fabric of a running server: the embedded NATS server (nil
// with --nats-url), the connection, the relay and the metrics registry.
type natsRuntime struct {
	srv      *bus.Server
	nc       *nats.Conn
	relay    *bus.Relay
	models   *bus.ModelPublisher
	registry *prometheus.Registry
}

// startNATS starts the embedded server or connects to --nats-url, creates or updates the
// streams, and makes the relay (started by the caller once the engine exists). On error
// everything it started is stopped again.
func startNATS(ctx context.Context, cfg *natsConfig, dataDir string, st store.Store, nodeID string, leaseTTL time.Duration,
	log *slog.Logger) (_ *natsRuntime, err error) {
	rt := &natsRuntime{}
	defer func() {
		if err != nil {
			rt.close(context.WithoutCancel(ctx), log)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cfg.URL == "" {
		host, port, none, _ := cfg.listen() // checked
		rt.srv, err = bus.StartEmbedded(cctx, bus.EmbeddedOptions{
			StoreDir: filepath.Join(dataDir, "nats"), Host: host, Port: port, DontListen: none, Logger: log,
		})
		if err != nil {
			return nil, err
		}
		if none {
			log.Info("embedded NATS started without a listener", "store", filepath.Join(dataDir, "nats"))
		} else {
			log.Info("embedded NATS started", "url", rt.srv.ClientURL(), "store", filepath.Join(dataDir, "nats"))
		}
		rt.nc, err = rt.srv.Connect(cctx, "cockpit "+nodeID)
	} else {
		rt.nc, err = bus.Connect(cctx, bus.ConnectOptions{
			URL: cfg.URL, Name: "cockpit " + nodeID, CredsFile: cfg.Creds,
			TLSCA: cfg.TLSCA, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Logger: log,
		})
		if err == nil {
			log.Info("connected to NATS", "url", bus.RedactURL(rt.nc.ConnectedUrl()))
		}
	}
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(rt.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if err := bus.EnsureStreams(cctx, js, bus.StreamOptions{Prefix: cfg.Prefix}); err != nil {
		return nil, err
	}
	// The models bucket too, here: created by the publisher's first pass instead, its
	// stream could still be in the making when a short run stops the server.
	if _, err := bus.EnsureModelBucket(cctx, js, bus.StreamOptions{Prefix: cfg.Prefix}); err != nil {
		return nil, err
	}
	rt.relay, err = bus.NewRelay(bus.RelayOptions{Store: st, Conn: rt.nc, Prefix: cfg.Prefix, Service: cfg.service(),
		Subjects: cfg.Subjects, Owner: nodeID, LeaseTTL: leaseTTL, Logger: log})
	if err != nil {
		return nil, err
	}
	rt.models, err = bus.NewModelPublisher(bus.ModelPublisherOptions{Store: st, Conn: rt.nc, Prefix: cfg.Prefix,
		Service: cfg.service(), Logger: log})
	if err != nil {
		return nil, err
	}
	rt.registry = prometheus.NewRegistry()
	rt.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		bus.NewCollector(rt.relay),
	)
	return rt, nil
}

// metricsHandler serves the registry in the Prometheus text format.
func (rt *natsRuntime) metricsHandler() http.Handler {
	return promhttp.HandlerFor(rt.registry, promhttp.HandlerOpts{})
}

// close closes the connection and stops the embedded server (after the relay stopped).
func (rt *natsRuntime) close(ctx context.Context, log *slog.Logger) {
	if rt.nc != nil {
		// Drain would wait for subscriptions the command service already stopped.
		rt.nc.Close()
	}
	if rt.srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := rt.srv.Stop(sctx); err != nil {
			log.Error("stop embedded NATS", "err", err)
		}
	}
}
