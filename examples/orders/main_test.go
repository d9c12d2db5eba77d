package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/examples/fulfilment"
	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// TestRun runs the program as its command line does, its settings from flags and their
// environment twins: it places its demo orders, which shipping ships, serves POST
// /orders, and stops cleanly when its context ends (as on SIGINT).
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()
	quiet := slog.New(slog.DiscardHandler)
	nc, err := fulfilment.Connect(srv.ClientURL(), "shipping", quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	shipping, err := fulfilment.OpenShipping(ctx, fulfilment.ShippingOptions{DataDir: t.TempDir(), Service: "shipping", NATS: nc, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := shipping.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()

	env := map[string]string{"NATS_URL": srv.ClientURL(), "ORDERS_DATA_DIR": t.TempDir(), "ORDERS_DEMO_ORDERS": "2"}
	var stderr syncBuffer
	rctx, stop := context.WithCancel(t.Context()) // no deadline, as in the program
	defer stop()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(rctx, []string{"-addr", "127.0.0.1:0", "-service", "orders-test"}, func(k string) string { return env[k] },
			&stderr, func(addr string) { ready <- addr })
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	res, err := http.Post("http://"+addr+"/orders", "application/json", strings.NewReader(`{"id": "B-1", "items": 1, "amount": 5}`))
	if err != nil {
		t.Fatal(err)
	}
	var placed struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&placed); err != nil || res.StatusCode != http.StatusAccepted || placed.ID != "B-1" {
		t.Fatalf("POST /orders: %d %+v %v", res.StatusCode, placed, err)
	}
	res.Body.Close()
	wait.Within(t, time.Minute, "three orders (two demo orders and B-1) shipped", func() bool {
		p, err := shipping.Engine().Instances(ctx, flow.InstanceQuery{ProcessKey: fulfilment.ShipmentProcessKey,
			States: []flow.State{flow.Completed}})
		return err == nil && len(p.Instances) == 3
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if out := stderr.String(); !strings.Contains(out, "service=orders-test") || !strings.Contains(out, "msg=stopped") {
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
