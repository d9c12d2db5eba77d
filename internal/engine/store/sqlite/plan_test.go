package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryPlans guards the index use of the driver's own hot statements (sqlstore's
// TestSQLitePlans checks the shared ones): a schema edit that
// breaks it (a partial index predicate that no longer matches the query text, a dropped
// index) shows up here instead of as a slow store in production.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "plan.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	cases := []struct {
		name string
		sql  string
		args []any
		want []string // each must appear in the plan
	}{
		{"LoadInstance", stmtSQL[qLoadInstance], []any{"i"},
			[]string{"instances USING PRIMARY KEY", "tokens USING INDEX tokens_instance", "variables USING PRIMARY KEY",
				"jobs USING INDEX jobs_instance", "subscriptions USING INDEX subscriptions_instance",
				"user_tasks USING INDEX user_tasks_instance", "incidents USING INDEX incidents_instance"}},
		{"LockJobs", stmtSQL[qLockJobs], []any{"o", 1, 2, 3, `["service"]`, `["service"]`, 1, `["t"]`, 10, "", "", "", ""}, []string{"jobs USING INDEX jobs_runnable"}},
		{"UpdateInstance", stmtSQL[qUpdateInstance], []any{"", "", 2, 0, nil, 0, "i", 1}, []string{"instances USING PRIMARY KEY"}},
		{"MigrateInstance", stmtSQL[qMigrateInstance], []any{"", "", 2, 0, nil, 0, "d:2", "d", 2, "i", 1}, []string{"instances USING PRIMARY KEY"}},
		// Tokens by element (a search, never a scan), each instance by its key.
		{"Stalls WaitingTokens", waitingTokensSQL, []any{"e", 1, "d"},
			[]string{"SEARCH t USING INDEX tokens_element (element_id=?)", "SEARCH i USING PRIMARY KEY", "x USING INDEX incidents_instance"}},
	}
	for _, c := range cases {
		plan := explain(t, s.wdb, c.sql, c.args)
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan lacks %q:\n%s", c.name, w, plan)
			}
		}
	}
}

func explain(t *testing.T, db *sql.DB, text string, args []any) string {
	t.Helper()
	plan, err := ExplainQueryPlan(context.Background(), db, text, args...)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}
