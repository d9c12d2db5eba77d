package engine

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/schedule"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// plan is a deployed process compiled for execution: elements by id, flows with their
// compiled conditions, boundary events by host. Plans are immutable and shared.
type plan struct {
	def   *store.Definition
	defs  *bpmn.Definitions
	proc  *bpmn.Process
	nodes map[string]*node
	flows map[string]*flow
	// start is the none start event of the process (nil when it has none).
	start         *node
	timerStarts   []*node
	messageStarts []*node
	signalStarts  []*node
	// condStartsTop are the process's conditional start events (EvaluateStartConditions).
	condStartsTop []*node
	// conditional: some node waits on a condition (a conditional catch or boundary
	// event), so variable changes are checked against it (run.evalConditions). Processes
	// without one pay nothing for conditions.
	conditional bool
	// condStarts: some event subprocess has a conditional start (evalEventSubConditions).
	condStarts bool
	// eventSubs are the event subprocesses at process level (see node.eventSubs).
	eventSubs []*node
	// inclusiveJoins: some inclusive gateway has several incoming flows, so the end of
	// each drain looks for joins that can fire (fireInclusiveJoins).
	inclusiveJoins bool
}

type node struct {
	el     *bpmn.Element
	parent *node // enclosing subprocess (nil at top level)
	in     []*flow
	out    []*flow
	// defaultFlow is taken when no condition matches.
	defaultFlow *flow
	// choose: the node is not a gateway and some outgoing flow has a condition, or it has
	// a default flow; leaving it then evaluates the conditions (next). Without, a token
	// takes every outgoing flow with no evaluation at all.
	choose     bool
	boundaries []*node
	attachedTo *node
	// start is the none start event inside a subprocess.
	start *node
	// eventSubs are the event subprocesses directly inside this subprocess: their start
	// events are armed while a token stands here (see armScope in eventsub.go).
	eventSubs []*node
	// trigger is the start event of an event subprocess (nil on any other node).
	trigger *node

	script  *expression.Program
	inputs  []compiledMapping
	outputs []compiledMapping

	timerKind string // duration, date, cycle
	timerText string
	// timerExpr computes the timer's text from the instance variables when the text is
	// an expression ("${…}", "#{…}" or "=…"); nil for a literal timer.
	timerExpr *expression.Program

	messageName string
	correlation *expression.Program

	// errorCode is the code an error end event throws, or a boundary error catches
	// ("" on a boundary: catch every error).
	errorCode string
	// errorCodeVar and errorMessageVar name the variables a catching error event sets to
	// the code and message it caught (camunda:errorCodeVariable, errorMessageVariable).
	errorCodeVar, errorMessageVar string
	// signalName is the signal a signal event throws, waits for or starts on.
	signalName string
	// escalationCode is the code an escalation event throws, or a boundary escalation
	// catches ("" on a boundary: catch every escalation).
	escalationCode string
	// condition is the condition of a conditional catch or boundary event; condVar, when
	// set (camunda:variableName), limits the variable changes it is checked on.
	condition *expression.Program
	condVar   string
	// conditional: a token standing here waits on a condition (the node is a
	// conditional catch event, or an activity with a conditional boundary event).
	conditional bool

	// reachers is, for an inclusive join, the elements of its container from which a
	// token can still reach it (by flows, boundary events and links): the join fires when
	// no token of its scope stands at one of them.
	reachers map[string]bool
	// linkTarget is the link catch event a link throw event jumps to.
	linkTarget *node

	jobType string
	retries int
	backoff schedule.Backoff
	// headers are the task's static headers (nil when it has none): jobs carry a copy.
	headers map[string]string

	// call is the compiled call activity (nil for other kinds).
	call *callPlan
	// loop is the compiled loop or multi-instance marker (loop.go); nil for most nodes.
	loop *loopPlan

	// waits: a token stays here until something other than a job happens (a person, a
	// timer, a message, the other branches of a join); element.left reports its stay as
	// waiting time.
	waits bool

	// Compensation (compensation.go). compHandler is the handler of an activity with a
	// compensation boundary event; compensates is, on a handler, that activity;
	// compScope marks a subprocess inside which such activities may complete; compensable
	// is compHandler != nil || compScope, the one test leave makes. compThrow marks a
	// compensation throw event, compActivity its activityRef ("" for all).
	compHandler  *node
	compensates  *node
	compScope    bool
	compensable  bool
	compThrow    bool
	compActivity string

	// Transactions (transaction.go): cancelEnd marks a cancel end event (also a
	// compThrow: it compensates its transaction); cancelBoundary is, on a
	// transaction, its cancel boundary event.
	cancelEnd      bool
	cancelBoundary *node
}

type flow struct {
	f      *bpmn.SequenceFlow
	source *node
	target *node
	cond   *expression.Program
}

type compiledMapping struct {
	target string
	source *expression.Program
}

// compileProcess builds the plan of one executable process. Problems are collected, not
// returned one at a time, so a deploy error lists them all. The passes: build the nodes
// and flows (with the name limits), link flows and boundary events to their nodes,
// compile each node by kind (mappings, tasks, events, start events), then check what
// needs the whole graph (subprocess starts, parallel gateways, wait states, the process).
func compileProcess(def *store.Definition, defs *bpmn.Definitions, proc *bpmn.Process, o *Options) (*plan, []bpmn.Finding) {
	c := &compiler{
		p:           &plan{def: def, defs: defs, proc: proc, nodes: map[string]*node{}, flows: map[string]*flow{}},
		o:           o,
		messages:    map[string]*bpmn.Message{},
		errors:      map[string]*bpmn.Error{},
		signals:     map[string]*bpmn.Signal{},
		escalations: map[string]*bpmn.Escalation{},
		feel:        defs.IsCamunda8(),
	}
	for _, m := range defs.Messages {
		c.messages[m.ID] = m
	}
	for _, e := range defs.Errors {
		c.errors[e.ID] = e
	}
	for _, s := range defs.Signals {
		c.signals[s.ID] = s
	}
	for _, e := range defs.Escalations {
		c.escalations[e.ID] = e
	}
	c.build(&proc.Container, nil)
	c.linkFlows()
	for _, n := range c.p.nodes {
		if !c.link(n) {
			continue
		}
		c.compileNode(n)
	}
	c.linkCompensation()
	c.checkGraph()
	c.checkProcess()
	return c.p, c.problems
}

// compiler holds one compileProcess's state: the plan being built, the problems found,
// and the document's messages and errors by id.
type compiler struct {
	p           *plan
	o           *Options
	problems    []bpmn.Finding
	messages    map[string]*bpmn.Message
	errors      map[string]*bpmn.Error
	signals     map[string]*bpmn.Signal
	escalations map[string]*bpmn.Escalation
	// feel: the document is a Camunda 8 model, whose "=…" expressions are FEEL.
	feel bool
}

// bad records a problem of element el.
func (c *compiler) bad(el *bpmn.Element, format string, args ...any) {
	c.problems = append(c.problems, bpmn.Finding{ElementID: el.ID, Kind: el.Kind, Line: el.Line, Col: el.Col, Message: fmt.Sprintf(format, args...)})
}

// compile compiles one expression of el; a bad one is a problem and nil.
func (c *compiler) compile(el *bpmn.Element, what, src string) *expression.Program {
	compile := expression.Compile
	if c.feel && strings.HasPrefix(strings.TrimSpace(src), "=") {
		compile = expression.CompileFEEL
	}
	prog, err := compile(src)
	if err != nil {
		c.bad(el, "%s: %v", what, err)
		return nil
	}
	return prog
}

// compileMapping compiles the source of an input or output mapping: a literal or null is
// its value, anything else an expression.
func (c *compiler) compileMapping(el *bpmn.Element, dir string, m bpmn.Mapping) *expression.Program {
	switch {
	case m.Null:
		return expression.Literal(nil)
	case m.Literal:
		return expression.Literal(m.Source)
	}
	return c.compile(el, fmt.Sprintf("%s mapping %q", dir, m.Target), m.Source)
}

// build makes a node of every flow node and a flow of every sequence flow in container
// cont and, recursively, in its subprocesses.
func (c *compiler) build(cont *bpmn.Container, parent *node) {
	for _, el := range cont.Elements {
		if !el.Kind.IsFlowNode() {
			continue
		}
		n := &node{el: el, parent: parent}
		c.p.nodes[el.ID] = n
		if el.Kind == bpmn.KindSubProcess && el.TriggeredByEvent {
			if parent == nil {
				c.p.eventSubs = append(c.p.eventSubs, n)
			} else {
				parent.eventSubs = append(parent.eventSubs, n)
			}
		}
		// Ids, job types, error codes and assignees go into every event, row and
		// index that names them: bounded like any name.
		for _, f := range [...]struct{ what, v string }{{"id", el.ID}, {"job type", el.Task.JobType}, {"assignee", el.Task.Assignee}} {
			if len(f.v) > MaxNameBytes {
				c.bad(el, "%s is %d bytes, more than the limit of %d bytes", f.what, len(f.v), MaxNameBytes)
			}
		}
		if el.Kind.IsSubProcess() && el.Children != nil {
			c.build(el.Children, n)
		}
	}
	for _, f := range cont.Flows {
		c.p.flows[f.ID] = &flow{f: f}
		if len(f.ID) > MaxNameBytes { // in element.entered and the metrics rollups' keys
			// The id itself is left out of the finding: it is what is too long.
			c.problems = append(c.problems, bpmn.Finding{Kind: bpmn.KindSequenceFlow, Line: f.Line, Col: f.Col,
				Message: fmt.Sprintf("id is %d bytes, more than the limit of %d bytes", len(f.ID), MaxNameBytes)})
		}
	}
}

// linkFlows resolves each flow's source and target, and compiles the conditions of an
// exclusive gateway's flows.
func (c *compiler) linkFlows() {
	for _, fl := range c.p.flows {
		fl.source, fl.target = c.p.nodes[fl.f.SourceRef], c.p.nodes[fl.f.TargetRef]
		if fl.source == nil || fl.target == nil {
			c.problems = append(c.problems, bpmn.Finding{ElementID: fl.f.ID, Kind: bpmn.KindSequenceFlow, Line: fl.f.Line, Col: fl.f.Col,
				Message: fmt.Sprintf("source %q or target %q is not a flow node", fl.f.SourceRef, fl.f.TargetRef)})
			continue
		}
		// Conditions count on flows leaving anything but a parallel gateway (refused in
		// checkGraph) and an event-based gateway (its events decide).
		switch k := fl.source.el.Kind; {
		case strings.TrimSpace(fl.f.Condition) == "", k == bpmn.KindParallelGateway, k == bpmn.KindEventBasedGateway:
		default:
			fl.cond = c.compile(fl.source.el, fmt.Sprintf("condition of flow %q", fl.f.ID), fl.f.Condition)
			if !k.IsGateway() {
				fl.source.choose = true
			}
		}
	}
}

// link gives node n its flows, its default flow, its host (a boundary event) and marks
// it as its subprocess's start. It reports false for a boundary event attached to an
// unknown activity, which is not compiled further.
func (c *compiler) link(n *node) bool {
	el := n.el
	// Keep the document's flow order: conditions are evaluated in it.
	for _, id := range el.Outgoing {
		if fl := c.p.flows[id]; fl != nil && fl.source == n {
			n.out = append(n.out, fl)
		}
	}
	for _, id := range el.Incoming {
		if fl := c.p.flows[id]; fl != nil && fl.target == n {
			n.in = append(n.in, fl)
		}
	}
	if el.Default != "" {
		n.defaultFlow = c.p.flows[el.Default]
		if n.defaultFlow == nil || n.defaultFlow.source != n {
			c.bad(el, "default flow %q is not one of its outgoing flows", el.Default)
			n.defaultFlow = nil
		} else if !el.Kind.IsGateway() {
			n.choose = true
		}
	}
	if el.Kind == bpmn.KindBoundaryEvent {
		host := c.p.nodes[el.AttachedTo]
		if host == nil {
			c.bad(el, "attached to unknown activity %q", el.AttachedTo)
			return false
		}
		n.attachedTo = host
		host.boundaries = append(host.boundaries, n)
		if el.Event != nil && el.Event.Type == bpmn.EventCancel {
			host.cancelBoundary = n
		}
	}
	switch {
	case el.Kind != bpmn.KindStartEvent || n.parent == nil:
	case n.parent.el.TriggeredByEvent:
		if el.Event != nil && el.Event.Type != bpmn.EventNone {
			n.parent.trigger = n
		}
	case el.Event == nil || el.Event.Type == bpmn.EventNone:
		n.parent.start = n
	}
	return true
}

// compileNode compiles what node n runs: its mappings, its task or event definition,
// and, for a top-level start event, which kind of start it is.
func (c *compiler) compileNode(n *node) {
	el := n.el
	for _, m := range el.Task.Inputs {
		if prog := c.compileMapping(el, "input", m); prog != nil {
			n.inputs = append(n.inputs, compiledMapping{target: m.Target, source: prog})
		}
	}
	for _, m := range el.Task.Outputs {
		if prog := c.compileMapping(el, "output", m); prog != nil {
			n.outputs = append(n.outputs, compiledMapping{target: m.Target, source: prog})
		}
	}
	c.compileTask(n)
	if ref := el.ReceiveMessageRef(); ref != "" {
		c.compileMessage(n, &bpmn.EventDefinition{MessageRef: ref})
	}
	if el.IsMessageThrow() {
		c.compileJob(n, el.ThrowJobType())
	}
	if el.Kind == bpmn.KindCallActivity {
		c.compileCall(n)
	}
	c.compileLoop(n)
	if ev := el.Event; ev != nil {
		switch ev.Type {
		case bpmn.EventTimer:
			c.compileTimer(n, ev)
		case bpmn.EventMessage:
			c.compileMessage(n, ev)
		case bpmn.EventError:
			c.compileError(n, ev)
		case bpmn.EventSignal:
			c.compileSignal(n, ev)
		case bpmn.EventEscalation:
			c.compileEscalation(n, ev)
		case bpmn.EventConditional:
			c.compileConditional(n, ev)
		case bpmn.EventCancel:
			if el.Kind == bpmn.KindEndEvent {
				n.cancelEnd, n.compThrow = true, true
			}
		}
	}
	if el.Kind == bpmn.KindStartEvent && n.parent == nil {
		switch {
		case el.Event == nil || el.Event.Type == bpmn.EventNone:
			c.p.start = n
		case el.Event.Type == bpmn.EventTimer:
			c.p.timerStarts = append(c.p.timerStarts, n)
			c.startTimerText(n)
		case el.Event.Type == bpmn.EventMessage:
			c.p.messageStarts = append(c.p.messageStarts, n)
		case el.Event.Type == bpmn.EventSignal:
			c.p.signalStarts = append(c.p.signalStarts, n)
		case el.Event.Type == bpmn.EventConditional:
			c.p.condStartsTop = append(c.p.condStartsTop, n)
		}
	}
}

// compileTask compiles a script task's script, and a job task's type, retries and
// backoff (the engine's defaults unless the task sets its own).
func (c *compiler) compileTask(n *node) {
	el := n.el
	switch el.Kind {
	case bpmn.KindScriptTask:
		if strings.TrimSpace(el.Task.Script) == "" {
			c.bad(el, "script task has no script")
		} else {
			n.script = c.compile(el, "script", el.Task.Script)
		}
	case bpmn.KindServiceTask, bpmn.KindSendTask, bpmn.KindBusinessRuleTask:
		c.compileJob(n, el.JobTypeOf())
	}
}

// compileJob compiles what an element that runs as a job needs: its type, retries and
// backoff (the engine's defaults unless the element sets its own).
func (c *compiler) compileJob(n *node, jobType string) {
	el := n.el
	n.jobType = jobType
	if n.jobType == "" {
		c.bad(el, "no job type (set camunda:topic or zeebe:taskDefinition type)")
	}
	if len(el.Task.Headers) > 0 {
		n.headers = make(map[string]string, len(el.Task.Headers))
		size := 0
		for _, h := range el.Task.Headers {
			n.headers[h.Key] = h.Value
			size += len(h.Key) + len(h.Value)
		}
		if size > MaxHeadersBytes {
			c.bad(el, "task headers are %d bytes, more than the limit of %d bytes (MaxHeadersBytes)", size, MaxHeadersBytes)
		}
	}
	n.retries = c.o.DefaultRetries
	n.backoff = c.o.defaultBackoff
	if el.Task.RetryBackoff != "" {
		b, err := schedule.ParseBackoff(el.Task.RetryBackoff)
		if err != nil {
			c.bad(el, "retry policy: %v", err)
		} else {
			n.backoff, n.retries = b, b.Retries()
		}
	}
	if el.Task.Retries != "" {
		r, err := strconv.Atoi(strings.TrimSpace(el.Task.Retries))
		if err != nil || r < 0 {
			c.bad(el, "retries %q is not a non-negative number", el.Task.Retries)
		} else {
			n.retries = r
		}
	}
}

// compileTimer takes a timer's kind and text, and checks a literal spec now, so a bad
// one fails the deployment, not a running instance. A timer written as an expression is
// compiled, and evaluated when a token arrives (timerSpec).
func (c *compiler) compileTimer(n *node, ev *bpmn.EventDefinition) {
	switch {
	case ev.TimeDuration != "":
		n.timerKind, n.timerText = "duration", ev.TimeDuration
	case ev.TimeDate != "":
		n.timerKind, n.timerText = "date", ev.TimeDate
	case ev.TimeCycle != "":
		n.timerKind, n.timerText = "cycle", ev.TimeCycle
	default:
		c.bad(n.el, "timer has no duration, date or cycle")
		return
	}
	if isTimerExpression(n.timerText) {
		n.timerExpr = c.compile(n.el, "timer", n.timerText)
		return
	}
	if t, err := schedule.ParseTimer(n.timerKind, strings.TrimSpace(n.timerText)); err != nil {
		c.bad(n.el, "timer: %v", err)
	} else if err := t.CheckInterval(); err != nil {
		c.bad(n.el, "timer: %v", err)
	}
}

// startTimerText evaluates the expression of a start timer, which has no instance to
// read variables from: once, without variables, when the process is compiled (deployed,
// or loaded again). Its value is then the timer's text, checked like a literal one.
func (c *compiler) startTimerText(n *node) {
	if n.timerExpr == nil {
		return
	}
	v, err := n.timerExpr.Eval(nil)
	text := ""
	if err == nil {
		text, err = timerText(v)
	}
	if err == nil {
		var t schedule.Timer
		if t, err = schedule.ParseTimer(n.timerKind, text); err == nil {
			err = t.CheckInterval()
		}
	}
	if err != nil {
		c.bad(n.el, "timer: %v (a start timer's expression is evaluated when the process is deployed, without variables)", err)
		return
	}
	n.timerText, n.timerExpr = text, nil
}

// compileMessage resolves a message event's message name and compiles its correlation
// key (a message start has none: it starts a new instance).
func (c *compiler) compileMessage(n *node, ev *bpmn.EventDefinition) {
	el := n.el
	m := c.messages[ev.MessageRef]
	if m == nil || m.Name == "" {
		c.bad(el, "message %q is not defined or has no name", ev.MessageRef)
		return
	}
	n.messageName = m.Name
	if len(m.Name) > MaxNameBytes {
		c.bad(el, "message name is %d bytes, more than the limit of %d bytes", len(m.Name), MaxNameBytes)
	}
	// An event subprocess's message start subscribes for its instance, with the key.
	if (el.Kind != bpmn.KindStartEvent || n.eventSub() != nil) && strings.TrimSpace(m.CorrelationKey) != "" {
		n.correlation = c.compile(el, "correlation key", m.CorrelationKey)
	}
}

// compileError resolves the code an error event throws or catches (its name when it
// has no code; no reference: a boundary catches every error).
func (c *compiler) compileError(n *node, ev *bpmn.EventDefinition) {
	for _, a := range ev.Extra.Attrs {
		if a.Name.Space != bpmn.NSCamunda {
			continue
		}
		switch a.Name.Local {
		case "errorCodeVariable":
			n.errorCodeVar = strings.TrimSpace(a.Value)
		case "errorMessageVariable":
			n.errorMessageVar = strings.TrimSpace(a.Value)
		}
	}
	if ev.ErrorRef == "" {
		return
	}
	e := c.errors[ev.ErrorRef]
	if e == nil {
		c.bad(n.el, "error %q is not defined", ev.ErrorRef)
		return
	}
	n.errorCode = e.Code
	if n.errorCode == "" {
		n.errorCode = e.Name
	}
	if len(n.errorCode) > MaxNameBytes {
		c.bad(n.el, "error code is %d bytes, more than the limit of %d bytes", len(n.errorCode), MaxNameBytes)
	}
}

// compileSignal resolves a signal event's signal name. Names are literal: Camunda 7's
// expressions in signal names (${...}) are refused rather than broadcast as text.
func (c *compiler) compileSignal(n *node, ev *bpmn.EventDefinition) {
	s := c.signals[ev.SignalRef]
	if s == nil || strings.TrimSpace(s.Name) == "" {
		c.bad(n.el, "signal %q is not defined or has no name", ev.SignalRef)
		return
	}
	if strings.Contains(s.Name, "${") || strings.Contains(s.Name, "#{") {
		c.bad(n.el, "signal name %q is an expression; signal names are literal", s.Name)
		return
	}
	if len(s.Name) > MaxNameBytes {
		c.bad(n.el, "signal name is %d bytes, more than the limit of %d bytes", len(s.Name), MaxNameBytes)
		return
	}
	n.signalName = s.Name
}

// compileEscalation resolves the code an escalation event throws or catches (no
// reference, or an escalation without a code, on a boundary: catch every escalation).
func (c *compiler) compileEscalation(n *node, ev *bpmn.EventDefinition) {
	if ev.EscalationRef == "" {
		if n.el.Kind != bpmn.KindBoundaryEvent && n.el.Kind != bpmn.KindStartEvent {
			c.bad(n.el, "escalation event has no escalationRef")
		}
		return
	}
	e := c.escalations[ev.EscalationRef]
	if e == nil {
		c.bad(n.el, "escalation %q is not defined", ev.EscalationRef)
		return
	}
	n.escalationCode = e.Code
	if len(n.escalationCode) > MaxNameBytes {
		c.bad(n.el, "escalation code is %d bytes, more than the limit of %d bytes", len(n.escalationCode), MaxNameBytes)
	}
}

// compileConditional compiles a conditional event's condition, and the variable name
// that limits when it is checked (camunda:variableName; camunda:variableEvents is not
// read: every change of the variable counts).
func (c *compiler) compileConditional(n *node, ev *bpmn.EventDefinition) {
	if strings.TrimSpace(ev.Condition) == "" {
		c.bad(n.el, "conditional event has no condition")
		return
	}
	n.condition = c.compile(n.el, "condition", ev.Condition)
	for _, a := range ev.Extra.Attrs {
		if a.Name.Space == bpmn.NSCamunda && a.Name.Local == "variableName" {
			n.condVar = strings.TrimSpace(a.Value)
		}
	}
	if n.condition == nil {
		return
	}
	switch n.el.Kind {
	case bpmn.KindIntermediateCatchEvent:
		n.conditional = true
		c.p.conditional = true
	case bpmn.KindBoundaryEvent:
		if n.attachedTo != nil {
			n.attachedTo.conditional = true
			c.p.conditional = true
		}
	case bpmn.KindStartEvent:
		if n.eventSub() != nil {
			c.p.conditional, c.p.condStarts = true, true
		}
	}
}

// checkGraph checks what needs every node linked: each subprocess has a none start,
// no parallel gateway's flow has a condition; then marks the wait states.
func (c *compiler) checkGraph() {
	for _, n := range c.p.nodes {
		switch {
		case n.el.Kind.IsSubProcess() && n.el.TriggeredByEvent:
			if n.trigger == nil {
				c.bad(n.el, "event subprocess has no start event with a trigger")
			}
		case n.el.Kind.IsSubProcess() && n.start == nil:
			c.bad(n.el, "subprocess has no none start event")
		}
		if n.el.Kind == bpmn.KindParallelGateway {
			for _, fl := range n.out {
				if fl.f.Condition != "" {
					c.bad(n.el, "parallel gateway flow %q has a condition; parallel gateways ignore conditions", fl.f.ID)
				}
			}
		}
	}
	c.linkEvents()
	for _, n := range c.p.nodes {
		switch n.el.Kind {
		case bpmn.KindUserTask, bpmn.KindReceiveTask, bpmn.KindEventBasedGateway:
			n.waits = true
		case bpmn.KindIntermediateCatchEvent:
			n.waits = n.timerKind != "" || n.messageName != "" || n.signalName != "" || n.condition != nil
		case bpmn.KindParallelGateway:
			n.waits = len(n.in) > 1
		case bpmn.KindInclusiveGateway:
			if n.waits = len(n.in) > 1; n.waits {
				n.reachers = reachers(n, c.p.nodes)
				c.p.inclusiveJoins = true
			}
		}
		if n.el.Kind == bpmn.KindEventBasedGateway {
			c.checkEventGateway(n)
		}
	}
}

// linkEvents pairs each link throw event with the link catch event of the same name in
// its container.
func (c *compiler) linkEvents() {
	type key struct {
		parent *node
		name   string
	}
	catches := map[key]*node{}
	for _, n := range c.p.nodes {
		if ev := n.el.Event; ev != nil && ev.Type == bpmn.EventLink && n.el.Kind == bpmn.KindIntermediateCatchEvent {
			k := key{n.parent, linkName(n.el)}
			if other := catches[k]; other != nil {
				c.bad(n.el, "link catch event %q has the same name as %q in the same scope", k.name, other.el.ID)
			}
			catches[k] = n
		}
	}
	for _, n := range c.p.nodes {
		if ev := n.el.Event; ev != nil && ev.Type == bpmn.EventLink && n.el.Kind == bpmn.KindIntermediateThrowEvent {
			name := linkName(n.el)
			if n.linkTarget = catches[key{n.parent, name}]; n.linkTarget == nil {
				c.bad(n.el, "no link catch event named %q in the same scope", name)
			}
		}
	}
}

// linkName is the name of a link event: its link event definition's name, or else the
// event's own name (some tools write only that).
func linkName(el *bpmn.Element) string {
	if el.Event != nil && el.Event.LinkName != "" {
		return el.Event.LinkName
	}
	return el.Name
}

// checkEventGateway checks that every flow of an event-based gateway leads to an event
// the gateway can wait for.
func (c *compiler) checkEventGateway(n *node) {
	if len(n.out) < 2 {
		c.bad(n.el, "event-based gateway has %d outgoing flows; it needs at least two", len(n.out))
	}
	for _, fl := range n.out {
		if !catchable(fl.target) {
			c.bad(n.el, "flow %q leads to %q, which is not a timer, message or signal intermediate catch event or a receive task", fl.f.ID, fl.target.el.ID)
		}
	}
}

// catchable reports whether an event-based gateway can wait for node t.
func catchable(t *node) bool {
	switch t.el.Kind {
	case bpmn.KindReceiveTask:
		return t.messageName != ""
	case bpmn.KindIntermediateCatchEvent:
		return t.timerKind != "" || t.messageName != "" || t.signalName != ""
	}
	return false
}

// reachers returns the ids of the elements from which a token can reach join j without
// passing through it: backwards along the flows of j's container, from a boundary event
// to its activity, and from a link catch event to its throw events.
func reachers(j *node, nodes map[string]*node) map[string]bool {
	pred := func(n *node, visit func(*node)) {
		for _, fl := range n.in {
			visit(fl.source)
		}
		if n.attachedTo != nil {
			visit(n.attachedTo)
		}
	}
	// Link throws point at their catch; index them the other way once.
	throws := map[*node][]*node{}
	for _, n := range nodes {
		if n.parent == j.parent && n.linkTarget != nil {
			throws[n.linkTarget] = append(throws[n.linkTarget], n)
		}
	}
	out := map[string]bool{}
	stack := []*node{j}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		visit := func(p *node) {
			if p != j && !out[p.el.ID] {
				out[p.el.ID] = true
				stack = append(stack, p)
			}
		}
		pred(n, visit)
		for _, t := range throws[n] {
			visit(t)
		}
	}
	return out
}

// checkProcess checks the process itself: its id (the process key) is bounded like any
// name, and it has a start event of some kind.
func (c *compiler) checkProcess() {
	proc := c.p.proc
	if len(proc.ID) > MaxNameBytes {
		c.problems = append(c.problems, bpmn.Finding{Kind: bpmn.KindProcess, Line: proc.Line, Col: proc.Col,
			Message: fmt.Sprintf("process id (the process key) is %d bytes, more than the limit of %d bytes", len(proc.ID), MaxNameBytes)})
	}
	if tag := proc.VersionTag(); len(tag) > MaxNameBytes {
		c.problems = append(c.problems, bpmn.Finding{ElementID: proc.ID, Kind: bpmn.KindProcess, Line: proc.Line, Col: proc.Col,
			Message: fmt.Sprintf("version tag is %d bytes, more than the limit of %d bytes", len(tag), MaxNameBytes)})
	}
	if c.p.start == nil && len(c.p.timerStarts) == 0 && len(c.p.messageStarts) == 0 && len(c.p.signalStarts) == 0 && len(c.p.condStartsTop) == 0 {
		c.problems = append(c.problems, bpmn.Finding{ElementID: proc.ID, Kind: bpmn.KindProcess, Line: proc.Line, Col: proc.Col, Message: "process has no start event"})
	}
}
