package bpmn

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Marshal returns d as BPMN 2.0 XML. See Write.
func Marshal(d *Definitions) ([]byte, error) {
	var b bytes.Buffer
	if err := Write(&b, d); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Write writes d as BPMN 2.0 XML (UTF-8) with the prefixes bpmn:, bpmndi:, dc: and di:,
// the namespaces the document declared (Definitions.Namespaces), and everything the model
// kept in Extra. Parse(Write(Parse(x))) gives the same model as Parse(x), apart from
// positions and the standard prefixes added to Namespaces.
func Write(w io.Writer, d *Definitions) error {
	if d == nil {
		return fmt.Errorf("bpmn: write: nil definitions")
	}
	root := definitionsNode(d)
	var body bytes.Buffer
	s := newSerializer(d.Namespaces)
	s.collect(root)
	body.WriteString(xml.Header)
	s.write(&body, root, 0, true)
	_, err := w.Write(body.Bytes())
	if err != nil {
		return fmt.Errorf("bpmn: write: %w", err)
	}
	return nil
}

// ---- model to node tree ----

func mname(local string) xml.Name { return xml.Name{Space: NSModel, Local: local} }

func attr(local, value string) xml.Attr { return xml.Attr{Name: xml.Name{Local: local}, Value: value} }

// nb builds a node: attributes with empty values are left out.
type nb struct{ n *Node }

func newNode(space, local string) *nb { return &nb{&Node{Name: xml.Name{Space: space, Local: local}}} }

func (b *nb) a(local, value string) *nb {
	if value != "" {
		b.n.Attrs = append(b.n.Attrs, attr(local, value))
	}
	return b
}

func (b *nb) kid(k ...*Node) *nb { b.n.Children = append(b.n.Children, k...); return b }

func leaf(local, text string, attrs ...xml.Attr) *Node {
	return &Node{Name: mname(local), Text: text, Attrs: attrs}
}

var xsiFormal = xml.Attr{Name: xml.Name{Space: NSXSI, Local: "type"}, Value: "bpmn:tFormalExpression"}

// head writes documentation and extension elements, which open every BPMN element.
func head(b *nb, ex Extra, ext []*Node) {
	for _, d := range ex.Documentation {
		b.kid(leaf("documentation", d))
	}
	if ext != nil {
		b.kid(&Node{Name: mname("extensionElements"), Children: ext})
	}
}

func extra(b *nb, ex Extra) {
	b.n.Attrs = append(b.n.Attrs, ex.Attrs...)
	head(b, ex, ex.ExtensionElements)
}

func definitionsNode(d *Definitions) *Node {
	b := newNode(NSModel, "definitions").a("id", d.ID).a("name", d.Name).a("targetNamespace", d.TargetNamespace).
		a("exporter", d.Exporter).a("exporterVersion", d.ExporterVersion)
	extra(b, d.Extra)
	b.kid(d.Extra.Children...)
	for _, m := range d.Messages {
		mb := newNode(NSModel, "message").a("id", m.ID).a("name", m.Name)
		ex := m.Extra
		if correlationKey(ex) != m.CorrelationKey {
			ex.Attrs = filterAttrs(ex.Attrs, func(a xml.Attr) bool { return !(a.Name.Space == NSCockpit && a.Name.Local == "correlationKey") })
			ex.ExtensionElements = filterNodes(ex.ExtensionElements, func(n *Node) bool { return !(n.Name.Space == NSZeebe && n.Name.Local == "subscription") })
			if m.CorrelationKey != "" {
				ex.Attrs = append(ex.Attrs, xml.Attr{Name: xml.Name{Space: NSCockpit, Local: "correlationKey"}, Value: m.CorrelationKey})
			}
		}
		extra(mb, ex)
		b.kid(mb.kid(ex.Children...).n)
	}
	for _, e := range d.Errors {
		eb := newNode(NSModel, "error").a("id", e.ID).a("name", e.Name).a("errorCode", e.Code)
		extra(eb, e.Extra)
		b.kid(eb.kid(e.Extra.Children...).n)
	}
	for _, s := range d.Signals {
		sb := newNode(NSModel, "signal").a("id", s.ID).a("name", s.Name)
		extra(sb, s.Extra)
		b.kid(sb.kid(s.Extra.Children...).n)
	}
	for _, e := range d.Escalations {
		eb := newNode(NSModel, "escalation").a("id", e.ID).a("name", e.Name).a("escalationCode", e.Code)
		extra(eb, e.Extra)
		b.kid(eb.kid(e.Extra.Children...).n)
	}
	for _, c := range d.Collaborations {
		cb := newNode(NSModel, "collaboration").a("id", c.ID).a("name", c.Name)
		extra(cb, c.Extra)
		cb.kid(c.Extra.Children...)
		for _, p := range c.Participants {
			pb := newNode(NSModel, "participant").a("id", p.ID).a("name", p.Name).a("processRef", p.ProcessRef)
			extra(pb, p.Extra)
			cb.kid(pb.kid(p.Extra.Children...).n)
		}
		for _, m := range c.MessageFlows {
			mb := newNode(NSModel, "messageFlow").a("id", m.ID).a("name", m.Name).a("sourceRef", m.SourceRef).
				a("targetRef", m.TargetRef).a("messageRef", m.MessageRef)
			extra(mb, m.Extra)
			cb.kid(mb.kid(m.Extra.Children...).n)
		}
		for _, a := range c.Artifacts {
			cb.kid(elementNode(a))
		}
		b.kid(cb.n)
	}
	for _, p := range d.Processes {
		pb := newNode(NSModel, "process").a("id", p.ID).a("name", p.Name).a("isExecutable", strconv.FormatBool(p.IsExecutable))
		extra(pb, p.Extra)
		pb.kid(p.Extra.Children...)
		containerNodes(pb, &p.Container)
		b.kid(pb.n)
	}
	for _, dg := range d.Diagrams {
		b.kid(diagramNode(dg))
	}
	return b.n
}

func laneSetNode(local string, ls *LaneSet) *Node {
	b := newNode(NSModel, local).a("id", ls.ID).a("name", ls.Name)
	extra(b, ls.Extra)
	b.kid(ls.Extra.Children...)
	for _, l := range ls.Lanes {
		lb := newNode(NSModel, "lane").a("id", l.ID).a("name", l.Name)
		extra(lb, l.Extra)
		lb.kid(l.Extra.Children...)
		for _, r := range l.FlowNodeRefs {
			lb.kid(leaf("flowNodeRef", r))
		}
		if l.ChildLaneSet != nil {
			lb.kid(laneSetNode("childLaneSet", l.ChildLaneSet))
		}
		b.kid(lb.n)
	}
	return b.n
}

// containerNodes writes lane sets, flow elements, sequence flows and then artifacts, the
// order the schema asks for.
func containerNodes(b *nb, c *Container) {
	for _, ls := range c.LaneSets {
		b.kid(laneSetNode("laneSet", ls))
	}
	for _, e := range c.Elements {
		if !isArtifact(e.Kind) {
			b.kid(elementNode(e))
		}
	}
	for _, f := range c.Flows {
		fb := newNode(NSModel, "sequenceFlow").a("id", f.ID).a("name", f.Name).a("sourceRef", f.SourceRef).a("targetRef", f.TargetRef)
		extra(fb, f.Extra)
		if f.Condition != "" || f.ConditionLanguage != "" {
			attrs := []xml.Attr{xsiFormal}
			if f.ConditionLanguage != "" {
				attrs = append(attrs, attr("language", f.ConditionLanguage))
			}
			fb.kid(leaf("conditionExpression", f.Condition, attrs...))
		}
		b.kid(fb.kid(f.Extra.Children...).n)
	}
	for _, e := range c.Elements {
		if isArtifact(e.Kind) {
			b.kid(elementNode(e))
		}
	}
}

func boolAttrValue(ok bool, v string) string {
	if ok {
		return v
	}
	return ""
}

func elementNode(e *Element) *Node {
	b := newNode(NSModel, string(e.Kind)).a("id", e.ID).a("name", e.Name)
	k := e.Kind
	switch k {
	case KindBoundaryEvent:
		b.a("attachedToRef", e.AttachedTo).a("cancelActivity", boolAttrValue(!e.CancelActivity, "false"))
	case KindStartEvent:
		b.a("isInterrupting", boolAttrValue(!e.IsInterrupting, "false"))
	case KindEventBasedGateway:
		b.a("instantiate", boolAttrValue(e.EventGatewayInstantiate, "true"))
	case KindAssociation:
		b.a("sourceRef", e.SourceRef).a("targetRef", e.TargetRef).a("associationDirection", e.AssociationDir)
	case KindDataObjectReference:
		b.a("dataObjectRef", e.DataObjectRef)
	case KindDataStoreReference:
		b.a("dataStoreRef", e.DataStoreRef)
	case KindGroup:
		b.a("categoryValueRef", e.CategoryValueRef)
	case KindCallActivity:
		b.a("calledElement", e.CalledElement)
	case KindScriptTask:
		b.a("scriptFormat", e.Task.ScriptFormat)
	}
	if k.IsGateway() {
		b.a("gatewayDirection", e.GatewayDirection)
	}
	if k.IsGateway() && k != KindParallelGateway && k != KindEventBasedGateway || k.IsActivity() {
		b.a("default", e.Default)
	}
	if k.IsActivity() {
		b.a("isForCompensation", boolAttrValue(e.ForCompensation, "true"))
	}
	if k.IsSubProcess() {
		b.a("triggeredByEvent", boolAttrValue(e.TriggeredByEvent, "true"))
	}

	attrs, ext, writeScript := taskOutput(e)
	if k == KindCallActivity {
		attrs, ext = callOutput(e, attrs, ext)
	}
	b.n.Attrs = append(b.n.Attrs, attrs...)
	head(b, e.Extra, ext)
	if k.IsFlowNode() {
		for _, f := range e.Incoming {
			b.kid(leaf("incoming", f))
		}
		for _, f := range e.Outgoing {
			b.kid(leaf("outgoing", f))
		}
	}
	b.kid(e.Extra.Children...)
	for _, a := range e.DataAssociations {
		ab := newNode(NSModel, string(a.Kind)).a("id", a.ID).a("name", a.Name)
		extra(ab, a.Extra)
		if a.SourceRef != "" {
			ab.kid(leaf("sourceRef", a.SourceRef))
		}
		if a.TargetRef != "" {
			ab.kid(leaf("targetRef", a.TargetRef))
		}
		b.kid(ab.kid(a.Extra.Children...).n)
	}
	if k.IsActivity() {
		// The loop marker as imported while it still says what LoopSpec says, else
		// written from LoopSpec (models built in Go).
		switch {
		case e.LoopCharacteristics != nil && deriveLoop(e.LoopCharacteristics) == e.LoopSpec:
			b.kid(e.LoopCharacteristics)
		case e.Loop != LoopNone:
			b.kid(loopNode(e))
		}
	}
	if writeScript {
		b.kid(leaf("script", e.Task.Script))
	}
	if k == KindTextAnnotation && e.Text != "" {
		b.kid(leaf("text", e.Text))
	}
	if e.Children != nil && k.IsSubProcess() {
		containerNodes(b, e.Children)
	}
	if k.IsEvent() {
		defs := e.Multiple
		if len(defs) == 0 && e.Event != nil {
			defs = []*EventDefinition{e.Event}
		}
		for _, ed := range defs {
			if !ed.Shared { // written as the eventDefinitionRef kept in Extra.Children
				b.kid(eventDefinitionNode(ed))
			}
		}
	}
	return b.n
}

// taskOutput decides how e.Task is written: the vendor extensions as imported when they
// still derive to e.Task, else those extensions without the task settings plus the
// canonical form (see synthesizeTask).
func taskOutput(e *Element) (attrs []xml.Attr, ext []*Node, writeScript bool) {
	derived := deriveTask(e.Extra, false)
	want := derived
	if e.Kind == KindScriptTask {
		if want.Script == "" {
			want.Script = e.Task.Script
		}
		want.ScriptFormat = e.Task.ScriptFormat
	}
	normalizeTask(&want)
	if reflect.DeepEqual(want, e.Task) {
		return e.Extra.Attrs, e.Extra.ExtensionElements,
			e.Kind == KindScriptTask && derived.Script == "" && e.Task.Script != ""
	}
	attrs = filterAttrs(e.Extra.Attrs, func(a xml.Attr) bool { return !isTaskAttr(a) })
	ext = filterNodes(e.Extra.ExtensionElements, func(n *Node) bool { return !isTaskNode(n) })
	sa, sn := synthesizeTask(e.Kind, e.Task)
	attrs = append(attrs, sa...)
	if len(sn) > 0 {
		ext = append(ext, sn...)
	}
	return attrs, ext, e.Kind == KindScriptTask && e.Task.Script != ""
}

// callOutput decides how e.Call is written: the vendor extensions as imported when they
// still derive to e.Call, else those extensions without the call settings plus Camunda
// 7's form (see synthesizeCall). A Zeebe model keeps zeebe:calledElement for processId.
func callOutput(e *Element, attrs []xml.Attr, ext []*Node) ([]xml.Attr, []*Node) {
	if reflect.DeepEqual(deriveCall(e.Extra), e.Call) {
		return attrs, ext
	}
	attrs = filterAttrs(attrs, func(a xml.Attr) bool { return !isCallAttr(a) })
	ext = filterNodes(ext, func(n *Node) bool { return !isCallNode(n) })
	sa, sn := synthesizeCall(e.Call)
	return append(attrs, sa...), append(ext, sn...)
}

func filterAttrs(in []xml.Attr, keep func(xml.Attr) bool) []xml.Attr {
	var out []xml.Attr
	for _, a := range in {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

// filterNodes keeps nil as nil and an empty list as an empty list.
func filterNodes(in []*Node, keep func(*Node) bool) []*Node {
	if in == nil {
		return nil
	}
	out := make([]*Node, 0, len(in))
	for _, n := range in {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

var eventDefinitionLocal = map[EventType]string{}

func init() {
	for local, t := range eventDefinitionTypes {
		eventDefinitionLocal[t] = local
	}
}

func eventDefinitionNode(ed *EventDefinition) *Node {
	local, ok := eventDefinitionLocal[ed.Type]
	if !ok {
		local = string(ed.Type) + "EventDefinition"
	}
	b := newNode(NSModel, local).a("id", ed.ID).a("messageRef", ed.MessageRef).a("errorRef", ed.ErrorRef).
		a("signalRef", ed.SignalRef).a("escalationRef", ed.EscalationRef)
	if ed.Type == EventLink {
		b.a("name", ed.LinkName)
	}
	if ed.Type == EventCompensate {
		b.a("activityRef", ed.ActivityRef)
	}
	extra(b, ed.Extra)
	for _, t := range [][2]string{{"timeDate", ed.TimeDate}, {"timeDuration", ed.TimeDuration}, {"timeCycle", ed.TimeCycle}} {
		if t[1] != "" && ed.Type == EventTimer {
			b.kid(leaf(t[0], t[1], xsiFormal))
		}
	}
	if ed.Condition != "" && ed.Type == EventConditional {
		b.kid(leaf("condition", ed.Condition, xsiFormal))
	}
	return b.kid(ed.Extra.Children...).n
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func boundsNode(bd Bounds) *Node {
	return newNode(NSDC, "Bounds").a("x", ftoa(bd.X)).a("y", ftoa(bd.Y)).a("width", ftoa(bd.Width)).a("height", ftoa(bd.Height)).n
}

func labelNode(l *Label) *Node {
	b := newNode(NSBPMNDI, "BPMNLabel")
	b.n.Attrs = append(b.n.Attrs, l.Extra.Attrs...)
	if l.Bounds != nil {
		b.kid(boundsNode(*l.Bounds))
	}
	return b.kid(l.Extra.Children...).n
}

func optBool(v *bool) string {
	if v == nil {
		return ""
	}
	return strconv.FormatBool(*v)
}

func diagramNode(dg *Diagram) *Node {
	b := newNode(NSBPMNDI, "BPMNDiagram").a("id", dg.ID).a("name", dg.Name)
	b.n.Attrs = append(b.n.Attrs, dg.Extra.Attrs...)
	pl := newNode(NSBPMNDI, "BPMNPlane").a("id", dg.Plane.ID).a("bpmnElement", dg.Plane.ElementRef)
	pl.n.Attrs = append(pl.n.Attrs, dg.Plane.Extra.Attrs...)
	for _, s := range dg.Plane.Shapes {
		sb := newNode(NSBPMNDI, "BPMNShape").a("id", s.ID).a("bpmnElement", s.ElementRef).
			a("isExpanded", optBool(s.IsExpanded)).a("isHorizontal", optBool(s.IsHorizontal)).
			a("isMarkerVisible", optBool(s.IsMarkerVisible))
		sb.n.Attrs = append(sb.n.Attrs, s.Extra.Attrs...)
		sb.kid(boundsNode(s.Bounds))
		if s.Label != nil {
			sb.kid(labelNode(s.Label))
		}
		pl.kid(sb.kid(s.Extra.Children...).n)
	}
	for _, e := range dg.Plane.Edges {
		eb := newNode(NSBPMNDI, "BPMNEdge").a("id", e.ID).a("bpmnElement", e.ElementRef).
			a("sourceElement", e.SourceElement).a("targetElement", e.TargetElement)
		eb.n.Attrs = append(eb.n.Attrs, e.Extra.Attrs...)
		for _, p := range e.Waypoints {
			eb.kid(newNode(NSDI, "waypoint").a("x", ftoa(p.X)).a("y", ftoa(p.Y)).n)
		}
		if e.Label != nil {
			eb.kid(labelNode(e.Label))
		}
		pl.kid(eb.kid(e.Extra.Children...).n)
	}
	pl.kid(dg.Plane.Extra.Children...)
	b.kid(pl.n)
	return b.kid(dg.Extra.Children...).n
}

// ---- node tree to text ----

// xmlURI is the namespace the xml: prefix is bound to without a declaration.
const xmlURI = "http://www.w3.org/XML/1998/namespace"

// standardPrefixes are preferred for namespaces Write itself uses.
var standardPrefixes = []struct{ prefix, uri string }{
	{"bpmn", NSModel}, {"bpmndi", NSBPMNDI}, {"dc", NSDC}, {"di", NSDI},
	{"xsi", NSXSI}, {"camunda", NSCamunda}, {"zeebe", NSZeebe}, {"cockpit", NSCockpit},
}

type serializer struct {
	decl   map[string]string // prefix -> uri, declared on the root
	prefix map[string]string // uri -> prefix used for names
	noNS   bool              // some element has no namespace: no default namespace then
	nextNS int               // the last nsN prefix handed out
}

func newSerializer(docNS map[string]string) *serializer {
	s := &serializer{decl: map[string]string{}, prefix: map[string]string{xmlURI: "xml"}}
	for p, uri := range docNS {
		if p != "xml" && p != "xmlns" {
			s.decl[p] = uri
		}
	}
	// The standard prefixes name the BPMN namespaces unless the document bound one of them
	// to something else; then a numbered variant is declared beside it.
	for _, sp := range standardPrefixes[:4] {
		p := sp.prefix
		for i := 1; ; i++ {
			if u, taken := s.decl[p]; !taken || u == sp.uri {
				break
			}
			p = sp.prefix + strconv.Itoa(i)
		}
		s.decl[p], s.prefix[sp.uri] = sp.uri, p
	}
	prefixes := make([]string, 0, len(docNS))
	for p := range docNS {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		if _, ok := s.prefix[docNS[p]]; !ok && p != "" && p != "xml" && p != "xmlns" {
			s.prefix[docNS[p]] = p
		}
	}
	return s
}

// collect gives a prefix to every namespace used in the tree that has none yet.
func (s *serializer) collect(n *Node) {
	s.use(n.Name.Space, true)
	for _, a := range n.Attrs {
		s.use(a.Name.Space, false)
	}
	for _, c := range n.Children {
		s.collect(c)
	}
}

func (s *serializer) use(uri string, element bool) {
	if uri == "" {
		if element {
			s.noNS = true
		}
		return
	}
	if _, ok := s.prefix[uri]; ok {
		return
	}
	p := ""
	for _, sp := range standardPrefixes {
		if sp.uri == uri {
			p = sp.prefix
		}
	}
	if _, taken := s.decl[p]; p == "" || taken {
		// nsN prefixes are handed out in order, so the search starts after the last one.
		for {
			s.nextNS++
			p = "ns" + strconv.Itoa(s.nextNS)
			if _, taken := s.decl[p]; !taken {
				break
			}
		}
	}
	s.decl[p], s.prefix[uri] = uri, p
}

func (s *serializer) qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return s.prefix[n.Space] + ":" + n.Local
}

// maxIndent is the deepest level that gets its own indentation; deeper levels are written
// at this one. Indenting every level would make the export grow with the square of the
// nesting (each line repeats its depth in spaces); capped, a line costs at most
// 2*maxIndent bytes more than its element, whatever the model.
const maxIndent = 16

var indents = strings.Repeat("  ", maxIndent)

func (s *serializer) write(b *bytes.Buffer, n *Node, depth int, root bool) {
	indent := indents[:2*min(depth, maxIndent)]
	b.WriteString(indent)
	b.WriteByte('<')
	name := s.qname(n.Name)
	b.WriteString(name)
	if root {
		prefixes := make([]string, 0, len(s.decl))
		for p := range s.decl {
			prefixes = append(prefixes, p)
		}
		sort.Strings(prefixes)
		for _, p := range prefixes {
			if p == "" {
				if s.noNS {
					continue
				}
				b.WriteString(` xmlns="`)
			} else {
				b.WriteString(` xmlns:` + p + `="`)
			}
			escapeAttr(b, s.decl[p])
			b.WriteByte('"')
		}
	}
	for _, a := range n.Attrs {
		if _, decl := nsDecl(a); decl {
			continue
		}
		b.WriteString(" " + s.qname(a.Name) + `="`)
		escapeAttr(b, a.Value)
		b.WriteByte('"')
	}
	switch {
	case len(n.Children) == 0 && n.Text == "":
		b.WriteString("/>\n")
		return
	case len(n.Children) == 0:
		b.WriteByte('>')
		escapeText(b, n.Text)
	default:
		b.WriteByte('>')
		escapeText(b, n.Text)
		b.WriteByte('\n')
		for _, c := range n.Children {
			s.write(b, c, depth+1, false)
		}
		b.WriteString(indent)
	}
	b.WriteString("</" + name + ">\n")
}

func escapeAttr(b *bytes.Buffer, s string) { _ = xml.EscapeText(b, []byte(s)) }

// escapeText escapes character data but keeps newlines and tabs readable (scripts,
// documentation). A carriage return is escaped: the parser would fold it into a newline.
func escapeText(b *bytes.Buffer, s string) {
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\r':
			b.WriteString("&#xD;")
		default:
			if r == '\n' || r == '\t' || isXMLChar(r) {
				b.WriteRune(r)
			} else {
				b.WriteRune('\uFFFD')
			}
		}
	}
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}
