package web_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// TestServicePages: an observing cockpit's read model holds two services that deploy
// the same process key and version. The overview has a row per service's process,
// naming its service; the instance list filters by service (and asks for the service
// when a version is ambiguous); the process page is one service's, with links to the
// others'; the instance page names its service. A cockpit of one engine shows none of
// it.
func TestServicePages(t *testing.T) {
	t.Parallel()
	orders, shipping := newFixture(t), newFixture(t)
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			testServicePages(t, orders, shipping, st.open(t))
		})
	}
	// One engine's cockpit: no service anywhere.
	home := orders.get("/")
	home.want(t, 200, "process-row", 1)
	home.want(t, 200, "process-service", 0)
	orders.get("/instances").want(t, 200, "filter-service", 0)
	orders.get("/instances/"+orders.failed.ID).want(t, 200, "instance-service", 0)
}

func testServicePages(t *testing.T, orders, shipping *fixture, rm store.Store) {
	ctx := context.Background()
	t.Cleanup(func() { _ = rm.Close() })
	sources := map[string]*fixture{"orders": orders, "shipping": shipping}
	models := func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		return sources[m.Service].e.GetDefinition(ctx, m.DefinitionID)
	}
	fold, err := observer.NewFolder(rm, models)
	if err != nil {
		t.Fatal(err)
	}
	for _, service := range []string{"orders", "shipping"} {
		evs, err := sources[service].e.History(ctx, store.EventFilter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*bus.Message
		for _, ev := range evs {
			msgs = append(msgs, bus.NewMessage(service, ev))
		}
		res, err := fold.Fold(ctx, msgs)
		if err != nil || res.Applied != len(msgs) {
			t.Fatalf("fold %s: %+v %v", service, res, err)
		}
	}
	// The cockpit as `serve --observe` runs it: an engine that is never started, read only.
	e, err := engine.New(engine.Options{Store: rm, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	srv := httptest.NewServer(web.Guard(web.New(web.Options{Engine: e, Logger: slog.New(slog.DiscardHandler),
		ReadOnly: "observing"}), web.GuardOptions{}))
	t.Cleanup(srv.Close)
	f := &fixture{t: t, e: e, srv: srv}

	home := f.get("/")
	rows := home.want(t, 200, "process-row", 2)
	var got []string
	for _, r := range rows {
		got = append(got, attr(r, "data-service")+" "+attr(r, "data-key"))
	}
	if want := []string{"orders pay", "shipping pay"}; !slices.Equal(got, want) {
		t.Fatalf("overview rows %q, want %q", got, want)
	}
	for i, c := range home.want(t, 200, "process-service", 2) {
		if text(c) != []string{"orders", "shipping"}[i] {
			t.Errorf("service cell %d: %q", i, text(c))
		}
	}
	if !strings.Contains(home.body, `href="/processes/pay?service=shipping"`) ||
		!strings.Contains(home.body, "/instances?hasIncident=true&amp;process=pay&amp;service=orders") {
		t.Errorf("overview links lack the service:\n%s", home.body)
	}

	ids := func(p *page) []string {
		var out []string
		for _, r := range byTestID(p.doc, "instance-row") {
			out = append(out, attr(r, "data-id"))
		}
		slices.Sort(out)
		return out
	}
	instanceIDs := func(fx *fixture) []string {
		out := []string{fx.failed.ID}
		for _, in := range fx.ok {
			out = append(out, in.ID)
		}
		slices.Sort(out)
		return out
	}
	list := f.get("/instances")
	list.want(t, 200, "filter-service", 1)
	if n := len(ids(list)); n != 6 {
		t.Fatalf("all services: %d instances, want 6", n)
	}
	for service, fx := range sources {
		if got, want := ids(f.get("/instances?service="+service)), instanceIDs(fx); !slices.Equal(got, want) {
			t.Errorf("instances of %s: %q, want %q", service, got, want)
		}
		if got, want := ids(f.get("/instances?process=pay&version=1&service="+service)), instanceIDs(fx); !slices.Equal(got, want) {
			t.Errorf("version 1 of %s: %q, want %q", service, got, want)
		}
	}
	if p := f.get("/instances?process=pay&version=1"); p.status != 400 || !strings.Contains(p.body, "several services") {
		t.Errorf("an ambiguous version: %d\n%s", p.status, p.body)
	}

	proc := f.get("/processes/pay?service=shipping")
	if s := text(proc.want(t, 200, "process-service", 1)[0]); s != "shipping" {
		t.Errorf("process page service %q", s)
	}
	if s := text(proc.want(t, 200, "process-other-services", 1)[0]); s != "orders" {
		t.Errorf("process page other services %q", s)
	}
	if s := text(proc.want(t, 200, "stat-incidents", 1)[0]); !strings.Contains(s, "1") {
		t.Errorf("shipping's open incidents: %q", s)
	}
	// Without a service: the first service's page.
	if s := text(f.get("/processes/pay").want(t, 200, "process-service", 1)[0]); s != "orders" {
		t.Errorf("process page without a service: %q", s)
	}
	if p := f.get("/processes/pay?service=nope"); p.status != 404 {
		t.Errorf("an unknown service: %d", p.status)
	}

	inst := f.get("/instances/" + shipping.failed.ID)
	if s := text(inst.want(t, 200, "instance-service", 1)[0]); s != "shipping" {
		t.Errorf("instance page service %q", s)
	}
}
