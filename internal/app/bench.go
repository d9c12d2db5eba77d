package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"

	"github.com/cockpit-engine/cockpit/internal/bench"
)

type benchConfig struct {
	N           int
	Concurrency int
	Store       string
	DataDir     string
	Workers     int
	JSON        bool
	NATS        bool
	DatabaseURL string
	Nodes       int
	Latency     bool
	Metrics     bool
	CPUProfile  string
	External    bool
	EngineREST  string
}

// benchWorkerEnv, in the environment of `cockpit bench`, makes it the worker process of
// an --external-worker run (the value: the NATS URL to serve jobs from); benchWorkerConcEnv
// is its concurrency. Only the bench sets them, when it re-executes this binary.
const (
	benchWorkerEnv     = "COCKPIT_BENCH_WORKER_NATS"
	benchWorkerConcEnv = "COCKPIT_BENCH_WORKER_CONCURRENCY"
)

func newBenchCommand(getenv func(string) string) (*command, *benchConfig) {
	cfg := &benchConfig{}
	c := newCommand("bench", "cockpit bench [flags]",
		`Runs N instances of the reference flow (start, three service tasks with no-op handlers,
end) on a fresh store in a temporary directory (removed afterwards) and prints completed
instances per second, p50/p99 start-to-completion latency and peak memory. With --json
it prints exactly one line:

  {"store":"sqlite","n":10000,"ips":...,"p50_ms":...,"p99_ms":...,"rss_mb":...}

With --nats it also runs an embedded NATS server and the outbox relay, and reports the
commit-to-arrival time of events at a subscriber and the largest outbox backlog; the JSON
line then has "nats":true,"events":...,"event_p50_ms":...,"event_p99_ms":...,"max_backlog":...

The metrics projector runs beside the engine (as in serve) unless --metrics=false; the
JSON line then has "metrics":true,"metrics_events":...,"metrics_catch_up_s":... (the time
from the last completion until every event was folded into the rollups).

With --external-worker the three tasks run on a worker in another process (this binary
again, with the public worker package) over an embedded NATS server and the job protocol
of docs/workers.md, instead of on the engine's own handlers; with --latency it measures
job commit to that worker's handler start. The JSON line then has "external_worker":true.

With --engine-rest-worker SCRIPT the three tasks run on Camunda 7's JavaScript
external-task client over /engine-rest (docs/camunda.md): node runs SCRIPT with the API's
base URL and the concurrency (examples/camunda-js/bench-worker.js is one; npm ci there
first). The JSON line then has "engine_rest":true.`,
		getenv)
	c.intVar(&cfg.N, "n", "COCKPIT_BENCH_N", 10000, "instances to run")
	c.intVar(&cfg.Concurrency, "concurrency", "COCKPIT_BENCH_CONCURRENCY", 64, "instances in flight (each worker starts one and waits for it to complete)")
	c.stringVar(&cfg.Store, "store", "COCKPIT_BENCH_STORE", "sqlite", "store to measure: sqlite, or postgres (a fresh schema in --database-url, dropped afterwards)")
	c.stringVar(&cfg.DatabaseURL, "database-url", "COCKPIT_DATABASE_URL", "", "PostgreSQL database for --store postgres (postgres://user@host/db)")
	c.stringVar(&cfg.DataDir, "data-dir", "COCKPIT_BENCH_DIR", os.TempDir(), "where the temporary store directory is made")
	c.intVar(&cfg.Workers, "workers", "COCKPIT_WORKERS", 0, "job handlers run at once (0: as many as --concurrency, at least the engine default of 64)")
	c.boolVar(&cfg.JSON, "json", "", false, "print one JSON line instead of text")
	c.intVar(&cfg.Nodes, "nodes", "COCKPIT_BENCH_NODES", 1, "engines sharing the store, as separate nodes would (more than 1 needs --store postgres)")
	c.boolVar(&cfg.Latency, "latency", "COCKPIT_BENCH_LATENCY", false, "instead of throughput, measure job commit to handler start on an idle system (200 instances one at a time)")
	c.boolVar(&cfg.NATS, "nats", "COCKPIT_BENCH_NATS", false, "publish every event through an embedded NATS server and measure commit-to-arrival latency")
	c.stringVar(&cfg.CPUProfile, "cpuprofile", "COCKPIT_BENCH_CPUPROFILE", "", "write a Go CPU profile of the run to this file (go tool pprof FILE)")
	c.boolVar(&cfg.External, "external-worker", "COCKPIT_BENCH_EXTERNAL_WORKER", false, "run the tasks on a worker process over NATS (docs/workers.md) instead of in-process handlers")
	c.stringVar(&cfg.EngineREST, "engine-rest-worker", "COCKPIT_BENCH_ENGINE_REST_WORKER", "", "run the tasks on this Node.js script (a Camunda 7 external-task client, e.g. examples/camunda-js/bench-worker.js) over /engine-rest")
	c.boolVar(&cfg.Metrics, "metrics", "COCKPIT_BENCH_METRICS", true, "run the metrics projector beside the engine, as serve does (--metrics=false measures the engine without it)")
	return c, cfg
}

func (a *App) bench(ctx context.Context, args []string) error {
	if url := a.Getenv(benchWorkerEnv); url != "" {
		conc, err := strconv.Atoi(a.Getenv(benchWorkerConcEnv))
		if err != nil || conc < 1 {
			conc = 64
		}
		return bench.RunWorker(ctx, url, conc)
	}
	c, cfg := newBenchCommand(a.Getenv)
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	if len(c.args()) > 0 {
		return a.usageError(c, "unexpected argument %q", c.args()[0])
	}
	if cfg.N < 1 || cfg.Concurrency < 1 || cfg.Workers < 0 || cfg.Nodes < 1 {
		return a.usageError(c, "--n, --concurrency and --nodes must be at least 1, --workers at least 0")
	}
	if cfg.Nodes > 1 && cfg.Store != "postgres" {
		return a.usageError(c, "--nodes %d needs --store postgres (SQLite belongs to one process)", cfg.Nodes)
	}
	var openStore func(ctx context.Context) (store.Store, error)
	switch cfg.Store {
	case "sqlite":
	case "postgres":
		if cfg.DatabaseURL == "" {
			return a.usageError(c, "--store postgres needs --database-url (COCKPIT_DATABASE_URL)")
		}
		// A throw-away schema, so the run starts empty and leaves nothing behind.
		schema := "cockpit_bench_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := postgres.DropSchema(dctx, cfg.DatabaseURL, schema); err != nil {
				fmt.Fprintf(a.Stderr, "cockpit bench: %v\n", err)
			}
		}()
		openStore = func(ctx context.Context) (store.Store, error) {
			return postgres.Open(ctx, postgres.Options{URL: cfg.DatabaseURL, Schema: schema})
		}
	default:
		return a.usageError(c, "--store %q: use sqlite or postgres", cfg.Store)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var external bench.WorkerCommand
	if cfg.External {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--external-worker: %w", err)
		}
		external = func(natsURL string, concurrency int) *exec.Cmd {
			cmd := exec.Command(self, "bench")
			cmd.Env = append(os.Environ(), benchWorkerEnv+"="+natsURL, benchWorkerConcEnv+"="+strconv.Itoa(concurrency))
			return cmd
		}
	}
	var engineREST bench.WorkerCommand
	if cfg.EngineREST != "" {
		if cfg.External {
			return a.usageError(c, "--engine-rest-worker and --external-worker exclude each other")
		}
		node, err := exec.LookPath("node")
		if err != nil {
			return fmt.Errorf("--engine-rest-worker: node is not installed: %w", err)
		}
		if _, err := os.Stat(cfg.EngineREST); err != nil {
			return fmt.Errorf("--engine-rest-worker: %w", err)
		}
		engineREST = func(baseURL string, concurrency int) *exec.Cmd {
			cmd := exec.Command(node, filepath.Base(cfg.EngineREST), baseURL, strconv.Itoa(concurrency))
			cmd.Dir = filepath.Dir(cfg.EngineREST) // where its node_modules are
			return cmd
		}
	}
	if cfg.Latency {
		if openStore == nil {
			dir, err := os.MkdirTemp(cfg.DataDir, "cockpit-bench-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			openStore = func(ctx context.Context) (store.Store, error) {
				return sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "bench.db")})
			}
		}
		_, err := bench.JobLatency(ctx, bench.LatencyOptions{Nodes: cfg.Nodes, OpenStore: openStore, Store: cfg.Store,
			Out: a.Stdout, JSON: cfg.JSON, ExternalWorker: external, EngineREST: engineREST})
		return err
	}
	_, err := bench.Run(ctx, bench.Options{Nodes: cfg.Nodes,
		N: cfg.N, Concurrency: cfg.Concurrency, Store: cfg.Store, Dir: cfg.DataDir, Workers: cfg.Workers,
		Out: a.Stdout, JSON: cfg.JSON, NATS: cfg.NATS, Metrics: cfg.Metrics, OpenStore: openStore,
		ExternalWorker: external, EngineREST: engineREST,
	})
	return err
}
