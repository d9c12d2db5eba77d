package sqlite

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestQueryPlans guards the index use of the hot and the list queries: a schema edit that
// breaks it (a partial index predicate that no longer matches the query text, a dropped
// index) shows up here instead of as a slow store in production.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "plan.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	instances := func(f store.InstanceFilter, dense denseFilters) (string, []any) {
		q, _, err := instanceQuery(f, dense)
		if err != nil {
			t.Fatal(err)
		}
		return q.String(), q.args
	}
	value := json.RawMessage(`"x"`)
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
		{"LockJobs", stmtSQL[qLockJobs], []any{"o", 1, 2, 3, `["service"]`, `["service"]`, 1, `["t"]`, 10}, []string{"jobs USING INDEX jobs_runnable"}},
		// Tokens first, each instance by its key: never the definition's whole history.
		{"CountTokens", countTokensSQL, []any{"d"}, []string{"SCAN t", "SEARCH i USING PRIMARY KEY"}},
		// A key range of the summary table, whatever the size of the history.
		{"ElementCounts", stmtSQL[qElementCounts], []any{"d"}, []string{"SEARCH element_stats USING PRIMARY KEY (definition_id=?)"}},
		{"NextJobDue", stmtSQL[qNextJobDue], nil, []string{"jobs USING INDEX jobs_runnable", "jobs USING INDEX jobs_locked"}},
		{"FindSubscriptions", stmtSQL[qFindSubscriptions], []any{"m", "k"},
			[]string{"subscriptions USING INDEX subscriptions_message", "subscriptions USING INDEX subscriptions_instance"}},
		{"UpdateInstance", stmtSQL[qUpdateInstance], []any{"", "", 2, 0, nil, 0, "i", 1}, []string{"instances USING PRIMARY KEY"}},
		{"DeleteStartJobs", stmtSQL[qDeleteStartJobs], []any{"k"}, []string{"jobs USING INDEX jobs_instance"}},
	}
	for _, c := range []struct {
		name  string
		f     store.InstanceFilter
		dense denseFilters
		want  []string
	}{
		{"ListInstances", store.InstanceFilter{}, denseFilters{}, []string{"instances USING INDEX instances_started"}},
		{"ListInstances key", store.InstanceFilter{DefinitionKey: "k", After: "MTox"}, denseFilters{}, []string{"instances USING INDEX instances_definition_key"}},
		{"ListInstances definition", store.InstanceFilter{DefinitionID: "k"}, denseFilters{}, []string{"instances USING INDEX instances_definition_id"}},
		{"ListInstances state", store.InstanceFilter{States: []string{"active"}}, denseFilters{}, []string{"instances USING INDEX instances_state"}},
		{"ListInstances states", store.InstanceFilter{States: []string{"active", "suspended"}}, denseFilters{}, []string{"instances USING INDEX instances_started"}},
		{"ListInstances business key", store.InstanceFilter{BusinessKey: "b"}, denseFilters{}, []string{"instances USING INDEX instances_business_key"}},
		{"ListInstances incident", store.InstanceFilter{HasIncident: new(true)}, denseFilters{}, []string{"instances USING INDEX instances_incident"}},
		{"ListInstances variable", store.InstanceFilter{VariableName: "v", VariableValue: value}, denseFilters{}, []string{"variables USING COVERING INDEX variables_value"}},
		{"ListInstances variable dense", store.InstanceFilter{VariableName: "v", VariableValue: value}, denseFilters{variable: true},
			[]string{"instances USING INDEX instances_started", "variables_value"}},
		{"ListInstances waiting", store.InstanceFilter{WaitingAt: "e"}, denseFilters{}, []string{"tokens USING COVERING INDEX tokens_element"}},
		{"ListInstances waiting dense", store.InstanceFilter{WaitingAt: "e"}, denseFilters{waitingAt: true},
			[]string{"instances USING INDEX instances_started", "tokens_element"}},
	} {
		sql, args := instances(c.f, c.dense)
		cases = append(cases, struct {
			name string
			sql  string
			args []any
			want []string
		}{c.name, sql, args, c.want})
	}

	// Stalls: every query reads open stalls through a partial index (or the few rows of
	// stalls_unpublished / stalls_cleared), and tokens by element, never a table scan.
	listDef := listStallsQuery(store.StallFilter{DefinitionID: "d", State: store.StallOpen})
	listInstance := listStallsQuery(store.StallFilter{InstanceID: "i", State: store.StallOpen})
	countDef, countAll := countStallsQuery("d"), countStallsQuery("")
	stalled, stalledArgs := instances(store.InstanceFilter{Stalled: new(true)}, denseFilters{})
	for _, c := range []struct {
		name string
		sql  string
		args []any
		want []string
	}{
		{"Stalls WaitingTokens", waitingTokensSQL, []any{"e", 1, "d"},
			[]string{"SEARCH t USING INDEX tokens_element (element_id=?)", "SEARCH i USING PRIMARY KEY", "x USING INDEX incidents_instance"}},
		{"Stalls ListStalls definition", listDef.String(), listDef.args,
			[]string{"stalls USING INDEX stalls_open_definition (definition_id=?)"}},
		{"Stalls ListStalls instance", listInstance.String(), listInstance.args,
			[]string{"stalls USING INDEX stalls_open_instance (instance_id=?)"}},
		{"Stalls CountStalls definition", countDef.String(), countDef.args,
			[]string{"s USING INDEX stalls_open_definition (definition_id=?)", "t EXISTS USING PRIMARY KEY", "i EXISTS USING PRIMARY KEY"}},
		{"Stalls CountStalls all", countAll.String(), countAll.args, []string{"s USING INDEX stalls_open_", "t EXISTS USING PRIMARY KEY"}},
		{"Stalls CountStalledInstances", countStalledInstanceSQL, nil, []string{"s USING INDEX stalls_open_", "t EXISTS USING PRIMARY KEY"}},
		{"Stalls ListInstances stalled", stalled, stalledArgs,
			[]string{"instances USING PRIMARY KEY (id=?)", "s USING INDEX stalls_open_"}},
		{"Stalls UnpublishedStalls", unpublishedStallsSQL, []any{10}, []string{"stalls USING INDEX stalls_unpublished"}},
		{"Stalls PruneStalls", pruneStallsSQL, []any{1}, []string{"stalls USING INDEX stalls_cleared (cleared_at<?)"}},
		{"Stalls ClearStalls", clearStallSQL, []any{1, "s"}, []string{"stalls USING PRIMARY KEY (id=?)"}},
	} {
		cases = append(cases, struct {
			name string
			sql  string
			args []any
			want []string
		}{c.name, c.sql, c.args, c.want})
	}

	for _, c := range cases {
		plan := explain(t, s, c.sql, c.args)
		if strings.HasPrefix(c.name, "Stalls ") {
			for _, line := range strings.Split(plan, "\n") {
				if line == "SCAN stalls" || line == "SCAN s" || line == "SCAN t" || line == "SCAN tokens" {
					t.Errorf("%s: plan scans a table:\n%s", c.name, plan)
				}
			}
		}
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: plan lacks %q:\n%s", c.name, w, plan)
			}
		}
		// A list must come out of an index in page order, not from a sort.
		if strings.HasPrefix(c.name, "ListInstances") && !strings.Contains(c.sql, "id IN (") &&
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan sorts:\n%s", c.name, plan)
		}
	}
}

func explain(t *testing.T, s *Store, sql string, args []any) string {
	t.Helper()
	rows, err := s.wdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+sql, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
