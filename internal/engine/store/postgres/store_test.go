package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL returns the test database, or skips the test when none is configured.
func testURL(t testing.TB) string {
	t.Helper()
	url := pgtest.URL()
	if url == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: PostgreSQL suite skipped")
	}
	return url
}

var newSchema = pgtest.SchemaName

// open opens a store on a new schema of the test database, closed and dropped when the
// test ends.
func open(t testing.TB, o postgres.Options) *postgres.Store {
	t.Helper()
	s := pgtest.Open(t, o)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Exercise(t, func(t *testing.T) store.Store { return open(t, postgres.Options{}) })
}

// TestDeferredConflictFailsTheTransaction: Apply is sent with the transaction's next
// statement, so a stale version surfaces there (or at COMMIT) as ErrConflict for the whole
// transaction, nothing of it is written, and the same work succeeds on a fresh read.
func TestDeferredConflictFailsTheTransaction(t *testing.T) {
	t.Parallel()
	s := open(t, postgres.Options{})
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	in := &store.Instance{ID: "i1", DefinitionID: "d:1", DefinitionKey: "d", DefinitionVersion: 1,
		State: store.InstanceActive, Version: 1, StartedAt: at}
	if err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Change{Instance: in, Created: true})
	}); err != nil {
		t.Fatal(err)
	}
	change := func(version int64, tag string) *store.Change {
		next := *in
		next.Version = version
		return &store.Change{Instance: &next,
			PutTokens: []*store.Token{{ID: "t" + tag, InstanceID: "i1", ElementID: "x", State: store.TokenActive}},
			Events:    []*store.Event{{ID: "e" + tag, InstanceID: "i1", Type: "x", Time: at}}}
	}
	other := &store.Instance{ID: "i2", DefinitionID: "d:1", DefinitionKey: "d", DefinitionVersion: 1,
		State: store.InstanceActive, Version: 1, StartedAt: at}
	// A good change, then a stale one: both are deferred, COMMIT reports the conflict.
	err := s.Write(ctx, func(tx store.Tx) error {
		if err := tx.Apply(ctx, &store.Change{Instance: other, Created: true}); err != nil {
			return err
		}
		return tx.Apply(ctx, change(5, "a"))
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale Apply: Write returned %v, want ErrConflict", err)
	}
	// A read after a stale Apply sends it: the read fails with the conflict, and so does
	// everything after it, savepoints included.
	err = s.Write(ctx, func(tx store.Tx) error {
		if err := tx.Savepoint(ctx, "cmd"); err != nil {
			return err
		}
		if err := tx.Apply(ctx, change(5, "b")); err != nil {
			return err
		}
		if _, err := tx.GetInstance(ctx, "i1"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("read after a stale Apply: %v, want ErrConflict", err)
		}
		if err := tx.RollbackTo(ctx, "cmd"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("rollback after a poisoned transaction: %v, want ErrConflict", err)
		}
		return nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Write after a stale Apply and a read: %v, want ErrConflict", err)
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, change(2, "c")) }); err != nil {
		t.Fatal(err)
	}
	var agg *store.Aggregate
	var evs []*store.Event
	if err := s.Read(ctx, func(tx store.Tx) error {
		var err error
		if agg, err = tx.LoadInstance(ctx, "i1"); err != nil {
			return err
		}
		evs, err = tx.ListEvents(ctx, store.EventFilter{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := getInstance(ctx, s, "i2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the good change of the failed transaction was kept: %v", err)
	}
	if agg.Instance.Version != 2 || len(agg.Tokens) != 1 || agg.Tokens[0].ID != "tc" || len(evs) != 1 || evs[0].ID != "ec" {
		t.Fatalf("after conflicts and a fresh write: version %d, tokens %+v, events %d", agg.Instance.Version, agg.Tokens, len(evs))
	}
}

func getInstance(ctx context.Context, s store.Store, id string) (*store.Instance, error) {
	var in *store.Instance
	err := s.Read(ctx, func(tx store.Tx) error {
		var err error
		in, err = tx.GetInstance(ctx, id)
		return err
	})
	return in, err
}

// listening waits for the wake-up each listener gets when its LISTEN takes effect.
func listening(t *testing.T, chans ...chan struct{}) {
	t.Helper()
	for _, ch := range chans {
		wait.For(t, "the listener's first wake-up", func() bool {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		})
	}
}

// TestNotifier: a NotifyWork on one store reaches the OnWork listeners of another store on
// the same schema, and not those of a store on another schema.
func TestNotifier(t *testing.T) {
	t.Parallel()
	a := open(t, postgres.Options{})
	b := open(t, postgres.Options{Schema: a.Schema()})
	other := open(t, postgres.Options{})

	got := make(chan struct{}, 16)
	cancel := b.OnWork(func() {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	defer cancel()
	stray := make(chan struct{}, 16)
	defer other.OnWork(func() { stray <- struct{}{} })()

	// Each listener wakes once as soon as its LISTEN takes effect: what was announced
	// before it was not heard (a node starting next to another must not miss its jobs).
	listening(t, got, stray)
	wait.For(t, "a notification", func() bool {
		select {
		case <-got:
			return true
		default:
			a.NotifyWork()
			return false
		}
	})
	select {
	case <-stray:
		t.Fatal("a store on another schema was woken")
	case <-time.After(50 * time.Millisecond):
	}
}

// withSearchPath returns the test database's URL with a search_path parameter.
func withSearchPath(t testing.TB, path string) string {
	t.Helper()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", path)
	u.RawQuery = q.Encode()
	return u.String()
}

// openURL opens a store on u (no Options.Schema) and drops schema when the test ends.
func openURL(t testing.TB, u, schema string) *postgres.Store {
	t.Helper()
	t.Cleanup(func() {
		if err := postgres.DropSchema(context.Background(), testURL(t), schema); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	s, err := postgres.Open(t.Context(), postgres.Options{URL: u})
	if err != nil {
		t.Fatalf("open with search_path: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// TestSearchPathSchemaIsCreated: a URL whose search_path names a schema that does not
// exist yet (lower case, or quoted with capitals) gets it created, migrated and used, by
// Open and by OpenDB (cockpit migrate); stores on one search_path schema wake each other,
// not those of another.
func TestSearchPathSchemaIsCreated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lower := newSchema()
	mixed := "Cockpit_Test_" + strings.TrimPrefix(newSchema(), "cockpit_test_")
	a := openURL(t, withSearchPath(t, lower+", public"), lower)
	if a.Schema() != lower {
		t.Errorf("Schema() = %q, want %q", a.Schema(), lower)
	}
	if err := a.Ready(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	other := openURL(t, withSearchPath(t, `"`+mixed+`"`), mixed)
	if other.Schema() != mixed {
		t.Errorf("Schema() = %q, want %q", other.Schema(), mixed)
	}
	conn, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, schema := range []string{lower, mixed} {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = $1 AND table_name IN ('goose_db_version', 'instances', 'jobs')`, schema).Scan(&n)
		if err != nil || n != 3 {
			t.Errorf("tables in %q: %d %v, want 3", schema, n, err)
		}
	}
	fresh := newSchema()
	t.Cleanup(func() { _ = postgres.DropSchema(context.Background(), testURL(t), fresh) })
	db, err := postgres.OpenDB(ctx, withSearchPath(t, fresh), "")
	if err != nil {
		t.Fatalf("OpenDB with search_path: %v", err)
	}
	defer db.Close()
	if _, err := postgres.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate with search_path: %v", err)
	}
	var has bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, fresh+".goose_db_version").Scan(&has); err != nil || !has {
		t.Errorf("migrate did not create %s.goose_db_version: %v %v", fresh, has, err)
	}

	b := openURL(t, withSearchPath(t, lower), lower)
	got := make(chan struct{}, 16)
	defer b.OnWork(func() {
		select {
		case got <- struct{}{}:
		default:
		}
	})()
	stray := make(chan struct{}, 16)
	defer other.OnWork(func() { stray <- struct{}{} })()
	listening(t, got, stray)
	wait.For(t, "a notification", func() bool {
		select {
		case <-got:
			return true
		default:
			a.NotifyWork()
			return false
		}
	})
	select {
	case <-stray:
		t.Fatal("a store on another search_path schema was woken")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestMigrateDownAndUp(t *testing.T) {
	t.Parallel()
	url := testURL(t)
	schema := newSchema()
	ctx := t.Context()
	s := open(t, postgres.Options{Schema: schema})
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("fresh store not ready: %v", err)
	}
	db, err := postgres.OpenDB(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := postgres.MigrationStatus(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) < 2 || !st[0].Applied || !st[len(st)-1].Applied {
		t.Fatalf("status after Open: %+v", st)
	}
	for range st {
		if _, err := postgres.MigrateDown(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := postgres.MigrateDown(ctx, db); err != nil || m != nil {
		t.Fatalf("down with nothing applied: %v %v", m, err)
	}
	if err := s.Ready(ctx); err == nil {
		t.Fatal("store ready with its migrations rolled back")
	}
	applied, err := postgres.Migrate(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != len(st) {
		t.Fatalf("up applied %d, want %d", len(applied), len(st))
	}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("store not ready after migrating up again: %v", err)
	}
}

// TestElementStatsMigrationCountsHistory: migration 00003 counts the element.left events
// already in the history.
func TestElementStatsMigrationCountsHistory(t *testing.T) {
	t.Parallel()
	url := testURL(t)
	schema := newSchema()
	ctx := t.Context()
	s := open(t, postgres.Options{Schema: schema})
	err := s.Write(ctx, func(tx store.Tx) error {
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
	counts := func() map[string]int64 {
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
	if got := counts(); !maps.Equal(got, want) {
		t.Fatalf("counts kept by Apply: %v, want %v", got, want)
	}

	db, err := postgres.OpenDB(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Roll back the later migrations too, down to and including 00003.
	for {
		m, err := postgres.MigrateDown(ctx, db)
		if err != nil || m == nil {
			t.Fatalf("down: %+v %v", m, err)
		}
		if m.Name == "00003_element_stats.sql" {
			break
		}
	}
	if _, err := postgres.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if got := counts(); !maps.Equal(got, want) {
		t.Fatalf("counts after migrating up over the history: %v, want %v", got, want)
	}
}

// TestMigrationsIgnoreStatementTimeout: a store whose statement timeout is shorter than
// any migration still opens a fresh schema (the migrations run without the timeout).
func TestMigrationsIgnoreStatementTimeout(t *testing.T) {
	t.Parallel()
	_ = open(t, postgres.Options{StatementTimeout: time.Millisecond})
}

// TestStatementTimeoutIsUnavailable: a write that waits past statement_timeout (here on a
// row another session holds) fails with store.ErrUnavailable, safe to try again, and
// succeeds once the row is free.
func TestStatementTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	schema := newSchema()
	// Migrate first, without the timeout: on a loaded machine a migration may take longer
	// than the timeout this test is about.
	_ = open(t, postgres.Options{Schema: schema})
	s := open(t, postgres.Options{Schema: schema, StatementTimeout: 500 * time.Millisecond})
	ctx := t.Context()
	in := &store.Instance{ID: "i1", DefinitionID: "d:1", DefinitionKey: "d", DefinitionVersion: 1,
		State: store.InstanceActive, Version: 1, StartedAt: time.Now()}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{Instance: in, Created: true}) }); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	holder, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, `SELECT 1 FROM `+pgx.Identifier{schema, "instances"}.Sanitize()+` WHERE id = 'i1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	next := *in
	next.Version = 2
	err = s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{Instance: &next}) })
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a locked row past the statement timeout: %v, want ErrUnavailable", err)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{Instance: &next}) }); err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
}
