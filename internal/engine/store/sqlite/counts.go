package sqlite

import (
	"context"
	"fmt"
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
