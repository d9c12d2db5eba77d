package diagram

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// drawStatic writes the layers below the overlay: containers (pools, lanes, expanded
// subprocesses), the other shapes, edges (on top, as bpmn.io draws them: a message flow's
// start circle sits on its task's border), groups, then all external labels, so that
// labels never hide under a line or shape.
func (s *Scene) drawStatic(ctx context.Context) ([]byte, error) {
	var w bytes.Buffer
	// check enforces the budget every 256 items drawn.
	n := 0
	check := func() error {
		if n++; n%256 != 0 {
			return nil
		}
		if w.Len() > MaxBytes {
			return fmt.Errorf("%w: more than %d MiB of SVG", ErrTooLarge, MaxBytes>>20)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("diagram: %w", err)
		}
		return nil
	}
	w.WriteString(`<g class="layer-base">`)
	i := 0
	for ; i < len(s.shapes) && s.shapes[i].rank < rankGroup; i++ {
		drawShape(&w, s.shapes[i])
		if err := check(); err != nil {
			return nil, err
		}
	}
	for _, e := range s.edges {
		drawEdge(&w, e)
		if err := check(); err != nil {
			return nil, err
		}
	}
	for ; i < len(s.shapes); i++ {
		drawShape(&w, s.shapes[i])
		if err := check(); err != nil {
			return nil, err
		}
	}
	w.WriteString(`</g><g class="layer-labels">`)
	for _, it := range s.shapes {
		drawLabel(&w, it.label, "shape")
		if err := check(); err != nil {
			return nil, err
		}
	}
	for _, e := range s.edges {
		drawLabel(&w, e.label, "edge")
		if err := check(); err != nil {
			return nil, err
		}
	}
	w.WriteString(`</g>`)
	if w.Len() > MaxBytes {
		return nil, fmt.Errorf("%w: more than %d MiB of SVG", ErrTooLarge, MaxBytes>>20)
	}
	return w.Bytes(), nil
}

// shapeClasses returns the classes of a shape group: djs-shape, bpmn-<kind> and modifiers.
func shapeClasses(it *shapeItem) string {
	c := []string{"djs-shape", "bpmn-" + string(it.kind)}
	el := it.el
	switch k := it.kind; {
	case k.IsEvent():
		switch {
		case k == bpmn.KindStartEvent:
			c = append(c, "event-start")
		case k == bpmn.KindEndEvent:
			c = append(c, "event-end")
		default:
			c = append(c, "event-intermediate")
		}
		if it.throw {
			c = append(c, "event-throw")
		} else {
			c = append(c, "event-catch")
		}
		if k == bpmn.KindBoundaryEvent && !el.CancelActivity || k == bpmn.KindStartEvent && !el.IsInterrupting {
			c = append(c, "non-interrupting")
		}
	case k.IsActivity():
		if it.expanded {
			c = append(c, "expanded")
		} else if k.IsSubProcess() {
			c = append(c, "collapsed")
		}
		if el.TriggeredByEvent {
			c = append(c, "event-subprocess")
		}
		if k.IsSubProcess() || k == bpmn.KindCallActivity || k == bpmn.KindTask ||
			k == bpmn.KindServiceTask || k == bpmn.KindUserTask || k == bpmn.KindScriptTask ||
			k == bpmn.KindSendTask || k == bpmn.KindReceiveTask || k == bpmn.KindManualTask ||
			k == bpmn.KindBusinessRuleTask {
			c = append(c, "bpmn-activity")
		}
	case k.IsGateway():
		c = append(c, "bpmn-gateway")
	case k == kindParticipant || k == kindLane:
		if !it.horizontal {
			c = append(c, "vertical")
		}
		if it.blackBox {
			c = append(c, "black-box")
		}
	}
	return strings.Join(c, " ")
}

func drawShape(w *bytes.Buffer, it *shapeItem) {
	b := it.b
	if it.id == "" {
		// No element: no data-element-id (a click leads nowhere), the DI id names it.
		fmt.Fprintf(w, `<g class="%s no-element" data-di-id="%s" data-testid="shape-%s" data-bounds="%s %s %s %s" transform="translate(%s %s)">`,
			shapeClasses(it), esc(it.di.ID), esc(it.di.ID), exact(b.X), exact(b.Y), exact(b.Width), exact(b.Height), num(b.X), num(b.Y))
	} else {
		fmt.Fprintf(w, `<g class="%s" data-element-id="%s" data-testid="shape-%s" data-bounds="%s %s %s %s" transform="translate(%s %s)">`,
			shapeClasses(it), esc(it.id), esc(it.id), exact(b.X), exact(b.Y), exact(b.Width), exact(b.Height), num(b.X), num(b.Y))
	}
	switch k := it.kind; {
	case k.IsEvent():
		drawEvent(w, it)
	case k.IsGateway():
		drawGateway(w, it)
	case k.IsActivity():
		drawActivity(w, it)
	case k == kindParticipant || k == kindLane:
		drawPool(w, it)
	case k == bpmn.KindDataObjectReference || k == bpmn.KindDataObject:
		drawDataObject(w, it)
	case k == kindDataInput || k == kindDataOutput:
		drawDataObject(w, it)
		// bpmn.io's data arrow: hollow for an input, solid for an output.
		class := "icon"
		if k == kindDataOutput {
			class = "icon-solid"
		}
		fmt.Fprintf(w, `<g class="marker marker-%s">%s</g>`, k, path(class, "M5 9 L14 9 L14 6 L19 11 L14 16 L14 13 L5 13 Z"))
	case k == bpmn.KindDataStoreReference:
		drawDataStore(w, it)
	case k == bpmn.KindTextAnnotation:
		drawAnnotation(w, it)
	case k == bpmn.KindGroup:
		w.WriteString(rect("body", 0, 0, b.Width, b.Height, 10))
	default:
		w.WriteString(rect("body", 0, 0, b.Width, b.Height, 0))
		writeLines(w, "text", wrap(it.name, b.Width-10, fontSize), b.Width/2, b.Height/2, fontSize, "middle", true)
	}
	w.WriteString("</g>")
}

func drawEvent(w *bytes.Buffer, it *shapeItem) {
	r := math.Min(it.b.Width, it.b.Height) / 2
	cx, cy := it.b.Width/2, it.b.Height/2
	w.WriteString(circle("body", cx, cy, r))
	if k := it.kind; k != bpmn.KindStartEvent && k != bpmn.KindEndEvent {
		w.WriteString(circle("ring", cx, cy, r-3))
	}
	var t bpmn.EventType
	if it.el.Event != nil {
		t = it.el.Event.Type
	}
	name, svg := eventIcon(t, it.throw, len(it.el.Multiple) > 1, it.parallelMI)
	if name == "" {
		return
	}
	sc := 2 * r / 36
	fmt.Fprintf(w, `<g class="marker marker-%s" transform="translate(%s %s) scale(%s)">%s</g>`,
		name, num(cx-18*sc), num(cy-18*sc), num(math.Round(sc*1000)/1000), svg)
}

func drawGateway(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	w.WriteString(path("body", polygon(wd/2, 0, wd, h/2, wd/2, h, 0, h/2)))
	name, svg := gatewayIcon(it)
	if name == "" {
		return
	}
	sc := math.Min(wd, h) / 50
	fmt.Fprintf(w, `<g class="marker marker-%s" transform="translate(%s %s) scale(%s)">%s</g>`,
		name, num(wd/2-25*sc), num(h/2-25*sc), num(math.Round(sc*1000)/1000), svg)
}

// iconBottom and iconRight are where the type icon of a task ends; capGap is how far
// below the top of its line a capital letter starts (the line's half-leading and the
// ascent above the cap height).
const (
	iconBottom = 24.0
	iconRight  = 26.0
	capGap     = (0.95 - 0.72) * fontSize
)

// Bottom markers: their size, the gap between them and their distance from the bottom.
const (
	markerSize   = 14.0
	markerGap    = 4.0
	markerBottom = 4.0
)

func drawActivity(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	w.WriteString(rect("body", 0, 0, wd, h, 10))
	if it.kind == bpmn.KindTransaction {
		w.WriteString(rect("inner", 3, 3, wd-6, h-6, 7))
	}
	kind := it.kind
	if it.globalKind != "" {
		kind = it.globalKind
	}
	icon, svg := taskIcon(kind)
	if icon != "" {
		fmt.Fprintf(w, `<g class="marker marker-%s">%s</g>`, icon, svg)
	}
	if tr := it.trigger; tr != nil {
		// A collapsed event subprocess shows its start event, small, where a task has
		// its type icon.
		class := "trigger"
		if !tr.IsInterrupting {
			class += " non-interrupting"
		}
		name, svg := eventIcon(tr.Event.Type, false, len(tr.Multiple) > 1, attrOf(tr.Extra.Attrs, "parallelMultiple") == "true")
		fmt.Fprintf(w, `<g class="%s" transform="translate(3 3)">%s<g class="marker marker-%s" transform="scale(0.556)">%s</g></g>`,
			class, circle("body", 10, 10, 10), name, svg)
		icon = "trigger"
	}
	markers := activityMarkers(it)
	if it.expanded {
		lines := wrap(it.name, wd-20, fontSize)
		lines = cut(lines, int((h-16)/(fontSize*lineHeight)), wd-20, fontSize)
		writeLines(w, "text", lines, 10, 8, fontSize, "start", false)
	} else {
		reserve := it.boundaryRoom
		if len(markers) > 0 {
			reserve = math.Max(reserve, markerSize+markerBottom+2)
		}
		lines, cx, top := taskLabel(it.name, wd, h, icon != "", reserve)
		writeLines(w, "text", lines, cx, top, fontSize, "middle", false)
	}
	x := wd/2 - (float64(len(markers))*markerSize+float64(len(markers)-1)*markerGap)/2
	for _, m := range markers {
		w.WriteString(markerIcon(m, x, h-markerSize-markerBottom))
		x += markerSize + markerGap
	}
}

// taskLabel lays out the name of a collapsed activity of size wd x h: wrapped to the
// shape's width less a padding, centered, kept clear of the type icon at the top-left
// (icon) and of the reserve at the bottom (markers, boundary events), and cut with "…"
// where it is taller than the room left. It returns the lines, the center of the block
// and its top.
func taskLabel(name string, wd, h float64, icon bool, reserve float64) (lines []string, cx, top float64) {
	const pad = 5.0
	lh := fontSize * lineHeight
	lo, hi := pad-1, h-pad+1
	if reserve > 0 {
		hi = math.Min(hi, h-reserve)
	}
	if hi-lo < lh {
		// A shape too low for what sits at its bottom and a line: they give way.
		lo, hi = math.Max(0, h/2-lh/2), math.Min(h, h/2+lh/2)
	}
	rows := func(lo float64) int { return int((hi - lo + 0.01) / lh) }
	center := func(lines []string, lo float64) float64 {
		th := float64(len(lines)) * lh
		return math.Max(lo, math.Min((h-th)/2, hi-th))
	}
	full := wrap(name, wd-2*pad, fontSize)
	if !icon {
		full = cut(full, rows(lo), wd-2*pad, fontSize)
		return full, wd / 2, center(full, lo)
	}
	// Centered in the whole room, the block misses the icon when each line that reaches
	// down beside the icon stays clear of it (the letters start below the top of their line).
	if len(full) <= rows(lo) {
		top := center(full, lo)
		clear := true
		for i, ln := range full {
			if top+float64(i)*lh+capGap < iconBottom && (wd-textWidth(ln, fontSize))/2 < iconRight {
				clear = false
			}
		}
		if clear {
			return full, wd / 2, top
		}
	}
	// Else below the icon at full width, or in the column right of it, whichever shows
	// the whole name; failing both, whichever shows more of it.
	below := iconBottom + 1
	colW := wd - iconRight - pad
	if len(full) <= rows(below) {
		return full, wd / 2, center(full, below)
	}
	var beside []string
	if colW >= 2*fontSize {
		beside = wrap(name, colW, fontSize)
		if len(beside) <= rows(lo) {
			return beside, iconRight + colW/2, center(beside, lo)
		}
		beside = cut(beside, rows(lo), colW, fontSize)
	}
	if rows(below) >= 1 {
		full = cut(full, rows(below), wd-2*pad, fontSize)
		if shown(full) >= shown(beside) {
			return full, wd / 2, center(full, below)
		}
	}
	if beside != nil {
		return beside, iconRight + colW/2, center(beside, lo)
	}
	// No room clear of the icon: the name goes over it.
	full = cut(wrap(name, wd-2*pad, fontSize), rows(lo), wd-2*pad, fontSize)
	return full, wd / 2, center(full, lo)
}

// shown counts the letters lines show, the ellipsis aside.
func shown(lines []string) int {
	n := 0
	for _, ln := range lines {
		n += utf8.RuneCountInString(strings.TrimSuffix(ln, "…"))
	}
	return n
}

// widest returns the width of the widest line.
func widest(lines []string) float64 {
	w := 0.0
	for _, ln := range lines {
		w = math.Max(w, textWidth(ln, fontSize))
	}
	return w
}

// drawPool draws a pool or lane: its body, the name band and the name, rotated for
// horizontal pools. Only pools draw the line closing the band: a lane's band is bounded by
// its pool's band and the lane's own border.
func drawPool(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	w.WriteString(rect("body", 0, 0, wd, h, 0))
	const band = 30.0
	// The band holds two lines of the name.
	bandLines := int(math.Floor(band / (fontSize * lineHeight)))
	if it.blackBox {
		// A pool without a process (a black box) has no band: its name is in its middle.
		lines := wrap(it.name, wd-10, fontSize)
		lines = cut(lines, int(math.Max(1, (h-4)/(fontSize*lineHeight))), wd-10, fontSize)
		writeLines(w, "text", lines, wd/2, h/2, fontSize, "middle", true)
		return
	}
	if it.horizontal {
		if it.kind == kindParticipant {
			w.WriteString(path("band", fmt.Sprintf("M%s 0 L%s %s", num(band), num(band), num(h))))
		}
		lines := cut(wrap(it.name, h-10, fontSize), bandLines, h-10, fontSize)
		fmt.Fprintf(w, `<g transform="translate(%s %s) rotate(-90)">`, num(band/2), num(h/2))
		writeLines(w, "text", lines, 0, 0, fontSize, "middle", true)
		w.WriteString("</g>")
		return
	}
	if it.kind == kindParticipant {
		w.WriteString(path("band", fmt.Sprintf("M0 %s L%s %s", num(band), num(wd), num(band))))
	}
	writeLines(w, "text", cut(wrap(it.name, wd-10, fontSize), bandLines, wd-10, fontSize), wd/2, band/2, fontSize, "middle", true)
}

func drawDataObject(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	fold := math.Min(10, math.Min(wd, h)/3)
	w.WriteString(path("body", fmt.Sprintf("M0 0 L%s 0 L%s %s L%s %s L0 %s Z", num(wd-fold), num(wd), num(fold), num(wd), num(h), num(h))))
	w.WriteString(path("fold", fmt.Sprintf("M%s 0 L%s %s L%s %s", num(wd-fold), num(wd-fold), num(fold), num(wd), num(fold))))
	if it.collection {
		cx := wd / 2
		fmt.Fprintf(w, `<g class="marker marker-collection">%s</g>`, path("icon-bar",
			fmt.Sprintf("M%s %s L%s %s M%s %s L%s %s M%s %s L%s %s", num(cx-4), num(h-13), num(cx-4), num(h-3),
				num(cx), num(h-13), num(cx), num(h-3), num(cx+4), num(h-13), num(cx+4), num(h-3))))
	}
}

func drawDataStore(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	ry := math.Min(8, h/6)
	rx := wd / 2
	arc := func(y float64) string {
		return fmt.Sprintf("M0 %s A%s %s 0 0 0 %s %s", num(y), num(rx), num(ry), num(wd), num(y))
	}
	w.WriteString(path("body", fmt.Sprintf("M0 %s L0 %s A%s %s 0 0 0 %s %s L%s %s A%s %s 0 0 0 0 %s Z",
		num(ry), num(h-ry), num(rx), num(ry), num(wd), num(h-ry), num(wd), num(ry), num(rx), num(ry), num(ry))))
	w.WriteString(path("fold", arc(ry)+" "+arc(ry+4)+" "+arc(ry+8)))
}

func drawAnnotation(w *bytes.Buffer, it *shapeItem) {
	wd, h := it.b.Width, it.b.Height
	w.WriteString(rect("hit", 0, 0, wd, h, 0))
	w.WriteString(path("bracket", fmt.Sprintf("M10 0 L0 0 L0 %s L10 %s", num(h), num(h))))
	lines := wrap(it.name, wd-10, fontSize)
	top := 5.0
	if th := float64(len(lines)) * fontSize * lineHeight; th < h-10 {
		top = (h - th) / 2
	}
	writeLines(w, "text", lines, 5, top, fontSize, "start", false)
}

// writeLines writes lines as one <text>, anchored at x; y is the top of the block, or its
// middle when centered.
func writeLines(w *bytes.Buffer, class string, lines []string, x, y, size float64, anchor string, centered bool) {
	if len(lines) == 0 {
		return
	}
	lh := size * lineHeight
	top := y
	if centered {
		top = y - float64(len(lines))*lh/2
	}
	fmt.Fprintf(w, `<text class="%s"`, class)
	if anchor != "start" {
		fmt.Fprintf(w, ` text-anchor="%s"`, anchor)
	}
	w.WriteString(">")
	for i, ln := range lines {
		// The baseline sits the ascent (plus half the leading) below the top of the line.
		fmt.Fprintf(w, `<tspan x="%s" y="%s">%s</tspan>`, num(x), num(top+float64(i)*lh+0.95*size), esc(ln))
	}
	w.WriteString("</text>")
}

// drawLabel writes an external label in the label layer.
func drawLabel(w *bytes.Buffer, l *labelItem, of string) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, `<g class="djs-label label-%s" data-element-id="%s" data-testid="label-%s">`, of, esc(l.id), esc(l.id))
	writeLines(w, "label", l.lines, l.cx, l.top, l.size, "middle", false)
	w.WriteString("</g>")
}
