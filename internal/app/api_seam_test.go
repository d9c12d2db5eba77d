package app

import (
	"reflect"
	"testing"
)

// TestAPIQueriesHaveNoStore: the JSON API reads through the engine's query API and
// probes (engine.Ping, engine.Ready), never the store (web's TestEngineSeamHasNoStore
// checks the pages' seam for any method that reaches a store or a transaction).
func TestAPIQueriesHaveNoStore(t *testing.T) {
	if m, ok := reflect.TypeFor[queries]().MethodByName("Store"); ok {
		t.Errorf("the JSON API's queries reach the store (%s): add a query to the engine instead", m.Name)
	}
}
