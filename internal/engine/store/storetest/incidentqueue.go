package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents/fingerprint"
)

// testIncidentQueue: the store fingerprints incidents as it writes them, writes a
// fingerprint's group record (a pending notice) with its first open incident, filters,
// pages by keyset and groups by fingerprint.
func testIncidentQueue(t *testing.T, s store.Store) {
	mk := func(id, defKey, el, typ, msg string, created float64) *store.Incident {
		return &store.Incident{ID: id, InstanceID: "i-" + id, TokenID: "t", ElementID: el, DefinitionKey: defKey,
			Type: typ, Message: msg, State: store.IncidentOpen, CreatedAt: at(created)}
	}
	a1 := mk("a1", "order", "charge", store.IncidentFailedJob, "order 17 declined", 1)
	a2 := mk("a2", "order", "charge", store.IncidentFailedJob, "order 18 declined", 2)
	a3 := mk("a3", "order", "charge", store.IncidentFailedJob, "Order 19 DECLINED", 3) // other case: another cause
	b1 := mk("b1", "order", "pay", store.IncidentUnhandledError, `error "E42" thrown by "pay" is not caught by any boundary event`, 3)
	c1 := mk("c1", "invoice", "send", store.IncidentFailedJob, "100% of 5_000 failed", 4)
	apply(t, s, &store.Change{PutIncidents: []*store.Incident{a1, a2}})
	apply(t, s, &store.Change{PutIncidents: []*store.Incident{a3, b1, c1}})
	fpA := fingerprint.Of("order", "charge", store.IncidentFailedJob, "order 1 declined")
	ids := func(list []*store.Incident) []string {
		var out []string
		for _, in := range list {
			out = append(out, in.ID)
		}
		return out
	}
	page := func(q store.IncidentQuery, after store.IncidentCursor, n int) []*store.Incident {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Incident, error) {
			return tx.QueueIncidents(ctx, q, after, n)
		})
	}
	all := page(store.IncidentQuery{}, store.IncidentCursor{}, 10)
	same(t, "oldest first, equal times by id", ids(all), []string{"a1", "a2", "a3", "b1", "c1"})
	if all[0].Fingerprint != fpA || all[1].Fingerprint != fpA || all[2].Fingerprint == fpA {
		t.Fatalf("fingerprints %q %q %q, want the first two %q", all[0].Fingerprint, all[1].Fingerprint, all[2].Fingerprint, fpA)
	}
	if all[3].ErrorCode != "E42" || all[0].ErrorCode != "" {
		t.Fatalf("error codes %q %q, want E42 and none", all[3].ErrorCode, all[0].ErrorCode)
	}
	// Keyset: the page after a2 starts at a3; equal creation times (a3, b1) are ordered by id.
	same(t, "after a2", ids(page(store.IncidentQuery{}, store.IncidentCursor{CreatedAt: a2.CreatedAt, ID: "a2"}, 2)), []string{"a3", "b1"})
	same(t, "after a3", ids(page(store.IncidentQuery{}, store.IncidentCursor{CreatedAt: a3.CreatedAt, ID: "a3"}, 10)), []string{"b1", "c1"})
	for _, c := range []struct {
		name string
		q    store.IncidentQuery
		want []string
	}{
		{"definition", store.IncidentQuery{DefinitionKey: "invoice"}, []string{"c1"}},
		{"element", store.IncidentQuery{ElementID: "pay"}, []string{"b1"}},
		{"type", store.IncidentQuery{Type: store.IncidentUnhandledError}, []string{"b1"}},
		{"error code", store.IncidentQuery{ErrorCode: "E42"}, []string{"b1"}},
		{"fingerprint", store.IncidentQuery{Fingerprint: fpA}, []string{"a1", "a2"}},
		{"message ignores case", store.IncidentQuery{MessageContains: "DECLINED"}, []string{"a1", "a2", "a3"}},
		{"message wildcards are literal", store.IncidentQuery{MessageContains: "0% of 5_"}, []string{"c1"}},
		{"message wildcard does not match", store.IncidentQuery{MessageContains: "17_"}, nil},
		{"created after", store.IncidentQuery{CreatedAfter: at(2)}, []string{"a3", "b1", "c1"}},
		{"created before", store.IncidentQuery{CreatedBefore: at(2)}, []string{"a1"}},
		{"ids", store.IncidentQuery{IDs: []string{"c1", "a2", "zz"}}, []string{"a2", "c1"}},
		{"instances", store.IncidentQuery{InstanceIDs: []string{"i-b1", "i-a1"}}, []string{"a1", "b1"}},
		{"state", store.IncidentQuery{State: store.IncidentResolved}, nil},
	} {
		same(t, c.name, ids(page(c.q, store.IncidentCursor{}, 10)), c.want)
	}

	groups := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroup, error) {
		return tx.GroupIncidents(ctx, store.IncidentQuery{State: store.IncidentOpen, DefinitionKey: "order"}, 10)
	})
	if len(groups) != 3 {
		t.Fatalf("%d groups of order, want 3", len(groups))
	}
	var ga *store.IncidentGroup
	for _, g := range groups {
		if g.Fingerprint == fpA {
			ga = g
		}
	}
	if ga == nil || ga.Count != 2 || !ga.First.Equal(at(1)) || !ga.Last.Equal(at(2)) || ga.NewestID != "a2" || ga.Record == nil {
		t.Fatalf("group of a1, a2 = %+v", ga)
	}
	if r := ga.Record; r.FirstIncidentID != "a1" || r.Message != "order <n> declined" || r.NotifyState != store.NoticePending ||
		!r.NotifyNextAt.Equal(at(1)) || r.DefinitionKey != "order" || r.ElementID != "charge" {
		t.Fatalf("record of group a = %+v", r)
	}
	if !groups[len(groups)-1].Last.Equal(at(2)) {
		t.Fatalf("groups not newest first: last is %v", groups[len(groups)-1].Last)
	}
	if capped := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroup, error) {
		return tx.GroupIncidents(ctx, store.IncidentQuery{}, 1)
	}); len(capped) != 1 || capped[0].NewestID != "c1" {
		t.Fatalf("one group: %+v, want c1's", capped)
	}

	// Assignment and notes.
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.AssignIncidentGroup(ctx, fpA, "ann", "bob", "card provider down", at(10))
	})
	if err := s.Write(t.Context(), func(tx store.Tx) error {
		return tx.AssignIncidentGroup(t.Context(), "nope", "ann", "bob", "", at(10))
	}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("assign unknown group: %v, want ErrNotFound", err)
	}
	rec := get(t, s, func(ctx context.Context, tx store.Tx) (*store.IncidentGroupRecord, error) {
		return tx.GetIncidentGroup(ctx, fpA)
	})
	if rec.Assignee != "ann" || rec.AssignedBy != "bob" || rec.AssignNote != "card provider down" || rec.AssignedAt == nil ||
		!rec.AssignedAt.Equal(at(10)) {
		t.Fatalf("assigned record %+v", rec)
	}
	same(t, "assigned to ann", ids(page(store.IncidentQuery{Assignee: "ann"}, store.IncidentCursor{}, 10)), []string{"a1", "a2"})
	same(t, "unassigned", ids(page(store.IncidentQuery{Assignee: store.IncidentUnassigned}, store.IncidentCursor{}, 10)),
		[]string{"a3", "b1", "c1"})
	for _, n := range []*store.IncidentNote{
		{ID: "n1", Fingerprint: fpA, Kind: store.NoteAssign, Text: "card provider down", Actor: "bob", CreatedAt: at(10)},
		{ID: "n2", Fingerprint: fpA, Kind: store.NoteResolution, Text: "provider back", Actor: "ann", CreatedAt: at(20)},
	} {
		write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertIncidentNote(ctx, n) })
	}
	notes := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentNote, error) {
		return tx.ListIncidentNotes(ctx, fpA, 10)
	})
	if len(notes) != 2 || notes[0].ID != "n2" || notes[1].Text != "card provider down" || !notes[0].CreatedAt.Equal(at(20)) {
		t.Fatalf("notes %+v", notes)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.AssignIncidentGroup(ctx, fpA, "", "bob", "x", at(30))
	})
	if rec := get(t, s, func(ctx context.Context, tx store.Tx) (*store.IncidentGroupRecord, error) {
		return tx.GetIncidentGroup(ctx, fpA)
	}); rec.Assignee != "" || rec.AssignedAt != nil || rec.AssignNote != "" {
		t.Fatalf("unassigned record %+v", rec)
	}

	// Resolving an incident keeps its fingerprint; a new incident of a known cause adds
	// no record.
	a1r := *a1
	a1r.State, a1r.ResolvedAt = store.IncidentResolved, ptr(at(40))
	a4 := mk("a4", "order", "charge", store.IncidentFailedJob, "order 99 declined", 41)
	apply(t, s, &store.Change{PutIncidents: []*store.Incident{&a1r, a4}})
	same(t, "resolved keeps its fingerprint", ids(page(store.IncidentQuery{Fingerprint: fpA, State: store.IncidentResolved},
		store.IncidentCursor{}, 10)), []string{"a1"})
	if rec := get(t, s, func(ctx context.Context, tx store.Tx) (*store.IncidentGroupRecord, error) {
		return tx.GetIncidentGroup(ctx, fpA)
	}); rec.FirstIncidentID != "a1" {
		t.Fatalf("record rewritten by a later incident: %+v", rec)
	}

	// Notices: due oldest first, claimed once per attempt, outcome recorded.
	due := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroupRecord, error) {
		return tx.DueIncidentNotices(ctx, at(4), 10)
	})
	if len(due) != 4 || due[0].Fingerprint != fpA {
		t.Fatalf("%d due at 4s (first %+v), want 4 starting with group a", len(due), due[0])
	}
	claim := func(fp string, attempts int) bool {
		var ok bool
		write(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			ok, err = tx.ClaimIncidentNotice(ctx, fp, attempts, at(100))
			return err
		})
		return ok
	}
	if !claim(fpA, 0) {
		t.Fatal("first claim failed")
	}
	if claim(fpA, 0) {
		t.Fatal("second claim with the same attempt count succeeded")
	}
	if n := len(get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroupRecord, error) {
		return tx.DueIncidentNotices(ctx, at(99), 10)
	})); n != 3 {
		t.Fatalf("%d due while group a is claimed, want 3", n)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.UpdateIncidentNotice(ctx, fpA, store.NoticeDelivered, at(50), "", ptr(at(50)))
	})
	rec = get(t, s, func(ctx context.Context, tx store.Tx) (*store.IncidentGroupRecord, error) {
		return tx.GetIncidentGroup(ctx, fpA)
	})
	if rec.NotifyState != store.NoticeDelivered || rec.NotifyAttempts != 1 || rec.NotifiedAt == nil || !rec.NotifiedAt.Equal(at(50)) {
		t.Fatalf("delivered record %+v", rec)
	}
	if n := len(get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroupRecord, error) {
		return tx.DueIncidentNotices(ctx, at(1000), 10)
	})); n != 3 {
		t.Fatalf("%d due after delivery, want 3", n)
	}
	if n := len(get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Incident, error) {
		return tx.UnfingerprintedIncidents(ctx, 10)
	})); n != 0 {
		t.Fatalf("%d unfingerprinted incidents, want none", n)
	}
}
