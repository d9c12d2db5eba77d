package storetest_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
)

// TestFaultStore: the wrapper fails the commit it is told to (nothing written), loses
// the one it is told to (written, reported unavailable), refuses Applies, holds a Write
// back until released, and reports Exclusive as its store does unless Shared. On SQLite,
// and on PostgreSQL when the README's test database variable is set.
func TestFaultStore(t *testing.T) {
	kinds := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	if pgtest.URL() != "" {
		kinds["postgres"] = func(t *testing.T) store.Store { return pgtest.Open(t, postgres.Options{}) }
	}
	for name, open := range kinds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			// What the store itself says (SQLite is exclusive only where it can lock its file).
			ex, ok := st.(store.Exclusive)
			exclusive := ok && ex.Exclusive()
			fs := storetest.NewFaultStore(st)
			t.Cleanup(func() {
				if err := fs.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			ctx := t.Context()
			deploy := func(n int) error {
				return fs.Write(ctx, func(tx store.Tx) error {
					return tx.InsertDefinition(ctx, &store.Definition{ID: fmt.Sprintf("d%d", n), Key: "p", Version: n,
						Checksum: "c", Resource: "p.bpmn", XML: []byte("<x/>"), DeployedAt: time.Unix(0, 0).UTC()})
				})
			}
			written := func(n int) bool {
				err := fs.Read(ctx, func(tx store.Tx) error {
					_, err := tx.GetDefinition(ctx, fmt.Sprintf("d%d", n))
					return err
				})
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}
			fs.OnCommit(func(w storetest.WriteInfo) storetest.Fault {
				switch w.N {
				case 2:
					return storetest.FailCommit
				case 3:
					return storetest.LoseCommit
				}
				return storetest.NoFault
			})
			if err := deploy(1); err != nil || !written(1) {
				t.Fatalf("write 1: %v, written %v", err, written(1))
			}
			if err := deploy(2); !errors.Is(err, storetest.ErrInjected) || errors.Is(err, store.ErrUnavailable) || written(2) {
				t.Errorf("failed commit: %v, written %v; want ErrInjected and nothing written", err, written(2))
			}
			if err := deploy(3); !errors.Is(err, storetest.ErrInjected) || !errors.Is(err, store.ErrUnavailable) || !written(3) {
				t.Errorf("lost commit: %v, written %v; want ErrInjected, ErrUnavailable and written", err, written(3))
			}
			fs.OnCommit(nil)

			fs.OnApply(func(*store.Change) error { return storetest.ErrInjected })
			err := fs.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{}) })
			if !errors.Is(err, storetest.ErrInjected) {
				t.Errorf("refused Apply: %v, want ErrInjected", err)
			}
			fs.OnApply(nil)

			waiting, release := fs.Hold()
			done := make(chan error, 1)
			go func() { done <- deploy(4) }()
			<-waiting
			select {
			case err := <-done:
				t.Fatalf("held write returned before its release: %v", err)
			default:
			}
			release()
			if err := <-done; err != nil || !written(4) {
				t.Errorf("released write: %v, written %v", err, written(4))
			}

			if got := fs.Exclusive(); got != exclusive {
				t.Errorf("Exclusive() = %v, want %v as the store", got, exclusive)
			}
			fs.Shared = true
			if fs.Exclusive() {
				t.Error("Exclusive() with Shared set")
			}
		})
	}
}
