package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// CountJobTypes implements store.Tx. The excluded types travel as one JSON array, so
// the statement text (and its cached statement) does not depend on how many there are.
func (t *tx) CountJobTypes(ctx context.Context, f store.JobTypeFilter) ([]store.JobTypeCount, error) {
	q := newQuery(`SELECT type, COUNT(*) FROM jobs`)
	q.and(`kind = 'service' AND retries > 0`)
	if f.DefinitionKey != "" {
		q.and(`definition_key = ?`, f.DefinitionKey)
	}
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if len(f.ExcludeTypes) > 0 {
		exclude, err := json.Marshal(f.ExcludeTypes)
		if err != nil {
			return nil, fmt.Errorf("count job types: %w", err)
		}
		q.and(`type NOT IN (SELECT value FROM json_each(?))`, string(exclude))
	}
	q.tail(` GROUP BY type ORDER BY type LIMIT ?`, limit(f.Limit))
	counts, err := queryBuilt(ctx, t, q, func(r scanner) (*store.JobTypeCount, error) {
		var c store.JobTypeCount
		return &c, r.Scan(&c.Type, &c.Jobs)
	})
	if err != nil {
		return nil, fmt.Errorf("count job types: %w", err)
	}
	out := make([]store.JobTypeCount, len(counts))
	for i, c := range counts {
		out[i] = *c
	}
	return out, nil
}
