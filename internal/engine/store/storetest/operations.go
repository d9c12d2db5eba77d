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

func newOperation(id string, created time.Time, targets ...string) (*store.Operation, []*store.OperationItem) {
	op := &store.Operation{ID: id, Kind: "instance.cancel", Actor: "ann", Reason: "cleanup", RequestID: "r-" + id,
		Selection: "process order", Params: json.RawMessage(`{"reason":"cleanup"}`), State: store.OperationRunning,
		Total: len(targets), CreatedAt: created}
	items := make([]*store.OperationItem, len(targets))
	for i, tg := range targets {
		items[i] = &store.OperationItem{Target: tg, InstanceID: "i-" + tg, DefinitionKey: "order", ElementID: "pay"}
	}
	return op, items
}

func testOperations(t *testing.T, s store.Store) {
	ctx := t.Context()
	op, items := newOperation("op1", at(1), "a", "b", "c", "d", "e")
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertOperation(ctx, op, items) })
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertOperation(ctx, op, nil) })
	wantErr(t, err, store.ErrDuplicate, "duplicate operation id")
	older, olderItems := newOperation("op0", at(0), "z")
	older.Kind, older.Actor = "incident.retry", "bob"
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertOperation(ctx, older, olderItems) })

	getOp := func(id string) *store.Operation {
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.Operation, error) { return tx.GetOperation(ctx, id) })
	}
	same(t, "GetOperation", getOp("op1"), op)
	err = s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetOperation(ctx, "nope"); return err })
	wantErr(t, err, store.ErrNotFound, "GetOperation of an unknown id")
	list := func(f store.OperationFilter) []string {
		ops := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Operation, error) { return tx.ListOperations(ctx, f) })
		return ids(ops, func(o *store.Operation) string { return o.ID })
	}
	same(t, "ListOperations", list(store.OperationFilter{}), []string{"op1", "op0"})
	same(t, "ListOperations kind", list(store.OperationFilter{Kind: "incident.retry"}), []string{"op0"})
	same(t, "ListOperations actor", list(store.OperationFilter{Actor: "ann", State: store.OperationRunning}), []string{"op1"})
	same(t, "ListOperations limit", list(store.OperationFilter{Limit: 1}), []string{"op1"})

	itemList := func(f store.OperationItemFilter) []*store.OperationItem {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.OperationItem, error) {
			return tx.ListOperationItems(ctx, f)
		})
	}
	targets := func(its []*store.OperationItem) []string {
		return ids(its, func(it *store.OperationItem) string { return it.Target })
	}
	all := itemList(store.OperationItemFilter{OperationID: "op1", AfterSeq: -1})
	same(t, "ListOperationItems", all, items)
	same(t, "ListOperationItems after", targets(itemList(store.OperationItemFilter{OperationID: "op1", AfterSeq: 1, Limit: 2})),
		[]string{"c", "d"})

	claim := func(owner string, now float64, n int) []string {
		var got []*store.OperationItem
		write(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			got, err = tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: "op1", Owner: owner, Now: at(now), Until: at(now + 10), Limit: n})
			return err
		})
		for _, it := range got {
			if it.Owner != owner || it.LockedUntil == nil || !it.LockedUntil.Equal(at(now+10)) {
				t.Fatalf("claimed item %d: owner %q until %v, want %q until %v", it.Seq, it.Owner, it.LockedUntil, owner, at(now+10))
			}
		}
		return targets(got)
	}
	finish := func(seq int, owner, state string, now float64) error {
		return s.Write(ctx, func(tx store.Tx) error {
			return tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: "op1", Seq: seq, Owner: owner, State: state,
				Code: map[bool]string{true: "invalid_state"}[state == store.ItemFailed], At: at(now)})
		})
	}
	same(t, "claim by A", claim("A", 10, 2), []string{"a", "b"})
	same(t, "claim by B", claim("B", 11, 2), []string{"c", "d"})
	if err := finish(0, "A", store.ItemOK, 12); err != nil {
		t.Fatal(err)
	}
	wantErr(t, finish(0, "A", store.ItemOK, 12), store.ErrLostItem, "a second outcome")
	wantErr(t, finish(2, "A", store.ItemOK, 12), store.ErrLostItem, "an outcome for another owner's item")
	// B's lock on c and d runs out at 21; A, whose lock on b also ran out, takes all three
	// and e. A lock that nobody took over is still its owner's.
	if err := finish(3, "B", store.ItemFailed, 22); err != nil {
		t.Fatalf("an outcome under an expired lock nobody took over: %v", err)
	}
	same(t, "claim after expiry", claim("A", 22, 10), []string{"b", "c", "e"})
	wantErr(t, finish(2, "B", store.ItemOK, 23), store.ErrLostItem, "an outcome under a lock taken over")
	same(t, "claim while all are held", claim("B", 23, 10), []string(nil))
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ReleaseOperationItems(ctx, "op1", "A") })
	same(t, "claim after release", claim("B", 24, 1), []string{"b"})
	same(t, "claim the rest", claim("A", 24, 10), []string{"c", "e"})

	counts := get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) {
		return tx.CountOperationItems(ctx, "op1")
	})
	same(t, "CountOperationItems", counts, map[string]int{store.ItemOK: 1, store.ItemFailed: 1, store.ItemPending: 3})
	done := func(now float64) bool {
		var ok bool
		write(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			ok, err = tx.CompleteOperation(ctx, "op1", at(now))
			return err
		})
		return ok
	}
	if done(25) {
		t.Fatal("CompleteOperation ended an operation with pending items")
	}
	for _, f := range []struct {
		seq   int
		owner string
	}{{1, "B"}, {2, "A"}, {4, "A"}} {
		if err := finish(f.seq, f.owner, store.ItemOK, 26); err != nil {
			t.Fatal(err)
		}
	}
	if !done(27) {
		t.Fatal("CompleteOperation did not end an operation without pending items")
	}
	if done(28) {
		t.Fatal("CompleteOperation ended an operation twice")
	}
	got := getOp("op1")
	if got.State != store.OperationCompleted || got.Succeeded != 4 || got.Failed != 1 || got.Skipped != 0 ||
		got.FinishedAt == nil || !got.FinishedAt.Equal(at(27)) {
		t.Fatalf("completed operation: %+v", got)
	}
	err = s.Write(ctx, func(tx store.Tx) error { return tx.CancelOperation(ctx, "op1", at(29)) })
	wantErr(t, err, store.ErrConflict, "cancel of a completed operation")
	err = s.Write(ctx, func(tx store.Tx) error { return tx.CancelOperation(ctx, "nope", at(29)) })
	wantErr(t, err, store.ErrNotFound, "cancel of an unknown operation")
}

// testOperationCancel: a cancelled operation's pending items are skipped, a claimed one
// too, whose outcome is then refused.
func testOperationCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	op, items := newOperation("op", at(1), "a", "b", "c")
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertOperation(ctx, op, items) })
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		got, err := tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: "op", Owner: "A", Now: at(2), Until: at(12), Limit: 2})
		if err == nil && len(got) != 2 {
			err = fmt.Errorf("claimed %d items, want 2", len(got))
		}
		if err == nil {
			err = tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: "op", Seq: 0, Owner: "A", State: store.ItemOK, At: at(3)})
		}
		return err
	})
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.CancelOperation(ctx, "op", at(4)) })
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: "op", Seq: 1, Owner: "A", State: store.ItemOK, At: at(5)})
	})
	wantErr(t, err, store.ErrLostItem, "the outcome of an item its operation's cancel skipped")
	got := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Operation, error) { return tx.GetOperation(ctx, "op") })
	if got.State != store.OperationCancelled || got.Succeeded != 1 || got.Skipped != 2 || got.FinishedAt == nil {
		t.Fatalf("cancelled operation: %+v", got)
	}
	err = s.Write(ctx, func(tx store.Tx) error { return tx.CancelOperation(ctx, "op", at(6)) })
	wantErr(t, err, store.ErrConflict, "a second cancel")
	var claimed []*store.OperationItem
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: "op", Owner: "B", Now: at(20), Until: at(30), Limit: 5})
		return err
	})
	if len(claimed) != 0 {
		t.Fatalf("claimed %d items of a cancelled operation", len(claimed))
	}
}

// testOperationFailingAgain: a retried item has failed again when its place (instance,
// element) has an incident, other than the one retried, opened when or after the retry
// resolved it; the count stops past store.MaxFailingAgain.
func testOperationFailingAgain(t *testing.T, s store.Store) {
	const big = store.MaxFailingAgain + 5
	op := &store.Operation{ID: "op", Kind: "incident.retry", Actor: "ann", State: store.OperationRunning, Total: 5, CreatedAt: at(1)}
	items := []*store.OperationItem{
		{Target: "x1", InstanceID: "i1", ElementID: "pay"},
		{Target: "x2", InstanceID: "i2", ElementID: "pay"},
		{Target: "x3", InstanceID: "i3", ElementID: "pay"},
		{Target: "x4", InstanceID: "i4", ElementID: "pay"},
		{Target: "x5", InstanceID: "i5", ElementID: "pay"},
	}
	many := &store.Operation{ID: "many", Kind: "incident.retry", Actor: "ann", State: store.OperationRunning, Total: big, CreatedAt: at(1)}
	var manyItems []*store.OperationItem
	for i := range big {
		manyItems = append(manyItems, &store.OperationItem{Target: fmt.Sprintf("m%d", i), InstanceID: fmt.Sprintf("mi%d", i), ElementID: "pay"})
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertOperation(ctx, op, items); err != nil {
			return err
		}
		if err := tx.InsertOperation(ctx, many, manyItems); err != nil {
			return err
		}
		for _, o := range []struct {
			id string
			n  int
		}{{"op", len(items)}, {"many", big}} {
			if _, err := tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: o.id, Owner: "A", Now: at(2), Until: at(12), Limit: o.n}); err != nil {
				return err
			}
			for seq := range o.n {
				state := store.ItemOK
				if o.id == "op" && seq == 4 {
					state = store.ItemFailed
				}
				if err := tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: o.id, Seq: seq, Owner: "A", State: state, At: at(3)}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	inc := func(id, instance, element string, created, resolved float64) *store.Incident {
		in := &store.Incident{ID: id, InstanceID: instance, TokenID: "t", ElementID: element, DefinitionKey: "order",
			Type: store.IncidentFailedJob, Message: "m", State: store.IncidentOpen, CreatedAt: at(created)}
		if resolved > 0 {
			in.State, in.ResolvedAt = store.IncidentResolved, ptr(at(resolved))
		}
		return in
	}
	incs := []*store.Incident{
		inc("x1", "i1", "pay", 1, 3), // retried, nothing since
		inc("y1", "i1", "pay", 2, 0), // open at the same place, but from before the retry (another token)
		inc("x2", "i2", "pay", 1, 3),
		inc("y2", "i2", "pay", 4, 0), // failing again
		inc("x3", "i3", "pay", 1, 3),
		inc("y3", "i3", "ship", 4, 0), // elsewhere: not this item's place
		inc("x4", "i4", "pay", 1, 3),
		inc("y4", "i4", "pay", 3, 5), // failed again in the retry's own command, resolved since: counts
		inc("x5", "i5", "pay", 1, 0),
		inc("y5", "i5", "pay", 4, 0), // the item failed: not counted
	}
	for i := range big {
		incs = append(incs, inc(fmt.Sprintf("m%d", i), fmt.Sprintf("mi%d", i), "pay", 1, 3),
			inc(fmt.Sprintf("n%d", i), fmt.Sprintf("mi%d", i), "pay", 4, 0))
	}
	apply(t, s, &store.Change{PutIncidents: incs})
	count := func(id string) int {
		return *get(t, s, func(ctx context.Context, tx store.Tx) (*int, error) {
			n, err := tx.CountFailingAgain(ctx, id)
			return &n, err
		})
	}
	n := count("op")
	if n != 2 {
		t.Fatalf("CountFailingAgain = %d, want 2", n)
	}
	if got := count("many"); got != store.MaxFailingAgain+1 {
		t.Fatalf("CountFailingAgain of %d failing again = %d, want it to stop at %d", big, got, store.MaxFailingAgain+1)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.SetFailingAgain(ctx, "op", n, at(5)) })
	got := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Operation, error) { return tx.GetOperation(ctx, "op") })
	if got.FailingAgain != 2 || got.CheckedAt == nil || !got.CheckedAt.Equal(at(5)) {
		t.Fatalf("after SetFailingAgain: %+v", got)
	}
}

// testOperationClaimConcurrent: nodes claiming at once never get the same item.
func testOperationClaimConcurrent(t *testing.T, s store.Store) {
	const n, claimers = 300, 4
	targets := make([]string, n)
	for i := range targets {
		targets[i] = fmt.Sprintf("t%03d", i)
	}
	op, items := newOperation("op", at(1), targets...)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertOperation(ctx, op, items) })
	ctx := t.Context()
	var mu sync.Mutex
	owner := map[int]string{}
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for c := range claimers {
		wg.Go(func() {
			me := fmt.Sprintf("node-%d", c)
			for {
				var got []*store.OperationItem
				err := s.Write(ctx, func(tx store.Tx) error {
					var err error
					got, err = tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: "op", Owner: me, Now: at(2), Until: at(100), Limit: 7})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					if prev, ok := owner[it.Seq]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("item %d claimed by %s and %s", it.Seq, prev, me)
						return
					}
					owner[it.Seq] = me
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(owner) != n {
		t.Fatalf("claimed %d items, want %d", len(owner), n)
	}
}

func testAuditFilters(t *testing.T, s store.Store) {
	entries := []*store.AuditEntry{
		{ID: "a1", Time: at(1), Actor: "ann", Command: "incident.retry", Target: "inc-1", InstanceID: "i-1", Result: "ok"},
		{ID: "a2", Time: at(2), Actor: "bob", Command: "instance.cancel", Target: "i-1", Result: "not_found"},
		{ID: "a3", Time: at(3), Actor: "ann", Command: "instance.cancel", Target: "i-2", Result: "ok"},
		{ID: "a4", Time: at(3), Actor: "ann", Command: "operation.create", Target: "op-1", Result: store.AuditStarted},
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, a := range entries {
			if err := tx.InsertAudit(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(f store.AuditFilter) []string {
		got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.AuditEntry, error) { return tx.ListAudit(ctx, f) })
		return ids(got, func(a *store.AuditEntry) string { return a.ID })
	}
	same(t, "all", list(store.AuditFilter{}), []string{"a4", "a3", "a2", "a1"})
	same(t, "instance", list(store.AuditFilter{Instance: "i-1"}), []string{"a2", "a1"})
	same(t, "command", list(store.AuditFilter{Command: "instance.cancel"}), []string{"a3", "a2"})
	same(t, "result", list(store.AuditFilter{Result: "ok"}), []string{"a3", "a1"})
	same(t, "time range", list(store.AuditFilter{Since: at(2), Until: at(3)}), []string{"a2"})
	same(t, "before", list(store.AuditFilter{Before: &store.AuditCursor{Time: at(3), ID: "a4"}, Limit: 2}), []string{"a3", "a2"})
	got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.AuditEntry, error) {
		return tx.ListAudit(ctx, store.AuditFilter{Instance: "i-1", Command: "incident.retry"})
	})
	same(t, "instance id kept", got, []*store.AuditEntry{entries[0]})
}
