package bpmn

import (
	"fmt"
	"strings"
)

// Report tells, per process, which flow nodes the engine executes and which it cannot,
// and which structural problems the process has. Check builds it.
type Report struct {
	Processes []ProcessReport
	// Warnings are findings that do not stop a deployment: references of the document
	// that point at nothing but play no part in execution (diagram shapes and edges,
	// pools, message flows, lanes, associations, data references).
	Warnings []Finding
}

// ProcessReport is the verdict on one process. Every flow node (nested subprocesses
// included) appears in exactly one of Executes and Unsupported; Problems lists broken
// structure (dangling references, duplicate ids, a missing start event, ...).
type ProcessReport struct {
	ID           string
	Name         string
	IsExecutable bool
	Executes     []Finding
	Unsupported  []Finding
	Problems     []Finding
}

// Finding is one element named in a report, with the line and column where it starts
// in the imported XML (1-based; 0 for models built in Go).
type Finding struct {
	ElementID string
	Kind      Kind
	Line      int
	Col       int
	Message   string
}

// OK reports whether the process can be deployed: nothing unsupported and no problems.
func (p *ProcessReport) OK() bool { return len(p.Unsupported) == 0 && len(p.Problems) == 0 }

// CheckError is the error of Report.Err: every unsupported element and problem of the
// executable processes of a document. Inspect it with errors.As.
type CheckError struct {
	// Processes holds the reports of the executable processes that failed.
	Processes []ProcessReport
}

func (e *CheckError) Error() string {
	var b strings.Builder
	b.WriteString("bpmn: model cannot be executed:")
	for _, p := range e.Processes {
		for _, f := range p.Unsupported {
			fmt.Fprintf(&b, "\n  process %q: element %q (%s%s) cannot be executed: %s", p.ID, f.ElementID, f.Kind, lineSuffix(f.Line), f.Message)
		}
		for _, f := range p.Problems {
			fmt.Fprintf(&b, "\n  process %q: element %q (%s%s): %s", p.ID, f.ElementID, f.Kind, lineSuffix(f.Line), f.Message)
		}
	}
	return b.String()
}

func lineSuffix(line int) string {
	if line == 0 {
		return ""
	}
	return fmt.Sprintf(", line %d", line)
}

// Err returns a *CheckError listing every unsupported element and problem of the
// processes marked isExecutable="true", or nil. Processes without that mark are
// descriptive and never make Err fail.
func (r *Report) Err() error {
	var failed []ProcessReport
	for _, p := range r.Processes {
		if p.IsExecutable && !p.OK() {
			failed = append(failed, p)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &CheckError{Processes: failed}
}

// Process returns the report of the process id, or nil.
func (r *Report) Process(id string) *ProcessReport {
	for i := range r.Processes {
		if r.Processes[i].ID == id {
			return &r.Processes[i]
		}
	}
	return nil
}

// Check tells which elements of each process the engine will execute. The engine runs
// exactly: none/timer/message/signal start events (timer, message and signal at process
// level only); none, terminate, error, signal and escalation end events; timer, message,
// signal and conditional intermediate catch events; none, signal and escalation
// intermediate throw events; timer, signal, escalation and conditional boundary events
// (interrupting or not) and interrupting error boundary events on tasks and subprocesses;
// tasks and manual tasks (pass through); service, send and business rule tasks with a job
// type; user tasks; script tasks with a script; exclusive and parallel gateways; embedded
// subprocesses; event subprocesses with a timer, message, signal or escalation start
// (interrupting or not) or an error start (interrupting); call activities naming a
// process; any of these activities as a parallel or sequential multi-instance or a
// standard loop. Anything else is reported as unsupported.
// Compensation: compensation end and intermediate throw events, and compensation boundary
// events with their associated handlers (activities marked isForCompensation).
func Check(d *Definitions) *Report {
	r := &Report{}
	ids := documentIDs(d)
	messages := map[string]bool{}
	for _, m := range d.Messages {
		messages[m.ID] = true
	}
	errs := map[string]bool{}
	for _, e := range d.Errors {
		errs[e.ID] = true
	}
	signals, escalations := map[string]bool{}, map[string]bool{}
	for _, sg := range d.Signals {
		signals[sg.ID] = true
	}
	for _, e := range d.Escalations {
		escalations[e.ID] = true
	}
	r.Warnings = documentWarnings(d, ids)
	for _, p := range d.Processes {
		c := &checker{pr: ProcessReport{ID: p.ID, Name: p.Name, IsExecutable: p.IsExecutable},
			ids: ids, messages: messages, errors: errs, signals: signals, escalations: escalations}
		c.compensationIndex(d, p)
		if n := ids[p.ID]; n > 1 {
			c.problem(p.ID, KindProcess, p.Line, p.Col, "id %q is used by %d elements", p.ID, n)
		}
		c.container(&p.Container, nil)
		c.startEvents(&p.Container, p, nil)
		r.Processes = append(r.Processes, c.pr)
	}
	return r
}

// documentIDs counts every id in the document, to find duplicates.
func documentIDs(d *Definitions) map[string]int {
	ids := map[string]int{}
	add := func(id string) {
		if id != "" {
			ids[id]++
		}
	}
	for _, p := range d.Processes {
		add(p.ID)
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, e := range c.Elements {
				add(e.ID)
				for _, a := range e.DataAssociations {
					add(a.ID)
				}
			}
			for _, f := range c.Flows {
				add(f.ID)
			}
		})
	}
	for _, c := range d.Collaborations {
		add(c.ID)
		for _, p := range c.Participants {
			add(p.ID)
		}
		for _, m := range c.MessageFlows {
			add(m.ID)
		}
		for _, a := range c.Artifacts {
			add(a.ID)
		}
	}
	for _, m := range d.Messages {
		add(m.ID)
	}
	for _, e := range d.Errors {
		add(e.ID)
	}
	for _, s := range d.Signals {
		add(s.ID)
	}
	for _, e := range d.Escalations {
		add(e.ID)
	}
	return ids
}

type checker struct {
	pr                   ProcessReport
	ids                  map[string]int
	messages             map[string]bool
	errors               map[string]bool
	signals, escalations map[string]bool

	// Compensation (compensation.go): the handlers of each compensation boundary event,
	// how many boundary events each handler has, the container owner of every flow node
	// and which flow nodes are activities.
	compHandlers   map[string][]*Element
	compBoundaries map[string]int
	owners         map[string]*Element
	activities     map[string]bool
	// compHosts are the activities with a compensation boundary event; compEventSubs
	// counts, per embedded subprocess, its event subprocesses with a compensation start.
	compHosts     map[string]bool
	compEventSubs map[string]int
}

func (c *checker) problem(id string, k Kind, line, col int, format string, args ...any) {
	c.pr.Problems = append(c.pr.Problems, Finding{ElementID: id, Kind: k, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) container(ct *Container, owner *Element) {
	nodes := map[string]*Element{}
	for _, e := range ct.Elements {
		if e.Kind.IsFlowNode() {
			nodes[e.ID] = e
		}
	}
	flows := map[string]*SequenceFlow{}
	from, to := map[string][]*SequenceFlow{}, map[string][]*SequenceFlow{}
	for _, f := range ct.Flows {
		if _, dup := flows[f.ID]; !dup {
			flows[f.ID] = f
		}
		from[f.SourceRef] = append(from[f.SourceRef], f)
		to[f.TargetRef] = append(to[f.TargetRef], f)
		if n := c.ids[f.ID]; n > 1 {
			c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "id %q is used by %d elements", f.ID, n)
		}
		if f.ID == "" {
			c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "sequence flow has no id")
		}
		if nodes[f.SourceRef] == nil {
			c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "sourceRef %q is not a flow node of this %s", f.SourceRef, scope(owner))
		}
		if nodes[f.TargetRef] == nil {
			c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "targetRef %q is not a flow node of this %s", f.TargetRef, scope(owner))
		}
		if strings.TrimSpace(f.Condition) != "" && !LanguageSupported(f.ConditionLanguage) {
			c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "condition: %s", languageRefusal("language", f.ConditionLanguage))
		}
	}
	c.fanOut(ct, nodes, from, to)
	for _, e := range ct.Elements {
		if !e.Kind.IsFlowNode() {
			continue
		}
		if e.ID == "" {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%s has no id", e.Kind)
		} else if n := c.ids[e.ID]; n > 1 {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "id %q is used by %d elements", e.ID, n)
		}
		if reason := c.unsupported(e, owner, nodes); reason != "" {
			c.pr.Unsupported = append(c.pr.Unsupported, Finding{ElementID: e.ID, Kind: e.Kind, Line: e.Line, Col: e.Col, Message: reason})
		} else {
			c.pr.Executes = append(c.pr.Executes, Finding{ElementID: e.ID, Kind: e.Kind, Line: e.Line, Col: e.Col, Message: "executes"})
		}
		c.structure(e, nodes, flows, from)
		c.compensation(e, owner, from, to)
		if e.ID != "" && c.ids[e.ID] <= 1 { // a missing or duplicate id is reported above
			c.flowLists(e, "outgoing", e.Outgoing, from[e.ID], flows, owner, func(f *SequenceFlow) string { return f.SourceRef })
			c.flowLists(e, "incoming", e.Incoming, to[e.ID], flows, owner, func(f *SequenceFlow) string { return f.TargetRef })
		}
		if e.Children != nil {
			c.container(e.Children, e)
			switch {
			case e.TriggeredByEvent && e.Kind == KindSubProcess:
				c.eventSubprocess(e, ct, from, to)
			case e.Kind == KindSubProcess || e.Kind == KindTransaction:
				c.startEvents(e.Children, nil, e)
			}
			if e.Kind == KindTransaction {
				c.transaction(e, ct)
			}
		}
	}
}

// transaction checks that a transaction subprocess e (in container ct) whose cancel end
// events cancel it has exactly one cancel boundary event to continue from.
func (c *checker) transaction(e *Element, ct *Container) {
	cancelEnds := 0
	for _, x := range e.Children.Elements {
		if x.Kind == KindEndEvent && x.Event != nil && x.Event.Type == EventCancel {
			cancelEnds++
		}
	}
	boundaries := 0
	for _, b := range ct.Elements {
		if b.Kind == KindBoundaryEvent && b.AttachedTo == e.ID && b.Event != nil && b.Event.Type == EventCancel {
			boundaries++
		}
	}
	switch {
	case boundaries > 1:
		c.problem(e.ID, e.Kind, e.Line, e.Col, "transaction has %d cancel boundary events, not one", boundaries)
	case cancelEnds > 0 && boundaries == 0:
		c.problem(e.ID, e.Kind, e.Line, e.Col, "transaction has a cancel end event but no cancel boundary event to continue from")
	}
}

func scope(owner *Element) string {
	if owner == nil {
		return "process"
	}
	return fmt.Sprintf("subprocess %q", owner.ID)
}

// structure checks the references of one flow node.
func (c *checker) structure(e *Element, nodes map[string]*Element, flows map[string]*SequenceFlow, from map[string][]*SequenceFlow) {
	if e.Kind == KindBoundaryEvent {
		host := nodes[e.AttachedTo]
		switch {
		case e.AttachedTo == "":
			c.problem(e.ID, e.Kind, e.Line, e.Col, "boundary event has no attachedToRef")
		case host == nil:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "attachedToRef %q is not a flow node of the same scope", e.AttachedTo)
		case !host.Kind.IsActivity():
			c.problem(e.ID, e.Kind, e.Line, e.Col, "attachedToRef %q is a %s, not an activity", e.AttachedTo, host.Kind)
		}
	}
	if e.Default != "" {
		if f := flows[e.Default]; f == nil || f.SourceRef != e.ID {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "default flow %q is not an outgoing sequence flow of it", e.Default)
		}
	}
	if e.Kind == KindExclusiveGateway {
		if len(from[e.ID]) > 1 {
			for _, id := range e.Outgoing {
				f := flows[id]
				if f != nil && f.ID != e.Default && strings.TrimSpace(f.Condition) == "" {
					c.problem(f.ID, KindSequenceFlow, f.Line, f.Col, "flow leaves exclusive gateway %q without a condition and is not its default flow", e.ID)
				}
			}
		}
	}
	for _, ev := range append([]*EventDefinition{e.Event}, e.Multiple...) {
		if ev == nil {
			continue
		}
		switch {
		case ev.SignalRef != "" && !c.signals[ev.SignalRef]:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "signalRef %q names no signal", ev.SignalRef)
		case ev.EscalationRef != "" && !c.escalations[ev.EscalationRef]:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "escalationRef %q names no escalation", ev.EscalationRef)
		case len(e.Multiple) > 0 && ev.MessageRef != "" && !c.messages[ev.MessageRef]:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "messageRef %q names no message", ev.MessageRef)
		case len(e.Multiple) > 0 && ev.ErrorRef != "" && !c.errors[ev.ErrorRef]:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "errorRef %q names no error", ev.ErrorRef)
		}
	}
	if ev := e.Event; ev != nil && len(e.Multiple) == 0 {
		switch ev.Type {
		case EventTimer:
			if ev.TimeDate == "" && ev.TimeDuration == "" && ev.TimeCycle == "" {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "timer has no timeDate, timeDuration or timeCycle")
			}
		case EventMessage:
			if ev.MessageRef == "" {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "message event has no messageRef")
			} else if !c.messages[ev.MessageRef] {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "messageRef %q names no message", ev.MessageRef)
			}
		case EventSignal:
			if ev.SignalRef == "" {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "signal event has no signalRef")
			}
		case EventEscalation:
			if ev.EscalationRef == "" && (e.Kind == KindEndEvent || e.Kind == KindIntermediateThrowEvent) {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "escalation event has no escalationRef")
			}
		case EventConditional:
			if strings.TrimSpace(ev.Condition) == "" {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "conditional event has no condition")
			}
		case EventError:
			if ev.ErrorRef != "" && !c.errors[ev.ErrorRef] {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "errorRef %q names no error", ev.ErrorRef)
			} else if ev.ErrorRef == "" && e.Kind == KindEndEvent {
				c.problem(e.ID, e.Kind, e.Line, e.Col, "error end event has no errorRef")
			}
		}
	}
}

// flowLists checks a flow node's incoming or outgoing list (dir) against the sequence
// flows of its container: the engine takes the flows the list names, so a name that is
// no flow of the container, a flow of another node, a name listed twice, or a flow of the
// node missing from the list would silently change where tokens go (an instance ending
// at its start event, say). actual are the container's flows whose end (end) is e.
func (c *checker) flowLists(e *Element, dir string, listed []string, actual []*SequenceFlow, flows map[string]*SequenceFlow,
	owner *Element, end func(*SequenceFlow) string) {
	seen := make(map[string]bool, len(listed))
	for _, id := range listed {
		f := flows[id]
		switch {
		case seen[id]:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%s %q is listed twice", dir, id)
		case f == nil:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%s %q names no sequence flow of this %s", dir, id, scope(owner))
		case end(f) != e.ID:
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%s %q is the sequence flow from %q to %q, not one of its %s flows", dir, id, f.SourceRef, f.TargetRef, dir)
		}
		seen[id] = true
	}
	for _, f := range actual {
		if !seen[f.ID] {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "sequence flow %q %s but is not among its %s flows", f.ID, map[string]string{"outgoing": "leaves it", "incoming": "enters it"}[dir], dir)
		}
	}
}

// documentWarnings finds the references that point at nothing among those that play no
// part in execution: DI shapes and edges, planes, pools, message flows, lanes,
// associations, data references and groups.
func documentWarnings(d *Definitions, ids map[string]int) []Finding {
	known := func(id string) bool { return ids[id] > 0 }
	lanes := map[string]bool{}
	var addLanes func(ls *LaneSet)
	addLanes = func(ls *LaneSet) {
		for _, l := range ls.Lanes {
			lanes[l.ID] = true
			if l.ChildLaneSet != nil {
				addLanes(l.ChildLaneSet)
			}
		}
	}
	roots := map[string]bool{} // root elements kept as raw nodes: data stores, categories, ...
	values := map[string]bool{}
	for _, n := range d.Extra.Children {
		roots[nodeAttr(n, "id")] = true
		for _, v := range n.Children {
			if v.Name.Space == NSModel && v.Name.Local == "categoryValue" {
				values[nodeAttr(v, "id")] = true
			}
		}
	}
	var out []Finding
	warn := func(id string, k Kind, line, col int, format string, args ...any) {
		out = append(out, Finding{ElementID: id, Kind: k, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
	}
	checkArtifacts := func(els []*Element) {
		for _, e := range els {
			switch e.Kind {
			case KindAssociation:
				for _, ref := range []string{e.SourceRef, e.TargetRef} {
					if ref != "" && !known(ref) {
						warn(e.ID, e.Kind, e.Line, e.Col, "association end %q names no element", ref)
					}
				}
			case KindDataObjectReference:
				if e.DataObjectRef != "" && !known(e.DataObjectRef) {
					warn(e.ID, e.Kind, e.Line, e.Col, "dataObjectRef %q names no data object", e.DataObjectRef)
				}
			case KindDataStoreReference:
				if e.DataStoreRef != "" && !roots[e.DataStoreRef] {
					warn(e.ID, e.Kind, e.Line, e.Col, "dataStoreRef %q names no data store", e.DataStoreRef)
				}
			case KindGroup:
				if e.CategoryValueRef != "" && !values[e.CategoryValueRef] {
					warn(e.ID, e.Kind, e.Line, e.Col, "categoryValueRef %q names no category value", e.CategoryValueRef)
				}
			}
		}
	}
	for _, p := range d.Processes {
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, ls := range c.LaneSets {
				addLanes(ls)
			}
			checkArtifacts(c.Elements)
		})
	}
	for _, p := range d.Processes {
		var checkLanes func(ls *LaneSet)
		checkLanes = func(ls *LaneSet) {
			for _, l := range ls.Lanes {
				for _, ref := range l.FlowNodeRefs {
					if !known(ref) {
						warn(l.ID, "lane", 0, 0, "flowNodeRef %q names no flow node", ref)
					}
				}
				if l.ChildLaneSet != nil {
					checkLanes(l.ChildLaneSet)
				}
			}
		}
		walk(&p.Container, func(c *Container, _ *Element) {
			for _, ls := range c.LaneSets {
				checkLanes(ls)
			}
		})
	}
	for _, c := range d.Collaborations {
		for _, pt := range c.Participants {
			if pt.ProcessRef != "" && !known(pt.ProcessRef) {
				warn(pt.ID, KindParticipant, 0, 0, "processRef %q names no process", pt.ProcessRef)
			}
		}
		for _, mf := range c.MessageFlows {
			for _, ref := range []string{mf.SourceRef, mf.TargetRef} {
				if !known(ref) {
					warn(mf.ID, KindMessageFlow, 0, 0, "message flow end %q names no element", ref)
				}
			}
			if mf.MessageRef != "" && !known(mf.MessageRef) {
				warn(mf.ID, KindMessageFlow, 0, 0, "messageRef %q names no message", mf.MessageRef)
			}
		}
		checkArtifacts(c.Artifacts)
	}
	for _, dg := range d.Diagrams {
		drawable := func(ref string) bool { return known(ref) || lanes[ref] }
		if ref := dg.Plane.ElementRef; ref != "" && !drawable(ref) {
			warn(dg.Plane.ID, "BPMNPlane", 0, 0, "bpmnElement %q names no process or collaboration", ref)
		}
		for _, sh := range dg.Plane.Shapes {
			if !drawable(sh.ElementRef) {
				warn(sh.ID, "BPMNShape", 0, 0, "bpmnElement %q names no element: the shape is drawn empty", sh.ElementRef)
			}
		}
		for _, ed := range dg.Plane.Edges {
			if !drawable(ed.ElementRef) {
				warn(ed.ID, "BPMNEdge", 0, 0, "bpmnElement %q names no element: the edge is drawn without one", ed.ElementRef)
			}
		}
	}
	return out
}

// startEvents requires a start event the engine can start the container with: a process
// (p set) needs a none, timer, message, signal or conditional start event, a subprocess
// (owner set) a none one.
func (c *checker) startEvents(ct *Container, p *Process, owner *Element) {
	for _, e := range ct.Elements {
		if e.Kind != KindStartEvent || len(e.Multiple) > 0 {
			continue
		}
		if e.Event == nil || p != nil && (e.Event.Type == EventTimer || e.Event.Type == EventMessage || e.Event.Type == EventSignal || e.Event.Type == EventConditional) {
			return
		}
	}
	if p != nil {
		c.problem(p.ID, KindProcess, p.Line, p.Col, "process has no none, timer, message, signal or conditional start event")
	} else {
		c.problem(owner.ID, owner.Kind, owner.Line, owner.Col, "subprocess has no none start event")
	}
}

// unsupported returns why the engine cannot execute e, or "" when it can.
func (c *checker) unsupported(e *Element, owner *Element, nodes map[string]*Element) string {
	if e.Kind.IsEvent() && len(e.Multiple) > 0 {
		return "events with several event definitions are not supported"
	}
	for _, ms := range [...]struct {
		dir string
		ms  []Mapping
	}{{"input", e.Task.Inputs}, {"output", e.Task.Outputs}} {
		for _, m := range ms.ms {
			if m.ScriptFormat != "" && !LanguageSupported(m.ScriptFormat) {
				return fmt.Sprintf("%s mapping %q: %s", ms.dir, m.Target, languageRefusal("its camunda:script scriptFormat", m.ScriptFormat))
			}
		}
	}
	ev := EventNone
	if e.Event != nil {
		ev = e.Event.Type
	}
	switch e.Kind {
	case KindStartEvent:
		if owner != nil && owner.TriggeredByEvent {
			if ev == EventCompensate && c.owners[owner.ID] == nil {
				return "compensation start events are supported in event subprocesses of embedded subprocesses only (a process is not compensated as a whole)"
			}
			return eventSubStartUnsupported(e, ev)
		}
		switch {
		case ev == EventNone:
			return ""
		case ev == EventTimer || ev == EventMessage || ev == EventSignal || ev == EventConditional:
			if owner != nil {
				return fmt.Sprintf("%s start events are supported at process level only", ev)
			}
			return ""
		}
		return fmt.Sprintf("%s start events are not supported", ev)
	case KindEndEvent:
		if ev == EventNone || ev == EventTerminate || ev == EventError || ev == EventSignal || ev == EventEscalation || ev == EventCompensate {
			return ""
		}
		if ev == EventCancel {
			if owner == nil || owner.Kind != KindTransaction {
				return "cancel end events are allowed only directly inside a transaction subprocess"
			}
			return ""
		}
		if ev == EventMessage {
			return messageThrowJob(e)
		}
		return fmt.Sprintf("%s end events are not supported", ev)
	case KindIntermediateCatchEvent:
		if ev == EventTimer || ev == EventMessage || ev == EventLink || ev == EventSignal || ev == EventConditional {
			return ""
		}
		return fmt.Sprintf("%s intermediate catch events are not supported", orNone(ev))
	case KindIntermediateThrowEvent:
		if ev == EventNone || ev == EventLink || ev == EventSignal || ev == EventEscalation || ev == EventCompensate {
			return ""
		}
		if ev == EventMessage {
			return messageThrowJob(e)
		}
		return fmt.Sprintf("%s intermediate throw events are not supported", ev)
	case KindBoundaryEvent:
		if host := nodes[e.AttachedTo]; host != nil && !host.Kind.IsActivity() {
			return "boundary events are supported on tasks and subprocesses only"
		}
		switch ev {
		case EventTimer, EventMessage, EventSignal, EventEscalation, EventConditional, EventCompensate:
			return ""
		case EventError:
			if !e.CancelActivity {
				return "non-interrupting error boundary events are not supported"
			}
			return ""
		case EventCancel:
			if host := nodes[e.AttachedTo]; host != nil && host.Kind != KindTransaction {
				return "cancel boundary events are allowed only on transaction subprocesses"
			}
			if !e.CancelActivity {
				return "cancel boundary events are always interrupting (cancelActivity=\"false\" is not allowed)"
			}
			return ""
		}
		return fmt.Sprintf("%s boundary events are not supported", orNone(ev))
	case KindTask, KindManualTask, KindUserTask:
		return ""
	case KindServiceTask, KindSendTask, KindBusinessRuleTask:
		if e.JobTypeOf() == "" {
			return fmt.Sprintf("%s has no job type (set camunda:topic, camunda:class or zeebe:taskDefinition type)", e.Kind)
		}
		return ""
	case KindScriptTask:
		if !LanguageSupported(e.Task.ScriptFormat) {
			return languageRefusal("scriptFormat", e.Task.ScriptFormat)
		}
		if strings.TrimSpace(e.Task.Script) == "" {
			return "script task has no script"
		}
		return ""
	case KindExclusiveGateway, KindParallelGateway:
		return ""
	case KindSubProcess:
		return ""
	case KindTransaction:
		return ""
	case KindAdHocSubProcess:
		return "ad-hoc subprocesses are not supported"
	case KindCallActivity:
		return callUnsupported(e)
	case KindReceiveTask:
		if e.ReceiveMessageRef() == "" {
			return "receive task has no messageRef (the message it waits for)"
		}
		return ""
	case KindInclusiveGateway, KindEventBasedGateway:
		return ""
	case KindComplexGateway:
		return "complex gateways are not supported"
	}
	return fmt.Sprintf("%s elements are not supported", e.Kind)
}

// eventSubStartUnsupported returns why the engine cannot execute e, the start event of
// an event subprocess with trigger ev, or "" when it can. (The structure of an event
// subprocess, one start event with a trigger, is checked by eventSubprocess.)
func eventSubStartUnsupported(e *Element, ev EventType) string {
	switch ev {
	case EventNone:
		return "" // a problem, not an unsupported element: see eventSubprocess
	case EventTimer, EventMessage, EventEscalation, EventSignal, EventConditional, EventCompensate:
		return ""
	case EventError:
		if !e.IsInterrupting {
			return "error start events of event subprocesses are always interrupting (isInterrupting=\"false\" is not allowed)"
		}
		return ""
	}
	return fmt.Sprintf("%s start events of event subprocesses are not supported", ev)
}

// eventSubprocess checks the structure of an event subprocess e: no sequence flow enters
// or leaves it, no boundary event is attached to it (boundaries are the attached
// elements of ct, its container), and it holds exactly one start event, with a trigger.
func (c *checker) eventSubprocess(e *Element, ct *Container, from, to map[string][]*SequenceFlow) {
	if len(from[e.ID]) > 0 || len(to[e.ID]) > 0 {
		c.problem(e.ID, e.Kind, e.Line, e.Col, "an event subprocess has no incoming or outgoing sequence flows")
	}
	for _, b := range ct.Elements {
		if b.Kind == KindBoundaryEvent && b.AttachedTo == e.ID {
			c.problem(b.ID, b.Kind, b.Line, b.Col, "boundary event attached to event subprocess %q: event subprocesses have no boundary events", e.ID)
		}
	}
	var starts []*Element
	for _, s := range e.Children.Elements {
		if s.Kind == KindStartEvent {
			starts = append(starts, s)
		}
	}
	switch {
	case len(starts) != 1:
		c.problem(e.ID, e.Kind, e.Line, e.Col, "an event subprocess has exactly one start event, this one has %d", len(starts))
	case starts[0].Event == nil && len(starts[0].Multiple) == 0:
		c.problem(starts[0].ID, starts[0].Kind, starts[0].Line, starts[0].Col, "the start event of event subprocess %q has no trigger (a message, timer, error, ... event definition)", e.ID)
	}
}

// LanguageSupported reports whether the engine evaluates scripts or conditions written in
// lang, a script task's scriptFormat, a camunda:script's scriptFormat or a condition's
// language attribute: none given, FEEL ("feel" or the OMG FEEL namespace URI), JUEL (its
// "${…}" subset) or expr, in any case. Anything else (groovy, javascript, python, ...)
// needs a script engine Cockpit does not have: Check refuses it, so validate and deploy
// refuse it alike.
func LanguageSupported(lang string) bool {
	l := strings.ToLower(strings.TrimSpace(lang))
	switch l {
	case "", "feel", "juel", "expr":
		return true
	}
	// http://www.omg.org/spec/FEEL/20140401, https://www.omg.org/spec/DMN/20191111/FEEL/
	return strings.Contains(l, "omg.org/spec/") && strings.Contains(l, "/feel")
}

func languageRefusal(what, lang string) string {
	return fmt.Sprintf("%s %q cannot run: the engine evaluates expressions (FEEL, JUEL \"${…}\", expr), not %s scripts (see docs/bpmn.md, Dialects)", what, lang, lang)
}

// callUnsupported says why a call activity cannot run: it names no process, or its
// binding is unknown or lacks its version or tag.
func callUnsupported(e *Element) string {
	if strings.TrimSpace(e.CalledElement) == "" {
		return "call activity names no called process (set calledElement or zeebe:calledElement processId)"
	}
	switch c := e.Call; c.Binding {
	case "", BindingLatest, BindingDeployment:
	case BindingVersion:
		if strings.TrimSpace(c.Version) == "" {
			return "call activity bound by version has no version (camunda:calledElementVersion)"
		}
	case BindingVersionTag:
		if strings.TrimSpace(c.VersionTag) == "" {
			return "call activity bound by version tag has no tag (camunda:calledElementVersionTag or zeebe versionTag)"
		}
	default:
		return fmt.Sprintf("call activity binding %q is not supported (latest, deployment, version or versionTag)", c.Binding)
	}
	return ""
}

func orNone(t EventType) EventType {
	if t == EventNone {
		return "none"
	}
	return t
}

// messageThrowJob says why a message throw or end event cannot run: the engine sends a
// message as a job (the worker sends it), so it needs a job type.
func messageThrowJob(e *Element) string {
	if e.ThrowJobType() == "" {
		return "message throw events run as jobs: set a job type (camunda:type=\"external\" camunda:topic on the message event definition, or zeebe:taskDefinition type)"
	}
	return ""
}
