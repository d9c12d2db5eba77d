package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// Instances the metrics stack runs: v1 of "ship" runs 30, of which every tenth fails at
// charge with an incident; v2 (one more task) runs 20 that all complete.
const (
	realV1     = 30
	realFailed = 3
	realV2     = 20
)

// metricsStack runs instances on a real engine and serves the UI with the real metrics:
// engine commits → projector → rollups → monitor.Report → pages. It returns the server's
// URL once the projector has folded every instance's end.
func metricsStack(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(tb.TempDir(), "cockpit.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	// The real clock (engine, projector, monitor): jobs and the projector's loop run in real
	// time; the reports read the default range (the last 24 hours), which holds the runs
	// at any hour.
	proj, err := monitor.NewProjector(monitor.ProjectorOptions{Store: st, Debounce: 5 * time.Millisecond, Poll: 50 * time.Millisecond, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	e, err := engine.New(engine.Options{Store: st, Logger: log, Workers: 4, OnCommit: func([]*store.Event) { proj.Notify() }})
	if err != nil {
		tb.Fatal(err)
	}
	e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("card declined")
		}
		return map[string]any{"charged": true}, nil
	})
	nop := func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil }
	e.Handle("pack", nop)
	e.Handle("label", nop)
	for v := 1; v <= 2; v++ {
		b := bpmn.Build("ship", bpmn.Name("Shipping")).
			Start("start", bpmn.Name("Order paid")).
			ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
			ServiceTask("pack", bpmn.Name("Pack parcel"), bpmn.JobType("pack"))
		if v == 2 {
			b = b.ServiceTask("label", bpmn.Name("Print label"), bpmn.JobType("label"))
		}
		defs, err := b.End("end", bpmn.Name("Shipped")).Definitions()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := e.DeployModel(ctx, "ship.bpmn", defs); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := proj.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Stop(sctx)
		_ = proj.Stop(sctx)
	})
	mon, err := monitor.New(monitor.Options{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range realV1 + realV2 {
		version := 1
		if i >= realV1 {
			version = 2
		}
		vars := map[string]any{"fail": version == 1 && i%10 == 0}
		if _, err := e.StartInstance(ctx, "ship", engine.StartOptions{Version: version, Variables: vars}); err != nil {
			tb.Fatal(err)
		}
	}
	wait.Until(tb, 20*time.Second, "the projector to fold the runs", func() error {
		r1, err1 := mon.Report(ctx, monitor.Query{DefinitionKey: "ship", Version: 1})
		r2, err2 := mon.Report(ctx, monitor.Query{DefinitionKey: "ship", Version: 2})
		if err1 == nil && err2 == nil && r1.Total.Completed == realV1-realFailed && r1.Total.Incidents == realFailed &&
			r2.Total.Completed == realV2 && r1.Lag == 0 && r2.Lag == 0 {
			return nil
		}
		return fmt.Errorf("%v %v %+v %+v", err1, err2, r1, r2)
	})
	srv := httptest.NewServer(web.New(web.Options{Engine: e, Metrics: mon, Logger: log}))
	tb.Cleanup(srv.Close)
	return srv.URL
}

// TestAnalyticsRealMetrics reads the pages over figures the projector kept of real runs.
func TestAnalyticsRealMetrics(t *testing.T) {
	t.Parallel()
	base := metricsStack(t)

	p := getPage(t, base+"/processes/ship/analytics?version=1")
	if p.status != 200 {
		t.Fatalf("%d %s", p.status, mainText(p))
	}
	stat := func(id string) string { return text(byTestID(p.doc, id)[0]) }
	if !strings.Contains(stat("stat-started"), strconv.Itoa(realV1)) || !strings.Contains(stat("stat-completed"), strconv.Itoa(realV1-realFailed)) ||
		!strings.Contains(stat("stat-incident-rate"), "10.0 per 100 started") {
		t.Errorf("stats: %q %q %q", stat("stat-started"), stat("stat-completed"), stat("stat-incident-rate"))
	}
	heat := map[string]string{}
	for _, n := range byAttr(p.doc, "data-heat") {
		if attr(n, "class") == "heat" {
			heat[attr(n.Parent, "data-element-id")] = attr(n, "data-heat")
		}
	}
	// By count, start and charge saw every instance; pack and end the ones that did not fail.
	if heat["start"] != "1" || heat["charge"] != "1" || heat["pack"] != "0.9" || heat["Flow_start_charge"] != "1" || heat["Flow_charge_pack"] != "0.9" {
		t.Errorf("heat %v", heat)
	}
	if n := len(byTestID(p.doc, "analytics-element-row")); n != 4 {
		t.Errorf("%d element rows, want 4 (v1 has no label task)", n)
	}

	_, body := fetch(t, base+"/processes/ship/analytics/elements.csv?version=1")
	rows := map[string][]string{}
	for _, r := range readCSV(t, body)[1:] {
		rows[r[0]] = r
	}
	if r := rows["charge"]; r == nil || !slices.Equal(r[:7], []string{"charge", "Charge card", "serviceTask",
		strconv.Itoa(realV1), strconv.Itoa(realV1 - realFailed), "0", strconv.Itoa(realFailed)}) {
		t.Errorf("charge row %v", r)
	}
	if r := rows["pack"]; r == nil || r[7] != strconv.Itoa(realV1-realFailed) || r[8] == "" {
		t.Errorf("pack row (durations of every pass) %v", r)
	}
	_, body = fetch(t, base+"/processes/ship/analytics/series.csv?version=1")
	started := 0
	for _, r := range readCSV(t, body)[1:] {
		n, _ := strconv.Atoi(r[1])
		started += n
	}
	if started != realV1 {
		t.Errorf("series.csv starts add up to %d, want %d", started, realV1)
	}
	_, body = fetch(t, base+"/processes/ship/analytics/flows.csv?version=2")
	if !strings.Contains(body, fmt.Sprintf("Flow_pack_label,,pack,label,%d", realV2)) {
		t.Errorf("flows.csv of v2:\n%s", body)
	}

	p = getPage(t, base+"/processes/ship/analytics?version=1&compare=2")
	cols := byTestID(p.doc, "analytics-column")
	if len(cols) != 2 || !strings.Contains(text(byTestID(cols[1], "stat-started")[0]), strconv.Itoa(realV2)) {
		t.Fatalf("compare: %d columns", len(cols))
	}
	// Each version's diagram with its own figures on one colour scale: v2's has the label
	// task, both legends top out at v1's 30 instances, and v2's start (20 of them) is
	// two thirds as hot as v1's.
	panes := byTestID(p.doc, "heat-pane")
	if len(panes) != 2 || attr(panes[0], "data-version") != "1" || attr(panes[1], "data-version") != "2" {
		t.Fatalf("compare: %d heat panes", len(panes))
	}
	for i, want := range []struct {
		max   int
		label bool
		heat  string
	}{{realV1, false, "1"}, {realV1, true, "0.67"}} {
		if n := len(byTestID(panes[i], "diagram")); n != 1 {
			t.Errorf("pane %d: %d diagrams", i, n)
		}
		if got := text(byTestID(panes[i], "heat-max")[0]); got != strconv.Itoa(want.max) {
			t.Errorf("pane %d: hottest %q, want %d", i, got, want.max)
		}
		if got := len(byTestID(panes[i], "shape-label")) == 1; got != want.label {
			t.Errorf("pane %d: label task drawn %v, want %v", i, got, want.label)
		}
		if len(byTestID(panes[i], "overlay-pack")) != 1 {
			t.Errorf("pane %d: pack has no heat", i)
		}
		for _, n := range byAttr(panes[i], "data-heat") {
			if attr(n, "class") == "heat" && attr(n.Parent, "data-element-id") == "start" && attr(n, "data-heat") != want.heat {
				t.Errorf("pane %d: start's heat %s, want %s", i, attr(n, "data-heat"), want.heat)
			}
		}
	}
	// Side by side, the charts share their scales: v2's throughput axis goes up to v1's 30.
	for _, id := range []string{"chart-throughput", "chart-durations", "chart-slowest"} {
		var tops []string
		for _, col := range cols {
			ticks := byAttr(byTestID(col, id)[0], "data-tick")
			if id == "chart-slowest" {
				ticks = nil
				for _, n := range byAttr(byTestID(col, id)[0], "text-anchor") {
					if attr(n, "class") == "chart-text" && attr(n, "text-anchor") == "middle" {
						ticks = append(ticks, n)
					}
				}
				tops = append(tops, text(ticks[len(ticks)-1]))
				continue
			}
			tops = append(tops, attr(ticks[len(ticks)-1], "data-tick"))
		}
		if tops[0] != tops[1] {
			t.Errorf("%s: the columns' axes end at %v", id, tops)
		}
	}
	// An element table per version: v2's has the label task.
	tables := byTestID(p.doc, "analytics-elements")
	if len(tables) != 2 || len(byTestID(tables[0], "analytics-element-row")) != 4 || len(byTestID(tables[1], "analytics-element-row")) != 5 {
		t.Errorf("compare: %d element tables, want v1's 4 rows and v2's 5", len(tables))
	}
	if got := text(byTestID(cols[1], "chart-slowest")[0]); !strings.Contains(got, "Print label") {
		t.Errorf("v2's slowest activities lack its label task: %q", got)
	}
}
