package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// countTokensSQL walks the tokens (one per waiting path of a running instance) and keeps
// those of the definition; it never reads finished instances.
const countTokensSQL = `SELECT t.element_id, count(*)::int FROM tokens t JOIN instances i ON i.id = t.instance_id
	WHERE i.definition_id = $1 GROUP BY t.element_id`

// CountTokens counts a definition's tokens per element.
func (t *tx) CountTokens(ctx context.Context, definitionID string) (map[string]int, error) {
	return t.countBy(ctx, fmt.Sprintf("count tokens of %q", definitionID), countTokensSQL, definitionID)
}

type elementTotal struct {
	element string
	n       int64
}

// ElementCounts reads a definition's completion counts: one primary-key range of
// element_stats.
func (t *tx) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	rows, err := queryAll(ctx, t, "element counts", false, elementCountsSQL, func(r pgx.Row) (*elementTotal, error) {
		var c elementTotal
		return &c, r.Scan(&c.element, &c.n)
	}, definitionID)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("element counts of %q", definitionID), err)
	}
	out := make(map[string]int64, len(rows))
	for _, c := range rows {
		out[c.element] = c.n
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
