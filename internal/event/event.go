// Package event is the one place where the names of Cockpit's events are spelled: the
// history event types the engine writes, the stall notices the stall detector publishes,
// the data fields and element.cancelled reasons that other packages read back, and the
// bound on an event's data.
//
// It is a leaf: it imports nothing of the project, so the engine, the stores, the bus,
// the monitor, the command service and the web UI all use it without importing one
// another. docs/events.md is the contract for subscribers and lists every name declared
// here (TestDocsListEveryName checks it).
package event

import "strings"

// Type is the type of a history event or a stall notice, e.g. "instance.started". It is
// the event's "type" in the cockpit.event/v1 payload, its Cockpit-Event-Type header, and
// (with its dots) the last two tokens of its NATS subject.
type Type string

// History event types. Each state change writes one event in the same transaction.
const (
	InstanceStarted   Type = "instance.started"
	InstanceCompleted Type = "instance.completed"
	InstanceCancelled Type = "instance.cancelled"
	InstanceSuspended Type = "instance.suspended"
	InstanceResumed   Type = "instance.resumed"
	// InstanceModified: an operator moved tokens (Engine.Modify); written before the
	// element events of the modification's steps.
	InstanceModified Type = "instance.modified"
	// InstanceMigrated: an operator moved the instance to another definition
	// (Engine.Migrate); it carries the target definition, and the events of what the
	// migration armed follow it.
	InstanceMigrated  Type = "instance.migrated"
	ElementEntered    Type = "element.entered"
	ElementLeft       Type = "element.left"
	ElementCancelled  Type = "element.cancelled"
	JobCreated        Type = "job.created"
	JobFailed         Type = "job.failed"
	JobCompleted      Type = "job.completed"
	JobRetriesSet     Type = "job.retries"
	TimerScheduled    Type = "timer.scheduled"
	TimerFired        Type = "timer.fired"
	MessageSubscribed Type = "message.subscribed"
	MessageCorrelated Type = "message.correlated"
	UserTaskCreated   Type = "usertask.created"
	UserTaskCompleted Type = "usertask.completed"
	IncidentOpened    Type = "incident.opened"
	IncidentResolved  Type = "incident.resolved"
	VariablesChanged  Type = "variables.changed"
	ErrorThrown       Type = "error.thrown"
	SignalSubscribed  Type = "signal.subscribed"
	SignalThrown      Type = "signal.thrown"
	SignalReceived    Type = "signal.received"
	EscalationThrown  Type = "escalation.thrown"
	CallStarted       Type = "call.started"
)

// Operators' edits of user tasks and variables (engine.ClaimUserTask, UnclaimUserTask,
// ReassignUserTask, DeleteVariable, RenameVariable). The audit log records who made them
// and why; the events record what changed, in the instance's history.
const (
	UserTaskClaimed   Type = "usertask.claimed"
	UserTaskUnclaimed Type = "usertask.unclaimed"
	UserTaskAssigned  Type = "usertask.assigned"
	VariablesDeleted  Type = "variables.deleted"
	VariablesRenamed  Type = "variables.renamed"
)

// Compensation history events. A compensation throw event writes compensation.thrown,
// then, one completed activity after the other (latest completion first),
// compensation.started when the activity's handler starts and element.compensated when
// it has completed, and compensation.completed when every handler has run. The handlers
// themselves are ordinary activities (element.entered, job.*, element.left, ...).
const (
	CompensationThrown    Type = "compensation.thrown"
	CompensationStarted   Type = "compensation.started"
	ElementCompensated    Type = "element.compensated"
	CompensationCompleted Type = "compensation.completed"
)

// Stall notice types. They are not history events: the stall detector publishes them on
// <prefix>.stalls.<service>.<definition> (schema cockpit.stall/v1), one of each per stall.
const (
	StallDetected Type = "stall.detected"
	StallCleared  Type = "stall.cleared"
)

// Kind is what an event type is about: the part of the type before its dot, "instance"
// of "instance.started". It is the first of the type's two subject tokens, so
// subscribers filter on it (cockpit.events.*.*.incident.>), and so do the web UI's live
// pages.
type Kind string

// Kinds of event types.
const (
	KindInstance   Kind = "instance"
	KindElement    Kind = "element"
	KindJob        Kind = "job"
	KindTimer      Kind = "timer"
	KindMessage    Kind = "message"
	KindUserTask   Kind = "usertask"
	KindIncident   Kind = "incident"
	KindVariables  Kind = "variables"
	KindError      Kind = "error"
	KindSignal     Kind = "signal"
	KindCall       Kind = "call"
	KindEscalation Kind = "escalation"
	KindStall      Kind = "stall"
)

// KindCompensation is the kind of compensation.thrown, compensation.started and
// compensation.completed.
const KindCompensation Kind = "compensation"

// Kind returns the kind of t: its text before the first dot ("" when it has none).
func (t Type) Kind() Kind {
	if i := strings.IndexByte(string(t), '.'); i >= 0 {
		return Kind(t[:i])
	}
	return ""
}

// IsIncident reports whether events of type t are published a second time on the
// incidents subject, for alerting: incident.opened and incident.resolved.
func (t Type) IsIncident() bool { return t == IncidentOpened || t == IncidentResolved }

// Data fields that the engine writes and other packages read back (the metrics fold, the
// instance page). Each is a member of an event's JSON data object.
const (
	// FieldFlow: element.entered, the sequence flow the token came by.
	FieldFlow = "flow"
	// FieldDurationMs: element.left, element.cancelled, instance.completed and
	// instance.cancelled, whole milliseconds.
	FieldDurationMs = "durationMs"
	// FieldWaitMs: element.left at waiting elements, job.completed and job.failed.
	FieldWaitMs = "waitMs"
	// FieldTerminated: instance.completed after a terminate end event (true).
	FieldTerminated = "terminated"
	// FieldReason: element.cancelled, instance.cancelled and instance.modified.
	FieldReason = "reason"
	// FieldActor: instance.modified, who modified the instance.
	FieldActor = "actor"
	// FieldWorker: job.completed, job.failed and error.thrown of a job an external worker
	// ran, its name.
	FieldWorker = "worker"
	// FieldHandler: compensation.started and element.compensated, the compensation
	// handler activity (the events' element is the activity it compensates).
	FieldHandler = "handler"
	// FieldThrownBy: compensation.started, the throw event that asked for it.
	FieldThrownBy = "thrownBy"
	// FieldScope: variables.changed of variables set in a scope below the process (a
	// subprocess, a multi-instance body or inner instance, a task's input mappings): the
	// id of the token whose scope holds them. Absent for process variables.
	FieldScope = "scope"
)

// ReasonInstanceCancelled is the reason element.cancelled carries when a person (or a
// client) cancelled the instance. The other reasons (ReasonErrorCaught, ReasonTimer,
// ReasonTerminated) are the process's own doing: the metrics count them as interrupted,
// not cancelled.
const ReasonInstanceCancelled = "instance cancelled"

// ReasonModified is the reason element.cancelled carries for the tokens an instance
// modification cancelled (a person's doing: the metrics count it as cancelled, as
// ReasonInstanceCancelled), and the default reason of the instance.cancelled of an
// instance whose every token a modification cancelled.
const ReasonModified = "instance modified"

// ReasonErrorCaught is the reason of element.cancelled for the elements an interrupting
// boundary error event took the token from: "error CODE caught by BOUNDARY".
func ReasonErrorCaught(code, boundaryID string) string {
	return "error " + code + " caught by " + boundaryID
}

// ReasonTimer is the reason of element.cancelled for an activity whose interrupting
// boundary timer fired: "timer BOUNDARY".
func ReasonTimer(boundaryID string) string { return "timer " + boundaryID }

// ReasonInterrupted is the reason of element.cancelled for the tokens of a scope an
// interrupting event subprocess took over: "interrupted by event subprocess ES".
func ReasonInterrupted(eventSubID string) string {
	return "interrupted by event subprocess " + eventSubID
}

// ReasonMessage is the reason of element.cancelled for an activity whose interrupting
// boundary message event caught a message: "message BOUNDARY".
func ReasonMessage(boundaryID string) string { return "message " + boundaryID }

// ReasonSignal is the reason of element.cancelled for an activity whose interrupting
// boundary signal event caught a signal: "signal NAME caught by BOUNDARY".
func ReasonSignal(name, boundaryID string) string {
	return "signal " + name + " caught by " + boundaryID
}

// ReasonEscalation is the reason of element.cancelled for the elements an interrupting
// boundary escalation event took the token from: "escalation CODE caught by BOUNDARY".
func ReasonEscalation(code, boundaryID string) string {
	return "escalation " + code + " caught by " + boundaryID
}

// ReasonCondition is the reason of element.cancelled for an activity whose interrupting
// conditional boundary event fired: "condition BOUNDARY".
func ReasonCondition(boundaryID string) string { return "condition " + boundaryID }

// ReasonTerminated is the reason of element.cancelled for the tokens a terminate end
// event ended: "terminate end event END".
func ReasonTerminated(endID string) string { return "terminate end event " + endID }

// ReasonTransactionCancelled is the reason of element.cancelled for what a cancel end
// event of a transaction subprocess cancelled (the transaction's other tokens, then the
// transaction itself): "transaction cancelled by END".
func ReasonTransactionCancelled(endID string) string { return "transaction cancelled by " + endID }

// ReasonCompletionCondition is the reason of element.cancelled for the inner instances
// of a multi-instance activity still running when its completion condition held:
// "completion condition of ACTIVITY".
func ReasonCompletionCondition(activityID string) string {
	return "completion condition of " + activityID
}

// ElementTypeMultiInstanceBody is the element type of the events of a multi-instance
// body or standard loop (element.entered with the flow it came by, element.left,
// element.cancelled), whose element id is the looping activity's: the metrics and the
// completion counts count the activity's inner instances as its runs, not the body.
const ElementTypeMultiInstanceBody = "multiInstanceBody"

// MaxDataBytes bounds the data of any one event, a backstop below the NATS default
// max_payload of 1 MiB: the engine refuses a command whose event data would pass it, and
// the outbox relay adds at most its envelope to it.
const MaxDataBytes = 900 << 10
