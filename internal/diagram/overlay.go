package diagram

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"strconv"
)

// Overlay is runtime state drawn over a diagram. Every map is keyed by element id (a flow
// node, a sequence flow or any other drawn element); ids the diagram does not draw are
// ignored, as are zero counts. A nil Overlay, or a zero one, draws an empty layer.
type Overlay struct {
	// Active counts tokens waiting in an element: a blue badge at its top-right corner.
	Active map[string]int
	// Incidents counts open incidents: a red badge left of the active one, and a red
	// outline around the element.
	Incidents map[string]int
	// Completed counts instances that passed the element: a grey badge at its
	// bottom-right corner.
	Completed map[string]int
	// Stalled counts tokens that have waited at the element longer than its threshold: a
	// violet badge at its top-left corner with a clock mark, and a dotted violet outline
	// (an element can be stalled with and without incidents). StallTitles are the badge's
	// tooltips (default "N stalled").
	Stalled     map[string]int
	StallTitles map[string]string
	// Compensated counts how many times compensation undid the element (its compensation
	// handler completed): an amber badge led by the compensation mark at its bottom-left
	// corner, and a dashed amber outline. CompensatedTitles are the badge's tooltips
	// (default "undone N times").
	Compensated       map[string]int
	CompensatedTitles map[string]string
	// Current marks where an instance's tokens are now: a strong outline.
	Current map[string]bool
	// Visited marks the elements an instance passed, and Taken the flows it took: a
	// lighter outline, a colored line over the flow. Either map accepts either kind of id.
	Visited map[string]bool
	Taken   map[string]bool
	// Heat is an intensity from 0 to 1 per element or flow (values outside are clamped):
	// a translucent halo around a shape, a wider and warmer stroke over a flow. Colors run
	// from yellow (0) to red (1).
	Heat map[string]float64
	// Loops are the instance counts of multi-instance bodies and loops, as text such as
	// "3/5" (instances completed of all): a teal pill at the shape's bottom-left corner.
	Loops map[string]string
	// Titles are tooltip texts (an SVG <title>) per element or flow, typically the numbers
	// behind a badge or a heat value.
	Titles map[string]string
	// Selected is the element the page has selected (e.g. a list filtered by it): a dashed
	// outline.
	Selected string
	// Static leaves the id off the overlay layer: for pages that show several diagrams
	// and are not updated live (the live hub finds the layer by its id, which must be
	// unique in a page).
	Static bool
}

// writeOverlay writes the overlay layer. Edges come first so that badges of shapes stay
// on top of flow highlights; the order follows the DI, so the output is deterministic.
func (s *Scene) writeOverlay(w *bytes.Buffer, ov *Overlay) {
	if ov != nil && ov.Static {
		w.WriteString(`<g class="overlays">`)
	} else {
		w.WriteString(`<g id="overlays" class="overlays">`)
	}
	if ov != nil {
		ov = s.rollUp(ov)
		for _, e := range s.edges {
			if s.edgeByID[e.id] == e {
				edgeOverlay(w, e, ov)
			}
		}
		for _, it := range s.shapes {
			if s.shapeByID[it.id] == it {
				shapeOverlay(w, it, ov)
			}
		}
	}
	w.WriteString(`</g>`)
}

// rollUp returns ov with the incidents and stalls of elements this diagram does not draw
// added to the collapsed activity that holds them, so that trouble inside a drilled-down
// subprocess shows on it. Tokens are not added: the activity has its own scope token. ov
// itself is not changed; without such elements it is returned as it is.
func (s *Scene) rollUp(ov *Overlay) *Overlay {
	if len(s.inside) == 0 {
		return ov
	}
	inc, stalled := rolled(ov.Incidents, s.inside), rolled(ov.Stalled, s.inside)
	if inc == nil && stalled == nil {
		return ov
	}
	cp := *ov
	if inc != nil {
		cp.Incidents = inc
	}
	if stalled != nil {
		cp.Stalled = stalled
	}
	return &cp
}

// rolled returns a copy of m with the counts of the ids in inside added to their hosts, or
// nil when m counts none of them.
func rolled(m map[string]int, inside map[string]string) map[string]int {
	var out map[string]int
	for id, n := range m {
		host, ok := inside[id]
		if !ok || n <= 0 {
			continue
		}
		if out == nil {
			out = maps.Clone(m)
		}
		out[host] += n
	}
	return out
}

func edgeOverlay(w *bytes.Buffer, e *edgeItem, ov *Overlay) {
	pts := dedupe(e.pts)
	if len(pts) < 2 {
		return
	}
	heat, hot := ov.Heat[e.id]
	taken := ov.Taken[e.id] || ov.Visited[e.id]
	title, titled := ov.Titles[e.id]
	selected := ov.Selected != "" && ov.Selected == e.id
	if !hot && !taken && !titled && !selected {
		return
	}
	d := linePath(pts)
	fmt.Fprintf(w, `<g class="overlay overlay-edge" data-element-id="%s" data-testid="overlay-%s">`, esc(e.id), esc(e.id))
	if hot {
		h := clamp01(heat)
		// Presentation attributes, not style="": a page's CSP may forbid inline style.
		fmt.Fprintf(w, `<path class="heat" data-heat="%s" d="%s" stroke="%s" stroke-width="%s" stroke-opacity="%s"/>`,
			num(h), d, heatColor(h), num(3+9*h), num(0.35+0.4*h))
	}
	if taken {
		last, prev := pts[len(pts)-1], pts[len(pts)-2]
		fmt.Fprintf(w, `<g class="taken"><path class="hl-taken" d="%s"/>%s</g>`,
			linePath(trim(pts, 0, arrowLength/2)), arrow("hl-taken-arrow", last, unit(last, prev), arrowLength, arrowHalf))
	}
	if selected {
		fmt.Fprintf(w, `<path class="hl hl-selected" d="%s"/>`, d)
	}
	if titled {
		fmt.Fprintf(w, `<path class="overlay-hit" d="%s"><title>%s</title></path>`, d, esc(title))
	}
	w.WriteString(`</g>`)
}

func shapeOverlay(w *bytes.Buffer, it *shapeItem, ov *Overlay) {
	id := it.id
	active, incidents, completed, stalled := ov.Active[id], ov.Incidents[id], ov.Completed[id], ov.Stalled[id]
	compensated := ov.Compensated[id]
	heat, hot := ov.Heat[id]
	current := ov.Current[id]
	visited := ov.Visited[id] || ov.Taken[id]
	title, titled := ov.Titles[id]
	loops := ov.Loops[id]
	selected := ov.Selected != "" && ov.Selected == id
	if active <= 0 && incidents <= 0 && completed <= 0 && stalled <= 0 && compensated <= 0 && !hot && !current && !visited &&
		!titled && !selected && loops == "" {
		return
	}
	b := it.b
	fmt.Fprintf(w, `<g class="overlay" data-element-id="%s" data-testid="overlay-%s">`, esc(id), esc(id))
	if hot {
		h := clamp01(heat)
		fmt.Fprintf(w, `<path class="heat" data-heat="%s" d="%s" stroke="%s" stroke-width="10" stroke-opacity="%s"/>`,
			num(h), outline(it, 7), heatColor(h), num(0.3+0.5*h))
	}
	switch {
	case incidents > 0:
		fmt.Fprintf(w, `<path class="hl hl-incident" d="%s"/>`, outline(it, 4))
	case current:
		fmt.Fprintf(w, `<path class="hl hl-current" d="%s"/>`, outline(it, 4))
	case visited:
		fmt.Fprintf(w, `<path class="hl hl-visited" d="%s"/>`, outline(it, 3))
	}
	if incidents > 0 && current {
		fmt.Fprintf(w, `<path class="hl hl-current" d="%s"/>`, outline(it, 7))
	}
	if stalled > 0 {
		fmt.Fprintf(w, `<path class="hl hl-stalled" d="%s"/>`, outline(it, 11))
	}
	if compensated > 0 {
		fmt.Fprintf(w, `<path class="hl hl-compensated" d="%s"/>`, outline(it, 7))
	}
	if selected {
		fmt.Fprintf(w, `<path class="hl hl-selected" d="%s"/>`, outline(it, 9))
	}
	if titled {
		fmt.Fprintf(w, `<path class="overlay-hit" d="%s"><title>%s</title></path>`, outline(it, 0), esc(title))
	}
	// Badges: active at the top-right corner, incidents to its left, completed at the
	// bottom-right corner.
	right := b.X + b.Width + 6
	if active > 0 {
		right -= badge(w, "active", id, active, right, b.Y-9) + 4
	}
	if incidents > 0 {
		badge(w, "incidents", id, incidents, right, b.Y-9)
	}
	if completed > 0 {
		// Mostly inside the shape, so it stays clear of a label below.
		badge(w, "completed", id, completed, b.X+b.Width+6, b.Y+b.Height-14)
	}
	if compensated > 0 {
		tip := ov.CompensatedTitles[id]
		if tip == "" {
			tip = fmt.Sprintf("undone %d times", compensated)
		}
		compensatedBadge(w, id, compensated, b.X-6, b.Y+b.Height-14, tip)
	}
	if loops != "" {
		top := b.Y + b.Height - 14
		if compensated > 0 {
			top -= 22 // above the compensated badge
		}
		textBadge(w, "loop", id, loops, b.X-6, top)
	}
	if stalled > 0 {
		tip := ov.StallTitles[id]
		if tip == "" {
			tip = fmt.Sprintf("%d stalled", stalled)
		}
		stallBadge(w, id, stalled, b.X-6, b.Y-9, tip)
	}
	w.WriteString(`</g>`)
}

// stallBadge draws the stalled count as a pill whose left edge is at left, led by a small
// clock, with its own tooltip.
func stallBadge(w *bytes.Buffer, id string, n int, left, top float64, tip string) {
	text := countText(n)
	const h = 18.0
	wd := math.Max(h, textWidth(text, 11)*1.1+12) + 12
	fmt.Fprintf(w, `<g class="badge badge-stalled" data-testid="badge-stalled-%s" data-count="%d"><title>%s</title>`, esc(id), n, esc(tip))
	w.WriteString(rect("badge-pill", left, top, wd, h, h/2))
	cx, cy := left+10, top+h/2
	fmt.Fprintf(w, `<circle class="badge-clock" cx="%s" cy="%s" r="5"/><path class="badge-clock" d="M%s %s V%s H%s"/>`,
		num(cx), num(cy), num(cx), num(cy-3), num(cy), num(cx+2.5))
	fmt.Fprintf(w, `<text class="badge-text" x="%s" y="%s" text-anchor="middle">%s</text></g>`,
		num(left+12+(wd-12)/2), num(top+h/2+3.9), text)
}

// compensatedBadge draws the compensated count as a pill whose left edge is at left, led
// by the compensation mark (two triangles pointing back), with its own tooltip.
func compensatedBadge(w *bytes.Buffer, id string, n int, left, top float64, tip string) {
	text := countText(n)
	const h = 18.0
	wd := math.Max(h, textWidth(text, 11)*1.1+12) + 14
	fmt.Fprintf(w, `<g class="badge badge-compensated" data-testid="badge-compensated-%s" data-count="%d"><title>%s</title>`,
		esc(id), n, esc(tip))
	w.WriteString(rect("badge-pill", left, top, wd, h, h/2))
	x, cy := left+5, top+h/2
	fmt.Fprintf(w, `<path class="badge-mark" d="M%s %s L%s %s L%s %s Z M%s %s L%s %s L%s %s Z"/>`,
		num(x), num(cy), num(x+6), num(cy-4), num(x+6), num(cy+4),
		num(x+6), num(cy), num(x+12), num(cy-4), num(x+12), num(cy+4))
	fmt.Fprintf(w, `<text class="badge-text" x="%s" y="%s" text-anchor="middle">%s</text></g>`,
		num(left+14+(wd-14)/2), num(top+h/2+3.9), text)
}

// badge draws a count pill whose right edge is at right, and returns its width.
func badge(w *bytes.Buffer, kind, id string, n int, right, top float64) float64 {
	text := countText(n)
	const h = 18.0
	wd := math.Max(h, textWidth(text, 11)*1.1+12)
	x := right - wd
	fmt.Fprintf(w, `<g class="badge badge-%s" data-testid="badge-%s-%s" data-count="%d">`, kind, kind, esc(id), n)
	w.WriteString(rect("badge-pill", x, top, wd, h, h/2))
	fmt.Fprintf(w, `<text class="badge-text" x="%s" y="%s" text-anchor="middle">%s</text></g>`,
		num(x+wd/2), num(top+h/2+3.9), text)
	return wd
}

// textBadge draws a pill with a short text whose left edge is at left.
func textBadge(w *bytes.Buffer, kind, id, text string, left, top float64) {
	const h = 18.0
	wd := math.Max(h, textWidth(text, 11)*1.1+12)
	fmt.Fprintf(w, `<g class="badge badge-%s" data-testid="badge-%s-%s" data-text="%s">`, kind, kind, esc(id), esc(text))
	// A presentation attribute for the colour (teal), not a stylesheet rule: the
	// stylesheet's .badge-pill sets only the stroke, and the diagrams drawn without this
	// badge stay byte for byte what they were.
	fmt.Fprintf(w, `<rect class="badge-pill" x="%s" y="%s" width="%s" height="%s" rx="%s" fill="#0f766e"/>`,
		num(left), num(top), num(wd), num(h), num(h/2))
	fmt.Fprintf(w, `<text class="badge-text" x="%s" y="%s" text-anchor="middle">%s</text></g>`,
		num(left+wd/2), num(top+h/2+3.9), esc(text))
}

// countText shortens large counts: 999, 1.2k, 12k, 1.2M.
func countText(n int) string {
	switch {
	case n < 1000:
		return strconv.Itoa(n)
	case n < 10_000:
		return strconv.FormatFloat(math.Floor(float64(n)/100)/10, 'f', -1, 64) + "k"
	case n < 1_000_000:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.FormatFloat(math.Floor(float64(n)/100_000)/10, 'f', -1, 64) + "M"
}

// outline returns the outline of a shape grown by pad, in diagram coordinates.
func outline(it *shapeItem, pad float64) string {
	b := it.b
	switch it.geom {
	case geomCircle:
		r := math.Min(b.Width, b.Height)/2 + pad
		cx, cy := b.X+b.Width/2, b.Y+b.Height/2
		return fmt.Sprintf("M%s %s A%s %s 0 1 0 %s %s A%s %s 0 1 0 %s %s Z", num(cx-r), num(cy), num(r), num(r),
			num(cx+r), num(cy), num(r), num(r), num(cx-r), num(cy))
	case geomDiamond:
		// Growing a diamond by pad perpendicular to its sides moves the corners by pad·√2
		// for a square one; close enough for the aspect ratios gateways have.
		g := pad * math.Sqrt2
		return polygon(b.X+b.Width/2, b.Y-g, b.X+b.Width+g, b.Y+b.Height/2, b.X+b.Width/2, b.Y+b.Height+g, b.X-g, b.Y+b.Height/2)
	case geomRound:
		return roundRect(b.X-pad, b.Y-pad, b.Width+2*pad, b.Height+2*pad, 10+pad)
	}
	return roundRect(b.X-pad, b.Y-pad, b.Width+2*pad, b.Height+2*pad, 0)
}

func roundRect(x, y, w, h, r float64) string {
	r = math.Max(0, math.Min(r, math.Min(w, h)/2))
	if r == 0 {
		return fmt.Sprintf("M%s %s H%s V%s H%s Z", num(x), num(y), num(x+w), num(y+h), num(x))
	}
	return fmt.Sprintf("M%s %s H%s A%s %s 0 0 1 %s %s V%s A%s %s 0 0 1 %s %s H%s A%s %s 0 0 1 %s %s V%s A%s %s 0 0 1 %s %s Z",
		num(x+r), num(y), num(x+w-r), num(r), num(r), num(x+w), num(y+r), num(y+h-r), num(r), num(r), num(x+w-r), num(y+h),
		num(x+r), num(r), num(r), num(x), num(y+h-r), num(y+r), num(r), num(r), num(x+r), num(y))
}

func clamp01(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return math.Max(0, math.Min(1, v))
}

// heatColor maps 0..1 to a yellow-orange-red ramp that reads on light and dark
// backgrounds alike.
func heatColor(h float64) string {
	type stop struct {
		at      float64
		r, g, b float64
	}
	ramp := []stop{{0, 250, 204, 21}, {0.5, 249, 115, 22}, {1, 220, 38, 38}}
	for i := 1; i < len(ramp); i++ {
		if h <= ramp[i].at {
			a, c := ramp[i-1], ramp[i]
			t := (h - a.at) / (c.at - a.at)
			return fmt.Sprintf("#%02x%02x%02x", int(math.Round(a.r+(c.r-a.r)*t)),
				int(math.Round(a.g+(c.g-a.g)*t)), int(math.Round(a.b+(c.b-a.b)*t)))
		}
	}
	return "#dc2626"
}
