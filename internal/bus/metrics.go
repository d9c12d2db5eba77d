package bus

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes a relay's Stats to Prometheus. The outbox size is read from the
// store at each scrape (one indexed count); the counters and the lag histogram are the
// relay's own.
type Collector struct {
	r *Relay

	backlog, oldest, leader        *prometheus.Desc
	published, duplicates, failure *prometheus.Desc
	parked, parkedTotal            *prometheus.Desc
	scrapeErr                      *prometheus.Desc
}

// NewCollector makes the collector of a relay; register it with a prometheus.Registry.
func NewCollector(r *Relay) *Collector {
	return &Collector{
		r:           r,
		backlog:     prometheus.NewDesc("cockpit_outbox_backlog", "Events in the outbox, not yet acknowledged by NATS.", nil, nil),
		oldest:      prometheus.NewDesc("cockpit_outbox_oldest_age_seconds", "Age of the oldest event in the outbox (0 when empty).", nil, nil),
		leader:      prometheus.NewDesc("cockpit_outbox_relay_leader", "1 when this node's relay holds the outbox-relay lease and publishes.", nil, nil),
		published:   prometheus.NewDesc("cockpit_events_published_total", "Events published to NATS and removed from the outbox by this node.", nil, nil),
		duplicates:  prometheus.NewDesc("cockpit_events_duplicate_total", "Publications the stream dropped as duplicates (an event published again after a crash or failure).", nil, nil),
		failure:     prometheus.NewDesc("cockpit_event_publish_errors_total", "Messages that failed to publish; their events stay in the outbox and are retried.", nil, nil),
		parked:      prometheus.NewDesc("cockpit_outbox_parked", "Events set aside because they can never be published (larger than the NATS server's max_payload), from every node; they stay in the history.", nil, nil),
		parkedTotal: prometheus.NewDesc("cockpit_events_parked_total", "Events this node's relay set aside because they can never be published.", nil, nil),
		scrapeErr:   prometheus.NewDesc("cockpit_outbox_stats_error", "1 when the outbox size could not be read at this scrape.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backlog, c.oldest, c.leader, c.published, c.duplicates, c.failure, c.parked, c.parkedTotal, c.scrapeErr} {
		ch <- d
	}
	c.r.lag.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.r.Stats(ctx)
	scrapeErr := 0.0
	if err != nil {
		scrapeErr = 1
	} else {
		ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(s.Backlog))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, s.OldestAge.Seconds())
		ch <- prometheus.MustNewConstMetric(c.parked, prometheus.GaugeValue, float64(s.ParkedTotal))
	}
	leader := 0.0
	if s.Leader {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, scrapeErr)
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(s.Published))
	ch <- prometheus.MustNewConstMetric(c.duplicates, prometheus.CounterValue, float64(s.Duplicates))
	ch <- prometheus.MustNewConstMetric(c.failure, prometheus.CounterValue, float64(s.PublishErrors))
	ch <- prometheus.MustNewConstMetric(c.parkedTotal, prometheus.CounterValue, float64(s.Parked))
	c.r.lag.Collect(ch)
}
