package diagram

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

var update = flag.Bool("update", false, "rewrite the golden SVG files under testdata/")

const miwgDir = "../engine/bpmn/testdata/miwg"

// svgNode is a parsed SVG element, enough to find groups by attribute.
type svgNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []svgNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *svgNode) attr(local string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (n *svgNode) walk(fn func(*svgNode)) {
	fn(n)
	for i := range n.Nodes {
		n.Nodes[i].walk(fn)
	}
}

// text returns the character data of n and its descendants, lines joined by "\n".
func (n *svgNode) text() string {
	var parts []string
	n.walk(func(k *svgNode) {
		if k.XMLName.Local == "tspan" || k.XMLName.Local == "title" {
			parts = append(parts, k.Text)
		}
	})
	return strings.Join(parts, "\n")
}

// parseSVG checks that b is one well-formed XML document and returns its tree.
func parseSVG(t *testing.T, b []byte) *svgNode {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
	var root svgNode
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("parse SVG: %v", err)
	}
	if root.XMLName.Local != "svg" || root.XMLName.Space != "http://www.w3.org/2000/svg" || root.attr("viewBox") == "" {
		t.Fatalf("root is %v with viewBox %q, want an <svg> in the SVG namespace with a viewBox", root.XMLName, root.attr("viewBox"))
	}
	return &root
}

// byTestID indexes the elements of the tree by data-testid.
func byTestID(root *svgNode) map[string][]*svgNode {
	m := map[string][]*svgNode{}
	root.walk(func(n *svgNode) {
		if id := n.attr("data-testid"); id != "" {
			m[id] = append(m[id], n)
		}
	})
	return m
}

func floats(t *testing.T, s string) []float64 {
	t.Helper()
	var out []float64
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("not a number list: %q", s)
		}
		out = append(out, v)
	}
	return out
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

func load(t testing.TB, path string) *bpmn.Definitions {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := bpmn.ParseBytes(b)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return d
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./internal/diagram -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering; check the change visually and rerun with -update", path)
	}
}

// checkDI asserts that every shape and edge of the diagram appears with its DI geometry.
func checkDI(t *testing.T, dg *bpmn.Diagram, root *svgNode) {
	t.Helper()
	ids := byTestID(root)
	for _, s := range dg.Plane.Shapes {
		ref := s.ElementRef
		if ref == "" {
			ref = s.ID // a shape of no element is named by its DI id
		}
		nodes := ids["shape-"+ref]
		if len(nodes) == 0 {
			t.Errorf("shape %s (%s) is not drawn", s.ElementRef, s.ID)
			continue
		}
		want := []float64{s.Bounds.X, s.Bounds.Y, s.Bounds.Width, s.Bounds.Height}
		found := false
		for _, n := range nodes {
			found = found || sameFloats(floats(t, n.attr("data-bounds")), want)
			if n.attr("data-element-id") != s.ElementRef || s.ElementRef == "" && n.attr("data-di-id") != s.ID {
				t.Errorf("shape %s has data-element-id %q", s.ElementRef, n.attr("data-element-id"))
			}
		}
		if !found {
			t.Errorf("shape %s drawn at %s, want %v", s.ElementRef, nodes[0].attr("data-bounds"), want)
		}
	}
	for _, e := range dg.Plane.Edges {
		ref := e.ElementRef
		if ref == "" {
			ref = e.ID // an edge of no element is named by its DI id
		}
		nodes := ids["edge-"+ref]
		if len(nodes) == 0 {
			t.Errorf("edge %s (%s) is not drawn", e.ElementRef, e.ID)
			continue
		}
		var want []float64
		for _, p := range e.Waypoints {
			want = append(want, p.X, p.Y)
		}
		if got := floats(t, nodes[0].attr("data-waypoints")); !sameFloats(got, want) {
			t.Errorf("edge %s drawn through %v, want %v", e.ElementRef, got, want)
		}
	}
}

func TestMIWG(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(miwgDir, "*.bpmn"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no MIWG models in %s: %v", miwgDir, err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bpmn")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := load(t, f)
			if len(d.Diagrams) == 0 {
				t.Fatal("model has no diagram")
			}
			svg, err := Render(d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			root := parseSVG(t, svg)
			checkDI(t, d.Diagrams[0], root)
			checkInView(t, root)
			golden(t, filepath.Join("miwg", name+".svg"), svg)
		})
	}
}

// checkInView asserts that the viewBox holds every shape, edge and label drawn.
func checkInView(t *testing.T, root *svgNode) {
	t.Helper()
	vb := floats(t, root.attr("viewBox"))
	inside := func(what string, x, y float64) {
		if x < vb[0]-1e-6 || y < vb[1]-1e-6 || x > vb[0]+vb[2]+1e-6 || y > vb[1]+vb[3]+1e-6 {
			t.Errorf("%s: point %v,%v is outside the viewBox %v", what, x, y, vb)
		}
	}
	root.walk(func(n *svgNode) {
		if b := n.attr("data-bounds"); b != "" {
			f := floats(t, b)
			inside(n.attr("data-testid"), f[0], f[1])
			inside(n.attr("data-testid"), f[0]+f[2], f[1]+f[3])
		}
		if w := n.attr("data-waypoints"); w != "" {
			f := floats(t, w)
			for i := 0; i+1 < len(f); i += 2 {
				inside(n.attr("data-testid"), f[i], f[i+1])
			}
		}
		if strings.HasPrefix(n.attr("data-testid"), "label-") {
			n.walk(func(k *svgNode) {
				if k.XMLName.Local == "tspan" {
					x, _ := strconv.ParseFloat(k.attr("x"), 64)
					y, _ := strconv.ParseFloat(k.attr("y"), 64)
					inside(n.attr("data-testid"), x, y)
				}
			})
		}
	})
}

// hasClass reports whether n or an element inside it has the class.
func hasClass(n *svgNode, class string) bool {
	found := false
	n.walk(func(k *svgNode) {
		found = found || strings.Contains(" "+k.attr("class")+" ", " "+class+" ")
	})
	return found
}

// TestDrawn checks the pieces of a collaboration as Camunda Modeler writes it: process
// data inputs and outputs, message envelopes, an edge without element, calls of global
// tasks, a black-box pool, every event subprocess start and boundary kind.
func TestDrawn(t *testing.T) {
	t.Parallel()
	d := load(t, "testdata/drawn.bpmn")
	svg, err := Render(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := parseSVG(t, svg)
	checkDI(t, d.Diagrams[0], root)
	checkInView(t, root)
	golden(t, "drawn.svg", svg)
	ids := byTestID(root)
	tests := []struct {
		id      string
		classes []string // on the group or inside it
		absent  []string
	}{
		{"shape-orderIn", []string{"bpmn-dataInput", "marker-dataInput", "icon", "fold"}, []string{"icon-solid", "marker-collection", "bpmn-unknown"}},
		{"shape-linesIn", []string{"bpmn-dataInput", "marker-collection"}, nil},
		{"shape-receiptOut", []string{"bpmn-dataOutput", "marker-dataOutput", "icon-solid"}, nil},
		{"label-orderIn", []string{"label"}, nil},
		{"edge-readOrder", []string{"bpmn-dataInputAssociation", "arrow-lines"}, nil},
		{"edge-writeReceipt", []string{"bpmn-dataOutputAssociation", "arrow-lines"}, nil},
		{"edge-m1", []string{"bpmn-messageFlow", "marker-message", "message-initiating", "envelope"}, []string{"message-non-initiating"}},
		{"edge-m2", []string{"marker-message", "message-non-initiating"}, []string{"message-initiating"}},
		{"edge-m3", []string{"bpmn-messageFlow"}, []string{"marker-message"}},
		{"edge-noteLink_di", []string{"bpmn-association", "no-element"}, []string{"arrow", "arrow-lines"}},
		{"shape-loose_di", []string{"bpmn-unknown", "no-element"}, nil},
		{"shape-customer", []string{"bpmn-participant", "black-box"}, []string{"band"}},
		{"shape-shopPool", []string{"bpmn-participant", "band"}, []string{"black-box"}},
		{"shape-callUser", []string{"bpmn-callActivity", "marker-user"}, []string{"marker-sub-process"}},
		{"shape-callGlobal", []string{"bpmn-callActivity"}, []string{"marker-sub-process", "marker-user"}},
		{"shape-callMany", []string{"bpmn-callActivity", "marker-sequential", "marker-sub-process"}, nil},
		{"shape-rate", []string{"marker-business-rule", "marker-parallel"}, nil},
		{"shape-small", []string{"marker-manual", "marker-loop", "marker-compensation"}, nil},
		{"shape-pm", []string{"marker-parallel-multiple"}, []string{"marker-multiple"}},
		{"shape-evgw", []string{"marker-event-based"}, nil},
		{"shape-pevgw", []string{"marker-event-based-parallel"}, nil},
		{"shape-cx", []string{"marker-complex"}, nil},
		{"shape-split", []string{"marker-inclusive"}, nil},
		{"shape-lthrow", []string{"marker-link", "icon-solid"}, nil},
		{"shape-lcatch", []string{"marker-link"}, []string{"icon-solid"}},
		{"shape-esc", []string{"event-end", "marker-escalation"}, nil},
		{"shape-bSignal", []string{"non-interrupting", "marker-signal"}, nil},
		{"shape-bCond", []string{"marker-conditional"}, []string{"non-interrupting"}},
		{"shape-bEsc", []string{"non-interrupting", "marker-escalation"}, nil},
		{"shape-bMsg", []string{"non-interrupting", "marker-message"}, nil},
		{"shape-tx", []string{"bpmn-transaction", "inner", "expanded"}, nil},
		{"shape-txCancel", []string{"marker-cancel"}, nil},
		{"shape-txCancelled", []string{"bpmn-boundaryEvent", "marker-cancel"}, []string{"non-interrupting"}},
		{"shape-shipComp", []string{"marker-compensate"}, nil},
		{"shape-unship", []string{"marker-compensation"}, nil},
		{"edge-compAssoc", []string{"bpmn-association", "arrow-lines"}, nil},
		{"shape-picks", []string{"collapsed", "marker-sequential", "marker-sub-process"}, nil},
		{"shape-adhoc", []string{"marker-ad-hoc", "marker-sub-process"}, nil},
		{"shape-evCollapsed", []string{"event-subprocess", "collapsed", "marker-sub-process", "trigger", "non-interrupting", "marker-signal"}, nil},
		{"shape-es_timer", []string{"non-interrupting", "marker-timer"}, nil},
		{"shape-es_error", []string{"marker-error"}, []string{"non-interrupting"}},
		{"shape-es_escalation", []string{"non-interrupting", "marker-escalation"}, nil},
		{"shape-es_signal", []string{"marker-signal"}, []string{"non-interrupting"}},
		{"shape-es_conditional", []string{"non-interrupting", "marker-conditional"}, nil},
		{"shape-es_compensate", []string{"marker-compensate"}, []string{"non-interrupting", "icon-solid"}},
		{"shape-es_message", []string{"non-interrupting", "marker-message"}, nil},
		{"shape-evsub_timer", []string{"event-subprocess", "expanded"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			nodes := ids[tc.id]
			if len(nodes) != 1 {
				t.Fatalf("%d groups for %s, want 1", len(nodes), tc.id)
			}
			for _, c := range tc.classes {
				if !hasClass(nodes[0], c) {
					t.Errorf("%s lacks class %s", tc.id, c)
				}
			}
			for _, c := range tc.absent {
				if hasClass(nodes[0], c) {
					t.Errorf("%s has class %s", tc.id, c)
				}
			}
		})
	}
	// The edge of no element links nothing a click could open.
	if n := ids["edge-noteLink_di"]; len(n) == 1 && n[0].attr("data-element-id") != "" {
		t.Errorf("edge without element has data-element-id %q", n[0].attr("data-element-id"))
	}
	s, err := Prepare(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Has("") {
		t.Error(`Has("") is true: the shape or edge without element is indexed`)
	}
	// The envelope sits halfway along the flow: m1 runs from y 0 to 212 at x 250.
	env := ""
	ids["edge-m1"][0].walk(func(n *svgNode) {
		if n.attr("class") == "envelope" {
			env = n.attr("x") + " " + n.attr("y") + " " + n.attr("width") + " " + n.attr("height")
		}
	})
	if env != "240 99 20 14" {
		t.Errorf("envelope of m1 at %q, want 240 99 20 14", env)
	}
}

// TestTaskLabel lays out names in tasks of every common size, with and without a type
// icon and bottom markers: the lines stay inside the shape, clear of the icon and the
// markers where the shape has room for that, keep the words in order, and end in "…"
// exactly when words are left out.
func TestTaskLabel(t *testing.T) {
	t.Parallel()
	names := []string{
		"Ship",
		"Check order",
		"Check the customer's credit limit",
		"Check the customer's credit limit and the payment history of the last two years before the order ships",
		"Supercalifragilisticexpialidocious",
		"Überprüfe die Bestellung des Kunden und reserviere die Ware im Lager",
	}
	sizes := [][2]float64{{100, 80}, {120, 80}, {150, 60}, {200, 80}, {80, 60}, {80, 40}, {60, 40}, {100, 100}, {50, 30}}
	lh := fontSize * lineHeight
	for _, sz := range sizes {
		for _, icon := range []bool{false, true} {
			for _, markers := range []bool{false, true} {
				for _, name := range names {
					wd, h := sz[0], sz[1]
					reserve := 0.0
					if markers {
						reserve = markerSize + markerBottom + 2
					}
					lines, cx, top := taskLabel(name, wd, h, icon, reserve)
					where := fmt.Sprintf("%vx%v icon=%v markers=%v %q: %q", wd, h, icon, markers, name, lines)
					if len(lines) == 0 {
						t.Errorf("%s: no lines", where)
						continue
					}
					wide := widest(lines)
					left, right := cx-wide/2, cx+wide/2
					if left < 4 || right > wd-4 {
						t.Errorf("%s: lines run from x %.1f to %.1f, outside the shape", where, left, right)
					}
					bottom := top + float64(len(lines))*lh
					if top < 0 || bottom > h+0.01 {
						t.Errorf("%s: block from y %.1f to %.1f, outside the shape", where, top, bottom)
					}
					for i, ln := range lines {
						lineTop, lineLeft := top+float64(i)*lh+capGap, cx-textWidth(ln, fontSize)/2
						if icon && wd >= 60 && h >= 40 && lineTop < iconBottom && lineLeft < iconRight {
							t.Errorf("%s: line %q at x %.1f, y %.1f covers the type icon", where, ln, lineLeft, lineTop)
						}
					}
					if markers && h >= 40 && bottom > h-markerSize-markerBottom {
						t.Errorf("%s: block ends at y %.1f, on the markers", where, bottom)
					}
					joined := strings.Join(lines, " ")
					cutShort := strings.HasSuffix(joined, "…")
					joined = strings.TrimSuffix(joined, "…")
					words := strings.Fields(name)
					if !cutShort && joined != strings.Join(words, " ") && strings.ReplaceAll(joined, " ", "") != strings.Join(words, "") {
						t.Errorf("%s: uncut lines lose words of the name", where)
					}
					if cutShort && !strings.HasPrefix(strings.Join(words, ""), strings.ReplaceAll(joined, " ", "")) {
						t.Errorf("%s: cut lines are not the start of the name", where)
					}
				}
			}
		}
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	lines := []string{"Check the", "customer's credit", "limit"}
	if got := cut(lines, 3, 100, fontSize); !slices.Equal(got, lines) {
		t.Errorf("cut to as many lines changed them: %q", got)
	}
	got := cut(lines, 2, 100, fontSize)
	if len(got) != 2 || got[0] != "Check the" || !strings.HasSuffix(got[1], "…") || textWidth(got[1], fontSize) > 100 {
		t.Errorf("cut to 2 lines = %q, want the first line whole and the second ending in … within 100", got)
	}
	if got := cut(lines, 1, 30, fontSize); len(got) != 1 || textWidth(got[0], fontSize) > 30 || !strings.HasSuffix(got[0], "…") {
		t.Errorf("cut to one narrow line = %q", got)
	}
	if got := cut(lines, 0, 100, fontSize); len(got) != 1 {
		t.Errorf("cut to 0 lines kept %d, want 1", len(got))
	}
}

// TestMarkers checks the classes that say which marker each element carries, on a model
// with one element of each drawable kind.
func TestMarkers(t *testing.T) {
	t.Parallel()
	d := load(t, "testdata/kinds.bpmn")
	svg, err := Render(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := parseSVG(t, svg)
	checkDI(t, d.Diagrams[0], root)
	golden(t, "kinds.svg", svg)
	ids := byTestID(root)

	tests := []struct {
		id      string
		classes []string // on the group or inside it
		absent  []string
	}{
		{"start_none", []string{"bpmn-startEvent", "event-start"}, []string{"marker"}},
		{"start_message", []string{"marker-message", "icon-line"}, []string{"icon-solid"}},
		{"start_timer", []string{"marker-timer"}, nil},
		{"start_conditional", []string{"marker-conditional"}, nil},
		{"start_signal", []string{"marker-signal"}, nil},
		{"catch_message", []string{"event-intermediate", "event-catch", "ring", "marker-message"}, []string{"icon-solid"}},
		{"throw_message", []string{"event-intermediate", "event-throw", "marker-message", "icon-solid", "icon-knock"}, nil},
		{"catch_timer", []string{"marker-timer"}, nil},
		{"throw_escalation", []string{"marker-escalation", "icon-solid"}, nil},
		{"catch_link", []string{"marker-link"}, []string{"icon-solid"}},
		{"throw_link", []string{"marker-link", "icon-solid"}, nil},
		{"throw_compensate", []string{"marker-compensate"}, nil},
		{"throw_signal", []string{"marker-signal", "icon-solid"}, nil},
		{"catch_multiple", []string{"marker-multiple"}, nil},
		{"end_none", []string{"bpmn-endEvent", "event-end"}, []string{"marker"}},
		{"end_message", []string{"marker-message", "icon-solid"}, nil},
		{"end_error", []string{"marker-error", "icon-solid"}, nil},
		{"end_escalation", []string{"marker-escalation"}, nil},
		{"end_terminate", []string{"marker-terminate"}, nil},
		{"end_cancel", []string{"marker-cancel"}, nil},
		{"end_compensate", []string{"marker-compensate"}, nil},
		{"end_signal", []string{"marker-signal"}, nil},
		{"boundary_timer", []string{"bpmn-boundaryEvent", "non-interrupting", "marker-timer"}, nil},
		{"boundary_error", []string{"bpmn-boundaryEvent", "marker-error"}, []string{"non-interrupting"}},
		{"event_start", []string{"non-interrupting", "marker-message"}, nil},
		{"task_plain", []string{"bpmn-task", "bpmn-activity"}, []string{"marker"}},
		{"task_service", []string{"marker-service"}, nil},
		{"task_user", []string{"marker-user"}, nil},
		{"task_script", []string{"marker-script"}, nil},
		{"task_send", []string{"marker-send", "icon-solid"}, nil},
		{"task_receive", []string{"marker-receive", "marker-compensation"}, []string{"icon-solid"}},
		{"task_manual", []string{"marker-manual"}, nil},
		{"task_rule", []string{"marker-business-rule"}, nil},
		{"task_loop", []string{"marker-loop"}, nil},
		{"task_parallel", []string{"marker-parallel"}, []string{"marker-sequential"}},
		{"task_sequential", []string{"marker-sequential"}, []string{"marker-parallel"}},
		{"call_process", []string{"bpmn-callActivity", "marker-sub-process"}, nil},
		{"sub_collapsed", []string{"collapsed", "marker-sub-process"}, nil},
		{"adhoc_collapsed", []string{"marker-sub-process", "marker-ad-hoc"}, nil},
		{"sub_expanded", []string{"expanded"}, []string{"marker-sub-process"}},
		{"sub_event", []string{"event-subprocess", "expanded"}, nil},
		{"tx", []string{"bpmn-transaction", "inner"}, nil},
		{"adhoc_expanded", []string{"marker-ad-hoc"}, []string{"marker-sub-process"}},
		{"gw_exclusive", []string{"bpmn-gateway", "marker-exclusive"}, nil},
		{"gw_exclusive_blank", []string{"bpmn-exclusiveGateway"}, []string{"marker"}},
		{"gw_parallel", []string{"marker-parallel"}, nil},
		{"gw_inclusive", []string{"marker-inclusive"}, nil},
		{"gw_event", []string{"marker-event-based"}, nil},
		{"gw_complex", []string{"marker-complex"}, nil},
		{"dref", []string{"bpmn-dataObjectReference", "marker-collection"}, nil},
		{"dstore", []string{"bpmn-dataStoreReference"}, nil},
		{"note", []string{"bpmn-textAnnotation", "bracket"}, nil},
		{"grp", []string{"bpmn-group"}, nil},
		{"flow_default", []string{"bpmn-sequenceFlow", "default-flow", "default-marker", "arrow"}, []string{"conditional-marker"}},
		{"flow_cond", []string{"conditional-flow", "conditional-marker"}, []string{"default-marker"}},
		{"assoc", []string{"bpmn-association"}, []string{"arrow"}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			nodes := append(ids["shape-"+tc.id], ids["edge-"+tc.id]...)
			if len(nodes) != 1 {
				t.Fatalf("%d groups for %s, want 1", len(nodes), tc.id)
			}
			for _, c := range tc.classes {
				if !hasClass(nodes[0], c) {
					t.Errorf("%s lacks class %s", tc.id, c)
				}
			}
			for _, c := range tc.absent {
				if hasClass(nodes[0], c) {
					t.Errorf("%s has class %s", tc.id, c)
				}
			}
		})
	}
}

// TestText checks that names are escaped, survive the round trip through XML and wrap
// inside their task.
func TestText(t *testing.T) {
	t.Parallel()
	d := load(t, "testdata/kinds.bpmn")
	idx := bpmn.NewIndex(d)
	idx.Element("task_plain").Name = `Check <order> & "ship" it 'now'`
	idx.Element("start_none").Name = "A\x01B" // not representable in XML
	svg, err := Render(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(svg, []byte("<order>")) || bytes.Contains(svg, []byte("\x01")) {
		t.Fatal("text is not escaped")
	}
	ids := byTestID(parseSVG(t, svg))
	task := ids["shape-task_plain"][0]
	if got := strings.ReplaceAll(task.text(), "\n", " "); got != `Check <order> & "ship" it 'now'` {
		t.Errorf("task text = %q", got)
	}
	if strings.Count(task.text(), "\n") == 0 {
		t.Errorf("a long name in a 100-wide task is not wrapped: %q", task.text())
	}
	if got := ids["label-start_none"][0].text(); got != "A\uFFFDB" {
		t.Errorf("label with a control character = %q", got)
	}
	if got := ids["shape-note"][0].text(); !strings.Contains(strings.ReplaceAll(got, "\n", " "), `"quotes" & <brackets>`) {
		t.Errorf("annotation text = %q", got)
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text  string
		width float64
		want  []string
	}{
		{"", 90, nil},
		{"Task 1", 90, []string{"Task 1"}},
		{"Review declined payment", 90, []string{"Review declined", "payment"}},
		{"Collapsed\nSub-Process", 90, []string{"Collapsed", "Sub-Process"}},
		{"Supercalifragilisticexpialidocious", 60, []string{"Supercalifr", "agilisticexp", "ialidocious"}},
		{"  spaced   out  ", 90, []string{"spaced out"}},
		{"narrow", -5, []string{"n", "ar", "ro", "w"}},
	}
	for _, tc := range tests {
		if got := wrap(tc.text, tc.width, fontSize); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("wrap(%q, %v) = %q, want %q", tc.text, tc.width, got, tc.want)
		}
	}
}

func orderOverlay() *Overlay {
	return &Overlay{
		Active:    map[string]int{"Task_ReviewPayment": 3, "Event_WaitSettlement": 12, "Task_ShipOrder": 1},
		Incidents: map[string]int{"Task_ShipOrder": 2, "Task_ChargePayment": 1},
		Completed: map[string]int{"StartEvent_OrderPlaced": 1520, "Task_Checkout": 1519, "EndEvent_OrderRejected": 4},
		Current:   map[string]bool{"Task_ReviewPayment": true},
		Visited:   map[string]bool{"StartEvent_OrderPlaced": true, "Task_Checkout": true, "Task_ChargePayment": true, "Event_PaymentDeclined": true},
		Taken:     map[string]bool{"Flow_ToCheckout": true, "Flow_ToCharge": true, "Flow_ToReview": true},
		Heat:      map[string]float64{"Task_PrepareInvoice": 0.9, "Task_ReserveInventory": 0.3, "Flow_ToInvoice": 0.8},
		Titles:    map[string]string{"Task_PrepareInvoice": "p95 4.2s <slow>", "Flow_ToInvoice": "taken 812 times"},
		Selected:  "Gateway_PaymentOk",
		// Stalled with an incident (ShipOrder) and without one (WaitSettlement).
		Stalled:     map[string]int{"Task_ShipOrder": 1, "Event_WaitSettlement": 1250},
		StallTitles: map[string]string{"Task_ShipOrder": "1 stalled: waiting > 15m <p99>"},
	}
}

func TestOverlay(t *testing.T) {
	t.Parallel()
	d := load(t, "../demo/flows/order.bpmn")
	ov := orderOverlay()
	ov.Active["no-such-element"] = 5 // ignored
	svg, err := Render(d, Options{Overlay: ov})
	if err != nil {
		t.Fatal(err)
	}
	root := parseSVG(t, svg)
	golden(t, "order-overlay.svg", svg)
	ids := byTestID(root)

	badges := []struct {
		testid string
		count  int
		text   string
	}{
		{"badge-active-Task_ReviewPayment", 3, "3"},
		{"badge-active-Event_WaitSettlement", 12, "12"},
		{"badge-incidents-Task_ShipOrder", 2, "2"},
		{"badge-active-Task_ShipOrder", 1, "1"},
		{"badge-incidents-Task_ChargePayment", 1, "1"},
		{"badge-completed-StartEvent_OrderPlaced", 1520, "1.5k"},
		{"badge-completed-EndEvent_OrderRejected", 4, "4"},
		{"badge-stalled-Task_ShipOrder", 1, "1"},
		{"badge-stalled-Event_WaitSettlement", 1250, "1.2k"},
	}
	for _, b := range badges {
		n := ids[b.testid]
		if len(n) != 1 {
			t.Errorf("%s: %d badges, want 1", b.testid, len(n))
			continue
		}
		if got := n[0].attr("data-count"); got != strconv.Itoa(b.count) {
			t.Errorf("%s data-count = %s, want %d", b.testid, got, b.count)
		}
		var text string
		n[0].walk(func(k *svgNode) {
			if k.XMLName.Local == "text" {
				text = k.Text
			}
		})
		if text != b.text {
			t.Errorf("%s shows %q, want %q", b.testid, text, b.text)
		}
	}
	if len(ids["badge-active-no-such-element"]) != 0 {
		t.Error("badge drawn for an element the diagram does not have")
	}
	if len(ids["badge-completed-Task_ReviewPayment"]) != 0 {
		t.Error("badge drawn for a zero count")
	}

	// The overlay layer is one group, last in the SVG, and RenderOverlay returns exactly it.
	last := root.Nodes[len(root.Nodes)-1]
	if last.attr("id") != "overlays" {
		t.Fatalf("last layer is %v %q, want g#overlays", last.XMLName.Local, last.attr("id"))
	}
	frag, err := RenderOverlay(d, Options{Overlay: ov})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(frag, []byte(`<g id="overlays"`)) || !bytes.Contains(svg, frag) {
		t.Errorf("RenderOverlay is not the overlay layer of Render:\n%s", frag)
	}
	var fragRoot svgNode
	if err := xml.Unmarshal(frag, &fragRoot); err != nil {
		t.Fatalf("overlay fragment is not well-formed: %v", err)
	}

	classes := map[string]string{
		"Task_ReviewPayment":  "hl-current",
		"Task_ShipOrder":      "hl-incident",
		"Task_Checkout":       "hl-visited",
		"Gateway_PaymentOk":   "hl-selected",
		"Task_PrepareInvoice": "heat",
		"Flow_ToCharge":       "hl-taken",
		"Flow_ToInvoice":      "heat",
	}
	for id, class := range classes {
		n := ids["overlay-"+id]
		if len(n) != 1 {
			t.Errorf("no overlay group for %s", id)
			continue
		}
		found := false
		n[0].walk(func(k *svgNode) { found = found || strings.Contains(" "+k.attr("class")+" ", " "+class+" ") })
		if !found {
			t.Errorf("overlay of %s lacks %s", id, class)
		}
	}
	if got := ids["overlay-Task_PrepareInvoice"][0].text(); got != "p95 4.2s <slow>" {
		t.Errorf("tooltip = %q", got)
	}
	// A stall badge has its own tooltip (given, or the count), and the element a dashed
	// outline besides its incident outline: stalls are drawn apart from incidents.
	if got := ids["badge-stalled-Task_ShipOrder"][0].text(); !strings.Contains(got, "1 stalled: waiting > 15m <p99>") {
		t.Errorf("stall tooltip = %q", got)
	}
	if got := ids["badge-stalled-Event_WaitSettlement"][0].text(); !strings.Contains(got, "1250 stalled") {
		t.Errorf("default stall tooltip = %q", got)
	}
	for _, id := range []string{"Task_ShipOrder", "Event_WaitSettlement"} {
		var outlines []string
		ids["overlay-"+id][0].walk(func(k *svgNode) {
			if c := k.attr("class"); strings.HasPrefix(c, "hl ") {
				outlines = append(outlines, c)
			}
		})
		if !slices.Contains(outlines, "hl hl-stalled") {
			t.Errorf("%s outlines %v, want hl-stalled", id, outlines)
		}
	}

	empty, err := RenderOverlay(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(empty) != `<g id="overlays" class="overlays"></g>` {
		t.Errorf("empty overlay = %s", empty)
	}
}

// TestScene checks that a prepared scene renders the same as the one-shot functions and
// that overlays of one scene are independent.
func TestScene(t *testing.T) {
	t.Parallel()
	d := load(t, "../demo/flows/order.bpmn")
	s, err := Prepare(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	one, err := Render(d, Options{Overlay: orderOverlay()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.SVG(orderOverlay()), one) {
		t.Error("Scene.SVG differs from Render")
	}
	if bytes.Contains(s.SVG(nil), []byte("badge-active-")) {
		t.Error("overlay of an earlier call leaked into a later one")
	}
	if !s.Has("Task_Checkout") || !s.Has("Flow_ToCheckout") || s.Has("nope") {
		t.Error("Has is wrong")
	}
}

// canonical returns the exported XML of d, to compare a model before and after.
func canonical(t *testing.T, d *bpmn.Definitions) []byte {
	t.Helper()
	b, err := bpmn.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLayoutWhenNoDI(t *testing.T) {
	t.Parallel()
	built, err := bpmn.Build("built", bpmn.Name("Built")).
		Start("start", bpmn.Name("Go")).
		ServiceTask("work", bpmn.Name("Do the work"), bpmn.JobType("work")).
		BoundaryTimer("late", bpmn.Duration("PT1H"), bpmn.NonInterrupting()).End("chased").
		MoveTo("work").
		ExclusiveGateway("ok", bpmn.Name("OK?")).
		Condition("x > 1").UserTask("approve").End("done", bpmn.Terminate()).
		Default().End("failed", bpmn.ErrorEnd("E1")).
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	stripped := load(t, filepath.Join(miwgDir, "A.1.0.bpmn"))
	stripped.Diagrams = nil

	tests := []struct {
		name string
		defs *bpmn.Definitions
		pid  string
	}{
		{"built", built, ""},
		{"built by process id", built, "built"},
		{"A.1.0 without DI", stripped, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := canonical(t, tc.defs)
			nDiagrams := len(tc.defs.Diagrams)
			svg, err := Render(tc.defs, Options{ProcessID: tc.pid})
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.defs.Diagrams) != nDiagrams || !bytes.Equal(before, canonical(t, tc.defs)) {
				t.Fatal("Render changed the caller's model")
			}
			ids := byTestID(parseSVG(t, svg))
			for _, p := range tc.defs.Processes {
				for _, e := range p.Elements {
					if e.Kind.IsFlowNode() && len(ids["shape-"+e.ID]) != 1 {
						t.Errorf("flow node %s is not drawn", e.ID)
					}
				}
				for _, f := range p.Flows {
					if len(ids["edge-"+f.ID]) != 1 {
						t.Errorf("flow %s is not drawn", f.ID)
					}
				}
			}
		})
	}
	svg, err := Render(built, Options{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "built-layout.svg", svg)
}

func TestModelNotMutated(t *testing.T) {
	t.Parallel()
	for _, f := range []string{filepath.Join(miwgDir, "B.1.0.bpmn"), "testdata/kinds.bpmn"} {
		d := load(t, f)
		before := canonical(t, d)
		if _, err := Render(d, Options{Overlay: &Overlay{Active: map[string]int{"x": 1}}}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, canonical(t, d)) {
			t.Errorf("%s: Render changed the model", f)
		}
	}
}

// noDI is a model without diagram interchange: drawing it lays out a copy.
const noDI = `<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="p">` +
	`<startEvent id="s"/><task id="t" name="Task"/><endEvent id="e"/>` +
	`<sequenceFlow id="f1" sourceRef="s" targetRef="t"/><sequenceFlow id="f2" sourceRef="t" targetRef="e"/></process></definitions>`

func TestLayoutCopyLeavesModelAlone(t *testing.T) {
	t.Parallel()
	d, err := bpmn.ParseBytes([]byte(noDI))
	if err != nil {
		t.Fatal(err)
	}
	before := canonical(t, d)
	svg, err := Render(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte(`data-element-id="t"`)) {
		t.Errorf("the laid-out task is not drawn:\n%s", svg)
	}
	if len(d.Diagrams) != 0 || !bytes.Equal(before, canonical(t, d)) {
		t.Errorf("Render changed the model")
	}
}

// deepModel nests subprocesses without DI as deep as bpmn.MaxDepth allows.
func deepModel() string {
	var b strings.Builder
	b.WriteString(`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="p">`)
	levels := bpmn.MaxDepth - 3
	for i := range levels {
		fmt.Fprintf(&b, `<startEvent id="s%d"/><sequenceFlow id="f%d" sourceRef="s%d" targetRef="sp%d"/><subProcess id="sp%d" name="level %[1]d">`, i, i, i, i, i)
	}
	b.WriteString(`<startEvent id="in"/>` + strings.Repeat(`</subProcess>`, levels) + `</process></definitions>`)
	return b.String()
}

// A model at the depth limit draws in space linear in the model (the page that drew it
// used to export and re-parse the model, which grew with the square of the depth).
func TestDepthLimitModelDrawsLinearly(t *testing.T) {
	t.Parallel()
	in := deepModel()
	d, err := bpmn.ParseBytes([]byte(in))
	if err != nil {
		t.Fatalf("a model at the depth limit: %v", err)
	}
	svg, err := Render(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	parseSVG(t, svg)
	// About 1 KB of SVG per subprocess, start event and flow drawn.
	if len(svg) > 16*len(in)+len(DefaultCSS)+4096 {
		t.Errorf("%d bytes of model drew %d bytes of SVG", len(in), len(svg))
	}
}

// A name of any length is drawn in at most maxLines lines.
func TestLongNamesAreCut(t *testing.T) {
	t.Parallel()
	for name, text := range map[string]string{
		"words":    strings.Repeat("word ", 200000),
		"one word": strings.Repeat("x", 1<<20),
		"lines":    strings.Repeat("line\n", 200000),
	} {
		doc := strings.Replace(noDI, `name="Task"`, `name="`+text+`"`, 1)
		doc = strings.Replace(doc, `<startEvent id="s"/>`, `<startEvent id="s" name="`+text+`"/>`, 1)
		d, err := bpmn.ParseBytes([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		svg, err := Render(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(svg, []byte("<tspan")); n > 2*maxLines {
			t.Errorf("%s: %d lines drawn", name, n)
		}
		if !bytes.Contains(svg, []byte("…")) {
			t.Errorf("%s: the cut is not marked", name)
		}
	}
}

func TestPrepareBudget(t *testing.T) {
	t.Parallel()
	d, err := bpmn.ParseBytes([]byte(deepModel()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PrepareContext(ctx, d, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("drawing with a spent budget: %v", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	if _, err := Render(nil, Options{}); !errors.Is(err, ErrNoDefinitions) {
		t.Errorf("nil definitions: %v", err)
	}
	d := load(t, filepath.Join(miwgDir, "A.1.0.bpmn"))
	if _, err := Render(d, Options{ProcessID: "nope"}); !errors.Is(err, ErrUnknownProcess) {
		t.Errorf("unknown process: %v", err)
	}
	svg, err := Render(&bpmn.Definitions{}, Options{})
	if err != nil {
		t.Fatalf("empty document: %v", err)
	}
	parseSVG(t, svg)
}

// TestPickDiagram checks which plane is drawn for a process of a collaboration.
func TestPickDiagram(t *testing.T) {
	t.Parallel()
	d := load(t, filepath.Join(miwgDir, "A.4.0.bpmn"))
	for _, p := range d.Processes {
		s, err := Prepare(d, Options{ProcessID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.shapes) != len(d.Diagrams[0].Plane.Shapes) {
			t.Errorf("process %s: %d shapes drawn, want the collaboration's %d", p.ID, len(s.shapes), len(d.Diagrams[0].Plane.Shapes))
		}
	}
}

// TestRandomSubsets renders MIWG models with random parts removed or broken: it must
// never panic and always produce well-formed SVG.
func TestRandomSubsets(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(miwgDir, "*.bpmn"))
	files = append(files, "testdata/kinds.bpmn", "../demo/flows/order.bpmn")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(len(f)), 42))
			for range 30 {
				d := load(t, f)
				mutate(rng, d)
				ov := &Overlay{Active: map[string]int{}, Heat: map[string]float64{}, Taken: map[string]bool{}, Titles: map[string]string{}}
				for _, dg := range d.Diagrams {
					for _, s := range dg.Plane.Shapes {
						ov.Active[s.ElementRef] = rng.IntN(3)
						ov.Heat[s.ElementRef] = rng.Float64()*3 - 1
					}
					for _, e := range dg.Plane.Edges {
						ov.Taken[e.ElementRef] = rng.IntN(2) == 0
						ov.Titles[e.ElementRef] = "<&>"
					}
				}
				svg, err := Render(d, Options{Overlay: ov})
				if err != nil {
					t.Fatal(err)
				}
				parseSVG(t, svg)
			}
		})
	}
}

// mutate drops or breaks random parts of d: DI shapes and edges, waypoints, labels,
// elements, flows, and bounds.
func mutate(rng *rand.Rand, d *bpmn.Definitions) {
	for _, dg := range d.Diagrams {
		pl := &dg.Plane
		var shapes []*bpmn.Shape
		for _, s := range pl.Shapes {
			switch rng.IntN(8) {
			case 0:
				continue
			case 1:
				s.Bounds = bpmn.Bounds{X: rng.Float64() * 1000, Y: -rng.Float64() * 100, Width: rng.Float64() * 3, Height: 0}
			case 2:
				s.Label = &bpmn.Label{Bounds: &bpmn.Bounds{Width: -5}}
			case 3:
				s.ElementRef = "missing"
			}
			shapes = append(shapes, s)
		}
		pl.Shapes = shapes
		var edges []*bpmn.Edge
		for _, e := range pl.Edges {
			switch rng.IntN(6) {
			case 0:
				continue
			case 1:
				e.Waypoints = e.Waypoints[:rng.IntN(len(e.Waypoints)+1)]
			case 2:
				if len(e.Waypoints) > 0 {
					e.Waypoints = append(e.Waypoints, e.Waypoints[len(e.Waypoints)-1])
				}
			}
			edges = append(edges, e)
		}
		pl.Edges = edges
	}
	for _, p := range d.Processes {
		if rng.IntN(3) == 0 && len(p.Elements) > 0 {
			i := rng.IntN(len(p.Elements))
			p.Elements = append(p.Elements[:i], p.Elements[i+1:]...)
		}
		if rng.IntN(3) == 0 && len(p.Flows) > 0 {
			i := rng.IntN(len(p.Flows))
			p.Flows = append(p.Flows[:i], p.Flows[i+1:]...)
		}
	}
	if rng.IntN(5) == 0 {
		d.Diagrams = nil
	}
}

func FuzzRender(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(miwgDir, "*.bpmn"))
	for _, name := range append(files, "testdata/kinds.bpmn") {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := bpmn.ParseBytes(b)
		if err != nil {
			return
		}
		svg, err := Render(d, Options{})
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		parseSVG(t, svg)
	})
}

// TestEmptyConditionIsConditional: A.2.1 writes a conditionExpression without text on the
// flow from Task 4; the flow still leaves its task with the conditional diamond.
func TestEmptyConditionIsConditional(t *testing.T) {
	t.Parallel()
	svg, err := Render(load(t, filepath.Join(miwgDir, "A.2.1.bpmn")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := byTestID(parseSVG(t, svg))["edge-_To9Z8zOCEeSknpIVFCxNIQ"]
	if len(n) != 1 || !hasClass(n[0], "conditional-marker") {
		t.Error("flow with an empty conditionExpression has no conditional marker")
	}
}

// TestNamesClearOfBoundaryEvents: the name of a task stays above the boundary events on
// its bottom edge (C.3.0's timer and message boundaries, drawn.bpmn's four on one task).
func TestNamesClearOfBoundaryEvents(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range []string{filepath.Join(miwgDir, "C.3.0.bpmn"), filepath.Join(miwgDir, "A.3.0.bpmn"), "testdata/drawn.bpmn"} {
		s, err := Prepare(load(t, f), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range s.shapes {
			if it.boundaryRoom == 0 {
				continue
			}
			checked++
			icon, _ := taskIcon(it.kind)
			reserve := it.boundaryRoom
			if len(activityMarkers(it)) > 0 {
				reserve = math.Max(reserve, markerSize+markerBottom+2)
			}
			lines, _, top := taskLabel(it.name, it.b.Width, it.b.Height, icon != "", reserve)
			if bottom := top + float64(len(lines))*fontSize*lineHeight; bottom > it.b.Height-it.boundaryRoom+0.01 {
				t.Errorf("%s: %s: name %q ends at %.1f, below the top of its boundary events at %.1f",
					filepath.Base(f), it.id, lines, bottom, it.b.Height-it.boundaryRoom)
			}
		}
	}
	if checked < 5 {
		t.Errorf("%d tasks with boundary events on their bottom edge, want at least 5", checked)
	}
}

// TestEventSubprocessTokens: the live diagram shows the tokens of a running event
// subprocess (at the event subprocess and at the task inside it) like those of any
// subprocess: the instance page counts tokens by element id, drawn on the modeller's DI.
func TestEventSubprocessTokens(t *testing.T) {
	t.Parallel()
	d := load(t, "../engine/testdata/eventsub_process.bpmn")
	svg, err := Render(d, Options{Overlay: &Overlay{
		Active:  map[string]int{"paymentFailed": 1, "notifyCustomer": 1},
		Current: map[string]bool{"notifyCustomer": true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ids := byTestID(parseSVG(t, svg))
	for _, id := range []string{"badge-active-paymentFailed", "badge-active-notifyCustomer"} {
		if len(ids[id]) != 1 {
			t.Errorf("%s: %d badges, want 1", id, len(ids[id]))
		}
	}
}

// TestTroubleInsideCollapsedShows: the content of a collapsed event subprocess is drawn on
// a plane of its own (as Camunda Modeler 5 writes it); an incident or a stall there shows
// on the subprocess in the main diagram, without changing the caller's maps, while a
// token inside adds nothing (the subprocess has its own scope token).
func TestTroubleInsideCollapsedShows(t *testing.T) {
	t.Parallel()
	s, err := Prepare(load(t, "testdata/drawn.bpmn"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ov := &Overlay{
		Incidents: map[string]int{"strike": 2, "evCollapsed": 1},
		Stalled:   map[string]int{"strike": 1},
		Active:    map[string]int{"strike": 1, "evCollapsed": 1},
	}
	ids := byTestID(parseSVG(t, s.SVG(ov)))
	count := func(testid string) string {
		if n := ids[testid]; len(n) == 1 {
			return n[0].attr("data-count")
		}
		return ""
	}
	if got := count("badge-incidents-evCollapsed"); got != "3" {
		t.Errorf("incident badge on the collapsed subprocess counts %q, want 3", got)
	}
	if got := count("badge-stalled-evCollapsed"); got != "1" {
		t.Errorf("stall badge on the collapsed subprocess counts %q, want 1", got)
	}
	if got := count("badge-active-evCollapsed"); got != "1" {
		t.Errorf("active badge on the collapsed subprocess counts %q, want 1 (its own scope token)", got)
	}
	if ov.Incidents["evCollapsed"] != 1 || len(ov.Incidents) != 2 || len(ov.Stalled) != 1 {
		t.Errorf("the caller's overlay changed: %v %v", ov.Incidents, ov.Stalled)
	}
	if len(ids["overlay-strike"]) != 0 {
		t.Error("the element inside, which this diagram does not draw, has an overlay")
	}
}

// TestLoopBadge: a multi-instance body's counts are a text pill at the shape's
// bottom-left corner, with the text as given.
func TestLoopBadge(t *testing.T) {
	t.Parallel()
	d := load(t, "../demo/flows/order.bpmn")
	svg, err := Render(d, Options{Overlay: &Overlay{Loops: map[string]string{"Task_ReviewPayment": "2/5", "no-such-element": "1/1"}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := byTestID(parseSVG(t, svg))
	n := ids["badge-loop-Task_ReviewPayment"]
	if len(n) != 1 || n[0].attr("data-text") != "2/5" {
		t.Fatalf("loop badges %v", n)
	}
	var text string
	n[0].walk(func(k *svgNode) {
		if k.XMLName.Local == "text" {
			text = k.Text
		}
	})
	if text != "2/5" || len(ids["badge-loop-no-such-element"]) != 0 {
		t.Errorf("loop badge shows %q", text)
	}
}
