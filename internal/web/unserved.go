package web

import (
	"context"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// A job of a type nobody serves waits with no other sign: the process, instance and
// overview pages name such types (components.Unserved).

// unservedOfProcess lists the job types nobody serves that the process's service tasks
// use (proc, the shown version) or that its waiting jobs (any version) have.
func (s *server) unservedOfProcess(ctx context.Context, key string, proc *bpmn.Process) ([]components.UnservedType, error) {
	if s.readOnly != "" {
		return nil, nil // the jobs are the observed services' to serve
	}
	counts, err := s.eng.UnservedJobs(ctx, store.JobTypeFilter{DefinitionKey: key})
	if err != nil {
		return nil, err
	}
	jobs := map[string]int{}
	for _, c := range counts {
		jobs[c.Type] = c.Jobs
	}
	for _, el := range flowNodes(proc) {
		if t := el.Task.JobType; t != "" && !s.eng.Serves(t) {
			if _, ok := jobs[t]; !ok {
				jobs[t] = 0
			}
		}
	}
	return unservedList(jobs), nil
}

// unservedOfJobs lists the types of the waiting service jobs (retries left) that nobody
// serves, from jobs the page already holds.
func (s *server) unservedOfJobs(jobs []*store.Job) []components.UnservedType {
	if s.readOnly != "" {
		return nil
	}
	counts := map[string]int{}
	for _, j := range jobs {
		if j.Kind == store.JobService && j.Retries > 0 && !s.eng.Serves(j.Type) {
			counts[j.Type]++
		}
	}
	return unservedList(counts)
}

// unservedAll lists every job type nobody serves that has waiting jobs.
func (s *server) unservedAll(ctx context.Context) ([]components.UnservedType, error) {
	if s.readOnly != "" {
		return nil, nil
	}
	counts, err := s.eng.UnservedJobs(ctx, store.JobTypeFilter{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]int, len(counts))
	for _, c := range counts {
		m[c.Type] = c.Jobs
	}
	return unservedList(m), nil
}

func unservedList(jobs map[string]int) []components.UnservedType {
	out := make([]components.UnservedType, 0, len(jobs))
	for t, n := range jobs {
		out = append(out, components.UnservedType{Type: t, Jobs: n})
	}
	slices.SortFunc(out, func(a, b components.UnservedType) int { return strings.Compare(a.Type, b.Type) })
	return out
}
