package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cockpit-engine/cockpit/internal/engine/store/migration"
	sqlfs "github.com/cockpit-engine/cockpit/sql"
)

// Migration is one schema migration from sql/postgres and its state in a database.
type Migration = migration.Migration

// DB is a database/sql handle on one schema, for `cockpit migrate` (Migrate, MigrateDown,
// MigrationStatus). Close it when done.
type DB struct {
	*sql.DB
	schema string
}

// OpenDB opens a database/sql handle (through pgx's stdlib driver) whose connections use
// schema ("": the first schema of the URL's search_path, as for Open), created when
// missing, without migrating.
func OpenDB(ctx context.Context, url, schema string) (*DB, error) {
	cfg, err := poolConfig(Options{URL: url, Schema: schema})
	if err != nil {
		return nil, err
	}
	schema, err = ensureSchema(ctx, cfg.ConnConfig, schema)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	db, err := openDB(cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("open postgres database: %w", err)
	}
	return &DB{DB: db, schema: schema}, nil
}

// setupConfig is cc for the set-up connections (the schema's creation, the migrations):
// without the store's statement_timeout, which bounds the engine's short statements,
// while a migration (an index built over a year of rows) may rightly take longer, and one
// cancelled half-way leaves the schema for a person to mend.
func setupConfig(cc *pgx.ConnConfig) *pgx.ConnConfig {
	cc = cc.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"
	return cc
}

func openDB(cc *pgx.ConnConfig) (*sql.DB, error) {
	db := stdlib.OpenDB(*setupConfig(cc))
	db.SetMaxOpenConns(2)
	return db, nil
}

// Migrate applies the pending migrations and returns the ones it applied. Open calls it.
func Migrate(ctx context.Context, db *DB) ([]Migration, error) { return migrate(ctx, db.DB, db.schema) }

func migrate(ctx context.Context, db *sql.DB, schema string) ([]Migration, error) {
	p, err := provider(db, schema)
	if err != nil {
		return nil, err
	}
	return migration.Up(ctx, p)
}

// MigrateDown rolls back the most recently applied migration and returns it (nil when
// none is applied).
func MigrateDown(ctx context.Context, db *DB) (*Migration, error) {
	p, err := provider(db.DB, db.schema)
	if err != nil {
		return nil, err
	}
	return migration.Down(ctx, p)
}

// MigrationStatus lists every known migration, oldest first, with whether db has it.
func MigrationStatus(ctx context.Context, db *DB) ([]Migration, error) {
	p, err := provider(db.DB, db.schema)
	if err != nil {
		return nil, err
	}
	return migration.Status(ctx, p)
}

func provider(db *sql.DB, schema string) (*goose.Provider, error) {
	fsys, err := fs.Sub(sqlfs.FS, "postgres")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// Nodes starting together migrate one at a time: a session advisory lock per schema
	// (so stores in other schemas, such as parallel tests, do not wait for each other).
	h := fnv.New64a()
	h.Write([]byte("cockpit.migrate:" + schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// No global registry: migrations are the embedded SQL files and nothing else.
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
