package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// fixture is a started engine on its own SQLite file with the "pay" process deployed:
// start → charge (service, 1 attempt) → review (user task with a boolean and a long
// field) → end. Instances started with fail=true stop at charge with an incident.
type fixture struct {
	t   *testing.T
	e   *engine.Engine
	srv *httptest.Server
	// ok are two instances waiting at review; failed has an incident at charge.
	ok     []*store.Instance
	failed *store.Instance
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, testStores()[0].open)
}

// newFixtureOn is newFixture on the store open makes.
func newFixtureOn(t *testing.T, open func(t *testing.T) store.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	var err error
	// The real clock: the executor runs the jobs in real time; no figure here depends on the hour.
	e, err := engine.New(engine.Options{Store: st, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("new engine: %v", err)
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
	e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("card declined by issuer")
		}
		return map[string]any{"charged": true}, nil
	})
	defs, err := bpmn.Build("pay", bpmn.Name("Payment")).
		Start("start").
		ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
		UserTask("review", bpmn.Name("Review payment"), bpmn.CandidateGroups("payments"),
			bpmn.Field(bpmn.FormField{ID: "approved", Label: "Approved?", Type: "boolean"}),
			bpmn.Field(bpmn.FormField{ID: "limit", Label: "Limit", Type: "long"})).
		End("end").
		Definitions()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	if _, err := e.DeployModel(ctx, "pay.bpmn", defs); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	f := &fixture{t: t, e: e}
	for i, v := range []map[string]any{{"n": 1}, {"n": 2}, {"n": 3, "fail": true}} {
		in, err := e.StartInstance(ctx, "pay", engine.StartOptions{BusinessKey: "B-" + string(rune('1'+i)), Variables: v})
		if err != nil {
			t.Fatalf("start instance: %v", err)
		}
		if v["fail"] == true {
			f.failed = in
		} else {
			f.ok = append(f.ok, in)
		}
	}
	f.waitFor("two open tasks and one incident", func() bool {
		tasks, err1 := e.ListUserTasks(ctx, store.UserTaskFilter{State: store.TaskOpen})
		incs, err2 := e.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen})
		return err1 == nil && err2 == nil && len(tasks) == 2 && len(incs) == 1
	})
	// Guard goes around the UI as `cockpit serve` puts it.
	f.srv = httptest.NewServer(web.Guard(web.New(web.Options{Engine: e, Logger: slog.New(slog.DiscardHandler)}), web.GuardOptions{}))
	t.Cleanup(f.srv.Close)
	return f
}

// waitFor is wait.For on the fixture's test.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	wait.For(f.t, what, cond)
}

type page struct {
	status int
	header http.Header
	body   string
	doc    *html.Node
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (f *fixture) do(req *http.Request) *page {
	f.t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("read body: %v", err)
	}
	doc, err := html.Parse(strings.NewReader(string(b)))
	if err != nil {
		f.t.Fatalf("parse %s: %v", req.URL, err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(b), doc: doc}
}

func (f *fixture) get(path string) *page {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	return f.do(req)
}

func (f *fixture) post(path string, form url.Values) *page {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return f.do(req)
}

// byTestID returns the elements with data-testid=id, in document order.
func byTestID(n *html.Node, id string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && attr(n, "data-testid") == id {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func title(p *page) string {
	var t string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "title" && t == "" {
			t = text(n) // the first: SVG shapes have titles too
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(p.doc)
	return t
}

func (p *page) want(t *testing.T, status int, id string, n int) []*html.Node {
	t.Helper()
	if p.status != status {
		t.Fatalf("status %d, want %d\n%s", p.status, status, p.body)
	}
	if id == "" {
		return nil
	}
	got := byTestID(p.doc, id)
	if len(got) != n {
		t.Fatalf("%d elements with data-testid=%q, want %d", len(got), id, n)
	}
	return got
}

func TestPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("dashboard", func(t *testing.T) {
		p := f.get("/")
		rows := p.want(t, 200, "process-row", 1)
		if attr(rows[0], "data-key") != "pay" || !strings.Contains(text(rows[0]), "Payment") {
			t.Errorf("process row: %q", text(rows[0]))
		}
		inc := p.want(t, 200, "incident-row", 1)[0]
		// Names, not ids: the process's and the element's.
		if el := byTestID(inc, "incident-row-element")[0]; text(el) != "Charge card" || attr(el, "title") != "charge" || !strings.Contains(text(inc), "Payment") {
			t.Errorf("incident row %q (element title %q)", text(inc), attr(el, "title"))
		}
		if got := text(byTestID(p.doc, "stat-running")[0]); !strings.Contains(got, "3") {
			t.Errorf("running stat: %q", got)
		}
		if got := text(byTestID(p.doc, "stat-tasks")[0]); !strings.Contains(got, "2") {
			t.Errorf("tasks stat: %q", got)
		}
		if title(p) != "Overview · Cockpit" {
			t.Errorf("title %q", title(p))
		}
		for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
			if p.header.Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
		if csp := p.header.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP allows inline code: %s", csp)
		}
		if strings.Contains(p.body, " onclick=") || strings.Contains(p.body, "<script>") {
			t.Error("inline script or handler in the page")
		}
	})

	t.Run("process", func(t *testing.T) {
		p := f.get("/processes/pay")
		rows := p.want(t, 200, "element-row", 4)
		counts := map[string]string{}
		for _, r := range rows {
			counts[attr(r, "data-element-id")] = text(byTestID(r, "count-active")[0]) + "/" + text(byTestID(r, "count-incident")[0]) +
				"/" + text(byTestID(r, "count-completed")[0])
		}
		// active/incidents/completed: all three instances left start, two left charge.
		if counts["review"] != "2/0/0" || counts["charge"] != "1/1/2" || counts["start"] != "0/0/3" || counts["end"] != "0/0/0" {
			t.Errorf("element counts: %v", counts)
		}
		if !strings.Contains(p.body, `data-testid="badge-completed-start" data-count="3"`) ||
			!strings.Contains(p.body, `data-testid="badge-completed-charge" data-count="2"`) ||
			strings.Contains(p.body, `data-testid="badge-completed-review"`) {
			t.Error("diagram: completed badges missing or wrong")
		}
		p.want(t, 200, "diagram", 1)
		if d := byTestID(p.doc, "diagram")[0]; attr(d, "data-element-href") != "/instances?process=pay&waitingAt={id}" {
			t.Errorf("diagram link template %q", attr(d, "data-element-href"))
		}
		if !strings.Contains(p.body, `data-element-id="review"`) || !strings.Contains(p.body, "<svg") {
			t.Error("diagram SVG with element ids missing")
		}
		p.want(t, 200, "instance-row", 3)
		if title(p) != "Payment v1 · Cockpit" {
			t.Errorf("title %q", title(p))
		}
		f.get("/processes/pay?version=1").want(t, 200, "element-row", 4)
	})

	t.Run("instances", func(t *testing.T) {
		p := f.get("/instances")
		p.want(t, 200, "instance-row", 3)
		p.want(t, 200, "pager-next", 0)
		p.want(t, 200, "instance-filters", 1)
	})

	t.Run("instance", func(t *testing.T) {
		p := f.get("/instances/" + f.failed.ID)
		p.want(t, 200, "incident", 1)
		if msg := text(byTestID(p.doc, "incident-message")[0]); !strings.Contains(msg, "card declined by issuer") {
			t.Errorf("incident message %q", msg)
		}
		vars := p.want(t, 200, "variable-row", 2)
		if attr(vars[0], "data-name") != "fail" || attr(vars[1], "data-name") != "n" {
			t.Errorf("variables %q %q", attr(vars[0], "data-name"), attr(vars[1], "data-name"))
		}
		if len(byTestID(p.doc, "history-row")) < 3 {
			t.Error("history too short")
		}
		tok := p.want(t, 200, "token-row", 1)
		if attr(tok[0], "data-element-id") != "charge" {
			t.Errorf("token at %q", attr(tok[0], "data-element-id"))
		}
		p.want(t, 200, "action-cancel", 1)
		if !strings.Contains(title(p), "Payment B-3") {
			t.Errorf("title %q", title(p))
		}
	})

	t.Run("incidents", func(t *testing.T) {
		p := f.get("/incidents")
		g := p.want(t, 200, "incident-group", 1)
		if !strings.Contains(text(g[0]), "card declined by issuer") || attr(g[0], "data-element-id") != "charge" {
			t.Errorf("group %q", text(g[0]))
		}
		link := attr(byTestID(g[0], "group-instances")[0], "href")
		rows := f.get(link).want(t, 200, "instance-row", 1)
		if attr(rows[0], "data-id") != f.failed.ID {
			t.Errorf("incident link %s lists %s", link, attr(rows[0], "data-id"))
		}
		f.get("/incidents?state=resolved").want(t, 200, "empty-state", 1)
	})

	t.Run("tasks", func(t *testing.T) {
		p := f.get("/tasks")
		p.want(t, 200, "task-row", 2)
		f.get("/tasks?state=completed").want(t, 200, "empty-state", 1)
	})

	t.Run("fragment", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.srv.URL+"/instances", nil)
		req.Header.Set("HX-Request", "true")
		p := f.do(req)
		p.want(t, 200, "instance-row", 3)
		if strings.Contains(p.body, "<html") || strings.Contains(p.body, "sidebar") {
			t.Error("fragment carries the layout")
		}
	})

	t.Run("static", func(t *testing.T) {
		for _, path := range []string{"/static/app.css", "/static/app.js", "/static/theme.js", "/static/diagram.css"} {
			resp, err := http.Get(f.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d", path, resp.StatusCode)
			}
		}
	})

	t.Run("search", func(t *testing.T) {
		p := f.get("/search?q=" + f.ok[0].ID)
		if p.status != 303 || p.header.Get("Location") != "/instances/"+f.ok[0].ID {
			t.Errorf("search by id: %d %s", p.status, p.header.Get("Location"))
		}
		p = f.get("/search?q=B-2")
		if p.status != 303 || p.header.Get("Location") != "/instances?businessKey=B-2" {
			t.Errorf("search by business key: %d %s", p.status, p.header.Get("Location"))
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/instances/does-not-exist", 404, `No instance has the id "does-not-exist"`},
		{"/processes/nope", 404, `No process with key "nope"`},
		{"/processes/pay?version=7", 404, "has no version 7"},
		{"/processes/pay?version=x", 400, "not a version number"},
		{"/tasks/nope", 404, `No user task has the id "nope"`},
		{"/no/such/page", 404, "There is no page at /no/such/page"},
		{"/instances?state=sleeping", 400, `Unknown state "sleeping"`},
		{"/instances?hasIncident=maybe", 400, "hasIncident"},
		{"/instances?from=yesterday", 400, `from "yesterday" is not a time`},
		{"/instances?from=2026-01-02T00:00&to=2026-01-01T00:00", 400, "must be before"},
		{"/instances?version=1", 400, "needs a process"},
		{"/instances?process=pay&version=9", 400, "has no version 9"},
		{"/instances?limit=0", 400, "limit"},
		{"/instances?after=%21%21", 400, "cursor"},
		{"/instances?value=3", 400, "needs a variable name"},
		{"/incidents?state=maybe", 400, "Unknown incident state"},
		{"/tasks?state=maybe", 400, "Unknown task state"},
	} {
		p := f.get(c.path)
		p.want(t, c.status, "error-page", 1)
		if msg := text(byTestID(p.doc, "error-message")[0]); !strings.Contains(msg, c.msg) {
			t.Errorf("%s: message %q, want %q", c.path, msg, c.msg)
		}
	}
}

func TestInstanceFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ids := func(path string) []string {
		t.Helper()
		p := f.get(path)
		if p.status != 200 {
			t.Fatalf("%s: %d\n%s", path, p.status, p.body)
		}
		var out []string
		for _, r := range byTestID(p.doc, "instance-row") {
			out = append(out, attr(r, "data-id"))
		}
		return out
	}
	from := url.QueryEscape(f.ok[0].StartedAt.Add(-time.Minute).UTC().Format("2006-01-02T15:04"))
	for _, c := range []struct {
		query string
		want  int
	}{
		{"state=active", 3},
		{"state=completed", 0},
		{"state=completed,cancelled", 0},
		{"process=pay", 3},
		{"process=pay&version=1", 3},
		{"process=other", 0},
		{"businessKey=B-2", 1},
		{"var=n&value=2", 1},
		{"var=fail&value=true", 1},
		{"var=n&value=%222%22", 0}, // the string "2" is not the number 2
		{"hasIncident=true", 1},
		{"hasIncident=false", 2},
		{"waitingAt=review", 2},
		{"waitingAt=charge&hasIncident=true", 1},
		{"from=" + from, 3},
		{"to=" + from, 0},
	} {
		if got := ids("/instances?" + c.query); len(got) != c.want {
			t.Errorf("%s: %d instances, want %d", c.query, len(got), c.want)
		}
	}
	if got := ids("/instances?hasIncident=true"); len(got) == 1 && got[0] != f.failed.ID {
		t.Errorf("incident filter found %s", got[0])
	}
	p := f.get("/instances?state=completed")
	p.want(t, 200, "empty-state", 1)
	if !strings.Contains(text(byTestID(p.doc, "empty-state")[0]), "Clear filters") {
		t.Error("filtered empty state does not offer to clear")
	}
}

func TestInstancePagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seen := map[string]bool{}
	path := "/instances?process=pay&limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
		p := f.get(path)
		rows := byTestID(p.doc, "instance-row")
		if p.status != 200 || len(rows) == 0 {
			t.Fatalf("%s: %d, %d rows", path, p.status, len(rows))
		}
		for _, r := range rows {
			id := attr(r, "data-id")
			if seen[id] {
				t.Errorf("%s shown twice", id)
			}
			seen[id] = true
		}
		if pages > 0 && len(byTestID(p.doc, "pager-first")) != 1 {
			t.Error("a later page has no link to the first")
		}
		path = ""
		if next := byTestID(p.doc, "pager-next"); len(next) == 1 {
			path = attr(next[0], "href")
			u, _ := url.Parse(path)
			if u.Query().Get("after") == "" || u.Query().Get("process") != "pay" || u.Query().Get("limit") != "2" {
				t.Errorf("next link %s lost the filters or the cursor", path)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("saw %d instances over the pages, want 3", len(seen))
	}
}

func TestCompleteTask(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tasks, err := f.e.ListUserTasks(ctx, store.UserTaskFilter{State: store.TaskOpen, InstanceID: f.ok[0].ID})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks: %v %v", tasks, err)
	}
	id := tasks[0].ID

	p := f.get("/tasks/" + id)
	p.want(t, 200, "task-form", 1)
	p.want(t, 200, "field-approved", 1)
	p.want(t, 200, "field-limit", 1)
	if title(p) != "Review payment · Cockpit" {
		t.Errorf("title %q", title(p))
	}

	// A value of the wrong type is shown beside its field, and nothing is completed.
	p = f.post("/tasks/"+id+"/complete", url.Values{"approved": {"false", "true"}, "limit": {"lots"}})
	p.want(t, 422, "error-limit", 1)
	p.want(t, 422, "form-error", 1)
	if v := attr(byTestID(p.doc, "field-limit")[0], "value"); v != "lots" {
		t.Errorf("the typed value is not kept: %q", v)
	}
	if attr(byTestID(p.doc, "field-approved")[0], "checked") == "" && !hasAttr(byTestID(p.doc, "field-approved")[0], "checked") {
		t.Error("the checkbox state is not kept")
	}

	// A cross-site post is refused before it reaches the handler.
	req, _ := http.NewRequest("POST", f.srv.URL+"/tasks/"+id+"/complete", strings.NewReader("limit=5"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := f.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site post: %d", p.status)
	}

	p = f.post("/tasks/"+id+"/complete", url.Values{"approved": {"false", "true"}, "limit": {"500"}})
	if p.status != 303 || p.header.Get("Location") != "/tasks/"+id+"?completed=1" {
		t.Fatalf("complete: %d %s\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = f.get("/tasks/" + id + "?completed=1")
	p.want(t, 200, "task-completed", 1)
	p.want(t, 200, "task-form", 0)
	d, err := f.e.GetInstance(ctx, f.ok[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Variables {
		vars[v.Name] = string(v.Value)
	}
	if vars["approved"] != "true" || vars["limit"] != "500" || d.Instance.State != store.InstanceCompleted {
		t.Errorf("after completion: state %s, variables %v", d.Instance.State, vars)
	}

	// Posting again says the task is closed.
	p = f.post("/tasks/"+id+"/complete", url.Values{"limit": {"1"}})
	p.want(t, 409, "form-error", 0)
	p.want(t, 409, "task-closed", 1)
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

// A model nested as deeply as the import allows deploys, and its process page is drawn
// in space linear in it (the page used to export and re-parse the model, which grew
// with the square of the depth).
func TestDeeplyNestedModelPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var b strings.Builder
	b.WriteString(`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="deep" isExecutable="true">`)
	levels := bpmn.MaxDepth - 3
	for i := range levels {
		fmt.Fprintf(&b, `<startEvent id="s%d"/><sequenceFlow id="f%d" sourceRef="s%d" targetRef="sp%d"/><subProcess id="sp%d">`, i, i, i, i, i)
	}
	b.WriteString(`<startEvent id="in"/>` + strings.Repeat(`</subProcess>`, levels) + `</process></definitions>`)
	if _, err := f.e.Deploy(context.Background(), "deep.bpmn", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	p := f.get("/processes/deep")
	p.want(t, 200, "diagram", 1)
	if !strings.Contains(p.body, `data-element-id="in"`) {
		t.Error("the innermost start event is not drawn")
	}
	if len(p.body) > 64*b.Len() {
		t.Errorf("a %d-byte model made a %d-byte page", b.Len(), len(p.body))
	}
	// One level more is refused at deployment.
	deeper := strings.Replace(b.String(), `<startEvent id="in"/>`, `<subProcess id="x"><startEvent id="in"/></subProcess>`, 1)
	if _, err := f.e.Deploy(context.Background(), "deeper.bpmn", []byte(deeper)); err == nil || !strings.Contains(err.Error(), "nest more than 64 levels deep") {
		t.Errorf("a model past the depth limit: %v", err)
	}
}
