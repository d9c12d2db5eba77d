package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// stallFixture: instances of order:1 (active, suspended, completed), one of order:2, and
// tokens that arrived at different times. Token ids name instance and element.
func writeStallFixture(t *testing.T, s store.Store) {
	mk := func(id, def, state string, tokens ...*store.Token) *store.Change {
		in := newInstance(id, "order", at(0))
		in.DefinitionID, in.State = def, state
		return &store.Change{Instance: in, Created: true, PutTokens: tokens}
	}
	tok := func(instance, element string, arrived float64) *store.Token {
		return newToken(instance+"-"+element, instance, element, at(arrived))
	}
	joining := tok("a1", "join", 5)
	joining.State, joining.Flow = store.TokenJoining, "f1"
	apply(t, s,
		mk("a1", "order:1", store.InstanceActive, tok("a1", "pay", 10), tok("a1", "ship", 30), joining),
		mk("a2", "order:1", store.InstanceActive, tok("a2", "pay", 20)),
		mk("s1", "order:1", store.InstanceSuspended, tok("s1", "pay", 1)),
		mk("c1", "order:1", store.InstanceCompleted),
		mk("b1", "order:2", store.InstanceActive, tok("b1", "pay", 1)),
	)
	// a2's token at pay has an open incident; a resolved one on a1's does not count.
	apply(t, s, &store.Change{PutIncidents: []*store.Incident{
		{ID: "x1", InstanceID: "a2", TokenID: "a2-pay", ElementID: "pay", DefinitionKey: "order", Type: store.IncidentFailedJob,
			State: store.IncidentOpen, CreatedAt: at(21)},
		{ID: "x2", InstanceID: "a1", TokenID: "a1-pay", ElementID: "pay", DefinitionKey: "order", Type: store.IncidentFailedJob,
			State: store.IncidentResolved, CreatedAt: at(11), ResolvedAt: ptr(at(12))},
	}})
}

// testWaitingTokens: the tokens of a definition's active instances at the given elements
// that arrived before each element's cutoff (strictly), joining tokens included, with
// whether the token has an open incident; suspended and ended instances and other
// versions are left out.
func testWaitingTokens(t *testing.T, s store.Store) {
	writeStallFixture(t, s)
	waiting := func(def string, cutoffs map[string]time.Time) []*store.WaitingToken {
		t.Helper()
		got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.WaitingToken, error) {
			return tx.WaitingTokens(ctx, def, cutoffs)
		})
		return byID(got, func(w *store.WaitingToken) string { return w.TokenID })
	}
	w := func(instance, element string, arrived float64, incident bool) *store.WaitingToken {
		return &store.WaitingToken{TokenID: instance + "-" + element, InstanceID: instance, ElementID: element,
			Since: at(arrived), Incident: incident}
	}
	same(t, "every element, late cutoffs",
		waiting("order:1", map[string]time.Time{"pay": at(100), "ship": at(100), "join": at(100)}),
		[]*store.WaitingToken{w("a1", "join", 5, false), w("a1", "pay", 10, false), w("a1", "ship", 30, false), w("a2", "pay", 20, true)})
	same(t, "cutoff is exclusive", waiting("order:1", map[string]time.Time{"pay": at(20)}),
		[]*store.WaitingToken{w("a1", "pay", 10, false)})
	same(t, "per-element cutoffs", waiting("order:1", map[string]time.Time{"pay": at(15), "ship": at(31)}),
		[]*store.WaitingToken{w("a1", "pay", 10, false), w("a1", "ship", 30, false)})
	same(t, "other version", waiting("order:2", map[string]time.Time{"pay": at(100)}),
		[]*store.WaitingToken{w("b1", "pay", 1, false)})
	same(t, "no elements", waiting("order:1", nil), []*store.WaitingToken{})
}

func newStall(id, token, instance, def, element string, since float64) *store.Stall {
	return &store.Stall{ID: id, TokenID: token, InstanceID: instance, DefinitionID: def, DefinitionKey: "order",
		ElementID: element, Since: at(since), Threshold: 90 * time.Second, DetectedAt: at(since + 100), State: store.StallOpen}
}

// testStalls: stalls are written, listed newest detection first, cleared once; a token has
// at most one open stall (ErrDuplicate), and a new one after its stall cleared; the
// publication state is kept per stall; pruning removes old, cleared, published rows only.
func testStalls(t *testing.T, s store.Store) {
	writeStallFixture(t, s)
	ctx := t.Context()
	s1 := newStall("st1", "a1-pay", "a1", "order:1", "pay", 10)
	s2 := newStall("st2", "a2-pay", "a2", "order:1", "pay", 20)
	s2.Incident = true
	s3 := newStall("st3", "b1-pay", "b1", "order:2", "pay", 1)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertStalls(ctx, []*store.Stall{s1, s2, s3}) })
	list := func(f store.StallFilter) []*store.Stall {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Stall, error) { return tx.ListStalls(ctx, f) })
	}
	same(t, "all", list(store.StallFilter{}), []*store.Stall{s2, s1, s3})
	same(t, "definition", list(store.StallFilter{DefinitionID: "order:2"}), []*store.Stall{s3})
	same(t, "key and instance", list(store.StallFilter{DefinitionKey: "order", InstanceID: "a1"}), []*store.Stall{s1})
	same(t, "limit", list(store.StallFilter{Limit: 1}), []*store.Stall{s2})

	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.InsertStalls(ctx, []*store.Stall{newStall("st9", "a1-pay", "a1", "order:1", "pay", 10)})
	})
	wantErr(t, err, store.ErrDuplicate, "second open stall of a token")

	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ClearStalls(ctx, []string{"st1", "nope"}, at(200))
	})
	// Clearing again keeps the first time.
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ClearStalls(ctx, []string{"st1"}, at(300)) })
	s1.State, s1.ClearedAt = store.StallCleared, ptr(at(200))
	same(t, "open", list(store.StallFilter{State: store.StallOpen}), []*store.Stall{s2, s3})
	same(t, "cleared", list(store.StallFilter{State: store.StallCleared}), []*store.Stall{s1})
	s4 := newStall("st4", "a1-pay", "a1", "order:1", "pay", 10)
	s4.DetectedAt = at(400)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertStalls(ctx, []*store.Stall{s4}) })

	// Publication: every row whose state is not yet published, oldest detection first.
	unpublished := func(n int) []*store.Stall {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Stall, error) { return tx.UnpublishedStalls(ctx, n) })
	}
	same(t, "unpublished", unpublished(10), []*store.Stall{s3, s1, s2, s4})
	same(t, "unpublished limit", unpublished(2), []*store.Stall{s3, s1})
	mark := func(id, state string) {
		t.Helper()
		write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.MarkStallPublished(ctx, id, state) })
	}
	mark("st3", store.StallOpen)
	mark("st1", store.StallOpen) // published as detected; its clearing is still to go
	s3.Published, s1.Published = store.StallOpen, store.StallOpen
	same(t, "unpublished after marks", unpublished(10), []*store.Stall{s1, s2, s4})
	mark("st1", store.StallCleared)
	s1.Published = store.StallCleared
	same(t, "unpublished after the clearing", unpublished(10), []*store.Stall{s2, s4})
	err = s.Write(ctx, func(tx store.Tx) error { return tx.MarkStallPublished(ctx, "nope", store.StallOpen) })
	wantErr(t, err, store.ErrNotFound, "mark an unknown stall")

	// Prune: st1 is cleared and published before 250; a cleared, unpublished one stays.
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ClearStalls(ctx, []string{"st2"}, at(210)) })
	s2.State, s2.ClearedAt = store.StallCleared, ptr(at(210))
	var pruned int64
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		pruned, err = tx.PruneStalls(ctx, at(250))
		return err
	})
	if pruned != 1 {
		t.Fatalf("pruned %d stalls, want 1", pruned)
	}
	same(t, "after prune", list(store.StallFilter{}), []*store.Stall{s4, s2, s3})

	for name, fn := range map[string]func(ctx context.Context, tx store.Tx) error{
		"InsertStalls":       func(ctx context.Context, tx store.Tx) error { return tx.InsertStalls(ctx, []*store.Stall{s1}) },
		"ClearStalls":        func(ctx context.Context, tx store.Tx) error { return tx.ClearStalls(ctx, []string{"st4"}, at(1)) },
		"MarkStallPublished": func(ctx context.Context, tx store.Tx) error { return tx.MarkStallPublished(ctx, "st4", "open") },
		"PruneStalls": func(ctx context.Context, tx store.Tx) error {
			_, err := tx.PruneStalls(ctx, at(1000))
			return err
		},
	} {
		if err := s.Read(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err == nil {
			t.Errorf("%s in a read transaction succeeded", name)
		}
	}
}

// testStallCounts: the counts and the Stalled instance filter see the open stalls whose
// token still stands where it stalled (same element, same arrival) in an active instance;
// a token that moved on, arrived again, or whose instance was suspended is not counted
// even before the detector clears its stall.
func testStallCounts(t *testing.T, s store.Store) {
	writeStallFixture(t, s)
	// More active instances of order:1, one stalled, for the paging of the filter.
	var more []*store.Change
	for i := range 5 {
		id := fmt.Sprintf("p%d", i)
		in := newInstance(id, "order", at(float64(10+i)))
		in.DefinitionID = "order:1"
		more = append(more, &store.Change{Instance: in, Created: true, PutTokens: []*store.Token{newToken(id+"-pay", id, "pay", at(3))}})
	}
	apply(t, s, more...)
	stalls := []*store.Stall{
		newStall("st1", "a1-pay", "a1", "order:1", "pay", 10),
		newStall("st2", "a1-ship", "a1", "order:1", "ship", 30),
		newStall("st3", "a2-pay", "a2", "order:1", "pay", 20),
		newStall("st4", "b1-pay", "b1", "order:2", "pay", 1),
		newStall("st5", "s1-pay", "s1", "order:1", "pay", 1),   // suspended instance
		newStall("st6", "gone", "a2", "order:1", "pay", 1),     // the token is gone
		newStall("st7", "a1-join", "a1", "order:1", "pay", 5),  // the token is elsewhere
		newStall("st8", "p3-pay", "p3", "order:1", "pay", 2),   // it arrived again since
		newStall("st9", "p1-pay", "p1", "order:1", "pay", 3),   // cleared below
		newStall("st10", "p2-pay", "p2", "order:1", "pay", 3),  // current
		newStall("st11", "p4-pay", "p4", "order:1", "pay", 3),  // current
		newStall("st12", "p0-pay", "p0", "order:1", "pay", 3),  // current
		newStall("st13", "p0-pay", "p0", "order:1", "ship", 3), // no such token (below)
	}
	stalls[12].TokenID = "p0-pay-again" // a second token id: one open stall per token
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertStalls(ctx, stalls); err != nil {
			return err
		}
		return tx.ClearStalls(ctx, []string{"st9"}, at(200))
	})
	counts := func(def string) map[string]int {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) { return tx.CountStalls(ctx, def) })
	}
	same(t, "CountStalls order:1", counts("order:1"), map[string]int{"pay": 5, "ship": 1})
	same(t, "CountStalls order:2", counts("order:2"), map[string]int{"pay": 1})
	same(t, "CountStalls all", counts(""), map[string]int{"pay": 6, "ship": 1})
	same(t, "CountStalls unknown", counts("nope"), map[string]int{})
	same(t, "CountStalledInstances", get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) {
		return tx.CountStalledInstances(ctx)
	}), map[string]int{"order": 6})

	list := func(f store.InstanceFilter) *store.InstancePage {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) { return tx.ListInstances(ctx, f) })
	}
	// Newest first: p4 (14), p2 (12), p0 (10), then a1, a2, b1 (all at 0, by id descending).
	page := list(store.InstanceFilter{Stalled: ptr(true), Limit: 4})
	same(t, "stalled, page 1", instanceIDs(page.Instances), []string{"p4", "p2", "p0", "b1"})
	if page.Next == "" {
		t.Fatal("stalled, page 1: no cursor")
	}
	page = list(store.InstanceFilter{Stalled: ptr(true), Limit: 4, After: page.Next})
	same(t, "stalled, page 2", instanceIDs(page.Instances), []string{"a2", "a1"})
	if page.Next != "" {
		t.Fatalf("stalled, page 2: cursor %q on the last page", page.Next)
	}
	same(t, "stalled of one version", instanceIDs(list(store.InstanceFilter{Stalled: ptr(true), DefinitionID: "order:2"}).Instances),
		[]string{"b1"})
	same(t, "not stalled", instanceIDs(list(store.InstanceFilter{Stalled: ptr(false), DefinitionKey: "order"}).Instances),
		[]string{"p3", "p1", "s1", "c1"})
}

// testStallThresholds: operators' thresholds are upserts by (key, element), listed by key
// and element, and deleted (an unknown one is ErrNotFound).
func testStallThresholds(t *testing.T, s store.Store) {
	ctx := t.Context()
	th := func(key, el string, d time.Duration, by string) *store.StallThreshold {
		return &store.StallThreshold{DefinitionKey: key, ElementID: el, Threshold: d, UpdatedAt: at(1), UpdatedBy: by}
	}
	put := func(x *store.StallThreshold) {
		t.Helper()
		write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutStallThreshold(ctx, x) })
	}
	list := func(key string) []*store.StallThreshold {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.StallThreshold, error) {
			return tx.ListStallThresholds(ctx, key)
		})
	}
	same(t, "none", list(""), []*store.StallThreshold{})
	put(th("order", "ship", time.Hour, "ann"))
	put(th("order", "pay", 5*time.Minute, "ann"))
	put(th("invoice", "pay", 1500*time.Millisecond, "bob"))
	changed := th("order", "pay", 7*time.Minute, "bob")
	changed.UpdatedAt = at(2)
	put(changed)
	same(t, "all", list(""), []*store.StallThreshold{th("invoice", "pay", 1500*time.Millisecond, "bob"), changed,
		th("order", "ship", time.Hour, "ann")})
	same(t, "one key", list("order"), []*store.StallThreshold{changed, th("order", "ship", time.Hour, "ann")})
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteStallThreshold(ctx, "order", "pay") })
	same(t, "after delete", list("order"), []*store.StallThreshold{th("order", "ship", time.Hour, "ann")})
	err := s.Write(ctx, func(tx store.Tx) error { return tx.DeleteStallThreshold(ctx, "order", "pay") })
	wantErr(t, err, store.ErrNotFound, "delete an unknown threshold")
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.PutStallThreshold(ctx, th("order", "pay", 0, "ann")) }); err == nil {
		t.Fatal("a zero threshold was accepted")
	}
	if err := s.Read(ctx, func(tx store.Tx) error { return tx.PutStallThreshold(ctx, th("order", "x", time.Second, "ann")) }); err == nil {
		t.Fatal("PutStallThreshold in a read transaction succeeded")
	}
}
