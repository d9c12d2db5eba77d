package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// testGroupCommit applies what a group commit does: many commands' Changes in one
// transaction, each under a savepoint, several touching the same instance and the same
// rows, one rolled back. The result must be what applying them one after the other leaves
// (a store may merge the Changes it sends together; see the PostgreSQL store).
func testGroupCommit(t *testing.T, s store.Store) { groupCommit(t, s, false) }

// testGroupCommitWithReads is testGroupCommit with the reads of a group commit between
// the Changes: each command first loads an instance no Change touches (the PostgreSQL
// store sends it ahead of the Changes it holds back), and the rolled-back command reads
// its own write before its rollback (so the store has sent what it held back, the
// rolled-back Change too). The result is the same.
func testGroupCommitWithReads(t *testing.T, s store.Store) { groupCommit(t, s, true) }

func groupCommit(t *testing.T, s store.Store, reads bool) {
	i1 := newInstance("i1", "proc", at(0))
	v := func(version int64, state string) *store.Instance {
		in := *i1
		in.Version, in.State, in.EventSeq = version, state, version
		return &in
	}
	ev := func(id, inst string) *store.Event {
		return &store.Event{ID: id, InstanceID: inst, DefinitionID: "proc:1", DefinitionKey: "proc", Type: "x", Time: at(1)}
	}
	job := func(id string) *store.Job {
		j := newJob(id, store.JobService, "work", at(0))
		j.InstanceID = "i1"
		return j
	}
	steps := []struct {
		change   *store.Change
		rollback bool
	}{
		{change: &store.Change{Instance: v(1, store.InstanceActive), Created: true,
			PutTokens:    []*store.Token{newToken("t1", "i1", "a", at(0))},
			PutVariables: []*store.Variable{variable("i1", "a", `1`), variable("i1", "keep", `"k"`)},
			PutJobs:      []*store.Job{job("j1")},
			Events:       []*store.Event{ev("e1", "i1")}}},
		{change: &store.Change{Instance: v(2, store.InstanceActive),
			DeleteTokens: []string{"t1"}, PutTokens: []*store.Token{newToken("t2", "i1", "b", at(1))},
			DeleteVariables: []store.VariableKey{{Name: "a"}}, PutVariables: []*store.Variable{variable("i1", "b", `2`)},
			DeleteJobs: []string{"j1"}, PutJobs: []*store.Job{job("j2")},
			Events: []*store.Event{ev("e2", "i1")}}},
		// Rolled back: nothing of it may show.
		{rollback: true, change: &store.Change{Instance: v(3, store.InstanceCompleted),
			PutTokens:    []*store.Token{newToken("t1", "i1", "z", at(2))},
			PutVariables: []*store.Variable{variable("i1", "a", `3`)},
			DeleteJobs:   []string{"j2"},
			Events:       []*store.Event{ev("e-gone", "i1")}}},
		{change: &store.Change{Instance: newInstance("i2", "proc", at(1)), Created: true,
			PutTokens: []*store.Token{newToken("u1", "i2", "a", at(1))},
			Events:    []*store.Event{ev("f1", "i2")}}},
		// Deleted and put in one change: present. A job put and deleted in later changes: gone.
		{change: &store.Change{Instance: v(3, store.InstanceActive),
			DeleteTokens: []string{"t2"}, PutTokens: []*store.Token{newToken("t2", "i1", "c", at(3)), newToken("t3", "i1", "d", at(3))},
			PutVariables: []*store.Variable{variable("i1", "b", `20`), variable("i1", "b", `21`)},
			PutJobs:      []*store.Job{job("j3")},
			Events:       []*store.Event{ev("e3", "i1"), ev("e4", "i1")}}},
		{change: &store.Change{Instance: v(4, store.InstanceActive),
			DeleteJobs: []string{"j3"}, DeleteVariables: []store.VariableKey{{Name: "b"}},
			Events: []*store.Event{ev("e5", "i1")}}},
		{change: &store.Change{Instance: v(5, store.InstanceActive),
			PutVariables: []*store.Variable{variable("i1", "b", `22`)},
			Events:       []*store.Event{ev("e6", "i1")}}},
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, st := range steps {
			if err := tx.Savepoint(ctx, "cmd"); err != nil {
				return err
			}
			if reads {
				if _, err := tx.LoadInstance(ctx, "elsewhere"); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("load an instance no change touches: %v, want ErrNotFound", err)
				}
			}
			if err := tx.Apply(ctx, st.change); err != nil {
				return err
			}
			if reads && st.rollback {
				in, err := tx.GetInstance(ctx, "i1")
				if err != nil {
					return err
				}
				if in.State != store.InstanceCompleted {
					return fmt.Errorf("read of the command's own write: state %q, want %q", in.State, store.InstanceCompleted)
				}
			}
			if st.rollback {
				if err := tx.RollbackTo(ctx, "cmd"); err != nil {
					return err
				}
			}
			if err := tx.Release(ctx, "cmd"); err != nil {
				return err
			}
		}
		return nil
	})
	a := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Aggregate, error) { return tx.LoadInstance(ctx, "i1") })
	sortAggregate(a)
	same(t, "instance", a.Instance, v(5, store.InstanceActive))
	same(t, "tokens", ids(a.Tokens, func(x *store.Token) string { return x.ID + "@" + x.ElementID }), []string{"t2@c", "t3@d"})
	same(t, "jobs", jobIDs(a.Jobs), []string{"j2"})
	var vars []string
	for _, x := range a.Variables {
		vars = append(vars, x.Name+"="+string(x.Value))
	}
	slices.Sort(vars)
	same(t, "variables", vars, []string{"b=22", "keep=\"k\""})
	get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) { return tx.GetInstance(ctx, "i2") })
	evs := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) {
		return tx.ListEvents(ctx, store.EventFilter{})
	})
	same(t, "events in order", ids(evs, func(e *store.Event) string { return e.ID }), []string{"e1", "e2", "f1", "e3", "e4", "e5", "e6"})
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("event seqs not ascending: %d then %d", evs[i-1].Seq, evs[i].Seq)
		}
	}
}
