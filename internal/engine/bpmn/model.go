// Package bpmn holds the BPMN 2.0 model that Cockpit imports, executes, draws and exports.
//
// The model is the single shape shared by XML import, the Go builder, the engine and the
// diagram renderer. It keeps what it does not understand (unknown attributes, unknown
// elements, vendor extensions) as raw XML so that export writes it back unchanged.
package bpmn

import "encoding/xml"

// Kind names the BPMN element type of an Element by its XML local name
// ("serviceTask", "exclusiveGateway", ...), so that unknown kinds are still named.
type Kind string

// The element kinds the model knows by name. Anything else keeps its XML local name.
const (
	KindStartEvent             Kind = "startEvent"
	KindEndEvent               Kind = "endEvent"
	KindIntermediateCatchEvent Kind = "intermediateCatchEvent"
	KindIntermediateThrowEvent Kind = "intermediateThrowEvent"
	KindBoundaryEvent          Kind = "boundaryEvent"

	KindTask             Kind = "task"
	KindServiceTask      Kind = "serviceTask"
	KindUserTask         Kind = "userTask"
	KindScriptTask       Kind = "scriptTask"
	KindSendTask         Kind = "sendTask"
	KindReceiveTask      Kind = "receiveTask"
	KindManualTask       Kind = "manualTask"
	KindBusinessRuleTask Kind = "businessRuleTask"
	KindCallActivity     Kind = "callActivity"
	KindSubProcess       Kind = "subProcess"
	KindTransaction      Kind = "transaction"
	KindAdHocSubProcess  Kind = "adHocSubProcess"

	KindExclusiveGateway  Kind = "exclusiveGateway"
	KindParallelGateway   Kind = "parallelGateway"
	KindInclusiveGateway  Kind = "inclusiveGateway"
	KindEventBasedGateway Kind = "eventBasedGateway"
	KindComplexGateway    Kind = "complexGateway"

	KindDataObject          Kind = "dataObject"
	KindDataObjectReference Kind = "dataObjectReference"
	KindDataStoreReference  Kind = "dataStoreReference"
	KindTextAnnotation      Kind = "textAnnotation"
	KindGroup               Kind = "group"
	KindAssociation         Kind = "association"
	KindDataInputAssoc      Kind = "dataInputAssociation"
	KindDataOutputAssoc     Kind = "dataOutputAssociation"
)

// IsActivity reports whether elements of this kind are activities (tasks and subprocesses).
func (k Kind) IsActivity() bool {
	switch k {
	case KindTask, KindServiceTask, KindUserTask, KindScriptTask, KindSendTask, KindReceiveTask,
		KindManualTask, KindBusinessRuleTask, KindCallActivity, KindSubProcess, KindTransaction,
		KindAdHocSubProcess:
		return true
	}
	return false
}

// IsGateway reports whether elements of this kind are gateways.
func (k Kind) IsGateway() bool {
	switch k {
	case KindExclusiveGateway, KindParallelGateway, KindInclusiveGateway, KindEventBasedGateway,
		KindComplexGateway:
		return true
	}
	return false
}

// IsEvent reports whether elements of this kind are events.
func (k Kind) IsEvent() bool {
	switch k {
	case KindStartEvent, KindEndEvent, KindIntermediateCatchEvent, KindIntermediateThrowEvent,
		KindBoundaryEvent:
		return true
	}
	return false
}

// IsSubProcess reports whether elements of this kind contain other flow elements.
func (k Kind) IsSubProcess() bool {
	return k == KindSubProcess || k == KindTransaction || k == KindAdHocSubProcess
}

// IsFlowNode reports whether elements of this kind take part in sequence flow.
func (k Kind) IsFlowNode() bool { return k.IsActivity() || k.IsGateway() || k.IsEvent() }

// EventType is the kind of an event definition.
type EventType string

// Event definition types. EventNone is the empty string: an event without a definition.
const (
	EventNone        EventType = ""
	EventMessage     EventType = "message"
	EventTimer       EventType = "timer"
	EventError       EventType = "error"
	EventSignal      EventType = "signal"
	EventEscalation  EventType = "escalation"
	EventTerminate   EventType = "terminate"
	EventCompensate  EventType = "compensate"
	EventConditional EventType = "conditional"
	EventLink        EventType = "link"
	EventCancel      EventType = "cancel"
)

// EventDefinition is the trigger of an event (the first one, where a model has several;
// Multiple lists all of them in that case).
type EventDefinition struct {
	ID   string
	Type EventType
	// MessageRef, ErrorRef, SignalRef and EscalationRef point at root elements by id.
	MessageRef    string
	ErrorRef      string
	SignalRef     string
	EscalationRef string
	// Timer: exactly one of these is set for a timer event (ISO 8601 text or a cron line).
	TimeDuration string
	TimeDate     string
	TimeCycle    string
	// Condition is the expression of a conditional event.
	Condition string
	// LinkName is the name of a link event.
	LinkName string
	// Shared marks a definition declared at the root of the document that the event
	// references (eventDefinitionRef): export writes the reference, not a copy.
	Shared bool
	// ActivityRef is the activity a compensation throw event compensates ("": every
	// completed activity of its scope). waitForCompletion stays in Extra: the engine
	// always waits for the handlers, as Camunda 7 does.
	ActivityRef string
	Extra       Extra
}

// Mapping is one input or output mapping: Target receives the value of Source.
//
// Source is an expression unless Literal is set, in which case it is the value itself (a
// string; Camunda 7 text without "${…}" and a Zeebe source without a leading "=" are
// literals). ScriptFormat is set when the value is a script (camunda:script), which runs
// only in the formats the engine evaluates (see ScriptLanguageSupported).
type Mapping struct {
	Source string
	Target string
	// Literal: Source is a string value, not an expression.
	Literal bool
	// Null: the value is null (an empty Camunda 7 parameter); Source is empty.
	Null bool
	// ScriptFormat is the format of a camunda:script value ("" for other values).
	ScriptFormat string
}

// Header is one static task header (zeebe:taskHeaders): handlers see it on the job.
type Header struct {
	Key   string
	Value string
}

// TaskDefinition configures how the engine runs an activity. It is filled from the
// Camunda 7 (camunda:topic, camunda:type, camunda:asyncBefore ...) and Zeebe
// (zeebe:taskDefinition, zeebe:ioMapping ...) extensions and by the Go builder.
type TaskDefinition struct {
	// JobType is the job type / external task topic that selects the worker handler.
	JobType string
	// Retries is the number of attempts before an incident ("" means the engine default).
	Retries string
	// RetryBackoff is a backoff policy such as "R3/PT10S" or "exp:PT1S,PT5M" ("" means default).
	RetryBackoff string
	Inputs       []Mapping
	Outputs      []Mapping
	// Headers are the static task headers of a job task (zeebe:taskHeaders), in order.
	Headers []Header
	// Script task.
	Script         string
	ScriptFormat   string
	ResultVariable string
	// User task.
	Assignee        string
	CandidateGroups string
	CandidateUsers  string
	FormKey         string
	FormFields      []FormField
	DueDate         string
}

// Call activity bindings: which version of the called process a call activity starts.
const (
	BindingLatest     = "latest"     // the newest version when the call activity is reached ("" too)
	BindingDeployment = "deployment" // the version deployed with the calling process (same document)
	BindingVersion    = "version"    // a fixed version number (CallDefinition.Version)
	BindingVersionTag = "versionTag" // the newest version with a version tag (CallDefinition.VersionTag)
)

// CallDefinition configures a call activity. It is filled from the Camunda 7
// (camunda:calledElementBinding, camunda:in, camunda:out ...) and Zeebe
// (zeebe:calledElement) extensions and by the Go builder. Input and output mappings
// of the activity (TaskDefinition.Inputs/Outputs: zeebe:ioMapping) are evaluated for
// the call only: inputs against the caller's variables into the called instance's
// start variables, outputs against the called instance's variables at its end.
type CallDefinition struct {
	// Binding is one of the Binding constants ("" means BindingLatest).
	Binding string
	// Version is the version number of BindingVersion (a literal or an expression).
	Version string
	// VersionTag is the version tag of BindingVersionTag (the called process's
	// camunda:versionTag or zeebe:versionTag).
	VersionTag string
	// InAll passes every variable of the caller to the called instance
	// (camunda:in variables="all"; zeebe propagateAllParentVariables, true by default).
	InAll bool
	// OutAll passes every variable of the called instance back when it completes
	// (camunda:out variables="all"; zeebe propagateAllChildVariables, true by default,
	// unless output mappings are given).
	OutAll bool
	// In and Out are single variables passed (camunda:in / camunda:out source or
	// sourceExpression, and target).
	In  []CallMapping
	Out []CallMapping
	// BusinessKey is the expression whose value becomes the called instance's business
	// key (camunda:in businessKey="#{execution.processBusinessKey}"); "" passes none.
	BusinessKey string
}

// CallMapping passes one variable between a caller and a called instance: Target gets
// the variable named Source, or the value of the expression SourceExpression.
type CallMapping struct {
	Source           string
	SourceExpression string
	Target           string
}

// FormField is one field of a user task form (camunda:formField).
type FormField struct {
	ID           string
	Label        string
	Type         string // string, long, boolean, date, enum
	DefaultValue string
}

// LoopKind tells which loop marker an activity carries.
type LoopKind string

// Loop kinds.
const (
	LoopNone          LoopKind = ""
	LoopStandard      LoopKind = "standard"
	LoopMultiParallel LoopKind = "multiInstanceParallel"
	LoopMultiSequence LoopKind = "multiInstanceSequential"
)

// Element is one flow node or artifact of a process or subprocess.
type Element struct {
	ID   string
	Name string
	Kind Kind
	// Line and Col are where the element starts in the imported XML (0 for built models).
	Line int
	Col  int

	Incoming []string // sequence flow ids
	Outgoing []string // sequence flow ids

	// Event is the (first) event definition of an event; nil for none events and non-events.
	Event *EventDefinition
	// Multiple holds all event definitions where there are more than one.
	Multiple []*EventDefinition
	// Boundary events.
	AttachedTo     string
	CancelActivity bool // true unless cancelActivity="false"
	// Start events of event subprocesses.
	IsInterrupting bool

	// Default is the default sequence flow id of a gateway or activity.
	Default string
	// GatewayDirection is kept as written.
	GatewayDirection string
	// EventGatewayInstantiate is the instantiate attribute of an event-based gateway.
	EventGatewayInstantiate bool

	Task TaskDefinition
	Loop LoopKind
	// LoopCharacteristics is the raw loop or multi-instance element as imported, written back
	// unchanged on export (nil for models built in Go; export then writes Loop alone).
	LoopCharacteristics *Node
	// LoopSpec is what the loop or multi-instance marker says (loop.go).
	LoopSpec LoopSpec
	// CalledElement is the process a call activity starts (a process key, or an
	// expression "${...}" / "=..." that gives one).
	CalledElement string
	// Call configures a call activity: the version it starts and the variables passed.
	Call CallDefinition
	// ForCompensation marks compensation handlers.
	ForCompensation bool

	// Children holds the content of subprocesses (nil for other kinds).
	Children *Container
	// TriggeredByEvent marks an event subprocess.
	TriggeredByEvent bool

	// Artifacts: text annotation text, group category value, association ends,
	// data object reference target.
	Text           string
	CategoryValue  string
	SourceRef      string
	TargetRef      string
	DataObjectRef  string
	DataStoreRef   string
	AssociationDir string
	// CategoryValueRef is the categoryValueRef of a group; CategoryValue is the value text
	// of that category value when the document defines it.
	CategoryValueRef string
	// DataAssociations are the dataInputAssociation / dataOutputAssociation children of an
	// activity or event (Kind, ID, SourceRef, TargetRef filled; DI edges reference them).
	DataAssociations []*Element

	Extra Extra
}

// SequenceFlow connects two flow nodes of one container.
type SequenceFlow struct {
	ID        string
	Name      string
	SourceRef string
	TargetRef string
	// Condition is the condition expression text ("" for an unconditional flow).
	Condition string
	// ConditionLanguage is the language attribute of the condition expression, if any.
	ConditionLanguage string
	Line              int
	Col               int
	Extra             Extra
}

// Container is what a process and a subprocess hold: flow nodes, artifacts and flows,
// in document order.
type Container struct {
	Elements []*Element
	Flows    []*SequenceFlow
	LaneSets []*LaneSet
}

// LaneSet groups lanes.
type LaneSet struct {
	ID    string
	Name  string
	Lanes []*Lane
	Extra Extra
}

// Lane names the flow nodes it holds.
type Lane struct {
	ID           string
	Name         string
	FlowNodeRefs []string
	ChildLaneSet *LaneSet
	Extra        Extra
}

// Process is a BPMN process.
type Process struct {
	ID           string
	Name         string
	IsExecutable bool
	Line         int
	Col          int
	Container
	Extra Extra
}

// Participant is a pool of a collaboration.
type Participant struct {
	ID         string
	Name       string
	ProcessRef string
	Extra      Extra
}

// MessageFlow connects two participants or their nodes.
type MessageFlow struct {
	ID         string
	Name       string
	SourceRef  string
	TargetRef  string
	MessageRef string
	Extra      Extra
}

// Collaboration holds pools and message flows (and artifacts drawn outside pools).
type Collaboration struct {
	ID           string
	Name         string
	Participants []*Participant
	MessageFlows []*MessageFlow
	Artifacts    []*Element
	Extra        Extra
}

// Message is a root message element; Name is what correlation matches on.
type Message struct {
	ID   string
	Name string
	// CorrelationKey is the expression whose value (evaluated on the waiting instance)
	// a published message must carry (zeebe:subscription correlationKey, or the builder).
	CorrelationKey string
	Extra          Extra
}

// Error is a root error element; Code is what a thrown BPMN error matches on.
type Error struct {
	ID    string
	Name  string
	Code  string
	Extra Extra
}

// Signal, Escalation and other named root elements.
type Signal struct {
	ID    string
	Name  string
	Extra Extra
}

// Escalation is a root escalation element.
type Escalation struct {
	ID    string
	Name  string
	Code  string
	Extra Extra
}

// Bounds is a DI rectangle.
type Bounds struct {
	X, Y, Width, Height float64
}

// Point is a DI waypoint.
type Point struct{ X, Y float64 }

// Label is the DI label of a shape or edge.
type Label struct {
	Bounds *Bounds
	Extra  Extra
}

// Shape is a BPMNShape.
type Shape struct {
	ID              string
	ElementRef      string
	Bounds          Bounds
	IsExpanded      *bool
	IsHorizontal    *bool
	IsMarkerVisible *bool
	Label           *Label
	Extra           Extra
}

// Edge is a BPMNEdge.
type Edge struct {
	ID            string
	ElementRef    string
	SourceElement string
	TargetElement string
	Waypoints     []Point
	Label         *Label
	Extra         Extra
}

// Plane is the BPMNPlane of a diagram.
type Plane struct {
	ID         string
	ElementRef string
	Shapes     []*Shape
	Edges      []*Edge
	Extra      Extra
}

// Diagram is a BPMNDiagram.
type Diagram struct {
	ID    string
	Name  string
	Plane Plane
	Extra Extra
}

// Definitions is a whole BPMN document.
type Definitions struct {
	ID              string
	Name            string
	TargetNamespace string
	Exporter        string
	ExporterVersion string
	Processes       []*Process
	Collaborations  []*Collaboration
	Messages        []*Message
	Errors          []*Error
	Signals         []*Signal
	Escalations     []*Escalation
	Diagrams        []*Diagram
	Extra           Extra
	// Namespaces maps prefixes to URIs as declared on the root element (kept for export).
	Namespaces map[string]string
}

// Extra is what the model keeps without understanding it, so export can write it back.
type Extra struct {
	// Attrs are attributes that have no field (vendor attributes included).
	Attrs []xml.Attr
	// ExtensionElements is the raw <extensionElements> content (nil when absent).
	ExtensionElements []*Node
	// Children are unknown child elements, kept in order.
	Children []*Node
	// Documentation is the text of <documentation> children.
	Documentation []string
}

// Node is a raw XML element kept for round trip.
type Node struct {
	Name     xml.Name
	Attrs    []xml.Attr
	Children []*Node
	Text     string
}

// Kinds that are not elements of a Container but are named in findings and indexes.
const (
	KindSequenceFlow Kind = "sequenceFlow"
	KindProcess      Kind = "process"
	KindMessageFlow  Kind = "messageFlow"
	KindParticipant  Kind = "participant"
	KindLane         Kind = "lane"
)

// Namespace URIs the importer matches on (prefixes are free in a document).
const (
	NSModel   = "http://www.omg.org/spec/BPMN/20100524/MODEL"
	NSBPMNDI  = "http://www.omg.org/spec/BPMN/20100524/DI"
	NSDC      = "http://www.omg.org/spec/DD/20100524/DC"
	NSDI      = "http://www.omg.org/spec/DD/20100524/DI"
	NSXSI     = "http://www.w3.org/2001/XMLSchema-instance"
	NSCamunda = "http://camunda.org/schema/1.0/bpmn"
	NSZeebe   = "http://camunda.org/schema/zeebe/1.0"
	// NSActiviti is the legacy namespace Camunda 7 still reads: activiti:* attributes and
	// extension elements mean what their camunda:* namesakes do.
	NSActiviti = "http://activiti.org/bpmn"
	// NSCockpit holds Cockpit's own extension attributes (cockpit:correlationKey).
	NSCockpit = "https://cockpit.dev/schema/bpmn"
)

// IsCamunda8 reports whether the document is a Camunda 8 (Zeebe) model: it declares the
// Zeebe namespace or names Camunda Cloud as its execution platform. Its "=…" expressions
// are FEEL. Models built with Cockpit's builder (exporter "Cockpit") write Zeebe's
// extensions but expressions in the engine's own language: they are not.
func (d *Definitions) IsCamunda8() bool {
	if d.Exporter == "Cockpit" {
		return false
	}
	for _, uri := range d.Namespaces {
		if uri == NSZeebe {
			return true
		}
	}
	for _, a := range d.Extra.Attrs {
		if a.Name.Local == "executionPlatform" && a.Value == "Camunda Cloud" {
			return true
		}
	}
	return false
}

// Process returns the process with the given id, or nil. Documents hold a handful of
// processes, so this scans; use NewIndex for element lookups.
func (d *Definitions) Process(id string) *Process {
	for _, p := range d.Processes {
		if p.ID == id {
			return p
		}
	}
	return nil
}
