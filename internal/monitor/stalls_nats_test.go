package monitor_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// TestStallNATS: the detector's notices land in the stalls stream through the bus
// publisher; while the server is down the pass leaves them unpublished, and once it is
// back (same port and store) the next pass publishes them, nothing lost or doubled.
func TestStallNATS(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "nats")
	srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	port := srv.Port()
	nc, err := bus.Connect(ctx, bus.ConnectOptions{URL: srv.ClientURL(), Name: t.Name(), ReconnectWait: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Prefix: "cockpit"}); err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewStallPublisher(nc, bus.Subjects{Prefix: "cockpit", Service: "payments"})
	if err != nil {
		t.Fatal(err)
	}
	v.src.set(v.def.ID, "review", time.Minute)
	a := v.start(false)
	d := v.detector(monitor.StallOptions{Publisher: pub})
	v.clock.Advance(2 * time.Minute)
	if res := v.pass(d); res.Opened != 1 || res.Published != 1 {
		t.Fatalf("pass: %+v", res)
	}

	// The server goes away; a stall clears meanwhile.
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.e.CompleteUserTask(v.ctx, v.openTask(a.ID), nil); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	res, err := d.Pass(pctx)
	pcancel()
	if err != nil || res.Cleared != 1 || !res.Unpublished {
		t.Fatalf("pass while NATS is down: %+v %v", res, err)
	}
	if s := v.stalls(store.StallCleared); len(s) != 1 || s[0].Published != store.StallOpen {
		t.Fatalf("the clearing is not waiting for publication: %+v", s)
	}

	srv2, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv2.Stop(context.Background()) })
	v.waitFor("the connection to come back", nc.IsConnected)
	if res := v.pass(d); res.Published != 1 || res.Unpublished {
		t.Fatalf("pass when NATS is back: %+v", res)
	}
	stream, err := js.Stream(ctx, bus.StallsStream("cockpit"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want detected and cleared", info.State.Msgs)
	}
	var types []event.Type
	for seq := uint64(1); seq <= 2; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		m, err := bus.DecodeStallMessage(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != "cockpit.stalls.payments.pay" || m.Service != "payments" || m.InstanceID != a.ID || m.ElementID != "review" || m.ThresholdMs != 60000 {
			t.Fatalf("message %d on %s: %+v", seq, raw.Subject, m)
		}
		types = append(types, m.Type)
	}
	if types[0] != event.StallDetected || types[1] != event.StallCleared {
		t.Fatalf("types %v", types)
	}
}
