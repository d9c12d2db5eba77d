package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// testSignals: signal subscriptions share the subscriptions table with messages and
// never answer a message's FindSubscriptions; SignalSubscriptions pages a name's by id
// in (after, upto]; Apply writes and loads a subscription's kind; broadcast rows
// round-trip and are updated and deleted.
func testSignals(t *testing.T, s store.Store) {
	sub := func(id, instance, kind, name string) *store.Subscription {
		return &store.Subscription{ID: id, Kind: kind, InstanceID: instance, TokenID: "t-" + id, ElementID: "catch",
			DefinitionID: "order:1", DefinitionKey: "order", MessageName: name, CreatedAt: at(1)}
	}
	s1, s2, s3 := sub("s1", "i1", store.SubSignal, "go"), sub("s2", "", store.SubSignal, "go"), sub("s3", "i3", store.SubSignal, "go")
	s4 := sub("s4", "i4", store.SubSignal, "go")
	stop := sub("s5", "i1", store.SubSignal, "stop")
	msg := sub("m1", "i1", store.SubMessage, "go")
	msgStart := sub("m2", "", store.SubMessage, "go")
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, x := range []*store.Subscription{s1, s2, s3, s4, stop, msg, msgStart} {
			if err := tx.PutSubscription(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	page := func(name, after, upto string, limit int) []*store.Subscription {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
			return tx.SignalSubscriptions(ctx, name, after, upto, limit)
		})
	}
	same(t, "first page", page("go", "", "s9", 2), []*store.Subscription{s1, s2})
	same(t, "second page", page("go", "s2", "s9", 2), []*store.Subscription{s3, s4})
	same(t, "bounded by upto", page("go", "", "s3", 10), []*store.Subscription{s1, s2, s3})
	same(t, "other name", page("stop", "", "s9", 10), []*store.Subscription{stop})
	same(t, "no message subscription", page("nope", "", "s9", 10), []*store.Subscription{})
	found := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
		return tx.FindSubscriptions(ctx, "go", "")
	})
	same(t, "a message finds only message subscriptions", byID(found, func(x *store.Subscription) string { return x.ID }),
		[]*store.Subscription{msg, msgStart})
	// Conditional starts: by key and id, never a message's or a signal's.
	c1, c2 := sub("c1", "", store.SubConditional, ""), sub("c2", "", store.SubConditional, "")
	c3 := sub("c3", "", store.SubConditional, "")
	c3.DefinitionKey, c3.DefinitionID = "alpha", "alpha:1"
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, x := range []*store.Subscription{c1, c2, c3} {
			if err := tx.PutSubscription(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	conds := func(key string, limit int) []*store.Subscription {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
			return tx.ConditionalStartSubscriptions(ctx, key, limit)
		})
	}
	same(t, "conditional starts", conds("", 10), []*store.Subscription{c3, c1, c2})
	same(t, "conditional starts of a key", conds("order", 10), []*store.Subscription{c1, c2})
	same(t, "conditional starts, limited", conds("", 1), []*store.Subscription{c3})
	same(t, "no signal is a conditional start", page("", "", "s9", 10), []*store.Subscription{})
	// Signal and conditional starts go with the process's other start subscriptions.
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteStartSubscriptions(ctx, "order") })
	same(t, "after DeleteStartSubscriptions", page("go", "", "s9", 10), []*store.Subscription{s1, s3, s4})
	same(t, "conditional starts after DeleteStartSubscriptions", conds("", 10), []*store.Subscription{c3})

	// Apply writes the kind, and the aggregate loads it.
	in := &store.Instance{ID: "sig-i", DefinitionID: "order:1", DefinitionKey: "order", DefinitionVersion: 1,
		State: store.InstanceActive, Version: 1, StartedAt: at(0)}
	bound := sub("s6", "sig-i", store.SubSignal, "go")
	apply(t, s, &store.Change{Instance: in, Created: true, PutSubs: []*store.Subscription{bound}})
	agg := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Aggregate, error) { return tx.LoadInstance(ctx, "sig-i") })
	same(t, "loaded subscriptions", agg.Subscriptions, []*store.Subscription{bound})

	sig := &store.Signal{ID: "b1", Name: "go", Variables: `{"a":1}`, Upto: "s9", InstanceID: "i1", CreatedAt: at(2)}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertSignal(ctx, sig) })
	getSig := func() (*store.Signal, error) {
		var out *store.Signal
		err := s.Read(context.Background(), func(tx store.Tx) error {
			var err error
			out, err = tx.GetSignal(context.Background(), "b1")
			return err
		})
		return out, err
	}
	got, err := getSig()
	if err != nil {
		t.Fatal(err)
	}
	same(t, "signal", got, sig)
	sig.LastID, sig.Delivered = "s2", 2
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateSignal(ctx, sig) })
	if got, err = getSig(); err != nil {
		t.Fatal(err)
	}
	same(t, "signal after update", got, sig)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSignal(ctx, "b1") })
	if _, err := getSig(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSignal after delete: %v, want ErrNotFound", err)
	}
	err = s.Write(context.Background(), func(tx store.Tx) error { return tx.DeleteSignal(context.Background(), "b1") })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSignal of a deleted signal: %v, want ErrNotFound", err)
	}
}
