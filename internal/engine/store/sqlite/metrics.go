package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// SQL of the metrics rollups (see store.MetricsTx and sql/sqlite/00004_metrics.sql).
const (
	rollupCols = `step, definition_id, bucket, kind, element_id, started, completed, cancelled, incidents,
	entered, exited, taken, d_count, d_sum, d_max, d_buckets, w_count, w_sum, w_max, w_buckets`

	metricsCursor = `coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics'), 0)`
	// metricsStateSQL: the cursor, the time of the first event above it (a primary-key
	// lookup on events) and the reset count, kept in metrics_cursor as the row
	// 'metrics-resets' (a counter, not a seq; no migration needed).
	metricsStateSQL = `SELECT ` + metricsCursor + `,
	coalesce((SELECT time FROM events WHERE seq > ` + metricsCursor + ` ORDER BY seq LIMIT 1), 0),
	coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics-resets'), 0)`
	countEventsSQL       = `SELECT count(*) FROM events WHERE seq > ? AND seq <= ?`
	moveMetricsCursorSQL = `UPDATE metrics_cursor SET seq = ? WHERE name = 'metrics' AND seq = ?`
	upsertRollupSQL      = `INSERT INTO metric_rollups (` + rollupCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (step, definition_id, bucket, kind, element_id) DO UPDATE SET
	started = excluded.started, completed = excluded.completed, cancelled = excluded.cancelled,
	incidents = excluded.incidents, entered = excluded.entered, exited = excluded.exited, taken = excluded.taken,
	d_count = excluded.d_count, d_sum = excluded.d_sum, d_max = excluded.d_max, d_buckets = excluded.d_buckets,
	w_count = excluded.w_count, w_sum = excluded.w_sum, w_max = excluded.w_max, w_buckets = excluded.w_buckets`
	listRollupsSQL       = `SELECT ` + rollupCols + ` FROM metric_rollups`
	resetRollupsSQL      = `DELETE FROM metric_rollups`
	resetMetricsCursor   = `INSERT INTO metrics_cursor (name, seq) VALUES ('metrics', 0) ON CONFLICT (name) DO UPDATE SET seq = 0`
	countMetricsResetSQL = `INSERT INTO metrics_cursor (name, seq) VALUES ('metrics-resets', 1)
	ON CONFLICT (name) DO UPDATE SET seq = metrics_cursor.seq + 1`
	pruneRollupsSQL = `DELETE FROM metric_rollups WHERE step = ? AND bucket < ?`

	// workCountsSQL reads running work only: instances by state (instances_state), runnable
	// service jobs (the jobs_runnable partial index: its terms are repeated exactly) and
	// open incidents (incidents_state).
	workCountsSQL = `SELECT definition_key, sum(r), sum(j), sum(n) FROM (
	SELECT definition_key, count(*) AS r, 0 AS j, 0 AS n FROM instances WHERE state IN ('active', 'suspended') GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, count(*), 0 FROM jobs WHERE ` + runnable + ` AND kind = 'service' GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, 0, count(*) FROM incidents WHERE state = 'open' GROUP BY definition_key
	) GROUP BY definition_key ORDER BY definition_key`
)

// MetricsState returns the projector's cursor and the time of the first event above it.
func (t *tx) MetricsState(ctx context.Context) (store.MetricsState, error) {
	var st store.MetricsState
	var next int64
	if err := t.tx.QueryRowContext(ctx, metricsStateSQL).Scan(&st.Cursor, &next, &st.Resets); err != nil {
		return st, fmt.Errorf("metrics state: %w", err)
	}
	if next != 0 {
		st.Next = fromMicros(next)
	}
	return st, nil
}

// CountEvents counts the events in a seq range.
func (t *tx) CountEvents(ctx context.Context, afterSeq, upToSeq int64) (int64, error) {
	var n int64
	if err := t.tx.QueryRowContext(ctx, countEventsSQL, afterSeq, upToSeq).Scan(&n); err != nil {
		return 0, fmt.Errorf("count events: %w", err)
	}
	return n, nil
}

// ApplyMetrics moves the cursor from b.From to b.To and writes the rows. The cursor row
// exists from migration 00004 on (ResetMetrics keeps it).
func (t *tx) ApplyMetrics(ctx context.Context, b *store.MetricsBatch) error {
	if err := t.writable("apply metrics"); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, moveMetricsCursorSQL, b.To, b.From)
	if err != nil {
		return writeErr("move the metrics cursor", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("move the metrics cursor from %d: it is elsewhere: %w", b.From, store.ErrConflict)
	}
	if len(b.Rows) == 0 {
		return nil
	}
	st, err := t.tx.PrepareContext(ctx, upsertRollupSQL)
	if err != nil {
		return fmt.Errorf("write rollups: %w", err)
	}
	defer st.Close()
	for _, r := range b.Rows {
		if err := checkRollup(r); err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, r.Step, r.DefinitionID, micros(r.Bucket), r.Kind, r.ElementID,
			r.Started, r.Completed, r.Cancelled, r.Incidents, r.Entered, r.Left, r.Taken,
			r.Duration.Count, r.Duration.SumMs, r.Duration.MaxMs, r.Duration.Buckets,
			r.Waiting.Count, r.Waiting.SumMs, r.Waiting.MaxMs, r.Waiting.Buckets); err != nil {
			return writeErr("write rollups", err)
		}
	}
	return nil
}

func checkRollup(r *store.Rollup) error {
	switch {
	case r.Step != store.StepMinute && r.Step != store.StepHour && r.Step != store.StepDay:
		return fmt.Errorf("write rollups: unknown step %q", r.Step)
	case r.Kind != store.RollupInstance && r.Kind != store.RollupElement && r.Kind != store.RollupFlow && r.Kind != store.RollupInterrupt:
		return fmt.Errorf("write rollups: unknown kind %q", r.Kind)
	case r.DefinitionID == "":
		return errors.New("write rollups: definition id is empty")
	}
	return nil
}

// ListRollups returns the rows that match f.
func (t *tx) ListRollups(ctx context.Context, f store.RollupFilter) ([]*store.Rollup, error) {
	if f.Step == "" {
		return nil, errors.New("list rollups: step is required")
	}
	q := newQuery(listRollupsSQL)
	q.and(`step = ?`, f.Step)
	if len(f.DefinitionIDs) > 0 {
		q.and(`definition_id IN (`+placeholders(len(f.DefinitionIDs))+`)`, stringArgs(f.DefinitionIDs)...)
	}
	if !f.From.IsZero() {
		q.and(`bucket >= ?`, micros(f.From))
	}
	if !f.To.IsZero() {
		q.and(`bucket < ?`, micros(f.To))
	}
	if f.Kind != "" {
		q.and(`kind = ?`, f.Kind)
	}
	if len(f.ElementIDs) > 0 {
		q.and(`element_id IN (`+placeholders(len(f.ElementIDs))+`)`, stringArgs(f.ElementIDs)...)
	}
	q.tail(` ORDER BY step, bucket, definition_id, kind, element_id`)
	rows, err := t.tx.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list rollups: %w", err)
	}
	out, err := collect(rows, scanRollup)
	if err != nil {
		return nil, fmt.Errorf("list rollups: %w", err)
	}
	return out, nil
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func scanRollup(s scanner) (*store.Rollup, error) {
	var r store.Rollup
	var bucket int64
	if err := s.Scan(&r.Step, &r.DefinitionID, &bucket, &r.Kind, &r.ElementID,
		&r.Started, &r.Completed, &r.Cancelled, &r.Incidents, &r.Entered, &r.Left, &r.Taken,
		&r.Duration.Count, &r.Duration.SumMs, &r.Duration.MaxMs, &r.Duration.Buckets,
		&r.Waiting.Count, &r.Waiting.SumMs, &r.Waiting.MaxMs, &r.Waiting.Buckets); err != nil {
		return nil, err
	}
	r.Bucket = fromMicros(bucket)
	return &r, nil
}

// ResetMetrics deletes every rollup and sets the cursor to 0.
func (t *tx) ResetMetrics(ctx context.Context) error {
	if err := t.writable("reset metrics"); err != nil {
		return err
	}
	for _, q := range []string{resetRollupsSQL, resetMetricsCursor, countMetricsResetSQL} {
		if _, err := t.tx.ExecContext(ctx, q); err != nil {
			return writeErr("reset metrics", err)
		}
	}
	return nil
}

// PruneRollups deletes the rows of a step older than before.
func (t *tx) PruneRollups(ctx context.Context, step string, before time.Time) (int64, error) {
	if err := t.writable("prune rollups"); err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(ctx, pruneRollupsSQL, step, micros(before))
	if err != nil {
		return 0, writeErr("prune rollups", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune rollups: %w", err)
	}
	return n, nil
}

// WorkCounts counts running instances, runnable service jobs and open incidents per key.
func (t *tx) WorkCounts(ctx context.Context) ([]*store.WorkCount, error) {
	rows, err := t.tx.QueryContext(ctx, workCountsSQL)
	if err != nil {
		return nil, fmt.Errorf("work counts: %w", err)
	}
	out, err := collect(rows, func(s scanner) (*store.WorkCount, error) {
		var w store.WorkCount
		return &w, s.Scan(&w.DefinitionKey, &w.Running, &w.Jobs, &w.Incidents)
	})
	if err != nil {
		return nil, fmt.Errorf("work counts: %w", err)
	}
	return out, nil
}
