package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/web"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"golang.org/x/net/html"
)

// Hostile values of every kind a page shows: a business key at its limit, markup in
// variables (a string and inside an object), a long value without spaces, a long
// process, element and job type name, an incident message of 5,000 characters without a
// space and its details.
var (
	longKey     = strings.Repeat("K", engine.MaxBusinessKeyBytes)
	xssValue    = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`
	longName    = strings.Repeat("Verylongelementname", 16)
	longJobType = "charge-" + strings.Repeat("t", 200)
	longMessage = strings.Repeat("E", 5000)
)

// longValuesServer serves the UI over a started engine holding one instance of the
// "long" process with the hostile values, stopped at an incident; it returns the
// server's URL and the instance's and the incident's ids.
func longValuesServer(t *testing.T) (base, instanceID, incidentID string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	// The real clock: the executor runs the failing job in real time.
	e, err := engine.New(engine.Options{Store: st, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(sctx)
		_ = st.Close()
	})
	e.Handle(longJobType, func(context.Context, *engine.Job) (map[string]any, error) {
		return nil, errors.New(longMessage + "\n" + xssValue)
	})
	defs, err := bpmn.Build("long", bpmn.Name(longName)).Start("start").
		ServiceTask("charge", bpmn.Name(longName), bpmn.JobType(longJobType), bpmn.Retries(1)).
		End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "long.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in, err := e.StartInstance(ctx, "long", engine.StartOptions{BusinessKey: longKey, Variables: map[string]any{
		"html": xssValue, "short": "<b>bold</b>", "blob": strings.Repeat("y", 20_000),
		"obj": map[string]any{"tag": "<i>x</i> & co", "long": strings.Repeat("z", 3000)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wait.Until(t, wait.Timeout, "the incident", func() error {
		incs, err := e.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen})
		if err != nil {
			return err
		}
		if len(incs) != 1 {
			return fmt.Errorf("%d open incidents", len(incs))
		}
		incidentID = incs[0].ID
		return nil
	})
	srv := httptest.NewServer(web.New(web.Options{Engine: e, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv.URL, in.ID, incidentID
}

// Every page that shows a user value clips it (a cell or a heading shows a few dozen
// characters, its tooltip at most components.TitleChars), keeps the whole value where it
// is the subject (the instance page's details), and shows JSON strings with their
// characters, escaped as HTML.
func TestLongValuesClipped(t *testing.T) {
	t.Parallel()
	base, id, inc := longValuesServer(t)
	for _, path := range []string{"/", "/instances", "/instances/" + id, "/incidents", "/processes/long", "/instances?businessKey=" + longKey[:10],
		"/incidents/" + inc + "/retry", "/tasks"} {
		p := getPage(t, base+path)
		if p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
		if strings.Contains(p.body, `\u003c`) || strings.Contains(p.body, "<script>window") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s: a value is shown JSON-escaped or unescaped as HTML", path)
		}
		for _, n := range byTag(p.doc, "title") {
			if l := utf8.RuneCountInString(text(n)); l > components.HeadingChars+len(" · Cockpit") && n.Parent != nil && n.Parent.Data == "head" {
				t.Errorf("%s: the page title has %d characters", path, l)
			}
		}
		// No text node and no title holds more than what the page means to show in full.
		for _, n := range byAttr(p.doc, "title") {
			if l := utf8.RuneCountInString(attr(n, "title")); l > components.TitleChars {
				t.Errorf("%s: a title of %d characters", path, l)
			}
		}
		for _, n := range byAttr(p.doc, "data-clipped") {
			if l := utf8.RuneCountInString(text(n)); l > components.HeadingChars {
				t.Errorf("%s: a clipped value of %d characters", path, l)
			}
		}
		// The whole key may be a tooltip (it is under TitleChars), never visible text.
		if path != "/instances/"+id && strings.Contains(visibleText(p.doc), longKey) {
			t.Errorf("%s: the whole business key is shown on a list page", path)
		}
	}

	rows := byTestID(getPage(t, base+"/instances").doc, "instance-row")
	if len(rows) != 1 || len(byAttr(rows[0], "data-clipped")) == 0 {
		t.Fatalf("instance list: %d rows, the business key not clipped", len(rows))
	}

	p := getPage(t, base+"/instances/"+id)
	if h := byTestID(p.doc, "instance-bkey"); len(h) != 1 || utf8.RuneCountInString(text(h[0])) > components.HeadingChars {
		t.Errorf("the heading's business key is not clipped")
	}
	if full := byTestID(p.doc, "instance-bkey-full"); len(full) != 1 || !strings.Contains(text(full[0]), longKey) {
		t.Errorf("the whole business key is not on the instance page")
	}
	vars := map[string]string{}
	for _, r := range byTestID(p.doc, "variable-row") {
		vars[attr(r, "data-name")] = text(r)
	}
	if !strings.Contains(vars["html"], `"<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">"`) || !strings.Contains(vars["short"], `"<b>bold</b>"`) ||
		!strings.Contains(vars["obj"], `"tag": "<i>x</i> & co"`) || !strings.Contains(vars["blob"], strings.Repeat("y", 20_000)) {
		t.Errorf("variables are not shown with their characters, whole: %q %q %q", vars["html"], vars["short"], vars["obj"][:min(200, len(vars["obj"]))])
	}
	msg := byTestID(p.doc, "incident-message")
	if len(msg) != 1 || utf8.RuneCountInString(text(msg[0])) > components.MessageChars {
		t.Errorf("the incident message is not clipped")
	}
	if full := byTestID(p.doc, "incident-message-full"); len(full) != 1 || !strings.Contains(text(full[0]), longMessage) {
		t.Errorf("the whole incident message is not on the instance page")
	}

	// The editor gets the object's characters too.
	ed := getPage(t, base+"/instances/"+id+"/variables")
	if strings.Contains(ed.body, `\u003c`) || !strings.Contains(ed.body, "&lt;i&gt;x&lt;/i&gt; &amp; co") {
		t.Errorf("the variable editor shows the object JSON-escaped")
	}
}

// visibleText is the page's text outside <head>, <script> and <title> elements (titles
// of other elements are attributes, not text).
func visibleText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "head" || n.Data == "script" || n.Data == "title") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}
