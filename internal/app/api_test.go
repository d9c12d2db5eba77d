package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
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
	for _, p := range []string{"stalled", "hasIncident"} {
		var e errorBody
		if code := get("/api/instances?"+p+"=maybe", &e); code != http.StatusBadRequest || !strings.Contains(e.Error, p+`="maybe"`) {
			t.Errorf("%s=maybe: %d %q, want 400 naming %s", p, code, e.Error, p)
		}
	}
	// A cursor the store never gave out is the caller's mistake (store.ErrInvalidCursor
	// through engine.ErrInvalidInput), not an internal error.
	var bad errorBody
	if code := get("/api/instances?after=%21%21", &bad); code != http.StatusBadRequest || !strings.Contains(bad.Error, "invalid cursor") {
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
	stores := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(t.Context(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			u := os.Getenv("COCKPIT_TEST_DATABASE_URL")
			if u == "" {
				t.Skip("COCKPIT_TEST_DATABASE_URL not set")
			}
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			schema := "cockpit_test_" + hex.EncodeToString(b)
			t.Cleanup(func() {
				if err := postgres.DropSchema(context.Background(), u, schema); err != nil {
					t.Errorf("drop schema: %v", err)
				}
			})
			st, err := postgres.Open(t.Context(), postgres.Options{URL: u, Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t)
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
