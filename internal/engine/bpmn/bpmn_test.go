package bpmn

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseFixture(t *testing.T, name string) *Definitions {
	t.Helper()
	d, err := ParseBytes(readFixture(t, name))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return d
}

// lineOf returns the 1-based line of the first occurrence of s in the fixture.
func lineOf(t *testing.T, name, s string) int {
	t.Helper()
	for i, l := range strings.Split(string(readFixture(t, name)), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", s, name)
	return 0
}

// normalize zeroes positions and drops the namespace prefixes Write adds, so that a model
// can be compared with the model of its export.
func normalize(d *Definitions, original map[string]string) {
	for _, p := range d.Processes {
		p.Line, p.Col = 0, 0
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, e := range c.Elements {
				e.Line, e.Col = 0, 0
				for _, a := range e.DataAssociations {
					a.Line, a.Col = 0, 0
				}
			}
			for _, f := range c.Flows {
				f.Line, f.Col = 0, 0
			}
		})
	}
	for _, c := range d.Collaborations {
		for _, a := range c.Artifacts {
			a.Line, a.Col = 0, 0
		}
	}
	for p, uri := range d.Namespaces {
		if _, ok := original[p]; ok {
			continue
		}
		switch uri {
		case NSModel, NSBPMNDI, NSDC, NSDI, NSXSI, NSCamunda, NSZeebe, NSCockpit:
			delete(d.Namespaces, p)
		}
	}
}

// roundTrip checks Parse(Marshal(d)) equals d (which came from Parse) and returns the XML.
func roundTrip(t *testing.T, d *Definitions) []byte {
	t.Helper()
	out, err := Marshal(d)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	d2, err := ParseBytes(out)
	if err != nil {
		t.Fatalf("parse export: %v\n%s", err, out)
	}
	orig := map[string]string{}
	for k, v := range d.Namespaces {
		orig[k] = v
	}
	normalize(d, orig)
	normalize(d2, orig)
	if !reflect.DeepEqual(d, d2) {
		t.Errorf("round trip changed the model:\n%s", diffModels(d, d2))
	}
	return out
}

// diffModels names the first differing process element, for a readable failure.
func diffModels(a, b *Definitions) string {
	ia, ib := NewIndex(a), NewIndex(b)
	for _, p := range a.Processes {
		var msg string
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, e := range c.Elements {
				if msg == "" && !reflect.DeepEqual(e, ib.Element(e.ID)) {
					msg = fmt.Sprintf("element %s:\n%+v\n%+v", e.ID, e, ib.Element(e.ID))
				}
			}
			for _, f := range c.Flows {
				if msg == "" && !reflect.DeepEqual(f, ib.Flow(f.ID)) {
					msg = fmt.Sprintf("flow %s:\n%+v\n%+v", f.ID, f, ib.Flow(f.ID))
				}
			}
		})
		if msg != "" {
			return msg
		}
	}
	_ = ia
	return fmt.Sprintf("root differs:\n%+v\n%+v", *a, *b)
}

func TestMIWGImport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		processes, nodes, flows int
		shapes, edges           int
		checkFails              bool // the model marks a process executable that is not
	}{
		{name: "A.1.0", processes: 1, nodes: 5, flows: 4, shapes: 5, edges: 4},
		{name: "A.2.0", processes: 1, nodes: 8, flows: 9, shapes: 8, edges: 9},
		{name: "A.2.1", processes: 1, nodes: 8, flows: 11, shapes: 8, edges: 11},
		{name: "A.3.0", processes: 1, nodes: 10, flows: 8, shapes: 10, edges: 8},
		{name: "A.4.0", processes: 2, nodes: 17, flows: 13, shapes: 20, edges: 15},
		{name: "A.4.1", processes: 2, nodes: 17, flows: 13, shapes: 22, edges: 15},
		{name: "B.1.0", processes: 4, nodes: 29, flows: 26, shapes: 34, edges: 29},
		// C.1.0 writes Camunda's prefix for the Activiti namespace: its delegate expression
		// is read as Camunda 7 reads it, and the executable process deploys.
		{name: "C.1.0", processes: 2, nodes: 21, flows: 20, shapes: 27, edges: 25},
		{name: "C.2.0", processes: 4, nodes: 29, flows: 25, shapes: 35, edges: 30},
		{name: "C.3.0", processes: 1, nodes: 14, flows: 15, shapes: 14, edges: 15, checkFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := parseFixture(t, "miwg/"+tt.name+".bpmn")
			nodes, flows := 0, 0
			ids := map[string]bool{}
			for _, p := range d.Processes {
				ids[p.ID] = true
				walk(&p.Container, func(c *Container, _ *Element) {
					for _, e := range c.Elements {
						ids[e.ID] = true
						if e.Kind.IsFlowNode() {
							nodes++
							if e.Line == 0 || e.Col == 0 {
								t.Errorf("%s has no position", e.ID)
							}
						}
						for _, a := range e.DataAssociations {
							ids[a.ID] = true
						}
					}
					for _, f := range c.Flows {
						ids[f.ID] = true
						flows++
					}
					for _, ls := range c.LaneSets {
						var lanes func(ls *LaneSet)
						lanes = func(ls *LaneSet) {
							for _, l := range ls.Lanes {
								ids[l.ID] = true
								if l.ChildLaneSet != nil {
									lanes(l.ChildLaneSet)
								}
							}
						}
						lanes(ls)
					}
				})
			}
			for _, c := range d.Collaborations {
				ids[c.ID] = true
				for _, p := range c.Participants {
					ids[p.ID] = true
				}
				for _, m := range c.MessageFlows {
					ids[m.ID] = true
				}
				for _, a := range c.Artifacts {
					ids[a.ID] = true
				}
			}
			shapes, edges := 0, 0
			for _, dg := range d.Diagrams {
				ids[dg.Plane.ElementRef] = true
				for _, s := range dg.Plane.Shapes {
					shapes++
					if !ids[s.ElementRef] {
						t.Errorf("shape %s references unknown %q", s.ID, s.ElementRef)
					}
					if s.Bounds.Width <= 0 || s.Bounds.Height <= 0 {
						t.Errorf("shape %s has no size", s.ID)
					}
				}
				for _, e := range dg.Plane.Edges {
					edges++
					if !ids[e.ElementRef] {
						t.Errorf("edge %s references unknown %q", e.ID, e.ElementRef)
					}
					if len(e.Waypoints) < 2 {
						t.Errorf("edge %s has %d waypoints", e.ID, len(e.Waypoints))
					}
				}
			}
			got := [5]int{len(d.Processes), nodes, flows, shapes, edges}
			want := [5]int{tt.processes, tt.nodes, tt.flows, tt.shapes, tt.edges}
			if got != want {
				t.Errorf("processes, nodes, flows, shapes, edges = %v, want %v", got, want)
			}
			// Check classifies every flow node; it fails only models that claim to be
			// executable (C.1.0 and C.3.0 do, with a service task without job type, message
			// boundary events and an empty subprocess).
			r := Check(d)
			classified := 0
			for _, p := range r.Processes {
				classified += len(p.Executes) + len(p.Unsupported)
			}
			if classified != nodes {
				t.Errorf("Check classified %d of %d nodes", classified, nodes)
			}
			if err := r.Err(); (err != nil) != tt.checkFails {
				t.Errorf("Check().Err() = %v", err)
			}
			roundTrip(t, d)
		})
	}
}

func TestMIWGDetails(t *testing.T) {
	t.Parallel()
	b := parseFixture(t, "miwg/B.1.0.bpmn")
	x := NewIndex(b)
	// B.1.0 is ISO-8859-1 with a "semantic:" prefix; names with line breaks survive.
	if ds := x.Element("_8e8fe679-eb3b-4c43-a4d6-891e7087ff80"); ds != nil && ds.Kind != KindDataStoreReference {
		t.Errorf("data store reference kind %s", ds.Kind)
	}
	var timerStart, terminate, group bool
	for _, p := range b.Processes {
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, e := range c.Elements {
				if e.Kind == KindStartEvent && e.Event != nil && e.Event.Type == EventTimer {
					timerStart = true
				}
				if e.Kind == KindEndEvent && e.Event != nil && e.Event.Type == EventTerminate {
					terminate = true
				}
				if e.Kind == KindGroup {
					group = true
				}
			}
		})
	}
	for _, c := range b.Collaborations {
		for _, a := range c.Artifacts {
			group = group || a.Kind == KindGroup
		}
	}
	if !timerStart || !terminate || !group {
		t.Errorf("B.1.0: timer start %v, terminate end %v, group %v", timerStart, terminate, group)
	}

	a3 := parseFixture(t, "miwg/A.3.0.bpmn")
	var boundaries []*Element
	walk(&a3.Processes[0].Container, func(c *Container, _ *Element) {
		for _, e := range c.Elements {
			if e.Kind == KindBoundaryEvent {
				boundaries = append(boundaries, e)
			}
		}
	})
	if len(boundaries) == 0 {
		t.Fatal("A.3.0: no boundary events")
	}
	x3 := NewIndex(a3)
	for _, e := range boundaries {
		if x3.Element(e.AttachedTo) == nil {
			t.Errorf("boundary %s attached to unknown %s", e.ID, e.AttachedTo)
		}
		if !containsElement(x3.Boundaries(e.AttachedTo), e) {
			t.Errorf("index misses boundary %s", e.ID)
		}
		if x3.Shape(e.ID) == nil {
			t.Errorf("no shape for %s", e.ID)
		}
	}
}

func containsElement(list []*Element, e *Element) bool {
	for _, x := range list {
		if x == e {
			return true
		}
	}
	return false
}

func TestCamunda7Extensions(t *testing.T) {
	t.Parallel()
	d := parseFixture(t, "camunda7.bpmn")
	x := NewIndex(d)
	tests := []struct {
		id   string
		want TaskDefinition
	}{
		{"archive", TaskDefinition{JobType: "invoice.archive", Retries: "3", RetryBackoff: "R3/PT5M",
			Inputs:  []Mapping{{Source: "${invoice.amount}", Target: "amount"}, {Source: `["a"]`, Target: "lines"}},
			Outputs: []Mapping{{Source: "${result}", Target: "archived"}}}},
		{"notify", TaskDefinition{JobType: "delegateExpression:${notifier}"}},
		{"approve", TaskDefinition{Assignee: "${approver}", CandidateGroups: "accounting,management", CandidateUsers: "demo",
			FormKey: "embedded:app:forms/approve.html", DueDate: "${dueDate}", FormFields: []FormField{
				{ID: "approved", Label: "Approved?", Type: "boolean", DefaultValue: "false"},
				{ID: "comment", Label: "Comment", Type: "string"}}}},
		{"compute", TaskDefinition{Script: "${amount * 1.2}", ScriptFormat: "juel", ResultVariable: "total"}},
	}
	for _, tt := range tests {
		e := x.Element(tt.id)
		if e == nil {
			t.Fatalf("no element %s", tt.id)
		}
		if !reflect.DeepEqual(e.Task, tt.want) {
			t.Errorf("%s task:\n got %+v\nwant %+v", tt.id, e.Task, tt.want)
		}
	}
	// Vendor attributes the engine ignores are kept.
	if v, ok := attrOf(x.Element("archive").Extra.Attrs, NSCamunda, "asyncBefore"); !ok || v != "true" {
		t.Errorf("camunda:asyncBefore not kept: %v", x.Element("archive").Extra.Attrs)
	}
	if m := x.Message("Message_paid"); m == nil || m.CorrelationKey != "${invoiceId}" || m.Name != "payment" {
		t.Errorf("message paid = %+v", m)
	}
	if w := x.Element("wait"); w.Event == nil || w.Event.Type != EventTimer || w.Event.TimeDuration != "P1D" {
		t.Errorf("wait event = %+v", w.Event)
	}
	if s := x.Element("StartEvent_1"); s.Event.Type != EventMessage || s.Event.MessageRef != "Message_invoice" {
		t.Errorf("start event = %+v", s.Event)
	}
	r := Check(d)
	if err := r.Err(); err != nil {
		t.Errorf("Camunda 7 model should execute: %v", err)
	}
	if got := len(r.Process("invoice").Executes); got != 8 {
		t.Errorf("executes %d nodes, want 8", got)
	}
	roundTrip(t, d)
}

func TestZeebeExtensions(t *testing.T) {
	t.Parallel()
	d := parseFixture(t, "zeebe.bpmn")
	x := NewIndex(d)
	if got := x.Element("pick").Task; !reflect.DeepEqual(got, TaskDefinition{JobType: "warehouse.pick", Retries: "5",
		Inputs:  []Mapping{{Source: "=order.items", Target: "items"}},
		Outputs: []Mapping{{Source: "=picked", Target: "pickedItems"}},
		Headers: []Header{{Key: "priority", Value: "high"}}}) {
		t.Errorf("pick task = %+v", got)
	}
	if got := x.Element("check").Task; !reflect.DeepEqual(got, TaskDefinition{Assignee: "=packer", CandidateGroups: "packers",
		CandidateUsers: "ann, bob", FormKey: "camunda-forms:bpmn:check", DueDate: `=now() + duration("PT1H")`}) {
		t.Errorf("check task = %+v", got)
	}
	if got := x.Element("weigh").Task; got.Script != "=sum(items.weight)" || got.ResultVariable != "weight" {
		t.Errorf("weigh task = %+v", got)
	}
	if got := x.Element("invoice"); got.CalledElement != "invoice" || !reflect.DeepEqual(got.Call, CallDefinition{InAll: true}) {
		t.Errorf("called element = %q, %+v", got.CalledElement, got.Call)
	}
	if m := x.MessageByName("delivered"); m == nil || m.CorrelationKey != "=orderId" {
		t.Errorf("message delivered = %+v", m)
	}
	if s := x.Element("start"); s.Event.TimeCycle != "R/PT1H" {
		t.Errorf("start timer = %+v", s.Event)
	}
	pf, slow := x.Element("pickFailed"), x.Element("slow")
	if !pf.CancelActivity || pf.Event.ErrorRef != "Error_stock" || slow.CancelActivity || slow.Event.TimeDuration != "PT15M" {
		t.Errorf("boundaries = %+v / %+v", pf, slow)
	}
	if got := x.Boundaries("pick"); len(got) != 2 {
		t.Errorf("boundaries of pick = %d", len(got))
	}
	if x.ErrorByCode("STOCK") == nil || x.Parent("pick") != nil || x.ProcessOf("pick").ID != "shipping" {
		t.Error("index lookups")
	}
	// Incoming/outgoing come from the XML here; the boundary's outgoing too.
	if got := x.Element("pickFailed").Outgoing; !reflect.DeepEqual(got, []string{"Flow_err"}) {
		t.Errorf("pickFailed outgoing = %v", got)
	}
	r := Check(d).Process("shipping")
	if len(r.Unsupported) != 0 || len(r.Problems) != 0 {
		t.Errorf("report = %+v", r)
	}
	// A task header (not understood) survives the round trip.
	out := roundTrip(t, d)
	if !bytes.Contains(out, []byte(`<zeebe:header key="priority" value="high"/>`)) {
		t.Errorf("task header lost:\n%s", out)
	}
}

func TestUnknownContentIsKept(t *testing.T) {
	t.Parallel()
	d := parseFixture(t, "unknown.bpmn")
	x := NewIndex(d)
	p := d.Process("p")
	if v, _ := attrOf(p.Extra.Attrs, "http://acme.example/bpmn", "owner"); v != "team-a" {
		t.Errorf("process vendor attribute = %q", v)
	}
	if len(p.Extra.Documentation) != 1 || p.Extra.Documentation[0] != "Main process & friends" {
		t.Errorf("documentation = %q", p.Extra.Documentation)
	}
	if len(p.Extra.ExtensionElements) != 1 || p.Extra.ExtensionElements[0].Children[0].Text != "deep" {
		t.Errorf("extension elements = %+v", p.Extra.ExtensionElements)
	}
	if len(p.Extra.Children) != 1 || p.Extra.Children[0].Name.Local != "property" {
		t.Errorf("unknown process children = %+v", p.Extra.Children)
	}
	s := x.Element("s")
	if len(s.Extra.Children) != 1 || s.Extra.Children[0].Name.Local != "unknownChild" {
		t.Errorf("unknown start child = %+v", s.Extra.Children)
	}
	task := x.Element("t")
	if len(task.DataAssociations) != 1 || task.DataAssociations[0].SourceRef != "dor" || task.DataAssociations[0].TargetRef != "din" {
		t.Errorf("data associations = %+v", task.DataAssociations)
	}
	if f := x.Flow("f"); f.Condition != "x > 1" || f.ConditionLanguage != "feel" {
		t.Errorf("flow = %+v", f)
	}
	if ta := x.Element("ta"); ta.Text != "Note\nwith two lines" {
		t.Errorf("annotation = %q", ta.Text)
	}
	if g := x.Element("g"); g.CategoryValue != "Billing" {
		t.Errorf("group = %+v", g)
	}
	// Incoming/outgoing were not written: they are filled from the flows.
	if !reflect.DeepEqual(s.Outgoing, []string{"f"}) || !reflect.DeepEqual(task.Incoming, []string{"f"}) {
		t.Errorf("filled flows: %v %v", s.Outgoing, task.Incoming)
	}
	sh := x.Shape("s")
	if sh.Bounds != (Bounds{10.5, 20, 36, 36}) || sh.Label == nil || sh.Label.Bounds.Y != 60 {
		t.Errorf("shape = %+v", sh)
	}
	if len(x.Shape("t").Extra.Attrs) != 1 { // isMarkerVisible="maybe" is kept as written
		t.Errorf("odd boolean not kept: %+v", x.Shape("t").Extra.Attrs)
	}
	if len(d.Diagrams[0].Extra.Children) != 1 {
		t.Errorf("label style lost")
	}
	if len(d.Extra.Children) != 3 { // acme:globalSetting, itemDefinition, category
		t.Errorf("root children = %d", len(d.Extra.Children))
	}
	out := roundTrip(t, d)
	for _, want := range []string{`acme:flavour="spicy"`, `<acme:inner>deep</acme:inner>`, `acme:shadow="true"`, `xmlns:acme="http://acme.example/bpmn"`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("export lacks %s", want)
		}
	}
}

func TestChangedTaskIsWrittenCanonically(t *testing.T) {
	t.Parallel()
	d := parseFixture(t, "camunda7.bpmn")
	e := NewIndex(d).Element("archive")
	e.Task.JobType = "invoice.archive.v2"
	e.Task.Inputs = append(e.Task.Inputs, Mapping{Source: "=1", Target: "one"})
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := ParseBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	// The canonical form is Zeebe's, where an expression starts with "=".
	want := e.Task
	want.Inputs = []Mapping{{Source: "=${invoice.amount}", Target: "amount"}, {Source: `=["a"]`, Target: "lines"}, {Source: "=1", Target: "one"}}
	want.Outputs = []Mapping{{Source: "=${result}", Target: "archived"}}
	if got := NewIndex(d2).Element("archive").Task; !reflect.DeepEqual(got, want) {
		t.Errorf("task after export:\n got %+v\nwant %+v", got, want)
	}
	// The untouched camunda:asyncBefore stays.
	if !bytes.Contains(out, []byte(`camunda:asyncBefore="true"`)) {
		t.Error("asyncBefore lost")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc  string
		line       int
		msg        string
		tooLarge   bool
		wantSyntax bool
	}{
		{name: "unclosed", doc: "<?xml version=\"1.0\"?>\n<definitions xmlns=\"" + NSModel + "\">\n  <process id=\"p\">\n    <task id=\"t\">\n  </process>\n</definitions>\n",
			line: 5, msg: "element <task> closed by </process>", wantSyntax: true},
		{name: "not bpmn", doc: "<?xml version=\"1.0\"?>\n\n<html/>", line: 3, msg: "root element is html"},
		{name: "wrong namespace", doc: `<definitions xmlns="urn:other"/>`, line: 1, msg: "want definitions"},
		{name: "empty", doc: "", line: 1, msg: "no root element"},
		{name: "bad number", doc: "<definitions xmlns=\"" + NSModel + "\" xmlns:di=\"" + NSBPMNDI + "\" xmlns:dc=\"" + NSDC + "\">\n<di:BPMNDiagram><di:BPMNPlane><di:BPMNShape>\n<dc:Bounds x=\"ten\"/></di:BPMNShape></di:BPMNPlane></di:BPMNDiagram></definitions>",
			line: 3, msg: `Bounds x="ten" is not a number`},
		{name: "too many elements", doc: "<definitions xmlns=\"" + NSModel + "\">" + strings.Repeat("<x/>", MaxElements) + "</definitions>",
			line: 1, msg: "more than 50000 elements", tooLarge: true},
		// Tens of thousands of levels fit in the element limit; before the depth limit
		// such a model imported and its export grew with the square of the depth.
		{name: "nested too deep", doc: "<definitions xmlns=\"" + NSModel + "\">" + strings.Repeat("<x>", 40000) + strings.Repeat("</x>", 40000) + "</definitions>",
			line: 1, msg: "nest more than 64 levels deep", tooLarge: true},
		{name: "subprocesses nested too deep", doc: "<definitions xmlns=\"" + NSModel + "\"><process id=\"p\">" + strings.Repeat("<subProcess>", MaxDepth-1) + strings.Repeat("</subProcess>", MaxDepth-1) + "</process></definitions>",
			line: 1, msg: "nest more than 64 levels deep", tooLarge: true},
		{name: "extension elements nested too deep", doc: "<definitions xmlns=\"" + NSModel + "\"><process id=\"p\"><task id=\"t\"><extensionElements>\n" + strings.Repeat("<v:x xmlns:v=\"urn:v\">", MaxDepth) + strings.Repeat("</v:x>", MaxDepth) + "</extensionElements></task></process></definitions>",
			line: 2, msg: "nest more than 64 levels deep", tooLarge: true},
		{name: "too many attributes", doc: "<definitions xmlns=\"" + NSModel + "\">\n<process id=\"p\"" + manyAttrs(MaxAttributes+1, "a%d=\"\"") + "/></definitions>",
			line: 2, msg: "process has more than 256 attributes", tooLarge: true},
		{name: "too many namespace declarations", doc: "<definitions xmlns=\"" + NSModel + "\">" + strings.Repeat("<x/>", 10) + "\n<process id=\"p\"" + manyAttrs(MaxAttributes-1, "xmlns:n%d=\"urn:n%[1]d\"") + "><task" + manyAttrs(10, "xmlns:m%d=\"urn:m%[1]d\"") + "/></process></definitions>",
			line: 2, msg: "more than 256 namespaces", tooLarge: true},
		{name: "too many undeclared prefixes", doc: "<definitions xmlns=\"" + NSModel + "\">\n" + manyAttrs(MaxNamespaces+1, "<p%d:x/>") + "</definitions>",
			line: 2, msg: "more than 256 namespaces", tooLarge: true},
		{name: "too many attribute namespaces", doc: "<definitions xmlns=\"" + NSModel + "\">\n<x" + manyAttrs(200, "p%d:a=\"\"") + "/><y" + manyAttrs(200, "q%d:a=\"\"") + "/></definitions>",
			line: 2, msg: "more than 256 namespaces", tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseBytes([]byte(tt.doc))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tt.line || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("got line %d %q, want line %d %q", pe.Line, pe.Msg, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("bpmn: line %d, col ", tt.line)) {
				t.Errorf("message %q", err.Error())
			}
			if errors.Is(err, ErrTooLarge) != tt.tooLarge {
				t.Errorf("errors.Is(ErrTooLarge) = %v", !tt.tooLarge)
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) != tt.wantSyntax {
				t.Errorf("wraps *xml.SyntaxError = %v", !tt.wantSyntax)
			}
		})
	}
}

// manyAttrs repeats format (with the index as its argument) n times, each after a space.
func manyAttrs(n int, format string) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(' ')
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

// deepModel nests subprocesses as deep as MaxDepth allows, each with a start event, a
// task with extension elements and flows, the innermost task's extensions reaching the
// limit; it is written without indentation, the smallest input for its content.
func deepModel() string {
	var b strings.Builder
	b.WriteString(`<definitions xmlns="` + NSModel + `" xmlns:z="` + NSZeebe + `" id="d"><process id="p" isExecutable="true">`)
	// definitions, process, then subprocesses; the innermost task holds
	// extensionElements > z:taskDefinition: three more levels.
	levels := MaxDepth - 2 - 3
	for i := range levels {
		fmt.Fprintf(&b, `<startEvent id="s%d"/><sequenceFlow id="f%d" sourceRef="s%d" targetRef="sp%d"/><subProcess id="sp%d">`, i, i, i, i, i)
	}
	b.WriteString(`<startEvent id="in"/><serviceTask id="t"><extensionElements><z:taskDefinition type="work"/></extensionElements></serviceTask><sequenceFlow id="fin" sourceRef="in" targetRef="t"/>`)
	b.WriteString(strings.Repeat(`</subProcess>`, levels))
	b.WriteString(`</process></definitions>`)
	return b.String()
}

// A model at the depth limit imports, and its export is linear in it: a small multiple
// of the input (the export adds indentation, prefixes and incoming/outgoing lists), not
// the square of the depth.
func TestDepthLimitModelExportsLinearly(t *testing.T) {
	t.Parallel()
	in := deepModel()
	d, err := ParseBytes([]byte(in))
	if err != nil {
		t.Fatalf("a model at the depth limit: %v", err)
	}
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > 6*len(in) {
		t.Errorf("export of %d bytes is %d bytes, more than 6 times the input", len(in), len(out))
	}
	if _, err := ParseBytes(out); err != nil {
		t.Errorf("the export does not import again: %v", err)
	}
	// A model built in Go is not bounded by Parse: its export indents at most 16 levels.
	deep := &Definitions{ID: "d", Processes: []*Process{{ID: "p"}}}
	c := &deep.Processes[0].Container
	for i := range 1000 {
		sp := &Element{ID: fmt.Sprintf("sp%d", i), Kind: KindSubProcess, Children: &Container{}}
		c.Elements = append(c.Elements, sp)
		c = sp.Children
	}
	if out, err = Marshal(deep); err != nil {
		t.Fatal(err)
	}
	if n := len(out); n > 1000*2*(2*16+40) {
		t.Errorf("export of 1000 nested subprocesses is %d bytes", n)
	}
}

// Documents shaped to make work grow faster than their size: every step after import
// stays linear (bounded problems, export and implicit flow lists).
func TestHostileShapesStayLinear(t *testing.T) {
	t.Parallel()
	const n = 5000
	wrap := func(body string) string {
		return `<definitions xmlns="` + NSModel + `" id="d"><process id="p" isExecutable="true">` + body + `</process></definitions>`
	}
	tests := map[string]string{
		// n elements share one id and n flows leave it: each copy used to get all n.
		"duplicate ids": wrap(strings.Repeat(`<task id="a"/>`, n) + strings.Repeat(`<sequenceFlow sourceRef="a" targetRef="a"/>`, n)),
		// n elements without id and n flows without ends.
		"missing ids": wrap(strings.Repeat(`<task/>`, n) + strings.Repeat(`<sequenceFlow/>`, n)),
		// n exclusive gateways in a chain: Check counted every gateway's flows by
		// scanning all flows.
		"gateways": wrap(manyAttrs(n, `<exclusiveGateway id="g%d"/>`) + manyAttrs(n, `<sequenceFlow id="f%d" sourceRef="g%[1]d" targetRef="g%[1]d"/>`)),
		// n copies of a host and n boundary events on it: each copy carried all of them
		// in the layout, n*n shapes.
		"duplicate hosts": wrap(strings.Repeat(`<task id="t"/>`, n) + manyAttrs(n, `<boundaryEvent id="b%d" attachedToRef="t"/>`)),
		// One node lists n outgoing flows that do not exist.
		"dangling lists": wrap(`<task id="t">` + manyAttrs(n, `<outgoing>x%d</outgoing>`) + `</task>`),
	}
	for name, doc := range tests {
		d, err := ParseBytes([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		entries := 0
		walk(&d.Processes[0].Container, func(c *Container, _ *Element) {
			for _, e := range c.Elements {
				entries += len(e.Incoming) + len(e.Outgoing)
			}
		})
		if entries > 2*n {
			t.Errorf("%s: %d incoming/outgoing entries for %d flows", name, entries, n)
		}
		r := Check(d)
		if got := len(r.Processes[0].Problems); got > 4*n {
			t.Errorf("%s: %d problems for %d elements", name, got, 2*n)
		}
		out, err := Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 10*len(doc)+4096 {
			t.Errorf("%s: export of %d bytes is %d bytes", name, len(doc), len(out))
		}
		Layout(d)
		if shapes := len(d.Diagrams[0].Plane.Shapes); shapes > 2*n+1 {
			t.Errorf("%s: the layout made %d shapes", name, shapes)
		}
	}
}

func TestParseSizeLimit(t *testing.T) {
	t.Parallel()
	doc := "<definitions xmlns=\"" + NSModel + "\"><documentation>" + strings.Repeat("a", MaxDocumentBytes) + "</documentation></definitions>"
	_, err := ParseBytes([]byte(doc))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	const file = "unsupported.bpmn"
	d := parseFixture(t, file)
	r := Check(d)
	order := r.Process("order")
	unsupported := map[string]Finding{}
	for _, f := range order.Unsupported {
		unsupported[f.ElementID] = f
	}
	tests := []struct {
		id, msg string
	}{
		{"Gateway_1", "complex gateways are not supported"},
		{"noType", "serviceTask has no job type"},
		{"softError", "non-interrupting error boundary events are not supported"},
		{"call", "call activity names no called process"},
	}
	for _, tt := range tests {
		f, ok := unsupported[tt.id]
		if !ok {
			t.Errorf("%s not reported unsupported", tt.id)
			continue
		}
		if !strings.Contains(f.Message, tt.msg) || f.Line != lineOf(t, file, `id="`+tt.id+`"`) {
			t.Errorf("%s: %+v, want %q at line %d", tt.id, f, tt.msg, lineOf(t, file, `id="`+tt.id+`"`))
		}
	}
	if len(order.Unsupported) != len(tests) {
		t.Errorf("unsupported = %+v", order.Unsupported)
	}
	problems := map[string]string{}
	for _, f := range order.Problems {
		problems[f.ElementID] += f.Message + ";"
	}
	for id, msg := range map[string]string{
		"orphan": `attachedToRef "nowhere"`,
		"end":    `id "end" is used by 2 elements`,
		"f7":     `targetRef "ghost" is not a flow node of this process`,
		"f6":     `without a condition`,
		"signal": `signal event has no signalRef`, // signal throw events execute; this one names no signal
	} {
		if !strings.Contains(problems[id], msg) {
			t.Errorf("problems of %s = %q, want %q", id, problems[id], msg)
		}
	}
	err := r.Err()
	var ce *CheckError
	if !errors.As(err, &ce) || len(ce.Processes) != 1 {
		t.Fatalf("Err() = %v", err)
	}
	want := fmt.Sprintf(`process "order": element "Gateway_1" (complexGateway, line %d) cannot be executed: complex gateways are not supported`,
		lineOf(t, file, `id="Gateway_1"`))
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q:\n%v", want, err)
	}
	// The descriptive process is reported but does not fail.
	if sk := r.Process("sketch"); sk.IsExecutable || len(sk.Unsupported) != 1 || strings.Contains(err.Error(), "sketch") {
		t.Errorf("sketch = %+v", sk)
	}
	roundTrip(t, d)
}

func TestCheckStartEvents(t *testing.T) {
	t.Parallel()
	doc := func(body string) []byte {
		return []byte(`<definitions xmlns="` + NSModel + `"><message id="m" name="m"/><process id="p" isExecutable="true">` + body + `</process></definitions>`)
	}
	tests := []struct {
		name, body string
		problem    string
		ok         bool
	}{
		{"none", `<startEvent id="s"/>`, "", true},
		{"message", `<startEvent id="s"><messageEventDefinition messageRef="m"/></startEvent>`, "", true},
		{"signal without a signal", `<startEvent id="s"><signalEventDefinition/></startEvent>`, "signal event has no signalRef", false},
		{"conditional only", `<startEvent id="s"><conditionalEventDefinition><condition>x</condition></conditionalEventDefinition></startEvent>`, "", true},
		{"empty", ``, "no none, timer, message, signal or conditional start event", false},
		{"subprocess timer start", `<startEvent id="s"/><subProcess id="sp"><startEvent id="ss"><timerEventDefinition><timeDuration>PT1S</timeDuration></timerEventDefinition></startEvent></subProcess>`,
			"subprocess has no none start event", false},
		{"empty timer", `<startEvent id="s"><timerEventDefinition/></startEvent>`, "timer has no", false},
		{"unknown message", `<startEvent id="s"><messageEventDefinition messageRef="zz"/></startEvent>`, `messageRef "zz" names no message`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseBytes(doc(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(d).Err()
			if (err == nil) != tt.ok {
				t.Fatalf("Err() = %v", err)
			}
			if tt.problem != "" && !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("Err() = %v, want %q", err, tt.problem)
			}
		})
	}
}

func TestIndexNested(t *testing.T) {
	t.Parallel()
	d, err := ParseBytes([]byte(`<definitions xmlns="` + NSModel + `"><process id="p">
<startEvent id="s"/><subProcess id="sp"><startEvent id="in"/><task id="deep"/><sequenceFlow id="fi" sourceRef="in" targetRef="deep"/></subProcess>
<boundaryEvent id="b" attachedToRef="sp"/><sequenceFlow id="f" sourceRef="s" targetRef="sp"/></process></definitions>`))
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(d)
	sp := x.Element("sp")
	if x.Element("deep") == nil || x.Parent("deep") != sp || x.Container("deep") != sp.Children || x.Parent("sp") != nil {
		t.Error("nested element lookups")
	}
	if x.Flow("fi") == nil || x.Parent("fi") != sp || x.ProcessOf("fi") != d.Processes[0] {
		t.Error("nested flow lookups")
	}
	if got := x.Boundaries("sp"); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("boundaries = %v", got)
	}
	if !reflect.DeepEqual(x.Element("in").Outgoing, []string{"fi"}) || !reflect.DeepEqual(sp.Incoming, []string{"f"}) {
		t.Error("filled incoming/outgoing")
	}
}

func TestLatin1(t *testing.T) {
	t.Parallel()
	doc := append([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><definitions xmlns="`+NSModel+`"><process id="p" name="Caf`), 0xe9)
	doc = append(doc, []byte(`"/></definitions>`)...)
	d, err := ParseBytes(doc)
	if err != nil {
		t.Fatal(err)
	}
	if d.Processes[0].Name != "Café" {
		t.Errorf("name = %q", d.Processes[0].Name)
	}
}
