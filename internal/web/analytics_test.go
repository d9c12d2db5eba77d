package web_test

import (
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// fixedMetrics answers every Query with the same figures (its Query echoed back with the
// defaults filled in, one series point per step) and records what it was asked.
type fixedMetrics struct {
	mu      sync.Mutex
	queries []monitor.Query
}

func (m *fixedMetrics) Report(_ context.Context, q monitor.Query) (*monitor.Report, error) {
	m.mu.Lock()
	m.queries = append(m.queries, q)
	m.mu.Unlock()
	if q.Step == "" {
		q.Step = monitor.StepHour
	}
	width := map[monitor.Step]time.Duration{monitor.StepMinute: time.Minute, monitor.StepHour: time.Hour, monitor.StepDay: 24 * time.Hour}[q.Step]
	r := &monitor.Report{Query: q, Versions: []int{1, 2},
		Total:        monitor.Counts{Started: 1200, Completed: 1100, Cancelled: 30, Incidents: 24},
		Duration:     monitor.Stats{Count: 1100, Sum: 1100 * 3 * time.Second, Max: time.Minute, P50: 2 * time.Second, P95: 9 * time.Second, P99: 20 * time.Second},
		Distribution: []monitor.Bucket{{Upper: 1500 * time.Millisecond, Count: 300}, {Upper: 4 * time.Second, Count: 700}, {Upper: 25 * time.Second, Count: 100}},
		Elements: []monitor.ElementMetrics{
			{ElementID: "charge", Entered: 1200, Left: 1170, Incidents: 24,
				Duration: monitor.Stats{Count: 1170, Sum: 1170 * 2 * time.Second, P50: time.Second, P95: 5 * time.Second, P99: 8 * time.Second, Max: 30 * time.Second},
				Waiting:  monitor.Stats{Count: 1170, Sum: 1170 * 100 * time.Millisecond, P50: 80 * time.Millisecond, P95: 300 * time.Millisecond, P99: time.Second}},
			{ElementID: "review", Entered: 1170, Left: 1100, Cancelled: 30, Interrupted: 40,
				Duration: monitor.Stats{Count: 1100, Sum: 1100 * time.Minute, P50: 40 * time.Second, P95: 3 * time.Minute, P99: 5 * time.Minute, Max: 10 * time.Minute},
				Waiting:  monitor.Stats{Count: 1100, Sum: 1100 * time.Minute, P50: 40 * time.Second, P95: 3 * time.Minute, P99: 5 * time.Minute}},
			{ElementID: "start", Entered: 1200, Left: 1200},
		},
		Flows: []monitor.FlowMetrics{{FlowID: "Flow_charge_review", Taken: 1170}, {FlowID: "Flow_start_charge", Taken: 1200}},
	}
	for t := q.From.Truncate(width); t.Before(q.To); t = t.Add(width) {
		i := int64(len(r.Series))
		r.Series = append(r.Series, monitor.Point{Start: t, Counts: monitor.Counts{Started: 10 + i, Completed: 9 + i, Incidents: i % 3},
			Duration: monitor.Stats{Count: 9 + i, Sum: time.Duration(9+i) * 2 * time.Second, P50: time.Second, P95: 4 * time.Second, P99: 6 * time.Second, Max: 7 * time.Second}})
	}
	return r, nil
}

func (m *fixedMetrics) last() monitor.Query {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queries[len(m.queries)-1]
}

// analyticsNow is the fake clock's time in the analytics tests.
var analyticsNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// analyticsServer serves the UI over an engine with two versions of "pay" (a flow with
// named sequence flows) and the fixed metrics; the engine is not started.
func analyticsServer(t *testing.T, metrics web.MetricsReader) (*engine.Engine, string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e, err := engine.New(engine.Options{Store: st, Clock: clock.NewFake(analyticsNow), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	for _, review := range []string{"Review payment", "Review the payment"} {
		defs, err := bpmn.Build("pay", bpmn.Name("Payment")).
			Start("start").
			ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge")).
			UserTask("review", bpmn.Name(review)).
			End("end").
			Definitions()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeployModel(ctx, "pay.bpmn", defs); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(web.New(web.Options{Engine: e, Metrics: metrics, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return e, srv.URL
}

func getPage(t *testing.T, url string) *page {
	t.Helper()
	f := &fixture{t: t}
	req, _ := http.NewRequest("GET", url, nil)
	return f.do(req)
}

func TestAnalyticsPage(t *testing.T) {
	t.Parallel()
	m := &fixedMetrics{}
	e, base := analyticsServer(t, m)
	flows := flowIDs(t, e)

	p := getPage(t, base+"/processes/pay/analytics?range=7d&heat=p95&version=2")
	if p.status != 200 {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	q := m.last()
	if q.DefinitionKey != "pay" || q.Version != 2 || !q.From.Equal(analyticsNow.Add(-7*24*time.Hour)) || !q.To.Equal(analyticsNow) || q.Step != "" ||
		q.Service != "" {
		t.Errorf("query = %+v", q)
	}
	// An engine's own cockpit: no service on the page or in its links (TestServicePages
	// has several).
	if n := len(byTestID(p.doc, "analytics-service")); n != 0 || strings.Contains(p.body, "service=") {
		t.Errorf("one engine's analytics name a service (%d)", n)
	}
	if got := text(byTestID(p.doc, "stat-started")[0]); !strings.Contains(got, "1,200") {
		t.Errorf("started stat %q", got)
	}
	if got := text(byTestID(p.doc, "stat-incident-rate")[0]); !strings.Contains(got, "2.0 per 100 started") {
		t.Errorf("incident rate %q", got)
	}
	// Heat by p95: review (3m) is the hottest element, charge (5s) far cooler; flows by count.
	heat := map[string]string{}
	titles := map[string]string{}
	for _, n := range byAttr(p.doc, "data-element-id") {
		if attr(n, "class") == "overlay" || attr(n, "class") == "overlay overlay-edge" {
			id := attr(n, "data-element-id")
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if attr(c, "class") == "heat" {
					heat[id] = attr(c, "data-heat")
				}
				if attr(c, "class") == "overlay-hit" {
					titles[id] = text(c)
				}
			}
		}
	}
	if heat["review"] != "1" || heat["charge"] != "0.03" || heat[flows["start"]] != "1" || heat[flows["charge"]] != "0.98" {
		t.Errorf("heat = %v (flows %v)", heat, flows)
	}
	if want := "Charge card (charge) entered 1,200 · left 1,170 · incidents 24 duration avg 2.0s · p50 1.0s · p95 5.0s · p99 8.0s waiting avg 100ms · p50 80ms · p95 300ms · p99 1.0s"; titles["charge"] != want {
		t.Errorf("charge tooltip\n got %q\nwant %q", titles["charge"], want)
	}
	if got := titles[flows["start"]]; got != "start → charge ("+flows["start"]+") taken 1,200 times" {
		t.Errorf("flow tooltip %q", got)
	}
	if got := text(byTestID(p.doc, "heat-legend")[0]); !strings.Contains(got, "p95 duration") || !strings.Contains(got, "3m 00s") ||
		!strings.Contains(got, "Sequence flows: how often each was taken") {
		t.Errorf("legend %q", got)
	}
	// Charts are inline SVG, each with the URL that reproduces it.
	for _, id := range []string{"throughput", "incidents", "durations", "slowest"} {
		card := byTestID(p.doc, "chart-"+id)
		if len(card) != 1 {
			t.Fatalf("chart %s: %d cards", id, len(card))
		}
		href := attr(byTestID(card[0], "chart-svg-link")[0], "href")
		if !strings.HasPrefix(href, "/processes/pay/analytics/charts/"+id+".svg?") || !strings.Contains(href, "range=7d") || !strings.Contains(href, "version=2") {
			t.Errorf("chart %s link %q", id, href)
		}
		if !strings.Contains(renderHTML(card[0]), "<svg") {
			t.Errorf("chart %s is not drawn inline", id)
		}
	}
	rows := byTestID(p.doc, "analytics-element-row")
	var ids []string
	for _, r := range rows {
		ids = append(ids, attr(r, "data-element-id"))
	}
	if !slices.Equal(ids, []string{"start", "charge", "review", "end"}) {
		t.Errorf("element rows %v", ids)
	}
	if got := text(rows[2]); !strings.Contains(got, "Review the payment") || !strings.Contains(got, "3m 00s") || !strings.Contains(got, "1,170") {
		t.Errorf("review row %q", got)
	}
	// Cancelled (the instance was cancelled) and interrupted (a boundary event or a
	// terminate end event took the token) are counted apart.
	if c, i := text(byTestID(rows[2], "element-cancelled")[0]), text(byTestID(rows[2], "element-interrupted")[0]); c != "30" || i != "40" {
		t.Errorf("review cancelled %q interrupted %q, want 30 and 40", c, i)
	}
	if got := titles["review"]; !strings.Contains(got, "cancelled 30 · interrupted 40") {
		t.Errorf("review tooltip %q", got)
	}
	if got := attr(byTestID(p.doc, "download-elements.csv")[0], "href"); got != "/processes/pay/analytics/elements.csv?range=7d&version=2" {
		t.Errorf("elements.csv link %q", got)
	}
	if got := attr(byTestID(p.doc, "permalink")[0], "href"); got != "/processes/pay/analytics?from=2026-03-03T12%3A00%3A00Z&heat=p95&to=2026-03-10T12%3A00%3A00Z&version=2" {
		t.Errorf("permalink %q", got)
	}
	if n := byTestID(p.doc, "analytics-note"); len(n) != 0 {
		t.Errorf("notes on caught-up figures: %q", text(n[0]))
	}
	// Minutes older than the minute rollups' retention are empty: the page says so.
	old := getPage(t, base+"/processes/pay/analytics?step=minute&from=2026-03-07T12:00&to=2026-03-08T00:00")
	if n := byTestID(old.doc, "analytics-note"); len(n) != 1 || !strings.Contains(text(n[0]), "by the minute are kept for 2d 0h") {
		t.Errorf("no retention note: %v", n)
	}
	// The interval that holds now is still filling: drawn as partial, not as a dip.
	cur := getPage(t, base+"/processes/pay/analytics?step=hour&from=2026-03-10T00:00&to=2026-03-10T12:30")
	for _, id := range []string{"chart-throughput", "chart-incidents"} {
		parts := byAttr(byTestID(cur.doc, id)[0], "data-partial")
		if len(parts) == 0 {
			t.Errorf("%s: the interval from 12:00 (now) is not drawn as partial", id)
		}
	}
	if n := len(byAttr(byTestID(p.doc, "chart-throughput")[0], "data-partial")); n != 0 {
		t.Errorf("a range ending at a whole hour (now) has %d partial parts", n)
	}
	// The permalink reproduces the same query.
	getPage(t, base+attr(byTestID(p.doc, "permalink")[0], "href"))
	if q2 := m.last(); !q2.From.Equal(q.From) || !q2.To.Equal(q.To) || q2.Version != q.Version {
		t.Errorf("permalink asked %+v, the page %+v", q2, q)
	}
}

// halvedV2 answers like fixedMetrics, with half the tokens and flows for version 2.
type halvedV2 struct{ *fixedMetrics }

func (m halvedV2) Report(ctx context.Context, q monitor.Query) (*monitor.Report, error) {
	r, err := m.fixedMetrics.Report(ctx, q)
	if err == nil && q.Version == 2 {
		for i := range r.Elements {
			r.Elements[i].Entered /= 2
		}
		for i := range r.Flows {
			r.Flows[i].Taken /= 2
		}
	}
	return r, err
}

func TestAnalyticsCompare(t *testing.T) {
	t.Parallel()
	m := &fixedMetrics{}
	_, base := analyticsServer(t, halvedV2{m})
	p := getPage(t, base+"/processes/pay/analytics?version=1&compare=2&from=2026-03-01T00:00&to=2026-03-02T00:00&step=hour")
	if p.status != 200 {
		t.Fatalf("status %d: %s", p.status, p.body)
	}
	cols := byTestID(p.doc, "analytics-column")
	if len(cols) != 2 || attr(cols[0], "data-label") != "Version 1" || attr(cols[1], "data-label") != "Version 2" {
		t.Fatalf("columns %d", len(cols))
	}
	m.mu.Lock()
	qs := slices.Clone(m.queries)
	m.mu.Unlock()
	if len(qs) != 2 || qs[0].Version != 1 || qs[1].Version != 2 || qs[1].Step != monitor.StepHour ||
		!qs[1].From.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("queries %+v", qs)
	}
	href := attr(byTestID(cols[1], "chart-svg-link")[0], "href")
	if !strings.Contains(href, "version=2") || strings.Contains(href, "compare") {
		t.Errorf("compare column chart link %q", href)
	}
	if n := len(byTestID(cols[1], "chart-slowest")); n != 1 {
		t.Errorf("compare column has %d slowest-activities charts", n)
	}
	// Both diagrams, each version's own (v2 renamed the review task), with their heat,
	// and no id twice in the page.
	if n := strings.Count(string(p.body), `id="overlays"`); n != 0 {
		t.Errorf("the analytics page has %d overlay layers with an id; ids must be unique", n)
	}
	panes := byTestID(p.doc, "heat-pane")
	if len(panes) != 2 || attr(panes[0], "data-version") != "1" || attr(panes[1], "data-version") != "2" {
		t.Fatalf("%d heat panes", len(panes))
	}
	for i, name := range []string{"Review payment", "Review the payment"} {
		// The name is wrapped in lines (tspans): compare the words.
		if got := text(byTestID(panes[i], "shape-review")[0]); strings.Contains(got, "the") != (i == 1) {
			t.Errorf("pane %d: review is %q, want %q", i, got, name)
		}
		if len(byTestID(panes[i], "overlay-charge")) != 1 || len(byTestID(panes[i], "heat-legend")) != 1 {
			t.Errorf("pane %d: no heat", i)
		}
	}
	// One colour scale for both diagrams: version 2 saw half the tokens, so both legends
	// top out at version 1's hottest and version 2's charge is half as hot.
	if a, b := text(byTestID(panes[0], "heat-max")[0]), text(byTestID(panes[1], "heat-max")[0]); a != "1,200" || b != "1,200" {
		t.Errorf("heat legends top out at %q and %q, want one scale (1,200)", a, b)
	}
	for i, want := range []string{"1", "0.5"} {
		for _, n := range byAttr(panes[i], "data-heat") {
			if attr(n, "class") == "heat" && attr(n.Parent, "data-element-id") == "charge" && attr(n, "data-heat") != want {
				t.Errorf("pane %d: charge's heat %s, want %s", i, attr(n, "data-heat"), want)
			}
		}
	}
	if len(byTestID(p.doc, "heat-shared")) != 1 {
		t.Error("the heatmap does not say both diagrams share a scale")
	}
	// An element table per version, each with its own download, and the percentiles'
	// resolution said under each.
	tables := byTestID(p.doc, "analytics-elements")
	if len(tables) != 2 || attr(tables[0], "data-label") != "Version 1" || attr(tables[1], "data-label") != "Version 2" {
		t.Fatalf("%d element tables", len(tables))
	}
	for i, tb := range tables {
		if n := len(byTestID(tb, "analytics-element-row")); n != 4 {
			t.Errorf("table %d: %d rows", i, n)
		}
		if len(byTestID(tb, "percentile-note")) != 1 {
			t.Errorf("table %d: no note on the percentiles", i)
		}
	}
	if got := attr(byTestID(tables[1], "download-elements.csv")[0], "href"); !strings.Contains(got, "version=2") || strings.Contains(got, "compare") {
		t.Errorf("v2's elements.csv link %q", got)
	}
	if got := text(byTestID(tables[1], "analytics-element-row")[2]); !strings.Contains(got, "Review the payment") {
		t.Errorf("v2's table names review %q", got)
	}
	if got := text(byTestID(cols[0], "stat-p95")[0]); !strings.Contains(got, "p95 ≈") || !strings.Contains(got, "p50 ≈") {
		t.Errorf("the p95 stat does not say it is an estimate: %q", got)
	}
	// The page charts the series' counts only; series.csv asks for the durations.
	if qs[0].SeriesCountsOnly != true {
		t.Errorf("the page asked for the series' durations: %+v", qs[0])
	}
	fetch(t, base+"/processes/pay/analytics/series.csv")
	if q := m.last(); q.SeriesCountsOnly {
		t.Errorf("series.csv asked for counts only: %+v", q)
	}
}

func TestAnalyticsChartAndCSV(t *testing.T) {
	t.Parallel()
	m := &fixedMetrics{}
	_, base := analyticsServer(t, m)
	for _, name := range []string{"throughput", "incidents", "durations", "slowest"} {
		resp, body := fetch(t, base+"/processes/pay/analytics/charts/"+name+".svg?range=24h&step=hour")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		dec := xml.NewDecoder(strings.NewReader(body))
		for {
			if _, err := dec.Token(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("%s.svg is not well-formed: %v", name, err)
			}
		}
		if strings.Contains(body, "style=") {
			t.Errorf("%s.svg uses inline style, which the CSP forbids", name)
		}
	}
	_, body := fetch(t, base+"/processes/pay/analytics/charts/throughput.svg?range=24h&step=hour")
	if n := strings.Count(body, `class="chart-hit"`); n != 24 {
		t.Errorf("throughput over 24h by the hour has %d buckets, want 24", n)
	}
	_, body = fetch(t, base+"/processes/pay/analytics/charts/slowest.svg")
	if i, j := strings.Index(body, "Review the payment"), strings.Index(body, "Charge card"); i < 0 || j < 0 || i > j {
		t.Errorf("slowest activities are not review then charge:\n%s", body)
	}

	resp, body := fetch(t, base+"/processes/pay/analytics/elements.csv?version=1&from=2026-03-01T00:00&to=2026-03-02T00:00")
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if err != nil || params["filename"] != "pay-v1-elements-20260301T0000Z-20260302T0000Z.csv" || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Errorf("headers %v (%v)", resp.Header, err)
	}
	recs := readCSV(t, body)
	if len(recs) != 4 || recs[0][0] != "element_id" || recs[0][8] != "duration_avg_ms" {
		t.Fatalf("elements.csv:\n%s", body)
	}
	if got := recs[1]; !slices.Equal(got[:13], []string{"charge", "Charge card", "serviceTask", "1200", "1170", "0", "24", "1170", "2000", "1000", "5000", "8000", "30000"}) {
		t.Errorf("charge row %v", got)
	}
	if got := recs[3]; got[0] != "start" || got[7] != "0" || got[8] != "" {
		t.Errorf("start row (no durations) %v", got)
	}

	_, body = fetch(t, base+"/processes/pay/analytics/series.csv?from=2026-03-01T00:00&to=2026-03-01T03:00&step=hour")
	recs = readCSV(t, body)
	if len(recs) != 4 || !slices.Equal(recs[2][:5], []string{"2026-03-01T01:00:00Z", "11", "10", "0", "1"}) {
		t.Errorf("series.csv:\n%s", body)
	}
	_, body = fetch(t, base+"/processes/pay/analytics/flows.csv")
	recs = readCSV(t, body)
	if len(recs) != 3 || !slices.Equal(recs[2], []string{"Flow_start_charge", "", "start", "charge", "1200"}) {
		t.Errorf("flows.csv:\n%s", body)
	}
	_, body = fetch(t, base+"/processes/pay/analytics/distribution.csv")
	if recs = readCSV(t, body); len(recs) != 4 || !slices.Equal(recs[1], []string{"1500", "300"}) {
		t.Errorf("distribution.csv:\n%s", body)
	}
}

func TestAnalyticsBadInput(t *testing.T) {
	t.Parallel()
	_, base := analyticsServer(t, &fixedMetrics{})
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/processes/nope/analytics", 404, `No process with key "nope"`},
		{"/processes/pay/analytics?version=7", 404, "has no version 7"},
		{"/processes/pay/analytics?compare=9", 404, "has no version 9"},
		{"/processes/pay/analytics?version=x", 400, `version "x" is not a version number`},
		{"/processes/pay/analytics?from=yesterday", 400, `from "yesterday" is not a time`},
		{"/processes/pay/analytics?to=2026-13-01", 400, `to "2026-13-01" is not a time`},
		{"/processes/pay/analytics?from=2026-03-02T00:00&to=2026-03-01T00:00", 400, "must be before to"},
		{"/processes/pay/analytics?heat=max", 400, `heat "max": use count, avg or p95`},
		{"/processes/pay/analytics?step=week", 400, `step "week": use minute, hour or day`},
		{"/processes/pay/analytics?range=2w", 400, `range "2w": use 1h, 24h, 7d or 30d`},
		{"/processes/pay/analytics?range=30d&step=minute", 400, "more than 1440"},
		{"/processes/pay/analytics?from=2024-01-01T00:00", 400, "longer than a year"},
		{"/processes/pay/analytics/charts/pie.svg", 404, `no chart "pie.svg"`},
		{"/processes/pay/analytics/tasks.csv", 404, `no table "tasks.csv"`},
		{"/processes/pay/analytics/elements.csv?heat=hot", 400, `heat "hot"`},
		{"/processes/pay/analytics/charts/throughput.svg?from=bad", 400, `from "bad"`},
	} {
		p := getPage(t, base+c.path)
		if p.status != c.status || !strings.Contains(p.body, htmlEscape(c.says)) {
			t.Errorf("GET %s: %d, want %d saying %q; body:\n%.400s", c.path, p.status, c.status, c.says, mainText(p))
		}
	}
}

func TestAnalyticsWithoutMetrics(t *testing.T) {
	t.Parallel()
	_, base := analyticsServer(t, nil)
	p := getPage(t, base+"/processes/pay/analytics")
	if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "keeps no process metrics") {
		t.Errorf("%d %s", p.status, mainText(p))
	}
}

// TestInstancesCSV exports a filtered list larger than one keyset page: every matching
// row comes out once, in list order, with CSV quoting intact.
func TestInstancesCSV(t *testing.T) {
	t.Parallel()
	e, base := analyticsServer(t, &fixedMetrics{})
	ctx := context.Background()
	defs, err := e.ListDefinitions(ctx, store.DefinitionFilter{Key: "pay"})
	if err != nil {
		t.Fatal(err)
	}
	def := defs[0]
	const n = 2600 // more than two pages of 1000
	err = e.Store().Write(ctx, func(tx store.Tx) error {
		for i := range n {
			id := fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
			at := analyticsNow.Add(-time.Duration(n-i) * time.Minute)
			in := &store.Instance{ID: id, DefinitionID: def.ID, DefinitionKey: def.Key, DefinitionVersion: def.Version,
				BusinessKey: fmt.Sprintf(`ACME, "big" #%d`, i), State: store.InstanceActive, Version: 1, StartedAt: at, EventSeq: 1}
			if i%2 == 0 {
				end := at.Add(1500 * time.Millisecond)
				in.State, in.EndedAt = store.InstanceCompleted, &end
			}
			if err := tx.Apply(ctx, &store.Change{Instance: in, Created: true, Events: []*store.Event{{ID: id + "-s", InstanceID: id,
				InstanceSeq: 1, DefinitionID: def.ID, DefinitionKey: def.Key, Type: event.InstanceStarted, Time: at}}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// after and limit belong to the page shown; the export ignores them.
	resp, body := fetch(t, base+"/instances.csv?process=pay&state=completed&limit=5&after=bogus")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || !strings.HasSuffix(params["filename"], ".csv") {
		t.Errorf("Content-Disposition %q", resp.Header.Get("Content-Disposition"))
	}
	recs := readCSV(t, body)
	if len(recs) != 1+n/2 {
		t.Fatalf("%d rows, want %d", len(recs)-1, n/2)
	}
	if !slices.Equal(recs[0], []string{"id", "process", "version", "business_key", "state", "open_incidents", "started_at", "ended_at", "duration_ms"}) {
		t.Errorf("header %v", recs[0])
	}
	seen := map[string]bool{}
	for i, r := range recs[1:] {
		want := n - 2 - 2*i // newest first, even ids only
		if r[0] != fmt.Sprintf("00000000-0000-7000-8000-%012d", want) || r[3] != fmt.Sprintf(`ACME, "big" #%d`, want) ||
			r[4] != "completed" || r[8] != "1500" || seen[r[0]] {
			t.Fatalf("row %d = %v", i, r)
		}
		seen[r[0]] = true
	}
	if !strings.Contains(body, `"ACME, ""big"" #0"`) {
		t.Error("business keys are not quoted as CSV")
	}
	// The instance list links its export with the same filters.
	p := getPage(t, base+"/instances?process=pay&state=completed")
	if got := attr(byTestID(p.doc, "instances-csv")[0], "href"); got != "/instances.csv?process=pay&state=completed" {
		t.Errorf("CSV link %q", got)
	}
	p = getPage(t, base+"/instances?process=pay&stalled=false&hasIncident=false")
	if got := attr(byTestID(p.doc, "instances-csv")[0], "href"); got != "/instances.csv?hasIncident=false&process=pay&stalled=false" {
		t.Errorf("CSV link %q", got)
	}
	if _, body := fetch(t, base+"/instances.csv?process=pay&state=completed&stalled=false"); len(readCSV(t, body)) != 1+n/2 {
		t.Errorf("stalled=false export: %d rows", len(readCSV(t, body))-1)
	}
	if p := getPage(t, base+"/instances.csv?state=gone"); p.status != 400 || !strings.Contains(p.body, "Unknown state") {
		t.Errorf("bad filter: %d", p.status)
	}
}

func fetch(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%.500s", err, body)
	}
	return recs
}

// flowIDs maps each flow node of pay's newest version to the id of the flow leaving it.
func flowIDs(t *testing.T, e *engine.Engine) map[string]string {
	t.Helper()
	defs, err := e.ListDefinitions(context.Background(), store.DefinitionFilter{Key: "pay", LatestOnly: true})
	if err != nil || len(defs) != 1 {
		t.Fatal(defs, err)
	}
	model, err := e.Model(context.Background(), defs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range model.Process("pay").Flows {
		out[f.SourceRef] = f.ID
	}
	return out
}

func htmlEscape(s string) string {
	return strings.NewReplacer(`"`, "&#34;", "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func mainText(p *page) string {
	if m := byTag(p.doc, "main"); len(m) > 0 {
		return text(m[0])
	}
	return p.body
}

// byAttr returns the elements that have the attribute, in document order.
func byAttr(n *html.Node, name string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if a.Key == name {
					out = append(out, n)
					break
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byTag(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func renderHTML(n *html.Node) string {
	var b strings.Builder
	_ = html.Render(&b, n)
	return b.String()
}
