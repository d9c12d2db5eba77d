package pages

import (
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// InstanceListRow is one row of the instance list: the instance, where it waits (its
// tokens' elements, oldest arrival first) and since when (the oldest arrival).
type InstanceListRow struct {
	Instance *store.Instance
	Waiting  []WaitingElement
	Since    *time.Time
}

// WaitingElement is an element an instance waits at, with its name ("" for none).
type WaitingElement struct {
	ID   string
	Name string
}

// waitingLabel is the first element's name (else id).
func waitingLabel(w []WaitingElement) string {
	if len(w) == 0 {
		return ""
	}
	if w[0].Name != "" {
		return w[0].Name
	}
	return w[0].ID
}

// waitingTitle names every element, "Name (id)", one per line.
func waitingTitle(w []WaitingElement) string {
	s := ""
	for i, e := range w {
		if i > 0 {
			s += "\n"
		}
		if e.Name != "" {
			s += e.Name + " (" + e.ID + ")"
		} else {
			s += e.ID
		}
	}
	return s
}
