package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

func TestJobLatency(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lat.db")
	res, err := JobLatency(context.Background(), LatencyOptions{Samples: 20, Store: "sqlite",
		OpenStore: func(ctx context.Context) (store.Store, error) { return sqlite.Open(ctx, sqlite.Options{Path: path}) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 20 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms {
		t.Fatalf("result %+v", res)
	}
}

// TestJobLatencyPostgresNodes runs the latency probe on two nodes sharing a PostgreSQL
// schema: the node that creates the first job does not handle its type, so every sample
// is a job the other node picks up after its wake-up (LISTEN/NOTIFY).
func TestJobLatencyPostgresNodes(t *testing.T) {
	url := os.Getenv("COCKPIT_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: PostgreSQL latency probe skipped")
	}
	t.Parallel()
	schema := fmt.Sprintf("bench_lat_%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = postgres.DropSchema(context.Background(), url, schema) })
	res, err := JobLatency(context.Background(), LatencyOptions{Samples: 50, Nodes: 2, Store: "postgres",
		OpenStore: func(ctx context.Context) (store.Store, error) {
			return postgres.Open(ctx, postgres.Options{URL: url, Schema: schema})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Samples != 50 || res.P50Ms <= 0 || res.P99Ms < res.P50Ms || res.MaxMs < res.P99Ms {
		t.Fatalf("result %+v", res)
	}
	t.Logf("job commit to handler start on 2 nodes: p50 %.2f ms, p99 %.2f ms, max %.2f ms", res.P50Ms, res.P99Ms, res.MaxMs)
}
