package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
)

// TestOrderService runs the example as a user would: an order posted to its endpoint
// goes through both handlers and ends shipped, and its state is read back over HTTP.
func TestOrderService(t *testing.T) {
	ctx := t.Context()
	eng, err := openOrders(ctx, flow.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(newMux(eng))
	defer srv.Close()

	res, err := http.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{"amount": 42, "ref": "A-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var started struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&started); err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /orders: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if in, err := eng.Await(actx, started.ID); err != nil || in.State != flow.Completed {
		t.Fatalf("await: %+v %v", in, err)
	}
	res, err = http.Get(srv.URL + "/orders/" + started.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		State     string
		Variables map[string]any
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.State != "completed" || got.Variables["tracking"] != "trk-"+started.ID || got.Variables["paymentId"] == nil {
		t.Fatalf("GET /orders/%s = %+v", started.ID, got)
	}
	missing, err := http.Get(srv.URL + "/orders/missing")
	if err != nil {
		t.Fatal(err)
	}
	missing.Body.Close()
	if missing.StatusCode != http.StatusNotFound {
		t.Fatalf("GET a missing order: %d", missing.StatusCode)
	}
}

// TestOrderServiceOnPostgreSQL: with -database-url postgres://…, the orders the service
// runs are in the database that `cockpit serve --database-url` reads: a cockpit engine
// opened on the same database (as serve opens it) sees the completed order and its
// history. It runs when COCKPIT_TEST_DATABASE_URL is set.
func TestOrderServiceOnPostgreSQL(t *testing.T) {
	base := pgtest.URL()
	if base == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: the PostgreSQL variant is skipped")
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	url := base + sep + "search_path=" + pgtest.Schema(t, base)
	ctx := t.Context()
	eng, err := openOrders(ctx, flow.Options{DatabaseURL: url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "order", flow.StartOptions{BusinessKey: "PG-1", Variables: map[string]any{"amount": 9}})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if got, err := eng.Await(actx, in.ID); err != nil || got.State != flow.Completed {
		t.Fatalf("await: %+v %v", got, err)
	}
	if err := eng.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// What cockpit serve does with the same --database-url.
	db, err := storeurl.Resolve(t.TempDir(), url)
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cockpit, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := cockpit.GetInstance(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Instance.State != store.InstanceCompleted || d.Instance.BusinessKey != "PG-1" || len(d.History) == 0 {
		t.Fatalf("cockpit sees %+v with %d events", d.Instance, len(d.History))
	}
}
