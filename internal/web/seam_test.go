package web_test

import (
	"reflect"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// TestEngineSeamHasNoStore: the pages see the engine's query API only. No method of
// web.Engine hands out the store or a transaction, nor takes a function of one, so a
// handler cannot read around the engine's bounded queries.
func TestEngineSeamHasNoStore(t *testing.T) {
	for _, m := range storeMethods(reflect.TypeFor[web.Engine]()) {
		t.Errorf("web.Engine.%s reaches the store: add a query to the engine instead", m)
	}
}

// storeMethods names the methods of interface it whose parameters or results are (or are
// functions of) store.Store or store.Tx.
func storeMethods(it reflect.Type) []string {
	banned := []reflect.Type{reflect.TypeFor[store.Store](), reflect.TypeFor[store.Tx]()}
	var reaches func(t reflect.Type) bool
	reaches = func(t reflect.Type) bool {
		for _, b := range banned {
			if t == b {
				return true
			}
		}
		if t.Kind() != reflect.Func {
			return false
		}
		for i := range t.NumIn() {
			if reaches(t.In(i)) {
				return true
			}
		}
		for i := range t.NumOut() {
			if reaches(t.Out(i)) {
				return true
			}
		}
		return false
	}
	var out []string
	for i := range it.NumMethod() {
		if m := it.Method(i); reaches(m.Type) {
			out = append(out, m.Name)
		}
	}
	return out
}
