package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// What a write transaction holds back for COMMIT: the events of its Applies and the
// element completions they count. Both go out in COMMIT's round trip, after the merged
// writes, behind the write lock:
//
//	... merged writes ... | write lock | events insert | element_stats upsert | COMMIT
//
// Event seqs must be handed out in commit order (the outbox and the metrics projector read
// the history by seq), so transactions that insert events commit one at a time: the lock
// is held from the events insert to the commit, never while the transaction's commands
// still run. A group commit whose command reads between Applies (an instance not in the
// engine's cache: a bulk operation's item) sends the Applies queued so far with that read;
// their events stay here, so the read neither waits for the lock nor holds it while the
// rest of the batch runs in Go (and the pipelined batch behind it does not wait for this
// one's commit to run its own reads). The element_stats rows, the same few counters
// updated by every group commit, are updated under the lock too, so two commits never
// wait on each other's counter rows in opposite orders.

// heldLevel is what one savepoint level holds: a rollback to a savepoint drops the levels
// inside it, a release folds them into the enclosing one.
type heldLevel struct {
	events    []*store.Event
	completed map[[2]string]int64
}

// heldLevel returns level n, creating the levels up to it.
func (t *tx) heldLevel(n int) *heldLevel {
	for len(t.held) <= n {
		t.held = append(t.held, heldLevel{})
	}
	return &t.held[n]
}

// hold keeps an Apply's events and the element completions they count for COMMIT, on
// the innermost savepoint level.
func (t *tx) hold(events []*store.Event) {
	if len(events) == 0 {
		return
	}
	top := t.heldLevel(len(t.sps))
	top.events = append(top.events, events...)
	for _, c := range store.CompletedCounts(events) {
		if top.completed == nil {
			top.completed = map[[2]string]int64{}
		}
		top.completed[[2]string{c.DefinitionID, c.ElementID}] += c.Completed
	}
}

// foldHeld folds the levels above n into level n (a released savepoint's events and
// counts belong to the enclosing transaction), in order.
func (t *tx) foldHeld(n int) {
	if len(t.held) <= n+1 {
		return
	}
	dst := t.heldLevel(n)
	for _, l := range t.held[n+1:] {
		dst.events = append(dst.events, l.events...)
		for k, v := range l.completed {
			if dst.completed == nil {
				dst.completed = map[[2]string]int64{}
			}
			dst.completed[k] += v
		}
	}
	t.held = t.held[:n+1]
}

// queueHeld queues, to go with COMMIT, the write lock, one insert of the held events and
// one upsert of the completions counted.
func (t *tx) queueHeld() {
	t.foldHeld(0)
	if len(t.held) == 0 || len(t.held[0].events) == 0 && len(t.held[0].completed) == 0 {
		return
	}
	h := t.held[0]
	t.held = t.held[:0]
	t.pre = append(t.pre, control(writeLockSQL), control(genericPlanSQL)) // COMMIT ends it
	if evs := h.events; len(evs) > 0 {
		t.pre = append(t.pre, pending{op: fmt.Sprintf("insert %d events", len(evs)),
			queue: func(b *pgx.Batch) { b.Queue(insertEventsSQL, eventArgs(evs)...) },
			read: func(br pgx.BatchResults) error {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
				if err != nil {
					return err
				}
				if len(seqs) != len(evs) {
					return fmt.Errorf("%d seqs for %d events", len(seqs), len(evs))
				}
				// Inserted in array order, so ascending seqs are the events in order.
				slices.Sort(seqs)
				for j, e := range evs {
					e.Seq = seqs[j]
				}
				return nil
			}})
	}
	if len(h.completed) == 0 {
		return
	}
	defs, elements, counts := make([]string, 0, len(h.completed)), make([]string, 0, len(h.completed)),
		make([]int64, 0, len(h.completed))
	for k, v := range h.completed {
		defs, elements, counts = append(defs, k[0]), append(elements, k[1]), append(counts, v)
	}
	t.pre = append(t.pre, pending{op: "count completed elements",
		queue: func(b *pgx.Batch) { b.Queue(upsertElementStatsSQL, defs, elements, counts) },
		read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		}})
}

// ElementCounts reads a definition's stored completion counts (sqlstore) and adds those
// counted in this transaction.
func (t *tx) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	out, err := t.Queries.ElementCounts(ctx, definitionID)
	if err != nil {
		return nil, err
	}
	// Completions counted in this transaction are written at COMMIT; add them.
	for _, l := range t.held {
		for k, v := range l.completed {
			if k[0] == definitionID {
				out[k[1]] += v
			}
		}
	}
	return out, nil
}
