package monitor_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// scraper serves a collector over HTTP and returns the text of each scrape.
func scraper(t *testing.T, c *monitor.Collector) func() string {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return func() string {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(body)
	}
}

func wantLines(t *testing.T, what, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, l+"\n") {
			t.Errorf("%s: scrape lacks %q", what, l)
		}
	}
}

// TestCollectorClosedDays: a scrape reads the day rollups from the first day that may
// still change on, and adds the sums of the days before it, kept since the scrape that
// made them. The sums are made again after a reset of the rollups and when the next day
// closes.
func TestCollectorClosedDays(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			v := newMetricsEnv(t, k.open, nil)
			defs, err := v.e.ListDefinitions(v.ctx, store.DefinitionFilter{Key: "metrics"})
			if err != nil || len(defs) != 1 {
				t.Fatalf("definitions: %v %v", defs, err)
			}
			day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
			row := func(d int, started, completed int64) *store.Rollup {
				var h monitor.Histogram
				for range completed {
					h.Observe(time.Second)
				}
				return &store.Rollup{Step: store.StepDay, Bucket: day.AddDate(0, 0, d), DefinitionID: defs[0].ID,
					Kind: store.RollupInstance, Started: started, Completed: completed, Duration: h.Encode()}
			}
			put := func(reset bool, rows ...*store.Rollup) {
				t.Helper()
				err := v.st.Write(v.ctx, func(tx store.Tx) error {
					if reset {
						if err := tx.ResetMetrics(v.ctx); err != nil {
							return err
						}
					}
					return tx.ApplyMetrics(v.ctx, &store.MetricsBatch{From: 0, To: 0, Rows: rows})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			// Two closed days and today; the projector is caught up (no events).
			put(false, row(-2, 5, 4), row(-1, 3, 0), row(0, 2, 1))
			now := clock.NewFake(day.Add(12 * time.Hour))
			scrape := scraper(t, monitor.NewCollector(monitor.CollectorOptions{Store: v.st, Clock: now}))
			wantLines(t, "first", scrape(),
				`cockpit_process_instances_started_total{process="metrics"} 10`,
				`cockpit_process_instances_completed_total{process="metrics"} 5`,
				`cockpit_process_instance_duration_seconds_count{process="metrics"} 5`,
				`cockpit_process_instance_duration_seconds_bucket{process="metrics",le="+Inf"} 5`,
				`cockpit_process_metrics_error 0`)

			// A closed day is not read again (it is changed here only to see that), today is.
			put(false, row(-1, 100, 0), row(0, 7, 1))
			wantLines(t, "cached", scrape(), `cockpit_process_instances_started_total{process="metrics"} 15`)

			// A reset (rebuild) drops the sums even though the cursor is back where it was.
			put(true, row(-2, 5, 4), row(-1, 100, 0), row(0, 7, 2))
			wantLines(t, "after a reset", scrape(),
				`cockpit_process_instances_started_total{process="metrics"} 112`,
				`cockpit_process_instance_duration_seconds_count{process="metrics"} 6`)

			// The next day closes today: the sums are made again from every row.
			put(false, row(-1, 3, 0))
			wantLines(t, "same day", scrape(), `cockpit_process_instances_started_total{process="metrics"} 112`)
			now.Advance(24 * time.Hour)
			wantLines(t, "next day", scrape(), `cockpit_process_instances_started_total{process="metrics"} 15`)
		})
	}
}

// TestCollectorStalls: the stalled-instances gauge counts the instances with an open
// stall whose token still stands where it stalled, 0 for a key without.
func TestCollectorStalls(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			v := newMetricsEnv(t, k.open, nil)
			scrape := scraper(t, monitor.NewCollector(monitor.CollectorOptions{Store: v.st, Clock: v.clock}))
			var ids []string
			for range 2 {
				in, err := v.e.StartInstance(v.ctx, "metrics", engine.StartOptions{Variables: map[string]any{"amount": 1}})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, in.ID)
			}
			wantLines(t, "no stall", scrape(), `cockpit_process_instances_stalled{process="metrics"} 0`)

			// Both tokens of the first instance stall (the fork made one at a and one at b).
			d, err := v.e.GetInstance(v.ctx, ids[0])
			if err != nil || len(d.Tokens) != 2 {
				t.Fatalf("instance: %v %+v", err, d)
			}
			var stalls []*store.Stall
			for i, tok := range d.Tokens {
				stalls = append(stalls, &store.Stall{ID: "stall-" + itoa(int64(i)), TokenID: tok.ID, InstanceID: ids[0],
					DefinitionID: d.Instance.DefinitionID, DefinitionKey: "metrics", ElementID: tok.ElementID, Since: tok.CreatedAt,
					Threshold: time.Minute, DetectedAt: v.clock.Now(), State: store.StallOpen})
			}
			write := func(fn func(ctx context.Context, tx store.Tx) error) {
				t.Helper()
				if err := v.st.Write(v.ctx, func(tx store.Tx) error { return fn(v.ctx, tx) }); err != nil {
					t.Fatal(err)
				}
			}
			write(func(ctx context.Context, tx store.Tx) error { return tx.InsertStalls(ctx, stalls) })
			wantLines(t, "one stalled instance", scrape(), `cockpit_process_instances_stalled{process="metrics"} 1`)

			write(func(ctx context.Context, tx store.Tx) error {
				return tx.ClearStalls(ctx, []string{stalls[0].ID, stalls[1].ID}, v.clock.Now())
			})
			wantLines(t, "cleared", scrape(), `cockpit_process_instances_stalled{process="metrics"} 0`)
		})
	}
}
