package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// ExplainQueryPlan returns SQLite's plan for a statement on db, one step per line ("SEARCH
// jobs USING INDEX jobs_runnable (...)"), for tests that pin the plans the store's
// queries get.
func ExplainQueryPlan(ctx context.Context, db *sql.DB, text string, args ...any) (string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+text, args...)
	if err != nil {
		return "", fmt.Errorf("explain %s: %w", text, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", fmt.Errorf("explain %s: %w", text, err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("explain %s: %w", text, err)
	}
	return b.String(), nil
}
