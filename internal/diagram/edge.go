package diagram

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Sizes of the line ends.
const (
	arrowLength = 11.0
	arrowHalf   = 3.8
	cornerR     = 5.0 // radius of the rounded bends
)

func edgeClasses(e *edgeItem) string {
	c := []string{"djs-connection", "bpmn-" + string(e.kind)}
	if e.isDefault {
		c = append(c, "default-flow")
	}
	if e.conditional {
		c = append(c, "conditional-flow")
	}
	return strings.Join(c, " ")
}

func waypointsAttr(pts []bpmn.Point) string {
	var b strings.Builder
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(exact(p.X) + "," + exact(p.Y))
	}
	return b.String()
}

func drawEdge(w *bytes.Buffer, e *edgeItem) {
	if e.id == "" {
		// No element: no data-element-id (a click leads nowhere), the DI id names it.
		fmt.Fprintf(w, `<g class="%s no-element" data-di-id="%s" data-testid="edge-%s" data-waypoints="%s">`,
			edgeClasses(e), esc(e.diID), esc(e.diID), waypointsAttr(e.pts))
	} else {
		fmt.Fprintf(w, `<g class="%s" data-element-id="%s" data-testid="edge-%s" data-waypoints="%s">`,
			edgeClasses(e), esc(e.id), esc(e.id), waypointsAttr(e.pts))
	}
	pts := dedupe(e.pts)
	if len(pts) < 2 {
		w.WriteString("</g>")
		return
	}
	w.WriteString(path("djs-hit", linePath(pts)))
	var startTrim, endTrim float64
	var ends strings.Builder
	first, last := pts[0], pts[len(pts)-1]
	u0 := unit(pts[1], first)         // direction leaving the source
	u1 := unit(last, pts[len(pts)-2]) // direction entering the target
	switch e.kind {
	case bpmn.KindSequenceFlow:
		ends.WriteString(arrow("arrow", last, u1, arrowLength, arrowHalf))
		endTrim = arrowLength / 2
		switch {
		case e.isDefault:
			c := along(first, u0, 10)
			n := bpmn.Point{X: -u0.Y, Y: u0.X}
			d := bpmn.Point{X: n.X + u0.X*0.6, Y: n.Y + u0.Y*0.6}
			ends.WriteString(fmt.Sprintf(`<path class="default-marker" d="M%s %s L%s %s"/>`,
				num(c.X-5*d.X), num(c.Y-5*d.Y), num(c.X+5*d.X), num(c.Y+5*d.Y)))
		case e.conditional:
			n := bpmn.Point{X: -u0.Y, Y: u0.X}
			m, far := along(first, u0, 8), along(first, u0, 16)
			ends.WriteString(path("conditional-marker", polygon(first.X, first.Y, m.X+4.5*n.X, m.Y+4.5*n.Y,
				far.X, far.Y, m.X-4.5*n.X, m.Y-4.5*n.Y)))
			startTrim = 16
		}
	case bpmn.KindMessageFlow:
		ends.WriteString(circle("message-start", first.X, first.Y, 4.5))
		ends.WriteString(arrow("arrow-open", last, u1, arrowLength, arrowHalf))
		startTrim, endTrim = 4.5, arrowLength
	case bpmn.KindDataInputAssoc, bpmn.KindDataOutputAssoc:
		ends.WriteString(openArrow(last, u1))
	case bpmn.KindAssociation:
		switch strings.ToLower(e.direction) {
		case "one":
			ends.WriteString(openArrow(last, u1))
		case "both":
			ends.WriteString(openArrow(last, u1))
			ends.WriteString(openArrow(first, bpmn.Point{X: -u0.X, Y: -u0.Y}))
		}
	}
	w.WriteString(path("line", linePath(trim(pts, startTrim, endTrim))))
	w.WriteString(ends.String())
	if e.message != "" {
		w.WriteString(envelope(midpoint(pts), e.message))
	}
	w.WriteString("</g>")
}

// envelope returns the message marker of a message flow centered at c: white for an
// initiating message, shaded for a non-initiating one (BPMN's messageVisibleKind).
func envelope(c bpmn.Point, kind string) string {
	class := "message-initiating"
	if kind == "non_initiating" {
		class = "message-non-initiating"
	}
	x, y := c.X-10, c.Y-7
	return fmt.Sprintf(`<g class="marker marker-message %s">%s%s</g>`, class,
		rect("envelope", x, y, 20, 14, 0),
		path("envelope-flap", fmt.Sprintf("M%s %s L%s %s L%s %s", num(x), num(y), num(c.X), num(c.Y), num(x+20), num(y))))
}

// midpoint returns the point halfway along the polyline pts (at least two points).
func midpoint(pts []bpmn.Point) bpmn.Point {
	total := 0.0
	for i := 1; i < len(pts); i++ {
		total += math.Hypot(pts[i].X-pts[i-1].X, pts[i].Y-pts[i-1].Y)
	}
	rest := total / 2
	for i := 1; i < len(pts); i++ {
		l := math.Hypot(pts[i].X-pts[i-1].X, pts[i].Y-pts[i-1].Y)
		if l >= rest && l > 0 {
			return along(pts[i-1], unit(pts[i], pts[i-1]), rest)
		}
		rest -= l
	}
	return pts[len(pts)-1]
}

// dedupe drops repeated points, which have no direction.
func dedupe(pts []bpmn.Point) []bpmn.Point {
	var out []bpmn.Point
	for _, p := range pts {
		if n := len(out); n > 0 && math.Hypot(p.X-out[n-1].X, p.Y-out[n-1].Y) < 0.01 {
			continue
		}
		out = append(out, p)
	}
	return out
}

func unit(to, from bpmn.Point) bpmn.Point {
	dx, dy := to.X-from.X, to.Y-from.Y
	l := math.Hypot(dx, dy)
	if l == 0 {
		return bpmn.Point{X: 1}
	}
	return bpmn.Point{X: dx / l, Y: dy / l}
}

func along(p, u bpmn.Point, d float64) bpmn.Point {
	return bpmn.Point{X: p.X + u.X*d, Y: p.Y + u.Y*d}
}

// trim shortens the polyline at its ends (under an arrowhead or start marker), never
// beyond its first or last segment.
func trim(pts []bpmn.Point, start, end float64) []bpmn.Point {
	out := append([]bpmn.Point(nil), pts...)
	if l := math.Hypot(out[1].X-out[0].X, out[1].Y-out[0].Y); start > 0 && l > start {
		out[0] = along(out[0], unit(out[1], out[0]), start)
	}
	n := len(out)
	if l := math.Hypot(out[n-1].X-out[n-2].X, out[n-1].Y-out[n-2].Y); end > 0 && l > end {
		out[n-1] = along(out[n-1], unit(out[n-2], out[n-1]), end)
	}
	return out
}

// linePath returns a path through pts with rounded bends.
func linePath(pts []bpmn.Point) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%s %s", num(pts[0].X), num(pts[0].Y))
	for i := 1; i < len(pts)-1; i++ {
		p, prev, next := pts[i], pts[i-1], pts[i+1]
		lin, lout := math.Hypot(p.X-prev.X, p.Y-prev.Y), math.Hypot(next.X-p.X, next.Y-p.Y)
		r := math.Min(cornerR, math.Min(lin, lout)/2)
		a := along(p, unit(prev, p), r)
		c := along(p, unit(next, p), r)
		fmt.Fprintf(&b, " L%s %s Q%s %s %s %s", num(a.X), num(a.Y), num(p.X), num(p.Y), num(c.X), num(c.Y))
	}
	last := pts[len(pts)-1]
	fmt.Fprintf(&b, " L%s %s", num(last.X), num(last.Y))
	return b.String()
}

// arrow returns a closed arrowhead with its tip at tip, pointing along u.
func arrow(class string, tip, u bpmn.Point, length, half float64) string {
	base := along(tip, u, -length)
	n := bpmn.Point{X: -u.Y, Y: u.X}
	return path(class, polygon(tip.X, tip.Y, base.X+half*n.X, base.Y+half*n.Y, base.X-half*n.X, base.Y-half*n.Y))
}

// openArrow returns the two strokes of an open arrowhead (associations).
func openArrow(tip, u bpmn.Point) string {
	base := along(tip, u, -arrowLength)
	n := bpmn.Point{X: -u.Y, Y: u.X}
	h := arrowHalf * 1.4
	return fmt.Sprintf(`<path class="arrow-lines" d="M%s %s L%s %s L%s %s"/>`,
		num(base.X+h*n.X), num(base.Y+h*n.Y), num(tip.X), num(tip.Y), num(base.X-h*n.X), num(base.Y-h*n.Y))
}
