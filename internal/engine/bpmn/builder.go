package bpmn

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Builder writes an executable process in Go, producing the same model XML import gives
// (kinds, task definitions, event definitions, flows with Incoming/Outgoing, message and
// error root elements) plus DI from Layout.
//
// Each method adds a node and connects it from the current node, then makes it current:
//
//	p := bpmn.Build("order", bpmn.Name("Order")).
//		Start("start").
//		ServiceTask("reserve", bpmn.JobType("inventory.reserve"), bpmn.Retries(5)).
//		ExclusiveGateway("paid").
//		Condition("paid == true").UserTask("approve", bpmn.Assignee("ops")).End("done").
//		Default().End("failed", bpmn.ErrorEnd("E42"))
//	defs, err := p.Definitions()
//
// Condition, Default and Branch open a new branch from the current node when it is a
// gateway, else from the gateway added last; MoveTo continues from any node, and Connect
// draws a flow to a node that may be added later (a join). Mistakes (duplicate ids,
// unknown targets, options on the wrong kind of node) are collected and returned by
// Definitions. A Builder is not safe for concurrent use.
type Builder struct {
	st  *buildState
	c   *Container
	cur string
	gw  string // the gateway added last on this builder
	// The flow the next node is connected with.
	cond      string
	isDefault bool
	flowName  string
}

type buildState struct {
	proc        *Process
	errs        []error
	nodes       map[string]*Element
	scope       map[string]*Container
	pending     []pendingFlow
	messages    []*Message
	errors      []*Error
	signals     []*Signal
	escalations []*Escalation
	// artifacts are the ids of associations the builder made.
	artifacts []string
}

type pendingFlow struct {
	c                *Container
	from, to         string
	cond, name       string
	isDefault        bool
	createdByConnect bool
}

// Option configures a process or node of the builder.
type Option func(*optTarget)

type optTarget struct {
	st   *buildState
	proc *Process
	el   *Element
}

func (t *optTarget) errorf(format string, args ...any) {
	id := ""
	if t.el != nil {
		id = t.el.ID
	}
	t.st.errs = append(t.st.errs, fmt.Errorf("bpmn builder: %q: "+format, append([]any{id}, args...)...))
}

// onNode applies fn to an element of one of the kinds (any kind when none are given).
func onNode(option string, fn func(*Element), kinds ...Kind) Option {
	return func(t *optTarget) {
		if t.el == nil {
			t.st.errs = append(t.st.errs, fmt.Errorf("bpmn builder: option %s applies to nodes, not processes", option))
			return
		}
		for _, k := range kinds {
			if t.el.Kind == k {
				fn(t.el)
				return
			}
		}
		if len(kinds) == 0 {
			fn(t.el)
			return
		}
		t.errorf("option %s does not apply to a %s", option, t.el.Kind)
	}
}

// Name sets the name of a process or node.
func Name(name string) Option {
	return func(t *optTarget) {
		if t.el != nil {
			t.el.Name = name
		} else {
			t.proc.Name = name
		}
	}
}

// Documentation adds a documentation text to a process or node.
func Documentation(text string) Option {
	return func(t *optTarget) {
		if t.el != nil {
			t.el.Extra.Documentation = append(t.el.Extra.Documentation, text)
		} else {
			t.proc.Extra.Documentation = append(t.proc.Extra.Documentation, text)
		}
	}
}

// Descriptive marks the process as not executable (isExecutable="false").
func Descriptive() Option {
	return func(t *optTarget) {
		if t.proc != nil {
			t.proc.IsExecutable = false
		}
	}
}

var jobKinds = []Kind{KindServiceTask, KindSendTask, KindBusinessRuleTask}

// JobType sets the job type a worker handler is selected by.
func JobType(jobType string) Option {
	return onNode("JobType", func(e *Element) { e.Task.JobType = jobType }, jobKinds...)
}

// TaskHeader adds a static task header (zeebe:taskHeaders): every job of the task carries it
// to its handler or worker (Job.Headers).
func TaskHeader(key, value string) Option {
	return onNode("TaskHeader", func(e *Element) { e.Task.Headers = append(e.Task.Headers, Header{Key: key, Value: value}) }, jobKinds...)
}

// Retries sets the number of attempts before an incident.
func Retries(n int) Option {
	return onNode("Retries", func(e *Element) { e.Task.Retries = strconv.Itoa(n) }, jobKinds...)
}

// Backoff sets the retry backoff policy ("R5/PT10S": 5 attempts 10 seconds apart).
func Backoff(policy string) Option {
	return onNode("Backoff", func(e *Element) { e.Task.RetryBackoff = policy }, jobKinds...)
}

// Assignee sets the assignee expression of a user task.
func Assignee(a string) Option {
	return onNode("Assignee", func(e *Element) { e.Task.Assignee = a }, KindUserTask)
}

// CandidateGroups sets the candidate groups of a user task.
func CandidateGroups(groups ...string) Option {
	return onNode("CandidateGroups", func(e *Element) { e.Task.CandidateGroups = strings.Join(groups, ",") }, KindUserTask)
}

// CandidateUsers sets the candidate users of a user task.
func CandidateUsers(users ...string) Option {
	return onNode("CandidateUsers", func(e *Element) { e.Task.CandidateUsers = strings.Join(users, ",") }, KindUserTask)
}

// FormKey sets the form of a user task.
func FormKey(key string) Option {
	return onNode("FormKey", func(e *Element) { e.Task.FormKey = key }, KindUserTask)
}

// DueDate sets the due date expression of a user task.
func DueDate(expr string) Option {
	return onNode("DueDate", func(e *Element) { e.Task.DueDate = expr }, KindUserTask)
}

// Field adds a form field to a user task.
func Field(f FormField) Option {
	return onNode("Field", func(e *Element) { e.Task.FormFields = append(e.Task.FormFields, f) }, KindUserTask)
}

// Script sets the script (an expression) of a script task.
func Script(expr string) Option {
	return onNode("Script", func(e *Element) { e.Task.Script = expr }, KindScriptTask)
}

// ScriptFormat sets the language of a script task's script.
func ScriptFormat(format string) Option {
	return onNode("ScriptFormat", func(e *Element) { e.Task.ScriptFormat = format }, KindScriptTask)
}

// ResultVariable names the variable a script task's result is stored in.
func ResultVariable(name string) Option {
	return onNode("ResultVariable", func(e *Element) { e.Task.ResultVariable = name }, KindScriptTask)
}

// Input adds an input mapping: target receives the value of the expression source, as a
// variable local to the activity (its handler, its children and its output mappings see
// it; the process does not keep it).
func Input(target, source string) Option {
	return onNode("Input", func(e *Element) { e.Task.Inputs = append(e.Task.Inputs, Mapping{Source: source, Target: target}) })
}

// Output adds an output mapping: when the activity completes, target receives the value
// of the expression source (which sees the activity's locals and a job's or task's
// result), in the scope around the activity.
func Output(target, source string) Option {
	return onNode("Output", func(e *Element) { e.Task.Outputs = append(e.Task.Outputs, Mapping{Source: source, Target: target}) })
}

// VersionTag sets the process's version tag (camunda:versionTag), which call activities
// bound by version tag (CallVersionTag) look for.
func VersionTag(tag string) Option {
	return func(t *optTarget) {
		if t.proc == nil {
			t.errorf("option VersionTag applies to processes, not nodes")
			return
		}
		t.proc.Extra.Attrs = append(filterAttrs(t.proc.Extra.Attrs, func(a xml.Attr) bool {
			return a.Name.Space != NSCamunda || a.Name.Local != "versionTag"
		}), xml.Attr{Name: xml.Name{Space: NSCamunda, Local: "versionTag"}, Value: tag})
	}
}

func onCall(option string, fn func(c *CallDefinition)) Option {
	return onNode(option, func(e *Element) { fn(&e.Call) }, KindCallActivity)
}

// CallVersion makes a call activity start version n of its process (not the latest).
func CallVersion(n int) Option {
	return onCall("CallVersion", func(c *CallDefinition) {
		c.Binding, c.Version, c.VersionTag = BindingVersion, strconv.Itoa(n), ""
	})
}

// CallVersionTag makes a call activity start the newest version of its process with the
// version tag (see VersionTag).
func CallVersionTag(tag string) Option {
	return onCall("CallVersionTag", func(c *CallDefinition) {
		c.Binding, c.Version, c.VersionTag = BindingVersionTag, "", tag
	})
}

// CallDeployment makes a call activity start the version of its process deployed with
// the calling process (the same document).
func CallDeployment() Option {
	return onCall("CallDeployment", func(c *CallDefinition) {
		c.Binding, c.Version, c.VersionTag = BindingDeployment, "", ""
	})
}

// CallInAll passes every variable of the calling instance to the called one.
func CallInAll() Option { return onCall("CallInAll", func(c *CallDefinition) { c.InAll = true }) }

// CallOutAll passes every variable of the called instance back when it completes.
func CallOutAll() Option { return onCall("CallOutAll", func(c *CallDefinition) { c.OutAll = true }) }

// CallIn passes a value to the called instance: its variable target gets the value of
// the expression source, evaluated on the calling instance.
func CallIn(target, source string) Option {
	return onCall("CallIn", func(c *CallDefinition) {
		c.In = append(c.In, CallMapping{SourceExpression: source, Target: target})
	})
}

// CallOut passes a value back when the called instance completes: the calling
// instance's variable target gets the value of the expression source, evaluated on the
// called instance.
func CallOut(target, source string) Option {
	return onCall("CallOut", func(c *CallDefinition) {
		c.Out = append(c.Out, CallMapping{SourceExpression: source, Target: target})
	})
}

// CallBusinessKey gives the called instance the value of the expression as its business
// key ("execution.processBusinessKey" passes the caller's on).
func CallBusinessKey(expr string) Option {
	return onCall("CallBusinessKey", func(c *CallDefinition) { c.BusinessKey = expr })
}

// ParallelMultiInstance runs an activity once per item of spec.Collection (or
// spec.Cardinality times), all at once; see LoopSpec for the settings.
func ParallelMultiInstance(spec LoopSpec) Option {
	return loopOption("ParallelMultiInstance", LoopMultiParallel, spec)
}

// SequentialMultiInstance runs an activity once per item of spec.Collection (or
// spec.Cardinality times), one after the other.
func SequentialMultiInstance(spec LoopSpec) Option {
	return loopOption("SequentialMultiInstance", LoopMultiSequence, spec)
}

// StandardLoop runs an activity again while spec.LoopCondition holds (checked before
// each run with spec.TestBefore, else after it), at most spec.LoopMaximum times.
func StandardLoop(spec LoopSpec) Option { return loopOption("StandardLoop", LoopStandard, spec) }

func loopOption(option string, kind LoopKind, spec LoopSpec) Option {
	return func(t *optTarget) {
		if t.el == nil || !t.el.Kind.IsActivity() {
			what := "processes"
			if t.el != nil {
				what = "a " + string(t.el.Kind)
			}
			t.st.errs = append(t.st.errs, fmt.Errorf("bpmn builder: option %s applies to activities, not %s", option, what))
			return
		}
		t.el.Loop, t.el.LoopSpec, t.el.LoopCharacteristics = kind, spec, nil
	}
}

// ErrorEnd makes an end event throw the BPMN error with the given code.
func ErrorEnd(code string) Option {
	return func(t *optTarget) {
		onNode("ErrorEnd", func(e *Element) {
			e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventError, ErrorRef: t.st.errorID(code)}
		}, KindEndEvent)(t)
	}
}

// SignalEnd makes an end event broadcast the signal named name.
func SignalEnd(name string) Option {
	return func(t *optTarget) {
		onNode("SignalEnd", func(e *Element) {
			e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventSignal, SignalRef: t.st.signalID(name)}
		}, KindEndEvent)(t)
	}
}

// EscalationEnd makes an end event throw the escalation with the given code.
func EscalationEnd(code string) Option {
	return func(t *optTarget) {
		onNode("EscalationEnd", func(e *Element) {
			e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventEscalation, EscalationRef: t.st.escalationID(code)}
		}, KindEndEvent)(t)
	}
}

// Terminate makes an end event terminate the whole instance.
func Terminate() Option {
	return onNode("Terminate", func(e *Element) {
		e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventTerminate}
	}, KindEndEvent)
}

// NonInterrupting makes a boundary event leave its activity running, and the start event
// of an event subprocess run it beside the rest of its scope (and again when its trigger
// comes again).
func NonInterrupting() Option {
	return onNode("NonInterrupting", func(e *Element) {
		if e.Kind == KindStartEvent {
			e.IsInterrupting = false
		} else {
			e.CancelActivity = false
		}
	}, KindBoundaryEvent, KindStartEvent)
}

// CorrelationKey sets the correlation key of a message start event: a message start of
// an event subprocess takes only the messages whose key equals the value of expr on its
// instance (evaluated when the enclosing scope begins). For a message catch event, give
// the key to MessageCatch.
func CorrelationKey(expr string) Option {
	return func(t *optTarget) {
		onNode("CorrelationKey", func(e *Element) {
			if e.Event == nil || e.Event.Type != EventMessage {
				t.errorf("option CorrelationKey applies to message events")
				return
			}
			for _, m := range t.st.messages {
				if m.ID != e.Event.MessageRef {
					continue
				}
				if m.CorrelationKey != "" && m.CorrelationKey != expr {
					t.errorf("message %q has correlation keys %q and %q", m.Name, m.CorrelationKey, expr)
					return
				}
				m.CorrelationKey = expr
			}
		}, KindStartEvent)(t)
	}
}

// TimerSpec is when a timer fires: one of Duration, Date and Cycle.
type TimerSpec struct{ Duration, Date, Cycle string }

// Duration is a timer that fires after an ISO 8601 duration ("PT10M").
func Duration(d string) TimerSpec { return TimerSpec{Duration: d} }

// Date is a timer that fires at an ISO 8601 date-time.
func Date(t string) TimerSpec { return TimerSpec{Date: t} }

// Cycle is a repeating timer: an ISO 8601 repetition ("R/PT1H") or a cron line.
func Cycle(c string) TimerSpec { return TimerSpec{Cycle: c} }

func (s TimerSpec) def(id string) *EventDefinition {
	return &EventDefinition{ID: id + "_def", Type: EventTimer, TimeDuration: s.Duration, TimeDate: s.Date, TimeCycle: s.Cycle}
}

// Build starts building an executable process with the given id. (The sketch name
// Process is taken by the model type.)
func Build(id string, opts ...Option) *Builder {
	st := &buildState{proc: &Process{ID: id, IsExecutable: true}, nodes: map[string]*Element{}, scope: map[string]*Container{}}
	t := &optTarget{st: st, proc: st.proc}
	for _, o := range opts {
		o(t)
	}
	return &Builder{st: st, c: &st.proc.Container}
}

func (st *buildState) messageID(name, key string) string {
	for _, m := range st.messages {
		if m.Name == name {
			if key != "" && m.CorrelationKey != "" && key != m.CorrelationKey {
				st.errs = append(st.errs, fmt.Errorf("bpmn builder: message %q has correlation keys %q and %q", name, m.CorrelationKey, key))
			}
			if m.CorrelationKey == "" {
				m.CorrelationKey = key
			}
			return m.ID
		}
	}
	m := &Message{ID: uniqueID("Message_"+sanitize(name), st.taken), Name: name, CorrelationKey: key}
	st.messages = append(st.messages, m)
	return m.ID
}

func (st *buildState) errorID(code string) string {
	for _, e := range st.errors {
		if e.Code == code {
			return e.ID
		}
	}
	e := &Error{ID: uniqueID("Error_"+sanitize(code), st.taken), Name: code, Code: code}
	st.errors = append(st.errors, e)
	return e.ID
}

func (st *buildState) signalID(name string) string {
	for _, sg := range st.signals {
		if sg.Name == name {
			return sg.ID
		}
	}
	sg := &Signal{ID: uniqueID("Signal_"+sanitize(name), st.taken), Name: name}
	st.signals = append(st.signals, sg)
	return sg.ID
}

func (st *buildState) escalationID(code string) string {
	for _, e := range st.escalations {
		if e.Code == code {
			return e.ID
		}
	}
	e := &Escalation{ID: uniqueID("Escalation_"+sanitize(code), st.taken), Name: code, Code: code}
	st.escalations = append(st.escalations, e)
	return e.ID
}

func (st *buildState) taken(id string) bool {
	if st.nodes[id] != nil || id == st.proc.ID {
		return true
	}
	for _, sg := range st.signals {
		if sg.ID == id {
			return true
		}
	}
	for _, e := range st.escalations {
		if e.ID == id {
			return true
		}
	}
	for _, m := range st.messages {
		if m.ID == id {
			return true
		}
	}
	for _, e := range st.errors {
		if e.ID == id {
			return true
		}
	}
	for _, a := range st.artifacts {
		if a == id {
			return true
		}
	}
	return false
}

func uniqueID(base string, taken func(string) bool) string {
	id := base
	for i := 2; taken(id); i++ {
		id = base + "_" + strconv.Itoa(i)
	}
	return id
}

// sanitize makes s usable inside an XML id.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (b *Builder) errorf(format string, args ...any) {
	b.st.errs = append(b.st.errs, fmt.Errorf("bpmn builder: "+format, args...))
}

// add creates a node, connects it from the current node and makes it current.
func (b *Builder) add(kind Kind, id string, opts []Option, init func(*Element)) *Builder {
	e := &Element{ID: id, Kind: kind}
	switch {
	case kind == KindStartEvent:
		e.IsInterrupting = true
	case kind == KindBoundaryEvent:
		e.CancelActivity = true
	case kind.IsSubProcess():
		e.Children = &Container{}
	}
	if init != nil {
		init(e)
	}
	t := &optTarget{st: b.st, el: e}
	for _, o := range opts {
		o(t)
	}
	if id == "" {
		b.errorf("%s without an id", kind)
	} else if b.st.taken(id) {
		b.errorf("duplicate id %q", id)
	} else {
		b.st.nodes[id] = e
		b.st.scope[id] = b.c
	}
	b.c.Elements = append(b.c.Elements, e)
	// After Connect(id), b.cur is already id: the node added now is the one connected to.
	if b.cur != "" && b.cur != id && kind != KindBoundaryEvent {
		b.st.pending = append(b.st.pending, pendingFlow{c: b.c, from: b.cur, to: id, cond: b.cond, name: b.flowName, isDefault: b.isDefault})
	}
	b.cond, b.flowName, b.isDefault = "", "", false
	b.cur = id
	if kind.IsGateway() {
		b.gw = id
	}
	return b
}

// Start adds a none start event.
func (b *Builder) Start(id string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, nil)
}

// TimerStart adds a timer start event firing on cycle (ISO 8601 "R/PT1H" or a cron line).
func (b *Builder) TimerStart(id, cycle string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) { e.Event = Cycle(cycle).def(id) })
}

// TimerStartAt adds a timer start event firing when: in an event subprocess, a duration
// or date counts from the start of the enclosing scope, and a cycle repeats while it runs.
func (b *Builder) TimerStartAt(id string, when TimerSpec, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) { e.Event = when.def(id) })
}

// ErrorStart adds the error start event of an event subprocess, catching the BPMN error
// code thrown inside the enclosing scope ("" catches every error). It is interrupting.
func (b *Builder) ErrorStart(id, code string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventError}
		if code != "" {
			e.Event.ErrorRef = b.st.errorID(code)
		}
	})
}

// MessageStart adds a message start event for the message named name.
func (b *Builder) MessageStart(id, name string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventMessage, MessageRef: b.st.messageID(name, "")}
	})
}

// SignalStart adds a signal start event: every broadcast of the signal named name
// starts an instance.
func (b *Builder) SignalStart(id, name string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventSignal, SignalRef: b.st.signalID(name)}
	})
}

// EscalationStart adds the escalation start event of an event subprocess, catching the
// escalation code thrown inside the enclosing scope ("" catches every escalation);
// interrupting unless NonInterrupting is given.
func (b *Builder) EscalationStart(id, code string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventEscalation}
		if code != "" {
			e.Event.EscalationRef = b.st.escalationID(code)
		}
	})
}

// ConditionalStart adds the conditional start event of an event subprocess: it starts
// the event subprocess when expr is true as the enclosing scope begins or after a
// variable change; interrupting unless NonInterrupting is given.
func (b *Builder) ConditionalStart(id, expr string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventConditional, Condition: expr}
	})
}

// End adds an end event (none; ErrorEnd, SignalEnd, EscalationEnd and Terminate change
// its kind of end).
func (b *Builder) End(id string, opts ...Option) *Builder {
	return b.add(KindEndEvent, id, opts, nil)
}

// Task adds a task that passes through.
func (b *Builder) Task(id string, opts ...Option) *Builder { return b.add(KindTask, id, opts, nil) }

// ServiceTask adds a service task; give it a JobType.
func (b *Builder) ServiceTask(id string, opts ...Option) *Builder {
	return b.add(KindServiceTask, id, opts, nil)
}

// UserTask adds a user task.
func (b *Builder) UserTask(id string, opts ...Option) *Builder {
	return b.add(KindUserTask, id, opts, nil)
}

// ScriptTask adds a script task; give it a Script.
func (b *Builder) ScriptTask(id string, opts ...Option) *Builder {
	return b.add(KindScriptTask, id, opts, nil)
}

// ExclusiveGateway adds an exclusive gateway; open its branches with Condition and Default.
func (b *Builder) ExclusiveGateway(id string, opts ...Option) *Builder {
	return b.add(KindExclusiveGateway, id, opts, nil)
}

// ParallelGateway adds a parallel gateway (a fork, or a join when flows Connect to it).
func (b *Builder) ParallelGateway(id string, opts ...Option) *Builder {
	return b.add(KindParallelGateway, id, opts, nil)
}

// TimerCatch adds an intermediate timer catch event.
func (b *Builder) TimerCatch(id string, when TimerSpec, opts ...Option) *Builder {
	return b.add(KindIntermediateCatchEvent, id, opts, func(e *Element) { e.Event = when.def(id) })
}

// MessageCatch adds an intermediate message catch event waiting for the message named
// name whose correlation key equals the value of correlationKey on this instance.
func (b *Builder) MessageCatch(id, name, correlationKey string, opts ...Option) *Builder {
	return b.add(KindIntermediateCatchEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventMessage, MessageRef: b.st.messageID(name, correlationKey)}
	})
}

// SignalCatch adds an intermediate signal catch event waiting for a broadcast of the
// signal named name.
func (b *Builder) SignalCatch(id, name string, opts ...Option) *Builder {
	return b.add(KindIntermediateCatchEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventSignal, SignalRef: b.st.signalID(name)}
	})
}

// SignalThrow adds an intermediate signal throw event broadcasting the signal named name.
func (b *Builder) SignalThrow(id, name string, opts ...Option) *Builder {
	return b.add(KindIntermediateThrowEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventSignal, SignalRef: b.st.signalID(name)}
	})
}

// EscalationThrow adds an intermediate escalation throw event with the given code.
func (b *Builder) EscalationThrow(id, code string, opts ...Option) *Builder {
	return b.add(KindIntermediateThrowEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventEscalation, EscalationRef: b.st.escalationID(code)}
	})
}

// ConditionalCatch adds an intermediate conditional catch event: the token passes when
// the condition expr is true (at once, or at a later variable change).
func (b *Builder) ConditionalCatch(id, expr string, opts ...Option) *Builder {
	return b.add(KindIntermediateCatchEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventConditional, Condition: expr}
	})
}

// CallActivity adds a call activity that starts an instance of the process processKey
// (its latest version unless CallVersion, CallVersionTag or CallDeployment says
// otherwise) and waits until it ends. Nothing passes between the two instances unless
// CallInAll, CallIn, CallOutAll, CallOut or CallBusinessKey say so.
func (b *Builder) CallActivity(id, processKey string, opts ...Option) *Builder {
	return b.add(KindCallActivity, id, opts, func(e *Element) { e.CalledElement = processKey })
}

// SubProcess adds an embedded subprocess whose content inner builds (from its own start
// event); the flow continues after the subprocess.
func (b *Builder) SubProcess(id string, inner func(*Builder), opts ...Option) *Builder {
	b.add(KindSubProcess, id, opts, nil)
	if e := b.st.nodes[id]; e != nil && inner != nil {
		inner(&Builder{st: b.st, c: e.Children})
	}
	return b
}

// EventSubProcess adds an event subprocess to the current scope (the process, or the
// subprocess inner is building) whose content inner builds from its one start event:
// MessageStart, TimerStartAt, SignalStart, ConditionalStart, ErrorStart or
// EscalationStart, interrupting unless NonInterrupting is given (error starts always
// interrupt). It is not connected to anything: the current node stays current.
func (b *Builder) EventSubProcess(id string, inner func(*Builder), opts ...Option) *Builder {
	cur, cond, name, isDefault := b.cur, b.cond, b.flowName, b.isDefault
	b.cur = ""
	b.add(KindSubProcess, id, opts, func(e *Element) { e.TriggeredByEvent = true })
	if e := b.st.nodes[id]; e != nil && inner != nil {
		inner(&Builder{st: b.st, c: e.Children})
	}
	b.cur, b.cond, b.flowName, b.isDefault = cur, cond, name, isDefault
	return b
}

// boundary attaches a boundary event to the current node, which must be an activity, and
// makes the event current so that its own path follows.
func (b *Builder) boundary(id string, opts []Option, init func(*Element)) *Builder {
	host := b.st.nodes[b.cur]
	if host == nil || !host.Kind.IsActivity() || b.st.scope[b.cur] != b.c {
		b.errorf("boundary event %q: current node %q is not an activity", id, b.cur)
	}
	hostID := b.cur
	b.add(KindBoundaryEvent, id, opts, func(e *Element) {
		e.AttachedTo = hostID
		init(e)
	})
	return b
}

// BoundaryTimer attaches a timer boundary event to the current activity (interrupting
// unless NonInterrupting is given); the builder continues from the event.
func (b *Builder) BoundaryTimer(id string, when TimerSpec, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) { e.Event = when.def(id) })
}

// BoundaryError attaches an error boundary event catching code ("" catches every error)
// to the current activity; the builder continues from the event.
func (b *Builder) BoundaryError(id, code string, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventError}
		if code != "" {
			e.Event.ErrorRef = b.st.errorID(code)
		}
	})
}

// BoundarySignal attaches a signal boundary event for the signal named name to the
// current activity (interrupting unless NonInterrupting is given); the builder
// continues from the event.
func (b *Builder) BoundarySignal(id, name string, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventSignal, SignalRef: b.st.signalID(name)}
	})
}

// BoundaryEscalation attaches an escalation boundary event catching code ("" catches
// every escalation) to the current activity; the builder continues from the event.
func (b *Builder) BoundaryEscalation(id, code string, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventEscalation}
		if code != "" {
			e.Event.EscalationRef = b.st.escalationID(code)
		}
	})
}

// BoundaryConditional attaches a conditional boundary event to the current activity: it
// fires when expr is true as the activity is entered or after a variable change; the
// builder continues from the event.
func (b *Builder) BoundaryConditional(id, expr string, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventConditional, Condition: expr}
	})
}

// CompensatedBy attaches a compensation boundary event to the current activity and
// associates it with the compensation handler that handler adds: one activity (a
// service, user, script or plain task, or a subprocess), added on the builder handler is
// given, which marks it isForCompensation. The handler runs when a compensation throw
// event reaches the activity after it completed (CompensationThrow, CompensationEnd).
// The builder stays at the activity.
func (b *Builder) CompensatedBy(handler func(h *Builder)) *Builder {
	hostID := b.cur
	host := b.st.nodes[hostID]
	if host == nil || !host.Kind.IsActivity() || b.st.scope[hostID] != b.c {
		b.errorf("compensation handler: current node %q is not an activity", hostID)
		return b
	}
	if handler == nil {
		b.errorf("compensation handler of %q: no handler", hostID)
		return b
	}
	id := uniqueID(sanitize(hostID)+"_compensation", b.st.taken)
	ev := &Element{ID: id, Kind: KindBoundaryEvent, AttachedTo: hostID, CancelActivity: true,
		Event: &EventDefinition{ID: id + "_def", Type: EventCompensate}}
	b.st.nodes[id], b.st.scope[id] = ev, b.c
	b.c.Elements = append(b.c.Elements, ev)
	before := len(b.c.Elements)
	handler(&Builder{st: b.st, c: b.c})
	added := b.c.Elements[before:]
	if len(added) != 1 || !added[0].Kind.IsActivity() || len(added[0].Incoming) > 0 {
		b.errorf("compensation handler of %q: the handler must add exactly one activity", hostID)
		return b
	}
	h := added[0]
	h.ForCompensation = true
	assoc := &Element{ID: uniqueID("Association_"+id, b.st.taken), Kind: KindAssociation, SourceRef: id, TargetRef: h.ID,
		AssociationDir: "One"}
	b.st.artifacts = append(b.st.artifacts, assoc.ID)
	b.c.Elements = append(b.c.Elements, assoc)
	return b
}

// CompensationThrow adds an intermediate throw event that compensates activity (an
// activity of this scope or of a subprocess inside it), or with activity "" every
// completed activity of its scope, latest completion first, and continues when their
// handlers have run.
func (b *Builder) CompensationThrow(id, activity string, opts ...Option) *Builder {
	return b.add(KindIntermediateThrowEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventCompensate, ActivityRef: activity}
	})
}

// CompensationEnd makes an end event compensate activity ("" every completed activity of
// its scope) before it ends its path.
func CompensationEnd(activity string) Option {
	return onNode("CompensationEnd", func(e *Element) {
		e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventCompensate, ActivityRef: activity}
	}, KindEndEvent)
}

// branch moves back to the gateway a new branch leaves from.
func (b *Builder) branch(what string) {
	if e := b.st.nodes[b.cur]; e != nil && e.Kind.IsGateway() {
		return
	}
	if b.gw == "" {
		b.errorf("%s without a gateway", what)
		return
	}
	b.cur = b.gw
}

// Condition opens a branch of a gateway taken when expr is true.
func (b *Builder) Condition(expr string) *Builder {
	b.branch("Condition")
	b.cond, b.isDefault = expr, false
	return b
}

// Default opens the default branch of an exclusive gateway.
func (b *Builder) Default() *Builder {
	b.branch("Default")
	b.cond, b.isDefault = "", true
	return b
}

// Branch opens another unconditional branch (of a parallel gateway).
func (b *Builder) Branch() *Builder {
	b.branch("Branch")
	return b
}

// FlowName names the next sequence flow.
func (b *Builder) FlowName(name string) *Builder {
	b.flowName = name
	return b
}

// MoveTo makes an existing node of the same scope current, to add another branch from it.
func (b *Builder) MoveTo(id string) *Builder {
	if b.st.nodes[id] == nil || b.st.scope[id] != b.c {
		b.errorf("move to %q: no such node in this scope", id)
		return b
	}
	b.cur = id
	b.cond, b.flowName, b.isDefault = "", "", false
	return b
}

// Connect draws a flow from the current node to the node id, which may be added later
// (a join gateway, a loop back); the builder continues from id.
func (b *Builder) Connect(id string) *Builder {
	if b.cur == "" {
		b.errorf("connect to %q: no current node", id)
		return b
	}
	b.st.pending = append(b.st.pending, pendingFlow{c: b.c, from: b.cur, to: id, cond: b.cond, name: b.flowName,
		isDefault: b.isDefault, createdByConnect: true})
	b.cond, b.flowName, b.isDefault = "", "", false
	b.cur = id
	return b
}

// Definitions completes the model: it resolves connections, creates the sequence flows,
// message and error root elements, lays the process out, and checks it with Check. It
// returns every mistake found, joined.
func (b *Builder) Definitions() (*Definitions, error) {
	st := b.st
	flowIDs := map[string]bool{}
	for _, pf := range st.pending {
		to := st.nodes[pf.to]
		if to == nil {
			st.errs = append(st.errs, fmt.Errorf("bpmn builder: connect %q to %q: unknown target", pf.from, pf.to))
			continue
		}
		if st.scope[pf.to] != pf.c {
			st.errs = append(st.errs, fmt.Errorf("bpmn builder: connect %q to %q: target is in another scope", pf.from, pf.to))
			continue
		}
		id := uniqueID("Flow_"+sanitize(pf.from)+"_"+sanitize(pf.to), func(s string) bool { return flowIDs[s] || st.taken(s) })
		flowIDs[id] = true
		pf.c.Flows = append(pf.c.Flows, &SequenceFlow{ID: id, Name: pf.name, SourceRef: pf.from, TargetRef: pf.to, Condition: pf.cond})
		if pf.isDefault {
			st.nodes[pf.from].Default = id
		}
	}
	st.pending = nil
	never := func(*Element) bool { return false }
	fillFlows(&st.proc.Container, never, never)
	walk(&st.proc.Container, func(c *Container, _ *Element) {
		for _, e := range c.Elements {
			normalizeTask(&e.Task)
		}
	})
	d := &Definitions{
		ID:              "Definitions_" + sanitize(st.proc.ID),
		TargetNamespace: "https://cockpit.dev/bpmn",
		Exporter:        "Cockpit",
		Processes:       []*Process{st.proc},
		Messages:        st.messages,
		Errors:          st.errors,
		Signals:         st.signals,
		Escalations:     st.escalations,
	}
	Layout(d)
	errs := st.errs
	if err := Check(d).Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return d, nil
}
