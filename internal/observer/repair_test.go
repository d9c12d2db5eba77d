package observer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestObserverRepairsGaps: messages of two instances are gone from the stream — one in
// the middle of an instance (lost), one instance's first events (dropped by retention).
// The observer holds the later events back, asks the owning engine for the instances'
// history and folds it: the read model equals the source. While the engine is down the
// repair fails and is tried again; without repair the gaps stay.
func TestObserverRepairsGaps(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	const prefix = "repair"
	_, nc, js := natsServer(t, prefix)
	src := openStore(t, "source.db")
	relay := startRelay(t, src, nc, prefix)
	e := sourceOn(t, src, func([]*store.Event) { relay.Notify() })
	ids := drive(t, e)
	total := len(history(t, src))
	stream, err := js.Stream(ctx, bus.EventsStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, "every event in the stream", func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == uint64(total)
	})
	// The engine goes down before the messages are lost.
	if err := relay.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	lost, early := ids[0], ids[5]
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		m, err := bus.DecodeMessage(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		if (m.InstanceID == lost && m.InstanceSeq == 3) || (m.InstanceID == early && m.InstanceSeq <= 2) {
			if err := stream.DeleteMsg(ctx, seq); err != nil {
				t.Fatal(err)
			}
			deleted++
		}
	}
	if deleted != 3 {
		t.Fatalf("deleted %d messages", deleted)
	}

	start := func(st store.Store, durable string, noRepair bool) *observer.Observer {
		ob, err := observer.New(observer.Options{Store: st, Models: copyModels(src), JS: js, Prefix: prefix, Logger: log,
			Durable: durable, NoRepair: noRepair, RepairRetry: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := ob.Stop(sctx); err != nil {
				t.Error(err)
			}
		})
		return ob
	}

	// Without repair the instances after the gaps stay behind.
	plain := openStore(t, "plain.db")
	obPlain := start(plain, "plain", true)
	wait.For(t, "the gaps seen", func() bool { st := obPlain.Stats(); return st.Gaps > 0 && st.Applied > 0 })

	// With repair, while the engine is down: the history requests fail.
	dst := openStore(t, "read.db")
	ob := start(dst, "repairing", false)
	wait.For(t, "a failed repair", func() bool { return ob.Stats().RepairFailures > 0 })
	if snapshot(t, src, lost) == snapshot(t, dst, lost) {
		t.Fatal("the instance with a lost message matches the source before any repair")
	}

	// The engine comes back: the repairs go through.
	relay = startRelay(t, src, nc, prefix)
	wait.Within(t, 30*time.Second, "both instances repaired", func() bool { return ob.Stats().Repairs >= 2 })
	wait.For(t, "every event folded", func() bool { return ob.Stats().Applied == int64(total) })
	for _, id := range ids {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Errorf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
	if st := ob.Stats(); st.Stuck != 0 {
		t.Errorf("stats %+v", st)
	}
	if st := obPlain.Stats(); st.Repairs != 0 || st.Applied >= int64(total) {
		t.Errorf("the observer without repair: %+v", st)
	}
	if snapshot(t, src, lost) == snapshot(t, plain, lost) {
		t.Error("the instance with a lost message matches the source without repair")
	}
}
