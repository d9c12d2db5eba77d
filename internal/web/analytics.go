package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/chart"
	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/web/static"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// MetricsReader reads process metrics from the rollups (internal/monitor's *Monitor
// implements it). The analytics pages read nothing else about the past: their cost does
// not grow with the history.
type MetricsReader interface {
	Report(ctx context.Context, q monitor.Query) (*monitor.Report, error)
}

// Range presets of the analytics page, and the default.
var rangePresets = []struct {
	Name string
	Span time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}}

const defaultRange = "24h"

// Bounds of what one analytics request may ask for: a range of at most a year, and a
// series of at most maxSeriesPoints buckets (a day by the minute).
const (
	maxRange        = 366 * 24 * time.Hour
	maxSeriesPoints = 1440
	// slowestShown is how many activities the slowest-activities chart ranks.
	slowestShown = 10
)

// Heat modes: what colours an element on the heatmap.
const (
	heatCount = "count"
	heatAvg   = "avg"
	heatP95   = "p95"
)

// analyticsQuery is a parsed analytics request: the page, each chart and each CSV take
// the same parameters, so any of them can be reproduced from its URL.
type analyticsQuery struct {
	key  string
	form pages.AnalyticsForm
	// service is the service whose definitions of the key the page is about ("" in an
	// engine's own cockpit); services are all that deploy the key (servicefilter.go).
	service  string
	services []string
	defs     []*store.Definition // every version of the service's, oldest first
	version  int                 // 0: all versions
	compare  int                 // 0: no comparison
	from, to time.Time
	step     monitor.Step
	heat     string
	// pointDurations asks the report for the durations of each point of the series (only
	// series.csv shows them; the charts draw the series' counts).
	pointDurations bool
}

// parseAnalytics reads and checks the parameters shared by the analytics URLs. Bad input
// is a 400 that names the parameter and what it accepts; an unknown key or version a 404.
func (s *server) parseAnalytics(c echo.Context) (*analyticsQuery, error) {
	ctx := c.Request().Context()
	q := c.QueryParams()
	a := &analyticsQuery{key: c.Param("key"), form: pages.AnalyticsForm{Range: q.Get("range"), From: q.Get("from"),
		To: q.Get("to"), Version: q.Get("version"), Compare: q.Get("compare"), Step: q.Get("step"), Heat: q.Get("heat")}}
	defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: a.key})
	if err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, notFound("No process with key %q is deployed. The overview lists the deployed processes.", a.key)
	}
	// Several services may deploy the key (an observing cockpit): the page is one
	// service's, the one the service parameter names, else the first, as the process
	// page.
	a.services = definitionServices(defs)
	a.service = q.Get("service")
	if a.service == "" {
		a.service = a.services[0]
	}
	for _, d := range defs {
		if d.Service == a.service {
			a.defs = append(a.defs, d)
		}
	}
	if len(a.defs) == 0 {
		return nil, notFound("Service %q deploys no process with key %q; %s does.", a.service, a.key, strings.Join(a.services, ", "))
	}
	if a.version, err = a.versionParam("version", a.form.Version); err != nil {
		return nil, err
	}
	if a.compare, err = a.versionParam("compare", a.form.Compare); err != nil {
		return nil, err
	}

	now := s.now()
	if a.from, err = parseTime("from", a.form.From); err != nil {
		return nil, err
	}
	if a.to, err = parseTime("to", a.form.To); err != nil {
		return nil, err
	}
	span := 24 * time.Hour
	if a.form.Range != "" {
		i := slices.IndexFunc(rangePresets, func(p struct {
			Name string
			Span time.Duration
		}) bool {
			return p.Name == a.form.Range
		})
		if i < 0 {
			return nil, badRequest("range %q: use 1h, 24h, 7d or 30d, or give from and to.", a.form.Range)
		}
		span = rangePresets[i].Span
	}
	switch {
	case a.from.IsZero() && a.to.IsZero():
		a.to = now
		a.from = now.Add(-span)
	case a.to.IsZero():
		a.to = now
	case a.from.IsZero():
		a.from = a.to.Add(-span)
	}
	if !a.from.Before(a.to) {
		return nil, badRequest("from (%s) must be before to (%s).", a.from.UTC().Format(time.RFC3339), a.to.UTC().Format(time.RFC3339))
	}
	if a.to.Sub(a.from) > maxRange {
		return nil, badRequest("The range from %s to %s is longer than a year: choose a shorter one.",
			a.from.UTC().Format(time.DateOnly), a.to.UTC().Format(time.DateOnly))
	}
	switch st := monitor.Step(a.form.Step); st {
	case "", monitor.StepMinute, monitor.StepHour, monitor.StepDay:
		a.step = st
		if w := stepWidth(st); w > 0 && a.to.Sub(a.from)/w > maxSeriesPoints {
			return nil, badRequest("step %s over this range gives %d points, more than %d: choose a coarser step or a shorter range.",
				st, a.to.Sub(a.from)/w, maxSeriesPoints)
		}
	default:
		return nil, badRequest("step %q: use minute, hour or day (or leave it empty to choose by the range).", a.form.Step)
	}
	switch a.form.Heat {
	case "":
		a.heat = heatCount
	case heatCount, heatAvg, heatP95:
		a.heat = a.form.Heat
	default:
		return nil, badRequest("heat %q: use count, avg or p95.", a.form.Heat)
	}
	a.form.Heat = a.heat
	return a, nil
}

func (a *analyticsQuery) versionParam(name, v string) (int, error) {
	if v == "" || v == "all" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("%s %q is not a version number (1, 2, …).", name, v)
	}
	if a.def(n) == nil {
		return 0, notFound("Process %q has no version %d; its versions are 1 to %d.", a.key, n, a.defs[len(a.defs)-1].Version)
	}
	return n, nil
}

// def returns version n, or the newest for 0.
func (a *analyticsQuery) def(n int) *store.Definition {
	if n == 0 {
		return a.defs[len(a.defs)-1]
	}
	for _, d := range a.defs {
		if d.Version == n {
			return d
		}
	}
	return nil
}

func stepWidth(st monitor.Step) time.Duration {
	switch st {
	case monitor.StepMinute:
		return time.Minute
	case monitor.StepHour:
		return time.Hour
	case monitor.StepDay:
		return 24 * time.Hour
	}
	return 0
}

// values is the query string that reproduces the request; set overrides some of it
// (pairs; an empty value removes the parameter).
func (a *analyticsQuery) values(set ...string) url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"range": a.form.Range, "from": a.form.From, "to": a.form.To,
		"version": a.form.Version, "compare": a.form.Compare, "step": a.form.Step, "service": a.service} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if a.heat != heatCount {
		v.Set("heat", a.heat)
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			v.Del(set[i])
		} else {
			v.Set(set[i], set[i+1])
		}
	}
	return v
}

func (a *analyticsQuery) href(path string, set ...string) string {
	base := processURL(a.key) + "/analytics" + path
	return base + encodeQuery(a.values(set...))
}

// report reads the metrics of one version (0: all).
func (s *server) report(ctx context.Context, a *analyticsQuery, version int) (*monitor.Report, error) {
	if s.metrics == nil {
		return nil, &pageError{Status: http.StatusServiceUnavailable, Title: "Metrics are off",
			Message:  "This server keeps no process metrics, so there is nothing to chart. Start it with the metrics projector (cockpit serve does).",
			BackHref: processURL(a.key), BackLabel: "Go to the process page"}
	}
	r, err := s.metrics.Report(ctx, monitor.Query{DefinitionKey: a.key, Version: version, Service: a.service, From: a.from,
		To: a.to, Step: a.step, SeriesCountsOnly: !a.pointDurations})
	if errors.Is(err, monitor.ErrInvalidQuery) {
		return nil, badRequest("The metrics cannot answer this: %v.", err)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics of %q v%d: %w", a.key, version, err)
	}
	return r, nil
}

func versionLabel(v int) string {
	if v == 0 {
		return "All versions"
	}
	return "Version " + strconv.Itoa(v)
}

// analytics is the analytics page.
func (s *server) analytics(c echo.Context) error {
	ctx := c.Request().Context()
	a, err := s.parseAnalytics(c)
	if err != nil {
		return err
	}
	rep, err := s.report(ctx, a, a.version)
	if err != nil {
		return err
	}
	def := a.def(a.version)
	name := def.Name
	if name == "" {
		name = def.Key
	}
	p := pages.AnalyticsProps{Key: a.key, Name: name, AssetVersion: static.Version, Form: a.form,
		ProcessHref: withService(processURL(a.key), a.service), DiagramVersion: def.Version, Service: a.service}
	for _, sv := range a.services {
		if sv != a.service {
			// Versions are a service's own: the other service's page starts from all of them.
			p.OtherServices = append(p.OtherServices, pages.Link{Label: sv,
				Href: a.href("", "service", sv, "version", "", "compare", "")})
		}
	}
	if a.form.Version == "all" {
		p.Form.Version = ""
	}
	for i := len(a.defs) - 1; i >= 0; i-- {
		p.Versions = append(p.Versions, a.defs[i].Version)
	}
	custom := a.form.From != "" || a.form.To != ""
	for _, pr := range rangePresets {
		p.Presets = append(p.Presets, pages.Link{Label: pr.Name, Href: a.href("", "range", pr.Name, "from", "", "to", ""),
			Active: !custom && (a.form.Range == pr.Name || (a.form.Range == "" && pr.Name == defaultRange))})
	}
	p.Permalink = a.href("", "range", "", "from", a.from.UTC().Format(time.RFC3339), "to", a.to.UTC().Format(time.RFC3339))
	p.RangeLabel = rangeLabel(rep.Query)
	if rep.Lag > time.Second {
		p.Notes = append(p.Notes, "The figures trail the history by "+components.Duration(rep.Lag)+"; the newest events are not counted yet.")
	}
	// Fine rollups are pruned: say so rather than show old minutes as quiet ones.
	now := s.now()
	if rep.Query.Step == monitor.StepMinute && rep.Query.From.Before(now.Add(-monitor.MinuteRetention)) {
		p.Notes = append(p.Notes, "Figures by the minute are kept for "+components.Duration(monitor.MinuteRetention)+
			": older minutes show as empty. Choose hour or day for this range.")
	}
	if rep.Query.Step == monitor.StepHour && rep.Query.From.Before(now.Add(-monitor.HourRetention)) {
		p.Notes = append(p.Notes, "Hourly figures are kept for "+components.Duration(monitor.HourRetention)+
			": older hours show as empty. Choose day for this range.")
	}

	model, err := s.eng.Model(ctx, def.ID)
	if err != nil {
		return err
	}
	proc := model.Process(def.Key)
	reps, procs, versions := []*monitor.Report{rep}, []*bpmn.Process{proc}, []int{a.version}
	var compared *bpmn.Definitions
	if a.form.Compare != "" {
		other, err := s.report(ctx, a, a.compare)
		if err != nil {
			return err
		}
		if compared, err = s.eng.Model(ctx, a.def(a.compare).ID); err != nil {
			return err
		}
		reps, procs, versions = append(reps, other), append(procs, compared.Process(a.key)), append(versions, a.compare)
	}
	// Side by side, the charts share their scales.
	var sc scale
	if len(reps) > 1 {
		sc = sharedScale(reps, procs)
	}
	for i := range reps {
		p.Columns = append(p.Columns, s.analyticsColumn(a, versions[i], reps[i], procs[i], sc))
	}

	// Compared, both diagrams are coloured on one scale (the hottest of both versions), so
	// equal colours mean equal figures.
	hs := heatScaleOf(a.heat, rep)
	if len(reps) > 1 {
		hs = hs.join(heatScaleOf(a.heat, reps[1]))
	}
	hm := buildHeat(a.heat, rep, proc, hs)
	p.Heat = hm.legend
	for _, m := range []struct{ mode, label string }{{heatCount, "count"}, {heatAvg, "avg"}, {heatP95, "p95"}} {
		p.Heat.Modes = append(p.Heat.Modes, pages.Link{Label: m.label, Href: a.href("", "heat", m.mode) + "#heat-h", Active: a.heat == m.mode})
	}
	p.Diagram = s.drawDiagram(ctx, def.ID, model, def.Key, hm.overlay, nil)
	p.Elements = hm.rows
	if compared != nil {
		cd := a.def(a.compare)
		ch := buildHeat(a.heat, reps[1], procs[1], hs)
		p.Compared = &pages.ComparedHeatmap{Label: versionLabel(a.compare), DiagramVersion: cd.Version, Legend: ch.legend,
			Diagram: s.drawDiagram(ctx, cd.ID, compared, cd.Key, ch.overlay, nil), Elements: ch.rows,
			ElementsCSV: a.href("/elements.csv", "heat", "", "compare", "", "version", strconv.Itoa(a.compare))}
	}
	p.Downloads = []pages.Link{
		{Label: "elements.csv", Href: a.href("/elements.csv", "heat", "", "compare", "")},
		{Label: "flows.csv", Href: a.href("/flows.csv", "heat", "", "compare", "")},
		{Label: "series.csv", Href: a.href("/series.csv", "heat", "", "compare", "")},
		{Label: "distribution.csv", Href: a.href("/distribution.csv", "heat", "", "compare", "")},
	}
	return s.render(c, 200, page{Title: name + " analytics"}, pages.Analytics(p))
}

// rangeLabel says what a report covers, in UTC.
func rangeLabel(q monitor.Query) string {
	layout := "2006-01-02 15:04"
	step := map[monitor.Step]string{monitor.StepMinute: "by the minute", monitor.StepHour: "hourly", monitor.StepDay: "daily"}[q.Step]
	out := q.From.UTC().Format(layout) + " – " + q.To.UTC().Format(layout) + " UTC"
	if step != "" {
		out += ", " + step
	}
	return out
}

// analyticsColumn is the summary and charts of one version.
func (s *server) analyticsColumn(a *analyticsQuery, version int, rep *monitor.Report, proc *bpmn.Process, sc scale) pages.AnalyticsColumn {
	col := pages.AnalyticsColumn{Label: versionLabel(version)}
	t := rep.Total
	v := strconv.Itoa(version)
	if version == 0 {
		v = ""
	}
	list := func(pairs ...string) string {
		return instancesURL(append([]string{"service", a.service, "process", a.key, "version", v,
			"from", a.from.UTC().Format("2006-01-02T15:04"), "to", a.to.UTC().Format("2006-01-02T15:04")}, pairs...)...)
	}
	rate := "–"
	if t.Started > 0 {
		rate = strconv.FormatFloat(100*float64(t.Incidents)/float64(t.Started), 'f', 1, 64) + " per 100 started"
	}
	col.Stats = []components.StatProps{
		{Label: "Started", Value: chart.Count(float64(t.Started)), Href: list(), TestID: "stat-started"},
		{Label: "Completed", Value: chart.Count(float64(t.Completed)), TestID: "stat-completed"},
		{Label: "Cancelled", Value: chart.Count(float64(t.Cancelled)), TestID: "stat-cancelled"},
		{Label: "Incidents", Value: chart.Count(float64(t.Incidents)), Note: rate, Bad: t.Incidents > 0, TestID: "stat-incident-rate"},
		{Label: "Duration avg", Value: durText(rep.Duration.Avg(), rep.Duration.Count), TestID: "stat-avg"},
		// Percentiles are histogram estimates (within 2.2 %, see the note under the tables).
		{Label: "Duration p95 ≈", Value: durText(rep.Duration.P95, rep.Duration.Count),
			Note: "p50 ≈ " + durText(rep.Duration.P50, rep.Duration.Count) + " · p99 ≈ " + durText(rep.Duration.P99, rep.Duration.Count), TestID: "stat-p95"},
	}
	set := []string{"version", v, "compare", "", "heat", ""}
	if version == 0 {
		set[1] = "all"
	}
	slot := func(id, title, note, csv string, svg []byte) pages.ChartSlot {
		cs := pages.ChartSlot{ID: id, Title: title, Note: note, SVG: svg, SVGHref: a.href("/charts/"+id+".svg", set...)}
		if csv != "" {
			cs.CSVHref = a.href("/"+csv, set...)
		}
		return cs
	}
	col.Charts = []pages.ChartSlot{
		slot("throughput", "Throughput", "instances started and completed per interval", "series.csv", throughputChart(rep, sc, s.now())),
		slot("incidents", "Incidents", "opened per interval", "series.csv", incidentChart(rep, sc, s.now())),
		slot("durations", "Duration distribution", "instances completed in the range", "distribution.csv", durationChart(rep, sc)),
		slot("slowest", "Slowest activities", "by p95 duration", "elements.csv", slowestChart(rep, proc, sc)),
	}
	return col
}

func durText(d time.Duration, n int64) string {
	if n == 0 {
		return "–"
	}
	return components.Duration(d)
}

// The series' colours without a stylesheet; analytics.css sets them per theme.
const (
	colorStarted   = "#2f5bd3"
	colorCompleted = "#1f8a4c"
	colorIncidents = "#c9252f"
	colorDuration  = "#6d5bd0"
	colorSlow      = "#c26a00"
)

func seriesTimes(rep *monitor.Report) ([]time.Time, time.Duration) {
	starts := make([]time.Time, len(rep.Series))
	for i, p := range rep.Series {
		starts[i] = p.Start
	}
	return starts, stepWidth(rep.Query.Step)
}

// scale is what charts of versions shown side by side share, so that equal heights mean
// equal figures: the top of each value axis and the duration histogram's bins. The zero
// scale lets each chart fit its own data.
type scale struct {
	throughput, incidents, durations, slowest float64
	binLo, binHi                              int
	shared                                    bool
}

// sharedScale is the scale that fits every report.
func sharedScale(reps []*monitor.Report, procs []*bpmn.Process) scale {
	sc := scale{shared: true, binLo: len(durationBins), binHi: -1}
	for i, rep := range reps {
		for _, p := range rep.Series {
			sc.throughput = math.Max(sc.throughput, float64(max(p.Started, p.Completed)))
			sc.incidents = math.Max(sc.incidents, float64(p.Incidents))
		}
		counts, lo, hi := binDurations(rep)
		sc.binLo, sc.binHi = min(sc.binLo, lo), max(sc.binHi, hi)
		for _, n := range counts {
			sc.durations = math.Max(sc.durations, float64(n))
		}
		for _, e := range slowest(rep, procs[i]) {
			sc.slowest = math.Max(sc.slowest, e.Duration.P95.Seconds())
		}
	}
	return sc
}

// ticks returns the axis ticks for a chart whose own top is top, up to the shared top.
func (sc scale) ticks(shared float64, whole bool) func(float64) []float64 {
	if !sc.shared {
		return nil
	}
	return func(top float64) []float64 { return chart.NiceTicks(math.Max(top, shared), 5, whole) }
}

// throughputChart and incidentChart draw the interval that holds until (now) as partial:
// it is still filling, not a drop.
func throughputChart(rep *monitor.Report, sc scale, until time.Time) []byte {
	starts, step := seriesTimes(rep)
	started, completed := make([]float64, len(rep.Series)), make([]float64, len(rep.Series))
	for i, p := range rep.Series {
		started[i], completed[i] = float64(p.Started), float64(p.Completed)
	}
	return chart.Lines(chart.TimeChart{Title: "Instances started and completed per " + string(rep.Query.Step), Start: starts, Step: step,
		YLabel: "instances", Ticks: sc.ticks(sc.throughput, true), Until: until, Series: []chart.Series{
			{Name: "Started", Class: "started", Color: colorStarted, Values: started, Area: true},
			{Name: "Completed", Class: "completed", Color: colorCompleted, Values: completed},
		}})
}

func incidentChart(rep *monitor.Report, sc scale, until time.Time) []byte {
	starts, step := seriesTimes(rep)
	inc := make([]float64, len(rep.Series))
	for i, p := range rep.Series {
		inc[i] = float64(p.Incidents)
	}
	return chart.Bars(chart.TimeChart{Title: "Incidents opened per " + string(rep.Query.Step), Start: starts, Step: step,
		YLabel: "incidents", Ticks: sc.ticks(sc.incidents, true), Until: until,
		Series: []chart.Series{{Name: "Incidents", Class: "incidents", Color: colorIncidents, Values: inc}},
		Tooltip: func(i int) string {
			p := rep.Series[i]
			if p.Started == 0 {
				return "no instance started"
			}
			return fmt.Sprintf("%.1f per 100 started (%d started)", 100*float64(p.Incidents)/float64(p.Started), p.Started)
		}})
}

// durationBins are the bounds the duration histogram is drawn with: the report's buckets
// are a few percent wide, far too many bars; they are summed into these 1-2-5 steps.
var durationBins = func() []time.Duration {
	var out []time.Duration
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second, 10 * time.Second} {
		out = append(out, d, 2*d, 5*d)
	}
	return append(out, time.Minute, 2*time.Minute, 5*time.Minute, 10*time.Minute, 20*time.Minute, 30*time.Minute,
		time.Hour, 2*time.Hour, 6*time.Hour, 12*time.Hour, 24*time.Hour, 2*24*time.Hour, 7*24*time.Hour,
		30*24*time.Hour, 365*24*time.Hour, math.MaxInt64)
}()

// binDurations sums the report's distribution into durationBins, and returns the first
// and last non-empty bin (lo > hi without data).
func binDurations(rep *monitor.Report) (counts []int64, lo, hi int) {
	counts = make([]int64, len(durationBins))
	lo, hi = len(durationBins), -1
	for _, b := range rep.Distribution {
		i, _ := slices.BinarySearch(durationBins, b.Upper)
		i = min(i, len(durationBins)-1)
		counts[i] += b.Count
		if b.Count > 0 {
			lo, hi = min(lo, i), max(hi, i)
		}
	}
	return counts, lo, hi
}

func durationChart(rep *monitor.Report, sc scale) []byte {
	counts, lo, hi := binDurations(rep)
	if sc.shared {
		lo, hi = sc.binLo, sc.binHi
	}
	var bars []chart.Bar
	for i := lo; i <= hi; i++ {
		label := "≤" + binLabel(durationBins[i])
		if durationBins[i] == math.MaxInt64 {
			label = ">" + binLabel(durationBins[i-1])
		}
		from := "0"
		if i > 0 {
			from = binLabel(durationBins[i-1])
		}
		bars = append(bars, chart.Bar{Label: label, Value: float64(counts[i]),
			Title: fmt.Sprintf("%s to %s: %s instances", from, strings.TrimPrefix(label, "≤"), chart.Count(float64(counts[i])))})
	}
	return chart.Histogram(chart.CategoryChart{Title: "Instance duration distribution", Bars: bars, Class: "duration",
		Color: colorDuration, XLabel: "duration", YLabel: "instances", Ticks: sc.ticks(sc.durations, true)})
}

func binLabel(d time.Duration) string { return chart.Seconds(d.Seconds()) }

// slowest returns the activities with durations, slowest p95 first, at most slowestShown.
func slowest(rep *monitor.Report, proc *bpmn.Process) []monitor.ElementMetrics {
	kinds, _ := elementInfo(proc)
	var els []monitor.ElementMetrics
	for _, e := range rep.Elements {
		k, known := kinds[e.ElementID]
		if e.Duration.Count > 0 && (!known || k.IsActivity()) {
			els = append(els, e)
		}
	}
	slices.SortFunc(els, func(x, y monitor.ElementMetrics) int {
		if c := compareDur(y.Duration.P95, x.Duration.P95); c != 0 {
			return c
		}
		return strings.Compare(x.ElementID, y.ElementID)
	})
	return els[:min(len(els), slowestShown)]
}

// slowestChart ranks the activities by p95 duration.
func slowestChart(rep *monitor.Report, proc *bpmn.Process, sc scale) []byte {
	_, names := elementInfo(proc)
	var bars []chart.Bar
	for _, e := range slowest(rep, proc) {
		label := e.ElementID
		if n := names[e.ElementID]; n != "" {
			label = n
		}
		d := e.Duration
		bars = append(bars, chart.Bar{Label: label, Value: d.P95.Seconds(), Title: fmt.Sprintf("%s (%s)\np95 %s · p50 %s · p99 %s · avg %s\n%s left",
			label, e.ElementID, components.Duration(d.P95), components.Duration(d.P50), components.Duration(d.P99),
			components.Duration(d.Avg()), chart.Count(float64(e.Left)))})
	}
	ticks := chart.DurationTicks(4)
	if sc.shared {
		ticks = func(top float64) []float64 { return chart.DurationTicks(4)(math.Max(top, sc.slowest)) }
	}
	return chart.HBars(chart.CategoryChart{Title: "Slowest activities by p95 duration", Bars: bars, Class: "slow",
		Color: colorSlow, Format: chart.Seconds, Ticks: ticks, YLabel: "p95 duration"})
}

func compareDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// elementInfo maps the flow nodes of a process to their kinds and names.
func elementInfo(proc *bpmn.Process) (map[string]bpmn.Kind, map[string]string) {
	kinds, names := map[string]bpmn.Kind{}, map[string]string{}
	for _, el := range flowNodes(proc) {
		kinds[el.ID], names[el.ID] = el.Kind, el.Name
	}
	return kinds, names
}

// sequenceFlows lists the sequence flows of a process, subprocesses included.
func sequenceFlows(proc *bpmn.Process) []*bpmn.SequenceFlow {
	if proc == nil {
		return nil
	}
	var out []*bpmn.SequenceFlow
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		out = append(out, c.Flows...)
		for _, el := range c.Elements {
			if el.Children != nil {
				walk(el.Children)
			}
		}
	}
	walk(&proc.Container)
	return out
}

// heatmap is the diagram overlay, its legend and the element table of one heat mode.
type heatmap struct {
	overlay *diagram.Overlay
	legend  pages.HeatLegend
	rows    []pages.AnalyticsElementRow
}

// heatScale is what a heatmap's colours are relative to: the hottest element's value in
// the heat mode, and the most taken flow's count.
type heatScale struct {
	hottest float64
	flowMax int64
}

// heatValue is what colours an element in a heat mode.
func heatValue(mode string, e monitor.ElementMetrics) float64 {
	switch mode {
	case heatAvg:
		return float64(e.Duration.Avg())
	case heatP95:
		return float64(e.Duration.P95)
	}
	return float64(e.Entered)
}

// heatScaleOf is the scale of one report's own figures.
func heatScaleOf(mode string, rep *monitor.Report) heatScale {
	var hs heatScale
	for _, e := range rep.Elements {
		hs.hottest = math.Max(hs.hottest, heatValue(mode, e))
	}
	for _, f := range rep.Flows {
		hs.flowMax = max(hs.flowMax, f.Taken)
	}
	return hs
}

// join is the scale that covers both.
func (hs heatScale) join(o heatScale) heatScale {
	return heatScale{hottest: math.Max(hs.hottest, o.hottest), flowMax: max(hs.flowMax, o.flowMax)}
}

// buildHeat colours elements by count (tokens that entered), average or p95 duration,
// relative to the scale's hottest element; flows always by how often they were taken,
// relative to its most taken flow.
func buildHeat(mode string, rep *monitor.Report, proc *bpmn.Process, hs heatScale) heatmap {
	format := func(v float64) string {
		if mode == heatCount {
			return chart.Count(v)
		}
		return components.Duration(time.Duration(v))
	}
	byID := map[string]monitor.ElementMetrics{}
	for _, e := range rep.Elements {
		byID[e.ElementID] = e
	}
	hottest, flowMax := hs.hottest, hs.flowMax
	// Static: the page is not updated live, and in compare mode it shows two diagrams.
	h := heatmap{overlay: &diagram.Overlay{Heat: map[string]float64{}, Titles: map[string]string{}, Static: true}}
	h.legend = pages.HeatLegend{Max: format(hottest), Flow: "Sequence flows: how often each was taken, in every mode",
		FlowMax: chart.Count(float64(flowMax))}
	switch mode {
	case heatAvg:
		h.legend.Element = "Elements: average duration, from arrival to leaving."
	case heatP95:
		h.legend.Element = "Elements: p95 duration, from arrival to leaving."
	default:
		h.legend.Element = "Elements: tokens that arrived."
	}

	kinds, names := elementInfo(proc)
	seen := map[string]bool{}
	row := func(id string, e monitor.ElementMetrics) {
		seen[id] = true
		name := names[id]
		if name == "" {
			name = id
		}
		heat := 0.0
		if v := heatValue(mode, e); hottest > 0 && v > 0 {
			heat = v / hottest
			h.overlay.Heat[id] = heat
		}
		if e.Entered > 0 || e.Left > 0 || e.Cancelled > 0 || e.Interrupted > 0 || e.Incidents > 0 {
			h.overlay.Titles[id] = elementTitle(name, id, e)
		}
		d, w := e.Duration, e.Waiting
		h.rows = append(h.rows, pages.AnalyticsElementRow{ID: id, Name: name, Kind: string(kinds[id]),
			Entered: chart.Count(float64(e.Entered)), Left: chart.Count(float64(e.Left)),
			Cancelled: chart.Count(float64(e.Cancelled)), Interrupted: chart.Count(float64(e.Interrupted)), Incidents: chart.Count(float64(e.Incidents)),
			Avg: durText(d.Avg(), d.Count), P50: durText(d.P50, d.Count), P95: durText(d.P95, d.Count), P99: durText(d.P99, d.Count),
			WaitAvg: durText(w.Avg(), w.Count), WaitP95: durText(w.P95, w.Count), Heat: heat})
	}
	for _, el := range flowNodes(proc) {
		row(el.ID, byID[el.ID])
	}
	// Elements of other versions (all versions chosen) that this diagram does not have.
	for _, e := range rep.Elements {
		if !seen[e.ElementID] {
			row(e.ElementID, e)
		}
	}
	flowNames := map[string]*bpmn.SequenceFlow{}
	for _, f := range sequenceFlows(proc) {
		flowNames[f.ID] = f
	}
	for _, f := range rep.Flows {
		if f.Taken <= 0 {
			continue
		}
		if flowMax > 0 {
			h.overlay.Heat[f.FlowID] = float64(f.Taken) / float64(flowMax)
		}
		label := f.FlowID
		if sf := flowNames[f.FlowID]; sf != nil {
			label = sf.SourceRef + " → " + sf.TargetRef + " (" + f.FlowID + ")"
			if sf.Name != "" {
				label = sf.Name + ": " + label
			}
		}
		h.overlay.Titles[f.FlowID] = fmt.Sprintf("%s\ntaken %s times", label, chart.Count(float64(f.Taken)))
	}
	return h
}

// elementTitle is an element's tooltip on the heatmap.
func elementTitle(name, id string, e monitor.ElementMetrics) string {
	var b strings.Builder
	if name != id {
		fmt.Fprintf(&b, "%s (%s)", name, id)
	} else {
		b.WriteString(id)
	}
	fmt.Fprintf(&b, "\nentered %s · left %s", chart.Count(float64(e.Entered)), chart.Count(float64(e.Left)))
	if e.Cancelled > 0 {
		fmt.Fprintf(&b, " · cancelled %s", chart.Count(float64(e.Cancelled)))
	}
	if e.Interrupted > 0 {
		fmt.Fprintf(&b, " · interrupted %s", chart.Count(float64(e.Interrupted)))
	}
	if e.Incidents > 0 {
		fmt.Fprintf(&b, " · incidents %s", chart.Count(float64(e.Incidents)))
	}
	if d := e.Duration; d.Count > 0 {
		fmt.Fprintf(&b, "\nduration avg %s · p50 %s · p95 %s · p99 %s", components.Duration(d.Avg()),
			components.Duration(d.P50), components.Duration(d.P95), components.Duration(d.P99))
	}
	if w := e.Waiting; w.Count > 0 {
		fmt.Fprintf(&b, "\nwaiting avg %s · p50 %s · p95 %s · p99 %s", components.Duration(w.Avg()),
			components.Duration(w.P50), components.Duration(w.P95), components.Duration(w.P99))
	}
	return b.String()
}

// analyticsChart serves one chart of the page as a standalone SVG, from the same
// parameters (version picks the version charted).
func (s *server) analyticsChart(c echo.Context) error {
	name, ok := strings.CutSuffix(c.Param("chart"), ".svg")
	draw := map[string]func(*monitor.Report, *bpmn.Process) []byte{
		"throughput": func(r *monitor.Report, _ *bpmn.Process) []byte { return throughputChart(r, scale{}, s.now()) },
		"incidents":  func(r *monitor.Report, _ *bpmn.Process) []byte { return incidentChart(r, scale{}, s.now()) },
		"durations":  func(r *monitor.Report, _ *bpmn.Process) []byte { return durationChart(r, scale{}) },
		"slowest":    func(r *monitor.Report, p *bpmn.Process) []byte { return slowestChart(r, p, scale{}) },
	}[name]
	if !ok || draw == nil {
		return notFound("There is no chart %q: the charts are throughput.svg, incidents.svg, durations.svg and slowest.svg.", c.Param("chart"))
	}
	ctx := c.Request().Context()
	a, err := s.parseAnalytics(c)
	if err != nil {
		return err
	}
	rep, err := s.report(ctx, a, a.version)
	if err != nil {
		return err
	}
	var proc *bpmn.Process
	if name == "slowest" {
		model, err := s.eng.Model(ctx, a.def(a.version).ID)
		if err != nil {
			return err
		}
		proc = model.Process(a.key)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/svg+xml", draw(rep, proc))
}
