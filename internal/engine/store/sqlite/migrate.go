package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"

	sqlfs "github.com/cockpit-engine/cockpit/sql"
)

// Migration is one schema migration from sql/sqlite and its state in a database.
type Migration struct {
	Version   int64
	Name      string // file name, e.g. 00001_init.sql
	Applied   bool
	AppliedAt time.Time // zero when not applied (and for results of Migrate/MigrateDown)
}

// Migrate applies the pending migrations to db and returns the ones it applied.
// Open calls it; a `cockpit migrate up` command can call it on a database from OpenDB.
func Migrate(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate up: %w", err)
	}
	out := make([]Migration, 0, len(res))
	for _, r := range res {
		out = append(out, Migration{Version: r.Source.Version, Name: filepath.Base(r.Source.Path), Applied: true})
	}
	return out, nil
}

// MigrateDown rolls back the most recently applied migration and returns it (nil when
// none is applied).
func MigrateDown(ctx context.Context, db *sql.DB) (*Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	r, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate down: %w", err)
	}
	return &Migration{Version: r.Source.Version, Name: filepath.Base(r.Source.Path)}, nil
}

// MigrationStatus lists every known migration, oldest first, with whether db has it.
func MigrationStatus(ctx context.Context, db *sql.DB) ([]Migration, error) {
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Migration, 0, len(st))
	for _, s := range st {
		out = append(out, Migration{
			Version:   s.Source.Version,
			Name:      filepath.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
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
