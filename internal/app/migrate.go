package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/cockpit-engine/cockpit/internal/engine/store/migration"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

type migrateConfig struct {
	DataDir     string
	DatabaseURL string
}

func newMigrateCommand(getenv func(string) string) (*command, *migrateConfig) {
	cfg := &migrateConfig{}
	c := newCommand("migrate", "cockpit migrate [up|down|status] [flags]",
		`Manages the schema of the database, SQLite or PostgreSQL (--database-url postgres://...);
the migrations are built into the binary.

  up      apply every pending migration (the default; serve does this at start, too)
  down    roll back the most recent migration (this drops its tables and their data)
  status  list the migrations and whether each is applied`,
		getenv)
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_DATA_DIR", "./cockpit-data", "directory of the embedded database")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "database to migrate; empty means <data-dir>/cockpit.db; sqlite:PATH names another SQLite file; postgres://user@host/db a PostgreSQL database")
	return c, cfg
}

func (a *App) migrate(ctx context.Context, args []string) error {
	c, cfg := newMigrateCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	action := "up"
	if rest := c.args(); len(rest) > 0 {
		action = rest[0]
		// Flags may also follow the action: cockpit migrate status --data-dir x.
		if err := a.parseFlags(c, rest[1:]); err != nil {
			return err
		}
		if len(c.args()) > 0 {
			return a.usageError(c, "unexpected argument %q", c.args()[0])
		}
	}
	if action != "up" && action != "down" && action != "status" {
		return a.usageError(c, "unknown action %q (use up, down or status)", action)
	}
	db, err := storeurl.Resolve(cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	var mg migrator
	if db.Dialect == "postgres" {
		pdb, err := postgres.OpenDB(ctx, db.URL, "")
		if err != nil {
			return err
		}
		defer pdb.Close()
		mg = migrator{
			up:     func(ctx context.Context) ([]migration.Migration, error) { return postgres.Migrate(ctx, pdb) },
			down:   func(ctx context.Context) (*migration.Migration, error) { return postgres.MigrateDown(ctx, pdb) },
			status: func(ctx context.Context) ([]migration.Migration, error) { return postgres.MigrationStatus(ctx, pdb) },
		}
	} else {
		if action == "up" {
			if err := os.MkdirAll(filepath.Dir(db.Path), 0o750); err != nil {
				return fmt.Errorf("create data directory: %w", err)
			}
		} else if _, err := os.Stat(db.Path); errors.Is(err, fs.ErrNotExist) {
			// Opening would create an empty file; say what is wrong instead.
			return fmt.Errorf("no database at %s (cockpit migrate up or cockpit serve creates it)", db.Path)
		}
		sdb, err := sqlite.OpenDB(db.Path)
		if err != nil {
			return err
		}
		defer sdb.Close()
		mg = migrator{
			up:     func(ctx context.Context) ([]migration.Migration, error) { return sqlite.Migrate(ctx, sdb) },
			down:   func(ctx context.Context) (*migration.Migration, error) { return sqlite.MigrateDown(ctx, sdb) },
			status: func(ctx context.Context) ([]migration.Migration, error) { return sqlite.MigrationStatus(ctx, sdb) },
		}
	}
	return a.runMigrate(ctx, db, action, mg)
}

// migrator is one dialect's migrations on an open database, so that the actions and their
// output are written once for SQLite and PostgreSQL.
type migrator struct {
	up     func(context.Context) ([]migration.Migration, error)
	down   func(context.Context) (*migration.Migration, error)
	status func(context.Context) ([]migration.Migration, error)
}

// runMigrate does action (up, down or status) and prints its outcome, the same for every
// dialect.
func (a *App) runMigrate(ctx context.Context, db *storeurl.Database, action string, mg migrator) error {
	switch action {
	case "up":
		applied, err := mg.up(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintf(a.Stdout, "%s: up to date\n", db.Path)
		}
		for _, m := range applied {
			fmt.Fprintf(a.Stdout, "%s: applied %05d %s\n", db.Path, m.Version, m.Name)
		}
	case "down":
		m, err := mg.down(ctx)
		if err != nil {
			return err
		}
		if m == nil {
			fmt.Fprintf(a.Stdout, "%s: no migration applied; nothing to roll back\n", db.Path)
		} else {
			fmt.Fprintf(a.Stdout, "%s: rolled back %05d %s\n", db.Path, m.Version, m.Name)
		}
	case "status":
		ms, err := mg.status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.Stdout, "database %s (%s)\n", db.Path, db.Dialect)
		tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tNAME")
		for _, m := range ms {
			state, at := "pending", "-"
			if m.Applied {
				state = "applied"
				if !m.AppliedAt.IsZero() {
					at = m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
			}
			fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", m.Version, state, at, m.Name)
		}
		return tw.Flush()
	}
	return nil
}
