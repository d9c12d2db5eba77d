// Package sqlite is the embedded store: the engine's storage seam (package store) on one
// SQLite file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// SQLite lets one connection write at a time. The store therefore keeps one writer
// connection, used by Write under a Go mutex, and a pool of query-only connections for
// Read. Writers queue in Go rather than spin on SQLITE_BUSY, and readers never wait for the
// writer: in WAL mode a reader sees the last commit before its transaction began.
//
// The schema is the goose migrations in sql/sqlite, applied by Open.
//
// The queries the two stores share are written once in package sqlstore; this package
// prepares them at Open, runs them (the transaction is their sqlstore.Conn) and holds what
// SQLite does its own way: Apply's single-row writes and multi-row event inserts, the
// aggregate load in one UNION ALL, job locking, the waiting-token read and rollup writes.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Options configure Open.
type Options struct {
	// Path is the database file, created when missing. Required. ":memory:" is not
	// supported: every connection would get its own database.
	Path string
	// ReadConns is the size of the read pool (default: GOMAXPROCS, at least 4).
	ReadConns int
	// BusyTimeout bounds the wait for a SQLite lock held by another connection, such as a
	// tool on the same file or a checkpoint (default 5s). Writers of one Store never
	// contend: they queue on a mutex.
	BusyTimeout time.Duration
	// CacheKiB is the page cache per connection in KiB (default 32768).
	CacheKiB int
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	path string
	lock *fileLock // held until Close: no other Store writes this database

	// wmu serialises Write: SQLite has one writer, and queuing here is cheaper and fairer
	// than retrying SQLITE_BUSY. It also guards closed.
	wmu    sync.Mutex
	closed bool
	wdb    *sql.DB // exactly one connection
	wstmts [numStmts]*sql.Stmt
	// wshared are sqlstore's statements by ID, prepared on the writer at Open.
	wshared []*sql.Stmt
	// wbuilt holds the multi-row event inserts, prepared on the writer at Open, by text.
	wbuilt map[string]*sql.Stmt
	// wstats[n] is the n-row element stats upsert (1 <= n <= statsChunk), prepared at Open.
	wstats [statsChunk + 1]*sql.Stmt

	// ckpt runs WAL checkpoints off the writer; commits counts towards the next one.
	ckpt    *checkpointer
	commits int

	rmu     sync.RWMutex // held shared by every Read, exclusively by Close
	rclosed atomic.Bool
	rdb     *sql.DB
	rstmts  [numStmts]*sql.Stmt // the read statements only
	rshared []*sql.Stmt         // sqlstore's read statements by ID
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Exclusive = (*Store)(nil)
)

// lockPath is the file a Store locks for as long as it has the database open.
func lockPath(path string) string { return path + ".lock" }

// Open opens (creating if needed) the database at o.Path, applies pending migrations and
// prepares the statements.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Path == "" || o.Path == ":memory:" || strings.ContainsAny(o.Path, "?#") {
		return nil, fmt.Errorf("open sqlite store: invalid path %q", o.Path)
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(runtime.GOMAXPROCS(0), 4)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.CacheKiB <= 0 {
		o.CacheKiB = 32768
	}
	lock, err := lockFile(lockPath(o.Path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	s := &Store{path: o.Path, lock: lock}

	wdb, err := sql.Open("sqlite", dsn(o, true))
	if err != nil {
		_ = lock.unlock()
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	s.wdb = wdb
	s.wbuilt = make(map[string]*sql.Stmt)

	// The writer goes first: it switches the file to WAL and creates the schema, which the
	// readers' statements need.
	if _, err := Migrate(ctx, wdb); err != nil {
		_ = wdb.Close()
		_ = lock.unlock()
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	// No ANALYZE, and so no PRAGMA optimize, which runs it: this SQLite is built with STAT4,
	// and with its samples present SQLite re-prepares a statement such as "... WHERE
	// instance_id = ?" every time the parameter changes (LoadInstance became 5x slower).
	// The queries are written for the planner's defaults instead, and TestQueryPlans pins
	// the plans they get.

	cdb, err := sql.Open("sqlite", dsn(o, true))
	if err != nil {
		_ = wdb.Close()
		_ = lock.unlock()
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	cdb.SetMaxOpenConns(1)
	s.ckpt = startCheckpointer(cdb)

	rdb, err := sql.Open("sqlite", dsn(o, false))
	if err != nil {
		_ = s.ckpt.close()
		_ = wdb.Close()
		_ = lock.unlock()
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	rdb.SetMaxOpenConns(o.ReadConns)
	rdb.SetMaxIdleConns(o.ReadConns)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	s.rdb = rdb

	for id := range numStmts {
		if id == numReadStmts {
			continue
		}
		if s.wstmts[id], err = wdb.PrepareContext(ctx, stmtSQL[id]); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("open sqlite store %s: prepare %q: %w", o.Path, stmtSQL[id], err)
		}
		if id < numReadStmts {
			if s.rstmts[id], err = rdb.PrepareContext(ctx, stmtSQL[id]); err != nil {
				s.closeAll()
				return nil, fmt.Errorf("open sqlite store %s: prepare %q: %w", o.Path, stmtSQL[id], err)
			}
		}
	}
	if s.wshared, err = prepareShared(ctx, wdb, true); err == nil {
		s.rshared, err = prepareShared(ctx, rdb, false)
	}
	if err != nil {
		s.closeAll()
		return nil, fmt.Errorf("open sqlite store %s: %w", o.Path, err)
	}
	for n := 2; n <= eventChunk; n++ {
		text := insertEventsSQL(n)
		st, err := wdb.PrepareContext(ctx, text)
		if err != nil {
			s.closeAll()
			return nil, fmt.Errorf("open sqlite store %s: prepare %d-row event insert: %w", o.Path, n, err)
		}
		s.wbuilt[text] = st
	}
	for n := 1; n <= statsChunk; n++ {
		if s.wstats[n], err = wdb.PrepareContext(ctx, upsertElementStatsSQL(n)); err != nil {
			s.closeAll()
			return nil, fmt.Errorf("open sqlite store %s: prepare %d-row element stats upsert: %w", o.Path, n, err)
		}
	}
	return s, nil
}

// OpenDB opens the database file at path as one connection with the writer's settings,
// without migrating, for tools such as `cockpit migrate` (Migrate, MigrateDown,
// MigrationStatus). The caller closes it. It fails with ErrLocked while a Store has the
// database open: a store keeps instances in memory and must be the only writer.
func OpenDB(path string) (*sql.DB, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open sqlite database: invalid path %q", path)
	}
	// Only a check: the tool does not hold the lock, so a Store opened meanwhile is not
	// kept out.
	lock, err := lockFile(lockPath(path))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	if err := lock.unlock(); err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(Options{Path: path, BusyTimeout: 5 * time.Second, CacheKiB: 2048}, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// dsn builds the connection string of the writer or of a reader.
func dsn(o Options, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(o.CacheKiB)+")")
	q.Add("_pragma", "temp_store(MEMORY)")
	// The schema has no foreign keys (see sql/sqlite/00001_init.sql); say so rather than
	// depend on the compile-time default.
	q.Add("_pragma", "foreign_keys(OFF)")
	if writer {
		// WAL: readers do not block the writer nor the writer them, and a commit appends to
		// the log instead of rewriting pages in place.
		q.Add("_pragma", "journal_mode(WAL)")
		// synchronous=NORMAL in WAL mode syncs the log at checkpoints, not at every commit.
		// A commit is in the log file (the OS page cache) when COMMIT returns, so it
		// survives a crash of the process, which is the durability the engine promises; a
		// power loss or kernel crash may lose the last commits but never corrupts the
		// file. FULL would add an fsync per transaction and cap the store at the disk's
		// sync rate.
		q.Add("_pragma", "synchronous(NORMAL)")
		// Checkpoints run on their own connection (checkpoint.go), not inside commits.
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails
		// half-way when upgrading from a read lock.
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return o.Path + "?" + q.Encode()
}

// Exclusive reports that no other Store writes this database: Open locks a file beside it
// (on Unix; elsewhere no lock is taken and Exclusive is false). The engine may then keep
// the instances it wrote in memory.
func (s *Store) Exclusive() bool { return lockSupported }

// Dialect returns "sqlite".
func (s *Store) Dialect() string { return "sqlite" }

// Write runs fn in the write transaction. Writers run one at a time, in the order they
// acquire the mutex; fn should therefore do no slow work (no handler calls, no network).
// An error from fn (or a panic) rolls everything back and is returned as is.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return ErrClosed
	}
	stx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return markUnavailable(fmt.Errorf("begin write: %w", err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = stx.Rollback()
		}
	}()
	t := &tx{tx: stx, prepared: &s.wstmts, shared: s.wshared, write: true, built: s.wbuilt, statsPrepared: &s.wstats}
	t.Queries = sqlstore.Queries{D: sqlstore.SQLite, C: t}
	if err := fn(t); err != nil {
		return err
	}
	committed = true
	if err := stx.Commit(); err != nil {
		return markUnavailable(fmt.Errorf("commit: %w", err))
	}
	if s.commits++; s.commits >= checkpointEvery {
		s.commits = 0
		s.ckpt.poke()
	}
	return nil
}

// Read runs fn in a read transaction on a snapshot of the last commit. Write methods of
// the transaction return ErrReadOnly.
func (s *Store) Read(ctx context.Context, fn func(store.Tx) error) error {
	// Close waits for reads in flight (rmu) before it closes their statements.
	s.rmu.RLock()
	defer s.rmu.RUnlock()
	if s.rclosed.Load() {
		return ErrClosed
	}
	stx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return markUnavailable(fmt.Errorf("begin read: %w", err))
	}
	// A read transaction has nothing to commit; rolling back ends the snapshot.
	defer func() { _ = stx.Rollback() }()
	t := &tx{tx: stx, prepared: &s.rstmts, shared: s.rshared}
	t.Queries = sqlstore.Queries{D: sqlstore.SQLite, C: t}
	return fn(t)
}

// Close waits for the running Write, then closes the statements and connections. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.rmu.Lock()
	s.rclosed.Store(true)
	s.rmu.Unlock()
	if err := s.closeAll(); err != nil {
		return fmt.Errorf("close sqlite store %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) closeAll() error {
	var errs []error
	for _, set := range []*[numStmts]*sql.Stmt{&s.wstmts, &s.rstmts} {
		for i, st := range set {
			if st != nil {
				errs = append(errs, st.Close())
				set[i] = nil
			}
		}
	}
	errs = append(errs, closeStmts(s.wshared), closeStmts(s.rshared))
	for text, st := range s.wbuilt {
		errs = append(errs, st.Close())
		delete(s.wbuilt, text)
	}
	for n, st := range s.wstats {
		if st != nil {
			errs = append(errs, st.Close())
			s.wstats[n] = nil
		}
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	errs = append(errs, s.wdb.Close())
	// Last: the database is closed before another Store may open it.
	errs = append(errs, s.lock.unlock())
	return errors.Join(errs...)
}
