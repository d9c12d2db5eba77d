package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/examples/fulfilment"
	"github.com/cockpit-engine/cockpit/internal/bus"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// TestRun runs the program as its command line does, its settings from flags and their
// environment twins: it takes a ship request (once, though it comes twice) and stops
// cleanly when its context ends (as on SIGINT).
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()
	nc, err := fulfilment.Connect(srv.ClientURL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	env := map[string]string{"NATS_URL": srv.ClientURL(), "SHIPPING_DATA_DIR": t.TempDir()}
	var stderr syncBuffer
	rctx, stop := context.WithCancel(t.Context()) // no deadline, as in the program
	defer stop()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, []string{"-service", "shipping-test"}, func(k string) string { return env[k] }, &stderr,
			func() { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var ids []string
	for range 2 {
		m, err := nc.RequestWithContext(ctx, fulfilment.SubjectShip, []byte(`{"orderId": "C-1", "items": 3}`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(m.Data))
	}
	if !strings.Contains(ids[0], `"instanceId"`) || ids[0] != ids[1] {
		t.Errorf("the replies to one request sent twice: %s", ids)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "service=shipping-test") || !strings.Contains(out, "msg=stopped") {
		t.Errorf("the log does not name the service or its stop:\n%s", out)
	}
}

// syncBuffer is a log the program's goroutines write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
