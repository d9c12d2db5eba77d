package storetest

import (
	"context"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func definition(id, key string, version int) *store.Definition {
	return &store.Definition{
		ID: id, Key: key, Version: version, Name: "Process " + key, Checksum: "sha-" + id,
		Resource: key + ".bpmn", XML: []byte(`<definitions id="` + id + `"/>`), DeployedAt: at(float64(version)),
	}
}

func testDefinitions(t *testing.T, s store.Store) {
	order1, order2, invoice1 := definition("order:1", "order", 1), definition("order:2", "order", 2), definition("invoice:1", "invoice", 1)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, d := range []*store.Definition{order1, order2, invoice1} {
			if err := tx.InsertDefinition(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	same(t, "GetDefinition", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.GetDefinition(ctx, "order:1")
	}), order1)
	same(t, "LatestDefinition", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.LatestDefinition(ctx, "order")
	}), order2)
	same(t, "DefinitionByVersion", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.DefinitionByVersion(ctx, "order", 1)
	}), order1)

	list := func(f store.DefinitionFilter) []*store.Definition {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Definition, error) { return tx.ListDefinitions(ctx, f) })
	}
	// Ordered by key, then version.
	same(t, "ListDefinitions all", list(store.DefinitionFilter{}), []*store.Definition{invoice1, order1, order2})
	same(t, "ListDefinitions latest", list(store.DefinitionFilter{LatestOnly: true}), []*store.Definition{invoice1, order2})
	same(t, "ListDefinitions key", list(store.DefinitionFilter{Key: "order"}), []*store.Definition{order1, order2})
	same(t, "ListDefinitions key latest", list(store.DefinitionFilter{Key: "order", LatestOnly: true}), []*store.Definition{order2})
	same(t, "ListDefinitions unknown key", list(store.DefinitionFilter{Key: "nope"}), []*store.Definition{})

	// A later version deployed in another transaction becomes the latest.
	order3 := definition("order:3", "order", 3)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertDefinition(ctx, order3) })
	same(t, "LatestDefinition after redeploy", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.LatestDefinition(ctx, "order")
	}), order3)
}

func testDefinitionDuplicate(t *testing.T, s store.Store) {
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.InsertDefinition(ctx, definition("a:1", "a", 1))
	})
	ctx := t.Context()
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, definition("other-id", "a", 1)) })
	wantErr(t, err, store.ErrDuplicate, "same key and version")
	err = s.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, definition("a:1", "a", 2)) })
	wantErr(t, err, store.ErrDuplicate, "same id")
	// The failed writes left nothing behind.
	ds := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Definition, error) {
		return tx.ListDefinitions(ctx, store.DefinitionFilter{})
	})
	if len(ds) != 1 {
		t.Fatalf("definitions after failed inserts: got %d, want 1", len(ds))
	}
}
