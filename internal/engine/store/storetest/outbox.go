package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// testOutbox: every event Apply writes is queued; the queue gives them back lowest Seq
// first; DeleteOutbox moves past the published head of the queue (an event published
// beyond an unpublished one is handed out again); a rolled-back write queues nothing.
func testOutbox(t *testing.T, s store.Store) {
	mk := func(id, instance string, seq int64) *store.Event {
		return &store.Event{ID: id, InstanceID: instance, InstanceSeq: seq, DefinitionKey: "order", Type: "step", Time: at(float64(seq))}
	}
	outbox := func(limit int) []*store.Event {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) { return tx.ListOutbox(ctx, limit) })
	}
	stats := func() (int64, time.Time) {
		var n int64
		var oldest time.Time
		read(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			n, oldest, err = tx.OutboxStats(ctx)
			return err
		})
		return n, oldest
	}
	if n, oldest := stats(); n != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox stats: %d %v", n, oldest)
	}
	evs := []*store.Event{mk("e1", "i1", 1), mk("e2", "i1", 2), mk("e3", "i2", 1)}
	apply(t, s, &store.Change{Events: evs[:2]}, &store.Change{Events: evs[2:]})
	// A write that fails queues nothing.
	err := s.Write(t.Context(), func(tx store.Tx) error {
		if err := tx.Apply(t.Context(), &store.Change{Events: []*store.Event{mk("lost", "i3", 1)}}); err != nil {
			return err
		}
		return store.ErrConflict
	})
	wantErr(t, err, store.ErrConflict, "failed write")

	same(t, "ListOutbox", outbox(10), evs)
	same(t, "ListOutbox limit", outbox(2), evs[:2])
	if n, oldest := stats(); n != 3 || !oldest.Equal(evs[0].Time) {
		t.Fatalf("stats %d %v, want 3 %v", n, oldest, evs[0].Time)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.DeleteOutbox(ctx, []int64{evs[0].Seq, evs[2].Seq, 99999})
	})
	same(t, "ListOutbox after a gap", outbox(10), evs[1:])
	if n, oldest := stats(); n != 2 || !oldest.Equal(evs[1].Time) {
		t.Fatalf("stats after a gap %d %v, want 2 %v", n, oldest, evs[1].Time)
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.DeleteOutbox(ctx, []int64{evs[1].Seq, evs[2].Seq})
	})
	same(t, "ListOutbox when all are published", outbox(10), []*store.Event{})
	if n, _ := stats(); n != 0 {
		t.Fatalf("stats when all are published: %d", n)
	}
	later := []*store.Event{mk("e4", "i1", 3)}
	apply(t, s, &store.Change{Events: later})
	same(t, "ListOutbox after a new write", outbox(10), later)
	// History keeps everything.
	hist := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) {
		return tx.ListEvents(ctx, store.EventFilter{})
	})
	if len(hist) != 4 {
		t.Fatalf("history has %d events, want 4", len(hist))
	}
	err = s.Read(t.Context(), func(tx store.Tx) error { return tx.DeleteOutbox(t.Context(), []int64{later[0].Seq}) })
	if err == nil {
		t.Fatal("DeleteOutbox in a read transaction succeeded")
	}
}

func testLeases(t *testing.T, s store.Store) {
	acquire := func(owner string, now, until time.Time) bool {
		var ok bool
		write(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			ok, err = tx.AcquireLease(ctx, "relay", owner, now, until)
			return err
		})
		return ok
	}
	if !acquire("a", at(0), at(10)) {
		t.Fatal("a could not take a free lease")
	}
	if acquire("b", at(5), at(15)) {
		t.Fatal("b took a lease a holds")
	}
	if !acquire("a", at(5), at(20)) {
		t.Fatal("a could not renew its lease")
	}
	if acquire("b", at(19), at(30)) {
		t.Fatal("b took the renewed lease before it expired")
	}
	if !acquire("b", at(20), at(30)) {
		t.Fatal("b could not take an expired lease")
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ReleaseLease(ctx, "relay", "a") })
	if acquire("a", at(21), at(31)) {
		t.Fatal("a's release of b's lease freed it")
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.ReleaseLease(ctx, "relay", "b") })
	if !acquire("a", at(21), at(31)) {
		t.Fatal("a could not take a released lease")
	}
}

func testAudit(t *testing.T, s store.Store) {
	entries := []*store.AuditEntry{
		{ID: "a1", Time: at(1), Actor: "ann", Command: "incident.retry", Target: "inc-1", Reason: "fixed the card",
			Request: json.RawMessage(`{"incidentId":"inc-1"}`), Result: "ok"},
		{ID: "a2", Time: at(2), Actor: "bob", Command: "instance.cancel", Target: "i-1", Result: "not_found", Error: "no such instance"},
		{ID: "a3", Time: at(3), Actor: "ann", Command: "instance.cancel", Target: "i-1", Result: "ok"},
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, a := range entries {
			if err := tx.InsertAudit(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	list := func(f store.AuditFilter) []*store.AuditEntry {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.AuditEntry, error) { return tx.ListAudit(ctx, f) })
	}
	same(t, "ListAudit", list(store.AuditFilter{}), []*store.AuditEntry{entries[2], entries[1], entries[0]})
	same(t, "ListAudit actor", list(store.AuditFilter{Actor: "ann"}), []*store.AuditEntry{entries[2], entries[0]})
	same(t, "ListAudit target", list(store.AuditFilter{Target: "i-1", Limit: 1}), []*store.AuditEntry{entries[2]})
	err := s.Write(t.Context(), func(tx store.Tx) error { return tx.InsertAudit(t.Context(), entries[0]) })
	wantErr(t, err, store.ErrDuplicate, "duplicate audit id")

	// A row written before its command ran gets the command's result.
	started := &store.AuditEntry{ID: "a4", Time: at(4), Actor: "cy", Command: "deploy", Target: "x.bpmn",
		Request: json.RawMessage(`{"resource":"x.bpmn"}`), Result: store.AuditStarted}
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertAudit(ctx, started) })
	done := *started
	done.Result, done.Error, done.Request = "invalid_input", "bad model", json.RawMessage(`{"resource":"x.bpmn","bytes":3}`)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateAudit(ctx, &done) })
	same(t, "ListAudit after UpdateAudit", list(store.AuditFilter{Actor: "cy"}), []*store.AuditEntry{&done})
	err = s.Write(t.Context(), func(tx store.Tx) error {
		return tx.UpdateAudit(t.Context(), &store.AuditEntry{ID: "nope", Result: "ok"})
	})
	wantErr(t, err, store.ErrNotFound, "update of a missing audit row")
}
