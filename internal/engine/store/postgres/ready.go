package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	sqlfs "github.com/cockpit-engine/cockpit/sql"
)

var _ store.Checker = (*Store)(nil)

// Ready reports whether the database answers and the newest embedded migration is
// applied in the store's schema (goose keeps its table on the search path).
func (s *Store) Ready(ctx context.Context) error {
	want, err := latestMigration()
	if err != nil {
		return err
	}
	var have int64
	err = s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&have)
	if err != nil {
		return fmt.Errorf("postgres store (schema %q): %w", s.schema, err)
	}
	if have < want {
		return fmt.Errorf("postgres store (schema %q): migrations applied up to %05d, the binary needs %05d (run cockpit migrate)", s.schema, have, want)
	}
	return nil
}

// latestMigration is the highest version among the embedded PostgreSQL migrations.
func latestMigration() (int64, error) {
	entries, err := fs.ReadDir(sqlfs.FS, "postgres")
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		if v, err := strconv.ParseInt(num, 10, 64); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}
