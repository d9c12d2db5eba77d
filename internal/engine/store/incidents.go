package store

import (
	"context"
	"time"
)

// IncidentQuery selects incidents for the incident queue (package internal/incidents).
// Every set field filters; the zero value selects every incident.
type IncidentQuery struct {
	State         string
	DefinitionKey string
	ElementID     string
	Type          string
	ErrorCode     string
	Fingerprint   string
	// MessageContains matches a substring of the message, ignoring ASCII case.
	MessageContains string
	// CreatedAfter and CreatedBefore bound the creation time (exclusive; zero: open).
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// IDs selects these incidents only, InstanceIDs the incidents of these instances
	// (nil: any).
	IDs         []string
	InstanceIDs []string
	// Assignee selects the incidents of groups assigned to this person; IncidentUnassigned
	// selects those of groups assigned to nobody.
	Assignee string
	// Service selects the incidents of the instances of one service's definitions
	// (Definition.Service; "": every service's).
	Service string
}

// IncidentUnassigned is the IncidentQuery.Assignee of groups without an assignee.
const IncidentUnassigned = "-"

// IncidentCursor is a position in the queue's order (creation time, then id, both
// ascending): a page continues after it. The zero cursor starts at the beginning.
type IncidentCursor struct {
	CreatedAt time.Time
	ID        string
}

// IncidentGroup is the incidents of one fingerprint that a query selected, with the
// group's record (assignment, notice).
type IncidentGroup struct {
	Fingerprint string
	Count       int
	First, Last time.Time
	// NewestID is the id of the newest incident of the group selected (ids are UUIDv7,
	// so the greatest is the newest).
	NewestID string
	// Record is the group's row (nil for incidents not fingerprinted yet).
	Record *IncidentGroupRecord
}

// Incident notice states (IncidentGroupRecord.NotifyState).
const (
	NoticePending   = "pending"
	NoticeDelivered = "delivered"
	NoticeFailed    = "failed"
	NoticeExpired   = "expired"
	NoticeSkipped   = "skipped"
)

// IncidentGroupRecord is the stored row of a fingerprint: written with its first open
// incident, in the same transaction, so the group's webhook notice is an outbox row.
type IncidentGroupRecord struct {
	Fingerprint     string
	DefinitionKey   string
	ElementID       string
	Type            string
	ErrorCode       string
	Message         string // masked
	FirstIncidentID string
	FirstSeen       time.Time
	Assignee        string
	AssignedBy      string
	AssignedAt      *time.Time
	AssignNote      string
	NotifyState     string
	NotifyAttempts  int
	NotifyNextAt    time.Time
	NotifyError     string
	NotifiedAt      *time.Time
}

// Incident note kinds.
const (
	NoteComment    = "note"
	NoteResolution = "resolution"
	NoteAssign     = "assign"
	NoteUnassign   = "unassign"
)

// IncidentNote is one entry of a group's log.
type IncidentNote struct {
	ID          string
	Fingerprint string
	Kind        string
	Text        string
	Actor       string
	CreatedAt   time.Time
}

// IncidentQueueTx is the part of Tx the incident queue uses.
type IncidentQueueTx interface {
	// QueueIncidents returns up to limit incidents after the cursor, oldest first (by
	// creation time, then id), with Fingerprint and ErrorCode.
	QueueIncidents(ctx context.Context, q IncidentQuery, after IncidentCursor, limit int) ([]*Incident, error)
	// GroupIncidents groups the incidents q selects by fingerprint, the group with the
	// newest incident first, and returns up to limit groups.
	GroupIncidents(ctx context.Context, q IncidentQuery, limit int) ([]*IncidentGroup, error)
	// GetIncidentGroup returns a fingerprint's record (ErrNotFound: none).
	GetIncidentGroup(ctx context.Context, fingerprint string) (*IncidentGroupRecord, error)
	// AssignIncidentGroup sets (assignee "" clears) a group's assignment; ErrNotFound
	// when there is no such group.
	AssignIncidentGroup(ctx context.Context, fingerprint, assignee, by, note string, at time.Time) error
	// InsertIncidentNote appends to a group's log.
	InsertIncidentNote(ctx context.Context, n *IncidentNote) error
	// ListIncidentNotes returns up to limit entries of a group's log, newest first.
	ListIncidentNotes(ctx context.Context, fingerprint string, limit int) ([]*IncidentNote, error)

	// DueIncidentNotices returns up to limit pending notices due at now, oldest first.
	DueIncidentNotices(ctx context.Context, now time.Time, limit int) ([]*IncidentGroupRecord, error)
	// ClaimIncidentNotice takes a pending notice for an attempt: it moves its next
	// attempt to until and counts the attempt, if the notice is still pending with
	// attempts attempts (another node has not claimed it since). It reports whether it
	// did.
	ClaimIncidentNotice(ctx context.Context, fingerprint string, attempts int, until time.Time) (bool, error)
	// UpdateIncidentNotice records the outcome of an attempt: the state, the next
	// attempt (pending), the last error and when it was delivered.
	UpdateIncidentNotice(ctx context.Context, fingerprint, state string, nextAt time.Time, lastErr string, notifiedAt *time.Time) error

	// UnfingerprintedIncidents returns up to limit incidents written before fingerprints
	// existed (open ones first).
	UnfingerprintedIncidents(ctx context.Context, limit int) ([]*Incident, error)
	// FingerprintIncidents stores the fingerprints of such incidents and the records of
	// their groups, whose notices are skipped (they are not new).
	FingerprintIncidents(ctx context.Context, list []*Incident) error
}
