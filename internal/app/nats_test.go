package app

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestNATSFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  natsConfig
		want string
	}{
		{natsConfig{Prefix: "a.>", Listen: "127.0.0.1:0", Subjects: 2}, "--nats-prefix"},
		{natsConfig{Prefix: "cockpit", Listen: "127.0.0.1:0", Subjects: 2, URL: "nats://x", TLSCert: "c.pem"}, "go together"},
		{natsConfig{Prefix: "cockpit", Listen: "127.0.0.1:0", Subjects: 2, Creds: "x.creds"}, "need --nats-url"},
		{natsConfig{Prefix: "cockpit", Listen: "localhost", Subjects: 2}, "--nats-listen"},
		{natsConfig{Prefix: "cockpit", Listen: "none", Subjects: 2, Service: "orders.eu"}, "--service"},
		{natsConfig{Prefix: "cockpit", Listen: "none", Subjects: 2, Service: strings.Repeat("s", 65)}, "--service"},
		{natsConfig{Prefix: "cockpit", Listen: "none", Subjects: 3}, "--nats-subjects"},
		{natsConfig{Prefix: "cockpit", Listen: "none", Subjects: 0}, "--nats-subjects"},
	} {
		if err := c.cfg.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	for _, ok := range []natsConfig{
		{Prefix: "cockpit", Listen: "none", Subjects: 2},
		{Prefix: "cockpit", Listen: "none", Subjects: 1, Service: "Orders_eu-1"},
	} {
		if err := ok.check(); err != nil {
			t.Error(err)
		}
	}
	// No --service: the host's name, made one subject token.
	if got := (&natsConfig{}).service(); got != bus.DefaultService() || bus.CheckService(got) != nil {
		t.Errorf("default service %q", got)
	}
}

// TestServeServiceFlags: --service and COCKPIT_SERVICE, --nats-subjects and
// COCKPIT_NATS_SUBJECTS are read and checked by serve.
func TestServeServiceFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"COCKPIT_SERVICE": "orders", "COCKPIT_NATS_SUBJECTS": "1"}
	c, cfg := newServeCommand(func(k string) string { return env[k] })
	if err := c.parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Service != "orders" || cfg.NATS.Subjects != 1 {
		t.Errorf("from the environment: %+v", cfg.NATS)
	}
	c, cfg = newServeCommand(func(string) string { return "" })
	if err := c.parse([]string{"--service", "shipping"}); err != nil {
		t.Fatal(err)
	}
	if cfg.NATS.Service != "shipping" || cfg.NATS.Subjects != bus.SubjectsV2 {
		t.Errorf("from the flags: %+v", cfg.NATS)
	}
	var stderr strings.Builder
	a := &App{Stdout: io.Discard, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := a.Run(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--service", "orders.eu"}); code == exitOK ||
		!strings.Contains(stderr.String(), "--service") || !strings.Contains(stderr.String(), "orders.eu") {
		t.Errorf("a bad --service: exit %d, %s", code, stderr.String())
	}
}

// TestServePublishesService: serve publishes its events on the subjects of its
// --service and the models of its deployments in the models bucket.
func TestServePublishesService(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := embeddedNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("cockpit.events.orders-svc.order.instance.started")
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--demo-rate", "50", "--nats-url", srv.ClientURL(), "--service", "orders-svc")
	defer s.stop()
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no instance.started on the service's subject: %v\n%s", err, s.stderr.String())
	}
	msg, err := bus.DecodeMessage(m.Data)
	if err != nil || msg.Service != "orders-svc" || m.Header.Get(bus.HeaderService) != "orders-svc" {
		t.Errorf("event %+v, header %v: %v", msg, m.Header, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for {
		model, err := bus.FetchModel(ctx, js, bus.DefaultPrefix, "orders-svc", "order", 1)
		if err == nil {
			if model.Name == "" || !strings.Contains(string(model.XML), "BPMNDiagram") {
				t.Errorf("model %+v", model.Name)
			}
			break
		}
		if !errors.Is(err, bus.ErrModelNotFound) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the demo's model was not published:\n%s", s.stderr.String())
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// Serve against the external server of COCKPIT_TEST_NATS_URL, with a prefix (and so
// streams) of its own, removed afterwards.
func TestServeOnExternalNATS(t *testing.T) {
	url := os.Getenv("COCKPIT_TEST_NATS_URL")
	if url == "" {
		t.Skip("COCKPIT_TEST_NATS_URL is not set: skipping serve against an external NATS server")
	}
	t.Parallel()
	prefix := "cockpittest_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := bus.DeleteStreams(context.Background(), js, prefix); err != nil {
			t.Error(err)
		}
	}()

	s := startServer(t, "--demo-rate", "50", "--nats-url", url, "--nats-prefix", prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, bus.EventsStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no demo event reached %s:\n%s", bus.EventsStream(prefix), s.stderr.String())
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
	s.stop()
	if !strings.Contains(s.stderr.String(), "connected to NATS") {
		t.Errorf("log:\n%s", s.stderr.String())
	}
}

// embeddedNATS starts an embedded NATS server with JetStream (a free port, a temporary
// directory), stopped when the test ends.
func embeddedNATS(t *testing.T) *bus.Server {
	t.Helper()
	srv, err := bus.StartEmbedded(context.Background(), bus.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	return srv
}
