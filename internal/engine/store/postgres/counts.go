package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// countTokensSQL walks the tokens (one per waiting path of a running instance) and keeps
// those of the definition; it never reads finished instances.
const countTokensSQL = `SELECT t.element_id, count(*)::int FROM tokens t JOIN instances i ON i.id = t.instance_id
	WHERE i.definition_id = $1 GROUP BY t.element_id`

type elementCount struct {
	element string
	n       int
}

// CountTokens counts a definition's tokens per element.
func (t *tx) CountTokens(ctx context.Context, definitionID string) (map[string]int, error) {
	rows, err := queryAll(ctx, t, "count tokens", false, countTokensSQL, func(r pgx.Row) (*elementCount, error) {
		var c elementCount
		return &c, r.Scan(&c.element, &c.n)
	}, definitionID)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("count tokens of %q", definitionID), err)
	}
	out := make(map[string]int, len(rows))
	for _, c := range rows {
		out[c.element] = c.n
	}
	return out, nil
}
