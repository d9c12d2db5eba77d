package fulfilment

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/app"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestMain checks that no test leaves a goroutine behind: the services, their
// subscriptions, the observing cockpit and the NATS server all stop.
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// TestOrderThroughTwoServicesAndTheCockpit runs what the README's "Several services and
// one cockpit" runs, in one process: a NATS server, the shipping and the orders
// services (each its own engine and SQLite store) and an observing cockpit. An order
// posted to orders is shipped by shipping and fulfilled on orders, and the cockpit, which
// sees the services only through NATS, shows both instances completed. The messages
// between the services, sent again, change nothing.
func TestOrderThroughTwoServicesAndTheCockpit(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()
	obs := startObserver(t, srv.ClientURL())
	defer obs.stop()

	quiet := slog.New(slog.DiscardHandler)
	shipNC := connect(t, srv.ClientURL(), "shipping")
	defer shipNC.Close()
	shipping, err := OpenShipping(ctx, ShippingOptions{DataDir: t.TempDir(), Service: "shipping", NATS: shipNC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeService(t, "shipping", shipping.Close)
	ordersNC := connect(t, srv.ClientURL(), "orders")
	defer ordersNC.Close()
	orders, err := OpenOrders(ctx, OrdersOptions{DataDir: t.TempDir(), Service: "orders", NATS: ordersNC, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer closeService(t, "orders", orders.Close)
	web := httptest.NewServer(orders.Handler())
	defer web.Close()

	res, err := http.Post(web.URL+"/orders", "application/json", strings.NewReader(`{"id": "A-1", "items": 2, "amount": 42}`))
	if err != nil {
		t.Fatal(err)
	}
	var placed struct{ ID, InstanceID string }
	if err := json.NewDecoder(res.Body).Decode(&placed); err != nil || res.StatusCode != http.StatusAccepted || placed.ID != "A-1" {
		t.Fatalf("POST /orders: %d %+v %v", res.StatusCode, placed, err)
	}
	res.Body.Close()
	order, err := orders.Engine().Await(ctx, placed.InstanceID)
	if err != nil || order.State != flow.Completed {
		t.Fatalf("the order: %+v %v", order, err)
	}
	shipment, err := shipping.Shipment(ctx, "A-1")
	if err != nil {
		t.Fatal(err)
	}
	// The order completes once shipping's last job has told it: the shipment completes
	// when that job's completion is committed, a moment later.
	if shipment, err = shipping.Engine().Await(ctx, shipment.ID); err != nil || shipment.State != flow.Completed {
		t.Fatalf("the shipment: %+v %v", shipment, err)
	}
	d, err := orders.Engine().Instance(ctx, order.ID)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := shipping.Engine().Instance(ctx, shipment.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Variables["shipmentInstance"] != shipment.ID || d.Variables["tracking"] == nil ||
		d.Variables["tracking"] != sd.Variables["tracking"] || d.Variables["paymentId"] == nil {
		t.Fatalf("the order's variables %v, the shipment's %v", d.Variables, sd.Variables)
	}
	var got struct{ State string }
	if code := getJSON(t, web.URL+"/orders/A-1", &got); code != http.StatusOK || got.State != "completed" {
		t.Fatalf("GET /orders/A-1: %d %+v", code, got)
	}
	if res, err := http.Post(web.URL+"/orders", "application/json", strings.NewReader(`{"id": "A-1", "items": 1, "amount": 1}`)); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusConflict {
		t.Fatalf("posting order A-1 again: %d", res.StatusCode)
	}

	// The cockpit sees both services' instances, through NATS alone.
	for _, id := range []string{order.ID, shipment.ID} {
		wait.Within(t, time.Minute, "the observing cockpit shows instance "+id+" completed", func() bool {
			var got struct{ Instance struct{ ID, State string } }
			return getJSON(t, obs.base+"/api/instances/"+id, &got) == http.StatusOK && got.Instance.State == "completed"
		})
	}

	// An action on the cockpit goes home: cancelling the completed order through the
	// observer's form reaches the orders service's engine, which refuses it (the
	// observer checks nothing itself) and says why.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Timeout: 10 * time.Second, Jar: jar, Transport: &http.Transport{DisableKeepAlives: true}}
	form := url.Values{"reason": {"customer withdrew"}, "confirm": {"yes"}}
	req, _ := http.NewRequest(http.MethodPost, obs.base+"/instances/"+order.ID+"/cancel", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if res, err := browser.Do(req); err != nil {
		t.Fatal(err)
	} else {
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Cancel instance was refused") ||
			!strings.Contains(string(body), "has ended (completed)") {
			t.Errorf("cancel of the completed order through the cockpit: %d\n%.1000s", res.StatusCode, body)
		}
	}

	// Each message, sent again, is answered with the instance that took it the first time.
	for _, m := range []struct {
		subject string
		msg     any
		want    string
	}{
		{SubjectShip, ShipRequest{OrderID: "A-1", Items: 2}, shipment.ID},
		{SubjectShipped, Shipped{OrderID: "A-1", Tracking: "trk-again"}, order.ID},
	} {
		if id, err := request(ctx, ordersNC, m.subject, m.msg); err != nil || id != m.want {
			t.Errorf("%s again: %q %v, want %q", m.subject, id, err, m.want)
		}
	}
	if _, err := request(ctx, ordersNC, SubjectShipped, Shipped{OrderID: "nobody"}); err == nil {
		t.Error("shipped for an order that does not exist: no error")
	}
	if p, err := shipping.Engine().Instances(ctx, flow.InstanceQuery{ProcessKey: ShipmentProcessKey}); err != nil || len(p.Instances) != 1 {
		t.Errorf("shipments: %+v %v, want one", p, err)
	}
}

func connect(t *testing.T, url, name string) *nats.Conn {
	t.Helper()
	nc, err := Connect(url, name, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func closeService(t *testing.T, name string, close func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := close(ctx); err != nil {
		t.Errorf("close %s: %v", name, err)
	}
}

// client has no keep-alive: no idle connection (and goroutine) outlives a request.
var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return res.StatusCode
}

// observer is a `cockpit serve --observe` run in the test's process.
type observer struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

func startObserver(t *testing.T, natsURL string) *observer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o := &observer{t: t, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	a := &app.App{Stdout: io.Discard, Stderr: o.stderr, Getenv: func(string) string { return "" },
		Ready: func(addr string) { ready <- addr }}
	go func() {
		o.done <- a.Run(ctx, []string{"serve", "--observe", "--nats-url", natsURL, "--addr", "127.0.0.1:0",
			"--data-dir", t.TempDir()})
	}()
	select {
	case addr := <-ready:
		o.base = "http://" + addr
	case code := <-o.done:
		cancel()
		t.Fatalf("cockpit serve --observe exited with %d before listening:\n%s", code, o.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("cockpit serve --observe did not start")
	}
	return o
}

// stop cancels the context as a signal would and waits for Run to return.
func (o *observer) stop() {
	o.t.Helper()
	o.cancel()
	select {
	case code := <-o.done:
		if code != 0 {
			o.t.Errorf("cockpit serve --observe exited with %d:\n%s", code, o.stderr)
		}
	case <-time.After(30 * time.Second):
		o.t.Errorf("cockpit serve --observe did not stop:\n%s", o.stderr)
	}
}

// syncBuffer is an output stream the cockpit's goroutines write while the test reads.
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
