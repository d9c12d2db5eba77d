package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// SQL of the metrics rollups (see store.MetricsTx and sql/postgres/00004_metrics.sql).
const (
	rollupCols = `step, definition_id, bucket, kind, element_id, started, completed, cancelled, incidents,
	entered, exited, taken, d_count, d_sum, d_max, d_buckets, w_count, w_sum, w_max, w_buckets`

	metricsCursor = `coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics'), 0)`
	// metricsStateSQL: the cursor, the time of the first event above it and the reset
	// count, kept in metrics_cursor as the row 'metrics-resets' (a counter, not a seq).
	metricsStateSQL = `SELECT ` + metricsCursor + `,
	(SELECT time FROM events WHERE seq > ` + metricsCursor + ` ORDER BY seq LIMIT 1),
	coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics-resets'), 0)`
	countEventsSQL       = `SELECT count(*) FROM events WHERE seq > $1 AND seq <= $2`
	moveMetricsCursorSQL = `UPDATE metrics_cursor SET seq = $1 WHERE name = 'metrics' AND seq = $2`
	// All rows of a batch in one statement, one array per column.
	upsertRollupsSQL = `INSERT INTO metric_rollups (` + rollupCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
		$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
		$13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::bigint[], $18::bigint[], $19::bigint[], $20::text[])
	ON CONFLICT (step, definition_id, bucket, kind, element_id) DO UPDATE SET
	started = excluded.started, completed = excluded.completed, cancelled = excluded.cancelled,
	incidents = excluded.incidents, entered = excluded.entered, exited = excluded.exited, taken = excluded.taken,
	d_count = excluded.d_count, d_sum = excluded.d_sum, d_max = excluded.d_max, d_buckets = excluded.d_buckets,
	w_count = excluded.w_count, w_sum = excluded.w_sum, w_max = excluded.w_max, w_buckets = excluded.w_buckets`
	listRollupsSQL     = `SELECT ` + rollupCols + ` FROM metric_rollups`
	resetRollupsSQL    = `DELETE FROM metric_rollups`
	resetMetricsCursor = `INSERT INTO metrics_cursor (name, seq) VALUES ('metrics', 0) ON CONFLICT (name) DO UPDATE SET seq = 0`
	pruneRollupsSQL    = `DELETE FROM metric_rollups WHERE step = $1 AND bucket < $2`

	countMetricsReset = `INSERT INTO metrics_cursor (name, seq) VALUES ('metrics-resets', 1)
	ON CONFLICT (name) DO UPDATE SET seq = metrics_cursor.seq + 1`

	// workCountsSQL reads running work only: instances by state (instances_state), runnable
	// service jobs (the jobs table holds pending work only) and open incidents (incidents_state).
	workCountsSQL = `SELECT definition_key, sum(r)::bigint, sum(j)::bigint, sum(n)::bigint FROM (
	SELECT definition_key, count(*) AS r, 0 AS j, 0 AS n FROM instances WHERE state IN ('active', 'suspended') GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, count(*), 0 FROM jobs WHERE ` + runnable + ` AND kind = 'service' GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, 0, count(*) FROM incidents WHERE state = 'open' GROUP BY definition_key
	) w GROUP BY definition_key ORDER BY definition_key`
)

// MetricsState returns the projector's cursor and the time of the first event above it.
func (t *tx) MetricsState(ctx context.Context) (store.MetricsState, error) {
	var st store.MetricsState
	var next *time.Time
	err := t.do(ctx, "metrics state", false, func(b *pgx.Batch) { b.Queue(metricsStateSQL) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&st.Cursor, &next, &st.Resets)
	})
	if err != nil {
		return st, wrapErr("metrics state", err)
	}
	if next != nil {
		st.Next = next.UTC()
	}
	return st, nil
}

// CountEvents counts the events in a seq range.
func (t *tx) CountEvents(ctx context.Context, afterSeq, upToSeq int64) (int64, error) {
	var n int64
	err := t.do(ctx, "count events", false, func(b *pgx.Batch) { b.Queue(countEventsSQL, afterSeq, upToSeq) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&n)
	})
	if err != nil {
		return 0, wrapErr("count events", err)
	}
	return n, nil
}

// ApplyMetrics moves the cursor from b.From to b.To and writes the rows, in one round
// trip. The cursor row exists from migration 00004 on (ResetMetrics keeps it); its
// conditional UPDATE re-reads the row under READ COMMITTED, so a concurrent move by
// another node makes it match nothing (ErrConflict).
func (t *tx) ApplyMetrics(ctx context.Context, b *store.MetricsBatch) error {
	if !t.write {
		return fmt.Errorf("apply metrics: %w", ErrReadOnly)
	}
	n := len(b.Rows)
	steps, defs, kinds, elements := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	buckets := make([]time.Time, n)
	counters := make([][]int64, 13)
	for i := range counters {
		counters[i] = make([]int64, n)
	}
	dBuckets, wBuckets := make([]string, n), make([]string, n)
	for i, r := range b.Rows {
		if err := checkRollup(r); err != nil {
			return err
		}
		steps[i], defs[i], buckets[i], kinds[i], elements[i] = r.Step, r.DefinitionID, r.Bucket, r.Kind, r.ElementID
		for c, v := range []int64{r.Started, r.Completed, r.Cancelled, r.Incidents, r.Entered, r.Left, r.Taken,
			r.Duration.Count, r.Duration.SumMs, r.Duration.MaxMs, r.Waiting.Count, r.Waiting.SumMs, r.Waiting.MaxMs} {
			counters[c][i] = v
		}
		dBuckets[i], wBuckets[i] = r.Duration.Buckets, r.Waiting.Buckets
	}
	moved := int64(0)
	err := t.do(ctx, "apply metrics", true, func(bt *pgx.Batch) {
		bt.Queue(moveMetricsCursorSQL, b.To, b.From)
		if n > 0 {
			c := counters
			bt.Queue(upsertRollupsSQL, steps, defs, buckets, kinds, elements,
				c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], dBuckets, c[10], c[11], c[12], wBuckets)
		}
	}, func(br pgx.BatchResults) error {
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		moved = tag.RowsAffected()
		if n > 0 {
			_, err = br.Exec()
		}
		return err
	})
	if err != nil {
		return wrapErr("apply metrics", err)
	}
	if moved != 1 {
		// The rows went out with the cursor check: the caller's Write must fail, which
		// the error makes it do.
		return fmt.Errorf("move the metrics cursor from %d: it is elsewhere: %w", b.From, store.ErrConflict)
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
		q.and(`definition_id = ANY(?::text[])`, f.DefinitionIDs)
	}
	if !f.From.IsZero() {
		q.and(`bucket >= ?`, f.From)
	}
	if !f.To.IsZero() {
		q.and(`bucket < ?`, f.To)
	}
	if f.Kind != "" {
		q.and(`kind = ?`, f.Kind)
	}
	if len(f.ElementIDs) > 0 {
		q.and(`element_id = ANY(?::text[])`, f.ElementIDs)
	}
	q.tail(` ORDER BY step, bucket, definition_id, kind, element_id`)
	out, err := queryAll(ctx, t, "list rollups", false, q.String(), scanRollup, q.args...)
	if err != nil {
		return nil, wrapErr("list rollups", err)
	}
	return out, nil
}

func scanRollup(s pgx.Row) (*store.Rollup, error) {
	var r store.Rollup
	if err := s.Scan(&r.Step, &r.DefinitionID, &r.Bucket, &r.Kind, &r.ElementID,
		&r.Started, &r.Completed, &r.Cancelled, &r.Incidents, &r.Entered, &r.Left, &r.Taken,
		&r.Duration.Count, &r.Duration.SumMs, &r.Duration.MaxMs, &r.Duration.Buckets,
		&r.Waiting.Count, &r.Waiting.SumMs, &r.Waiting.MaxMs, &r.Waiting.Buckets); err != nil {
		return nil, err
	}
	r.Bucket = r.Bucket.UTC()
	return &r, nil
}

// ResetMetrics deletes every rollup and sets the cursor to 0.
func (t *tx) ResetMetrics(ctx context.Context) error {
	if !t.write {
		return fmt.Errorf("reset metrics: %w", ErrReadOnly)
	}
	err := t.do(ctx, "reset metrics", true, func(b *pgx.Batch) {
		b.Queue(resetRollupsSQL)
		b.Queue(resetMetricsCursor)
		b.Queue(countMetricsReset)
	}, func(br pgx.BatchResults) error {
		for range 3 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapErr("reset metrics", err)
	}
	return nil
}

// PruneRollups deletes the rows of a step older than before.
func (t *tx) PruneRollups(ctx context.Context, step string, before time.Time) (int64, error) {
	if !t.write {
		return 0, fmt.Errorf("prune rollups: %w", ErrReadOnly)
	}
	n, err := t.exec(ctx, "prune rollups", pruneRollupsSQL, step, before)
	if err != nil {
		return 0, wrapErr("prune rollups", err)
	}
	return n, nil
}

// WorkCounts counts running instances, runnable service jobs and open incidents per key.
func (t *tx) WorkCounts(ctx context.Context) ([]*store.WorkCount, error) {
	out, err := queryAll(ctx, t, "work counts", false, workCountsSQL, func(r pgx.Row) (*store.WorkCount, error) {
		var w store.WorkCount
		return &w, r.Scan(&w.DefinitionKey, &w.Running, &w.Jobs, &w.Incidents)
	})
	if err != nil {
		return nil, wrapErr("work counts", err)
	}
	return out, nil
}
