package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// countTokensSQL walks the tokens (one per waiting path of a running instance) and keeps
// those of the definition; it never reads finished instances. CROSS JOIN is SQLite's way
// to fix the join order: left to its own devices the planner starts from the
// definition's instances (the index on definition_id), which reads the whole history.
const countTokensSQL = `SELECT t.element_id, count(*) FROM tokens t CROSS JOIN instances i ON i.id = t.instance_id
	WHERE i.definition_id = ? GROUP BY t.element_id`

// CountTokens counts a definition's tokens per element.
func (t *tx) CountTokens(ctx context.Context, definitionID string) (map[string]int, error) {
	rows, err := t.tx.QueryContext(ctx, countTokensSQL, definitionID)
	if err != nil {
		return nil, fmt.Errorf("count tokens of %q: %w", definitionID, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var el string
		var n int
		if err := rows.Scan(&el, &n); err != nil {
			return nil, fmt.Errorf("count tokens of %q: %w", definitionID, err)
		}
		out[el] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count tokens of %q: %w", definitionID, err)
	}
	return out, nil
}

// addElementStats adds a change's completions to element_stats with one statement: a
// prepared multi-row upsert for up to statsChunk elements (almost every change), else
// one that reads the rows from a JSON array.
func (t *tx) addElementStats(ctx context.Context, events []*store.Event) error {
	stats := store.CompletedCounts(events)
	if len(stats) == 0 {
		return nil
	}
	if len(stats) <= statsChunk {
		args := make([]any, 0, 3*len(stats))
		for _, s := range stats {
			args = append(args, s.DefinitionID, s.ElementID, s.Completed)
		}
		st := t.stats[len(stats)]
		if st == nil {
			if t.statsPrepared == nil {
				return fmt.Errorf("count completed elements: no prepared %d-row upsert", len(stats))
			}
			st = t.tx.StmtContext(ctx, t.statsPrepared[len(stats)])
			t.stats[len(stats)] = st
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return writeErr("count completed elements", err)
		}
		return nil
	}
	rows := make([][3]any, len(stats))
	for i, s := range stats {
		rows[i] = [3]any{s.DefinitionID, s.ElementID, s.Completed}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("count completed elements: %w", err)
	}
	if _, err := t.exec(ctx, qUpsertElementStatsJSON, string(b)); err != nil {
		return writeErr("count completed elements", err)
	}
	return nil
}

// ElementCounts reads a definition's completion counts: one primary-key range of
// element_stats.
func (t *tx) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	rows, err := t.stmt(ctx, qElementCounts).QueryContext(ctx, definitionID)
	if err != nil {
		return nil, fmt.Errorf("element counts of %q: %w", definitionID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var el string
		var n int64
		if err := rows.Scan(&el, &n); err != nil {
			return nil, fmt.Errorf("element counts of %q: %w", definitionID, err)
		}
		out[el] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("element counts of %q: %w", definitionID, err)
	}
	return out, nil
}
