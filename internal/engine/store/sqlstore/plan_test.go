package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// TestSQLitePlans guards the index use of the shared queries on SQLite, whose planner
// needs the query text to match its indexes: a schema edit or a query edit that breaks it
// (a partial index predicate that no longer matches, a dropped index) shows up here
// instead of as a slow store in production. The SQLite driver's own statements are
// checked in its TestQueryPlans.
func TestSQLitePlans(t *testing.T) {
	t.Parallel()
	db, err := sqlite.OpenDB(filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := sqlite.Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	d := sqlstore.SQLite
	instances := func(f store.InstanceFilter, dense sqlstore.Dense) (string, []any) {
		q, _, err := sqlstore.InstanceQuery(d, f, dense)
		if err != nil {
			t.Fatal(err)
		}
		return q.String(), q.Args()
	}
	type planCase struct {
		name string
		sql  string
		args []any
		want []string // each must appear in the plan
	}
	value := json.RawMessage(`"x"`)
	cases := []planCase{
		// Tokens first, each instance by its key: never the definition's whole history.
		{"CountTokens", sqlstore.CountTokensStmt.Text(d), []any{"d"}, []string{"SCAN t", "SEARCH i USING PRIMARY KEY"}},
		// A key range of the summary table, whatever the size of the history.
		{"ElementCounts", sqlstore.ElementCountsStmt.Text(d), []any{"d"}, []string{"SEARCH element_stats USING PRIMARY KEY (definition_id=?)"}},
		// Each probe one step down an index, never every locked row.
		{"NextJobDue", sqlstore.NextJobDueStmt.Text(d), nil, []string{"jobs USING INDEX jobs_runnable",
			"jobs USING INDEX jobs_locked ", "jobs USING INDEX jobs_locked_early"}},
		{"FindSubscriptions", sqlstore.FindSubscriptionsStmt.Text(d), []any{"m", "k", "m"},
			[]string{"subscriptions USING INDEX subscriptions_message", "subscriptions USING INDEX subscriptions_instance"}},
		// One operation's succeeded items, each probing its incident and its instance's.
		{"FailingAgain", sqlstore.FailingAgainStmt.Text(d), []any{"op"}, []string{"SEARCH it USING PRIMARY KEY (operation_id=?)",
			"SEARCH r USING PRIMARY KEY (id=?)", "SEARCH i EXISTS USING INDEX incidents_instance (instance_id=?)"}},
		{"DeleteStartJobs", sqlstore.DeleteStartJobsStmt.Text(d), []any{"k"}, []string{"jobs USING INDEX jobs_instance"}},
		// The engine's lookups by key keep an index of their own beside the unique
		// (service, key, version); the latest of each service's key probes the unique one.
		{"LatestDefinition", sqlstore.LatestDefinitionStmt.Text(d), []any{"k"}, []string{"definitions USING INDEX definitions_key_version (key=?)"}},
		{"DefinitionByVersion", sqlstore.DefinitionByVersionStmt.Text(d), []any{"k", 1},
			[]string{"definitions USING INDEX definitions_key_version (key=? AND version=?)"}},
		{"ListDefinitions latest", sqlstore.ListDefinitionsLatest, nil,
			[]string{"d2 USING COVERING INDEX definitions_service_key_version (service=? AND key=?)"}},
	}
	for _, c := range []struct {
		name  string
		f     store.InstanceFilter
		dense sqlstore.Dense
		want  []string
	}{
		{"ListInstances", store.InstanceFilter{}, sqlstore.Dense{}, []string{"instances USING INDEX instances_started"}},
		{"ListInstances key", store.InstanceFilter{DefinitionKey: "k", After: "MTox"}, sqlstore.Dense{}, []string{"instances USING INDEX instances_definition_key"}},
		{"ListInstances definition", store.InstanceFilter{DefinitionID: "k"}, sqlstore.Dense{}, []string{"instances USING INDEX instances_definition_id"}},
		{"ListInstances state", store.InstanceFilter{States: []string{"active"}}, sqlstore.Dense{}, []string{"instances USING INDEX instances_state"}},
		{"ListInstances states", store.InstanceFilter{States: []string{"completed", "cancelled"}}, sqlstore.Dense{}, []string{"instances USING INDEX instances_started"}},
		// Running instances through instances_state, whatever else the filter names: a
		// definition's history is not walked to reach its old running instances.
		{"ListInstances running", store.InstanceFilter{States: []string{"active", "suspended"}}, sqlstore.Dense{}, []string{"instances USING INDEX instances_state"}},
		{"ListInstances running definition", store.InstanceFilter{DefinitionID: "d", States: []string{"active", "suspended"}}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_state"}},
		{"ListInstances active key", store.InstanceFilter{DefinitionKey: "k", States: []string{"active"}, After: "MTox"}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_state"}},
		{"ListInstances business key", store.InstanceFilter{BusinessKey: "b"}, sqlstore.Dense{}, []string{"instances USING INDEX instances_business_key"}},
		{"ListInstances incident", store.InstanceFilter{HasIncident: new(true)}, sqlstore.Dense{}, []string{"instances USING INDEX instances_incident"}},
		{"ListInstances variable", store.InstanceFilter{VariableName: "v", VariableValue: value}, sqlstore.Dense{}, []string{"variables USING COVERING INDEX variables_value"}},
		{"ListInstances variable dense", store.InstanceFilter{VariableName: "v", VariableValue: value}, sqlstore.Dense{Variable: true},
			[]string{"instances USING INDEX instances_started", "variables_value"}},
		{"ListInstances waiting", store.InstanceFilter{WaitingAt: "e"}, sqlstore.Dense{}, []string{"tokens USING COVERING INDEX tokens_element"}},
		// A service's instances newest first, each checked against the service's
		// definitions (read once by the unique index): services are few and large.
		{"ListInstances service", store.InstanceFilter{Service: "orders"}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_started", "definitions USING INDEX definitions_service_key_version (service=?)"}},
		{"ListInstances service key", store.InstanceFilter{Service: "orders", DefinitionKey: "k"}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_definition_key", "definitions_service_key_version"}},
		{"ListInstances service running", store.InstanceFilter{Service: "orders", States: []string{"active"}}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_state", "definitions_service_key_version"}},
		// A key's (and a service's) instances with an open incident or a stall: the few
		// of those, not the key's history (the observing cockpit's overview rows).
		{"ListInstances service key incident", store.InstanceFilter{Service: "orders", DefinitionKey: "k", HasIncident: new(true)}, sqlstore.Dense{},
			[]string{"instances USING INDEX instances_incident", "definitions_service_key_version"}},
		{"ListInstances key stalled", store.InstanceFilter{DefinitionKey: "k", Stalled: new(true)}, sqlstore.Dense{},
			[]string{"USING PRIMARY KEY (id=?)", "stalls"}},
		{"ListInstances waiting dense", store.InstanceFilter{WaitingAt: "e"}, sqlstore.Dense{WaitingAt: true},
			[]string{"instances USING INDEX instances_started", "tokens_element"}},
	} {
		sql, args := instances(c.f, c.dense)
		cases = append(cases, planCase{c.name, sql, args, c.want})
	}

	// Stalls: every query reads open stalls through a partial index (or the few rows of
	// stalls_unpublished / stalls_cleared), and tokens by element, never a table scan.
	listDef := sqlstore.ListStallsQuery(d, store.StallFilter{DefinitionID: "d", State: store.StallOpen})
	listInstance := sqlstore.ListStallsQuery(d, store.StallFilter{InstanceID: "i", State: store.StallOpen})
	countDef, countAll := sqlstore.CountStallsQuery(d, "d"), sqlstore.CountStallsQuery(d, "")
	clear := sqlstore.ClearStallsQuery(d, []string{"s"}, time.Unix(1, 0))
	stalled, stalledArgs := instances(store.InstanceFilter{Stalled: new(true)}, sqlstore.Dense{})
	cases = append(cases,
		planCase{"Stalls ListStalls definition", listDef.String(), listDef.Args(),
			[]string{"stalls USING INDEX stalls_open_definition (definition_id=?)"}},
		planCase{"Stalls ListStalls instance", listInstance.String(), listInstance.Args(),
			[]string{"stalls USING INDEX stalls_open_instance (instance_id=?)"}},
		planCase{"Stalls CountStalls definition", countDef.String(), countDef.Args(),
			[]string{"s USING INDEX stalls_open_definition (definition_id=?)", "t EXISTS USING PRIMARY KEY", "i EXISTS USING PRIMARY KEY"}},
		planCase{"Stalls CountStalls all", countAll.String(), countAll.Args(), []string{"s USING INDEX stalls_open_", "t EXISTS USING PRIMARY KEY"}},
		planCase{"Stalls CountStalledInstances", sqlstore.CountStalledInstancesStmt.Text(d), nil, []string{"s USING INDEX stalls_open_", "t EXISTS USING PRIMARY KEY"}},
		planCase{"Stalls ListInstances stalled", stalled, stalledArgs,
			[]string{"instances USING PRIMARY KEY (id=?)", "s USING INDEX stalls_open_"}},
		planCase{"Stalls UnpublishedStalls", sqlstore.UnpublishedStallsStmt.Text(d), []any{10}, []string{"stalls USING INDEX stalls_unpublished"}},
		planCase{"Stalls PruneStalls", sqlstore.PruneStallsStmt.Text(d), []any{1}, []string{"stalls USING INDEX stalls_cleared (cleared_at<?)"}},
		planCase{"Stalls ClearStalls", clear.String(), clear.Args(), []string{"stalls USING PRIMARY KEY (id=?)"}},
	)

	// Accounts: a sign-in, a request's session and token lookups probe one index; the
	// per-user lists come out of it newest first, without a sort.
	cases = append(cases,
		planCase{"Accounts GetUserByName", sqlstore.GetUserByNameStmt.Text(d), []any{"n"}, []string{"users USING INDEX users_name (name=?)"}},
		planCase{"Accounts ListUsers", sqlstore.ListUsersStmt.Text(d), nil, []string{"users USING INDEX users_name"}},
		planCase{"Accounts ListSessions", sqlstore.ListSessionsStmt.Text(d), []any{"u"}, []string{"sessions USING INDEX sessions_user (user_id=?)"}},
		planCase{"Accounts DeleteUserSessions", sqlstore.DeleteUserSessionsStmt.Text(d), []any{"u"}, []string{"sessions USING INDEX sessions_user (user_id=?)"}},
		planCase{"Accounts GetAPITokenByHash", sqlstore.GetAPITokenByHashStmt.Text(d), []any{"h"}, []string{"api_tokens USING INDEX api_tokens_hash (hash=?)"}},
		planCase{"Accounts ListAPITokens of a user", sqlstore.ListUserAPITokensStmt.Text(d), []any{"u"}, []string{"api_tokens USING INDEX api_tokens_user (user_id=?)"}},
	)

	for _, c := range cases {
		plan := explain(t, db, c.sql, c.args)
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
		if (strings.HasPrefix(c.name, "ListInstances") || strings.HasPrefix(c.name, "Accounts List")) && !strings.Contains(c.sql, " id IN (") &&
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan sorts:\n%s", c.name, plan)
		}
	}
}

func explain(t *testing.T, db *sql.DB, text string, args []any) string {
	t.Helper()
	plan, err := sqlite.ExplainQueryPlan(context.Background(), db, text, args...)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}
