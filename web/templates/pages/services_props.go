package pages

import (
	"strconv"
	"time"
)

// ServicesProps is the health of the observed services: per service the events seen,
// the newest one's age, the engine nodes online with their builds, and the observer's
// lag.
type ServicesProps struct {
	Now time.Time
	// Pending is the events the stream holds that the observer has not folded yet;
	// PendingErr says why it is unknown.
	Pending    uint64
	PendingErr string
	// LagSeconds is how far behind the newest folded event is, while events are
	// pending (0 when caught up).
	LagSeconds float64
	Rows       []ServiceRow
	// Repairs are the gaps closed from the owning engine's history, RepairFailures the
	// history requests that failed, Stuck the events given up on.
	Repairs, RepairFailures, Stuck int64
	// SilentAfter is the age past which a service without an online node is silent.
	SilentAfter time.Duration
}

// ServiceRow is one service.
type ServiceRow struct {
	Name   string
	Events int64
	// Last is the newest event's time (zero: none since the observer started).
	Last time.Time
	// Nodes are its engine nodes online; Builds the distinct builds they run (more
	// than one: version skew).
	Nodes  []ServiceNode
	Builds []string
	// Silent: no node answers and no event came for SilentAfter.
	Silent bool
}

// ServiceNode is an engine node online.
type ServiceNode struct {
	Node, Build string
}

// serviceName shows the service of events that name none.
func serviceName(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// seconds shows a lag.
func seconds(s float64) string {
	switch {
	case s <= 0:
		return "caught up"
	case s < 1:
		return "under 1 s"
	case s < 120:
		return strconv.Itoa(int(s)) + " s"
	}
	return strconv.Itoa(int(s/60)) + " min"
}
