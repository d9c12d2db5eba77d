// Package store is the storage seam of the engine: the one interface that the embedded
// SQLite store and the PostgreSQL store implement, and the rows they keep.
//
// The engine never talks to a database driver. It loads an instance aggregate, moves its
// tokens in memory and hands the store one Change to write, guarded by the instance's
// version number. Drivers translate their errors into the sentinel errors below.
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/event"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means an optimistic version check failed: someone else changed the
// instance (or locked the job) first. The caller reloads and retries the command.
var ErrConflict = errors.New("conflict")

// ErrDuplicate means a row with the same unique key already exists.
var ErrDuplicate = errors.New("duplicate")

// Sizes the stores' indexes are built for. Business keys, correlation keys and names are
// indexed as they are, and PostgreSQL refuses a B-tree entry over about 2.7 KB, so the
// engine refuses longer ones (engine.MaxBusinessKeyBytes, engine.MaxNameBytes). Variable
// values are not bounded here: the stores index them in a form of fixed size.
const (
	// MaxKeyBytes bounds a business key and a correlation key.
	MaxKeyBytes = 1024
	// MaxNameBytes bounds a variable name, a message name, a process key, an element or
	// flow id, a job type, an assignee and an error code.
	MaxNameBytes = 255
)

// ErrUnavailable means the store could not be reached or could not finish the work for a
// reason that passes: a refused, closed or timed-out connection, a server shutting down or
// out of connections, a busy database. Nothing of the failed transaction was written
// (unless its commit was what failed, which the caller cannot tell apart from a lost
// reply), so the work is safe to try again later. Drivers add it to the error's chain
// (errors.Is) and keep the driver's message.
var ErrUnavailable = errors.New("store unavailable")

// Unavailable returns err marked as ErrUnavailable (errors.Is holds for both err and
// ErrUnavailable; the message is err's). Nil stays nil.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return unavailableError{err}
}

// StorableText returns s with what no store can hold in text replaced by U+FFFD: NUL
// bytes and invalid UTF-8 (PostgreSQL refuses both in text and jsonb; SQLite would keep
// them, so the two stores would differ).
func StorableText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }

// ErrInvalidCursor means a page cursor (InstanceFilter.After) is not one the store made:
// the caller's input is wrong (a 400 at the edge), not the store.
var ErrInvalidCursor = errors.New("invalid cursor")

// MinCursorMicros and MaxCursorMicros bound a cursor's time (microseconds since 1970, years 1 to 9999):
// what the stores wrote is inside it, and PostgreSQL refuses times far outside.
const (
	MinCursorMicros = -62135596800 * 1_000_000
	MaxCursorMicros = 253402300799 * 1_000_000
)

// Store opens transactions. Implementations are safe for concurrent use.
type Store interface {
	// Write runs fn in a read-write transaction and commits when fn returns nil.
	// Implementations may serialise writers (SQLite has one writer at a time).
	Write(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in a read-only transaction (a consistent snapshot where supported).
	// Calling a method that writes from a read transaction is an error.
	Read(ctx context.Context, fn func(Tx) error) error
	// Dialect names the implementation ("sqlite", "postgres").
	Dialect() string
	// Close releases connections.
	Close() error
}

// Exclusive is implemented by stores that no other process writes to (the embedded
// SQLite store locks its file). The engine's cache of the instances it wrote is then
// always current; on a shared store it is checked by the version check, and a command
// that finds its cached instance behind re-runs on a fresh read.
type Exclusive interface {
	Exclusive() bool
}

// Checker is implemented by stores that can tell whether they are ready to serve: the
// database answers and every embedded migration is applied (for /readyz).
type Checker interface {
	Ready(ctx context.Context) error
}

// Notifier is implemented by stores shared by several nodes that can tell the others
// about new work (PostgreSQL: LISTEN/NOTIFY), so an idle node starts a job within
// milliseconds instead of at its next poll.
type Notifier interface {
	// NotifyWork announces that work which is due now was committed. It must not block;
	// the store coalesces bursts (NOTIFY serialises commits).
	NotifyWork()
	// OnWork registers fn to be called, on a store goroutine, when any node (this one
	// included) announces work. The returned function unregisters it.
	OnWork(fn func()) (cancel func())
}

// Tx is one transaction. All methods take ctx first and return sentinel errors
// (ErrNotFound, ErrConflict, ErrDuplicate, ErrUnavailable) wrapped with context.
type Tx interface {
	// Savepoint, RollbackTo and Release let the engine apply several commands in one
	// transaction and undo one of them without losing the others.
	Savepoint(ctx context.Context, name string) error
	RollbackTo(ctx context.Context, name string) error
	Release(ctx context.Context, name string) error

	// Definitions. InsertDefinition fails with ErrDuplicate on a taken id or (service,
	// key, version). The lookups by key below read the definitions of every service: they
	// are the engine's, whose store holds its own definitions only (Service ""); a read
	// model of several services finds one service's through ListDefinitions.
	InsertDefinition(ctx context.Context, d *Definition) error
	GetDefinition(ctx context.Context, id string) (*Definition, error)
	// LatestDefinition returns the highest version of a process key.
	LatestDefinition(ctx context.Context, key string) (*Definition, error)
	// DefinitionByVersion returns one version of a process key.
	DefinitionByVersion(ctx context.Context, key string, version int) (*Definition, error)
	// DefinitionByVersionTag returns the highest version of a process key with a version tag.
	DefinitionByVersionTag(ctx context.Context, key, tag string) (*Definition, error)
	// DefinitionByChecksum returns the highest version of a process key deployed from the
	// document with this checksum (the processes of one document share it).
	DefinitionByChecksum(ctx context.Context, key, checksum string) (*Definition, error)
	ListDefinitions(ctx context.Context, f DefinitionFilter) ([]*Definition, error)

	// Instances.
	// LoadInstance returns the whole aggregate of a running or ended instance.
	LoadInstance(ctx context.Context, id string) (*Aggregate, error)
	// Apply writes a change. For a new instance (c.Created) it inserts the row; otherwise it
	// updates it only where the stored version equals c.Instance.Version-1, else ErrConflict.
	// Changes without an instance (timer/message start bookkeeping) write only their rows.
	//
	// Apply also keeps the completion counts that ElementCounts reads: every event of type
	// "element.left" in c.Events adds one to its (DefinitionID, ElementID), in the same
	// transaction, so a change rolled back (to a savepoint or entirely) counts nothing.
	Apply(ctx context.Context, c *Change) error
	GetInstance(ctx context.Context, id string) (*Instance, error)
	// ListVariables returns the variables of several instances at once (the executor
	// hands them to the handlers of a fetched batch of jobs).
	ListVariables(ctx context.Context, instanceIDs []string) ([]*Variable, error)
	// ListTokens returns the tokens of several instances at once, by instance id and
	// arrival (the instance list's "waiting at" and "since": one query over the tokens'
	// instance index for a page of instances, never one per row).
	ListTokens(ctx context.Context, instanceIDs []string) ([]*Token, error)
	ListInstances(ctx context.Context, f InstanceFilter) (*InstancePage, error)
	// CountInstances counts the instances ListInstances selects (its paging aside).
	CountInstances(ctx context.Context, f InstanceFilter) (int64, error)
	// CountTokens counts the tokens of a definition's instances per element (where its
	// running instances stand), in one query bounded by the running instances, not by
	// history. Joining tokens are counted too.
	CountTokens(ctx context.Context, definitionID string) (map[string]int, error)
	// ElementCounts returns how many times each element of a definition was completed
	// (its "element.left" events, counted by Apply), from a summary row per element: the
	// cost follows the model's size, never the history. Elements never completed are
	// absent.
	ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error)

	// Jobs.
	// LockJobs locks up to p.Limit due, unlocked (or lock-expired), runnable jobs for
	// p.Owner until p.LockUntil and returns them, oldest due first.
	LockJobs(ctx context.Context, p LockJobsParams) ([]*Job, error)
	GetJob(ctx context.Context, id string) (*Job, error)
	// PutJob writes a job row that belongs to no instance (a timer start job).
	PutJob(ctx context.Context, j *Job) error
	DeleteJob(ctx context.Context, id string) error
	// DeleteStartJobs removes the instance-less jobs of a definition (redeploy replaces them).
	DeleteStartJobs(ctx context.Context, definitionKey string) error
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// CountJobs counts the jobs ListJobs selects (Offset and Limit aside).
	CountJobs(ctx context.Context, f JobFilter) (int64, error)
	// CountJobTypes counts the waiting service jobs (retries left) per job type, in
	// type order, at most f.Limit types: one grouped query over the jobs table, which
	// holds only pending work.
	CountJobTypes(ctx context.Context, f JobTypeFilter) ([]JobTypeCount, error)
	// NextJobDue returns the earliest due time of a runnable job (ok false when none).
	// Locked jobs count with their lock expiry.
	NextJobDue(ctx context.Context) (t time.Time, ok bool, err error)

	// Message subscriptions.
	// FindSubscriptions returns subscriptions for a message name whose correlation key
	// equals key (instance-less start subscriptions match any key).
	FindSubscriptions(ctx context.Context, name, key string) ([]*Subscription, error)
	PutSubscription(ctx context.Context, s *Subscription) error
	// DeleteStartSubscriptions removes the message and signal start subscriptions of a
	// process key.
	DeleteStartSubscriptions(ctx context.Context, definitionKey string) error

	// ConditionalStartSubscriptions returns up to limit conditional start subscriptions
	// (SubConditional), of the process key or ("") of every process, by key and id.
	ConditionalStartSubscriptions(ctx context.Context, definitionKey string, limit int) ([]*Subscription, error)

	// Signals (see Signal).
	// SignalSubscriptions returns up to limit signal subscriptions (SubSignal) of the
	// signal name whose ids are in (after, upto], in id order: one step of a broadcast.
	SignalSubscriptions(ctx context.Context, name, after, upto string, limit int) ([]*Subscription, error)
	// InsertSignal stores a broadcast; UpdateSignal writes its LastID and Delivered;
	// DeleteSignal removes it (ErrNotFound when it is not there).
	InsertSignal(ctx context.Context, s *Signal) error
	GetSignal(ctx context.Context, id string) (*Signal, error)
	UpdateSignal(ctx context.Context, s *Signal) error
	DeleteSignal(ctx context.Context, id string) error

	// Queries for the cockpit.
	ListIncidents(ctx context.Context, f IncidentFilter) ([]*Incident, error)
	GetIncident(ctx context.Context, id string) (*Incident, error)
	ListUserTasks(ctx context.Context, f UserTaskFilter) ([]*UserTask, error)
	GetUserTask(ctx context.Context, id string) (*UserTask, error)
	// ListEvents returns history in order (by Seq).
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)

	// Outbox. Every event Apply writes is queued for publication in the same transaction:
	// the queue is the tail of the history above a cursor that the relay moves. Seq order
	// is commit order (the stores guarantee it), so nothing appears below the cursor later.
	// ListOutbox returns up to limit queued events, lowest Seq first.
	ListOutbox(ctx context.Context, limit int) ([]*Event, error)
	// DeleteOutbox records published events: the queue moves past every event up to the
	// first one not in seqs. Events published beyond such a gap are handed out again (the
	// relay's publish is idempotent: NATS deduplicates by event id).
	DeleteOutbox(ctx context.Context, seqs []int64) error
	// OutboxStats returns the queue length and the time of its oldest event (zero when empty).
	OutboxStats(ctx context.Context) (count int64, oldest time.Time, err error)
	// ParkOutbox records events the relay sets aside because they can never be published
	// (a row already recorded for a seq is kept). It does not move the queue: the relay
	// passes the same seqs to DeleteOutbox in the same transaction.
	ParkOutbox(ctx context.Context, evs []*ParkedEvent) error
	// ListParked returns up to limit parked events, newest (highest Seq) first;
	// CountParked how many there are.
	ListParked(ctx context.Context, limit int) ([]*ParkedEvent, error)
	CountParked(ctx context.Context) (int64, error)

	// Leases let one node at a time do a job (package leadership uses them for the outbox
	// relay, the metrics projector and the stall detector): AcquireLease takes or
	// renews the named lease for owner until the given time, when it is free, expired
	// (until <= now) or already owner's; it reports whether owner holds it now.
	AcquireLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error)
	// ReleaseLease gives a lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error

	// Audit log of operator commands.
	InsertAudit(ctx context.Context, a *AuditEntry) error
	// UpdateAudit sets the Result, Error and Request of the audit row a.ID (a command's
	// row written with AuditStarted before it ran gets its result), and its InstanceID
	// when a.InstanceID is set (a command learns its instance as it runs: a retried
	// incident's, a completed task's); ErrNotFound when there is no such row.
	UpdateAudit(ctx context.Context, a *AuditEntry) error
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)

	// Stalls (stalls.go).
	StallTx

	// Operations (operations.go).
	OperationTx

	// Metrics rollups (metrics.go).
	MetricsTx

	// The incident queue: selection, groups, notes, webhook notices (incidents.go).
	IncidentQueueTx

	// Users, sessions and API tokens (accounts.go).
	Accounts
}

// ParkedEvent is an event the outbox relay set aside: it could not be published for a
// permanent reason (its message is larger than the NATS server accepts), so the relay
// moved past it instead of stopping every event behind it. The event stays in the
// history; this row says why it was not published.
type ParkedEvent struct {
	Seq        int64 // the event's Seq
	ID         string
	InstanceID string
	Type       event.Type
	// Bytes is the size of the event's message as it would have been published.
	Bytes  int64
	Reason string
	// Placeholder is true when a message without the event's data went out in its place
	// (same id and headers), so the instance's events on NATS have no gap.
	Placeholder bool
	ParkedAt    time.Time
}

// AuditEntry records one operator command: who, what, when, and the result.
type AuditEntry struct {
	ID      string
	Time    time.Time
	Actor   string // the operator's identity
	Command string // e.g. "incident.retry"
	// Target is what the command acted on (an instance, incident or task id, a process key).
	Target string
	// InstanceID is the instance the command acted on, when it was one ("" otherwise or
	// unknown): an incident retry names the incident's instance, so the instance page
	// finds it.
	InstanceID string
	Reason     string
	// Request is the command's JSON body.
	Request json.RawMessage
	// Result is "ok" or the error code; Error is the message of a failed command.
	Result string
	Error  string
}

// AuditStarted is the Result of an audit row written before its command runs: a command
// whose row cannot be written does not run. UpdateAudit gives the row the command's result;
// a row left "started" is a command whose end was not recorded (the node stopped, or the
// store failed after the command).
const AuditStarted = "started"

// AuditFilter selects audit entries, newest first. Zero fields do not filter.
type AuditFilter struct {
	Actor  string
	Target string
	// Instance selects the entries about an instance: its id as Target or InstanceID.
	Instance string
	// Command selects one verb ("incident.retry").
	Command string
	// Result selects one result ("ok", "started", an error code).
	Result string
	// Since (inclusive) and Until (exclusive) bound the time.
	Since, Until time.Time
	// Before continues a list after its last entry: entries older than (Time, ID).
	Before *AuditCursor
	Limit  int
}

// AuditCursor is the position of an audit entry in the newest-first order.
type AuditCursor struct {
	Time time.Time
	ID   string
}

// Definition is one deployed version of a process.
type Definition struct {
	ID       string
	Key      string // the BPMN process id
	Version  int
	Name     string
	Checksum string // sha256 of the deployed bytes (hex)
	// Resource is the file name given at deploy time.
	Resource   string
	XML        []byte
	DeployedAt time.Time
	// VersionTag is the process's version tag (camunda:versionTag, zeebe:versionTag;
	// "" for none): a call activity bound by version tag starts the newest version with it.
	VersionTag string
	// Service is the service that deployed it, as an observing cockpit's read model
	// holds it (package internal/observer); "" in an engine's own store, whose
	// definitions are all its own. Definitions are unique by (Service, Key, Version):
	// two services may deploy the same process key and version.
	Service string
}

// DefinitionFilter selects definitions. Zero fields do not filter.
type DefinitionFilter struct {
	Key string
	// Service selects one service's definitions ("": every service's, the engine's own
	// included).
	Service string
	// LatestOnly returns only the highest version of each key (of each service's key).
	LatestOnly bool
	// Checksum selects the definitions deployed from one document (Definition.Checksum):
	// the processes of one deployment, and the same bytes deployed again later.
	Checksum string
}

// Instance states.
const (
	InstanceActive    = "active"
	InstanceSuspended = "suspended"
	InstanceCompleted = "completed"
	InstanceCancelled = "cancelled"
)

// Instance is a process instance row.
type Instance struct {
	ID                string
	DefinitionID      string
	DefinitionKey     string
	DefinitionVersion int
	BusinessKey       string
	State             string
	// Version is bumped by every change; Apply checks it.
	Version       int64
	IncidentCount int
	StartedAt     time.Time
	EndedAt       *time.Time
	// EventSeq is the number of history events written for the instance so far.
	EventSeq int64
	// ParentInstanceID, ParentTokenID and ParentElementID name the instance, token and
	// call activity that started this instance ("" for an instance started otherwise).
	// They are written with the row and never change.
	ParentInstanceID string
	ParentTokenID    string
	ParentElementID  string
	// CallDepth is how many calls lead to this instance (0: not called).
	CallDepth int
}

// Token states.
const (
	// TokenActive: the token waits at its element (job, task, timer, message, subprocess scope).
	TokenActive = "active"
	// TokenJoining: the token arrived at a parallel join through Flow and waits for the others.
	TokenJoining = "joining"
	// TokenLeaving: the token's element is done but no outgoing flow could be taken (a
	// condition failed or none held): it waits on an incident, and a retry chooses again.
	TokenLeaving = "leaving"
	// TokenMultiInstance: the token is the body of a multi-instance activity or standard
	// loop at its element; its inner instances are the tokens in its scope at the same
	// element.
	TokenMultiInstance = "multiInstance"
)

// Token is where an instance stands.
type Token struct {
	ID         string
	InstanceID string
	ElementID  string
	// ScopeID is the id of the token that stands at the enclosing subprocess ("" at top level).
	ScopeID string
	State   string
	// Flow is the incoming sequence flow of a joining token.
	Flow string
	// CreatedAt is when the token arrived at ElementID (the engine sets it at every
	// arrival, not only when the token is made): element.left and element.cancelled
	// report the stay from it, and the stall detector compares it with its thresholds.
	CreatedAt time.Time
}

// Variable types, as shown to people and checked on input.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeObject  = "object"
	TypeArray   = "array"
	TypeNull    = "null"
)

// ValueType names the type of an encoded JSON value (TypeString, …; TypeNull for none).
func ValueType(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return TypeNull
	}
	switch b[0] {
	case '"':
		return TypeString
	case 't', 'f':
		return TypeBoolean
	case 'n':
		return TypeNull
	case '{':
		return TypeObject
	case '[':
		return TypeArray
	}
	return TypeNumber
}

// Variable is one instance variable; Value is its JSON encoding.
type Variable struct {
	InstanceID string
	// Scope is the id of the token whose scope holds the variable: a subprocess's, a
	// multi-instance body's or inner instance's, or a task's with input mappings ("" for
	// the process). The engine deletes a scope's variables when the scope ends.
	Scope     string
	Name      string
	Type      string
	Value     json.RawMessage
	UpdatedAt time.Time
}

// VariableKey names one variable of an instance: its scope and name.
type VariableKey struct {
	Scope string
	Name  string
}

// Job kinds.
const (
	JobService = "service" // runs a registered handler
	JobTimer   = "timer"   // a timer event of an instance fires
	// JobTimerStart starts an instance of DefinitionID (instance-less; Repeat holds the rest of the cycle).
	JobTimerStart = "timer-start"
	// JobSignal works off the signal broadcast with the job's id (instance-less; Type is
	// the signal's name).
	JobSignal = "signal"
)

// Job is a unit of work that becomes due: a service task or a timer.
type Job struct {
	// ID is the job key: stable across retries, so handlers can be idempotent.
	ID            string
	Kind          string
	Type          string // job type (service) or timer element id
	InstanceID    string // "" for start jobs
	TokenID       string
	ElementID     string
	DefinitionID  string
	DefinitionKey string
	Retries       int // attempts left
	Attempt       int // attempts started so far
	DueAt         time.Time
	// Suspended jobs are not locked (their instance is suspended).
	Suspended   bool
	LockOwner   string
	LockedUntil *time.Time
	// Repeat is the remaining timer cycle (ISO 8601 repeating interval or cron) for cycles.
	Repeat       string
	LastError    string
	ErrorDetails string
	CreatedAt    time.Time
}

// LockJobsParams selects and locks due jobs.
type LockJobsParams struct {
	Owner     string
	Now       time.Time
	LockUntil time.Time
	Limit     int
	// Kinds limits the job kinds ("" or nil: all).
	Kinds []string
	// Types limits service jobs to these types (nil: all types).
	Types []string
	// DefinitionKey limits the jobs to one process's ("": all).
	DefinitionKey string
	// BusinessKey limits the jobs to those of the instances with this business key
	// ("": all).
	BusinessKey string
	// DefinitionID limits the jobs to one process version's ("": all).
	DefinitionID string
	// Variables limits the jobs to those of the instances whose process variables (scope
	// "") hold every one of these values (JSON, compared as the variable filter of
	// InstanceFilter compares); nil: no filter.
	Variables []VariableMatch
}

// VariableMatch is one "variable equals" condition: a process variable's name and its
// JSON value.
type VariableMatch struct {
	Name  string
	Value json.RawMessage
}

// JobFilter selects jobs for queries. Empty fields select all.
type JobFilter struct {
	InstanceID string
	Type       string
	// LockOwner keeps the jobs locked by one owner (a node, or engine.WorkerOwner).
	LockOwner     string
	Kind          string
	DefinitionID  string
	DefinitionKey string
	ElementID     string
	// ID keeps one job.
	ID string
	// Locked keeps the jobs locked at Now (true) or not (false).
	Locked *bool
	Now    time.Time
	// HasRetries keeps the jobs with retries left (true) or without (false: an incident).
	HasRetries *bool
	// Offset skips that many of the jobs in order (due time, id).
	Offset int
	Limit  int
}

// JobTypeFilter selects the jobs CountJobTypes counts. Empty fields select all.
type JobTypeFilter struct {
	DefinitionKey string
	InstanceID    string
	// ExcludeTypes are not counted (the engine passes the types it serves).
	ExcludeTypes []string
	Limit        int
}

// JobTypeCount is how many service jobs of one type wait.
type JobTypeCount struct {
	Type string
	Jobs int
}

// Subscription kinds.
const (
	// SubMessage waits for a message correlated by name and correlation key.
	SubMessage = ""
	// SubSignal waits for a signal broadcast by name (MessageName holds the signal's
	// name; CorrelationKey is empty).
	SubSignal = "signal"
	// SubConditional is a process's conditional start event (InstanceID and
	// MessageName empty): EvaluateStartConditions finds it.
	SubConditional = "conditional"
)

// Subscription waits for a message or a signal.
type Subscription struct {
	ID string
	// Kind is SubMessage, SubSignal or SubConditional.
	Kind           string
	InstanceID     string // "" for a message or signal start event
	TokenID        string
	ElementID      string
	DefinitionID   string
	DefinitionKey  string
	MessageName    string
	CorrelationKey string
	CreatedAt      time.Time
}

// Signal is a thrown signal being delivered: the broadcast works off the signal
// subscriptions of Name with ids in (LastID, Upto], a bounded number per command, and
// is deleted when none is left. A job of kind JobSignal with the same id runs it.
type Signal struct {
	ID   string
	Name string
	// Variables is the JSON object set on each instance the signal reaches and started
	// ("" for none).
	Variables string
	// Upto is an id drawn when the signal was thrown: later subscriptions are not its.
	Upto string
	// LastID is the id of the last subscription delivered to ("" before the first).
	LastID string
	// InstanceID is the instance whose event threw it ("" for an operator's broadcast).
	InstanceID string
	// Delivered counts the subscriptions reached so far.
	Delivered int64
	CreatedAt time.Time
}

// User task states.
const (
	TaskOpen      = "open"
	TaskCompleted = "completed"
	TaskCancelled = "cancelled"
)

// UserTask is work for a person.
type UserTask struct {
	ID              string
	InstanceID      string
	TokenID         string
	ElementID       string
	DefinitionKey   string
	Name            string
	Assignee        string
	CandidateGroups string
	FormKey         string
	State           string
	CreatedAt       time.Time
	DueAt           *time.Time
	CompletedAt     *time.Time
}

// UserTaskFilter selects user tasks.
type UserTaskFilter struct {
	InstanceID string
	State      string
	Assignee   string
	// Service matches the tasks of the instances of one service's definitions
	// (Definition.Service; "": every service's).
	Service string
	Limit   int
}

// Incident states.
const (
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// Incident types.
const (
	IncidentFailedJob       = "failedJob"
	IncidentNoMatchingFlow  = "noMatchingFlow"
	IncidentExpression      = "expressionError"
	IncidentUnhandledError  = "unhandledError"
	IncidentMessageNoTarget = "messageNoTarget"
	// IncidentLimit: a command reached one of the engine's bounds on the work of one
	// command (steps, tokens created); the message names the bound.
	IncidentLimit = "limitExceeded"
	// IncidentCalledInstance: the instance a call activity started has an open incident
	// (CauseIncidentID); it is resolved with its cause.
	IncidentCalledInstance = "calledInstanceIncident"
	// IncidentCall: a call activity could not start or finish its call (no such
	// process or version, the call depth limit, the called instance cancelled on its
	// own); retrying it calls again.
	IncidentCall = "callActivity"
)

// Incident is a token that cannot move on without a person.
type Incident struct {
	ID            string
	InstanceID    string
	TokenID       string
	ElementID     string
	DefinitionKey string
	JobID         string
	Type          string
	Message       string
	Details       string
	State         string
	CreatedAt     time.Time
	ResolvedAt    *time.Time
	// CauseIncidentID is, for an incident of type IncidentCalledInstance, the incident of
	// the called instance that caused it ("" otherwise).
	CauseIncidentID string
	// Fingerprint and ErrorCode are computed by the store when it writes the incident
	// (package internal/incidents/fingerprint); what the engine sets is ignored. Only the
	// incident queue's reads (IncidentQueueTx) return them.
	Fingerprint string
	ErrorCode   string
}

// Compensation is one completion of an activity that a compensation throw event could
// still undo: an activity with a compensation handler, or an embedded subprocess inside
// which such activities completed. A loop that completes an activity twice has two rows.
// The engine deletes a row when it is compensated, when its scope is cancelled and when
// the instance ends.
type Compensation struct {
	ID         string
	InstanceID string
	// ScopeID is the token of the subprocess the activity completed in ("" at top
	// level). That token may have left since: its completed subprocess has a row of its
	// own whose InnerScopeID is this ScopeID.
	ScopeID   string
	ElementID string
	// HandlerID is the compensation handler activity ("" for a subprocess without one:
	// compensating it compensates what completed inside it).
	HandlerID string
	// InnerScopeID is, for a subprocess, the id its token had: the ScopeID of the rows
	// of what completed inside it ("" for other activities).
	InnerScopeID string
	// Seq orders the completions of an instance (later completions are compensated first).
	Seq int64
	// ThrowTokenID is the token of the throw event compensating the row ("" while it
	// waits), Position the row's place in that compensation's order.
	ThrowTokenID string
	Position     int
	CompletedAt  time.Time
}

// IncidentFilter selects incidents.
type IncidentFilter struct {
	InstanceID    string
	DefinitionKey string
	State         string
	Limit         int
}

// Event is one history row (and later an outbox row). ID is a UUIDv7 and doubles as
// the NATS message id; Seq is the store-wide commit order.
type Event struct {
	ID            string
	Seq           int64
	InstanceID    string
	InstanceSeq   int64
	DefinitionID  string
	DefinitionKey string
	Type          event.Type
	ElementID     string
	ElementType   string
	TokenID       string
	JobID         string
	IncidentID    string
	Time          time.Time
	// Data is a JSON object with type-specific fields (variables, error message ...).
	Data json.RawMessage
}

// EventFilter selects history.
type EventFilter struct {
	InstanceID string
	// AfterInstanceSeq keeps, with InstanceID, the instance's events after that position.
	AfterInstanceSeq int64
	// JobID keeps the events of one job (job.completed, job.failed, error.thrown, …).
	JobID    string
	AfterSeq int64
	Limit    int
}

// Aggregate is everything the engine needs to move an instance.
type Aggregate struct {
	Instance      *Instance
	Tokens        []*Token
	Variables     []*Variable
	Jobs          []*Job
	Subscriptions []*Subscription
	Tasks         []*UserTask // open tasks only
	Incidents     []*Incident // open incidents only

	// Compensations are the completions the instance could still compensate.
	Compensations []*Compensation
}

// Change is what one command wrote. Put* are upserts by id; Delete* remove by id.
type Change struct {
	Instance *Instance
	Created  bool
	// Migrated: the instance runs another definition now (a migration), so the update
	// of its row writes DefinitionID, DefinitionKey and DefinitionVersion too. Other
	// changes never move an instance to another definition, and leave those columns
	// (and their indexes) alone.
	Migrated bool

	PutTokens       []*Token
	DeleteTokens    []string
	PutVariables    []*Variable
	DeleteVariables []VariableKey
	PutJobs         []*Job
	DeleteJobs      []string
	PutSubs         []*Subscription
	DeleteSubs      []string
	PutTasks        []*UserTask
	PutIncidents    []*Incident

	// Compensation rows: what a later compensation throw could undo.
	PutCompensations    []*Compensation
	DeleteCompensations []string

	// Events are appended in order; the store assigns Seq.
	Events []*Event
}

// InstanceFilter selects instances. Zero fields do not filter.
type InstanceFilter struct {
	DefinitionKey string
	DefinitionID  string
	// Service matches the instances of the definitions of one service (Definition.Service;
	// "": every service's).
	Service     string
	States      []string
	BusinessKey string
	// VariableName and VariableValue (JSON) match instances whose variable equals the value.
	VariableName  string
	VariableValue json.RawMessage
	StartedAfter  time.Time
	StartedBefore time.Time
	HasIncident   *bool
	// ParentInstanceID matches the instances that this instance's call activities started.
	ParentInstanceID string
	// WaitingAt matches instances with a token at this element.
	WaitingAt string
	// Stalled matches instances with (true) or without (false) an open stall whose token
	// still stands at its element (see StallTx.CountStalls).
	Stalled *bool
	// Limit is the page size (default 50); After is the cursor of the previous page.
	Limit int
	After string
	// Offset skips that many instances of the order first (an API with numbered pages;
	// After is cheaper for a walk through them all).
	Offset int
}

// InstancePage is one page of instances, newest first.
type InstancePage struct {
	Instances []*Instance
	// Next is the cursor for the following page ("" on the last page).
	Next string
}
