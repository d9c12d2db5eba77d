package observer_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestObserverFollowsStream: an engine publishes through its outbox relay to an
// embedded NATS server; an observer with its own store folds the stream into a read
// model that shows every instance as the engine's store does. Stopped and started
// again (another Observer on the same durable consumer), it goes on where it acked.
func TestObserverFollowsStream(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	const prefix = "obstest"
	_, nc, js := natsServer(t, prefix)
	src := openStore(t, "source.db")
	relay := startRelay(t, src, nc, prefix)
	e := sourceOn(t, src, func([]*store.Event) { relay.Notify() })

	dst := openStore(t, "read.db")
	start := func() *observer.Observer {
		ob, err := observer.New(observer.Options{Store: dst, Models: copyModels(src), JS: js, Prefix: prefix, Batch: 7, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return ob
	}
	stop := func(ob *observer.Observer) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ob.Stop(sctx); err != nil {
			t.Fatal(err)
		}
	}
	ob := start()
	ids := drive(t, e)
	total := len(history(t, src))
	wait.For(t, "every event folded", func() bool { return ob.Stats().Applied == int64(total) })
	for _, id := range ids {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
	if st := ob.Stats(); st.Gaps != 0 || st.Stuck != 0 || st.Last.IsZero() {
		t.Errorf("stats %+v", st)
	}
	stop(ob)

	// While no observer runs, more happens; a new one picks up from the acks.
	more := drive(t, e)
	total2 := len(history(t, src))
	ob2 := start()
	wait.For(t, "the rest folded", func() bool { return ob2.Stats().Applied == int64(total2-total) })
	for _, id := range append(ids, more...) {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs after the restart:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
	stop(ob2)

	// A new, empty read model on the same consumer (a new data directory): it starts
	// from the stream's first event, not after what the consumer acked into the other.
	dst = openStore(t, "fresh.db")
	ob3 := start()
	t.Cleanup(func() { stop(ob3) })
	wait.For(t, "everything folded into the fresh store", func() bool { return ob3.Stats().Applied == int64(total2) })
	for _, id := range append(ids, more...) {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs in the fresh store:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
}

// natsServer starts an embedded NATS server (a free port) with the streams of prefix,
// and connects to it; all end with the test.
func natsServer(t testing.TB, prefix string) (*bus.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	ns, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })
	nc, err := ns.Connect(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	return ns, nc, js
}

// startRelay publishes src's events as service "src", until the test ends.
func startRelay(t *testing.T, src store.Store, nc *nats.Conn, prefix string) *bus.Relay {
	t.Helper()
	relay, err := bus.NewRelay(bus.RelayOptions{Store: src, Conn: nc, Prefix: prefix, Service: "src", Owner: "src-1",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = relay.Stop(context.Background()) })
	return relay
}

// TestFoldedPublisher: the events a fold applied are republished under FoldedPrefix in
// subject scheme 2, with their payload, for the observing cockpit's live pages.
func TestFoldedPublisher(t *testing.T) {
	_, nc, _ := natsServer(t, "folded")
	sub, err := nc.SubscribeSync(observer.FoldedPrefix("folded") + ".events.orders.pay.>")
	if err != nil {
		t.Fatal(err)
	}
	p := observer.NewFoldedPublisher(nc, "folded", slog.New(slog.DiscardHandler))
	p.Publish(&observer.Result{Folded: []*bus.Message{{Schema: bus.SchemaV1, Service: "orders", ID: "e1", InstanceID: "i1",
		InstanceSeq: 1, DefinitionKey: "pay", Type: "instance.started", Data: json.RawMessage(`{}`)}}})
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, err := bus.DecodeMessage(m.Data)
	if err != nil || got.ID != "e1" || got.InstanceID != "i1" || m.Subject != "folded.observed.events.orders.pay.instance.started" {
		t.Fatalf("%s %+v %v", m.Subject, got, err)
	}
}
