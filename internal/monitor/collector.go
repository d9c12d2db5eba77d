package monitor

import (
	"context"
	"sync"
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
// event, never history) of the days not yet closed, adds the cached sums of the closed
// days (closedDays), and reads the work in flight (bounded by running instances, jobs,
// incidents and open stalls) and the projector's cursor.
type Collector struct {
	o CollectorOptions

	mu     sync.Mutex
	closed *closedDays // nil until the first scrape; never changed once made

	started, completed, cancelled, incidents *prometheus.Desc
	duration                                 *prometheus.Desc
	running, jobs, openIncidents, stalled    *prometheus.Desc
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
		stalled:       prometheus.NewDesc("cockpit_process_instances_stalled", "Active process instances with a token waiting past its stall threshold (open stalls).", process, nil),
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
		c.jobs, c.openIncidents, c.stalled, c.lag, c.leader, c.workers, c.busy, c.busySeconds, c.utilisation, c.scrapeErr} {
		ch <- d
	}
}

// perKey is what one process key (or definition) adds up to.
type perKey struct {
	counts Counts
	dur    Histogram
}

func (k *perKey) merge(o *perKey) {
	k.counts.add(o.counts)
	k.dur.Merge(&o.dur)
}

// closedMargin is how long before the first event still to fold (or now, when the
// projector is caught up) a day's rollups may still change: event times come from the
// committing node's clock when its command ran, so an event folded later may be dated a
// little earlier than one folded before it (clocks of several nodes, group commits).
const closedMargin = time.Hour

// closedDays caches the sums of the instance day rollups, per definition, of the days
// before Before: days that no fold will write again, unless the rollups are reset
// (MetricsState.Resets) or the cursor goes back (a restored database). A scrape then
// reads only the rows from Before on. The cache is made again when Before moves (once a
// day), so a row that changed below it against the odds is counted by the next day.
type closedDays struct {
	before         time.Time
	resets, cursor int64
	defs           map[string]*perKey // by definition id
}

// closedBefore returns the start of the first day that may still change.
func closedBefore(now time.Time, state store.MetricsState) time.Time {
	if !state.Next.IsZero() && state.Next.Before(now) {
		now = state.Next
	}
	return now.Add(-closedMargin).UTC().Truncate(24 * time.Hour)
}

// usable tells whether the cached sums hold for a scrape that sees state.
func (d *closedDays) usable(before time.Time, state store.MetricsState) bool {
	return d != nil && d.before.Equal(before) && d.resets == state.Resets && state.Cursor >= d.cursor
}

func (c *Collector) now() time.Time {
	if c.o.Clock != nil {
		return c.o.Clock.Now()
	}
	return time.Now()
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
	keys, work, stalled, state, err := c.read(ctx)
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
	for key := range keys {
		// Every deployed key, so that an alert on it sees 0 rather than no series.
		ch <- prometheus.MustNewConstMetric(c.stalled, prometheus.GaugeValue, float64(stalled[key]), key)
	}
	for _, w := range work {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(w.Running), w.DefinitionKey)
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(w.Jobs), w.DefinitionKey)
		ch <- prometheus.MustNewConstMetric(c.openIncidents, prometheus.GaugeValue, float64(w.Incidents), w.DefinitionKey)
	}
	lag := 0.0
	if !state.Next.IsZero() {
		lag = max(c.now().Sub(state.Next).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
}

func (c *Collector) read(ctx context.Context) (map[string]*perKey, []*store.WorkCount, map[string]int, store.MetricsState, error) {
	keys := map[string]*perKey{}
	var work []*store.WorkCount
	var stalled map[string]int
	var state store.MetricsState
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	var made *closedDays
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
		// The state first: the rows read after it in this snapshot are those it describes.
		if state, err = tx.MetricsState(ctx); err != nil {
			return err
		}
		before := closedBefore(c.now(), state)
		f := store.RollupFilter{Step: string(StepDay), Kind: store.RollupInstance}
		if closed.usable(before, state) {
			f.From = before
		} else {
			closed = &closedDays{before: before, resets: state.Resets, cursor: state.Cursor, defs: map[string]*perKey{}}
			made = closed
		}
		rows, err := tx.ListRollups(ctx, f)
		if err != nil {
			return err
		}
		open := map[string]*perKey{}
		for _, r := range rows {
			into := open
			if made != nil && r.Bucket.Before(before) {
				into = made.defs // else the filter left these rows out
			}
			k := into[r.DefinitionID]
			if k == nil {
				k = &perKey{}
				into[r.DefinitionID] = k
			}
			k.counts.add(instanceCounts(r))
			if err := k.dur.mergeData(r.Duration); err != nil {
				return err
			}
		}
		for _, sums := range []map[string]*perKey{closed.defs, open} {
			for def, sum := range sums {
				if k := keys[keyOf[def]]; k != nil {
					k.merge(sum)
				}
			}
		}
		if work, err = tx.WorkCounts(ctx); err != nil {
			return err
		}
		stalled, err = tx.CountStalledInstances(ctx)
		return err
	})
	if err == nil && made != nil {
		c.mu.Lock()
		c.closed = made
		c.mu.Unlock()
	}
	return keys, work, stalled, state, err
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
