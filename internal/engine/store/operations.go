package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Operations are bulk actions an operator confirmed (retry incidents, cancel instances,
// and later modify and migrate): the operation row says who, when, what kind and with
// which parameters, and one item row per selected target fixes the selection at
// confirmation. Items are worked off by any node (OperationTx.ClaimOperationItems locks
// them with an owner and an expiry, like jobs); each item's outcome is written once,
// by its lock holder, in the transaction of the item's engine command where the kind
// allows it (FinishOperationItem refuses a second outcome).

// Operation states.
const (
	// OperationRunning: items are still pending.
	OperationRunning = "running"
	// OperationCompleted: every item has an outcome.
	OperationCompleted = "completed"
	// OperationCancelled: an operator stopped it; the items that had not run are skipped.
	OperationCancelled = "cancelled"
)

// Operation item states.
const (
	ItemPending = "pending"
	ItemOK      = "ok"
	ItemFailed  = "failed"
	// ItemSkipped: the operation was cancelled before the item ran.
	ItemSkipped = "skipped"
)

// ErrLostItem means an operation item's outcome was refused: the item is no longer
// pending under the caller's lock (another node took it over after the lock expired and
// recorded it, or the operation was cancelled). Whatever the caller did for the item in
// the same transaction must be undone.
var ErrLostItem = errors.New("operation item no longer held")

// MaxFailingAgain is where CountFailingAgain stops counting (one index probe per
// succeeded item, and no page needs more than "1000+").
const MaxFailingAgain = 1000

// Operation is one bulk action.
type Operation struct {
	ID string
	// Kind names what every item does ("incident.retry", "instance.cancel", ...).
	Kind      string
	Actor     string
	Reason    string
	RequestID string
	// Selection describes what was selected, for people ("process order, element pay").
	Selection string
	// Params are the kind's parameters (JSON), the same for every item.
	Params json.RawMessage
	State  string
	Total  int
	// Succeeded, Failed and Skipped are written when the operation ends; while it runs,
	// CountOperationItems counts them.
	Succeeded, Failed, Skipped int
	// FailingAgain is how many of the items that succeeded failed again since (a new
	// incident at a retried incident's place), as counted at CheckedAt (the reads of
	// engine.GetOperation and operation.get count it again); above MaxFailingAgain it
	// means "more than MaxFailingAgain".
	FailingAgain int
	CheckedAt    *time.Time
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

// OperationItem is one target of an operation.
type OperationItem struct {
	OperationID string
	// Seq orders the items of an operation (0, 1, ...): they run in this order.
	Seq int
	// Target is what the item acts on (an incident id, an instance id).
	Target string
	// InstanceID, DefinitionKey and ElementID are where the target stood when it was
	// selected ("" where unknown).
	InstanceID    string
	DefinitionKey string
	ElementID     string
	State         string
	// Code and Error say why an item failed.
	Code  string
	Error string
	// Owner and LockedUntil are the lock of the node working on the item.
	Owner       string
	LockedUntil *time.Time
	DoneAt      *time.Time
}

// OperationFilter selects operations, newest first. Zero fields do not filter.
type OperationFilter struct {
	State string
	Kind  string
	Actor string
	Limit int
}

// OperationItemFilter selects an operation's items in Seq order, after AfterSeq (-1:
// from the first). Zero fields do not filter.
type OperationItemFilter struct {
	OperationID string
	State       string
	AfterSeq    int
	Limit       int
}

// ClaimItems asks for up to Limit pending items of an operation whose lock is free or
// expired (LockedUntil <= Now), to be locked for Owner until Until.
type ClaimItems struct {
	OperationID string
	Owner       string
	Now, Until  time.Time
	Limit       int
}

// ItemOutcome is the outcome of an item, written by its lock holder.
type ItemOutcome struct {
	OperationID string
	Seq         int
	Owner       string
	State       string // ItemOK or ItemFailed
	Code, Error string
	At          time.Time
}

// OperationTx is the part of Tx that stores operations.
type OperationTx interface {
	// InsertOperation writes an operation with its items (ErrDuplicate when the id is
	// taken). Items get their OperationID and Seq (their index) here.
	InsertOperation(ctx context.Context, op *Operation, items []*OperationItem) error
	GetOperation(ctx context.Context, id string) (*Operation, error)
	ListOperations(ctx context.Context, f OperationFilter) ([]*Operation, error)
	ListOperationItems(ctx context.Context, f OperationItemFilter) ([]*OperationItem, error)
	// CountOperationItems counts an operation's items by state.
	CountOperationItems(ctx context.Context, operationID string) (map[string]int, error)
	// ClaimOperationItems locks pending items, lowest Seq first.
	ClaimOperationItems(ctx context.Context, c ClaimItems) ([]*OperationItem, error)
	// ReleaseOperationItems gives back the locks owner holds on the operation's pending
	// items (a node that stops hands its items to the others at once).
	ReleaseOperationItems(ctx context.Context, operationID, owner string) error
	// FinishOperationItem records an item's outcome; ErrLostItem when the item is not
	// pending under owner's lock (the lock may have expired: as with jobs, a lock that
	// nobody took over is still the owner's). A store that defers writes (PostgreSQL)
	// may report ErrLostItem at the transaction's next statement or commit instead,
	// failing the whole transaction.
	FinishOperationItem(ctx context.Context, o ItemOutcome) error
	// CompleteOperation ends a running operation that has no pending item left, writing
	// its counts; it reports whether it did.
	CompleteOperation(ctx context.Context, id string, at time.Time) (bool, error)
	// CancelOperation ends a running operation: its pending items are skipped, locked ones
	// included (their outcome is then refused). ErrNotFound when there is no such
	// operation, ErrConflict when it is not running.
	CancelOperation(ctx context.Context, id string, at time.Time) error
	// CountFailingAgain counts the operation's succeeded items (of an incident.retry)
	// whose place failed again: their instance has an incident at the item's element,
	// other than the item's target, opened when or after the retry resolved the target
	// (open or since resolved). It stops counting past MaxFailingAgain: a count above
	// MaxFailingAgain reads "more than MaxFailingAgain".
	CountFailingAgain(ctx context.Context, operationID string) (int, error)
	// SetFailingAgain records a count of CountFailingAgain made at at.
	SetFailingAgain(ctx context.Context, operationID string, n int, at time.Time) error
}
