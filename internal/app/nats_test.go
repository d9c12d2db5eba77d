package app

import (
	"context"
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
		{natsConfig{Prefix: "a.>", Listen: "127.0.0.1:0"}, "--nats-prefix"},
		{natsConfig{Prefix: "cockpit", Listen: "127.0.0.1:0", URL: "nats://x", TLSCert: "c.pem"}, "go together"},
		{natsConfig{Prefix: "cockpit", Listen: "127.0.0.1:0", Creds: "x.creds"}, "need --nats-url"},
		{natsConfig{Prefix: "cockpit", Listen: "localhost"}, "--nats-listen"},
	} {
		if err := c.cfg.check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	ok := natsConfig{Prefix: "cockpit", Listen: "none"}
	if err := ok.check(); err != nil {
		t.Error(err)
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
