package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// TestIncidentQueuePlans: the incident queue's grouping reads an index range of the open
// (or resolved) incidents, covering, never the whole table, and with a filter on what a
// fingerprint determines only the ranges of the matching fingerprints; a group's page is
// an index range in the page's order.
func TestIncidentQueuePlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Options{Path: filepath.Join(t.TempDir(), "plan.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		name                string
		q                   store.IncidentQuery
		group, page, pageNo string
	}{
		{"open", store.IncidentQuery{State: "open"}, "COVERING INDEX incidents_fingerprint (state=?)", "incidents USING INDEX", ""},
		// The conditions a fingerprint determines pick the groups first: the grouping reads
		// their index ranges, and looks up only the rows the message test needs.
		{"filtered", store.IncidentQuery{State: "open", DefinitionKey: "order", Type: "failedJob", MessageContains: "declined",
			CreatedBefore: time.Now()}, "INDEX incidents_fingerprint (state=? AND fingerprint=? AND created_at<?)", "INDEX incidents_definition", ""},
		{"by group", store.IncidentQuery{State: "resolved", DefinitionKey: "order", ElementID: "pay", Type: "failedJob", ErrorCode: "E"},
			"COVERING INDEX incidents_fingerprint (state=? AND fingerprint=?)", "INDEX incidents_definition", ""},
		{"fingerprint", store.IncidentQuery{State: "open", Fingerprint: "f"}, "COVERING INDEX incidents_fingerprint (state=? AND fingerprint=?)",
			"INDEX incidents_fingerprint (state=? AND fingerprint=?)", "TEMP B-TREE"},
	} {
		b := sqlstore.GroupIncidentsQuery(sqlstore.SQLite, c.q, 200)
		if plan := explain(t, s.wdb, b.String(), b.Args()); !strings.Contains(plan, c.group) || strings.Contains(plan, "SCAN incidents") {
			t.Errorf("%s: group plan lacks %q:\n%s", c.name, c.group, plan)
		}
		b = sqlstore.QueueIncidentsQuery(sqlstore.SQLite, c.q, store.IncidentCursor{}, 50)
		plan := explain(t, s.wdb, b.String(), b.Args())
		if !strings.Contains(plan, c.page) || strings.Contains(plan, "SCAN incidents") || (c.pageNo != "" && strings.Contains(plan, c.pageNo)) {
			t.Errorf("%s: page plan lacks %q (or sorts):\n%s", c.name, c.page, plan)
		}
	}
}
