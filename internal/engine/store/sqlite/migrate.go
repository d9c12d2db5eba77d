package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/cockpit-engine/cockpit/internal/engine/store/migration"
	sqlfs "github.com/cockpit-engine/cockpit/sql"
)

// Migration is one schema migration from sql/sqlite and its state in a database.
type Migration = migration.Migration

// Migrate applies the pending migrations to db and returns the ones it applied.
// Open calls it; a `cockpit migrate up` command can call it on a database from OpenDB.
func Migrate(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	return migration.Up(ctx, p)
}

// MigrateDown rolls back the most recently applied migration and returns it (nil when
// none is applied).
func MigrateDown(ctx context.Context, db *sql.DB) (*Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	return migration.Down(ctx, p)
}

// MigrationStatus lists every known migration, oldest first, with whether db has it.
func MigrationStatus(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	return migration.Status(ctx, p)
}

func provider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(sqlfs.FS, "sqlite")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// No global registry: migrations are the embedded SQL files and nothing else.
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}
