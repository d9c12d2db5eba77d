package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// testWorkerEnv makes the test binary the worker process of an external-worker run.
const testWorkerEnv = "COCKPIT_BENCH_TEST_WORKER_NATS"

func TestMain(m *testing.M) {
	if url := os.Getenv(testWorkerEnv); url != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		err := RunWorker(ctx, url, 8)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

func TestRunCompletesEveryInstance(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Options{N: 200, Concurrency: 8, Dir: dir, Out: &out, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.N != 200 || res.IPS <= 0 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms {
		t.Fatalf("result %+v", res)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("--json output is not exactly one line: %q", line)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"store", "n", "ips", "p50_ms", "p99_ms", "rss_mb"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, line)
		}
	}
	if len(got) != 6 || got["store"] != "sqlite" || got["n"] != float64(200) {
		t.Errorf("JSON %s", line)
	}
	// The temporary store is gone.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("bench left %d entries in its directory", len(entries))
	}
}

func TestHumanOutput(t *testing.T) {
	r := &Result{Store: "sqlite", N: 10, IPS: 123.4, P50Ms: 1.5, P99Ms: 3, RSSMB: 42, Concurrency: 2, Elapsed: time.Second}
	var out bytes.Buffer
	if err := r.Write(&out, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"123.4 instances/s", "p50 1.50 ms", "p99 3.00 ms", "42.0 MiB"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestUnsupportedStore(t *testing.T) {
	_, err := Run(context.Background(), Options{N: 1, Store: "postgres", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "unsupported store") {
		t.Fatalf("err %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("empty p99 %v", p)
	}
	if PeakRSSMB() <= 0 {
		t.Error("no peak RSS")
	}
}

// BenchmarkReferenceFlow runs b.N instances of the reference flow and reports the
// throughput and latency that cockpit bench prints.
func BenchmarkReferenceFlow(b *testing.B) {
	res, err := Run(context.Background(), Options{N: max(b.N, 1), Concurrency: 64, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.IPS, "instances/s")
	b.ReportMetric(res.P99Ms, "p99-ms")
}

func TestRunWithNATS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Options{N: 50, Concurrency: 4, Dir: t.TempDir(), Out: &out, JSON: true, NATS: true})
	if err != nil {
		t.Fatal(err)
	}
	// 18 events per instance of the reference flow, each timed once.
	if !res.NATS || *res.Events != 50*18 || *res.EventP99Ms < *res.EventP50Ms || *res.MaxBacklog < 0 {
		t.Fatalf("result %+v", res)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("%q: %v", out.String(), err)
	}
	for _, k := range []string{"nats", "events", "event_p50_ms", "event_p99_ms", "max_backlog"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, out.String())
		}
	}
}

// TestRunWithMetricsOnTwoNodes covers the rig's other parts: the metrics projector
// folds every event, and two engines on one PostgreSQL schema complete every instance
// between them (SQLite runs one node: more need a shared store).
func TestRunWithMetricsOnTwoNodes(t *testing.T) {
	o := Options{N: 40, Concurrency: 4, Dir: t.TempDir(), Metrics: true}
	if url := os.Getenv("COCKPIT_TEST_DATABASE_URL"); url != "" {
		schema := fmt.Sprintf("bench_run_%d", time.Now().UnixNano())
		t.Cleanup(func() { _ = postgres.DropSchema(context.Background(), url, schema) })
		o.Store, o.Nodes = "postgres", 2
		o.OpenStore = func(ctx context.Context) (store.Store, error) {
			return postgres.Open(ctx, postgres.Options{URL: url, Schema: schema})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// 18 events per instance of the reference flow.
	if !res.Metrics || *res.MetricsEvents != 40*18 || *res.MetricsCatchUpS < 0 || res.IPS <= 0 {
		events, catchUp := -1, -1.0
		if res.MetricsEvents != nil && res.MetricsCatchUpS != nil {
			events, catchUp = int(*res.MetricsEvents), *res.MetricsCatchUpS
		}
		t.Fatalf("result %+v: %d metrics events (want %d), catch-up %vs", res, events, 40*18, catchUp)
	}
	if o.Nodes == 2 && res.Nodes != 2 {
		t.Errorf("result names %d nodes, want 2", res.Nodes)
	}
}

// testWorker re-executes the test binary as the worker process (TestMain).
func testWorker(natsURL string, _ int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), testWorkerEnv+"="+natsURL)
	return cmd
}

// TestRunExternalWorker: with the tasks on a worker process over NATS, every instance
// completes and the result says where the tasks ran; the latency probe measures the
// commit to that process's handler start.
func TestRunExternalWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := Run(ctx, Options{N: 100, Concurrency: 8, Dir: t.TempDir(), Out: &out, JSON: true, ExternalWorker: testWorker})
	if err != nil {
		t.Fatal(err)
	}
	if res.N != 100 || !res.ExternalWorker || !strings.Contains(out.String(), `"external_worker":true`) {
		t.Fatalf("result %+v, output %s", res, out.String())
	}
	dir := t.TempDir()
	lat, err := JobLatency(ctx, LatencyOptions{Samples: 10, Store: "sqlite", ExternalWorker: testWorker,
		OpenStore: func(ctx context.Context) (store.Store, error) {
			return sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "lat.db")})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if lat.Samples != 10 || !lat.ExternalWorker || lat.P50Ms <= 0 || lat.P99Ms < lat.P50Ms {
		t.Fatalf("latency %+v", lat)
	}
}
