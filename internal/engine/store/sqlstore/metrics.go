package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Metrics rollups (see store.MetricsTx and the 00004_metrics migrations). ApplyMetrics,
// which writes a batch of rollups, is the drivers' own.

const metricsCursor = `coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics'), 0)`

var (
	// metricsState: the cursor, the time of the first event above it (a primary-key
	// lookup on events) and the reset count, kept in metrics_cursor as the row
	// 'metrics-resets' (a counter, not a seq).
	metricsState = read(`SELECT ` + metricsCursor + `,
	(SELECT time FROM events WHERE seq > ` + metricsCursor + ` ORDER BY seq LIMIT 1),
	coalesce((SELECT seq FROM metrics_cursor WHERE name = 'metrics-resets'), 0)`)
	countEvents = read(`SELECT count(*) FROM events WHERE seq > ? AND seq <= ?`)
	// MoveMetricsCursor moves the projector's cursor from where it was read (ApplyMetrics).
	MoveMetricsCursor = write(`UPDATE metrics_cursor SET seq = ? WHERE name = 'metrics' AND seq = ?`)
	resetRollups      = write(`DELETE FROM metric_rollups`)
	resetMetricsCur   = write(`INSERT INTO metrics_cursor (name, seq) VALUES ('metrics', 0) ON CONFLICT (name) DO UPDATE SET seq = 0`)
	countMetricsReset = write(`INSERT INTO metrics_cursor (name, seq) VALUES ('metrics-resets', 1)
	ON CONFLICT (name) DO UPDATE SET seq = metrics_cursor.seq + 1`)
	pruneRollups = write(`DELETE FROM metric_rollups WHERE step = ? AND bucket < ?`)

	// workCounts reads running work only: instances by state (instances_state), runnable
	// service jobs (Runnable, as SQLite's jobs_runnable partial index has it) and open
	// incidents (incidents_state).
	workCounts = readf(func(d *Dialect) string {
		return `SELECT definition_key, ` + d.int8("sum(r)") + `, ` + d.int8("sum(j)") + `, ` + d.int8("sum(n)") + ` FROM (
	SELECT definition_key, count(*) AS r, 0 AS j, 0 AS n FROM instances WHERE state IN ('active', 'suspended') GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, count(*), 0 FROM jobs WHERE ` + Runnable + ` AND kind = 'service' GROUP BY definition_key
	UNION ALL
	SELECT definition_key, 0, 0, count(*) FROM incidents WHERE state = 'open' GROUP BY definition_key
	) w GROUP BY definition_key ORDER BY definition_key`
	})
)

// MetricsState returns the projector's cursor and the time of the first event above it.
func (q *Queries) MetricsState(ctx context.Context) (store.MetricsState, error) {
	var st store.MetricsState
	var next *time.Time
	if err := q.row(ctx, "metrics state", q.static(metricsState), &st.Cursor, q.D.nullTimeDest(&next), &st.Resets); err != nil {
		return st, err
	}
	if next != nil {
		st.Next = next.UTC()
	}
	return st, nil
}

// CountEvents counts the events in a seq range.
func (q *Queries) CountEvents(ctx context.Context, afterSeq, upToSeq int64) (int64, error) {
	var n int64
	if err := q.row(ctx, "count events", q.static(countEvents, afterSeq, upToSeq), &n); err != nil {
		return 0, err
	}
	return n, nil
}

// CheckRollup refuses a rollup row no reader would understand.
func CheckRollup(r *store.Rollup) error {
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
func (q *Queries) ListRollups(ctx context.Context, f store.RollupFilter) ([]*store.Rollup, error) {
	if f.Step == "" {
		return nil, errors.New("list rollups: step is required")
	}
	b := NewQuery(q.D, `SELECT `+RollupCols+` FROM metric_rollups`)
	b.And(`step = ?`, f.Step)
	if len(f.DefinitionIDs) > 0 {
		b.In(`definition_id`, false, f.DefinitionIDs)
	}
	if !f.From.IsZero() {
		b.And(`bucket >= ?`, q.D.Time(f.From))
	}
	if !f.To.IsZero() {
		b.And(`bucket < ?`, q.D.Time(f.To))
	}
	if f.Kind != "" {
		b.And(`kind = ?`, f.Kind)
	}
	if len(f.ElementIDs) > 0 {
		b.In(`element_id`, false, f.ElementIDs)
	}
	b.Tail(` ORDER BY step, bucket, definition_id, kind, element_id`)
	return All(ctx, q.C, "list rollups", built(b), q.D.ScanRollup)
}

// ResetMetrics deletes every rollup and sets the cursor to 0.
func (q *Queries) ResetMetrics(ctx context.Context) error {
	for _, s := range []*Stmt{resetRollups, resetMetricsCur, countMetricsReset} {
		if _, err := q.exec(ctx, "reset metrics", q.static(s)); err != nil {
			return err
		}
	}
	return nil
}

// PruneRollups deletes the rows of a step older than before.
func (q *Queries) PruneRollups(ctx context.Context, step string, before time.Time) (int64, error) {
	return q.exec(ctx, "prune rollups", q.static(pruneRollups, step, q.D.Time(before)))
}

// WorkCounts counts running instances, runnable service jobs and open incidents per key.
func (q *Queries) WorkCounts(ctx context.Context) ([]*store.WorkCount, error) {
	return All(ctx, q.C, "work counts", q.static(workCounts), func(s Scanner) (*store.WorkCount, error) {
		var w store.WorkCount
		return &w, s.Scan(&w.DefinitionKey, &w.Running, &w.Jobs, &w.Incidents)
	})
}
