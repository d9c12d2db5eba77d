package sqlite

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func TestZZPlansLarge(t *testing.T) {
	path := os.Getenv("BIGDB")
	if path == "" {
		t.Skip()
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	s.wdb.QueryRow("SELECT count(*) FROM instances").Scan(&n)
	if n == 0 {
		t0 := time.Now()
		for _, q := range []string{
			`INSERT INTO instances SELECT printf('%08d', x), 'def-' || (x % 20) || ':' || (x%3), 'def-' || (x % 20), x%3, 'bk-' || x, CASE WHEN x % 10 = 0 THEN 'active' WHEN x%10=1 THEN 'suspended' ELSE 'completed' END, 3, CASE WHEN x % 1000 = 0 THEN 1 ELSE 0 END, 1700000000000000 + x*1000000, NULL, 5 FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < 1000000) SELECT x FROM g)`,
			`INSERT INTO variables SELECT printf('%08d', x), 'orderId', 'string', '"o-' || x || '"', 0 FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < 1000000) SELECT x FROM g)`,
			`INSERT INTO variables SELECT printf('%08d', x), 'status', 'string', CASE WHEN x%2=0 THEN '"ok"' ELSE '"bad"' END, 0 FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < 1000000) SELECT x FROM g)`,
			`INSERT INTO tokens SELECT 't' || x, printf('%08d', x), CASE WHEN x % 100 = 0 THEN 'rare' ELSE 'common' END, '', 'active', '', 0 FROM (WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM g WHERE x < 1000000) SELECT x FROM g) WHERE x % 10 < 2`,
			`ANALYZE`,
		} {
			if _, err := s.wdb.Exec(q); err != nil {
				// generate_series may be missing: fall back to recursive CTE
				t.Fatalf("%v: %s", err, q[:60])
			}
		}
		t.Logf("generated in %v", time.Since(t0))
	}
	T := true
	F := false
	filters := map[string]store.InstanceFilter{
		"none":           {},
		"key":            {DefinitionKey: "def-3"},
		"defid":          {DefinitionID: "def-3:1"},
		"state active":   {States: []string{"active"}},
		"states 2":       {States: []string{"active", "suspended"}},
		"bk":             {BusinessKey: "bk-77"},
		"var rare":       {VariableName: "orderId", VariableValue: json.RawMessage(`"o-500"`)},
		"var common":     {VariableName: "status", VariableValue: json.RawMessage(`"ok"`)},
		"after":          {StartedAfter: time.UnixMicro(1700000000000000 + 500000*1000000)},
		"before":         {StartedBefore: time.UnixMicro(1700000000000000 + 500000*1000000)},
		"incident":       {HasIncident: &T},
		"no incident":    {HasIncident: &F},
		"waiting rare":   {WaitingAt: "rare"},
		"waiting common": {WaitingAt: "common"},
		"waiting none":   {WaitingAt: "nowhere"},
		"key+active":     {DefinitionKey: "def-3", States: []string{"active"}},
		"key+waiting":    {DefinitionKey: "def-3", WaitingAt: "rare"},
		"key+incident":   {DefinitionKey: "def-3", HasIncident: &T},
		"states+var":     {States: []string{"active", "suspended"}, VariableName: "status", VariableValue: json.RawMessage(`"ok"`)},
	}
	for name, f := range filters {
		var dense denseFilters
		s.Read(ctx, func(tx0 store.Tx) error {
			tx := tx0.(*tx)
			if f.VariableName != "" {
				v, _ := jsonText(f.VariableValue)
				dense.variable, _ = tx.isDense(ctx, qCountVariableEquals, f.VariableName, v)
			}
			if f.WaitingAt != "" {
				dense.waitingAt, _ = tx.isDense(ctx, qCountWaitingAt, f.WaitingAt)
			}
			return nil
		})
		q, _, _ := instanceQuery(f, dense)
		rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q.String(), q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		for rows.Next() {
			var a, b, c int
			var d string
			rows.Scan(&a, &b, &c, &d)
			plan += " | " + d
		}
		rows.Close()
		var d1, d2 time.Duration
		s.Read(ctx, func(tx store.Tx) error {
			t0 := time.Now()
			p, err := tx.ListInstances(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			d1 = time.Since(t0)
			if p.Next != "" {
				f.After = p.Next
				t0 = time.Now()
				tx.ListInstances(ctx, f)
				d2 = time.Since(t0)
			}
			return nil
		})
		t.Logf("%-15s %8v %8v %s", name, d1.Round(time.Microsecond), d2.Round(time.Microsecond), plan)
	}
}
