// Command orders is the orders service of the fulfilment example: it embeds the Cockpit
// engine (package flow) with its own SQLite store, runs the process "order" (reserve,
// charge, ask shipping to ship, wait until shipped) and talks to the shipping service
// (examples/shipping) by NATS messages. Its engine publishes its events and its model on
// NATS as the service "orders", for an observing cockpit (README, "Several services and
// one cockpit").
//
//	go run ./examples/orders -nats-url nats://127.0.0.1:4222 -demo-orders 3
//	curl -X POST localhost:8081/orders -d '{"items": 2, "amount": 42}'
//	curl localhost:8081/orders/<id>
//
// Every flag has an environment twin (NATS_URL, ORDERS_DATA_DIR, …; -h lists them). It
// stops on SIGINT or SIGTERM: the HTTP server, then the engine (running handlers finish).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/cockpit-engine/cockpit/examples/fulfilment"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "orders:", err)
		}
		os.Exit(1)
	}
}

// shutdownTimeout bounds the stop: requests being served, handlers running.
const shutdownTimeout = 30 * time.Second

// run runs the service until ctx ends. ready, when set, gets the HTTP address once the
// service takes requests.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	natsURL := fs.String("nats-url", env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server (env NATS_URL)")
	dataDir := fs.String("data-dir", env("ORDERS_DATA_DIR", "./orders-data"), "directory of the service's SQLite store (env ORDERS_DATA_DIR)")
	service := fs.String("service", env("ORDERS_SERVICE", "orders"), "service name on NATS (env ORDERS_SERVICE)")
	addr := fs.String("addr", env("ORDERS_ADDR", "127.0.0.1:8081"), "HTTP address of POST /orders and GET /orders/{id} (env ORDERS_ADDR)")
	demo := fs.String("demo-orders", env("ORDERS_DEMO_ORDERS", "0"), "orders to place at start (env ORDERS_DEMO_ORDERS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	n, err := strconv.Atoi(*demo)
	if err != nil || n < 0 {
		return fmt.Errorf("-demo-orders %q: a number of orders, 0 or more", *demo)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	nc, err := fulfilment.Connect(*natsURL, *service, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	orders, err := fulfilment.OpenOrders(ctx, fulfilment.OrdersOptions{DataDir: *dataDir, Service: *service, NATS: nc, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return errors.Join(err, orders.Close(context.WithoutCancel(ctx)))
	}
	srv := &http.Server{Handler: orders.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("orders service started", "service", *service, "http", "http://"+ln.Addr().String(), "nats", nc.ConnectedUrl(), "data", *dataDir)
	if ready != nil {
		ready(ln.Addr().String())
	}
	for i := range n {
		in, err := orders.Place(ctx, fulfilment.Order{Items: i%3 + 1, Amount: float64(10 * (i + 1))})
		if err != nil {
			log.Error("place a demo order", "err", err)
			break
		}
		log.Info("demo order placed", "order", in.BusinessKey, "instance", in.ID)
	}

	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if cerr := orders.Close(sctx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err == nil {
		log.Info("stopped")
	}
	return err
}
