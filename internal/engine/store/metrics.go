package store

import (
	"context"
	"time"
)

// MetricsTx keeps the rollups of the metrics projector (package monitor): counters and
// duration histograms per definition version, element and time bucket, and the cursor
// that says how much of the history they contain.
//
// The projector alone writes them, holding the "metrics" lease. It reads events above the
// cursor (ListEvents with AfterSeq: seq order is commit order, see ListOutbox), reads the
// rows those events touch, and writes the merged rows with the new cursor in one
// ApplyMetrics call in the same write transaction. The cursor check makes a batch count
// once even when a lease passes to another node while a batch is in flight.
type MetricsTx interface {
	// MetricsState returns the projector's cursor (0 before the first batch), the
	// commit time of the first event above it (zero when the rollups are caught up) and
	// how many times the rollups were reset.
	MetricsState(ctx context.Context) (MetricsState, error)
	// CountEvents counts the events with afterSeq < Seq <= upToSeq (a range of the primary
	// key). The projector uses it to check that the events its engine handed it after
	// commit are the whole history of a range, so it need not read them back.
	CountEvents(ctx context.Context, afterSeq, upToSeq int64) (int64, error)
	// ApplyMetrics writes rows (each replaces the row with its key, or is inserted) and
	// moves the cursor from b.From to b.To, in the transaction. It fails with ErrConflict
	// when the cursor is not at b.From; the caller must then fail the transaction (return
	// the error from Write), which keeps nothing of the batch.
	ApplyMetrics(ctx context.Context, b *MetricsBatch) error
	// ListRollups returns the rows that match f, ordered by step, bucket, definition,
	// kind and element.
	ListRollups(ctx context.Context, f RollupFilter) ([]*Rollup, error)
	// ResetMetrics deletes every rollup row, sets the cursor to 0 and counts the reset
	// (MetricsState.Resets) (Rebuild).
	ResetMetrics(ctx context.Context) error
	// PruneRollups deletes the rows of step whose bucket starts before before and returns
	// how many it deleted.
	PruneRollups(ctx context.Context, step string, before time.Time) (int64, error)
	// WorkCounts counts the work in flight per process key: running (active or
	// suspended) instances, runnable jobs and open incidents. The queries are bounded by
	// the work in flight (indexes on state), never by history.
	WorkCounts(ctx context.Context) ([]*WorkCount, error)
}

// MetricsState is where the metrics projector stands.
type MetricsState struct {
	Cursor int64
	// Next is the commit time of the first event above Cursor (zero when there is none).
	Next time.Time
	// Resets counts the ResetMetrics calls so far. A reader that keeps sums of rollup rows
	// it takes for final (the Prometheus collector, for closed days) drops them when it
	// changes: the cursor alone may be back where it was by the time it looks again.
	Resets int64
}

// Rollup steps: the width of a bucket.
const (
	StepMinute = "minute"
	StepHour   = "hour"
	StepDay    = "day"
)

// Rollup row kinds.
const (
	// RollupInstance rows count a definition's instances (ElementID is "").
	RollupInstance = "instance"
	// RollupElement rows count the tokens at one element.
	RollupElement = "element"
	// RollupFlow rows count how often a sequence flow was taken (ElementID is the flow id).
	RollupFlow = "flow"
	// RollupInterrupt rows count, in Cancelled, the tokens the process itself took away
	// from one element (an interrupting boundary event, a terminate end event), which an
	// element row's Cancelled does not count.
	RollupInterrupt = "interrupt"
)

// Rollup is one row of metrics: what happened to a definition's instances, at one of its
// elements or on one of its flows, in one time bucket. Which counters a row uses depends
// on Kind: Started, Completed, Cancelled and Incidents for instance rows (Duration: the
// instances completed in the bucket); Entered, Left, Cancelled and Incidents for element
// rows (Duration: element.entered to element.left; Waiting: see monitor.ElementMetrics);
// Taken for flow rows.
type Rollup struct {
	Step         string
	Bucket       time.Time // start of the bucket (UTC, truncated to the step)
	DefinitionID string
	Kind         string
	ElementID    string

	Started   int64
	Completed int64
	Cancelled int64
	Incidents int64
	Entered   int64
	Left      int64
	Taken     int64

	Duration HistogramData
	Waiting  HistogramData
}

// HistogramData is a duration histogram as the store keeps it: count, sum and max in
// milliseconds, and the non-empty log-scaled buckets in the compact text form of
// monitor.Histogram (the store does not interpret it).
type HistogramData struct {
	Count   int64
	SumMs   int64
	MaxMs   int64
	Buckets string
}

// MetricsBatch is one ApplyMetrics call: the rows a batch of events changed (their new
// values) and the cursor move.
type MetricsBatch struct {
	From, To int64
	Rows     []*Rollup
}

// RollupFilter selects rollup rows. Zero fields do not filter, except Step (required).
type RollupFilter struct {
	Step          string
	DefinitionIDs []string
	// Kind limits the rows to one kind; ElementIDs to these elements (or flows).
	Kind       string
	ElementIDs []string
	// From and To bound the bucket start: From <= Bucket < To.
	From, To time.Time
}

// WorkCount is the work in flight of one process key.
type WorkCount struct {
	DefinitionKey string
	Running       int64
	Jobs          int64
	Incidents     int64
}
