package app

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
)

// TestAPIQueriesHaveNoStore: the JSON API reads through the engine's query API and
// probes (engine.Ping, engine.Ready), never the store: no method of its seam hands out
// the store or a transaction, under any name, nor takes a function of one (the check
// web's TestEngineSeamHasNoStore makes of the pages' seam).
func TestAPIQueriesHaveNoStore(t *testing.T) {
	for _, m := range storetest.StoreMethods(reflect.TypeFor[queries]()) {
		t.Errorf("the JSON API's queries.%s reaches the store: add a query to the engine instead", m)
	}
	// The check itself sees a store however the method is named.
	type leaky interface {
		Backend() store.Store
		InTx(ctx context.Context, fn func(store.Tx) error) error
		Ping(ctx context.Context) error
	}
	if got := storetest.StoreMethods(reflect.TypeFor[leaky]()); !slices.Equal(got, []string{"Backend", "InTx"}) {
		t.Errorf("StoreMethods(leaky) = %v, want [Backend InTx]", got)
	}
}
