package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// EmbeddedOptions configure StartEmbedded. Zero values take the documented defaults.
type EmbeddedOptions struct {
	// StoreDir is the JetStream store directory (the app uses <data-dir>/nats). Required:
	// events must survive a restart.
	StoreDir string
	// Host is the listen address (default 127.0.0.1: the embedded server has no
	// authentication).
	Host string
	// Port is the client port; 0 or -1 picks a free port (an embedded server never takes
	// a fixed port unless told to).
	Port int
	// DontListen runs the server without a network listener; connect with
	// Server.Connect, which then uses an in-process connection.
	DontListen bool
	// ServerName defaults to "cockpit-embedded".
	ServerName string
	// MaxStore bounds the JetStream file store in bytes (0: the server's default, a share
	// of the free disk).
	MaxStore int64
	// Logger receives the server's notices, warnings and errors (nil: none).
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections (default 10s,
	// or the context's deadline when sooner).
	ReadyTimeout time.Duration
}

// Server is an embedded NATS server with JetStream.
type Server struct {
	ns   *server.Server
	opts EmbeddedOptions
}

// ErrNotReady is returned when an embedded server does not accept connections in time.
var ErrNotReady = errors.New("embedded NATS server not ready")

// StartEmbedded starts a NATS server with JetStream in this process and waits until it
// accepts connections.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("start embedded NATS: StoreDir is required")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = server.RANDOM_PORT // 0 would mean the default port, 4222
	}
	if o.ServerName == "" {
		o.ServerName = "cockpit-embedded"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < o.ReadyTimeout {
		o.ReadyTimeout = max(time.Until(dl), time.Millisecond)
	}
	if err := os.MkdirAll(o.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName:        o.ServerName,
		Host:              o.Host,
		Port:              o.Port,
		DontListen:        o.DontListen,
		JetStream:         true,
		StoreDir:          o.StoreDir,
		JetStreamMaxStore: o.MaxStore,
		NoSigs:            true, // the app owns the signals
		NoLog:             o.Logger == nil,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	if o.Logger != nil {
		ns.SetLoggerV2(serverLogger{o.Logger.With("component", "nats-server")}, false, false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(o.ReadyTimeout) || !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("start embedded NATS in %s: %w within %s", o.StoreDir, ErrNotReady, o.ReadyTimeout)
	}
	return &Server{ns: ns, opts: o}, nil
}

// ClientURL is the URL clients connect to (empty when the server does not listen).
func (s *Server) ClientURL() string {
	if s.opts.DontListen {
		return ""
	}
	return s.ns.ClientURL()
}

// Port is the client port the server listens on (0 when it does not listen).
func (s *Server) Port() int {
	if s.opts.DontListen {
		return 0
	}
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Connect opens a client connection to the embedded server: in-process when it does not
// listen, otherwise over its URL with the reconnect-forever options of Connect (so a
// connection outlives a restart of the server on the same port).
func (s *Server) Connect(ctx context.Context, name string) (*nats.Conn, error) {
	if s.opts.DontListen {
		nc, err := nats.Connect("", append(baseOptions(name, nil), nats.InProcessServer(s.ns))...)
		if err != nil {
			return nil, fmt.Errorf("connect to embedded NATS: %w", err)
		}
		return nc, nil
	}
	return Connect(ctx, ConnectOptions{URL: s.ClientURL(), Name: name})
}

// Stop shuts the server down and waits until it has (or ctx ends). Clients see a
// disconnect; JetStream data stays in StoreDir.
func (s *Server) Stop(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop embedded NATS: %w", ctx.Err())
	}
}

// serverLogger adapts slog to the server's logger. Debug and trace are off (the server
// is told so), Fatalf is logged as an error: the server shuts itself down after it.
type serverLogger struct{ l *slog.Logger }

func (g serverLogger) Noticef(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g serverLogger) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g serverLogger) Fatalf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g serverLogger) Errorf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g serverLogger) Debugf(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g serverLogger) Tracef(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
