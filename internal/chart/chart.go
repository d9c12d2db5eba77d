// Package chart draws small statistical charts as standalone SVG on the server: lines
// (with an optional area) and bars over time, a histogram over labelled buckets, and
// horizontal bars. Every chart has axes with round ticks, a legend where it shows more
// than one series, and a <title> tooltip per bucket or bar with its figures.
//
// Colours are presentation attributes (fill="…", stroke="…"), so a chart served alone as
// image/svg+xml is readable without any stylesheet and without inline style (the
// cockpit's CSP forbids it); each part also carries a class (chart-grid, chart-text,
// series-<Class>), and a page restyles a chart for its theme with CSS, which wins over
// presentation attributes.
package chart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Default chart size in SVG units (the viewBox; pages scale it to their width).
const (
	DefaultWidth  = 640.0
	DefaultHeight = 240.0
)

// Colours used when a page does not restyle the chart: they read on white.
const (
	colorText = "#4f5966"
	colorGrid = "#e3e6ea"
	colorAxis = "#8a94a3"
	fontStack = "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif"
	fontSize  = 11.0
)

// Series is one line or one set of bars.
type Series struct {
	// Name is shown in the legend and the tooltips.
	Name string
	// Class names the series for CSS: the group gets class "series-<Class>".
	Class string
	// Color is the stroke/fill used without a stylesheet ("#3b6fd8").
	Color string
	// Values has one value per bucket of the chart.
	Values []float64
	// Area fills the space under a line.
	Area bool
}

// TimeChart is a chart over time buckets [Start[i], Start[i]+Step).
type TimeChart struct {
	// Title is the chart's accessible name (the SVG's <title>).
	Title  string
	Start  []time.Time
	Step   time.Duration
	Series []Series
	// YLabel names the vertical axis ("instances").
	YLabel string
	// Format writes a value for ticks and tooltips; nil writes integers with thousands
	// grouping.
	Format func(float64) string
	// Tooltip, when set, adds lines to a bucket's tooltip (e.g. a rate).
	Tooltip func(i int) string
	// Ticks picks the value axis' ticks from 0 to at least the top value; nil picks
	// round numbers (whole ones when Format is nil).
	Ticks func(top float64) []float64
	// Width and Height of the viewBox; 0 means DefaultWidth/DefaultHeight.
	Width, Height float64
	// Until, when set, is the instant the figures reach (now): a bucket that ends after it
	// is still filling, so it is drawn as partial (a dashed line into it, a hatched
	// lighter bar) and its tooltip says how much of it has passed, instead of showing a
	// dip that is only the interval's unfinished part.
	Until time.Time
}

// partial reports whether bucket i of c ends after c.Until, and how much of it passed.
func (c TimeChart) partial(i int) (bool, time.Duration) {
	if c.Until.IsZero() || i < 0 || i >= len(c.Start) {
		return false, 0
	}
	end := c.Start[i].Add(c.Step)
	if !end.After(c.Until) {
		return false, 0
	}
	return true, max(c.Until.Sub(c.Start[i]), 0)
}

// Bar is one bar of a category chart.
type Bar struct {
	Label string
	Value float64
	// Title is the tooltip; "" writes "Label: value".
	Title string
}

// CategoryChart is a chart of labelled bars: a histogram (vertical) or a ranking
// (horizontal).
type CategoryChart struct {
	Title string
	Bars  []Bar
	// Class and Color style every bar (see Series).
	Class, Color string
	// XLabel names the category axis, YLabel the value axis.
	XLabel, YLabel string
	Format         func(float64) string
	Ticks          func(top float64) []float64
	Width, Height  float64
}

// ticksFor returns the value axis' ticks: the chart's own, else round numbers, whole
// ones for counts (a count axis with 0.5 steps would label two ticks "1").
func ticksFor(custom func(float64) []float64, format func(float64) string, top float64, n int) []float64 {
	if custom != nil {
		return custom(top)
	}
	return NiceTicks(top, n, format == nil)
}

// NiceTicks returns round ticks from 0 to at least top, about n intervals; whole keeps
// them whole numbers. Charts shown side by side pass it as Ticks with a shared top.
func NiceTicks(top float64, n int, whole bool) []float64 {
	t := niceTicks(top, n)
	if whole && len(t) > 1 && t[1] < 1 {
		t = niceTicks(math.Max(top, 1), max(1, int(math.Ceil(math.Max(top, 1)))))
	}
	return t
}

// margins of the plot area inside the viewBox.
type box struct{ left, top, right, bottom, w, h float64 }

func (b box) x0() float64 { return b.left }
func (b box) x1() float64 { return b.w - b.right }
func (b box) y0() float64 { return b.h - b.bottom } // the value axis' zero
func (b box) y1() float64 { return b.top }

func size(w, h float64) (float64, float64) {
	if w <= 0 {
		w = DefaultWidth
	}
	if h <= 0 {
		h = DefaultHeight
	}
	return w, h
}

// Lines draws each series as a line over time (with the area under it when asked).
func Lines(c TimeChart) []byte { return timeChart(c, false) }

// Bars draws each series as bars over time, side by side within a bucket.
func Bars(c TimeChart) []byte { return timeChart(c, true) }

func timeChart(c TimeChart, bars bool) []byte {
	w, h := size(c.Width, c.Height)
	n := len(c.Start)
	top := 0.0
	for _, s := range c.Series {
		for _, v := range s.Values[:min(n, len(s.Values))] {
			top = math.Max(top, v)
		}
	}
	ticks := ticksFor(c.Ticks, c.Format, top, 5)
	format := c.Format
	if format == nil {
		format = Count
	}
	ymax := ticks[len(ticks)-1]
	b := box{left: 12 + maxWidth(ticks, format), top: 14, right: 22, bottom: 34, w: w, h: h}
	if len(c.Series) > 1 || c.YLabel != "" {
		b.top = 28 // room for the axis name and the legend above the plot
	}
	kind := "lines"
	if bars {
		kind = "bars"
	}
	var out bytes.Buffer
	open(&out, "chart chart-"+kind, c.Title, w, h)
	yAxis(&out, b, ticks, ymax, format, c.YLabel)
	if n == 0 || c.Step <= 0 {
		noData(&out, b)
		return closeSVG(&out)
	}
	t0 := c.Start[0]
	span := c.Start[n-1].Add(c.Step).Sub(t0)
	xOf := func(t time.Time) float64 {
		return b.x0() + (b.x1()-b.x0())*float64(t.Sub(t0))/float64(span)
	}
	yOf := func(v float64) float64 { return b.y0() - (b.y0()-b.y1())*v/ymax }
	timeAxis(&out, b, t0, t0.Add(span), c.Step, xOf)

	bw := (b.x1() - b.x0()) / float64(n) // one bucket's width
	// The buckets still filling are shaded, behind the series, even where they hold no bar.
	for i := range n {
		if part, _ := c.partial(i); part {
			fmt.Fprintf(&out, `<rect class="chart-partial-zone" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.12" data-i="%d" data-partial="true"/>`,
				num(b.x0()+float64(i)*bw), num(b.y1()), num(bw), num(b.y0()-b.y1()), colorGrid, i)
		}
	}
	for si, s := range c.Series {
		fmt.Fprintf(&out, `<g class="chart-series series-%s" data-series="%s">`, esc(s.Class), esc(s.Name))
		if bars {
			// Bars of the series share a bucket: each gets a slot, with a gap around them.
			gap := math.Min(bw*0.2, 6)
			slot := (bw - gap) / float64(len(c.Series))
			for i := 0; i < n && i < len(s.Values); i++ {
				v := s.Values[i]
				if v <= 0 {
					continue
				}
				x := b.x0() + float64(i)*bw + gap/2 + float64(si)*slot
				y := yOf(v)
				if part, _ := c.partial(i); part {
					// Lighter, with a dashed outline: this interval is not over.
					fmt.Fprintf(&out, `<rect class="chart-bar chart-partial" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.4" stroke="%s" stroke-dasharray="3 2" data-i="%d" data-value="%s" data-partial="true"/>`,
						num(x), num(y), num(math.Max(slot, 0.5)), num(b.y0()-y), esc(s.Color), esc(s.Color), i, num(v))
					continue
				}
				fmt.Fprintf(&out, `<rect class="chart-bar" x="%s" y="%s" width="%s" height="%s" fill="%s" data-i="%d" data-value="%s"/>`,
					num(x), num(y), num(math.Max(slot, 0.5)), num(b.y0()-y), esc(s.Color), i, num(v))
			}
		} else {
			// The complete buckets make the solid line (and its area); the buckets still
			// filling continue it dashed, from the last complete point.
			last := min(n, len(s.Values)) - 1
			full := last
			for full >= 0 {
				if part, _ := c.partial(full); !part {
					break
				}
				full--
			}
			pt := func(i int) string { return num(b.x0()+(float64(i)+0.5)*bw) + " " + num(yOf(s.Values[i])) }
			// path is the polyline through the points from..to ("" when to < from).
			path := func(from, to int) string {
				var p strings.Builder
				for i := from; i <= to; i++ {
					cmd := "L"
					if i == from {
						cmd = "M"
					}
					p.WriteString(cmd + pt(i))
				}
				return p.String()
			}
			d := path(0, full)
			if s.Area && d != "" {
				fmt.Fprintf(&out, `<path class="chart-area" d="%sL%s %sL%s %sZ" fill="%s" fill-opacity="0.14" stroke="none"/>`,
					d, num(b.x0()+(float64(full)+0.5)*bw), num(b.y0()), num(b.x0()+0.5*bw), num(b.y0()), esc(s.Color))
			}
			if d != "" {
				fmt.Fprintf(&out, `<path class="chart-line" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" stroke-linecap="round"/>`,
					d, esc(s.Color))
			}
			if full < last {
				fmt.Fprintf(&out, `<path class="chart-line chart-partial" d="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="4 3" stroke-opacity="0.7" stroke-linecap="round" data-partial="true"/>`,
					path(max(full, 0), last), esc(s.Color))
				// A dot marks the partial point even where it is the only one.
				fmt.Fprintf(&out, `<circle class="chart-partial-point" cx="%s" cy="%s" r="2.5" fill="none" stroke="%s"/>`,
					num(b.x0()+(float64(last)+0.5)*bw), num(yOf(s.Values[last])), esc(s.Color))
			}
		}
		out.WriteString(`</g>`)
	}
	// One transparent column per bucket carries the tooltip with every series' figure.
	out.WriteString(`<g class="chart-hover">`)
	for i := range n {
		var tip strings.Builder
		tip.WriteString(bucketLabel(c.Start[i], c.Step))
		if part, passed := c.partial(i); part {
			fmt.Fprintf(&tip, "\nso far (%.0f%% of the interval has passed)", 100*float64(passed)/float64(c.Step))
		}
		for _, s := range c.Series {
			if i < len(s.Values) {
				fmt.Fprintf(&tip, "\n%s: %s", s.Name, format(s.Values[i]))
			}
		}
		if c.Tooltip != nil {
			if extra := c.Tooltip(i); extra != "" {
				tip.WriteString("\n" + extra)
			}
		}
		fmt.Fprintf(&out, `<rect class="chart-hit" x="%s" y="%s" width="%s" height="%s" fill="transparent" data-i="%d"><title>%s</title></rect>`,
			num(b.x0()+float64(i)*bw), num(b.y1()), num(bw), num(b.y0()-b.y1()), i, esc(tip.String()))
	}
	out.WriteString(`</g>`)
	if len(c.Series) > 1 {
		legend(&out, b, c.Series)
	}
	return closeSVG(&out)
}

// Histogram draws one vertical bar per category, labelled below.
func Histogram(c CategoryChart) []byte {
	w, h := size(c.Width, c.Height)
	top := 0.0
	for _, bar := range c.Bars {
		top = math.Max(top, bar.Value)
	}
	ticks := ticksFor(c.Ticks, c.Format, top, 5)
	format := c.Format
	if format == nil {
		format = Count
	}
	ymax := ticks[len(ticks)-1]
	b := box{left: 12 + maxWidth(ticks, format), top: 14, right: 14, bottom: 34, w: w, h: h}
	if c.YLabel != "" {
		b.top = 28
	}
	var out bytes.Buffer
	open(&out, "chart chart-histogram", c.Title, w, h)
	yAxis(&out, b, ticks, ymax, format, c.YLabel)
	if len(c.Bars) == 0 {
		noData(&out, b)
		return closeSVG(&out)
	}
	bw := (b.x1() - b.x0()) / float64(len(c.Bars))
	// Label every k-th bar so that labels do not overlap.
	widest := 0.0
	for _, bar := range c.Bars {
		widest = math.Max(widest, textWidth(bar.Label))
	}
	every := max(1, int(math.Ceil((widest+8)/bw)))
	fmt.Fprintf(&out, `<g class="chart-series series-%s">`, esc(c.Class))
	for i, bar := range c.Bars {
		x := b.x0() + float64(i)*bw
		y := b.y0() - (b.y0()-b.y1())*bar.Value/ymax
		gap := math.Min(bw*0.15, 4)
		fmt.Fprintf(&out, `<rect class="chart-bar" x="%s" y="%s" width="%s" height="%s" fill="%s" data-i="%d" data-value="%s"><title>%s</title></rect>`,
			num(x+gap/2), num(y), num(math.Max(bw-gap, 0.5)), num(b.y0()-y), esc(c.Color), i, num(bar.Value), esc(barTitle(bar, format)))
	}
	out.WriteString(`</g><g class="chart-ticks">`)
	for i, bar := range c.Bars {
		if i%every != 0 {
			continue
		}
		x := b.x0() + (float64(i)+0.5)*bw
		fmt.Fprintf(&out, `<text class="chart-text" x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`,
			num(x), num(b.y0()+14), colorText, esc(bar.Label))
	}
	out.WriteString(`</g>`)
	if c.XLabel != "" {
		fmt.Fprintf(&out, `<text class="chart-text chart-axis-label" x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`,
			num((b.x0()+b.x1())/2), num(h-4), colorText, esc(c.XLabel))
	}
	return closeSVG(&out)
}

// HBars draws one horizontal bar per category, the label left of it and the value at
// its end: a ranking, largest first as given.
func HBars(c CategoryChart) []byte {
	w, _ := size(c.Width, c.Height)
	const row, barH = 24.0, 14.0
	h := c.Height
	if h <= 0 {
		h = 36 + row*float64(max(len(c.Bars), 1))
	}
	labelW := 0.0
	top := 0.0
	for _, bar := range c.Bars {
		labelW = math.Max(labelW, textWidth(bar.Label))
		top = math.Max(top, bar.Value)
	}
	labelW = math.Min(labelW, w*0.38)
	ticks := ticksFor(c.Ticks, c.Format, top, 4)
	format := c.Format
	if format == nil {
		format = Count
	}
	xmax := ticks[len(ticks)-1]
	b := box{left: labelW + 16, top: 8, right: 16 + maxWidth(ticks, format)/2, bottom: 28, w: w, h: h}
	var out bytes.Buffer
	open(&out, "chart chart-hbars", c.Title, w, h)
	xOf := func(v float64) float64 { return b.x0() + (b.x1()-b.x0())*v/xmax }
	out.WriteString(`<g class="chart-grid">`)
	for _, t := range ticks {
		fmt.Fprintf(&out, `<line class="chart-gridline" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
			num(xOf(t)), num(b.y1()), num(xOf(t)), num(b.y0()), colorGrid)
	}
	out.WriteString(`</g><g class="chart-ticks">`)
	for _, t := range ticks {
		fmt.Fprintf(&out, `<text class="chart-text" x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`,
			num(xOf(t)), num(b.y0()+14), colorText, esc(format(t)))
	}
	out.WriteString(`</g>`)
	if c.YLabel != "" {
		fmt.Fprintf(&out, `<text class="chart-text chart-axis-label" x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`,
			num(b.x1()), num(h-2), colorText, esc(c.YLabel))
	}
	if len(c.Bars) == 0 {
		noData(&out, b)
		return closeSVG(&out)
	}
	fmt.Fprintf(&out, `<g class="chart-series series-%s">`, esc(c.Class))
	for i, bar := range c.Bars {
		y := b.y1() + float64(i)*row + (row-barH)/2
		label := fitText(bar.Label, labelW)
		fmt.Fprintf(&out, `<g class="chart-row" data-i="%d"><title>%s</title>`, i, esc(barTitle(bar, format)))
		fmt.Fprintf(&out, `<text class="chart-text chart-label" x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`,
			num(b.x0()-6), num(y+barH-3), colorText, esc(label))
		fmt.Fprintf(&out, `<rect class="chart-bar" x="%s" y="%s" width="%s" height="%s" fill="%s" data-value="%s"/>`,
			num(b.x0()), num(y), num(math.Max(xOf(bar.Value)-b.x0(), 0.5)), num(barH), esc(c.Color), num(bar.Value))
		// The value sits after the bar, or inside its end when the bar is long.
		x, anchor, class := xOf(bar.Value)+4, "start", "chart-text chart-value"
		if xOf(bar.Value) > b.x1()-40 {
			x, anchor, class = xOf(bar.Value)-4, "end", "chart-text chart-value chart-value-in"
		}
		fill := colorText
		if anchor == "end" {
			fill = "#ffffff"
		}
		fmt.Fprintf(&out, `<text class="%s" x="%s" y="%s" text-anchor="%s" fill="%s">%s</text></g>`,
			class, num(x), num(y+barH-3), anchor, fill, esc(format(bar.Value)))
	}
	out.WriteString(`</g>`)
	fmt.Fprintf(&out, `<line class="chart-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
		num(b.x0()), num(b.y1()), num(b.x0()), num(b.y0()), colorAxis)
	return closeSVG(&out)
}

func barTitle(b Bar, format func(float64) string) string {
	if b.Title != "" {
		return b.Title
	}
	return b.Label + ": " + format(b.Value)
}

func open(w *bytes.Buffer, class, title string, width, height float64) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" class="%s" viewBox="0 0 %s %s" width="%s" height="%s" role="img" font-family="%s" font-size="%s">`,
		class, num(width), num(height), num(width), num(height), fontStack, num(fontSize))
	fmt.Fprintf(w, `<title>%s</title>`, esc(title))
}

func closeSVG(w *bytes.Buffer) []byte {
	w.WriteString("</svg>\n")
	return w.Bytes()
}

// yAxis draws the horizontal grid lines with their values and the axis name.
func yAxis(w *bytes.Buffer, b box, ticks []float64, ymax float64, format func(float64) string, label string) {
	w.WriteString(`<g class="chart-grid">`)
	for _, t := range ticks {
		y := b.y0() - (b.y0()-b.y1())*t/ymax
		fmt.Fprintf(w, `<line class="chart-gridline" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
			num(b.x0()), num(y), num(b.x1()), num(y), colorGrid)
	}
	w.WriteString(`</g><g class="chart-ticks">`)
	for _, t := range ticks {
		y := b.y0() - (b.y0()-b.y1())*t/ymax
		fmt.Fprintf(w, `<text class="chart-text" x="%s" y="%s" text-anchor="end" fill="%s" data-tick="%s">%s</text>`,
			num(b.x0()-6), num(y+4), colorText, num(t), esc(format(t)))
	}
	w.WriteString(`</g>`)
	fmt.Fprintf(w, `<line class="chart-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
		num(b.x0()), num(b.y0()), num(b.x1()), num(b.y0()), colorAxis)
	if label != "" {
		fmt.Fprintf(w, `<text class="chart-text chart-axis-label" x="%s" y="%s" fill="%s">%s</text>`,
			num(4), num(10), colorText, esc(label))
	}
}

func noData(w *bytes.Buffer, b box) {
	fmt.Fprintf(w, `<text class="chart-text chart-empty" x="%s" y="%s" text-anchor="middle" fill="%s">No data in this range</text>`,
		num((b.x0()+b.x1())/2), num((b.y0()+b.y1())/2), colorText)
}

// legend lists the series at the top right, clear of the axis name at the top left.
func legend(w *bytes.Buffer, b box, series []Series) {
	w.WriteString(`<g class="chart-legend">`)
	x := b.x1()
	for _, s := range series {
		x -= 14 + textWidth(s.Name) + 16
	}
	x += 16
	for _, s := range series {
		fmt.Fprintf(w, `<g class="series-%s"><rect class="chart-swatch" x="%s" y="6" width="10" height="10" rx="2" fill="%s"/>`,
			esc(s.Class), num(x), esc(s.Color))
		fmt.Fprintf(w, `<text class="chart-text" x="%s" y="15" fill="%s">%s</text></g>`, num(x+14), colorText, esc(s.Name))
		x += 14 + textWidth(s.Name) + 16
	}
	w.WriteString(`</g>`)
}

// timeAxis writes ticks at round times (every 5 minutes, hour, 6 hours, day, …) between
// from and to, labelled in UTC, never closer than one bucket.
func timeAxis(w *bytes.Buffer, b box, from, to time.Time, bucket time.Duration, xOf func(time.Time) float64) {
	step, layout := timeStep(to.Sub(from), bucket, b.x1()-b.x0())
	w.WriteString(`<g class="chart-ticks chart-time">`)
	for t := ceilTime(from, step); !t.After(to); t = t.Add(step) {
		x := xOf(t)
		fmt.Fprintf(w, `<line class="chart-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`,
			num(x), num(b.y0()), num(x), num(b.y0()+4), colorAxis)
		label := t.UTC().Format(layout)
		// A label at either end of the axis is aligned to stay inside the chart.
		anchor := "middle"
		if half := textWidth(label) / 2; x+half > b.w-2 {
			anchor = "end"
		} else if x-half < 2 {
			anchor = "start"
		}
		fmt.Fprintf(w, `<text class="chart-text" x="%s" y="%s" text-anchor="%s" fill="%s" data-time="%s">%s</text>`,
			num(x), num(b.y0()+16), anchor, colorText, t.UTC().Format(time.RFC3339), esc(label))
	}
	w.WriteString(`</g>`)
}

// timeStep picks the tick interval that puts the most ticks on the axis with room for
// their labels (at least one bucket apart), and the labels' layout.
func timeStep(span, bucket time.Duration, width float64) (time.Duration, string) {
	steps := []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
		24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}
	for _, st := range steps {
		if st < bucket {
			continue
		}
		layout := timeLayout(span, st)
		room := textWidth(layout) + 24
		if float64(span/st)*room <= width {
			return st, layout
		}
	}
	st := steps[len(steps)-1]
	return st, timeLayout(span, st)
}

func timeLayout(span, step time.Duration) string {
	switch {
	case step >= 24*time.Hour:
		return "Jan 2"
	case span > 24*time.Hour:
		return "Jan 2 15:04"
	}
	return "15:04"
}

// ceilTime is the first multiple of step (from midnight UTC for day steps, from the
// Unix epoch otherwise, which is the same for steps that divide a day) at or after t.
func ceilTime(t time.Time, step time.Duration) time.Time {
	r := t.UTC().Truncate(step)
	if r.Before(t) {
		r = r.Add(step)
	}
	return r
}

// bucketLabel names a bucket in a tooltip: "2026-03-04 14:00–15:00 UTC".
func bucketLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	end := t.Add(step)
	if step >= 24*time.Hour {
		if step == 24*time.Hour {
			return t.Format("2006-01-02") + " (UTC)"
		}
		return t.Format("2006-01-02") + " – " + end.Add(-time.Nanosecond).Format("2006-01-02") + " (UTC)"
	}
	return t.Format("2006-01-02 15:04") + "–" + end.Format("15:04") + " UTC"
}

// niceTicks returns round tick values from 0 to at least top (about n intervals), e.g.
// 0, 20, 40, 60 for a top of 57. A top of 0 gives 0 and 1.
func niceTicks(top float64, n int) []float64 {
	if !(top > 0) || math.IsInf(top, 0) {
		return []float64{0, 1}
	}
	raw := top / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step float64
	switch f := raw / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 2.5:
		step = 2.5 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	var out []float64
	for i := 0; ; i++ {
		v := float64(i) * step
		out = append(out, v)
		if v >= top*(1-1e-9) {
			return out
		}
	}
}

// DurationTicks returns ticks for a value axis of durations in seconds at round time
// units (10s, 30s, 1m, 5m, 1h, …) from 0 to at least top, about n intervals.
func DurationTicks(n int) func(top float64) []float64 {
	steps := []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
		60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400}
	return func(top float64) []float64 {
		if !(top > 0) || math.IsInf(top, 0) {
			return []float64{0, 1}
		}
		step := steps[len(steps)-1]
		for _, st := range steps {
			if top/st <= float64(n) {
				step = st
				break
			}
		}
		var out []float64
		for i := 0; ; i++ {
			v := float64(i) * step
			out = append(out, v)
			if v >= top*(1-1e-9) {
				return out
			}
		}
	}
}

func maxWidth(ticks []float64, format func(float64) string) float64 {
	w := 0.0
	for _, t := range ticks {
		w = math.Max(w, textWidth(format(t)))
	}
	return w
}

// textWidth estimates the width of s at the chart's font size: the font is the
// system's, so this is an average advance, a little generous.
func textWidth(s string) float64 {
	n := 0.0
	for _, r := range s {
		switch {
		case r == ' ' || r == '.' || r == ',' || r == ':' || r == 'i' || r == 'l' || r == '1':
			n += 0.32
		case r >= 'A' && r <= 'Z', r == 'm', r == 'w':
			n += 0.72
		default:
			n += 0.58
		}
	}
	return n * fontSize
}

// fitText cuts s with an ellipsis to fit width.
func fitText(s string, width float64) string {
	if textWidth(s) <= width {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && textWidth(string(r)+"…") > width {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// Count formats a value as an integer with thousands grouping: 1,234,567.
func Count(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Seconds formats a duration given in seconds compactly: 850ms, 12s, 3.5m, 2.1h, 3.2d.
func Seconds(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a < 1:
		return strconv.FormatFloat(math.Round(v*1000), 'f', -1, 64) + "ms"
	case a < 60:
		return trimFloat(v) + "s"
	case a < 3600:
		return trimFloat(v/60) + "m"
	case a < 86400:
		return trimFloat(v/3600) + "h"
	}
	return trimFloat(v/86400) + "d"
}

func trimFloat(v float64) string {
	if math.Abs(v) >= 10 {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func num(v float64) string {
	v = math.Round(v*100) / 100
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
