package pages

import (
	"math"
	"strconv"

	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// AnalyticsProps is the analytics page of one process key: metrics over a time range for
// one version or all, optionally beside another version.
type AnalyticsProps struct {
	Key  string
	Name string
	// Service is the service whose definitions the page shows ("" in an engine's own
	// cockpit); OtherServices link to the analytics of the others that deploy the key.
	Service       string
	OtherServices []Link
	// AssetVersion busts the cache of the page's stylesheet.
	AssetVersion string
	Form         AnalyticsForm
	// Versions are the deployed versions, newest first.
	Versions []int
	// Presets are the range shortcuts (1h, 24h, 7d, 30d) with the other parameters kept.
	Presets []Link
	// RangeLabel says what the figures cover: "2026-03-04 10:00 – 2026-03-05 10:00 UTC, hourly".
	RangeLabel string
	// Permalink reproduces the page with the range as absolute times.
	Permalink   string
	ProcessHref string
	// Notes warn about the figures: the rollups trail the history, or the step chosen is
	// finer than what is kept for the range.
	Notes []string
	// Columns has one column, or two when comparing versions.
	Columns []AnalyticsColumn
	// DiagramVersion is the version whose diagram is drawn.
	DiagramVersion int
	Diagram        components.DiagramProps
	Heat           HeatLegend
	// Compared is the compared version's diagram and element table (compare mode only):
	// drawn beside the first, both coloured on one scale (the hottest of both versions).
	Compared *ComparedHeatmap
	Elements []AnalyticsElementRow
	// Downloads are the CSV exports of the tables (elements, flows, series, distribution).
	Downloads []Link
}

// AnalyticsForm is the page's query as given (re-shown in the form).
type AnalyticsForm struct {
	Range   string
	From    string
	To      string
	Version string
	Compare string
	Step    string
	Heat    string
}

// Link is a labelled URL; Active marks the current choice.
type Link struct {
	Label  string
	Href   string
	Active bool
}

// AnalyticsColumn is the summary and charts of one version (or all versions).
type AnalyticsColumn struct {
	Label  string
	Stats  []components.StatProps
	Charts []ChartSlot
}

// ChartSlot is one chart drawn on the server, with the URLs that reproduce it.
type ChartSlot struct {
	ID    string
	Title string
	Note  string
	// SVG is drawn by internal/chart (trusted).
	SVG     []byte
	SVGHref string
	CSVHref string
}

// ComparedHeatmap is the heatmap of the compared version.
type ComparedHeatmap struct {
	// Label names the compared figures ("Version 2", "All versions"); DiagramVersion is
	// the version whose diagram is drawn.
	Label          string
	DiagramVersion int
	Diagram        components.DiagramProps
	// Legend explains its colours, on the same scale as the first diagram's (its Modes
	// are not used).
	Legend HeatLegend
	// Elements is the compared version's element table, ElementsCSV its download.
	Elements    []AnalyticsElementRow
	ElementsCSV string
}

// HeatLegend explains the diagram's heat colours.
type HeatLegend struct {
	// Modes are the heat choices (count, avg, p95) as links.
	Modes []Link
	// Element says what colours an element, Max its hottest value.
	Element string
	Max     string
	// Flow says what colours a sequence flow, FlowMax its hottest value.
	Flow    string
	FlowMax string
}

// AnalyticsElementRow is one element's figures over the range.
type AnalyticsElementRow struct {
	ID        string
	Name      string
	Kind      string
	Entered   string
	Left      string
	Cancelled string
	// Interrupted counts tokens taken away by an interrupting boundary event or a
	// terminate end event (Cancelled: by cancelling the instance).
	Interrupted string
	Incidents   string
	Avg         string
	P50         string
	P95         string
	P99         string
	WaitAvg     string
	WaitP95     string
	// Heat is the element's heat 0..1 in the current mode (a bar in the table).
	Heat float64
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// heatClass names the width of an element's heat bar in tenths (heat-0 … heat-10): the
// CSP forbids inline style, so widths are classes in analytics.css.
func heatClass(v float64) string {
	return "heat-" + strconv.Itoa(int(math.Round(math.Max(0, math.Min(1, v))*10)))
}
