package storetest

import (
	"context"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func metricsState(t *testing.T, s store.Store) store.MetricsState {
	t.Helper()
	return get(t, s, func(ctx context.Context, tx store.Tx) (store.MetricsState, error) { return tx.MetricsState(ctx) })
}

func rollups(t *testing.T, s store.Store, f store.RollupFilter) []*store.Rollup {
	t.Helper()
	return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Rollup, error) { return tx.ListRollups(ctx, f) })
}

// testMetricsCursor: the cursor starts at 0; MetricsState names the time of the first
// event above it; CountEvents counts a seq range (after, upTo]; ApplyMetrics moves it only from where it is (else ErrConflict, and the
// failed Write keeps nothing of the batch); ResetMetrics sets it back to 0 and counts the
// reset (Resets).
func testMetricsCursor(t *testing.T, s store.Store) {
	if st := metricsState(t, s); st.Cursor != 0 || !st.Next.IsZero() || st.Resets != 0 {
		t.Fatalf("empty store: metrics state %+v", st)
	}
	evs := []*store.Event{
		{ID: "e1", InstanceID: "i1", InstanceSeq: 1, DefinitionKey: "order", Type: event.InstanceStarted, Time: at(1)},
		{ID: "e2", InstanceID: "i1", InstanceSeq: 2, DefinitionKey: "order", Type: event.InstanceCompleted, Time: at(2)},
	}
	apply(t, s, &store.Change{Events: evs})
	if st := metricsState(t, s); st.Cursor != 0 || !st.Next.Equal(at(1)) {
		t.Fatalf("after two events: metrics state %+v, want next %v", st, at(1))
	}
	count := func(after, upTo int64) int64 {
		return get(t, s, func(ctx context.Context, tx store.Tx) (int64, error) { return tx.CountEvents(ctx, after, upTo) })
	}
	if a, b, c := count(0, evs[1].Seq), count(evs[0].Seq, evs[1].Seq+100), count(evs[1].Seq, evs[1].Seq+100); a != 2 || b != 1 || c != 0 {
		t.Fatalf("CountEvents: %d %d %d, want 2 1 0", a, b, c)
	}
	row := &store.Rollup{Step: store.StepMinute, Bucket: at(0), DefinitionID: "order:1", Kind: store.RollupInstance,
		Started: 1, Duration: store.HistogramData{Count: 1, SumMs: 7, MaxMs: 7, Buckets: "46:1"}}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: 0, To: evs[0].Seq, Rows: []*store.Rollup{row}})
	})
	if st := metricsState(t, s); st.Cursor != evs[0].Seq || !st.Next.Equal(at(2)) {
		t.Fatalf("after the first batch: metrics state %+v, want cursor %d next %v", st, evs[0].Seq, at(2))
	}
	// A batch from a stale cursor (another projector moved it): conflict, nothing kept.
	stale := *row
	stale.Started = 99
	err := s.Write(t.Context(), func(tx store.Tx) error {
		return tx.ApplyMetrics(t.Context(), &store.MetricsBatch{From: 0, To: evs[1].Seq, Rows: []*store.Rollup{&stale}})
	})
	wantErr(t, err, store.ErrConflict, "ApplyMetrics from a stale cursor")
	same(t, "rows after a conflict", rollups(t, s, store.RollupFilter{Step: store.StepMinute}), []*store.Rollup{row})
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: evs[0].Seq, To: evs[1].Seq})
	})
	if st := metricsState(t, s); st.Cursor != evs[1].Seq || !st.Next.IsZero() {
		t.Fatalf("caught up: metrics state %+v, want cursor %d and no next", st, evs[1].Seq)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ResetMetrics(ctx) })
	if st := metricsState(t, s); st.Cursor != 0 || !st.Next.Equal(at(1)) || st.Resets != 1 {
		t.Fatalf("after reset: metrics state %+v, want cursor 0 and one reset", st)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ResetMetrics(ctx) })
	if st := metricsState(t, s); st.Resets != 2 {
		t.Fatalf("after a second reset: metrics state %+v, want two resets", st)
	}
	if got := rollups(t, s, store.RollupFilter{Step: store.StepMinute}); len(got) != 0 {
		t.Fatalf("after reset: %d rows left", len(got))
	}
	// Writes outside a write transaction are refused.
	err = s.Read(t.Context(), func(tx store.Tx) error {
		return tx.ApplyMetrics(t.Context(), &store.MetricsBatch{From: 0, To: 1})
	})
	if err == nil {
		t.Fatal("ApplyMetrics in a read transaction succeeded")
	}
}

// testRollups: ApplyMetrics inserts rows and replaces rows with the same key (step,
// bucket, definition, kind, element); ListRollups filters by every field of RollupFilter
// (From inclusive, To exclusive) and orders by step, bucket, definition, kind, element;
// PruneRollups deletes one step's rows before a time.
func testRollups(t *testing.T, s store.Store) {
	h := func(n int64, buckets string) store.HistogramData {
		return store.HistogramData{Count: n, SumMs: 10 * n, MaxMs: 20, Buckets: buckets}
	}
	rows := []*store.Rollup{
		{Step: store.StepMinute, Bucket: at(0), DefinitionID: "a:1", Kind: store.RollupElement, ElementID: "Task", Entered: 5, Left: 4, Cancelled: 1, Incidents: 1, Duration: h(4, "3:4"), Waiting: h(5, "0:1 2:4")},
		{Step: store.StepMinute, Bucket: at(0), DefinitionID: "a:1", Kind: store.RollupFlow, ElementID: "F1", Taken: 6},
		{Step: store.StepMinute, Bucket: at(0), DefinitionID: "a:1", Kind: store.RollupInstance, Started: 3, Completed: 2, Cancelled: 1, Incidents: 4, Duration: h(2, "1:2")},
		{Step: store.StepMinute, Bucket: at(60), DefinitionID: "a:1", Kind: store.RollupElement, ElementID: "Task", Entered: 1},
		{Step: store.StepMinute, Bucket: at(60), DefinitionID: "b:1", Kind: store.RollupElement, ElementID: "Other", Entered: 2},
		{Step: store.StepHour, Bucket: at(0), DefinitionID: "a:1", Kind: store.RollupInstance, Started: 3},
		{Step: store.StepDay, Bucket: at(0), DefinitionID: "a:1", Kind: store.RollupInstance, Started: 3},
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		// Rows in any order; ListRollups sorts them.
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: 0, To: 10, Rows: []*store.Rollup{rows[6], rows[4], rows[2], rows[0], rows[5], rows[3], rows[1]}})
	})
	minute := store.RollupFilter{Step: store.StepMinute}
	same(t, "minute rows", rollups(t, s, minute), rows[:5])
	same(t, "hour rows", rollups(t, s, store.RollupFilter{Step: store.StepHour}), rows[5:6])

	// Replace one row, add one.
	replaced := *rows[0]
	replaced.Entered, replaced.Waiting = 9, h(9, "0:9")
	added := &store.Rollup{Step: store.StepMinute, Bucket: at(120), DefinitionID: "a:1", Kind: store.RollupElement, ElementID: "Task", Left: 1}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: 10, To: 20, Rows: []*store.Rollup{&replaced, added}})
	})
	all := []*store.Rollup{&replaced, rows[1], rows[2], rows[3], rows[4], added}
	same(t, "after replace", rollups(t, s, minute), all)

	same(t, "definitions", rollups(t, s, store.RollupFilter{Step: store.StepMinute, DefinitionIDs: []string{"b:1"}}), all[4:5])
	same(t, "range", rollups(t, s, store.RollupFilter{Step: store.StepMinute, From: at(60), To: at(120)}), all[3:5])
	same(t, "kind", rollups(t, s, store.RollupFilter{Step: store.StepMinute, Kind: store.RollupElement, DefinitionIDs: []string{"a:1", "c:1"}}),
		[]*store.Rollup{&replaced, rows[3], added})
	same(t, "elements", rollups(t, s, store.RollupFilter{Step: store.StepMinute, ElementIDs: []string{"F1", "Other"}}), []*store.Rollup{rows[1], rows[4]})

	var pruned int64
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		pruned, err = tx.PruneRollups(ctx, store.StepMinute, at(60))
		return err
	})
	if pruned != 3 {
		t.Fatalf("pruned %d rows, want 3", pruned)
	}
	same(t, "after prune", rollups(t, s, minute), all[3:])
	same(t, "other steps kept", rollups(t, s, store.RollupFilter{Step: store.StepDay}), rows[6:])

	bad := *rows[2]
	bad.Kind = "nonsense"
	err := s.Write(t.Context(), func(tx store.Tx) error {
		return tx.ApplyMetrics(t.Context(), &store.MetricsBatch{From: 20, To: 30, Rows: []*store.Rollup{&bad}})
	})
	if err == nil {
		t.Fatal("a row of unknown kind was written")
	}
}

// testWorkCounts: running (active and suspended) instances, runnable service jobs and
// open incidents are counted per process key; ended instances, timer jobs, suspended or
// exhausted jobs and resolved incidents are not.
func testWorkCounts(t *testing.T, s store.Store) {
	mk := func(id, key, state string) *store.Change {
		in := newInstance(id, key, t0)
		in.State = state
		return &store.Change{Instance: in, Created: true}
	}
	job := func(id, key, kind string, retries int, suspended bool) *store.Job {
		j := newJob(id, kind, "charge", t0)
		j.DefinitionKey, j.Retries, j.Suspended = key, retries, suspended
		return j
	}
	a1 := mk("a1", "a", store.InstanceActive)
	a1.PutJobs = []*store.Job{job("j1", "a", store.JobService, 3, false), job("j2", "a", store.JobService, 0, false),
		job("j3", "a", store.JobTimer, 1, false)}
	a1.PutIncidents = []*store.Incident{
		{ID: "x1", InstanceID: "a1", TokenID: "t", ElementID: "task", DefinitionKey: "a", Type: store.IncidentFailedJob, State: store.IncidentOpen, CreatedAt: t0},
		{ID: "x2", InstanceID: "a1", TokenID: "t", ElementID: "task", DefinitionKey: "a", Type: store.IncidentFailedJob, State: store.IncidentResolved, CreatedAt: t0, ResolvedAt: ptr(t0)},
	}
	a2 := mk("a2", "a", store.InstanceSuspended)
	a2.PutJobs = []*store.Job{job("j4", "a", store.JobService, 3, true)}
	apply(t, s, a1, a2, mk("a3", "a", store.InstanceCompleted), mk("b1", "b", store.InstanceActive),
		mk("c1", "c", store.InstanceCancelled))
	got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.WorkCount, error) { return tx.WorkCounts(ctx) })
	same(t, "work counts", got, []*store.WorkCount{
		{DefinitionKey: "a", Running: 2, Jobs: 1, Incidents: 1},
		{DefinitionKey: "b", Running: 1},
	})
}
