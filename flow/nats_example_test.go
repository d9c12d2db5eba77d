package flow_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/flow"
)

// A service that names itself and publishes on NATS: every state change is an event on
// cockpit.events.<service>.<process>.<type>, and the deployed model is in the bucket
// COCKPIT_MODELS under <service>/<process>/<version>, for a cockpit that watches many
// services. Here the NATS server runs in the process; a service would connect to its own.
func ExampleOpen_nats() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "flow-nats-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir + "/nats"})
	if err != nil {
		log.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("NATS did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()

	eng, err := flow.Open(ctx, flow.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler),
		Service: "orders", NATS: nc})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(ctx)
	flow.HandleJSON(eng, "payment.charge", func(ctx context.Context, job *flow.Job, in map[string]any) (map[string]any, error) {
		return map[string]any{"charged": true}, nil
	})
	order := flow.Build("order").Start("placed").ServiceTask("charge", flow.JobType("payment.charge")).End("done")
	if _, err := eng.DeployModel(ctx, order); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}

	// Any subscriber: here the completions of the service's orders.
	sub, err := nc.SubscribeSync("cockpit.events.orders.order.instance.completed")
	if err != nil {
		log.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		log.Fatal(err)
	}
	if _, err := eng.StartInstance(ctx, "order", flow.StartOptions{BusinessKey: "order-1"}); err != nil {
		log.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Subject)
	fmt.Println(msg.Header.Get("Cockpit-Service"))
	// Output:
	// cockpit.events.orders.order.instance.completed
	// orders
}
