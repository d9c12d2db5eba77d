package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A job of a type that nobody serves waits forever, silently. Serves is the one place
// that decides whether a type is served; deploy warns about service tasks whose type
// is not, and UnservedJobs finds the jobs that wait for one.

// maxUnservedTypes bounds the job types UnservedJobs returns (a page names them all).
const maxUnservedTypes = 50

// Serves reports whether someone runs the jobs of jobType: a handler registered on this
// engine with Handle, or an external worker that asked this node for the type within
// WorkerSeenFor.
func (e *Engine) Serves(jobType string) bool {
	return e.handler(jobType) != nil || slices.Contains(e.workers.liveTypes(e.clock.Now()), jobType)
}

// servedTypes lists the types Serves is true for, sorted.
func (e *Engine) servedTypes() []string {
	types := append(e.handlerTypes(), e.workers.liveTypes(e.clock.Now())...)
	slices.Sort(types)
	return slices.Compact(types)
}

// UnservedJobs counts the waiting service jobs (retries left) whose type nobody serves,
// per type, in type order: all of them, or those of f.DefinitionKey or f.InstanceID.
// At most 50 types (maxUnservedTypes) are returned. f.ExcludeTypes is set by the
// engine.
func (e *Engine) UnservedJobs(ctx context.Context, f store.JobTypeFilter) ([]store.JobTypeCount, error) {
	f.ExcludeTypes = e.servedTypes()
	if f.Limit <= 0 || f.Limit > maxUnservedTypes {
		f.Limit = maxUnservedTypes
	}
	var out []store.JobTypeCount
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.CountJobTypes(ctx, f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("unserved jobs: %w", err)
	}
	return out, nil
}

// jobTypeWarnings names the service tasks of the compiled processes whose job type
// nobody serves now, in document order.
func (e *Engine) jobTypeWarnings(procs []*bpmn.Process, compiled map[string]*plan) []Problem {
	var out []Problem
	for _, p := range procs {
		pl := compiled[p.ID]
		if pl == nil {
			continue
		}
		var nodes []*node
		for _, n := range pl.nodes {
			if n.jobType != "" && !e.Serves(n.jobType) {
				nodes = append(nodes, n)
			}
		}
		sort.Slice(nodes, func(i, j int) bool {
			if nodes[i].el.Line != nodes[j].el.Line {
				return nodes[i].el.Line < nodes[j].el.Line
			}
			return nodes[i].el.ID < nodes[j].el.ID
		})
		for _, n := range nodes {
			out = append(out, Problem{Process: p.ID, Finding: bpmn.Finding{ElementID: n.el.ID, Kind: n.el.Kind, Line: n.el.Line, Col: n.el.Col,
				Message: fmt.Sprintf("no handler serves job type %q on this node: its jobs will wait until one is registered", n.jobType)}})
		}
	}
	return out
}
