package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// SQL of the metrics rollups (see store.MetricsTx and sql/postgres/00004_metrics.sql).
const (
	// All rows of a batch in one statement, one array per column.
	upsertRollupsSQL = `INSERT INTO metric_rollups (` + sqlstore.RollupCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
		$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
		$13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::bigint[], $18::bigint[], $19::bigint[], $20::text[])
	ON CONFLICT (step, definition_id, bucket, kind, element_id) DO UPDATE SET
	started = excluded.started, completed = excluded.completed, cancelled = excluded.cancelled,
	incidents = excluded.incidents, entered = excluded.entered, exited = excluded.exited, taken = excluded.taken,
	d_count = excluded.d_count, d_sum = excluded.d_sum, d_max = excluded.d_max, d_buckets = excluded.d_buckets,
	w_count = excluded.w_count, w_sum = excluded.w_sum, w_max = excluded.w_max, w_buckets = excluded.w_buckets`
)

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
		if err := sqlstore.CheckRollup(r); err != nil {
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
		bt.Queue(sqlstore.MoveMetricsCursor.Text(sqlstore.Postgres), b.To, b.From)
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
