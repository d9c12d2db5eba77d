package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ElementCounts reads a definition's stored completion counts (sqlstore) and adds those
// counted in this transaction.
func (t *tx) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	out, err := t.Queries.ElementCounts(ctx, definitionID)
	if err != nil {
		return nil, err
	}
	// Completions counted in this transaction are written at COMMIT; add them.
	for el, n := range t.pendingCompleted(definitionID) {
		out[el] += n
	}
	return out, nil
}

// countCompleted adds a change's element completions to the innermost savepoint level.
func (t *tx) countCompleted(events []*store.Event) {
	counts := store.CompletedCounts(events)
	if len(counts) == 0 {
		return
	}
	top := t.completedLevel(len(t.sps))
	for _, c := range counts {
		top[[2]string{c.DefinitionID, c.ElementID}] += c.Completed
	}
}

// completedLevel returns the counts of savepoint level n, creating the levels up to it.
func (t *tx) completedLevel(n int) map[[2]string]int64 {
	for len(t.completed) <= n {
		t.completed = append(t.completed, nil)
	}
	if t.completed[n] == nil {
		t.completed[n] = map[[2]string]int64{}
	}
	return t.completed[n]
}

// mergeCompleted folds the levels above n into level n (a released savepoint's counts
// belong to the enclosing transaction).
func (t *tx) mergeCompleted(n int) {
	if len(t.completed) <= n+1 {
		return
	}
	dst := t.completedLevel(n)
	for _, m := range t.completed[n+1:] {
		for k, v := range m {
			dst[k] += v
		}
	}
	t.completed = t.completed[:n+1]
}

// queueCompleted queues one upsert of everything counted, to go with COMMIT.
func (t *tx) queueCompleted() {
	t.mergeCompleted(0)
	if len(t.completed) == 0 || len(t.completed[0]) == 0 {
		return
	}
	total := t.completed[0]
	t.completed = t.completed[:0]
	defs, elements, counts := make([]string, 0, len(total)), make([]string, 0, len(total)), make([]int64, 0, len(total))
	for k, v := range total {
		defs, elements, counts = append(defs, k[0]), append(elements, k[1]), append(counts, v)
	}
	t.pre = append(t.pre, pending{op: "count completed elements",
		queue: func(b *pgx.Batch) { b.Queue(upsertElementStatsSQL, defs, elements, counts) },
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		}})
}

// pendingCompleted returns what this transaction counted for a definition so far.
func (t *tx) pendingCompleted(definitionID string) map[string]int64 {
	out := map[string]int64{}
	for _, m := range t.completed {
		for k, v := range m {
			if k[0] == definitionID {
				out[k[1]] += v
			}
		}
	}
	return out
}
