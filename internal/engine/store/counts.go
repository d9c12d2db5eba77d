package store

import "github.com/cockpit-engine/cockpit/internal/event"

// ElementCount is what a change adds to one element's completion total.
type ElementCount struct {
	DefinitionID string
	ElementID    string
	Completed    int64
}

// statsLinear is how many distinct elements CompletedCounts looks up by scanning before
// it builds a map: a change completes a handful of elements.
const statsLinear = 16

// CompletedCounts sums the element.left events of a change per (definition, element), in
// first-seen order: what Apply adds to the per-element completion totals
// (Tx.ElementCounts). Both stores use it, so they count the same way.
func CompletedCounts(events []*Event) []ElementCount {
	var out []ElementCount
	var index map[[2]string]int
	for _, e := range events {
		if e.Type != event.ElementLeft || e.ElementID == "" || e.ElementType == event.ElementTypeMultiInstanceBody {
			continue
		}
		i := -1
		if index != nil {
			if j, ok := index[[2]string{e.DefinitionID, e.ElementID}]; ok {
				i = j
			}
		} else {
			for j := range out {
				if out[j].ElementID == e.ElementID && out[j].DefinitionID == e.DefinitionID {
					i = j
					break
				}
			}
		}
		if i >= 0 {
			out[i].Completed++
			continue
		}
		out = append(out, ElementCount{DefinitionID: e.DefinitionID, ElementID: e.ElementID, Completed: 1})
		if index != nil {
			index[[2]string{e.DefinitionID, e.ElementID}] = len(out) - 1
		} else if len(out) > statsLinear {
			index = make(map[[2]string]int, 2*len(out))
			for j, s := range out {
				index[[2]string{s.DefinitionID, s.ElementID}] = j
			}
		}
	}
	return out
}

// OutboxCursor is where DeleteOutbox moves the outbox cursor: the last seq of the
// unbroken run of published events at the head of the queue (head lists the queue's
// first seqs in order), or -1 when its first event is not among published.
func OutboxCursor(published, head []int64) int64 {
	done := make(map[int64]bool, len(published))
	for _, s := range published {
		done[s] = true
	}
	cursor := int64(-1)
	for _, s := range head {
		if !done[s] {
			break
		}
		cursor = s
	}
	return cursor
}
