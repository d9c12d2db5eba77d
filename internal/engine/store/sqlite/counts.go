package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

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
