package web_test

import (
	"context"
	"log/slog"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// TestServicePages: an observing cockpit's read model holds two services that deploy
// the same process key and version. The overview has a row per service's process,
// naming its service; the instance list filters by service (and asks for the service
// when a version is ambiguous); the process page is one service's, with links to the
// others'; the instance page names its service; the analytics are one service's, the
// incidents and tasks filter by service and name it (testServiceDimensions). A cockpit
// of one engine shows none of it.
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
	if p := orders.get("/processes/pay"); !strings.Contains(p.body, `href="/processes/pay/analytics?version=1"`) {
		t.Errorf("one engine's analytics link:\n%s", p.body)
	}
	incs := orders.get("/incidents")
	incs.want(t, 200, "incident-group", 1)
	incs.want(t, 200, "filter-service", 0)
	incs.want(t, 200, "group-service", 0)
	tasks := orders.get("/tasks")
	tasks.want(t, 200, "task-row", 2)
	tasks.want(t, 200, "filter-service", 0)
	tasks.want(t, 200, "task-service", 0)
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
	// The metrics of the read model's history, as the observing cockpit's projector keeps them.
	mon, err := monitor.New(monitor.Options{Store: rm})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mon.Rebuild(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Guard(web.New(web.Options{Engine: e, Metrics: mon, Logger: slog.New(slog.DiscardHandler),
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
	testServiceDimensions(t, f, sources)
}

// testServiceDimensions: the analytics, incident and task pages of an observing
// cockpit whose two services both deploy "pay", each with three instances (one failed
// with the same cause, two at a user task).
func testServiceDimensions(t *testing.T, f *fixture, sources map[string]*fixture) {
	// Analytics: one service's figures, versions and links.
	if !strings.Contains(f.get("/processes/pay?service=shipping").body, `href="/processes/pay/analytics?version=1&amp;service=shipping"`) {
		t.Errorf("the process page's analytics link lacks the service")
	}
	an := f.get("/processes/pay/analytics?service=shipping&range=7d")
	if s := text(an.want(t, 200, "analytics-service", 1)[0]); s != "shipping" {
		t.Errorf("analytics service %q", s)
	}
	if s := text(an.want(t, 200, "analytics-other-services", 1)[0]); s != "orders" {
		t.Errorf("analytics other services %q", s)
	}
	if !strings.Contains(an.body, `href="/processes/pay/analytics?range=7d&amp;service=orders"`) ||
		!strings.Contains(an.body, `href="/processes/pay?service=shipping"`) {
		t.Errorf("analytics links lack the service:\n%s", an.body)
	}
	// Three instances each: six would be both services' figures.
	if s := text(an.want(t, 200, "stat-started", 1)[0]); !strings.Contains(s, "3") || strings.Contains(s, "6") {
		t.Errorf("shipping's started instances: %q", s)
	}
	if opts := byTestID(an.doc, "analytics-version"); len(opts) != 1 || strings.Count(text(opts[0]), "Version ") != 1 {
		t.Errorf("analytics versions: %v", textsOf(opts))
	}
	if s := text(f.get("/processes/pay/analytics").want(t, 200, "analytics-service", 1)[0]); s != "orders" {
		t.Errorf("analytics without a service: %q", s)
	}
	if p := f.get("/processes/pay/analytics?service=nope"); p.status != 404 {
		t.Errorf("analytics of an unknown service: %d", p.status)
	}

	// Incidents: both failures share a cause (one fingerprint); the filter keeps one
	// service's, and the line names the services.
	all := f.get("/incidents")
	all.want(t, 200, "filter-service", 1)
	rows := all.want(t, 200, "incident-group", 1)
	fp := attr(rows[0], "data-fingerprint")
	if s := text(all.want(t, 200, "group-service", 1)[0]); s != "orders, shipping" {
		t.Errorf("a cause of both services names %q", s)
	}
	if links := byTestID(all.doc, "service-link"); len(links) != 2 ||
		!strings.Contains(attr(links[1], "href"), "service=shipping") {
		t.Errorf("the services of a shared cause link to the filtered page: %d links", len(links))
	}
	if s := text(all.want(t, 200, "incident-groups-summary", 1)[0]); !strings.Contains(s, "2 incidents in 1 group") {
		t.Errorf("all services' incidents: %q", s)
	}
	for service, fx := range sources {
		p := f.get("/incidents?service=" + service)
		p.want(t, 200, "incident-group", 1)
		if s := text(p.want(t, 200, "group-service", 1)[0]); s != service {
			t.Errorf("%s's incidents name %q", service, s)
		}
		if s := text(p.want(t, 200, "incident-groups-summary", 1)[0]); !strings.Contains(s, "1 incident in 1 group") {
			t.Errorf("%s's incidents: %q", service, s)
		}
		if !strings.Contains(p.body, "/instances?hasIncident=true&amp;process=pay&amp;service="+service) ||
			!strings.Contains(p.body, "/incidents/groups/"+fp+"?service="+service) {
			t.Errorf("%s's incident links lack the service:\n%s", service, p.body)
		}
		g := f.get("/incidents/groups/" + fp + "?service=" + service)
		if s := text(g.want(t, 200, "group-count", 1)[0]); s != "1" {
			t.Errorf("%s's group count %q", service, s)
		}
		if s := text(g.want(t, 200, "group-service", 1)[0]); s != service {
			t.Errorf("%s's group page names %q", service, s)
		}
		if !strings.Contains(g.body, fx.failed.ID) {
			t.Errorf("%s's group page lacks its incident's instance %s", service, fx.failed.ID)
		}
	}
	f.get("/incidents?service=nope").want(t, 200, "incident-group", 0)
	if s := text(f.get("/incidents/groups/"+fp).want(t, 200, "group-count", 1)[0]); s != "2" {
		t.Errorf("the group of every service: %q", s)
	}

	// Tasks: the key is both services', so each task's service is its instance's.
	taskIDs := func(p *page) map[string]string {
		out := map[string]string{}
		for _, r := range byTestID(p.doc, "task-row") {
			sv := ""
			if cells := byTestID(r, "task-service"); len(cells) == 1 {
				sv = text(cells[0])
			}
			out[attr(r, "data-id")] = sv
		}
		return out
	}
	want := map[string]string{}
	for service, fx := range sources {
		tasks, err := fx.e.ListUserTasks(context.Background(), store.UserTaskFilter{State: store.TaskOpen})
		if err != nil {
			t.Fatal(err)
		}
		mine := map[string]string{}
		for _, tk := range tasks {
			want[tk.ID], mine[tk.ID] = service, service
		}
		p := f.get("/tasks?service=" + service)
		p.want(t, 200, "filter-service", 1)
		if got := taskIDs(p); !maps.Equal(got, mine) {
			t.Errorf("tasks of %s: %v, want %v", service, got, mine)
		}
	}
	tasks := f.get("/tasks")
	tasks.want(t, 200, "filter-service", 1)
	if got := taskIDs(tasks); len(want) != 4 || !maps.Equal(got, want) {
		t.Errorf("every service's tasks: %v, want %v", got, want)
	}
}
