package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestHistory: a running relay's node answers history requests for its service: one
// instance's events after a position, the whole store's page by page in commit order
// (every event once), a refusal for an unknown instance or a bad request, and "not
// answering" for a service no node runs.
func TestHistory(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		f := newFlow(t)
		nc := tg.connect(t)
		r := newTestRelayOpts(t, f, nc, RelayOptions{Prefix: tg.prefix, Owner: "node-a", Service: "orders"})
		ctx := deadline(t, 30*time.Second)
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopRelay(t, r) })
		f.start(12)
		waitFor(t, ctx, "every instance ended", func() bool { return f.endedCount() == 12 })
		all := f.history(t)
		client := tg.connect(t)
		ask := func(req HistoryRequest) (*HistoryReply, error) {
			var rep *HistoryReply
			var err error
			// The endpoint is added just after the relay starts: wait for it to answer.
			waitFor(t, ctx, "a history answer", func() bool {
				rep, err = RequestHistory(ctx, client, tg.prefix, "orders", req, 2*time.Second)
				return !errors.Is(err, ErrHistoryNotAnswering)
			})
			return rep, err
		}

		// The whole store, in pages of 5: every event once, in commit order.
		var got []string
		after := int64(0)
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatal("the pages never end")
			}
			rep, err := ask(HistoryRequest{AfterSeq: after, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Events) > 5 || rep.Service != "orders" {
				t.Fatalf("page %+v", rep)
			}
			for _, m := range rep.Events {
				if m.Service != "orders" || m.Schema != SchemaV1 {
					t.Fatalf("event %+v", m)
				}
				got = append(got, m.ID)
			}
			after = rep.Next
			if !rep.More {
				break
			}
		}
		if len(got) != len(all) {
			t.Fatalf("%d events in the pages, %d in the store", len(got), len(all))
		}
		for i, ev := range all {
			if got[i] != ev.ID {
				t.Fatalf("event %d: %s, want %s", i, got[i], ev.ID)
			}
		}

		// One instance after its second event.
		id := all[0].InstanceID
		var want []*store.Event
		for _, ev := range all {
			if ev.InstanceID == id && ev.InstanceSeq > 2 {
				want = append(want, ev)
			}
		}
		rep, err := ask(HistoryRequest{InstanceID: id, AfterInstanceSeq: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.More || len(rep.Events) != len(want) || len(want) == 0 {
			t.Fatalf("instance history: %d events (more %v), want %d", len(rep.Events), rep.More, len(want))
		}
		for i, m := range rep.Events {
			if m.ID != want[i].ID || m.InstanceSeq != want[i].InstanceSeq || m.InstanceID != id {
				t.Fatalf("instance event %d: %+v, want %+v", i, m, want[i])
			}
		}

		// Refusals.
		var he *HistoryError
		if _, err := ask(HistoryRequest{InstanceID: "no-such-instance"}); !errors.As(err, &he) || he.Code != HistoryNotFound {
			t.Errorf("unknown instance: %v", err)
		}
		if _, err := ask(HistoryRequest{Limit: MaxHistoryLimit + 1}); !errors.As(err, &he) || he.Code != HistoryBadRequest ||
			!strings.Contains(err.Error(), "4096") {
			t.Errorf("limit over the bound: %v", err)
		}
		if _, err := ask(HistoryRequest{InstanceID: strings.Repeat("x", MaxHistoryRequestBytes)}); !errors.As(err, &he) ||
			he.Code != HistoryBadRequest || !strings.Contains(err.Error(), "limit") {
			t.Errorf("request over the bound: %v", err)
		}
		if _, err := RequestHistory(ctx, client, tg.prefix, "shipping", HistoryRequest{}, time.Second); !errors.Is(err, ErrHistoryNotAnswering) {
			t.Errorf("a service no node runs: %v", err)
		}
	})
}

// TestHistoryPageBounds: a reply stays under the max payload it is given; an event that
// alone exceeds it comes as its placeholder.
func TestHistoryPageBounds(t *testing.T) {
	f := newFlow(t)
	f.start(3)
	ctx := deadline(t, 20*time.Second)
	waitFor(t, ctx, "every instance ended", func() bool { return f.endedCount() == 3 })
	all := f.history(t)
	rep := answerHistory(f.st, 4096, "orders", []byte(`{"limit": 100}`))
	if rep.Code != "" || !rep.More || len(rep.Events) == 0 || len(rep.Events) >= len(all) {
		t.Fatalf("a 4 KiB reply: code %q, %d of %d events, more %v", rep.Code, len(rep.Events), len(all), rep.More)
	}
	rep = answerHistory(f.st, 1300, "orders", []byte(`{"limit": 1}`))
	if len(rep.Events) != 1 || !strings.Contains(string(rep.Events[0].Data), "omitted") {
		t.Fatalf("an event larger than the reply: %+v", rep.Events)
	}
}
