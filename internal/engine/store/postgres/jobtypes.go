package postgres

import (
	"context"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/jackc/pgx/v5"
)

// CountJobTypes implements store.Tx.
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
		q.and(`type <> ALL(?::text[])`, f.ExcludeTypes)
	}
	q.tail(` GROUP BY type ORDER BY type LIMIT ?`, limit(f.Limit))
	counts, err := queryAll(ctx, t, "count job types", false, q.String(), func(r pgx.Row) (*store.JobTypeCount, error) {
		var c store.JobTypeCount
		var n int64
		if err := r.Scan(&c.Type, &n); err != nil {
			return nil, err
		}
		c.Jobs = int(n)
		return &c, nil
	}, q.args...)
	if err != nil {
		return nil, wrapErr("count job types", err)
	}
	out := make([]store.JobTypeCount, len(counts))
	for i, c := range counts {
		out[i] = *c
	}
	return out, nil
}
