// Package incidents is the incident queue: selecting incidents by a filter (complete, in
// keyset pages from the store), grouping them by the fingerprint of their cause
// (package fingerprint; the store keeps it in a column and groups with a GROUP BY),
// assigning a group to a person with a note, the group's note log (notes and resolution
// notes), retrying a selection one incident at a time, and notifying a webhook of new
// fingerprints (Notifier).
//
// The engine's retry stays the engine's (RetryIncident, one instance transaction per
// incident); this package decides what is selected and how many run at once. The command
// service (package command) calls it for the NATS commands, the web pages for what they
// show; nothing here sends commands itself.
//
// Invariants:
//   - A selection is complete: Select reads every matching incident, SelectPage at a
//     time, and a bound (max) is explicit and reported (Selection.Matched).
//   - A group's record is written with the first open incident of its fingerprint, in
//     the same transaction (the store does it), so the webhook notice of a new cause is
//     an outbox row: it is neither lost nor sent for a cause that was rolled back.
package incidents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Bounds of the queue's inputs.
const (
	// SelectPage is how many incidents Select reads per store query.
	SelectPage = 1000
	// MaxFilterText bounds each text field of a Filter (bytes).
	MaxFilterText = 1024
	// MaxFilterIDs bounds Filter.IDs.
	MaxFilterIDs = 10000
	// MaxNoteBytes bounds a note (and an assignment's note).
	MaxNoteBytes = 4096
	// MaxAssigneeBytes bounds an assignee's name.
	MaxAssigneeBytes = 200
	// MaxGroups bounds the groups one Groups call returns.
	MaxGroups = 1000
	// BackfillBatch is how many older incidents Backfill fingerprints per transaction.
	BackfillBatch = 500
)

// ErrInvalid is wrapped by the errors of inputs out of bounds or malformed; the message
// names the field and the limit.
var ErrInvalid = errors.New("invalid incident queue input")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Filter selects incidents. Every set field filters.
type Filter struct {
	// State is store.IncidentOpen or store.IncidentResolved ("" any).
	State           string
	DefinitionKey   string
	ElementID       string
	Type            string
	ErrorCode       string
	Fingerprint     string
	MessageContains string
	// Assignee selects the incidents of groups assigned to this person
	// (store.IncidentUnassigned: to nobody).
	Assignee string
	// OlderThan and NewerThan bound the incidents' age at the time of the query.
	OlderThan time.Duration
	NewerThan time.Duration
	// IDs selects these incidents only, InstanceIDs the incidents of these instances
	// (nil: any).
	IDs         []string
	InstanceIDs []string
	// Service selects the incidents of one service's instances (an observing cockpit's
	// read model; "": any).
	Service string
}

// Validate checks the filter's bounds.
func (f Filter) Validate() error {
	switch f.State {
	case "", store.IncidentOpen, store.IncidentResolved:
	default:
		return invalid("state %q: use open or resolved", f.State)
	}
	for name, v := range map[string]string{"definitionKey": f.DefinitionKey, "elementId": f.ElementID, "type": f.Type,
		"errorCode": f.ErrorCode, "fingerprint": f.Fingerprint, "messageContains": f.MessageContains, "assignee": f.Assignee,
		"service": f.Service} {
		if len(v) > MaxFilterText {
			return invalid("field %q is %d bytes, more than %d", name, len(v), MaxFilterText)
		}
	}
	if f.OlderThan < 0 || f.NewerThan < 0 {
		return invalid("an age bound is negative")
	}
	if len(f.IDs) > MaxFilterIDs || len(f.InstanceIDs) > MaxFilterIDs {
		return invalid("%d incident ids and %d instance ids, more than %d", len(f.IDs), len(f.InstanceIDs), MaxFilterIDs)
	}
	return nil
}

// IsZero reports whether the filter selects everything (State aside).
func (f Filter) IsZero() bool {
	return f.DefinitionKey == "" && f.ElementID == "" && f.Type == "" && f.ErrorCode == "" && f.Fingerprint == "" &&
		f.MessageContains == "" && f.Assignee == "" && f.OlderThan == 0 && f.NewerThan == 0 && f.IDs == nil && f.InstanceIDs == nil &&
		f.Service == ""
}

// Query is the store query of the filter at now.
func (f Filter) Query(now time.Time) store.IncidentQuery {
	q := store.IncidentQuery{State: f.State, DefinitionKey: f.DefinitionKey, ElementID: f.ElementID, Type: f.Type,
		ErrorCode: f.ErrorCode, Fingerprint: f.Fingerprint, MessageContains: f.MessageContains, Assignee: f.Assignee,
		IDs: f.IDs, InstanceIDs: f.InstanceIDs, Service: f.Service}
	if f.OlderThan > 0 {
		q.CreatedBefore = now.Add(-f.OlderThan)
	}
	if f.NewerThan > 0 {
		q.CreatedAfter = now.Add(-f.NewerThan)
	}
	return q
}

// Selection is what Select found.
type Selection struct {
	// Incidents are the selected incidents, oldest first, at most the bound.
	Incidents []*store.Incident
	// Matched counts every incident the filter matched, past the bound too.
	Matched int
}

// IDs returns the selected incidents' ids.
func (s *Selection) IDs() []string {
	ids := make([]string, len(s.Incidents))
	for i, in := range s.Incidents {
		ids[i] = in.ID
	}
	return ids
}

// Select returns the incidents a filter selects at now, oldest first, at most max
// (max <= 0: no bound), reading every match in pages of SelectPage so none is missed and
// Matched counts them all.
func Select(ctx context.Context, st store.Store, f Filter, now time.Time, max int) (*Selection, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	q := f.Query(now)
	sel := &Selection{}
	var after store.IncidentCursor
	for {
		var page []*store.Incident
		err := st.Read(ctx, func(tx store.Tx) error {
			var err error
			page, err = tx.QueueIncidents(ctx, q, after, SelectPage)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("select incidents: %w", err)
		}
		sel.Matched += len(page)
		for _, in := range page {
			if max > 0 && len(sel.Incidents) >= max {
				break
			}
			sel.Incidents = append(sel.Incidents, in)
		}
		if len(page) < SelectPage {
			return sel, nil
		}
		last := page[len(page)-1]
		after = store.IncidentCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

// Page returns up to limit incidents after the cursor, oldest first, and the cursor of
// the next page (zero when this one was the last).
func Page(ctx context.Context, st store.Store, f Filter, now time.Time, after store.IncidentCursor, limit int) ([]*store.Incident, store.IncidentCursor, error) {
	if err := f.Validate(); err != nil {
		return nil, store.IncidentCursor{}, err
	}
	var page []*store.Incident
	err := st.Read(ctx, func(tx store.Tx) error {
		var err error
		page, err = tx.QueueIncidents(ctx, f.Query(now), after, limit+1)
		return err
	})
	if err != nil {
		return nil, store.IncidentCursor{}, fmt.Errorf("page incidents: %w", err)
	}
	if len(page) <= limit {
		return page, store.IncidentCursor{}, nil
	}
	page = page[:limit]
	last := page[len(page)-1]
	return page, store.IncidentCursor{CreatedAt: last.CreatedAt, ID: last.ID}, nil
}

// Group is one fingerprint's incidents among those a filter selected.
type Group struct {
	store.IncidentGroup
	// Sample is the group's newest selected incident.
	Sample *store.Incident
}

// Groups groups the incidents a filter selects by fingerprint, the group with the newest
// incident first, and returns up to limit groups (at most MaxGroups); more reports that
// there are more groups than returned. Each group's count covers every incident of it
// the filter selects.
func Groups(ctx context.Context, st store.Store, f Filter, now time.Time, limit int) (groups []*Group, more bool, err error) {
	if err := f.Validate(); err != nil {
		return nil, false, err
	}
	if limit <= 0 || limit > MaxGroups {
		return nil, false, invalid("group limit %d is not between 1 and %d", limit, MaxGroups)
	}
	var list []*store.IncidentGroup
	var samples []*store.Incident
	err = st.Read(ctx, func(tx store.Tx) error {
		var err error
		if list, err = tx.GroupIncidents(ctx, f.Query(now), limit+1); err != nil {
			return err
		}
		if len(list) > limit {
			list, more = list[:limit], true
		}
		ids := make([]string, len(list))
		for i, g := range list {
			ids[i] = g.NewestID
		}
		samples, err = tx.QueueIncidents(ctx, store.IncidentQuery{IDs: ids}, store.IncidentCursor{}, len(ids)+1)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("group incidents: %w", err)
	}
	byID := make(map[string]*store.Incident, len(samples))
	for _, in := range samples {
		byID[in.ID] = in
	}
	groups = make([]*Group, len(list))
	for i, g := range list {
		groups[i] = &Group{IncidentGroup: *g, Sample: byID[g.NewestID]}
	}
	return groups, more, nil
}

// GroupInfo is a group's record and the newest entries of its log.
type GroupInfo struct {
	Record *store.IncidentGroupRecord
	Notes  []*store.IncidentNote
}

// Info returns a fingerprint's record and up to notes entries of its log, newest first
// (notes <= 0: none).
func Info(ctx context.Context, st store.Store, fp string, notes int) (*GroupInfo, error) {
	var gi GroupInfo
	err := st.Read(ctx, func(tx store.Tx) error {
		var err error
		if gi.Record, err = tx.GetIncidentGroup(ctx, fp); err != nil || notes <= 0 {
			return err
		}
		gi.Notes, err = tx.ListIncidentNotes(ctx, fp, notes)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("incident group %s: %w", fp, err)
	}
	return &gi, nil
}

func checkText(field, v string, max int) error {
	if len(v) > max {
		return invalid("field %q is %d bytes, more than %d", field, len(v), max)
	}
	if !utf8.ValidString(v) {
		return invalid("field %q is not valid UTF-8", field)
	}
	return nil
}

// Assign assigns a group to a person (assignee "" unassigns it) and logs it with the
// note, in one transaction. The group must exist (store.ErrNotFound).
func Assign(ctx context.Context, st store.Store, fp, assignee, actor, note string, at time.Time) error {
	assignee = strings.TrimSpace(assignee)
	if err := checkText("assignee", assignee, MaxAssigneeBytes); err != nil {
		return err
	}
	if err := checkText("note", note, MaxNoteBytes); err != nil {
		return err
	}
	kind, text := store.NoteAssign, note
	if assignee == "" {
		kind = store.NoteUnassign
	} else if text == "" {
		text = "assigned to " + assignee
	} else {
		text = "assigned to " + assignee + ": " + note
	}
	return st.Write(ctx, func(tx store.Tx) error {
		if err := tx.AssignIncidentGroup(ctx, fp, assignee, actor, note, at); err != nil {
			return err
		}
		return tx.InsertIncidentNote(ctx, &store.IncidentNote{ID: newID(), Fingerprint: fp, Kind: kind, Text: text,
			Actor: actor, CreatedAt: at})
	})
}

// AddNote appends a note (kind store.NoteComment or store.NoteResolution) to a group's
// log. The group must exist (store.ErrNotFound).
func AddNote(ctx context.Context, st store.Store, fp, kind, text, actor string, at time.Time) error {
	if kind != store.NoteComment && kind != store.NoteResolution {
		return invalid("note kind %q: use note or resolution", kind)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return invalid("field \"text\" is empty")
	}
	if err := checkText("text", text, MaxNoteBytes); err != nil {
		return err
	}
	return st.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.GetIncidentGroup(ctx, fp); err != nil {
			return err
		}
		return tx.InsertIncidentNote(ctx, &store.IncidentNote{ID: newID(), Fingerprint: fp, Kind: kind, Text: text,
			Actor: actor, CreatedAt: at})
	})
}

// Backfill fingerprints the incidents written before fingerprints existed, BackfillBatch
// per transaction, open ones first, and returns how many it did. Their groups' notices
// are skipped: these causes are not new.
func Backfill(ctx context.Context, st store.Store) (int, error) {
	done := 0
	for {
		n := 0
		err := st.Write(ctx, func(tx store.Tx) error {
			list, err := tx.UnfingerprintedIncidents(ctx, BackfillBatch)
			if err != nil {
				return err
			}
			n = len(list)
			return tx.FingerprintIncidents(ctx, list)
		})
		if err != nil {
			return done, fmt.Errorf("fingerprint older incidents: %w", err)
		}
		done += n
		if n < BackfillBatch {
			return done, nil
		}
	}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Queue is the reads of the incident queue on one store, for callers that hold no store
// themselves (the web pages).
type Queue struct{ st store.Store }

// NewQueue returns the queue of a store.
func NewQueue(st store.Store) *Queue { return &Queue{st: st} }

// Select is Select on the queue's store.
func (q *Queue) Select(ctx context.Context, f Filter, now time.Time, max int) (*Selection, error) {
	return Select(ctx, q.st, f, now, max)
}

// Groups is Groups on the queue's store.
func (q *Queue) Groups(ctx context.Context, f Filter, now time.Time, limit int) ([]*Group, bool, error) {
	return Groups(ctx, q.st, f, now, limit)
}

// Page is Page on the queue's store.
func (q *Queue) Page(ctx context.Context, f Filter, now time.Time, after store.IncidentCursor, limit int) ([]*store.Incident, store.IncidentCursor, error) {
	return Page(ctx, q.st, f, now, after, limit)
}

// Info is Info on the queue's store.
func (q *Queue) Info(ctx context.Context, fp string, notes int) (*GroupInfo, error) {
	return Info(ctx, q.st, fp, notes)
}
