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
}

type node struct {
	el     *bpmn.Element
	parent *node // enclosing subprocess (nil at top level)
	in     []*flow
	out    []*flow
	// defaultFlow is taken when no condition matches.
	defaultFlow *flow
	boundaries  []*node
	attachedTo  *node
	// start is the none start event inside a subprocess.
	start *node

	script  *expression.Program
	inputs  []compiledMapping
	outputs []compiledMapping

	timerKind string // duration, date, cycle
	timerText string

	messageName string
	correlation *expression.Program

	// errorCode is the code an error end event throws, or a boundary error catches
	// ("" on a boundary: catch every error).
	errorCode string

	jobType string
	retries int
	backoff schedule.Backoff

	// waits: a token stays here until something other than a job happens (a person, a
	// timer, a message, the other branches of a join); element.left reports its stay as
	// waiting time.
	waits bool
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
// returned one at a time, so a deploy error lists them all.
func compileProcess(def *store.Definition, defs *bpmn.Definitions, proc *bpmn.Process, o *Options) (*plan, []bpmn.Finding) {
	p := &plan{def: def, defs: defs, proc: proc, nodes: map[string]*node{}, flows: map[string]*flow{}}
	var problems []bpmn.Finding
	bad := func(el *bpmn.Element, format string, args ...any) {
		problems = append(problems, bpmn.Finding{ElementID: el.ID, Kind: el.Kind, Line: el.Line, Col: el.Col, Message: fmt.Sprintf(format, args...)})
	}
	messages := map[string]*bpmn.Message{}
	for _, m := range defs.Messages {
		messages[m.ID] = m
	}
	errorsByID := map[string]*bpmn.Error{}
	for _, e := range defs.Errors {
		errorsByID[e.ID] = e
	}
	compile := func(el *bpmn.Element, what, src string) *expression.Program {
		prog, err := expression.Compile(src)
		if err != nil {
			bad(el, "%s: %v", what, err)
			return nil
		}
		return prog
	}

	var walk func(c *bpmn.Container, parent *node)
	walk = func(c *bpmn.Container, parent *node) {
		for _, el := range c.Elements {
			if !el.Kind.IsFlowNode() {
				continue
			}
			n := &node{el: el, parent: parent}
			p.nodes[el.ID] = n
			// Ids, job types, error codes and assignees go into every event, row and
			// index that names them: bounded like any name.
			for _, f := range [...]struct{ what, v string }{{"id", el.ID}, {"job type", el.Task.JobType}, {"assignee", el.Task.Assignee}} {
				if len(f.v) > MaxNameBytes {
					bad(el, "%s is %d bytes, more than the limit of %d bytes", f.what, len(f.v), MaxNameBytes)
				}
			}
			if el.Kind.IsSubProcess() && el.Children != nil {
				walk(el.Children, n)
			}
		}
		for _, f := range c.Flows {
			p.flows[f.ID] = &flow{f: f}
			if len(f.ID) > MaxNameBytes { // in element.entered and the metrics rollups' keys
				// The id itself is left out of the finding: it is what is too long.
				problems = append(problems, bpmn.Finding{Kind: bpmn.KindSequenceFlow, Line: f.Line, Col: f.Col,
					Message: fmt.Sprintf("id is %d bytes, more than the limit of %d bytes", len(f.ID), MaxNameBytes)})
			}
		}
	}
	walk(&proc.Container, nil)

	for _, fl := range p.flows {
		fl.source, fl.target = p.nodes[fl.f.SourceRef], p.nodes[fl.f.TargetRef]
		if fl.source == nil || fl.target == nil {
			problems = append(problems, bpmn.Finding{ElementID: fl.f.ID, Kind: bpmn.KindSequenceFlow, Line: fl.f.Line, Col: fl.f.Col,
				Message: fmt.Sprintf("source %q or target %q is not a flow node", fl.f.SourceRef, fl.f.TargetRef)})
			continue
		}
		if strings.TrimSpace(fl.f.Condition) != "" && fl.source.el.Kind == bpmn.KindExclusiveGateway {
			fl.cond = compile(fl.source.el, fmt.Sprintf("condition of flow %q", fl.f.ID), fl.f.Condition)
		}
	}
	for _, n := range p.nodes {
		el := n.el
		// Keep the document's flow order: conditions are evaluated in it.
		for _, id := range el.Outgoing {
			if fl := p.flows[id]; fl != nil && fl.source == n {
				n.out = append(n.out, fl)
			}
		}
		for _, id := range el.Incoming {
			if fl := p.flows[id]; fl != nil && fl.target == n {
				n.in = append(n.in, fl)
			}
		}
		if el.Default != "" {
			n.defaultFlow = p.flows[el.Default]
		}
		if el.Kind == bpmn.KindBoundaryEvent {
			host := p.nodes[el.AttachedTo]
			if host == nil {
				bad(el, "attached to unknown activity %q", el.AttachedTo)
				continue
			}
			n.attachedTo = host
			host.boundaries = append(host.boundaries, n)
		}
		if el.Kind == bpmn.KindStartEvent && n.parent != nil && (el.Event == nil || el.Event.Type == bpmn.EventNone) {
			n.parent.start = n
		}
		for _, m := range el.Task.Inputs {
			if prog := compile(el, fmt.Sprintf("input mapping %q", m.Target), m.Source); prog != nil {
				n.inputs = append(n.inputs, compiledMapping{target: m.Target, source: prog})
			}
		}
		for _, m := range el.Task.Outputs {
			if prog := compile(el, fmt.Sprintf("output mapping %q", m.Target), m.Source); prog != nil {
				n.outputs = append(n.outputs, compiledMapping{target: m.Target, source: prog})
			}
		}
		switch el.Kind {
		case bpmn.KindScriptTask:
			if strings.TrimSpace(el.Task.Script) == "" {
				bad(el, "script task has no script")
			} else {
				n.script = compile(el, "script", el.Task.Script)
			}
		case bpmn.KindServiceTask, bpmn.KindSendTask, bpmn.KindBusinessRuleTask:
			n.jobType = el.Task.JobType
			if n.jobType == "" {
				bad(el, "no job type (set camunda:topic or zeebe:taskDefinition type)")
			}
			n.retries = o.DefaultRetries
			n.backoff = o.defaultBackoff
			if el.Task.RetryBackoff != "" {
				b, err := schedule.ParseBackoff(el.Task.RetryBackoff)
				if err != nil {
					bad(el, "retry policy: %v", err)
				} else {
					n.backoff, n.retries = b, b.Retries()
				}
			}
			if el.Task.Retries != "" {
				r, err := strconv.Atoi(strings.TrimSpace(el.Task.Retries))
				if err != nil || r < 0 {
					bad(el, "retries %q is not a non-negative number", el.Task.Retries)
				} else {
					n.retries = r
				}
			}
		}
		if ev := el.Event; ev != nil {
			switch ev.Type {
			case bpmn.EventTimer:
				switch {
				case ev.TimeDuration != "":
					n.timerKind, n.timerText = "duration", ev.TimeDuration
				case ev.TimeDate != "":
					n.timerKind, n.timerText = "date", ev.TimeDate
				case ev.TimeCycle != "":
					n.timerKind, n.timerText = "cycle", ev.TimeCycle
				default:
					bad(el, "timer has no duration, date or cycle")
				}
				// Expressions in timers are not supported; literal specs are checked now
				// so a bad one fails the deployment, not a running instance.
				if n.timerKind != "" {
					if t, err := schedule.ParseTimer(n.timerKind, strings.TrimSpace(n.timerText)); err != nil {
						bad(el, "timer: %v", err)
					} else if err := t.CheckInterval(); err != nil {
						bad(el, "timer: %v", err)
					}
				}
			case bpmn.EventMessage:
				m := messages[ev.MessageRef]
				if m == nil || m.Name == "" {
					bad(el, "message %q is not defined or has no name", ev.MessageRef)
					break
				}
				n.messageName = m.Name
				if len(m.Name) > MaxNameBytes {
					bad(el, "message name is %d bytes, more than the limit of %d bytes", len(m.Name), MaxNameBytes)
				}
				if el.Kind != bpmn.KindStartEvent && strings.TrimSpace(m.CorrelationKey) != "" {
					n.correlation = compile(el, "correlation key", m.CorrelationKey)
				}
			case bpmn.EventError:
				if ev.ErrorRef != "" {
					e := errorsByID[ev.ErrorRef]
					if e == nil {
						bad(el, "error %q is not defined", ev.ErrorRef)
						break
					}
					n.errorCode = e.Code
					if n.errorCode == "" {
						n.errorCode = e.Name
					}
					if len(n.errorCode) > MaxNameBytes {
						bad(el, "error code is %d bytes, more than the limit of %d bytes", len(n.errorCode), MaxNameBytes)
					}
				}
			}
		}
		if el.Kind == bpmn.KindStartEvent && n.parent == nil {
			switch {
			case el.Event == nil || el.Event.Type == bpmn.EventNone:
				p.start = n
			case el.Event.Type == bpmn.EventTimer:
				p.timerStarts = append(p.timerStarts, n)
			case el.Event.Type == bpmn.EventMessage:
				p.messageStarts = append(p.messageStarts, n)
			}
		}
	}
	for _, n := range p.nodes {
		if n.el.Kind.IsSubProcess() && n.start == nil {
			bad(n.el, "subprocess has no none start event")
		}
		if n.el.Kind == bpmn.KindParallelGateway {
			for _, fl := range n.out {
				if fl.f.Condition != "" {
					bad(n.el, "parallel gateway flow %q has a condition; parallel gateways ignore conditions", fl.f.ID)
				}
			}
		}
	}
	for _, n := range p.nodes {
		switch n.el.Kind {
		case bpmn.KindUserTask, bpmn.KindReceiveTask:
			n.waits = true
		case bpmn.KindIntermediateCatchEvent:
			n.waits = n.timerKind != "" || n.messageName != ""
		case bpmn.KindParallelGateway:
			n.waits = len(n.in) > 1
		}
	}
	if len(proc.ID) > MaxNameBytes {
		problems = append(problems, bpmn.Finding{Kind: bpmn.KindProcess, Line: proc.Line, Col: proc.Col,
			Message: fmt.Sprintf("process id (the process key) is %d bytes, more than the limit of %d bytes", len(proc.ID), MaxNameBytes)})
	}
	if p.start == nil && len(p.timerStarts) == 0 && len(p.messageStarts) == 0 {
		problems = append(problems, bpmn.Finding{ElementID: proc.ID, Kind: bpmn.KindProcess, Line: proc.Line, Col: proc.Col, Message: "process has no start event"})
	}
	return p, problems
}
