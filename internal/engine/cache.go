package engine

import (
	"slices"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// instanceCache keeps the instances this engine wrote last, as committed, so the next
// command on them need not read them back. The committer owns it; commands reach it
// through their batch (batch.cached, wrote, evict), one command at a time.
// On a store this process writes alone (store.Exclusive) an entry is always current. On
// a shared store another node may have moved the instance since: a command that finds
// something missing in a cached instance (a job, a subscription, a task) is re-run on a
// fresh read (errStale, see Engine.update), and one that writes a stale instance fails
// the version check and is re-run (ErrConflict).
//
// Invariant: an entry equals the committed rows. Writes are staged while a batch runs and
// applied after its commit; a rolled-back command drops its staged writes, a failed
// commit drops the entries it touched. Even a wrong entry cannot corrupt data: Apply
// checks the instance version, and a conflict evicts the entry and re-runs the command.
type instanceCache struct {
	max     int
	entries map[string]*snapshot
	staged  []staged
}

type staged struct {
	id   string
	snap *snapshot  // nil: evict
	lock *store.Job // a job lock taken by this node (snap unused)
}

// snapshot is an instance aggregate by value; loads hand out copies.
type snapshot struct {
	inst      store.Instance
	tokens    []store.Token
	vars      []store.Variable // every scope's
	values    map[string]any   // the process's
	locals    map[string]map[string]any
	jobs      []store.Job
	subs      []store.Subscription
	tasks     []store.UserTask
	incidents []store.Incident
	comps     []store.Compensation
}

func newInstanceCache(max int) *instanceCache {
	return &instanceCache{max: max, entries: make(map[string]*snapshot)}
}

// get returns the latest state of an instance: staged in this batch, else committed.
// nil means "read it from the store".
func (c *instanceCache) get(id string) *snapshot {
	for i := len(c.staged) - 1; i >= 0; i-- {
		if s := c.staged[i]; s.id == id && s.lock == nil {
			return s.snap
		}
	}
	return c.entries[id]
}

func (c *instanceCache) mark() int { return len(c.staged) }

// rollback drops what was staged after mark (a command rolled back to its savepoint).
func (c *instanceCache) rollback(mark int) {
	for _, s := range c.staged[mark:] {
		delete(c.entries, s.id) // be safe: the command may have half-changed its view
	}
	c.staged = c.staged[:mark]
}

// finishFirst applies the first n staged writes (one batch's) after its commit, or
// evicts them when it failed; what a later batch staged stays staged.
func (c *instanceCache) finishFirst(n int, committed bool) {
	for _, s := range c.staged[:n] {
		switch {
		case !committed || (s.snap == nil && s.lock == nil):
			delete(c.entries, s.id)
		case s.lock != nil:
			if e := c.entries[s.id]; e != nil {
				for i := range e.jobs {
					if e.jobs[i].ID == s.lock.ID {
						e.jobs[i].LockOwner, e.jobs[i].LockedUntil = s.lock.LockOwner, s.lock.LockedUntil
					}
				}
			}
		default:
			if len(c.entries) >= c.max {
				for id := range c.entries { // evict an arbitrary entry
					delete(c.entries, id)
					break
				}
			}
			c.entries[s.id] = s.snap
		}
	}
	c.staged = slices.Delete(c.staged, 0, n)
}

func (c *instanceCache) stage(id string, snap *snapshot) {
	c.staged = append(c.staged, staged{id: id, snap: snap})
}

func (c *instanceCache) stageLock(j *store.Job) {
	if j.InstanceID != "" {
		c.staged = append(c.staged, staged{id: j.InstanceID, lock: j})
	}
}

// snapshot captures the run's state after a successful Apply.
func (r *run) snapshot() *snapshot {
	s := &snapshot{inst: *r.inst, values: make(map[string]any, len(r.values))}
	for _, t := range r.tokens {
		s.tokens = append(s.tokens, *t)
	}
	for _, v := range r.vars {
		s.vars = append(s.vars, *v)
	}
	for k, v := range r.values {
		s.values[k] = v
	}
	if len(r.locals) > 0 {
		s.locals = make(map[string]map[string]any, len(r.locals))
		for id, sv := range r.locals {
			vals := make(map[string]any, len(sv.values))
			for k, v := range sv.values {
				vals[k] = v
			}
			s.locals[id] = vals
			for _, v := range sv.vars {
				s.vars = append(s.vars, *v)
			}
		}
	}
	for _, j := range r.jobs {
		s.jobs = append(s.jobs, *j)
	}
	for _, x := range r.subs {
		s.subs = append(s.subs, *x)
	}
	for _, t := range r.tasks {
		s.tasks = append(s.tasks, *t)
	}
	for _, i := range r.incidents {
		s.incidents = append(s.incidents, *i)
	}
	for _, x := range r.comps {
		s.comps = append(s.comps, *x)
	}
	return s
}

// restore fills a fresh run from a snapshot, copying every row so the run may change them.
func (r *run) restore(s *snapshot) {
	inst := s.inst
	r.inst = &inst
	for i := range s.tokens {
		t := s.tokens[i]
		r.tokens[t.ID] = &t
	}
	for i := range s.vars {
		v := s.vars[i]
		if v.Scope == "" {
			r.vars[v.Name] = &v
		} else {
			r.local(v.Scope).vars[v.Name] = &v
		}
	}
	for k, v := range s.values {
		r.values[k] = v
	}
	for id, vals := range s.locals {
		sv := r.local(id)
		for k, v := range vals {
			sv.values[k] = v
		}
	}
	for i := range s.jobs {
		j := s.jobs[i]
		r.jobs[j.ID] = &j
	}
	for i := range s.subs {
		x := s.subs[i]
		r.subs[x.ID] = &x
	}
	for i := range s.tasks {
		t := s.tasks[i]
		r.tasks[t.ID] = &t
	}
	for i := range s.incidents {
		in := s.incidents[i]
		r.incidents[in.ID] = &in
	}
	if len(s.comps) > 0 {
		r.comps = make(map[string]*store.Compensation, len(s.comps))
		for i := range s.comps {
			x := s.comps[i]
			r.comps[x.ID] = &x
		}
	}
}
