package bpmn

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of Parse. A document over any limit is refused with a *ParseError wrapping
// ErrTooLarge that names the limit, while it is read and before the model is built, so
// that an uploaded file can exhaust neither memory nor time: everything done with a model
// afterwards (check, export, layout, drawing) is linear in its size because its depth and
// the per-element quantities below are bounded.
const (
	// MaxDocumentBytes is the largest document Parse reads.
	MaxDocumentBytes = 10 << 20
	// MaxElements is the largest number of XML elements Parse accepts.
	MaxElements = 50000
	// MaxDepth is how deeply XML elements may nest, the definitions element being level 1.
	// Models from Camunda Modeler and bpmn.io stay under 20 (definitions, process, a few
	// levels of subprocesses, a task, its extension elements and their values); 64 leaves
	// room for deeply nested subprocesses and lanes while keeping export, layout and
	// rendering, which recurse along the nesting, small.
	MaxDepth = 64
	// MaxAttributes is the most attributes (namespace declarations included) one element
	// may carry. Modeler elements carry fewer than 20.
	MaxAttributes = 256
	// MaxNamespaces is the most distinct namespace URIs a document may declare. Modeler
	// documents declare about ten.
	MaxNamespaces = 256
)

// ErrTooLarge is wrapped by the *ParseError returned for a document over one of the
// limits of Parse (MaxDocumentBytes, MaxElements, MaxDepth, MaxAttributes, MaxNamespaces).
var ErrTooLarge = errors.New("document too large")

// ParseError is returned by Parse for a document that is not well-formed XML, is not a
// BPMN definitions document, is over a limit, or holds an unreadable value (a DI
// coordinate that is not a number). Line and Col are 1-based positions in the input.
// Inspect it with errors.As; Unwrap gives the underlying cause when there is one
// (ErrTooLarge, *xml.SyntaxError, a strconv error).
type ParseError struct {
	Line int
	Col  int
	Msg  string
	Err  error
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("bpmn: line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseBytes parses a BPMN 2.0 XML document held in memory. See Parse.
func ParseBytes(b []byte) (*Definitions, error) { return Parse(bytes.NewReader(b)) }

// Parse reads a BPMN 2.0 XML document as Camunda Modeler (Camunda 7 and 8), bpmn.io and
// other tools write it. Elements are matched by namespace URI, never by prefix.
//
// Parse is lenient about content: unknown elements, attributes and extensions are kept in
// Extra and written back by Write; structural mistakes (dangling references, duplicate ids)
// are not errors here but are reported by Check, so descriptive models always import.
// It fails only on malformed XML, a root that is not bpmn:definitions, the size limits, and
// unreadable DI numbers, always with a *ParseError.
func Parse(r io.Reader) (*Definitions, error) {
	root, ns, err := readTree(r)
	if err != nil {
		return nil, err
	}
	p := &parser{hadIn: map[*Element]bool{}, hadOut: map[*Element]bool{}}
	d := p.definitions(root, ns)
	if p.err != nil {
		return nil, p.err
	}
	finish(d, p)
	return d, nil
}

// raw is one XML element of the input with its position, before interpretation.
type raw struct {
	name      xml.Name
	attrs     []xml.Attr
	kids      []*raw
	text      string
	line, col int
}

func (r *raw) is(space, local string) bool { return r.name.Space == space && r.name.Local == local }

// attr returns the value of an unqualified attribute.
func (r *raw) attr(local string) string {
	for _, a := range r.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (r *raw) hasAttr(local string) bool {
	for _, a := range r.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return true
		}
	}
	return false
}

// rest returns the attributes other than the unqualified ones named in known (nil if none).
func (r *raw) rest(known ...string) []xml.Attr {
	var out []xml.Attr
next:
	for _, a := range r.attrs {
		if a.Name.Space == "" {
			for _, k := range known {
				if a.Name.Local == k {
					continue next
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// readTree reads the whole document into a raw tree, enforcing the limits, and returns the
// namespace declarations (prefix -> URI) to keep for export.
func readTree(r io.Reader) (*raw, map[string]string, error) {
	lr := &io.LimitedReader{R: r, N: MaxDocumentBytes + 1}
	dec := xml.NewDecoder(lr)
	dec.CharsetReader = charsetReader
	var (
		root  *raw
		stack []*raw
		count int
		ns    = map[string]string{}
		text  [][]byte
		// spaces holds every namespace URI used or declared.
		spaces = map[string]bool{}
	)
	for {
		line, col := dec.InputPos()
		tok, err := dec.Token()
		if lr.N <= 0 {
			l, c := dec.InputPos()
			return nil, nil, &ParseError{Line: l, Col: c, Err: ErrTooLarge,
				Msg: fmt.Sprintf("document larger than %d bytes", MaxDocumentBytes)}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			l, c := dec.InputPos()
			msg := err.Error()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				l, msg = se.Line, se.Msg
			}
			return nil, nil, &ParseError{Line: l, Col: c, Msg: msg, Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			count++
			if count > MaxElements {
				return nil, nil, &ParseError{Line: line, Col: col, Err: ErrTooLarge,
					Msg: fmt.Sprintf("document has more than %d elements", MaxElements)}
			}
			if len(stack) >= MaxDepth {
				return nil, nil, &ParseError{Line: line, Col: col, Err: ErrTooLarge,
					Msg: fmt.Sprintf("elements nest more than %d levels deep", MaxDepth)}
			}
			if len(t.Attr) > MaxAttributes {
				return nil, nil, &ParseError{Line: line, Col: col, Err: ErrTooLarge,
					Msg: fmt.Sprintf("element %s has more than %d attributes", t.Name.Local, MaxAttributes)}
			}
			n := &raw{name: t.Name, line: line, col: col}
			spaces[t.Name.Space] = true
			for _, a := range t.Attr {
				if prefix, ok := nsDecl(a); ok {
					declare(ns, prefix, a.Value, root == nil)
					spaces[a.Value] = true
				} else {
					spaces[a.Name.Space] = true
					n.attrs = append(n.attrs, a)
				}
			}
			// Names count too: an undeclared prefix is kept as its own namespace, and
			// export declares each one on the root.
			if len(ns) > MaxNamespaces || len(spaces) > MaxNamespaces {
				return nil, nil, &ParseError{Line: line, Col: col, Err: ErrTooLarge,
					Msg: fmt.Sprintf("document uses more than %d namespaces", MaxNamespaces)}
			}
			if root == nil {
				if !n.is(NSModel, "definitions") {
					return nil, nil, &ParseError{Line: line, Col: col,
						Msg: fmt.Sprintf("root element is %s, want definitions in namespace %s", t.Name.Local, NSModel)}
				}
				root = n
			} else if len(stack) == 0 {
				return nil, nil, &ParseError{Line: line, Col: col, Msg: "content after the root element"}
			} else {
				top := stack[len(stack)-1]
				top.kids = append(top.kids, n)
			}
			stack = append(stack, n)
			text = append(text, nil)
		case xml.EndElement:
			top := stack[len(stack)-1]
			top.text = string(text[len(text)-1])
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(text) > 0 {
				text[len(text)-1] = append(text[len(text)-1], t...)
			}
		}
	}
	if root == nil {
		l, c := dec.InputPos()
		return nil, nil, &ParseError{Line: l, Col: c, Msg: "no root element"}
	}
	return root, ns, nil
}

// nsDecl reports whether a is a namespace declaration and which prefix it declares.
func nsDecl(a xml.Attr) (string, bool) {
	if a.Name.Space == "xmlns" {
		return a.Name.Local, true
	}
	if a.Name.Space == "" && a.Name.Local == "xmlns" {
		return "", true
	}
	return "", false
}

// declare records a namespace declaration. Root declarations are kept as written; a
// declaration further down is hoisted when its URI has no prefix yet, under its own prefix
// if free or a generated one, so that export can name every namespace from the root.
func declare(ns map[string]string, prefix, uri string, atRoot bool) {
	if atRoot {
		ns[prefix] = uri
		return
	}
	if uri == "" {
		return
	}
	for p, u := range ns {
		if u == uri && p != "" {
			return
		}
	}
	if prefix == "" {
		prefix = "ns"
	}
	if _, taken := ns[prefix]; taken {
		base := prefix
		for i := 1; ; i++ {
			prefix = base + strconv.Itoa(i)
			if _, taken := ns[prefix]; !taken {
				break
			}
		}
	}
	ns[prefix] = uri
}

// charsetReader decodes the single-byte encodings BPMN tools still write (the MIWG models
// use ISO-8859-1). Windows-1252 is read as Latin-1: they differ only in 0x80-0x9F.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "windows-1252", "cp1252", "us-ascii", "ascii":
		return &latin1Reader{r: bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

type latin1Reader struct {
	r    *bufio.Reader
	pend []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pend) > 0 {
			c := copy(p[n:], l.pend)
			n += c
			l.pend = l.pend[c:]
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < utf8.RuneSelf {
			p[n] = b
			n++
			continue
		}
		l.pend = utf8.AppendRune(l.pend[:0], rune(b))
	}
	return n, nil
}

// parser turns the raw tree into the model.
type parser struct {
	err error
	// hadIn and hadOut record elements whose XML listed incoming / outgoing flows, so that
	// finish fills only the others from the sequence flows.
	hadIn, hadOut map[*Element]bool
	// rootEvents are the event definitions declared at the root of the document, by id,
	// for events that reference one (eventDefinitionRef).
	rootEvents map[string]*raw
	// zeebeBareIsExpr: the document was exported by Cockpit, which wrote Zeebe mapping
	// sources without the leading "=" FEEL expressions have; they are expressions.
	zeebeBareIsExpr bool
}

func (p *parser) fail(r *raw, err error, format string, args ...any) {
	if p.err == nil {
		p.err = &ParseError{Line: r.line, Col: r.col, Msg: fmt.Sprintf(format, args...), Err: err}
	}
}

// common consumes the children every BPMN element may have (documentation,
// extensionElements) into ex and reports whether k was one of them.
func common(k *raw, ex *Extra) bool {
	switch {
	case k.is(NSModel, "documentation"):
		ex.Documentation = append(ex.Documentation, k.text)
		return true
	case k.is(NSModel, "extensionElements"):
		if ex.ExtensionElements == nil {
			ex.ExtensionElements = make([]*Node, 0, len(k.kids))
		}
		for _, c := range k.kids {
			ex.ExtensionElements = append(ex.ExtensionElements, toNode(c))
		}
		return true
	}
	return false
}

// toNode keeps a raw element for round trip. The text of an element with children is
// trimmed: it is the indentation around them, which export writes anew.
func toNode(r *raw) *Node {
	n := &Node{Name: r.name, Text: r.text}
	if len(r.attrs) > 0 {
		n.Attrs = append([]xml.Attr(nil), r.attrs...)
	}
	for _, k := range r.kids {
		n.Children = append(n.Children, toNode(k))
	}
	if len(n.Children) > 0 {
		n.Text = strings.TrimSpace(n.Text)
	}
	return n
}

func (p *parser) definitions(r *raw, ns map[string]string) *Definitions {
	d := &Definitions{
		ID:              r.attr("id"),
		Name:            r.attr("name"),
		TargetNamespace: r.attr("targetNamespace"),
		Exporter:        r.attr("exporter"),
		ExporterVersion: r.attr("exporterVersion"),
		Namespaces:      ns,
	}
	d.Extra.Attrs = r.rest("id", "name", "targetNamespace", "exporter", "exporterVersion")
	p.zeebeBareIsExpr = d.Exporter == "Cockpit"
	// Shared event definitions may follow the processes that reference them.
	p.rootEvents = map[string]*raw{}
	for _, k := range r.kids {
		if _, ok := eventDefinitionTypes[k.name.Local]; ok && k.name.Space == NSModel && k.attr("id") != "" {
			p.rootEvents[k.attr("id")] = k
		}
	}
	for _, k := range r.kids {
		switch {
		case common(k, &d.Extra):
		case k.is(NSModel, "process"):
			d.Processes = append(d.Processes, p.process(k))
		case k.is(NSModel, "collaboration"):
			d.Collaborations = append(d.Collaborations, p.collaboration(k))
		case k.is(NSModel, "message"):
			m := &Message{ID: k.attr("id"), Name: k.attr("name")}
			m.Extra.Attrs = k.rest("id", "name")
			p.rest(k, &m.Extra)
			m.CorrelationKey = correlationKey(m.Extra)
			d.Messages = append(d.Messages, m)
		case k.is(NSModel, "error"):
			e := &Error{ID: k.attr("id"), Name: k.attr("name"), Code: k.attr("errorCode")}
			e.Extra.Attrs = k.rest("id", "name", "errorCode")
			p.rest(k, &e.Extra)
			d.Errors = append(d.Errors, e)
		case k.is(NSModel, "signal"):
			s := &Signal{ID: k.attr("id"), Name: k.attr("name")}
			s.Extra.Attrs = k.rest("id", "name")
			p.rest(k, &s.Extra)
			d.Signals = append(d.Signals, s)
		case k.is(NSModel, "escalation"):
			e := &Escalation{ID: k.attr("id"), Name: k.attr("name"), Code: k.attr("escalationCode")}
			e.Extra.Attrs = k.rest("id", "name", "escalationCode")
			p.rest(k, &e.Extra)
			d.Escalations = append(d.Escalations, e)
		case k.is(NSBPMNDI, "BPMNDiagram"):
			d.Diagrams = append(d.Diagrams, p.diagram(k))
		default:
			d.Extra.Children = append(d.Extra.Children, toNode(k))
		}
	}
	return d
}

// rest files every child of r into ex (common ones by kind, the others as unknown).
func (p *parser) rest(r *raw, ex *Extra) {
	for _, k := range r.kids {
		if !common(k, ex) {
			ex.Children = append(ex.Children, toNode(k))
		}
	}
}

func (p *parser) process(r *raw) *Process {
	pr := &Process{ID: r.attr("id"), Name: r.attr("name"), IsExecutable: r.attr("isExecutable") == "true",
		Line: r.line, Col: r.col}
	pr.Extra.Attrs = r.rest("id", "name", "isExecutable")
	for _, k := range r.kids {
		if !common(k, &pr.Extra) && !p.content(k, &pr.Container) {
			pr.Extra.Children = append(pr.Extra.Children, toNode(k))
		}
	}
	return pr
}

// isArtifact reports whether kind is written after the flow elements of a container.
func isArtifact(k Kind) bool {
	return k == KindTextAnnotation || k == KindGroup || k == KindAssociation
}

// elementKinds are the BPMN elements that become an Element of a Container.
var elementKinds = map[string]bool{}

func init() {
	for _, k := range []Kind{KindStartEvent, KindEndEvent, KindIntermediateCatchEvent,
		KindIntermediateThrowEvent, KindBoundaryEvent, KindTask, KindServiceTask, KindUserTask,
		KindScriptTask, KindSendTask, KindReceiveTask, KindManualTask, KindBusinessRuleTask,
		KindCallActivity, KindSubProcess, KindTransaction, KindAdHocSubProcess,
		KindExclusiveGateway, KindParallelGateway, KindInclusiveGateway, KindEventBasedGateway,
		KindComplexGateway, KindDataObject, KindDataObjectReference, KindDataStoreReference,
		KindTextAnnotation, KindGroup, KindAssociation} {
		elementKinds[string(k)] = true
	}
}

// content files a flow element, artifact, sequence flow or lane set into c and reports
// whether k was one of those.
func (p *parser) content(k *raw, c *Container) bool {
	if k.name.Space != NSModel {
		return false
	}
	switch {
	case k.name.Local == "sequenceFlow":
		f := &SequenceFlow{ID: k.attr("id"), Name: k.attr("name"), SourceRef: k.attr("sourceRef"),
			TargetRef: k.attr("targetRef"), Line: k.line, Col: k.col}
		f.Extra.Attrs = k.rest("id", "name", "sourceRef", "targetRef")
		for _, kk := range k.kids {
			switch {
			case common(kk, &f.Extra):
			case kk.is(NSModel, "conditionExpression") && len(kk.kids) == 0:
				f.Condition = strings.TrimSpace(kk.text)
				f.ConditionLanguage = kk.attr("language")
			default:
				f.Extra.Children = append(f.Extra.Children, toNode(kk))
			}
		}
		c.Flows = append(c.Flows, f)
	case k.name.Local == "laneSet":
		c.LaneSets = append(c.LaneSets, p.laneSet(k))
	case elementKinds[k.name.Local]:
		c.Elements = append(c.Elements, p.element(k))
	default:
		return false
	}
	return true
}

func (p *parser) laneSet(r *raw) *LaneSet {
	ls := &LaneSet{ID: r.attr("id"), Name: r.attr("name")}
	ls.Extra.Attrs = r.rest("id", "name")
	for _, k := range r.kids {
		switch {
		case common(k, &ls.Extra):
		case k.is(NSModel, "lane"):
			l := &Lane{ID: k.attr("id"), Name: k.attr("name")}
			l.Extra.Attrs = k.rest("id", "name")
			for _, kk := range k.kids {
				switch {
				case common(kk, &l.Extra):
				case kk.is(NSModel, "flowNodeRef") && len(kk.kids) == 0:
					l.FlowNodeRefs = append(l.FlowNodeRefs, strings.TrimSpace(kk.text))
				case kk.is(NSModel, "childLaneSet") && l.ChildLaneSet == nil:
					l.ChildLaneSet = p.laneSet(kk)
				default:
					l.Extra.Children = append(l.Extra.Children, toNode(kk))
				}
			}
			ls.Lanes = append(ls.Lanes, l)
		default:
			ls.Extra.Children = append(ls.Extra.Children, toNode(k))
		}
	}
	return ls
}

// knownAttrs lists the unqualified attributes that have a field, per kind. Parse and
// Write share it so that an attribute is either a field or kept in Extra, never both.
func knownAttrs(k Kind) []string {
	a := []string{"id", "name"}
	switch k {
	case KindBoundaryEvent:
		a = append(a, "attachedToRef", "cancelActivity")
	case KindStartEvent:
		a = append(a, "isInterrupting")
	case KindExclusiveGateway, KindInclusiveGateway, KindComplexGateway:
		a = append(a, "default", "gatewayDirection")
	case KindParallelGateway:
		a = append(a, "gatewayDirection")
	case KindEventBasedGateway:
		a = append(a, "gatewayDirection", "instantiate")
	case KindAssociation:
		a = append(a, "sourceRef", "targetRef", "associationDirection")
	case KindDataObjectReference:
		a = append(a, "dataObjectRef")
	case KindDataStoreReference:
		a = append(a, "dataStoreRef")
	case KindGroup:
		a = append(a, "categoryValueRef")
	}
	if k.IsActivity() {
		a = append(a, "default", "isForCompensation")
	}
	switch k {
	case KindCallActivity:
		a = append(a, "calledElement")
	case KindScriptTask:
		a = append(a, "scriptFormat")
	}
	if k.IsSubProcess() {
		a = append(a, "triggeredByEvent")
	}
	return a
}

var eventDefinitionTypes = map[string]EventType{
	"messageEventDefinition":     EventMessage,
	"timerEventDefinition":       EventTimer,
	"errorEventDefinition":       EventError,
	"signalEventDefinition":      EventSignal,
	"escalationEventDefinition":  EventEscalation,
	"terminateEventDefinition":   EventTerminate,
	"compensateEventDefinition":  EventCompensate,
	"conditionalEventDefinition": EventConditional,
	"linkEventDefinition":        EventLink,
	"cancelEventDefinition":      EventCancel,
}

func (p *parser) element(r *raw) *Element {
	kind := Kind(r.name.Local)
	e := &Element{ID: r.attr("id"), Name: r.attr("name"), Kind: kind, Line: r.line, Col: r.col}
	e.Extra.Attrs = r.rest(knownAttrs(kind)...)
	switch kind {
	case KindBoundaryEvent:
		e.AttachedTo = r.attr("attachedToRef")
		e.CancelActivity = r.attr("cancelActivity") != "false"
	case KindStartEvent:
		e.IsInterrupting = r.attr("isInterrupting") != "false"
	case KindEventBasedGateway:
		e.EventGatewayInstantiate = r.attr("instantiate") == "true"
	case KindAssociation:
		e.SourceRef, e.TargetRef = r.attr("sourceRef"), r.attr("targetRef")
		e.AssociationDir = r.attr("associationDirection")
	case KindDataObjectReference:
		e.DataObjectRef = r.attr("dataObjectRef")
	case KindDataStoreReference:
		e.DataStoreRef = r.attr("dataStoreRef")
	case KindGroup:
		e.CategoryValueRef = r.attr("categoryValueRef")
	}
	if kind.IsGateway() {
		e.GatewayDirection = r.attr("gatewayDirection")
	}
	if kind.IsGateway() || kind.IsActivity() {
		e.Default = r.attr("default")
	}
	if kind.IsActivity() {
		e.ForCompensation = r.attr("isForCompensation") == "true"
	}
	if kind.IsSubProcess() {
		e.TriggeredByEvent = r.attr("triggeredByEvent") == "true"
		e.Children = &Container{}
	}
	var script *raw
	for _, k := range r.kids {
		if common(k, &e.Extra) {
			continue
		}
		if k.name.Space == NSModel {
			local := k.name.Local
			if t, ok := eventDefinitionTypes[local]; ok && kind.IsEvent() {
				e.Multiple = append(e.Multiple, p.eventDefinition(k, t))
				continue
			}
			switch {
			case local == "incoming" && kind.IsFlowNode() && len(k.kids) == 0:
				e.Incoming = append(e.Incoming, strings.TrimSpace(k.text))
				p.hadIn[e] = true
				continue
			case local == "eventDefinitionRef" && kind.IsEvent() && len(k.kids) == 0:
				// A shared definition: the event has it as its own, and keeps the
				// reference (not a copy) for export.
				if def := p.rootEvents[localRef(strings.TrimSpace(k.text))]; def != nil {
					ed := p.eventDefinition(def, eventDefinitionTypes[def.name.Local])
					ed.Shared = true
					e.Multiple = append(e.Multiple, ed)
				}
				e.Extra.Children = append(e.Extra.Children, toNode(k))
				continue
			case local == "outgoing" && kind.IsFlowNode() && len(k.kids) == 0:
				e.Outgoing = append(e.Outgoing, strings.TrimSpace(k.text))
				p.hadOut[e] = true
				continue
			case (local == "standardLoopCharacteristics" || local == "multiInstanceLoopCharacteristics") &&
				kind.IsActivity() && e.LoopCharacteristics == nil:
				e.LoopCharacteristics = toNode(k)
				e.LoopSpec = deriveLoop(e.LoopCharacteristics)
				e.Loop = LoopStandard
				if local == "multiInstanceLoopCharacteristics" {
					e.Loop = LoopMultiParallel
					if k.attr("isSequential") == "true" {
						e.Loop = LoopMultiSequence
					}
				}
				continue
			case local == "script" && kind == KindScriptTask && script == nil && len(k.kids) == 0:
				script = k
				continue
			case local == "text" && kind == KindTextAnnotation && len(k.kids) == 0:
				e.Text = k.text
				continue
			case (local == "dataInputAssociation" || local == "dataOutputAssociation") &&
				(kind.IsActivity() || kind.IsEvent()):
				e.DataAssociations = append(e.DataAssociations, p.dataAssociation(k))
				continue
			}
			if kind.IsSubProcess() && p.content(k, e.Children) {
				continue
			}
		}
		e.Extra.Children = append(e.Extra.Children, toNode(k))
	}
	if len(e.Multiple) > 0 {
		e.Event = e.Multiple[0]
		if len(e.Multiple) == 1 {
			e.Multiple = nil
		}
	}
	e.Task = deriveTask(e.Extra, p.zeebeBareIsExpr)
	if kind == KindScriptTask {
		e.Task.ScriptFormat = r.attr("scriptFormat")
		if script != nil {
			if e.Task.Script == "" {
				e.Task.Script = strings.TrimSpace(script.text)
			} else {
				// zeebe:script won; keep the standard element so export loses nothing.
				e.Extra.Children = append(e.Extra.Children, toNode(script))
			}
		}
	}
	normalizeTask(&e.Task)
	if kind == KindCallActivity {
		e.CalledElement = r.attr("calledElement")
		if e.CalledElement == "" {
			e.CalledElement = zeebeCalledElement(e.Extra)
		}
		e.Call = deriveCall(e.Extra)
	}
	return e
}

func (p *parser) eventDefinition(r *raw, t EventType) *EventDefinition {
	ed := &EventDefinition{ID: r.attr("id"), Type: t, MessageRef: localRef(r.attr("messageRef")),
		ErrorRef: localRef(r.attr("errorRef")), SignalRef: localRef(r.attr("signalRef")),
		EscalationRef: localRef(r.attr("escalationRef"))}
	known := []string{"id", "messageRef", "errorRef", "signalRef", "escalationRef"}
	if t == EventLink {
		ed.LinkName = r.attr("name")
		known = append(known, "name")
	}
	if t == EventCompensate {
		ed.ActivityRef = r.attr("activityRef")
		known = append(known, "activityRef")
	}
	ed.Extra.Attrs = r.rest(known...)
	for _, k := range r.kids {
		leaf := len(k.kids) == 0 && k.name.Space == NSModel
		switch {
		case common(k, &ed.Extra):
		case leaf && t == EventTimer && k.name.Local == "timeDuration":
			ed.TimeDuration = strings.TrimSpace(k.text)
		case leaf && t == EventTimer && k.name.Local == "timeDate":
			ed.TimeDate = strings.TrimSpace(k.text)
		case leaf && t == EventTimer && k.name.Local == "timeCycle":
			ed.TimeCycle = strings.TrimSpace(k.text)
		case leaf && t == EventConditional && k.name.Local == "condition":
			ed.Condition = strings.TrimSpace(k.text)
		default:
			ed.Extra.Children = append(ed.Extra.Children, toNode(k))
		}
	}
	return ed
}

func (p *parser) dataAssociation(r *raw) *Element {
	a := &Element{ID: r.attr("id"), Name: r.attr("name"), Kind: Kind(r.name.Local), Line: r.line, Col: r.col}
	a.Extra.Attrs = r.rest("id", "name")
	for _, k := range r.kids {
		leaf := len(k.kids) == 0 && k.name.Space == NSModel
		switch {
		case common(k, &a.Extra):
		case leaf && k.name.Local == "sourceRef" && a.SourceRef == "":
			a.SourceRef = strings.TrimSpace(k.text)
		case leaf && k.name.Local == "targetRef" && a.TargetRef == "":
			a.TargetRef = strings.TrimSpace(k.text)
		default:
			a.Extra.Children = append(a.Extra.Children, toNode(k))
		}
	}
	return a
}

func (p *parser) collaboration(r *raw) *Collaboration {
	c := &Collaboration{ID: r.attr("id"), Name: r.attr("name")}
	c.Extra.Attrs = r.rest("id", "name")
	for _, k := range r.kids {
		switch {
		case common(k, &c.Extra):
		case k.is(NSModel, "participant"):
			pt := &Participant{ID: k.attr("id"), Name: k.attr("name"), ProcessRef: localRef(k.attr("processRef"))}
			pt.Extra.Attrs = k.rest("id", "name", "processRef")
			p.rest(k, &pt.Extra)
			c.Participants = append(c.Participants, pt)
		case k.is(NSModel, "messageFlow"):
			mf := &MessageFlow{ID: k.attr("id"), Name: k.attr("name"), SourceRef: k.attr("sourceRef"),
				TargetRef: k.attr("targetRef"), MessageRef: localRef(k.attr("messageRef"))}
			mf.Extra.Attrs = k.rest("id", "name", "sourceRef", "targetRef", "messageRef")
			p.rest(k, &mf.Extra)
			c.MessageFlows = append(c.MessageFlows, mf)
		case k.name.Space == NSModel && isArtifact(Kind(k.name.Local)):
			c.Artifacts = append(c.Artifacts, p.element(k))
		default:
			c.Extra.Children = append(c.Extra.Children, toNode(k))
		}
	}
	return c
}

func (p *parser) diagram(r *raw) *Diagram {
	dg := &Diagram{ID: r.attr("id"), Name: r.attr("name")}
	dg.Extra.Attrs = r.rest("id", "name")
	seenPlane := false
	for _, k := range r.kids {
		if k.is(NSBPMNDI, "BPMNPlane") && !seenPlane {
			seenPlane = true
			pl := &dg.Plane
			pl.ID, pl.ElementRef = k.attr("id"), k.attr("bpmnElement")
			pl.Extra.Attrs = k.rest("id", "bpmnElement")
			for _, kk := range k.kids {
				switch {
				case kk.is(NSBPMNDI, "BPMNShape"):
					pl.Shapes = append(pl.Shapes, p.shape(kk))
				case kk.is(NSBPMNDI, "BPMNEdge"):
					pl.Edges = append(pl.Edges, p.edge(kk))
				default:
					pl.Extra.Children = append(pl.Extra.Children, toNode(kk))
				}
			}
			continue
		}
		dg.Extra.Children = append(dg.Extra.Children, toNode(k))
	}
	return dg
}

func (p *parser) float(r *raw, name string) float64 {
	s := r.attr(name)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		p.fail(r, err, "%s %s=%q is not a number", r.name.Local, name, s)
	}
	return v
}

func (p *parser) bounds(r *raw) Bounds {
	return Bounds{X: p.float(r, "x"), Y: p.float(r, "y"), Width: p.float(r, "width"), Height: p.float(r, "height")}
}

// boolAttr reads an optional boolean DI attribute; a value that is not a boolean stays
// in Extra (ok false).
func boolAttr(r *raw, name string) (v *bool, ok bool) {
	if !r.hasAttr(name) {
		return nil, true
	}
	b, err := strconv.ParseBool(r.attr(name))
	if err != nil {
		return nil, false
	}
	return &b, true
}

func (p *parser) shape(r *raw) *Shape {
	s := &Shape{ID: r.attr("id"), ElementRef: r.attr("bpmnElement")}
	known := []string{"id", "bpmnElement"}
	var ok bool
	if s.IsExpanded, ok = boolAttr(r, "isExpanded"); ok {
		known = append(known, "isExpanded")
	}
	if s.IsHorizontal, ok = boolAttr(r, "isHorizontal"); ok {
		known = append(known, "isHorizontal")
	}
	if s.IsMarkerVisible, ok = boolAttr(r, "isMarkerVisible"); ok {
		known = append(known, "isMarkerVisible")
	}
	s.Extra.Attrs = r.rest(known...)
	seenBounds := false
	for _, k := range r.kids {
		switch {
		case k.is(NSDC, "Bounds") && !seenBounds:
			seenBounds = true
			s.Bounds = p.bounds(k)
		case k.is(NSBPMNDI, "BPMNLabel") && s.Label == nil:
			s.Label = p.label(k)
		default:
			s.Extra.Children = append(s.Extra.Children, toNode(k))
		}
	}
	return s
}

func (p *parser) label(r *raw) *Label {
	l := &Label{}
	l.Extra.Attrs = r.rest()
	for _, k := range r.kids {
		if k.is(NSDC, "Bounds") && l.Bounds == nil {
			b := p.bounds(k)
			l.Bounds = &b
			continue
		}
		l.Extra.Children = append(l.Extra.Children, toNode(k))
	}
	return l
}

func (p *parser) edge(r *raw) *Edge {
	e := &Edge{ID: r.attr("id"), ElementRef: r.attr("bpmnElement"),
		SourceElement: r.attr("sourceElement"), TargetElement: r.attr("targetElement")}
	e.Extra.Attrs = r.rest("id", "bpmnElement", "sourceElement", "targetElement")
	for _, k := range r.kids {
		switch {
		case k.is(NSDI, "waypoint"):
			e.Waypoints = append(e.Waypoints, Point{X: p.float(k, "x"), Y: p.float(k, "y")})
		case k.is(NSBPMNDI, "BPMNLabel") && e.Label == nil:
			e.Label = p.label(k)
		default:
			e.Extra.Children = append(e.Extra.Children, toNode(k))
		}
	}
	return e
}

// finish fills what the XML may leave implicit: incoming/outgoing lists from the sequence
// flows, and the value text of group category values.
func finish(d *Definitions, p *parser) {
	for _, pr := range d.Processes {
		fillFlows(&pr.Container, func(e *Element) bool { return p.hadIn[e] }, func(e *Element) bool { return p.hadOut[e] })
	}
	values := map[string]string{}
	for _, n := range d.Extra.Children {
		if n.Name.Space == NSModel && n.Name.Local == "category" {
			for _, v := range n.Children {
				if v.Name.Space == NSModel && v.Name.Local == "categoryValue" {
					values[nodeAttr(v, "id")] = nodeAttr(v, "value")
				}
			}
		}
	}
	setGroups := func(els []*Element) {
		for _, e := range els {
			if e.Kind == KindGroup {
				e.CategoryValue = values[e.CategoryValueRef]
			}
		}
	}
	for _, c := range d.Collaborations {
		setGroups(c.Artifacts)
	}
	for _, pr := range d.Processes {
		walk(&pr.Container, func(c *Container, _ *Element) { setGroups(c.Elements) })
	}
}

// fillFlows sets Incoming/Outgoing of the flow nodes of c (and nested subprocesses) from
// the sequence flows, except where keepIn / keepOut say the lists were given.
func fillFlows(c *Container, keepIn, keepOut func(*Element) bool) {
	walk(c, func(c *Container, _ *Element) {
		in := map[string][]string{}
		out := map[string][]string{}
		for _, f := range c.Flows {
			out[f.SourceRef] = append(out[f.SourceRef], f.ID)
			in[f.TargetRef] = append(in[f.TargetRef], f.ID)
		}
		seen := map[string]bool{}
		for _, e := range c.Elements {
			if !e.Kind.IsFlowNode() {
				continue
			}
			// Only the first element of an id gets its flows (Check reports the
			// duplicates): giving every copy all of them would make a document of n
			// copies and n flows export n*n list entries.
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			if !keepIn(e) {
				e.Incoming = in[e.ID]
			}
			if !keepOut(e) {
				e.Outgoing = out[e.ID]
			}
		}
	})
}

// walk calls fn for c and every nested subprocess container, parents first; owner is the
// subprocess holding the container (nil for c itself).
func walk(c *Container, fn func(c *Container, owner *Element)) {
	var rec func(c *Container, owner *Element)
	rec = func(c *Container, owner *Element) {
		fn(c, owner)
		for _, e := range c.Elements {
			if e.Children != nil {
				rec(e.Children, e)
			}
		}
	}
	rec(c, nil)
}

// localRef reads a reference to a root element. BPMN types these as QNames, and some
// tools write them with a namespace prefix ("tns:Message_1"); ids are NCNames, which
// hold no colon, so what follows the colon is the id.
func localRef(ref string) string {
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

func nodeAttr(n *Node, local string) string {
	for _, a := range n.Attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}
