package command

import (
	"encoding/json"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

// The request and result types below are the wire format (JSON, camelCase) and the Go
// API of the Client alike: the web UI builds these structs, the service decodes them.
// Decoding is strict — an unknown field is an invalid_input error naming it — so a
// misspelt "instanceID" fails loudly instead of acting on nothing.

// Meta is carried by every request.
type Meta struct {
	// Actor is the operator's identity (required). It is asserted by the caller: the
	// service trusts whoever may publish on the command subjects (see docs/commands.md).
	Actor string `json:"actor"`
	// Reason is free text kept in the audit log (optional).
	Reason string `json:"reason,omitempty"`
	// RequestID is the idempotency and progress key: a request repeated with the same id
	// gets the first answer again instead of running twice (on the node that answered it),
	// and a bulk command publishes its progress on <prefix>.cmd.progress.<requestId>.
	// The service generates one when it is empty. Letters, digits, '-' and '_', at most
	// 64 characters.
	RequestID string `json:"requestId,omitempty"`
}

func (m *Meta) meta() *Meta { return m }

// RetryIncidentRequest resolves an open incident and resumes its token.
type RetryIncidentRequest struct {
	Meta
	IncidentID string `json:"incidentId"`
	// Variables are set on the instance before the retry, to fix what made it fail.
	Variables map[string]any `json:"variables,omitempty"`
	// Retries is how many attempts a failed job gets again (0: one).
	Retries int `json:"retries,omitempty"`
}

// RetryIncidentResult names the retried incident and its instance.
type RetryIncidentResult struct {
	IncidentID string `json:"incidentId"`
	InstanceID string `json:"instanceId"`
}

// BulkRetryRequest retries many open incidents: either the ones listed in IncidentIDs,
// or the open incidents that match every filter field given (DefinitionKey, ElementID,
// Type, MessageContains; All instead of a filter selects every open incident). At most
// Max incidents are retried, oldest first.
type BulkRetryRequest struct {
	Meta
	IncidentIDs     []string `json:"incidentIds,omitempty"`
	DefinitionKey   string   `json:"definitionKey,omitempty"`
	ElementID       string   `json:"elementId,omitempty"`
	Type            string   `json:"type,omitempty"` // incident type, e.g. "failedJob"
	MessageContains string   `json:"messageContains,omitempty"`
	ErrorCode       string   `json:"errorCode,omitempty"`
	// Fingerprint selects the incidents of one group of the incident queue.
	Fingerprint string `json:"fingerprint,omitempty"`
	All         bool   `json:"all,omitempty"`
	// Max bounds the selection (default DefaultBulkMax, at most MaxBulk). A list of
	// IncidentIDs longer than Max is refused rather than cut.
	Max       int            `json:"max,omitempty"`
	Variables map[string]any `json:"variables,omitempty"`
	Retries   int            `json:"retries,omitempty"`
}

// Bulk selection limits.
const (
	DefaultBulkMax = 1000
	MaxBulk        = 10000
)

// BulkRetryResult counts what a bulk retry did.
type BulkRetryResult struct {
	RequestID string `json:"requestId"`
	// Matched is how many open incidents matched the filter (or ids given); Selected is
	// how many of them were tried (Matched capped at Max).
	Matched  int `json:"matched"`
	Selected int `json:"selected"`
	Retried  int `json:"retried"`
	Failed   int `json:"failed"`
	// Errors lists the failed items (the first MaxItemErrors of them; ErrorsTruncated
	// says when there were more).
	Errors          []ItemError `json:"errors,omitempty"`
	ErrorsTruncated bool        `json:"errorsTruncated,omitempty"`
	// Incomplete is true when the service stopped before trying every selected incident;
	// the rest were not touched and can be retried again.
	Incomplete bool `json:"incomplete,omitempty"`
}

// MaxItemErrors bounds the per-item errors in a bulk reply (NATS messages are small).
const MaxItemErrors = 1000

// ItemError is the failure of one item of a bulk command.
type ItemError struct {
	ID      string `json:"id"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Progress is published on <prefix>.cmd.progress.<requestId> while a bulk command runs:
// once when the selection is known, after every chunk, and with Finished set at the end.
type Progress struct {
	RequestID string `json:"requestId"`
	Command   string `json:"command"`
	Total     int    `json:"total"`
	Done      int    `json:"done"`
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`
	Finished  bool   `json:"finished,omitempty"`
}

// InstanceRequest names an instance (cancel, suspend, resume). For a cancel, Meta.Reason
// also goes into the instance's history.
type InstanceRequest struct {
	Meta
	InstanceID string `json:"instanceId"`
}

// InstanceStateResult is an instance's state after a command.
type InstanceStateResult struct {
	InstanceID string `json:"instanceId"`
	State      string `json:"state"`
}

// SetVariablesRequest sets (adds or replaces) instance variables. Values are JSON values.
type SetVariablesRequest struct {
	Meta
	InstanceID string         `json:"instanceId"`
	Variables  map[string]any `json:"variables"`
}

// SetVariablesResult names the variables that were set, sorted.
type SetVariablesResult struct {
	InstanceID string   `json:"instanceId"`
	Names      []string `json:"names"`
}

// CorrelateMessageRequest delivers a message to the instance waiting for it, or starts
// an instance at a matching message start event.
type CorrelateMessageRequest struct {
	Meta
	Name           string         `json:"name"`
	CorrelationKey string         `json:"correlationKey,omitempty"`
	Variables      map[string]any `json:"variables,omitempty"`
	// TypedVariables are set with Variables, each keeping its type name (engine.Typed).
	TypedVariables map[string]TypedValue `json:"typedVariables,omitempty"`
	// BusinessKey, InstanceID and VariablesEqual select the instances the message may
	// reach (engine.Message): Camunda 7's correlation, whose catch events have no
	// correlation key. An instance the message starts gets BusinessKey.
	BusinessKey    string         `json:"businessKey,omitempty"`
	InstanceID     string         `json:"instanceId,omitempty"`
	VariablesEqual map[string]any `json:"variablesEqual,omitempty"`
	// All delivers the message to every instance that matches and starts an instance at
	// every matching message start event (at most engine.MaxCorrelations).
	All bool `json:"all,omitempty"`
	// Unique refuses (invalid_state) a message that more than one instance or start
	// event matches, instead of delivering it to the first.
	Unique bool `json:"unique,omitempty"`
	// Service is where an observing cockpit's Router sends the command (a service that
	// deploys the process, or whose instances wait for the message or signal); it is
	// not part of the request on the wire: the subject names the service.
	Service string `json:"-"`
}

// CorrelateMessageResult tells where the message went.
type CorrelateMessageResult struct {
	InstanceID string `json:"instanceId"`
	// Started is true when the message started a new instance.
	Started bool `json:"started"`
	// Correlations lists every instance the message reached or started (one unless All).
	Correlations []Correlation `json:"correlations,omitempty"`
}

// Correlation is one instance a message reached or started.
type Correlation struct {
	InstanceID   string `json:"instanceId"`
	DefinitionID string `json:"definitionId"`
	BusinessKey  string `json:"businessKey,omitempty"`
	Started      bool   `json:"started,omitempty"`
}

// TypedValue is a variable value with a type name other than its JSON's (Camunda 7's
// Short, Long, Date, File, …: engine.Typed). Value is carried as raw JSON, so a Long keeps
// every digit (a plain variable's number is read as a float64).
type TypedValue struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// BroadcastSignalRequest throws a signal to every instance waiting for it and starts an
// instance of every process with a signal start event of that name.
type BroadcastSignalRequest struct {
	Meta
	Name      string         `json:"name"`
	Variables map[string]any `json:"variables,omitempty"`
	// Service is where an observing cockpit's Router sends the command (a service that
	// deploys the process, or whose instances wait for the message or signal); it is
	// not part of the request on the wire: the subject names the service.
	Service string `json:"-"`
}

// BroadcastSignalResult names the broadcast. The engine delivers it after the reply, in
// steps: the instances it reaches move shortly after (their signal.received events).
type BroadcastSignalResult struct {
	SignalID string `json:"signalId"`
	Name     string `json:"name"`
}

// StartInstanceRequest starts an instance of a process at its none start event.
type StartInstanceRequest struct {
	Meta
	ProcessKey string `json:"processKey"`
	// Version selects a definition version (0: the latest).
	Version     int            `json:"version,omitempty"`
	BusinessKey string         `json:"businessKey,omitempty"`
	Variables   map[string]any `json:"variables,omitempty"`
	// TypedVariables are set with Variables, each keeping its type name (engine.Typed).
	TypedVariables map[string]TypedValue `json:"typedVariables,omitempty"`
	// Service is where an observing cockpit's Router sends the command (a service that
	// deploys the process, or whose instances wait for the message or signal); it is
	// not part of the request on the wire: the subject names the service.
	Service string `json:"-"`
}

// StartInstanceResult describes the started instance after it ran to its first waits.
type StartInstanceResult struct {
	InstanceID        string `json:"instanceId"`
	DefinitionID      string `json:"definitionId"`
	DefinitionKey     string `json:"definitionKey"`
	DefinitionVersion int    `json:"definitionVersion"`
	BusinessKey       string `json:"businessKey,omitempty"`
	State             string `json:"state"`
}

// EvaluateConditionsRequest evaluates the conditional start events of the latest
// version of every process (or of ProcessKey) against Variables and starts an instance
// at each one whose condition holds (Camunda 7's evaluateStartConditions).
type EvaluateConditionsRequest struct {
	Meta
	ProcessKey  string         `json:"processKey,omitempty"`
	BusinessKey string         `json:"businessKey,omitempty"`
	Variables   map[string]any `json:"variables,omitempty"`
}

// EvaluateConditionsResult lists the instances started (none when no condition held).
type EvaluateConditionsResult struct {
	Started []StartInstanceResult `json:"started"`
}

// CompleteTaskRequest completes an open user task; values are checked against the
// task's form fields.
type CompleteTaskRequest struct {
	Meta
	TaskID    string         `json:"taskId"`
	Variables map[string]any `json:"variables,omitempty"`
}

// CompleteTaskResult names the completed task and its instance.
type CompleteTaskResult struct {
	TaskID     string `json:"taskId"`
	InstanceID string `json:"instanceId"`
}

// StallThresholdRequest sets or removes an operator's stall threshold for one element of a
// process (every version): a token waiting there longer is flagged as stalled. It wins over
// the threshold learnt from the element's waiting times.
type StallThresholdRequest struct {
	Meta
	DefinitionKey string `json:"definitionKey"`
	ElementID     string `json:"elementId"`
	// Threshold is a duration such as "15m", "2h30m" or "36h" (Go syntax, from 1s to 365
	// days); empty removes the element's threshold.
	Threshold string `json:"threshold,omitempty"`
}

// StallThresholdResult is the element's threshold after the command ("" when removed).
type StallThresholdResult struct {
	DefinitionKey string `json:"definitionKey"`
	ElementID     string `json:"elementId"`
	Threshold     string `json:"threshold"`
	// ThresholdMs is Threshold in milliseconds (0 when removed).
	ThresholdMs int64 `json:"thresholdMs"`
}

// ModifyInstanceRequest modifies an instance's tokens (instance.modify) or previews the
// modification without changing anything (instance.modify-preview): the steps run in
// order, in one transaction; Meta.Actor and Meta.Reason also go into the instance's
// instance.modified event. See engine.ModifyStep for the steps.
type ModifyInstanceRequest struct {
	Meta
	InstanceID string              `json:"instanceId"`
	Steps      []engine.ModifyStep `json:"steps"`
	// Variables are process variables set before the steps run.
	Variables map[string]any `json:"variables,omitempty"`
}

// ModifyInstanceResult is what the modification did (or, for a preview, would do).
type ModifyInstanceResult = engine.ModifyResult

// IncidentGroupRequest acts on a group of the incident queue: the incidents of one
// fingerprint (package incidents). incident.assign sets Assignee (required) with an
// optional Note; incident.unassign clears the assignment (Note optional, kept in the
// log); incident.note appends Note (required) to the group's log, as a resolution note
// when Resolution is set.
type IncidentGroupRequest struct {
	Meta
	Fingerprint string `json:"fingerprint"`
	Assignee    string `json:"assignee,omitempty"`
	Note        string `json:"note,omitempty"`
	Resolution  bool   `json:"resolution,omitempty"`
}

// IncidentGroupResult is the group's assignment after the command.
type IncidentGroupResult struct {
	Fingerprint string `json:"fingerprint"`
	Assignee    string `json:"assignee"`
}
