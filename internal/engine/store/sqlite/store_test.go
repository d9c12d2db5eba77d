package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// open opens a store on a new file in the test's temporary directory.
func open(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cockpit.db")
	s, err := sqlite.Open(context.Background(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) store.Store {
		s, _ := open(t)
		return s
	})
}

func TestWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cockpit.db")
	s, err := sqlite.Open(t.Context(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The journal mode is kept in the file.
	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode %q, want wal", mode)
	}
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cockpit.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	in := &store.Instance{ID: "i1", DefinitionID: "d:1", DefinitionKey: "d", DefinitionVersion: 1, State: store.InstanceActive, Version: 1}
	ev := &store.Event{ID: "e1", InstanceID: "i1", Type: "started"}
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Change{Instance: in, Created: true, Events: []*store.Event{ev}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(store.Tx) error { return nil }); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Read(ctx, func(store.Tx) error { return nil }); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("Read after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s, err = sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Read(ctx, func(tx store.Tx) error {
		got, err := tx.GetInstance(ctx, "i1")
		if err != nil {
			return err
		}
		if got.Version != 1 || got.State != store.InstanceActive {
			t.Errorf("reopened instance: %+v", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Seq keeps counting from where it was.
	ev2 := &store.Event{ID: "e2", InstanceID: "i1", Type: "next"}
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Change{Events: []*store.Event{ev2}})
	}); err != nil {
		t.Fatal(err)
	}
	if ev2.Seq <= ev.Seq {
		t.Fatalf("Seq after reopen %d, before %d", ev2.Seq, ev.Seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Open and Close never ANALYZE: STAT4 samples would make SQLite re-prepare the hot
	// statements on every call.
	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if hasTable(t, db, "sqlite_stat1") || hasTable(t, db, "sqlite_stat4") {
		t.Fatal("planner statistics present after Open and Close")
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cockpit.db")
	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	status := func() []sqlite.Migration {
		t.Helper()
		st, err := sqlite.MigrationStatus(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(st) == 0 {
			t.Fatal("no migrations known")
		}
		return st
	}
	for _, m := range status() {
		if m.Applied {
			t.Fatalf("fresh database: %s applied", m.Name)
		}
	}
	applied, err := sqlite.Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0].Version != 1 || applied[0].Name != "00001_init.sql" {
		t.Fatalf("Migrate applied %+v", applied)
	}
	for _, m := range status() {
		if !m.Applied || m.AppliedAt.IsZero() {
			t.Fatalf("after Migrate: %+v", m)
		}
	}
	if again, err := sqlite.Migrate(ctx, db); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate: %v, %+v", err, again)
	}
	if !hasTable(t, db, "instances") {
		t.Fatal("instances table missing after Migrate")
	}

	// Down all the way removes the schema; Up builds it again.
	for {
		m, err := sqlite.MigrateDown(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			break
		}
	}
	if hasTable(t, db, "instances") {
		t.Fatal("instances table left after migrating down")
	}
	for _, m := range status() {
		if m.Applied {
			t.Fatalf("after MigrateDown: %s applied", m.Name)
		}
	}
	if _, err := sqlite.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A store opens on the migrated file.
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func hasTable(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func TestOpenInvalidPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"", ":memory:", "a?b"} {
		if s, err := sqlite.Open(t.Context(), sqlite.Options{Path: p}); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", p)
		}
	}
}

func TestExclusive(t *testing.T) {
	t.Parallel()
	s, path := open(t)
	if !s.Exclusive() {
		t.Skip("no file lock on this platform")
	}
	if s2, err := sqlite.Open(t.Context(), sqlite.Options{Path: path}); !errors.Is(err, sqlite.ErrLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open of an open database: %v, want ErrLocked", err)
	}
	if db, err := sqlite.OpenDB(path); !errors.Is(err, sqlite.ErrLocked) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("OpenDB of an open database: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := sqlite.Open(t.Context(), sqlite.Options{Path: path})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReady(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "ready.db")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("fresh store not ready: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(ctx); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("closed store: %v", err)
	}
}

// TestElementStatsMigrationCountsHistory: migration 00003 counts the element.left events
// already in the history, so a database written before it shows the same completion
// counts as one that had the table all along.
func TestElementStatsMigrationCountsHistory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cockpit.db")
	s, err := sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx store.Tx) error {
		var evs []*store.Event
		for i, e := range []struct {
			def string
			typ event.Type
			el  string
		}{
			{"d:1", event.ElementLeft, "a"}, {"d:1", event.ElementLeft, "a"}, {"d:1", event.ElementLeft, "b"},
			{"d:1", event.ElementEntered, "b"}, {"d:2", event.ElementLeft, "a"}, {"d:1", event.InstanceCompleted, ""},
		} {
			evs = append(evs, &store.Event{ID: fmt.Sprintf("e%d", i), DefinitionID: e.def, Type: e.typ, ElementID: e.el, Time: time.Unix(1, 0)})
		}
		return tx.Apply(ctx, &store.Change{Events: evs})
	})
	if err != nil {
		t.Fatal(err)
	}
	counts := func(s *sqlite.Store) map[string]int64 {
		t.Helper()
		var out map[string]int64
		if err := s.Read(ctx, func(tx store.Tx) error {
			var err error
			out, err = tx.ElementCounts(ctx, "d:1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := map[string]int64{"a": 2, "b": 1}
	if got := counts(s); !maps.Equal(got, want) {
		t.Fatalf("counts kept by Apply: %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := sqlite.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	// Roll back the later migrations too, down to and including 00003.
	for {
		m, err := sqlite.MigrateDown(ctx, db)
		if err != nil || m == nil {
			t.Fatalf("down: %+v %v", m, err)
		}
		if m.Name == "00003_element_stats.sql" {
			break
		}
	}
	if _, err := sqlite.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, sqlite.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := counts(s); !maps.Equal(got, want) {
		t.Fatalf("counts after migrating up over the history: %v, want %v", got, want)
	}
}

// TestCloseWhileReading: Close waits for reads in flight; later reads get ErrClosed.
func TestCloseWhileReading(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "close.db")})
	if err != nil {
		t.Fatal(err)
	}
	inRead := make(chan struct{})
	release := make(chan struct{})
	readDone := make(chan error, 1)
	go func() {
		readDone <- s.Read(ctx, func(tx store.Tx) error {
			close(inRead)
			<-release
			_, _, err := tx.NextJobDue(ctx) // uses a prepared statement Close must not have closed
			return err
		})
	}()
	<-inRead
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	close(release)
	if err := <-readDone; err != nil {
		t.Fatalf("read in flight during Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Read(ctx, func(tx store.Tx) error { return nil }); !errors.Is(err, sqlite.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}
