package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectOptions configure Connect to an external NATS server or cluster. Credentials
// may also come in the URL (nats://user:password@host, nats://token@host).
type ConnectOptions struct {
	// URL is one server or a comma-separated list (a cluster's seed servers).
	URL string
	// Name is the connection name shown by the server (default "cockpit").
	Name string
	// CredsFile is a user JWT + NKey seed file (NGS / operator mode).
	CredsFile string
	// NKeyFile is a file with an NKey seed (user NKey authentication).
	NKeyFile string
	User     string
	Password string
	Token    string
	// TLSCA verifies the server with this CA bundle; TLSCert and TLSKey present a client
	// certificate (mutual TLS). Both must be set or neither.
	TLSCA   string
	TLSCert string
	TLSKey  string
	// ReconnectWait is the pause between reconnect attempts (default 1s, with jitter).
	ReconnectWait time.Duration
	// Logger hears about disconnects and reconnects (default slog.Default()).
	Logger *slog.Logger
}

// baseOptions are the options of every Cockpit connection.
//
// A node must survive NATS restarts: the connection reconnects forever. The reconnect
// buffer is off, so a publish while disconnected fails at once instead of being held
// and flushed on reconnect; the relay then keeps the row and publishes it again, in
// order, in a later round (a buffered publish flushed after a retried earlier one would
// overtake it).
func baseOptions(name string, log *slog.Logger) []nats.Option {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectBufSize(-1),
	}
	if log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("NATS disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				log.Info("NATS reconnected", "url", RedactURL(nc.ConnectedUrl()))
			}),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				log.Warn("NATS error", "err", err)
			}),
		)
	}
	return opts
}

// Connect connects to an external NATS server and waits until the first connection is
// made or ctx ends. Once connected it reconnects forever.
func Connect(ctx context.Context, o ConnectOptions) (*nats.Conn, error) {
	if strings.TrimSpace(o.URL) == "" {
		return nil, errors.New("connect to NATS: URL is empty")
	}
	if o.Name == "" {
		o.Name = "cockpit"
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return nil, errors.New("connect to NATS: set both the TLS certificate and key, or neither")
	}
	connected := make(chan struct{})
	var once sync.Once
	opts := append(baseOptions(o.Name, o.Logger),
		nats.ReconnectWait(o.ReconnectWait),
		nats.ReconnectJitter(o.ReconnectWait/4, o.ReconnectWait/4),
		// A server that is down at start-up is retried like a lost connection; the wait
		// below decides how long start-up lets it take.
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(*nats.Conn) { once.Do(func() { close(connected) }) }),
	)
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS: nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", RedactURL(o.URL), err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	select {
	case <-connected:
		return nc, nil
	case <-ctx.Done():
		last := nc.LastError()
		nc.Close()
		if last != nil {
			return nil, fmt.Errorf("connect to NATS %s: %w (last error: %v)", RedactURL(o.URL), ctx.Err(), last)
		}
		return nil, fmt.Errorf("connect to NATS %s: %w", RedactURL(o.URL), ctx.Err())
	}
}

// RedactURL drops credentials from a NATS URL (or a comma-separated list) for logs.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if s := strings.Index(u, "://"); s >= 0 {
			if at := strings.LastIndex(u, "@"); at > s {
				parts[i] = u[:s+3] + "xxxxx" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// LibraryGoroutines names goroutines of nats.go that can outlive a closed connection, for
// leak checks (goleak.IgnoreTopFunction). jetstream's resetPendingAcksOnReconnect reads a
// status channel that the publisher may have set to nil when the connection closed
// first; it then blocks forever (nats.go v1.55.0, publish.go). It holds no resources of
// ours.
var LibraryGoroutines = []string{
	"github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect",
}
