package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"io/fs"
	"os"
	"time"

	"github.com/cockpit-engine/cockpit/internal/monitor"
)

type metricsConfig struct {
	DataDir     string
	DatabaseURL string
}

func newMetricsCommand(getenv func(string) string) (*command, *metricsConfig) {
	cfg := &metricsConfig{}
	c := newCommand("metrics", "cockpit metrics rebuild [flags]",
		`Manages the metrics rollups (the counts and durations behind the analytics pages and
the cockpit_process_* Prometheus metrics), which serve keeps up to date from the history.

  rebuild  drop the rollups and fold the whole history again. When no node holds the
           metrics lease (serve is not running), this command replays the history itself
           and prints how many events it read; while a node runs on the same PostgreSQL
           database, it only resets the rollups and that node's projector replays them
           (the analytics pages show low figures until it has caught up). The SQLite
           store is locked by a running serve: stop it first.`,
		getenv)
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_DATA_DIR", "./cockpit-data", "directory of the embedded database")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "database; empty means <data-dir>/cockpit.db; sqlite:PATH names another SQLite file; postgres://user@host/db a PostgreSQL database")
	return c, cfg
}

func (a *App) metrics(ctx context.Context, args []string) error {
	c, cfg := newMetricsCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	rest := c.args()
	if len(rest) == 0 {
		return a.usageError(c, "missing action (rebuild)")
	}
	action := rest[0]
	// Flags may also follow the action: cockpit metrics rebuild --data-dir x.
	if err := a.parseFlags(c, rest[1:]); err != nil {
		return err
	}
	if len(c.args()) > 0 {
		return a.usageError(c, "unexpected argument %q", c.args()[0])
	}
	if action != "rebuild" {
		return a.usageError(c, "unknown action %q (use rebuild)", action)
	}
	db, err := storeurl.Resolve(cfg.DataDir, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if db.Dialect == "sqlite" {
		if _, err := os.Stat(db.Path); errors.Is(err, fs.ErrNotExist) {
			// Opening would create an empty database; say what is wrong instead.
			return fmt.Errorf("no database at %s (cockpit migrate up or cockpit serve creates it)", db.Path)
		}
	}
	st, err := db.Open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	mon, err := monitor.New(monitor.Options{Store: st})
	if err != nil {
		return err
	}
	began := time.Now()
	res, err := mon.Rebuild(ctx, "rebuild-"+newNodeID())
	if err != nil {
		return err
	}
	if res.Delegated {
		fmt.Fprintf(a.Stdout, "%s: metrics reset; the node holding the metrics lease replays the history\n", db.Path)
		return nil
	}
	fmt.Fprintf(a.Stdout, "%s: metrics rebuilt from %d events in %s\n", db.Path, res.Events, time.Since(began).Round(time.Millisecond))
	return nil
}
