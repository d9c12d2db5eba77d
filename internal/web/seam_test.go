package web_test

import (
	"reflect"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// TestEngineSeamHasNoStore: the pages see the engine's query API only. No method of
// web.Engine hands out the store or a transaction, nor takes a function of one, so a
// handler cannot read around the engine's bounded queries.
func TestEngineSeamHasNoStore(t *testing.T) {
	for _, m := range storetest.StoreMethods(reflect.TypeFor[web.Engine]()) {
		t.Errorf("web.Engine.%s reaches the store: add a query to the engine instead", m)
	}
}
