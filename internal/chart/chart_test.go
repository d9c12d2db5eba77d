package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// node is a parsed SVG element.
type node struct {
	name     string
	attrs    map[string]string
	children []*node
	text     string
}

// parse decodes the SVG with an XML decoder, failing the test on malformed output.
func parse(t *testing.T, svg []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	if root == nil || root.name != "svg" || root.attrs["xmlns"] != "http://www.w3.org/2000/svg" {
		t.Fatalf("root is not an svg element in the SVG namespace:\n%s", svg)
	}
	return root
}

func (n *node) all(pred func(*node) bool) []*node {
	var out []*node
	var walk func(*node)
	walk = func(k *node) {
		if pred(k) {
			out = append(out, k)
		}
		for _, c := range k.children {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasClass(class string) func(*node) bool {
	return func(n *node) bool { return slices.Contains(strings.Fields(n.attrs["class"]), class) }
}

func f(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

// gridY maps tick values to their y from the chart's tick labels.
func gridY(t *testing.T, root *node) map[float64]float64 {
	out := map[float64]float64{}
	for _, n := range root.all(func(n *node) bool { return n.attrs["data-tick"] != "" }) {
		out[f(t, n.attrs["data-tick"])] = f(t, n.attrs["y"]) - 4
	}
	return out
}

func TestBarsOverTime(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	starts := []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(3 * time.Hour)}
	svg := Bars(TimeChart{Title: "Incidents <per hour>", Start: starts, Step: time.Hour, YLabel: "incidents",
		Series: []Series{{Name: "Incidents", Class: "incidents", Color: "#d64550", Values: []float64{0, 10, 40, 20}}}})
	root := parse(t, svg)
	if got := root.children[0]; got.name != "title" || got.text != "Incidents <per hour>" {
		t.Errorf("first child = %s %q, want the escaped title", got.name, got.text)
	}
	bars := root.all(hasClass("chart-bar"))
	if len(bars) != 3 { // the zero bucket has no bar
		t.Fatalf("%d bars, want 3", len(bars))
	}
	ys := gridY(t, root)
	zero, top := ys[0], ys[40]
	if top >= zero {
		t.Fatalf("tick 40 at y=%v is not above tick 0 at y=%v (%v)", top, zero, ys)
	}
	var prevX float64
	for _, b := range bars {
		v := f(t, b.attrs["data-value"])
		y, h := f(t, b.attrs["y"]), f(t, b.attrs["height"])
		if math.Abs(y+h-zero) > 0.02 {
			t.Errorf("bar %v does not stand on the zero line: bottom %v, zero %v", v, y+h, zero)
		}
		want := zero - (zero-top)*v/40
		if math.Abs(y-want) > 0.02 {
			t.Errorf("bar %v: top at %v, want %v", v, y, want)
		}
		if x := f(t, b.attrs["x"]); x <= prevX {
			t.Errorf("bars are not left to right: %v after %v", x, prevX)
		} else {
			prevX = x
		}
	}
	// The tallest bar is the third bucket's: its x is in the third quarter of the plot.
	hits := root.all(hasClass("chart-hit"))
	if len(hits) != 4 {
		t.Fatalf("%d tooltip columns, want 4", len(hits))
	}
	tip := hits[2].all(func(n *node) bool { return n.name == "title" })[0].text
	if tip != "2026-03-04 12:00–13:00 UTC\nIncidents: 40" {
		t.Errorf("tooltip = %q", tip)
	}
	bx := f(t, bars[1].attrs["x"])
	hx, hw := f(t, hits[2].attrs["x"]), f(t, hits[2].attrs["width"])
	if bx < hx || bx > hx+hw {
		t.Errorf("bar of bucket 2 at x=%v is outside its column [%v, %v]", bx, hx, hx+hw)
	}
	// Time ticks are labelled at round hours.
	var labels []string
	for _, n := range root.all(func(n *node) bool { return n.attrs["data-time"] != "" }) {
		labels = append(labels, n.text)
	}
	if !slices.Equal(labels, []string{"10:00", "11:00", "12:00", "13:00", "14:00"}) {
		t.Errorf("time ticks = %v", labels)
	}
}

func TestLinesWithArea(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var starts []time.Time
	for i := range 30 {
		starts = append(starts, t0.Add(time.Duration(i)*24*time.Hour))
	}
	started, completed := make([]float64, 30), make([]float64, 30)
	for i := range 30 {
		started[i], completed[i] = float64(1000+i*10), float64(990+i*10)
	}
	started[7] = 5000
	svg := Lines(TimeChart{Title: "Throughput", Start: starts, Step: 24 * time.Hour, Series: []Series{
		{Name: "Started", Class: "started", Color: "#3b6fd8", Values: started, Area: true},
		{Name: "Completed", Class: "completed", Color: "#1f9d55", Values: completed},
	}})
	root := parse(t, svg)
	lines := root.all(hasClass("chart-line"))
	if len(lines) != 2 || len(root.all(hasClass("chart-area"))) != 1 {
		t.Fatalf("%d lines and %d areas, want 2 and 1", len(lines), len(root.all(hasClass("chart-area"))))
	}
	pts := pathPoints(t, lines[0].attrs["d"])
	if len(pts) != 30 {
		t.Fatalf("started line has %d points, want 30", len(pts))
	}
	ys := gridY(t, root)
	zero := ys[0]
	var topTick float64
	for v := range ys {
		topTick = max(topTick, v)
	}
	if topTick < 5000 {
		t.Fatalf("the y axis ends at %v, below the peak 5000", topTick)
	}
	for i, p := range pts {
		want := zero - (zero-ys[topTick])*started[i]/topTick
		if math.Abs(p[1]-want) > 0.02 {
			t.Errorf("point %d at y=%v, want %v", i, p[1], want)
		}
		if i > 0 && p[0] <= pts[i-1][0] {
			t.Errorf("x does not grow at point %d", i)
		}
	}
	// The peak is the highest point (smallest y).
	best := 0
	for i, p := range pts {
		if p[1] < pts[best][1] {
			best = i
		}
	}
	if best != 7 {
		t.Errorf("highest point is %d, want 7", best)
	}
	if n := len(root.all(hasClass("chart-legend"))); n != 1 {
		t.Errorf("%d legends, want 1", n)
	}
	for _, n := range root.all(func(n *node) bool { return n.attrs["data-time"] != "" }) {
		if _, err := time.Parse("Jan 2", n.text); err != nil {
			t.Errorf("day tick labelled %q", n.text)
		}
	}
}

// pathPoints reads the points of an "M x y L x y …" path.
func pathPoints(t *testing.T, d string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, seg := range strings.FieldsFunc(d, func(r rune) bool { return r == 'M' || r == 'L' }) {
		xy := strings.Fields(seg)
		if len(xy) != 2 {
			t.Fatalf("path segment %q", seg)
		}
		out = append(out, [2]float64{f(t, xy[0]), f(t, xy[1])})
	}
	return out
}

func TestHistogramAndHBars(t *testing.T) {
	hist := Histogram(CategoryChart{Title: "Durations", Class: "duration", Color: "#6d5bd0", Format: Count,
		Bars: []Bar{{Label: "1s", Value: 5}, {Label: "2s", Value: 20}, {Label: "5s", Value: 10}}})
	root := parse(t, hist)
	bars := root.all(hasClass("chart-bar"))
	if len(bars) != 3 {
		t.Fatalf("%d bars", len(bars))
	}
	h := []float64{f(t, bars[0].attrs["height"]), f(t, bars[1].attrs["height"]), f(t, bars[2].attrs["height"])}
	if !(h[1] > h[2] && h[2] > h[0]) || math.Abs(h[1]/h[0]-4) > 0.01 {
		t.Errorf("bar heights %v are not proportional to 5, 20, 10", h)
	}
	if got := bars[1].children[0].text; got != "2s: 20" {
		t.Errorf("tooltip %q", got)
	}

	rank := HBars(CategoryChart{Title: "Slowest", Class: "slow", Color: "#d98a1c", Format: Seconds,
		Bars: []Bar{{Label: "Ship the order to the customer", Value: 7200, Title: "Ship: p95 2h"}, {Label: "Pay", Value: 1800}}})
	root = parse(t, rank)
	bars = root.all(hasClass("chart-bar"))
	if len(bars) != 2 {
		t.Fatalf("%d bars", len(bars))
	}
	w0, w1 := f(t, bars[0].attrs["width"]), f(t, bars[1].attrs["width"])
	if math.Abs(w0/w1-4) > 0.01 {
		t.Errorf("bar widths %v, %v are not 4:1", w0, w1)
	}
	if y0, y1 := f(t, bars[0].attrs["y"]), f(t, bars[1].attrs["y"]); y0 >= y1 {
		t.Errorf("first bar is not on top: %v, %v", y0, y1)
	}
	rows := root.all(hasClass("chart-row"))
	if rows[0].children[0].text != "Ship: p95 2h" || rows[1].children[0].text != "Pay: 30m" {
		t.Errorf("row tooltips %q, %q", rows[0].children[0].text, rows[1].children[0].text)
	}
}

func TestEmptyCharts(t *testing.T) {
	for name, svg := range map[string][]byte{
		"lines":     Lines(TimeChart{Title: "t"}),
		"bars":      Bars(TimeChart{Title: "t", Start: []time.Time{time.Unix(0, 0)}, Step: time.Hour, Series: []Series{{Name: "a", Values: []float64{0}}}}),
		"histogram": Histogram(CategoryChart{Title: "t"}),
		"hbars":     HBars(CategoryChart{Title: "t"}),
	} {
		root := parse(t, svg)
		if name != "bars" && len(root.all(hasClass("chart-empty"))) != 1 {
			t.Errorf("%s: no empty-state text", name)
		}
		if len(root.all(hasClass("chart-bar"))) != 0 {
			t.Errorf("%s: bars drawn without data", name)
		}
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct {
		top  float64
		want []float64
	}{
		{0, []float64{0, 1}},
		{57, []float64{0, 20, 40, 60}},
		{40, []float64{0, 10, 20, 30, 40}},
		{1, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}},
		{1_234_567, []float64{0, 250000, 500000, 750000, 1e6, 1.25e6}},
	} {
		if got := niceTicks(c.top, 5); !slices.Equal(got, c.want) {
			t.Errorf("niceTicks(%v) = %v, want %v", c.top, got, c.want)
		}
	}
}

func TestDurationTicks(t *testing.T) {
	ticks := DurationTicks(4)
	for _, c := range []struct {
		top  float64
		want []float64
	}{
		{180, []float64{0, 60, 120, 180}},
		{200, []float64{0, 60, 120, 180, 240}},
		{0.7, []float64{0, 0.2, 0.4, 0.6000000000000001, 0.8}},
		{5 * 3600, []float64{0, 7200, 14400, 21600}},
	} {
		if got := ticks(c.top); !slices.Equal(got, c.want) {
			t.Errorf("DurationTicks(4)(%v) = %v, want %v", c.top, got, c.want)
		}
	}
}

// TestCountTicksAreWhole: a count axis never gets two ticks that read the same.
func TestCountTicksAreWhole(t *testing.T) {
	for _, top := range []float64{1, 2, 3, 4, 7} {
		svg := Bars(TimeChart{Title: "t", Start: []time.Time{time.Unix(0, 0)}, Step: time.Hour,
			Series: []Series{{Name: "a", Values: []float64{top}}}})
		var labels []string
		for _, n := range parse(t, svg).all(func(n *node) bool { return n.attrs["data-tick"] != "" }) {
			if v := f(t, n.attrs["data-tick"]); v != math.Trunc(v) {
				t.Errorf("top %v: tick %v is not whole", top, v)
			}
			labels = append(labels, n.text)
		}
		if len(slices.Compact(slices.Clone(labels))) != len(labels) {
			t.Errorf("top %v: repeated tick labels %v", top, labels)
		}
	}
}

func TestFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := Count(v); got != want {
			t.Errorf("Count(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0.25: "250ms", 1.5: "1.5s", 90: "1.5m", 7200: "2h", 3 * 86400: "3d", 45: "45s"} {
		if got := Seconds(v); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", v, got, want)
		}
	}
}

// The last interval, still filling at Until, is drawn as partial: the solid line and its
// area stop at the last complete point and a dashed line leads into the partial one; its
// bar is marked; its tooltip says how much of it has passed. Without Until, no bucket is.
func TestPartialLastBucket(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	starts := []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour), t0.Add(3 * time.Hour)}
	until := t0.Add(3*time.Hour + 15*time.Minute)
	series := []Series{{Name: "Started", Class: "started", Color: "#2f5bd3", Values: []float64{40, 42, 38, 9}, Area: true}}
	points := func(d string) int { return strings.Count(d, "M") + strings.Count(d, "L") }

	root := parse(t, Lines(TimeChart{Title: "t", Start: starts, Step: time.Hour, Series: series, Until: until}))
	var solid, dashed []*node
	for _, n := range root.all(hasClass("chart-line")) {
		if n.attrs["data-partial"] == "true" {
			dashed = append(dashed, n)
		} else {
			solid = append(solid, n)
		}
	}
	if len(solid) != 1 || points(solid[0].attrs["d"]) != 3 {
		t.Fatalf("solid lines %v, want one through the 3 complete buckets", solid)
	}
	if len(dashed) != 1 || points(dashed[0].attrs["d"]) != 2 || dashed[0].attrs["stroke-dasharray"] == "" {
		t.Fatalf("dashed lines %v, want one from the last complete bucket into the partial one", dashed)
	}
	if area := root.all(hasClass("chart-area")); len(area) != 1 || points(area[0].attrs["d"]) != 3+2 {
		t.Errorf("area %v, want it under the complete buckets only", area)
	}
	hits := root.all(hasClass("chart-hit"))
	if tip := hits[3].all(func(n *node) bool { return n.name == "title" })[0].text; !strings.Contains(tip, "so far (25% of the interval has passed)") {
		t.Errorf("partial tooltip %q", tip)
	}
	if tip := hits[2].all(func(n *node) bool { return n.name == "title" })[0].text; strings.Contains(tip, "so far") {
		t.Errorf("complete bucket's tooltip %q", tip)
	}

	bars := parse(t, Bars(TimeChart{Title: "t", Start: starts, Step: time.Hour, Series: series, Until: until})).all(hasClass("chart-bar"))
	for i, b := range bars {
		if got, want := b.attrs["data-partial"] == "true", i == 3; got != want {
			t.Errorf("bar %d partial %v, want %v", i, got, want)
		}
	}

	// Without Until (or with every bucket over), every bucket is complete.
	for _, c := range []TimeChart{{Title: "t", Start: starts, Step: time.Hour, Series: series},
		{Title: "t", Start: starts, Step: time.Hour, Series: series, Until: t0.Add(4 * time.Hour)}} {
		if n := len(parse(t, Lines(c)).all(func(n *node) bool { return n.attrs["data-partial"] == "true" })); n != 0 {
			t.Errorf("until %v: %d partial parts", c.Until, n)
		}
	}
}
