package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func testEvents(t *testing.T, s store.Store) {
	mk := func(id, instance string, seq int64, data string) *store.Event {
		e := &store.Event{ID: id, InstanceID: instance, InstanceSeq: seq, DefinitionID: "order:1", DefinitionKey: "order",
			Type: "step", ElementID: "el-" + id, ElementType: "task", TokenID: "tok", JobID: "job", IncidentID: "inc",
			Time: at(float64(seq))}
		if data != "" {
			e.Data = json.RawMessage(data)
		}
		return e
	}
	first := []*store.Event{mk("e1", "i1", 1, `{"a":1}`), mk("e2", "i2", 1, ""), mk("e3", "i1", 2, `{"list":[1,"x",null]}`)}
	second := []*store.Event{mk("e4", "i2", 2, `{}`), mk("e5", "i1", 3, `{"b": true}`)}
	first[2].JobID = "job-3"
	apply(t, s, &store.Change{Events: first[:2]}, &store.Change{Events: first[2:]})
	apply(t, s, &store.Change{Events: second})

	all := append(append([]*store.Event{}, first...), second...)
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("Seq not increasing in write order: %d then %d", all[i-1].Seq, all[i].Seq)
		}
	}
	list := func(f store.EventFilter) []*store.Event {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) { return tx.ListEvents(ctx, f) })
	}
	same(t, "ListEvents all", list(store.EventFilter{}), all)
	same(t, "ListEvents instance", list(store.EventFilter{InstanceID: "i1"}), []*store.Event{all[0], all[2], all[4]})
	same(t, "ListEvents instance after a position", list(store.EventFilter{InstanceID: "i1", AfterInstanceSeq: all[0].InstanceSeq}),
		[]*store.Event{all[2], all[4]})
	same(t, "ListEvents after", list(store.EventFilter{AfterSeq: all[2].Seq}), all[3:])
	same(t, "ListEvents limit", list(store.EventFilter{Limit: 2}), all[:2])
	same(t, "ListEvents instance after limit", list(store.EventFilter{InstanceID: "i1", AfterSeq: all[0].Seq, Limit: 1}),
		[]*store.Event{all[2]})
	same(t, "ListEvents after the last", list(store.EventFilter{AfterSeq: all[4].Seq}), []*store.Event{})
	same(t, "ListEvents job", list(store.EventFilter{InstanceID: "i1", JobID: "job-3"}), []*store.Event{all[2]})
}

// testEventsCommitOrder: Seq is the commit order. A reader that tails the history by
// AfterSeq while writers commit concurrently must see every event exactly once: an event
// that became visible with a Seq below one already seen would be skipped.
func testEventsCommitOrder(t *testing.T, s store.Store) {
	const writers, perWriter = 4, 25
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.Write(ctx, func(tx store.Tx) error {
					return tx.Apply(ctx, &store.Change{Events: []*store.Event{
						{ID: id + "a", Type: "x", Time: t0}, {ID: id + "b", Type: "x", Time: t0},
					}})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	seen := map[string]bool{}
	var after int64
	// A tight loop, not wait.Until: the tailer must read while the writers commit, and a
	// pause between reads would let the race this test looks for slip by.
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < writers*perWriter*2 {
		if time.Now().After(deadline) {
			t.Fatalf("tailer saw %d of %d events", len(seen), writers*perWriter*2)
		}
		select {
		case err := <-errs:
			t.Fatalf("writer: %v", err)
		default:
		}
		evs := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) {
			return tx.ListEvents(ctx, store.EventFilter{AfterSeq: after, Limit: 7})
		})
		for _, e := range evs {
			if e.Seq <= after {
				t.Fatalf("ListEvents(AfterSeq %d) returned Seq %d", after, e.Seq)
			}
			if seen[e.ID] {
				t.Fatalf("event %s seen twice", e.ID)
			}
			seen[e.ID] = true
			after = e.Seq
		}
	}
	wg.Wait()
	// Nothing left behind the cursor.
	all := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) {
		return tx.ListEvents(ctx, store.EventFilter{})
	})
	if len(all) != len(seen) {
		t.Fatalf("history holds %d events, the tailer saw %d", len(all), len(seen))
	}
}
