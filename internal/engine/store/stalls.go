package store

import (
	"context"
	"time"
)

// Stall states.
const (
	// StallOpen: the token still waits at the element, longer than the threshold.
	StallOpen = "open"
	// StallCleared: the token moved on, its instance ended or was suspended, or the
	// threshold no longer holds.
	StallCleared = "cleared"
)

// Stall is a token that has waited at an element longer than the element's threshold.
// There is at most one open stall per token; a token that stalls again after its stall
// cleared gets a new row.
type Stall struct {
	ID            string
	TokenID       string
	InstanceID    string
	DefinitionID  string
	DefinitionKey string
	ElementID     string
	// Since is when the token arrived at the element (the token's CreatedAt).
	Since time.Time
	// Threshold is the waiting time the token exceeded when it was detected.
	Threshold time.Duration
	// Incident is true when the token had an open incident when it was detected.
	Incident   bool
	DetectedAt time.Time
	State      string
	ClearedAt  *time.Time
	// Published is the state last published on NATS ("" none yet, then StallOpen, then
	// StallCleared): a row whose Published differs from State is still to be published.
	Published string
}

// StallThreshold is an operator's waiting limit for one element of a process key (every
// version); it wins over the threshold learnt from the element's waiting times.
type StallThreshold struct {
	DefinitionKey string
	ElementID     string
	Threshold     time.Duration
	UpdatedAt     time.Time
	// UpdatedBy is the operator who set it.
	UpdatedBy string
}

// WaitingToken is a token of an active instance standing at an element.
type WaitingToken struct {
	TokenID    string
	InstanceID string
	ElementID  string
	// Since is the token's CreatedAt: when it arrived at the element.
	Since time.Time
	// Incident is true when the token has an open incident.
	Incident bool
}

// StallFilter selects stalls, newest detection first. Zero fields do not filter.
type StallFilter struct {
	DefinitionID  string
	DefinitionKey string
	InstanceID    string
	State         string
	Limit         int
}

// StallTx is the part of Tx the stall detector and the pages use. Stalls are bounded by
// running work: the detector reads tokens of active instances, and every query that the
// pages run reads open stalls only, never the history of finished instances.
type StallTx interface {
	// WaitingTokens returns the tokens of the definition's active instances that stand at
	// one of the elements of cutoffs and arrived there before that element's cutoff.
	// Joining tokens count (they wait at a join).
	WaitingTokens(ctx context.Context, definitionID string, cutoffs map[string]time.Time) ([]*WaitingToken, error)
	// InsertStalls writes new stalls; a second open stall for a token is ErrDuplicate.
	InsertStalls(ctx context.Context, stalls []*Stall) error
	// ClearStalls marks open stalls cleared at the given time (ids not open are skipped).
	ClearStalls(ctx context.Context, ids []string, at time.Time) error
	// ListStalls returns stalls, newest detection first.
	ListStalls(ctx context.Context, f StallFilter) ([]*Stall, error)
	// UnpublishedStalls returns up to limit stalls whose state is not yet published,
	// oldest detection first.
	UnpublishedStalls(ctx context.Context, limit int) ([]*Stall, error)
	// MarkStallPublished records that state was published for the stall. A stall cleared
	// since stays to be published (its State differs from state).
	MarkStallPublished(ctx context.Context, id, state string) error
	// PruneStalls deletes cleared, published stalls cleared before the given time and
	// returns how many.
	PruneStalls(ctx context.Context, clearedBefore time.Time) (int64, error)
	// CountStalls counts the open stalls of a definition (all definitions when
	// definitionID is "") per element, counting only stalls whose token still stands at
	// the element: between two detector passes a token that moved on is not shown.
	CountStalls(ctx context.Context, definitionID string) (map[string]int, error)
	// CountStalledInstances counts, per definition key, the instances with such a stall.
	CountStalledInstances(ctx context.Context) (map[string]int, error)

	// PutStallThreshold sets an operator's threshold (upsert by key and element).
	PutStallThreshold(ctx context.Context, th *StallThreshold) error
	// DeleteStallThreshold removes one; removing one that does not exist is ErrNotFound.
	DeleteStallThreshold(ctx context.Context, definitionKey, elementID string) error
	// ListStallThresholds returns the thresholds of a key ("" for every key), by key and
	// element.
	ListStallThresholds(ctx context.Context, definitionKey string) ([]*StallThreshold, error)
}
