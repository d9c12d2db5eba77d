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
	rows, err := t.tx.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("count job types: %w", err)
	}
	defer rows.Close()
	var out []store.JobTypeCount
	for rows.Next() {
		var c store.JobTypeCount
		if err := rows.Scan(&c.Type, &c.Jobs); err != nil {
			return nil, fmt.Errorf("count job types: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count job types: %w", err)
	}
	return out, nil
}
