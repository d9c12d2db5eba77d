package monitor

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// DurationBuckets are the upper bounds (seconds) of
// cockpit_process_instance_duration_seconds: from 10 ms to a week. Each rollup bucket
// (4.4% wide) is counted in the first of these at or above its upper bound, so an
// observation within 4.4% below a bound may be counted one bucket high.
var DurationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
	3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400}

// CollectorOptions configure a Collector.
type CollectorOptions struct {
	Store store.Store
	// Executor, when set, reports the job executor's utilisation (engine.ExecutorStats).
	Executor func() engine.ExecutorStats
	// Projector, when set, reports whether this node projects.
	Projector *Projector
	Clock     interface{ Now() time.Time } // default time.Now
}

// Collector exposes the process metrics to Prometheus. Each scrape reads the day
// rollups of the instances (one row per definition and day: the totals since the first
// event, never history), the work in flight (bounded by running instances, jobs and
// incidents) and the projector's cursor.
type Collector struct {
	o CollectorOptions

	started, completed, cancelled, incidents *prometheus.Desc
	duration                                 *prometheus.Desc
	running, jobs, openIncidents             *prometheus.Desc
	lag, leader                              *prometheus.Desc
	workers, busy, busySeconds, utilisation  *prometheus.Desc
	scrapeErr                                *prometheus.Desc
}

// NewCollector makes the collector; register it with a prometheus.Registry.
func NewCollector(o CollectorOptions) *Collector {
	process := []string{"process"}
	return &Collector{
		o:             o,
		started:       prometheus.NewDesc("cockpit_process_instances_started_total", "Process instances started.", process, nil),
		completed:     prometheus.NewDesc("cockpit_process_instances_completed_total", "Process instances completed.", process, nil),
		cancelled:     prometheus.NewDesc("cockpit_process_instances_cancelled_total", "Process instances cancelled.", process, nil),
		incidents:     prometheus.NewDesc("cockpit_process_incidents_opened_total", "Incidents opened.", process, nil),
		duration:      prometheus.NewDesc("cockpit_process_instance_duration_seconds", "Duration of completed process instances, from start to end.", process, nil),
		running:       prometheus.NewDesc("cockpit_process_instances_running", "Process instances active or suspended now.", process, nil),
		jobs:          prometheus.NewDesc("cockpit_jobs_pending", "Service jobs waiting for a handler or running (with retries left, not suspended).", process, nil),
		openIncidents: prometheus.NewDesc("cockpit_incidents_open", "Open incidents.", process, nil),
		lag:           prometheus.NewDesc("cockpit_metrics_projector_lag_seconds", "Age of the oldest event not yet folded into the metrics rollups (0 when caught up).", nil, nil),
		leader:        prometheus.NewDesc("cockpit_metrics_projector_leader", "1 when this node's projector holds the metrics lease.", nil, nil),
		workers:       prometheus.NewDesc("cockpit_executor_workers", "Jobs the executor runs at once at most.", nil, nil),
		busy:          prometheus.NewDesc("cockpit_executor_jobs_running", "Jobs running in the executor now.", nil, nil),
		busySeconds:   prometheus.NewDesc("cockpit_executor_busy_seconds_total", "Time spent running jobs, summed over workers (rate / workers = utilisation).", nil, nil),
		utilisation:   prometheus.NewDesc("cockpit_executor_utilisation_ratio", "Jobs running now divided by workers.", nil, nil),
		scrapeErr:     prometheus.NewDesc("cockpit_process_metrics_error", "1 when the process metrics could not be read at this scrape.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.started, c.completed, c.cancelled, c.incidents, c.duration, c.running,
		c.jobs, c.openIncidents, c.lag, c.leader, c.workers, c.busy, c.busySeconds, c.utilisation, c.scrapeErr} {
		ch <- d
	}
}

// perKey is what one process key adds up to.
type perKey struct {
	counts Counts
	dur    Histogram
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c.o.Executor != nil {
		s := c.o.Executor()
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(s.Workers))
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.GaugeValue, float64(s.Running))
		ch <- prometheus.MustNewConstMetric(c.busySeconds, prometheus.CounterValue, s.Busy.Seconds())
		if s.Workers > 0 {
			ch <- prometheus.MustNewConstMetric(c.utilisation, prometheus.GaugeValue, float64(s.Running)/float64(s.Workers))
		}
	}
	if c.o.Projector != nil {
		leader := 0.0
		if c.o.Projector.Stats().Leader {
			leader = 1
		}
		ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	}
	keys, work, state, err := c.read(ctx)
	scrapeErr := 0.0
	if err != nil {
		scrapeErr = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, scrapeErr)
	if err != nil {
		return
	}
	for key, k := range keys {
		ch <- prometheus.MustNewConstMetric(c.started, prometheus.CounterValue, float64(k.counts.Started), key)
		ch <- prometheus.MustNewConstMetric(c.completed, prometheus.CounterValue, float64(k.counts.Completed), key)
		ch <- prometheus.MustNewConstMetric(c.cancelled, prometheus.CounterValue, float64(k.counts.Cancelled), key)
		ch <- prometheus.MustNewConstMetric(c.incidents, prometheus.CounterValue, float64(k.counts.Incidents), key)
		count, sum, buckets := promBuckets(&k.dur)
		ch <- prometheus.MustNewConstHistogram(c.duration, count, sum, buckets, key)
	}
	for _, w := range work {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(w.Running), w.DefinitionKey)
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(w.Jobs), w.DefinitionKey)
		ch <- prometheus.MustNewConstMetric(c.openIncidents, prometheus.GaugeValue, float64(w.Incidents), w.DefinitionKey)
	}
	lag := 0.0
	if !state.Next.IsZero() {
		now := time.Now()
		if c.o.Clock != nil {
			now = c.o.Clock.Now()
		}
		lag = max(now.Sub(state.Next).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}

func (c *Collector) read(ctx context.Context) (map[string]*perKey, []*store.WorkCount, store.MetricsState, error) {
	keys := map[string]*perKey{}
	var work []*store.WorkCount
	var state store.MetricsState
	err := c.o.Store.Read(ctx, func(tx store.Tx) error {
		defs, err := tx.ListDefinitions(ctx, store.DefinitionFilter{})
		if err != nil {
			return err
		}
		keyOf := make(map[string]string, len(defs))
		for _, d := range defs {
			keyOf[d.ID] = d.Key
			if keys[d.Key] == nil {
				keys[d.Key] = &perKey{}
			}
		}
		rows, err := tx.ListRollups(ctx, store.RollupFilter{Step: string(StepDay), Kind: store.RollupInstance})
		if err != nil {
			return err
		}
		for _, r := range rows {
			k := keys[keyOf[r.DefinitionID]]
			if k == nil {
				continue
			}
			h, err := DecodeHistogram(r.Duration)
			if err != nil {
				return err
			}
			k.counts.add(Counts{Started: r.Started, Completed: r.Completed, Cancelled: r.Cancelled, Incidents: r.Incidents})
			k.dur.Merge(h)
		}
		if work, err = tx.WorkCounts(ctx); err != nil {
			return err
		}
		state, err = tx.MetricsState(ctx)
		return err
	})
	return keys, work, state, err
}

// promBuckets converts a histogram to Prometheus's cumulative buckets (seconds).
func promBuckets(h *Histogram) (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(DurationBuckets))
	for _, le := range DurationBuckets {
		buckets[le] = 0
	}
	for _, b := range h.Buckets() {
		up := b.Upper.Seconds()
		for _, le := range DurationBuckets {
			if up <= le {
				buckets[le] += uint64(b.Count)
			}
		}
	}
	return uint64(h.Count), float64(h.SumMs) / 1000, buckets
}
