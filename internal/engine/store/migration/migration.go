// Package migration reports a store's goose migrations in one shape for every dialect, so
// that `cockpit migrate` prints SQLite and PostgreSQL alike. Each store builds its own
// goose.Provider (embedded files, locking) and runs it through Up, Down and Status.
package migration

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
)

// Migration is one schema migration and its state in a database.
type Migration struct {
	Version   int64
	Name      string // file name, e.g. 00001_init.sql
	Applied   bool
	AppliedAt time.Time // zero when not applied (and for results of Up/Down)
}

// Up applies the pending migrations and returns the ones it applied.
func Up(ctx context.Context, p *goose.Provider) ([]Migration, error) {
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

// Down rolls back the most recently applied migration and returns it (nil when none is
// applied).
func Down(ctx context.Context, p *goose.Provider) (*Migration, error) {
	r, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrate down: %w", err)
	}
	return &Migration{Version: r.Source.Version, Name: filepath.Base(r.Source.Path)}, nil
}

// Status lists every known migration, oldest first, with whether the database has it.
func Status(ctx context.Context, p *goose.Provider) ([]Migration, error) {
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
