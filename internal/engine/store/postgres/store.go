// Package postgres is the shared store: the engine's storage seam (package store) on
// PostgreSQL through jackc/pgx (pgxpool), for several engine nodes on one database.
//
// Round trips dominate on PostgreSQL, so the store spends as few as it can:
//
//   - BEGIN, SAVEPOINT and RELEASE are not sent on their own: they are queued on the
//     transaction and go out in the same pipelined batch as the next statement (a savepoint
//     released before anything else was sent is never sent at all). ROLLBACK TO is queued
//     the same way, except after a failed statement, when it is sent at once.
//   - Apply is deferred: the Change is queued and sent with the transaction's next round
//     trip, merged with the Changes queued beside it into one multi-row statement per row
//     kind (merge.go); its events wait for COMMIT (held.go). A stale version raises an
//     error in the instance UPDATE (cockpit_conflict), which aborts the server's
//     transaction: nothing of it is written. An instance load that reads nothing the
//     queued Changes write is sent ahead of them (tx.readAhead), so they stay one run.
//     Bulk operation item outcomes and audit rows are deferred and merged the same way
//     (operations.go); a lost item raises cockpit_lost_item.
//   - LoadInstance is one pipelined batch of eight index lookups.
//   - Statements are prepared once per connection (pgx's statement cache).
//
// A failed statement aborts the (sub)transaction in PostgreSQL: after an error other than
// ErrNotFound the caller must roll back to a savepoint (as the engine does per command) or
// end the transaction.
//
// Event seqs are the commit order: a transaction that inserts events takes a per-schema
// advisory lock just before it does, in COMMIT's round trip, so those transactions
// commit one at a time. The engine group-commits many commands per transaction and
// pipelines two transactions, so the lock costs one node little; it bounds the
// event-write throughput of several nodes on one schema.
//
// The store is not store.Exclusive (other nodes write the same tables) and implements
// store.Notifier with LISTEN/NOTIFY on a channel named after the schema.
//
// The queries the two stores share are written once in package sqlstore; this package
// runs them (the transaction is their sqlstore.Conn) and holds what PostgreSQL does its own
// way: the transaction core, the merged writes, the aggregate load, job locking with SKIP
// LOCKED, the waiting-token read and the batched rollup write.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Options configure Open.
type Options struct {
	// URL is the connection string (postgres://user@host:port/db?sslmode=disable, or the
	// key=value form). Required.
	URL string
	// Schema is where the tables live. It is created when missing and set as the
	// search_path of every connection. Empty: the first schema of the connection's
	// search_path (the URL's search_path parameter, else the server's default, public),
	// likewise created when missing.
	Schema string
	// MaxConns bounds the pool (default: 10). The engine's committer uses one connection at
	// a time; the rest serve reads.
	MaxConns int32
	// StatementTimeout bounds each statement on the server (default 30s; negative: none).
	StatementTimeout time.Duration
	// SlowQuery is the duration from which a statement or batch is logged at Warn (default
	// 200ms; negative: never). Only with Logger.
	SlowQuery time.Duration
	// Logger receives slow statements and notification problems. Nil: the store logs nothing.
	Logger *slog.Logger
	// NotifyDelay is how long NotifyWork waits to coalesce a burst into one NOTIFY
	// (default 5ms).
	NotifyDelay time.Duration
}

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	log    *slog.Logger
	notify *notifier

	mu     sync.RWMutex
	closed bool
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// ErrReadOnly is returned by the write methods of a transaction opened with Store.Read.
var ErrReadOnly = errors.New("write in a read-only transaction")

// ErrClosed is returned by Write and Read after Close.
var ErrClosed = errors.New("store closed")

// Open connects, creates the schema when missing, applies pending migrations and returns
// the store.
func Open(ctx context.Context, o Options) (*Store, error) {
	cfg, err := poolConfig(o)
	if err != nil {
		return nil, err
	}
	schema, err := ensureSchema(ctx, cfg.ConnConfig, o.Schema)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db, err := openDB(cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	_, err = migrate(ctx, db, schema)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, schema: schema, log: log}
	delay := o.NotifyDelay
	if delay <= 0 {
		delay = 5 * time.Millisecond
	}
	s.notify = newNotifier(pool, cfg.ConnConfig, channelName(schema), delay, log)
	return s, nil
}

// poolConfig turns Options into a pgxpool configuration.
func poolConfig(o Options) (*pgxpool.Config, error) {
	if o.URL == "" {
		return nil, errors.New("open postgres store: URL required")
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		// The error may quote the URL, password included; say only what failed.
		return nil, errors.New("open postgres store: invalid URL")
	}
	if o.Schema != "" && !sqlstore.IsIdent(o.Schema) {
		return nil, fmt.Errorf("open postgres store: invalid schema name %q", o.Schema)
	}
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10
	}
	cfg.MinConns = 1
	timeout := o.StatementTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rp := cfg.ConnConfig.RuntimeParams
	if timeout > 0 {
		rp["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	if o.Schema != "" {
		rp["search_path"] = pgx.Identifier{o.Schema}.Sanitize()
	}
	rp["application_name"] = "cockpit"
	// Statements are prepared per connection and cached by text (the default mode); with a
	// per-store search_path that is safe: each pool has its own connections.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	slow := o.SlowQuery
	if slow == 0 {
		slow = 200 * time.Millisecond
	}
	if o.Logger != nil && slow > 0 {
		cfg.ConnConfig.Tracer = &slowTracer{log: o.Logger, threshold: slow}
	}
	return cfg, nil
}

// DropSchema removes a schema and everything in it (tests and `cockpit bench` use a
// throw-away schema per run).
func DropSchema(ctx context.Context, url, schema string) error {
	if !sqlstore.IsIdent(schema) {
		return fmt.Errorf("drop schema: invalid name %q", schema)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return errors.New("drop schema: invalid URL")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}

// channelName is the NOTIFY channel of a schema, so stores in two schemas of one database
// do not wake each other. Channel names are identifiers (at most 63 bytes), so a long
// schema name is hashed.
func channelName(schema string) string {
	name := "cockpit_work." + schema
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(schema))
		name = "cockpit_work." + hex.EncodeToString(sum[:16])
	}
	return name
}

// Dialect returns "postgres".
func (s *Store) Dialect() string { return "postgres" }

// Schema returns the schema the store works in (Options.Schema, or the first schema of the
// search_path).
func (s *Store) Schema() string { return s.schema }

// Write runs fn in a read-write transaction on one pooled connection and commits when fn
// returns nil. An error from fn (or a panic) rolls everything back; fn's error is returned
// as is.
func (s *Store) Write(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, true, fn)
}

// Read runs fn in a read-only REPEATABLE READ transaction: one snapshot for all its
// statements. Write methods of the transaction return ErrReadOnly.
func (s *Store) Read(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, false, fn)
}

func (s *Store) run(ctx context.Context, write bool, fn func(store.Tx) error) (err error) {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	what := "read"
	if write {
		what = "write"
	}
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return markUnavailable(fmt.Errorf("begin %s: %w", what, err))
	}
	t := newTx(pc.Conn(), write)
	done := false
	defer func() {
		if !done {
			// fn failed or panicked: end the transaction. A connection left inside a
			// transaction (the rollback failed) is destroyed by the pool on Release.
			t.rollback(context.WithoutCancel(ctx))
		}
		pc.Release()
	}()
	if err := fn(t); err != nil {
		return err
	}
	done = true
	if err := t.commit(ctx); err != nil {
		if write {
			return markUnavailable(fmt.Errorf("commit: %w", err))
		}
		return markUnavailable(fmt.Errorf("end read: %w", err))
	}
	return nil
}

// Close stops the notifier and closes the pool. Transactions still running fail. It is
// safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.notify.close()
	s.pool.Close()
	return nil
}

// NotifyWork announces due work to every node's OnWork listeners. It never blocks: a
// burst of calls within Options.NotifyDelay becomes one NOTIFY, sent from a goroutine.
func (s *Store) NotifyWork() { s.notify.kick() }

// OnWork registers fn to be called, on the store's listener goroutine, whenever any node
// (this one included) announces work, and once after each (re)connection of the listener,
// since notifications sent while it was away are lost. The returned function unregisters
// fn.
func (s *Store) OnWork(fn func()) (cancel func()) { return s.notify.listen(fn) }
