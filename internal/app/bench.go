package app

import (
	"context"
	"os"

	"github.com/cockpit-engine/cockpit/internal/bench"
)

type benchConfig struct {
	N           int
	Concurrency int
	Store       string
	DataDir     string
	Workers     int
	JSON        bool
}

func newBenchCommand(getenv func(string) string) (*command, *benchConfig) {
	cfg := &benchConfig{}
	c := newCommand("bench", "cockpit bench [flags]",
		`Runs N instances of the reference flow (start, three service tasks with no-op handlers,
end) on a fresh store in a temporary directory (removed afterwards) and prints completed
instances per second, p50/p99 start-to-completion latency and peak memory. With --json
it prints exactly one line:

  {"store":"sqlite","n":10000,"ips":...,"p50_ms":...,"p99_ms":...,"rss_mb":...}`,
		getenv)
	c.intVar(&cfg.N, "n", "COCKPIT_BENCH_N", 10000, "instances to run")
	c.intVar(&cfg.Concurrency, "concurrency", "COCKPIT_BENCH_CONCURRENCY", 128, "instances in flight (each worker starts one and waits for it to complete)")
	c.stringVar(&cfg.Store, "store", "COCKPIT_BENCH_STORE", "sqlite", "store to measure (sqlite; postgres comes later)")
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_BENCH_DIR", os.TempDir(), "where the temporary store directory is made")
	c.intVar(&cfg.Workers, "workers", "COCKPIT_WORKERS", 0, "job handlers run at once (0: 4 x CPUs)")
	c.boolVar(&cfg.JSON, "json", "", false, "print one JSON line instead of text")
	return c, cfg
}

func (a *App) bench(ctx context.Context, args []string) error {
	c, cfg := newBenchCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	if len(c.args()) > 0 {
		return a.usageError(c, "unexpected argument %q", c.args()[0])
	}
	if cfg.N < 1 || cfg.Concurrency < 1 || cfg.Workers < 0 {
		return a.usageError(c, "--n and --concurrency must be at least 1, --workers at least 0")
	}
	if cfg.Store != "sqlite" {
		return a.usageError(c, "--store %q: only sqlite is available", cfg.Store)
	}
	_, err := bench.Run(ctx, bench.Options{
		N: cfg.N, Concurrency: cfg.Concurrency, Store: cfg.Store, Dir: cfg.DataDir, Workers: cfg.Workers,
		Out: a.Stdout, JSON: cfg.JSON,
	})
	return err
}
