// Package monitor keeps process metrics for analysts and finds stalled instances for ops.
//
// Metrics are kept incrementally: a projector reads the engine's history (the same
// ordered event log the outbox relay publishes) above its own cursor, folds each batch
// into rollup rows per definition version, element and time bucket (minute, hour, day)
// and moves the cursor in the same transaction, so the figures are exact after a restart
// and a page never scans history. Rebuild drops the rollups and replays the history.
//
// This file is the read contract the web pages, the stall detector and the Prometheus
// collector build on.
package monitor

import "time"

// Step is the width of one rollup bucket.
type Step string

// Steps, finest first.
const (
	StepMinute Step = "minute"
	StepHour   Step = "hour"
	StepDay    Step = "day"
)

// Query selects the metrics of one definition key for a time range.
type Query struct {
	// DefinitionKey is the process key (required).
	DefinitionKey string
	// Version picks one deployed version; 0 means every version of the key.
	Version int
	// Service picks the definitions of one service (an observing cockpit's read model,
	// where several may deploy the key); "" means every service's.
	Service string
	// From and To bound the range [From, To). Zero values mean the last 24 hours.
	From, To time.Time
	// Step is the bucket width of Report.Series; "" picks the finest step that gives at
	// most MaxPoints points for the range.
	Step Step
	// SeriesCountsOnly leaves Point.Duration of every point of Report.Series empty: the
	// series then costs no histogram decoding, for callers that chart only its counts.
	SeriesCountsOnly bool
}

// MaxPoints bounds the number of points of a series when the step is chosen for a range.
const MaxPoints = 240

// Stats summarises a duration histogram. Percentiles come from the histogram buckets
// (log-scaled, a few percent wide), never from a scan of history.
type Stats struct {
	Count int64
	// Sum over all observations (Avg = Sum / Count).
	Sum time.Duration
	Max time.Duration
	P50 time.Duration
	P95 time.Duration
	P99 time.Duration
}

// Avg is the mean duration (0 without observations).
func (s Stats) Avg() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.Count)
}

// Counts are the instance-level totals of a range.
type Counts struct {
	Started   int64
	Completed int64
	Cancelled int64
	// Incidents opened in the range.
	Incidents int64
}

// Point is one bucket of a series.
type Point struct {
	Start time.Time
	Counts
	// Duration of the instances that ended in the bucket.
	Duration Stats
}

// ElementMetrics are the figures of one BPMN element (activity, event, gateway).
type ElementMetrics struct {
	ElementID string
	// Entered and Left count tokens arriving at and leaving the element; Cancelled counts
	// tokens removed there because the instance was cancelled; Interrupted those the
	// process took away itself (an interrupting boundary event: error or timer; a
	// terminate end event).
	Entered     int64
	Left        int64
	Cancelled   int64
	Interrupted int64
	Incidents   int64
	// Duration is the time from arrival to leaving (element.entered to element.left).
	Duration Stats
	// Waiting is the time a token waited at the element before work on it began: for a
	// job (service task) from arrival, or from the retry's due time, to the handler's
	// start; for everything else that waits (user task, timer, message, join) the whole
	// stay.
	Waiting Stats
}

// FlowMetrics count how often a sequence flow was taken.
type FlowMetrics struct {
	FlowID string
	Taken  int64
}

// Bucket is one bar of a duration distribution: observations with a duration in
// (previous bucket's Upper, Upper].
type Bucket struct {
	Upper time.Duration
	Count int64
}

// Report is what one Query returns.
type Report struct {
	Query Query // with the defaults filled in (From, To, Step)
	// Versions lists the versions of the key that have data or are deployed.
	Versions []int
	Total    Counts
	// Duration is the instance duration over the range.
	Duration Stats
	// Distribution is the instance duration histogram (non-empty buckets only).
	Distribution []Bucket
	// Series has one point per step from From to To, empty buckets included.
	Series   []Point
	Elements []ElementMetrics // sorted by ElementID
	Flows    []FlowMetrics    // sorted by FlowID
	// Lag is how far the rollups trail the history (commit time of the newest event not yet
	// folded in; 0 when caught up).
	Lag time.Duration
}
