package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestAPIStalledFilter: stalled=true lists the instances with a current stall,
// stalled=false the others, no filter both; a bad value is a 400 naming the parameter.
func TestAPIStalledFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	// A fixed instant: the data does not depend on when the test runs.
	e, err := engine.New(engine.Options{Store: st, Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	defs, err := bpmn.Build("review").Start("start").UserTask("check").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "review.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		in, err := e.StartInstance(ctx, "review", engine.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	// The first instance's token stalls at check (as the detector would record it).
	d, err := e.GetInstance(ctx, ids[0])
	if err != nil || len(d.Tokens) != 1 {
		t.Fatalf("instance: %v %+v", err, d)
	}
	tok := d.Tokens[0]
	err = st.Write(ctx, func(tx store.Tx) error {
		return tx.InsertStalls(ctx, []*store.Stall{{ID: "stall-1", TokenID: tok.ID, InstanceID: ids[0],
			DefinitionID: d.Instance.DefinitionID, DefinitionKey: "review", ElementID: tok.ElementID, Since: tok.CreatedAt,
			Threshold: time.Minute, DetectedAt: tok.CreatedAt.Add(time.Minute), State: store.StallOpen}})
	})
	if err != nil {
		t.Fatal(err)
	}

	h := newAPI(e, slog.New(slog.DiscardHandler))
	get := func(path string, into any) int {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, rec.Body)
		}
		return rec.Code
	}
	list := func(query string) []string {
		t.Helper()
		var body struct {
			Instances []struct {
				ID string `json:"id"`
			} `json:"instances"`
		}
		if code := get("/api/instances"+query, &body); code != http.StatusOK {
			t.Fatalf("GET /api/instances%s: %d", query, code)
		}
		var out []string
		for _, in := range body.Instances {
			out = append(out, in.ID)
		}
		return out
	}
	if got := list("?stalled=true"); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("stalled=true: %v, want [%s]", got, ids[0])
	}
	if got := list("?stalled=false&state=active"); len(got) != 1 || got[0] != ids[1] {
		t.Errorf("stalled=false: %v, want [%s]", got, ids[1])
	}
	if got := list(""); len(got) != 2 {
		t.Errorf("no filter: %v, want both", got)
	}
	// A called instance is listed by its caller (parent=), and names it.
	caller, err := bpmn.Build("caller").Start("start").CallActivity("call", "review").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "caller.bpmn", caller); err != nil {
		t.Fatal(err)
	}
	parent, err := e.StartInstance(ctx, "caller", engine.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var called struct {
		Instances []struct {
			DefinitionKey    string `json:"definitionKey"`
			ParentInstanceID string `json:"parentInstanceId"`
			ParentElementID  string `json:"parentElementId"`
			CallDepth        int    `json:"callDepth"`
		} `json:"instances"`
	}
	if code := get("/api/instances?parent="+parent.ID, &called); code != http.StatusOK || len(called.Instances) != 1 ||
		called.Instances[0].DefinitionKey != "review" || called.Instances[0].ParentInstanceID != parent.ID ||
		called.Instances[0].ParentElementID != "call" || called.Instances[0].CallDepth != 1 {
		t.Errorf("parent=%s: %d %+v", parent.ID, code, called)
	}
	for _, p := range []string{"stalled", "hasIncident"} {
		var e errorBody
		if code := get("/api/instances?"+p+"=maybe", &e); code != http.StatusBadRequest || !strings.Contains(e.Error, p+`="maybe"`) {
			t.Errorf("%s=maybe: %d %q, want 400 naming %s", p, code, e.Error, p)
		}
	}
	// A cursor the store never gave out is the caller's mistake (store.ErrInvalidCursor
	// through engine.ErrInvalidInput), not an internal error.
	var bad errorBody
	if code := get("/api/instances?after=%21%21", &bad); code != http.StatusBadRequest || !strings.Contains(bad.Error, "parameter after") {
		t.Errorf("after=!!: %d %q, want 400 naming the cursor", code, bad.Error)
	}
}

// TestAPIParkedEvents: the events the relay set aside are listed newest first with their
// count; a bad limit is a 400.
func TestAPIParkedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	err = st.Write(ctx, func(tx store.Tx) error {
		return tx.ParkOutbox(ctx, []*store.ParkedEvent{
			{Seq: 7, ID: "e7", InstanceID: "i1", Type: event.VariablesChanged, Bytes: 2 << 20, Reason: "too large", Placeholder: true, ParkedAt: at},
			{Seq: 9, ID: "e9", InstanceID: "i2", Type: event.JobFailed, Bytes: 3 << 20, Reason: "too large", ParkedAt: at},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newAPI(e, slog.New(slog.DiscardHandler))
	get := func(path string, into any) int {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, rec.Body)
		}
		return rec.Code
	}
	var body struct {
		Count  int64             `json:"count"`
		Events []parkedEventJSON `json:"events"`
	}
	if code := get("/api/parked-events?limit=1", &body); code != http.StatusOK || body.Count != 2 || len(body.Events) != 1 ||
		body.Events[0].ID != "e9" || body.Events[0].Bytes != 3<<20 {
		t.Errorf("parked events: %d %+v", code, body)
	}
	var eb errorBody
	if code := get("/api/parked-events?limit=x", &eb); code != http.StatusBadRequest || !strings.Contains(eb.Error, "limit") {
		t.Errorf("bad limit: %d %q", code, eb.Error)
	}
}

// TestHealthOnBothStores: /healthz and /readyz answer 200 on a working store of each
// dialect (the PostgreSQL variant runs with COCKPIT_TEST_DATABASE_URL); /healthz's probe
// was once a key PostgreSQL cannot bind, so it was always 503 there.
func TestHealthOnBothStores(t *testing.T) {
	t.Parallel()
	for name, open := range apiStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
			e := apiEngine(t, st)
			h := newAPI(e, slog.New(slog.DiscardHandler))
			for _, path := range []string{"/healthz", "/readyz"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					t.Errorf("GET %s: %d %s", path, rec.Code, rec.Body)
				}
			}
			// A closed store is unhealthy.
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("GET /healthz on a closed store: %d %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestAPIHostileParams hits every route of the JSON API with hostile values in each
// path and query parameter: bytes no parameter accepts (NUL, invalid UTF-8, control
// characters, 100 KB) are a 400 naming the parameter; malformed cursors and bad page
// sizes a 400 naming after or limit; nothing is ever a 500.
func TestAPIHostileParams(t *testing.T) {
	t.Parallel()
	for name, open := range apiStores() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testAPIHostileParams(t, open(t))
		})
	}
}

func testAPIHostileParams(t *testing.T, st store.Store) {
	e := apiEngine(t, st)
	h := newAPI(e, slog.New(slog.DiscardHandler))
	get := func(target string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var body errorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body.Error
	}
	routes := []string{"/api/definitions", "/api/instances", "/api/instances/{id}", "/api/incidents", "/api/tasks", "/api/parked-events", "/healthz", "/readyz"}
	params := []string{"key", "service", "latest", "state", "definition", "businessKey", "hasIncident", "stalled", "after", "limit", "instance", "assignee"}
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	bytesClass := []string{"a\x00b", "\xff\xfe", "a\x01b", strings.Repeat("x", 100<<10)}
	meaning := []string{"-1", "0", "99999999999999999999", "!!!", "%zz", cursor("x:y"), cursor("1:a\x00b"), cursor("-9223372036854775808:a"), "true,false"}
	pathOf := func(route, id string) string { return strings.Replace(route, "{id}", url.PathEscape(id), 1) }
	for _, route := range routes {
		for _, v := range bytesClass {
			if strings.Contains(route, "{id}") {
				if code, msg := get(pathOf(route, v)); code != http.StatusBadRequest || !strings.Contains(msg, `"id"`) {
					t.Errorf("%s with %.20q as id: %d %q, want 400 naming id", route, v, code, msg)
				}
			}
			for _, p := range params {
				target := pathOf(route, "none") + "?" + url.Values{p: {v}}.Encode()
				if code, msg := get(target); code != http.StatusBadRequest || !strings.Contains(msg, `"`+p+`"`) {
					t.Errorf("%s with %.20q in %s: %d %q, want 400 naming %s", route, v, p, code, msg, p)
				}
			}
		}
		for _, v := range meaning {
			if strings.Contains(route, "{id}") {
				if code, msg := get(pathOf(route, v)); code != http.StatusNotFound && code != http.StatusBadRequest {
					t.Errorf("%s with %q as id: %d %q, want 404 or 400", route, v, code, msg)
				}
			}
			for _, p := range params {
				target := pathOf(route, "none") + "?" + url.Values{p: {v}}.Encode()
				code, msg := get(target)
				// A health check's 503 is its answer about the store, not about the
				// parameters (and the subject of its own tests).
				health := route == "/healthz" || route == "/readyz"
				if code >= 500 && !(health && code == http.StatusServiceUnavailable) {
					t.Errorf("%s with %q in %s: %d %q", route, v, p, code, msg)
				}
			}
		}
	}
	for _, v := range []string{"!!!", cursor("x:y"), cursor("1:a\x00b"), cursor("1:\xff"), cursor("-9223372036854775808:a")} {
		if code, msg := get("/api/instances?" + url.Values{"after": {v}}.Encode()); code != http.StatusBadRequest || !strings.Contains(msg, "after") {
			t.Errorf("after=%q: %d %q, want 400 naming after", v, code, msg)
		}
	}
	for _, v := range []string{"-1", "0", "1001", "99999999999999999999", "x"} {
		for _, route := range []string{"/api/instances", "/api/incidents", "/api/tasks"} {
			if code, msg := get(route + "?limit=" + url.QueryEscape(v)); code != http.StatusBadRequest || !strings.Contains(msg, "limit") {
				t.Errorf("%s?limit=%s: %d %q, want 400 naming limit", route, v, code, msg)
			}
		}
	}
	if code, msg := get("/api/instances?state=%zz"); code != http.StatusBadRequest || !strings.Contains(msg, "query string") {
		t.Errorf("malformed query: %d %q", code, msg)
	}
}

// apiStores opens the stores the API tests run on: SQLite, and PostgreSQL (a schema of
// its own, dropped afterwards) when COCKPIT_TEST_DATABASE_URL is set; the PostgreSQL
// variant skips, saying so, otherwise.
func apiStores() map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store { return pgtest.Open(t, postgres.Options{}) },
	}
}

// apiEngine is an engine on st, stopped (and st closed) when the test ends.
func apiEngine(t *testing.T, st store.Store) *engine.Engine {
	t.Helper()
	e, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return e
}
