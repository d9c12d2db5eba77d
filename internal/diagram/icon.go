package diagram

import (
	"fmt"
	"math"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Icons are SVG fragments in a fixed box: event markers in 36x36 (scaled to the event),
// gateway markers in 50x50, task type icons at the top-left of a task, and activity
// markers in 14x14 boxes along the bottom edge. Their classes pick colors from the style:
// icon (outline on the fill color), icon-solid (filled with the stroke color), icon-knock
// (drawn in the fill color over a solid icon), icon-line / icon-thin / icon-thick (strokes).

// polygon returns the points of a path through pts (x, y pairs), closed.
func polygon(pts ...float64) string {
	var b strings.Builder
	for i := 0; i+1 < len(pts); i += 2 {
		if i == 0 {
			b.WriteString("M")
		} else {
			b.WriteString(" L")
		}
		b.WriteString(num(pts[i]) + " " + num(pts[i+1]))
	}
	b.WriteString(" Z")
	return b.String()
}

// cross returns a plus-shaped polygon centered at (cx, cy) with arms of length arm and
// half thickness half, rotated by deg degrees (45 makes an X).
func cross(cx, cy, arm, half, deg float64) string {
	base := []float64{-half, -arm, half, -arm, half, -half, arm, -half, arm, half, half, half,
		half, arm, -half, arm, -half, half, -arm, half, -arm, -half, -half, -half}
	sin, cos := math.Sincos(deg * math.Pi / 180)
	pts := make([]float64, len(base))
	for i := 0; i < len(base); i += 2 {
		x, y := base[i], base[i+1]
		pts[i], pts[i+1] = cx+x*cos-y*sin, cy+x*sin+y*cos
	}
	return polygon(pts...)
}

// regular returns a regular polygon with n corners on a circle of radius r, one corner up.
func regular(cx, cy, r float64, n int) string {
	pts := make([]float64, 0, 2*n)
	for k := 0; k < n; k++ {
		a := -math.Pi/2 + 2*math.Pi*float64(k)/float64(n)
		pts = append(pts, cx+r*math.Cos(a), cy+r*math.Sin(a))
	}
	return polygon(pts...)
}

// gear returns a gear outline with the given teeth.
func gear(cx, cy, outer, inner float64, teeth int) string {
	var pts []float64
	step := 2 * math.Pi / float64(teeth)
	for k := 0; k < teeth; k++ {
		a := float64(k)*step - math.Pi/2
		for _, p := range [][2]float64{{-0.30, inner}, {-0.17, outer}, {0.17, outer}, {0.30, inner}} {
			pts = append(pts, cx+p[1]*math.Cos(a+p[0]*step), cy+p[1]*math.Sin(a+p[0]*step))
		}
	}
	return polygon(pts...)
}

func path(class, d string) string {
	return fmt.Sprintf(`<path class="%s" d="%s"/>`, class, d)
}

func circle(class string, cx, cy, r float64) string {
	return fmt.Sprintf(`<circle class="%s" cx="%s" cy="%s" r="%s"/>`, class, num(cx), num(cy), num(r))
}

func rect(class string, x, y, w, h, rx float64) string {
	if rx > 0 {
		return fmt.Sprintf(`<rect class="%s" x="%s" y="%s" width="%s" height="%s" rx="%s"/>`,
			class, num(x), num(y), num(w), num(h), num(rx))
	}
	return fmt.Sprintf(`<rect class="%s" x="%s" y="%s" width="%s" height="%s"/>`, class, num(x), num(y), num(w), num(h))
}

// timerFace is the clock of timer events and the timer start of event subprocesses.
var timerFace = func() string {
	var b strings.Builder
	b.WriteString(circle("icon", 18, 18, 11))
	var d strings.Builder
	for k := 0; k < 12; k++ {
		a := float64(k) * math.Pi / 6
		r0 := 8.7
		if k%3 == 0 {
			r0 = 7.8
		}
		fmt.Fprintf(&d, "M%s %s L%s %s ", num(18+r0*math.Cos(a)), num(18+r0*math.Sin(a)),
			num(18+10.3*math.Cos(a)), num(18+10.3*math.Sin(a)))
	}
	b.WriteString(path("icon-thin", strings.TrimSpace(d.String())))
	b.WriteString(path("icon-line", "M18 18 L18.6 10.8 M18 18 L23.2 19.6"))
	return b.String()
}()

// eventIcon returns the marker of an event definition in a 36x36 box, or "".
func eventIcon(t bpmn.EventType, throw, multiple, parallel bool) (name, svg string) {
	solid := "icon"
	if throw {
		solid = "icon-solid"
	}
	switch {
	case multiple && parallel:
		return "parallel-multiple", path("icon", cross(18, 18, 10, 3, 0))
	case multiple:
		return "multiple", path(solid, regular(18, 18.8, 9.5, 5))
	}
	switch t {
	case bpmn.EventMessage:
		if throw {
			return "message", rect("icon-solid", 10.5, 12.5, 15, 11, 0) + path("icon-knock", "M10.5 12.5 L18 18.5 L25.5 12.5")
		}
		return "message", rect("icon", 10.5, 12.5, 15, 11, 0) + path("icon-line", "M10.5 12.5 L18 18.5 L25.5 12.5")
	case bpmn.EventTimer:
		return "timer", timerFace
	case bpmn.EventError:
		return "error", path(solid, "M9.5 28.1 L15.7 13.7 L20.7 20.9 L26.5 7.9 L22.1 23.8 L17.1 16.6 Z")
	case bpmn.EventSignal:
		return "signal", path(solid, "M18 9.5 L26.5 24.5 L9.5 24.5 Z")
	case bpmn.EventEscalation:
		return "escalation", path(solid, "M18 9 L25 26.5 L18 19.5 L11 26.5 Z")
	case bpmn.EventTerminate:
		return "terminate", circle("icon-solid", 18, 18, 10)
	case bpmn.EventCompensate:
		return "compensate", path(solid, "M9.5 18 L17.5 12.5 L17.5 23.5 Z M17.5 18 L25.5 12.5 L25.5 23.5 Z")
	case bpmn.EventConditional:
		return "conditional", rect("icon", 12, 10, 12, 16, 0) + path("icon-thin", "M14.5 14 H21.5 M14.5 18 H21.5 M14.5 22 H21.5")
	case bpmn.EventLink:
		return "link", path(solid, "M10 15 L19 15 L19 11 L27 18 L19 25 L19 21 L10 21 Z")
	case bpmn.EventCancel:
		return "cancel", path(solid, cross(18, 18, 10, 2.4, 45))
	}
	return "", ""
}

// gatewayIcon returns the marker of a gateway in a 50x50 box, or "".
func gatewayIcon(it *shapeItem) (name, svg string) {
	switch it.kind {
	case bpmn.KindExclusiveGateway:
		// bpmn.io draws the X only where the DI asks for it; this renderer also draws it
		// when the attribute is absent, which is what most tools mean.
		if it.di.IsMarkerVisible != nil && !*it.di.IsMarkerVisible {
			return "", ""
		}
		return "exclusive", path("icon-solid", cross(25, 25, 10.5, 2.3, 45))
	case bpmn.KindParallelGateway:
		return "parallel", path("icon-solid", cross(25, 25, 12, 2.3, 0))
	case bpmn.KindInclusiveGateway:
		return "inclusive", circle("icon-thick", 25, 25, 10.5)
	case bpmn.KindComplexGateway:
		return "complex", path("icon-thick", "M25 13 V37 M13 25 H37 M16.5 16.5 L33.5 33.5 M33.5 16.5 L16.5 33.5")
	case bpmn.KindEventBasedGateway:
		if attrOf(it.el.Extra.Attrs, "eventGatewayType") == "Parallel" {
			return "event-based-parallel", circle("icon-line", 25, 25, 12.5) + path("icon-line", cross(25, 25, 8, 2.2, 0))
		}
		svg := circle("icon-line", 25, 25, 12.5)
		if !it.el.EventGatewayInstantiate {
			svg += circle("icon-thin", 25, 25, 10)
		}
		return "event-based", svg + path("icon-line", regular(25, 25.6, 6.2, 5))
	}
	return "", ""
}

// taskIcon returns the type icon drawn at the top-left of a task, or "".
func taskIcon(k bpmn.Kind) (name, svg string) {
	switch k {
	case bpmn.KindServiceTask:
		return "service", path("icon", gear(12, 12, 7.2, 5.3, 8)) + circle("icon", 12, 12, 2.2) +
			path("icon", gear(18.5, 18.5, 7.2, 5.3, 8)) + circle("icon", 18.5, 18.5, 2.2)
	case bpmn.KindUserTask:
		return "user", path("icon", "M6.5 25 L6.5 21.8 C6.5 18.6 9.3 17.2 11.4 16.7 L15 19.6 L18.6 16.7 C20.7 17.2 23.5 18.6 23.5 21.8 L23.5 25 Z") +
			path("icon-thin", "M10 25 L10 21.6 M20 25 L20 21.6") +
			circle("icon", 15, 11.2, 4.3) + path("icon-solid", "M10.8 10.6 C10.9 6.6 19.1 6.6 19.2 10.6 C17.6 9.2 14.4 8.6 10.8 10.6 Z")
	case bpmn.KindScriptTask:
		return "script", path("icon", "M9.5 7 L21.5 7 C18.5 10 18.5 13 21 16 C23.5 19 23.5 22 20.5 25 L8.5 25 C11.5 22 11.5 19 9 16 C6.5 13 6.5 10 9.5 7 Z") +
			path("icon-thin", "M11 11 L17.5 11 M11.8 14 L18.3 14 M12.2 18 L18.7 18 M11.5 21 L18 21")
	case bpmn.KindSendTask:
		return "send", rect("icon-solid", 6, 8, 19, 13, 0) + path("icon-knock", "M6 8 L15.5 15 L25 8")
	case bpmn.KindReceiveTask:
		return "receive", rect("icon", 6, 8, 19, 13, 0) + path("icon-line", "M6 8 L15.5 15 L25 8")
	case bpmn.KindManualTask:
		return "manual", path("icon", "M6 21.5 L6 15 C6 13.5 7.5 12.5 9 12.3 L13 9.3 C14 8.6 15.2 9.8 14.3 10.8 L12.8 12.8 "+
			"L23.2 12.8 C24.4 12.8 24.4 14.8 23.2 14.8 L18.5 14.8 L24 14.8 C25.2 14.8 25.2 16.8 24 16.8 L18.5 16.8 "+
			"L23.5 16.8 C24.7 16.8 24.7 18.8 23.5 18.8 L18.5 18.8 L22 18.8 C23.2 18.8 23.2 20.8 22 20.8 L11.5 20.8 "+
			"C9 20.8 8 21.5 6 21.5 Z")
	case bpmn.KindBusinessRuleTask:
		return "business-rule", rect("icon", 6, 9, 18, 13, 0) + rect("icon-solid", 6, 9, 18, 4, 0) +
			path("icon-thin", "M6 17.5 L24 17.5 M11 13 L11 22")
	}
	return "", ""
}

// activityMarkers returns the names of the markers along the bottom of an activity.
func activityMarkers(it *shapeItem) []string {
	var m []string
	switch it.el.Loop {
	case bpmn.LoopStandard:
		m = append(m, "loop")
	case bpmn.LoopMultiParallel:
		m = append(m, "parallel")
	case bpmn.LoopMultiSequence:
		m = append(m, "sequential")
	}
	if it.el.ForCompensation {
		m = append(m, "compensation")
	}
	if it.subMarker {
		m = append(m, "sub-process")
	}
	if it.kind == bpmn.KindAdHocSubProcess {
		m = append(m, "ad-hoc")
	}
	return m
}

// markerIcon returns a bottom marker in a 14x14 box at (x, y).
func markerIcon(name string, x, y float64) string {
	at := func(s string) string {
		return fmt.Sprintf(`<g class="marker marker-%s" transform="translate(%s %s)">%s</g>`, name, num(x), num(y), s)
	}
	switch name {
	case "sub-process":
		return at(rect("icon", 0, 0, 14, 14, 0) + path("icon-line", "M7 3 L7 11 M3 7 L11 7"))
	case "loop":
		return at(path("icon-line", "M3.2 11.2 A5.4 5.4 0 1 1 10.8 11.2") + path("icon-line", "M0.6 10.6 L3.2 11.2 L3.4 8.4"))
	case "parallel":
		return at(path("icon-bar", "M3 1 L3 13 M7 1 L7 13 M11 1 L11 13"))
	case "sequential":
		return at(path("icon-bar", "M1 3 L13 3 M1 7 L13 7 M1 11 L13 11"))
	case "ad-hoc":
		return at(path("icon-line", "M0.5 9 C2.5 4.5 5 4.5 7 7 C9 9.5 11.5 9.5 13.5 5"))
	case "compensation":
		return at(path("icon", "M0.5 7 L6.8 2.5 L6.8 11.5 Z M6.8 7 L13.1 2.5 L13.1 11.5 Z"))
	}
	return ""
}
