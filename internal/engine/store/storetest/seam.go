package storetest

import (
	"reflect"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// StoreMethods names the methods of interface it whose parameters or results are (or
// are functions of) store.Store or store.Tx. A seam above the engine (the pages' and the
// JSON API's) checks it finds none: a caller that cannot get at the store cannot read
// around the engine's bounded queries.
func StoreMethods(it reflect.Type) []string {
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
