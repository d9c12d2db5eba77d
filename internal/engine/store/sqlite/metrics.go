package sqlite

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// SQL of the metrics rollups (see store.MetricsTx and sql/sqlite/00004_metrics.sql).
// upsertRollupSQL writes one rollup row (ApplyMetrics; PostgreSQL writes a batch as arrays).
const upsertRollupSQL = `INSERT INTO metric_rollups (` + sqlstore.RollupCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (step, definition_id, bucket, kind, element_id) DO UPDATE SET
	started = excluded.started, completed = excluded.completed, cancelled = excluded.cancelled,
	incidents = excluded.incidents, entered = excluded.entered, exited = excluded.exited, taken = excluded.taken,
	d_count = excluded.d_count, d_sum = excluded.d_sum, d_max = excluded.d_max, d_buckets = excluded.d_buckets,
	w_count = excluded.w_count, w_sum = excluded.w_sum, w_max = excluded.w_max, w_buckets = excluded.w_buckets`

// ApplyMetrics moves the cursor from b.From to b.To and writes the rows. The cursor row
// exists from migration 00004 on (ResetMetrics keeps it).
func (t *tx) ApplyMetrics(ctx context.Context, b *store.MetricsBatch) error {
	if err := t.writable("apply metrics"); err != nil {
		return err
	}
	res, err := t.execShared(ctx, sqlstore.MoveMetricsCursor, b.To, b.From)
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
		if err := sqlstore.CheckRollup(r); err != nil {
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
