package sqlite_test

import (
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
)

func benchStore(b *testing.B) store.Store {
	s, _ := open(b)
	return s
}

func BenchmarkApply(b *testing.B) { storetest.BenchmarkApply(b, benchStore) }

func BenchmarkLoadInstance(b *testing.B) { storetest.BenchmarkLoadInstance(b, benchStore) }
