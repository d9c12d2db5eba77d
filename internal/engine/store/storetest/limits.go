package storetest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// noise is n characters that do not compress (a B-tree entry is measured after
// compression: a repeated letter would fit where real data does not).
func noise(seed uint64, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// testLargeValues: keys and names at their limits and large variable values are stored
// and found again by the filters that use them (an index entry of PostgreSQL is limited
// to about 2.7 KB; the stores must index such values in a form that fits).
func testLargeValues(t *testing.T, s store.Store) {
	const valueBytes = 256 << 10 // engine.MaxVariableBytes
	key := noise(1, store.MaxKeyBytes)
	name := noise(2, store.MaxNameBytes)
	big := noise(3, valueBytes-2)
	// A second value that shares all but its last character: the filter must compare
	// whole values, not a prefix.
	near := big[:len(big)-1] + "!"
	obj := `{"blob": "` + noise(4, 64<<10) + `", "n": 1}`

	a, b := newInstance("big-a", "order", at(1)), newInstance("big-b", "order", at(2))
	a.BusinessKey, b.BusinessKey = key, key[:len(key)-1]+"!"
	bigJSON, _ := json.Marshal(big)
	nearJSON, _ := json.Marshal(near)
	sub := &store.Subscription{ID: "big-s", InstanceID: a.ID, TokenID: "big-t", ElementID: name, DefinitionID: "order:1",
		DefinitionKey: "order", MessageName: name, CorrelationKey: key, CreatedAt: at(1)}
	apply(t, s,
		&store.Change{Instance: a, Created: true, PutVariables: []*store.Variable{
			variable(a.ID, "big", string(bigJSON)), variable(a.ID, name, `true`), variable(a.ID, "obj", obj),
		}, PutTokens: []*store.Token{newToken("big-t", a.ID, name, at(1))}, PutSubs: []*store.Subscription{sub}},
		&store.Change{Instance: b, Created: true, PutVariables: []*store.Variable{variable(b.ID, "big", string(nearJSON))}},
	)

	list := func(f store.InstanceFilter) []string {
		page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) { return tx.ListInstances(ctx, f) })
		var ids []string
		for _, in := range page.Instances {
			ids = append(ids, in.ID)
		}
		return ids
	}
	cases := []struct {
		name   string
		filter store.InstanceFilter
		want   string
	}{
		{"business key at the limit", store.InstanceFilter{BusinessKey: key}, "big-a"},
		{"the other business key", store.InstanceFilter{BusinessKey: b.BusinessKey}, "big-b"},
		{"large string value", store.InstanceFilter{VariableName: "big", VariableValue: bigJSON}, "big-a"},
		{"large value differing at its end", store.InstanceFilter{VariableName: "big", VariableValue: nearJSON}, "big-b"},
		{"large object spelled otherwise", store.InstanceFilter{VariableName: "obj", VariableValue: json.RawMessage(strings.ReplaceAll(obj, `": `, `":`))}, "big-a"},
		{"name at the limit", store.InstanceFilter{VariableName: name, VariableValue: json.RawMessage(`true`)}, "big-a"},
		{"waiting at an element id at the limit", store.InstanceFilter{WaitingAt: name}, "big-a"},
	}
	for _, c := range cases {
		if got := list(c.filter); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: %v, want [%s]", c.name, got, c.want)
		}
	}
	subs := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
		return tx.FindSubscriptions(ctx, name, key)
	})
	if len(subs) != 1 || subs[0].ID != sub.ID {
		t.Errorf("FindSubscriptions with a name and key at the limits: %+v", subs)
	}
	got := load(t, s, a.ID)
	found := false
	for _, v := range got.Variables {
		if v.Name == "big" {
			found = true
			if string(v.Value) != string(bigJSON) {
				t.Errorf("large value read back as %d bytes, want %d", len(v.Value), len(bigJSON))
			}
		}
	}
	if !found {
		t.Error("large value not read back: no variable \"big\"")
	}
}

// testOutboxParked: parked events are recorded once, listed newest first and counted, and
// DeleteOutbox moves the queue past them like past published ones.
func testOutboxParked(t *testing.T, s store.Store) {
	mk := func(id string, seq int64) *store.Event {
		return &store.Event{ID: id, InstanceID: "i1", InstanceSeq: seq, DefinitionKey: "order", Type: "step", Time: at(float64(seq))}
	}
	evs := []*store.Event{mk("e1", 1), mk("e2", 2), mk("e3", 3)}
	apply(t, s, &store.Change{Events: evs})
	count := func() int64 {
		return get(t, s, func(ctx context.Context, tx store.Tx) (int64, error) { return tx.CountParked(ctx) })
	}
	if n := count(); n != 0 {
		t.Fatalf("parked before any: %d", n)
	}
	p := &store.ParkedEvent{Seq: evs[0].Seq, ID: "e1", InstanceID: "i1", Type: "step", Bytes: 2 << 20,
		Reason: "too large", Placeholder: true, ParkedAt: at(10)}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ParkOutbox(ctx, []*store.ParkedEvent{p}); err != nil {
			return err
		}
		return tx.DeleteOutbox(ctx, []int64{evs[0].Seq, evs[1].Seq})
	})
	out := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) { return tx.ListOutbox(ctx, 10) })
	same(t, "ListOutbox after parking the head", out, evs[2:])
	// Parking the same event again (a relay that lost its delete) keeps the first row.
	again := *p
	again.Reason = "second"
	q := &store.ParkedEvent{Seq: evs[2].Seq, ID: "e3", InstanceID: "i1", Type: "step", Bytes: 3 << 20,
		Reason: "also too large", ParkedAt: at(11)}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ParkOutbox(ctx, []*store.ParkedEvent{&again, q})
	})
	if n := count(); n != 2 {
		t.Errorf("parked %d, want 2", n)
	}
	list := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.ParkedEvent, error) { return tx.ListParked(ctx, 10) })
	same(t, "ListParked", list, []*store.ParkedEvent{q, p})
	one := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.ParkedEvent, error) { return tx.ListParked(ctx, 1) })
	same(t, "ListParked limit", one, []*store.ParkedEvent{q})
	err := s.Read(t.Context(), func(tx store.Tx) error { return tx.ParkOutbox(t.Context(), []*store.ParkedEvent{q}) })
	if err == nil {
		t.Error("ParkOutbox in a read transaction succeeded")
	}
}
