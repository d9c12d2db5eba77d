package storetest

import (
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func newCompensation(id, instanceID, scope, element, handler string, seq int64) *store.Compensation {
	return &store.Compensation{ID: id, InstanceID: instanceID, ScopeID: scope, ElementID: element, HandlerID: handler,
		Seq: seq, CompletedAt: at(float64(seq))}
}

// testCompensations: compensation rows are written by Apply (puts are upserts, deletes
// by id, across the Changes of one transaction in order), loaded with their instance
// only, and rolled back with a conflicting change.
func testCompensations(t *testing.T, s store.Store) {
	in := newInstance("i1", "order", at(0))
	reserve := newCompensation("i1-c1", "i1", "", "reserve", "release", 3)
	sub := newCompensation("i1-c2", "i1", "", "payment", "", 9)
	sub.InnerScopeID = "i1-t7"
	charge := newCompensation("i1-c3", "i1", "i1-t7", "charge", "refund", 7)
	other := newCompensation("i2-c1", "i2", "", "reserve", "release", 2)
	apply(t, s,
		&store.Change{Instance: in, Created: true, PutCompensations: []*store.Compensation{reserve, sub, charge}},
		&store.Change{Instance: newInstance("i2", "order", at(0)), Created: true, PutCompensations: []*store.Compensation{other}})
	a := load(t, s, "i1")
	same(t, "compensations of i1", a.Compensations, []*store.Compensation{reserve, sub, charge})

	// A throw claims two rows; the next change of the same transaction compensates one
	// (deletes it) and a loop adds another completion, put and deleted in one change
	// (deletes before puts: it stays).
	in2 := *in
	in2.Version = 2
	claimed := *reserve
	claimed.ThrowTokenID, claimed.Position = "i1-t9", 1
	claimedSub := *sub
	claimedSub.ThrowTokenID, claimedSub.Position = "i1-t9", 0
	in3 := in2
	in3.Version = 3
	again := newCompensation("i1-c4", "i1", "", "reserve", "release", 12)
	apply(t, s,
		&store.Change{Instance: &in2, PutCompensations: []*store.Compensation{&claimed, &claimedSub}},
		&store.Change{Instance: &in3, DeleteCompensations: []string{"i1-c2", "i1-c4", "no-such-row"},
			PutCompensations: []*store.Compensation{again}})
	same(t, "compensations after claim", load(t, s, "i1").Compensations, []*store.Compensation{&claimed, charge, again})
	same(t, "compensations of i2", load(t, s, "i2").Compensations, []*store.Compensation{other})

	// A stale change writes none of its rows.
	stale := in3
	stale.Version = 9
	err := s.Write(t.Context(), func(tx store.Tx) error {
		return tx.Apply(t.Context(), &store.Change{Instance: &stale, DeleteCompensations: []string{"i1-c1"},
			PutCompensations: []*store.Compensation{newCompensation("i1-c5", "i1", "", "x", "y", 13)}})
	})
	wantErr(t, err, store.ErrConflict, "Apply with a stale version")
	same(t, "compensations after conflict", load(t, s, "i1").Compensations, []*store.Compensation{&claimed, charge, again})

	// The instance ends: the engine deletes what is left.
	in4 := in3
	in4.Version, in4.State, in4.EndedAt = 4, store.InstanceCompleted, ptr(at(20))
	apply(t, s, &store.Change{Instance: &in4, DeleteCompensations: []string{"i1-c1", "i1-c3", "i1-c4"}})
	same(t, "compensations after the end", load(t, s, "i1").Compensations, []*store.Compensation{})
}
