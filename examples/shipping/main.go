// Command shipping is the shipping service of the fulfilment example: it embeds the
// Cockpit engine (package flow) with its own SQLite store and runs the process
// "shipment" (pack, hand to the carrier, tell orders) for each order the orders service
// (examples/orders) asks it to ship over NATS. Its engine publishes its events and its
// model on NATS as the service "shipping", for an observing cockpit (README, "Several
// services and one cockpit").
//
//	go run ./examples/shipping -nats-url nats://127.0.0.1:4222
//
// Every flag has an environment twin (NATS_URL, SHIPPING_DATA_DIR, SHIPPING_SERVICE; -h
// lists them). It stops on SIGINT or SIGTERM: it takes no more requests, then the engine
// stops (running handlers finish).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cockpit-engine/cockpit/examples/fulfilment"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "shipping:", err)
		}
		os.Exit(1)
	}
}

// shutdownTimeout bounds the stop: the request being answered, handlers running.
const shutdownTimeout = 30 * time.Second

// run runs the service until ctx ends. ready, when set, is called once the service takes
// requests.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func()) error {
	fs := flag.NewFlagSet("shipping", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	natsURL := fs.String("nats-url", env("NATS_URL", "nats://127.0.0.1:4222"), "NATS server (env NATS_URL)")
	dataDir := fs.String("data-dir", env("SHIPPING_DATA_DIR", "./shipping-data"), "directory of the service's SQLite store (env SHIPPING_DATA_DIR)")
	service := fs.String("service", env("SHIPPING_SERVICE", "shipping"), "service name on NATS (env SHIPPING_SERVICE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	nc, err := fulfilment.Connect(*natsURL, *service, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	shipping, err := fulfilment.OpenShipping(ctx, fulfilment.ShippingOptions{DataDir: *dataDir, Service: *service, NATS: nc, Logger: log})
	if err != nil {
		return err
	}
	log.Info("shipping service started", "service", *service, "nats", nc.ConnectedUrl(), "data", *dataDir)
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := shipping.Close(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
