package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storeurl"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestServeObserve: a service runs the demo on its own store and publishes on a NATS
// server; a second `cockpit serve --observe` on another store, with no engine, folds
// the service's events and shows its instances as the service's own cockpit does:
// row and history of a completed instance through the JSON API, the web pages with
// the diagram drawn from the published model. It says it observes, and deploys nothing
// (its actions go home: TestObserveRoutesCommands).
func TestServeObserve(t *testing.T) {
	t.Parallel()
	srv := embeddedNATS(t)
	svc := startServer(t, "--demo-rate", "50", "--nats-url", srv.ClientURL(), "--service", "orders")
	defer svc.stop()
	obs := startServer(t, "--observe", "--nats-url", srv.ClientURL())
	defer obs.stop()

	type instance struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	var done instance
	wait.For(t, "a completed instance on the service", func() bool {
		var page struct{ Instances []instance }
		svc.get("/api/instances?state=completed&limit=1", &page)
		if len(page.Instances) == 1 {
			done = page.Instances[0]
		}
		return done.ID != ""
	})
	type detail struct {
		Instance instance
		History  []struct {
			ID   string
			Type string
		}
	}
	var want, got detail
	if code := svc.get("/api/instances/"+done.ID, &want); code != http.StatusOK {
		t.Fatalf("service: %d", code)
	}
	wait.For(t, "the observer shows it completed", func() bool {
		resp, err := obs.client.Get(obs.base + "/api/instances/" + done.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got = detail{}
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&got) == nil && got.Instance.State == "completed"
	})
	if len(got.History) != len(want.History) {
		t.Fatalf("history: %d events on the observer, %d on the service", len(got.History), len(want.History))
	}
	for i := range want.History {
		if got.History[i].ID != want.History[i].ID || got.History[i].Type != want.History[i].Type {
			t.Fatalf("history %d: %+v on the observer, %+v on the service", i, got.History[i], want.History[i])
		}
	}
	page := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, obs.base+path, strings.NewReader(url.Values{"reason": {"x"}}.Encode()))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		resp, err := obs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := page(http.MethodGet, "/"); code != http.StatusOK || !strings.Contains(body, `data-testid="read-only"`) ||
		strings.Contains(body, `data-testid="action-deploy"`) || strings.Contains(body, "No handler serves") {
		t.Errorf("the observer's overview: %d; says read only: %v, offers deploy: %v, warns of unserved jobs: %v", code,
			strings.Contains(body, `data-testid="read-only"`), strings.Contains(body, `data-testid="action-deploy"`), strings.Contains(body, "No handler serves"))
	}
	if code, body := page(http.MethodGet, "/instances/"+done.ID); code != http.StatusOK || !strings.Contains(body, `data-testid="shape-`) ||
		!strings.Contains(body, `data-testid="instance-service"`) {
		t.Errorf("the observer's instance page: %d, diagram drawn: %v, names the service: %v", code,
			strings.Contains(body, `data-testid="shape-`), strings.Contains(body, `data-testid="instance-service"`))
	}
	// The definitions name their service; the instances filter by it.
	var defs struct {
		Definitions []struct{ Key, Service string }
	}
	if code := obs.get("/api/definitions?service=orders", &defs); code != http.StatusOK || len(defs.Definitions) == 0 ||
		defs.Definitions[0].Service != "orders" {
		t.Errorf("the observer's definitions of orders: %d %+v", code, defs.Definitions)
	}
	var none struct{ Instances []struct{ ID string } }
	if code := obs.get("/api/instances?service=shipping", &none); code != http.StatusOK || len(none.Instances) != 0 {
		t.Errorf("the observer's instances of another service: %d %+v", code, none.Instances)
	}
	// The services page: the service with its node online, one build, not silent.
	wait.For(t, "the services page lists the service", func() bool {
		code, body := page(http.MethodGet, "/services")
		return code == http.StatusOK && strings.Contains(body, `data-service="orders" data-silent="false" data-nodes="1"`)
	})
	if code, _ := page(http.MethodGet, "/services"); code != http.StatusOK {
		t.Errorf("services page: %d", code)
	}
	resp, err := svc.client.Get(svc.base + "/services")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a cockpit with its own engine has a services page: %d", resp.StatusCode)
	}
	if code, _ := page(http.MethodGet, "/deploy"); code != http.StatusServiceUnavailable {
		t.Errorf("the observer's deploy form: %d", code)
	}
}

// TestObserverDurable: each SQLite read model has a consumer of its own; a PostgreSQL
// one is the same wherever it is opened; a named one is used as named.
func TestObserverDurable(t *testing.T) {
	a := observerDurable("", storeurl.Database{Dialect: "sqlite", Path: "/data/a/cockpit.db"})
	b := observerDurable("", storeurl.Database{Dialect: "sqlite", Path: "/data/b/cockpit.db"})
	pg := storeurl.Database{Dialect: "postgres", Path: "postgres://u@db/read"}
	if a == b || !strings.HasPrefix(a, "cockpit-observer-") || bus.CheckService(a) != nil {
		t.Errorf("sqlite consumers %q and %q", a, b)
	}
	if observerDurable("", pg) != observerDurable("", pg) || observerDurable("mine", pg) != "mine" {
		t.Error("postgres or named consumer")
	}
}

// TestRebuild: `cockpit rebuild` folds what the stream holds into an empty store and
// stops once caught up; serve --observe on that store shows the service's instances
// and goes on from there; a store with events is refused.
func TestRebuild(t *testing.T) {
	t.Parallel()
	srv := embeddedNATS(t)
	svc := startServer(t, "--demo-rate", "50", "--nats-url", srv.ClientURL(), "--service", "orders")
	var done struct {
		Instances []struct{ ID string }
	}
	wait.For(t, "a completed instance", func() bool {
		svc.get("/api/instances?state=completed&limit=1", &done)
		return len(done.Instances) == 1
	})
	id := done.Instances[0].ID
	type detail struct {
		Instance struct{ State string }
		History  []struct{ ID string }
	}
	var want detail
	svc.get("/api/instances/"+id, &want)
	svc.stop()

	dir := t.TempDir()
	r := runApp(t, nil, "rebuild", "--nats-url", srv.ClientURL(), "--data-dir", dir, "--quiet", "2s")
	if r.code != exitOK || !strings.Contains(r.stdout, "folded ") || !strings.Contains(r.stdout, "of 1 services") {
		t.Fatalf("rebuild: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	again := runApp(t, nil, "rebuild", "--nats-url", srv.ClientURL(), "--data-dir", dir)
	if again.code == exitOK || !strings.Contains(again.stderr, "holds events already") {
		t.Errorf("a second rebuild into the same store: exit %d\n%s", again.code, again.stderr)
	}
	if r := runApp(t, nil, "rebuild", "--data-dir", dir); r.code != exitUsage || !strings.Contains(r.stderr, "--nats-url is required") {
		t.Errorf("without --nats-url: exit %d\n%s", r.code, r.stderr)
	}
	obs := startServer(t, "--observe", "--nats-url", srv.ClientURL(), "--data-dir", dir)
	defer obs.stop()
	var got detail
	if code := obs.get("/api/instances/"+id, &got); code != http.StatusOK || got.Instance.State != "completed" || len(got.History) != len(want.History) {
		t.Fatalf("after the rebuild: %d %+v, want %d events", code, got.Instance, len(want.History))
	}
}

// TestObserveRoutesCommands: an action on an observing cockpit goes to the service that
// runs the instance: cancelled through the observer's web form, the instance is
// cancelled on the service (under the observer's actor, in the service's audit log) and
// then in the observer. With the service stopped, the same action says "service orders
// is not answering" and nothing changes.
func TestObserveRoutesCommands(t *testing.T) {
	t.Parallel()
	srv := embeddedNATS(t)
	svc := startServer(t, "--demo-rate", "50", "--nats-url", srv.ClientURL(), "--service", "orders")
	svcStopped := false
	defer func() {
		if !svcStopped {
			svc.stop()
		}
	}()
	obs := startServer(t, "--observe", "--nats-url", srv.ClientURL(), "--web-actor", "observer-ann")
	defer obs.stop()
	jar, _ := cookiejar.New(nil)
	obs.client.Jar = jar

	type instance struct {
		ID            string `json:"id"`
		State         string `json:"state"`
		DefinitionKey string `json:"definitionKey"`
	}
	state := func(s *server, id string) string {
		var d struct{ Instance instance }
		if code := s.get("/api/instances/"+id, &d); code != http.StatusOK {
			return ""
		}
		return d.Instance.State
	}
	// Invoice approvals wait for a person: the demo leaves them active.
	waiting := func(skip string) string {
		var id string
		wait.For(t, "an active invoice approval on the observer", func() bool {
			var page struct{ Instances []instance }
			svc.get("/api/instances?state=active&limit=100", &page)
			for _, in := range page.Instances {
				if in.DefinitionKey == "invoice-approval" && in.ID != skip && state(obs, in.ID) == "active" {
					id = in.ID
					return true
				}
			}
			return false
		})
		return id
	}
	cancelOn := func(id string) (int, string) {
		form := url.Values{"reason": {"routed"}, "confirm": {"yes"}}
		req, _ := http.NewRequest(http.MethodPost, obs.base+"/instances/"+id+"/cancel", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := obs.client.Do(req) // follows the redirect to the instance page, with its flash
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	id := waiting("")
	if code, body := cancelOn(id); code != http.StatusOK || strings.Contains(body, "was not carried out") || strings.Contains(body, "was refused") {
		t.Fatalf("cancel through the observer: %d\n%.800s", code, body)
	}
	if got := state(svc, id); got != "cancelled" {
		t.Fatalf("on the service after the observer's cancel: %q", got)
	}
	resp, err := svc.client.Get(svc.base + "/audit.csv?command=instance.cancel&target=" + id)
	if err != nil {
		t.Fatal(err)
	}
	csv, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(csv), "observer-ann") {
		t.Errorf("the service's audit log of the cancel: %d\n%s", resp.StatusCode, csv)
	}
	wait.For(t, "the observer shows it cancelled", func() bool { return state(obs, id) == "cancelled" })

	other := waiting(id)
	svc.stop()
	svcStopped = true
	code, body := cancelOn(other)
	if code != http.StatusOK || !strings.Contains(body, "orders is not answering") {
		t.Errorf("cancel with the service down: %d\n%.800s", code, body)
	}
	if got := state(obs, other); got != "active" {
		t.Errorf("on the observer after a cancel nobody answered: %q", got)
	}
}

// TestRebuildFromEngines: the stream lost everything (its retention); `cockpit rebuild
// --from-engines` asks the running service for its history, and the observing cockpit
// shows an instance the stream no longer holds, with its whole history.
func TestRebuildFromEngines(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := embeddedNATS(t)
	svc := startServer(t, "--demo-rate", "20", "--nats-url", srv.ClientURL(), "--service", "orders")
	svcStopped := false
	defer func() {
		if !svcStopped {
			svc.stop()
		}
	}()
	var done struct {
		Instances []struct{ ID string }
	}
	wait.For(t, "a completed instance", func() bool {
		svc.get("/api/instances?state=completed&limit=1", &done)
		return len(done.Instances) == 1
	})
	id := done.Instances[0].ID
	type detail struct {
		Instance struct{ State string }
		History  []struct{ ID string }
	}
	var want detail
	svc.get("/api/instances/"+id, &want)

	nc, err := srv.Connect(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, bus.EventsStream(bus.DefaultPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	r := runApp(t, nil, "rebuild", "--nats-url", srv.ClientURL(), "--data-dir", dir, "--quiet", "1s", "--from-engines")
	if r.code != exitOK || !strings.Contains(r.stdout, "service orders: folded ") {
		t.Fatalf("rebuild --from-engines: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	obs := startServer(t, "--observe", "--nats-url", srv.ClientURL(), "--data-dir", dir)
	defer obs.stop()
	var got detail
	if code := obs.get("/api/instances/"+id, &got); code != http.StatusOK || got.Instance.State != "completed" || len(got.History) != len(want.History) {
		t.Fatalf("after the rebuild: %d %+v, %d events, want %d", code, got.Instance, len(got.History), len(want.History))
	}

	// Without a service online there is nothing to ask.
	svc.stop()
	svcStopped = true
	if r := runApp(t, nil, "rebuild", "--nats-url", srv.ClientURL(), "--data-dir", t.TempDir(), "--from-engines"); r.code == exitOK ||
		!strings.Contains(r.stderr, "no engine node answered") {
		t.Errorf("rebuild --from-engines without services: exit %d\n%s", r.code, r.stderr)
	}
}
