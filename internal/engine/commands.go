package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// StartOptions configure StartInstance.
type StartOptions struct {
	// Version selects a definition version (0: the latest).
	Version     int
	BusinessKey string
	Variables   map[string]any
}

// StartInstance starts an instance of the process with the given key at its none
// start event and runs it to its first wait states.
func (e *Engine) StartInstance(ctx context.Context, key string, opts StartOptions) (*store.Instance, error) {
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("start instance: process key is empty: %w", ErrInvalidInput)
	}
	if err := checkSize("business key", len(opts.BusinessKey), MaxBusinessKeyBytes); err != nil {
		return nil, fmt.Errorf("start instance of %q: %w", key, err)
	}
	var out store.Instance
	err := e.exec(ctx, func(b *batch) (bool, error) {
		tx := b.tx
		p, err := e.startPlan(ctx, tx, key, opts.Version)
		if err != nil {
			return false, err
		}
		if p.start == nil {
			return false, fmt.Errorf("process %q has no none start event (it starts by timer, message, signal or condition): %w", key, ErrInvalidInput)
		}
		r, err := e.startRun(ctx, b, p, p.start, opts.BusinessKey, opts.Variables)
		if err != nil {
			return false, err
		}
		out = *r.inst
		return r.wake, nil
	})
	if err != nil {
		return nil, fmt.Errorf("start instance of %q: %w", key, err)
	}
	return &out, nil
}

// latestPlan is the newest version of a process key as this engine last saw it.
type latestPlan struct {
	p  *plan
	at time.Time
}

// latestTTL is how long a shared store's latest version is trusted (see startPlan).
const latestTTL = time.Second

// knownLatest returns the remembered latest plan of key, if it can be trusted.
func (e *Engine) knownLatest(key string) *plan {
	e.mu.RLock()
	l := e.latest[key]
	e.mu.RUnlock()
	if l.p == nil || (!e.exclusive && e.clock.Now().Sub(l.at) > latestTTL) {
		return nil
	}
	return l.p
}

// rememberLatest records p as its key's latest version unless a newer one is known.
// The caller holds e.mu.
func (e *Engine) rememberLatest(p *plan) {
	if cur := e.latest[p.def.Key]; cur.p == nil || cur.p.def.Version <= p.def.Version {
		e.latest[p.def.Key] = latestPlan{p: p, at: e.clock.Now()}
	}
}

// startPlan finds the plan to start: a given version, or the latest. The latest version
// of each key is remembered (Deploy updates it). On a store this process owns alone that
// is always right; on a shared store another node may deploy at any time, so there it is
// trusted for latestTTL and then read again: a version deployed elsewhere is used here
// for new instances within that time, without a read on every start.
func (e *Engine) startPlan(ctx context.Context, tx store.Tx, key string, version int) (*plan, error) {
	if version == 0 {
		if p := e.knownLatest(key); p != nil {
			return p, nil
		}
	}
	var def *store.Definition
	var err error
	if version > 0 {
		def, err = tx.DefinitionByVersion(ctx, key, version)
	} else {
		def, err = tx.LatestDefinition(ctx, key)
	}
	if err != nil {
		return nil, fmt.Errorf("process %q: %w", key, err)
	}
	p, err := e.planFor(ctx, tx, def.ID)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		e.mu.Lock()
		e.rememberLatest(p)
		e.mu.Unlock()
	}
	return p, nil
}

// startRun creates an instance at a start event, runs it and writes it.
func (e *Engine) startRun(ctx context.Context, b *batch, p *plan, start *node, businessKey string, vars map[string]any) (*run, error) {
	return e.startRunWith(ctx, b, p, start, businessKey, vars, nil)
}

// startRunWith is startRun; started, when set, runs once the start token exists (to
// record what started the instance before it moves).
func (e *Engine) startRunWith(ctx context.Context, b *batch, p *plan, start *node, businessKey string, vars map[string]any,
	started func(r *run, tok *store.Token)) (*run, error) {
	r := e.newRun(ctx, b, p)
	r.created = true
	r.inst = &store.Instance{
		ID: newID(), DefinitionID: p.def.ID, DefinitionKey: p.def.Key, DefinitionVersion: p.def.Version,
		BusinessKey: businessKey, State: store.InstanceActive, StartedAt: r.now,
	}
	r.event(event.InstanceStarted, nil, nil, map[string]any{"businessKey": businessKey, "version": p.def.Version})
	if err := r.setVariables(vars, nil, nil); err != nil {
		return nil, err
	}
	if len(p.eventSubs) > 0 {
		// Armed with the start's variables; a start whose key cannot be evaluated is refused.
		if err := r.armScope(nil, p.eventSubs); err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrInvalidInput)
		}
	}
	tok := r.newToken(start, "")
	if started != nil {
		started(r, tok)
	}
	r.enqueue(tok, start, nil)
	if err := r.drain(); err != nil {
		return nil, err
	}
	return r, r.flush()
}

// update loads an instance, runs fn on it, drains the tokens and writes the result.
func (e *Engine) update(ctx context.Context, instanceID string, fn func(r *run) error) error {
	return e.exec(ctx, func(b *batch) (bool, error) {
		r, err := e.load(ctx, b, instanceID)
		if err != nil {
			return false, err
		}
		wrote := len(b.events)
		err = fn(r)
		if err == nil {
			err = r.drain()
		}
		// (A run that already wrote another instance, a called one, is not re-run: what
		// it wrote stays in the transaction; the command fails and its savepoint undoes it.)
		if err != nil && r.fromCache && !e.exclusive && len(b.events) == wrote {
			// The cached instance may be behind another node's change: decide again on
			// what the store holds. fn only changed the discarded in-memory run.
			b.evict(instanceID)
			if r, err = e.load(ctx, b, instanceID); err != nil {
				return false, err
			}
			if err = fn(r); err == nil {
				err = r.drain()
			}
		}
		if errors.Is(err, errStale) {
			// Nothing to do after all (e.g. the timer's token is gone): the command is
			// done, and so is its record.
			return false, writeRecord(ctx, b)
		}
		if err != nil {
			return false, err
		}
		if err = r.flush(); err != nil { // sets r.wake (pushJobs)
			return false, err
		}
		if err = writeRecord(ctx, b); err != nil {
			return false, err
		}
		return r.wake, nil
	})
}

// errStale is returned by a command that found its job, token or subscription missing,
// which on a cached instance of a shared store may mean the cache is behind. Engine.update
// re-runs it on a fresh read; if the thing is still missing, the command does nothing.
var errStale = errors.New("instance state may be stale")

func (r *run) mustBeActive(what string) error {
	switch r.inst.State {
	case store.InstanceActive:
		return nil
	case store.InstanceSuspended:
		return fmt.Errorf("%s: instance %q is suspended: %w", what, r.inst.ID, ErrInvalidState)
	}
	return fmt.Errorf("%s: instance %q has ended (%s): %w", what, r.inst.ID, r.inst.State, ErrInvalidState)
}

// CompleteUserTask completes an open user task with variables. Values are checked
// against the task's form fields where it has them.
func (e *Engine) CompleteUserTask(ctx context.Context, taskID string, vars map[string]any) error {
	var task *store.UserTask
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		task, err = tx.GetUserTask(ctx, taskID)
		return err
	})
	if err != nil {
		return fmt.Errorf("complete user task %q: %w", taskID, err)
	}
	err = e.update(ctx, task.InstanceID, func(r *run) error {
		t := r.tasks[taskID]
		if t == nil || t.State != store.TaskOpen {
			return fmt.Errorf("user task %q is not open: %w", taskID, ErrInvalidState)
		}
		if err := r.mustBeActive("complete user task"); err != nil {
			return err
		}
		tok, n := r.tokens[t.TokenID], r.p.nodes[t.ElementID]
		if tok == nil || n == nil {
			return fmt.Errorf("user task %q: its token is gone: %w", taskID, ErrInvalidState)
		}
		if err := checkForm(n.el, vars); err != nil {
			return err
		}
		now := r.now
		t.State, t.CompletedAt = store.TaskCompleted, &now
		r.putTask(t)
		delete(r.tasks, t.ID)
		r.event(event.UserTaskCompleted, tok, n, map[string]any{"taskId": t.ID})
		if len(n.outputs) > 0 {
			if err := r.applyMappings(n.outputs, vars, tok, n, setParent); err != nil {
				return err
			}
		} else if err := r.setVariables(vars, tok, n); err != nil {
			return err
		}
		return r.next(tok, n)
	})
	if err != nil {
		return fmt.Errorf("complete user task %q: %w", taskID, err)
	}
	return nil
}

// checkForm refuses values whose type does not fit the task's form fields.
func checkForm(el *bpmn.Element, vars map[string]any) error {
	for _, f := range el.Task.FormFields {
		v, ok := vars[f.ID]
		if !ok || v == nil {
			continue
		}
		okType := true
		switch f.Type {
		case "long", "integer":
			switch x := v.(type) {
			case int, int32, int64:
			case float64:
				okType = x == float64(int64(x))
			default:
				okType = false
			}
		case "double", "number":
			switch v.(type) {
			case int, int32, int64, float32, float64:
			default:
				okType = false
			}
		case "boolean":
			_, okType = v.(bool)
		case "string", "enum", "date":
			_, okType = v.(string)
		}
		if !okType {
			return fmt.Errorf("form field %q of task %q expects a %s, got %T: %w", f.ID, el.ID, f.Type, v, ErrInvalidInput)
		}
	}
	return nil
}

// RetryOptions configure RetryIncident.
type RetryOptions struct {
	// Variables are set before the retry (to fix what made it fail).
	Variables map[string]any
	// Retries is how many attempts the job gets again (default 1).
	Retries int
}

// RetryIncident resolves an open incident and resumes its token: a failed job becomes
// due again with new retries; an expression or routing incident re-runs its element.
// The incident row stays (resolved), with its history.
func (e *Engine) RetryIncident(ctx context.Context, incidentID string, opts RetryOptions) error {
	var inc *store.Incident
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		if inc, err = tx.GetIncident(ctx, incidentID); err != nil {
			return err
		}
		// An incident at a call activity that relays one of its called instance is
		// retried at its cause, down the chain of calls.
		for hops := 0; inc.Type == store.IncidentCalledInstance && inc.CauseIncidentID != ""; hops++ {
			if hops >= MaxCallDepth {
				return fmt.Errorf("its causes go deeper than the call depth limit (%d): %w", MaxCallDepth, ErrInvalidState)
			}
			if inc, err = tx.GetIncident(ctx, inc.CauseIncidentID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("retry incident %q: %w", incidentID, err)
	}
	incidentID = inc.ID
	if opts.Retries < 0 {
		return fmt.Errorf("retry incident %q: retries %d is negative: %w", incidentID, opts.Retries, ErrInvalidInput)
	}
	err = e.update(ctx, inc.InstanceID, func(r *run) error {
		i := r.incidents[incidentID]
		if i == nil {
			return fmt.Errorf("incident %q is not open: %w", incidentID, ErrInvalidState)
		}
		if err := r.mustBeActive("retry incident"); err != nil {
			return err
		}
		tok := r.tokens[i.TokenID]
		n := r.p.nodes[i.ElementID]
		if tok == nil || n == nil {
			return fmt.Errorf("incident %q: its token is gone: %w", incidentID, ErrInvalidState)
		}
		if err := r.setVariables(opts.Variables, tok, n); err != nil {
			return err
		}
		r.resolveIncident(i, "retried")
		if j := r.jobs[i.JobID]; j != nil {
			retries := opts.Retries
			if retries == 0 {
				retries = 1
			}
			j.Retries, j.DueAt, j.LockOwner, j.LockedUntil = retries, r.now, "", nil
			r.putJob(j)
			ev := r.event(event.JobRetriesSet, tok, n, map[string]any{"retries": retries})
			ev.JobID = j.ID
			return nil
		}
		if tok.State == store.TokenLeaving {
			// Its element is done; only the choice of flows failed.
			tok.State = store.TokenActive
			r.putToken(tok)
			return r.next(tok, n)
		}
		// A token stopped on its way by a command's bound (stopQueue) arrives by the
		// flow it was taking.
		var via *flow
		if fl := r.p.flows[tok.Flow]; fl != nil && fl.target == n {
			via = fl
		}
		r.enqueue(tok, n, via)
		return nil
	})
	if err != nil {
		return fmt.Errorf("retry incident %q: %w", incidentID, err)
	}
	return nil
}

// CancelInstance ends an active or suspended instance: every token, job, timer,
// subscription and task goes, open incidents are resolved.
func (e *Engine) CancelInstance(ctx context.Context, instanceID, reason string) error {
	if err := checkSize("reason", len(reason), MaxReasonBytes); err != nil {
		return fmt.Errorf("cancel instance %q: %w", instanceID, err)
	}
	err := e.update(ctx, instanceID, func(r *run) error {
		if r.ended() {
			return fmt.Errorf("instance %q has ended (%s): %w", instanceID, r.inst.State, ErrInvalidState)
		}
		// Its called instances end with it (after its write); a called instance cancelled
		// on its own leaves an incident at its caller's call activity.
		r.endInstance(reason)
		r.notify(callNotice{kind: calledCancelled, msg: cancelledHow(reason)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("cancel instance %q: %w", instanceID, err)
	}
	return nil
}

// SuspendInstance stops an instance from moving: its jobs and timers are not run and
// it takes no messages or task completions until ResumeInstance.
func (e *Engine) SuspendInstance(ctx context.Context, instanceID string) error {
	return e.setSuspended(ctx, instanceID, true)
}

// ResumeInstance undoes SuspendInstance.
func (e *Engine) ResumeInstance(ctx context.Context, instanceID string) error {
	return e.setSuspended(ctx, instanceID, false)
}

func (e *Engine) setSuspended(ctx context.Context, instanceID string, suspend bool) error {
	verb := map[bool]string{true: "suspend", false: "resume"}[suspend]
	err := e.update(ctx, instanceID, func(r *run) error {
		want := store.InstanceActive
		if suspend {
			want = store.InstanceSuspended
		}
		if r.ended() {
			return fmt.Errorf("instance %q has ended (%s): %w", instanceID, r.inst.State, ErrInvalidState)
		}
		if r.inst.State == want {
			return fmt.Errorf("instance %q is already %s: %w", instanceID, want, ErrInvalidState)
		}
		r.inst.State = want
		for _, j := range r.jobs {
			j.Suspended = suspend
			r.putJob(j)
		}
		if suspend {
			r.event(event.InstanceSuspended, nil, nil, nil)
		} else {
			r.event(event.InstanceResumed, nil, nil, nil)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s instance %q: %w", verb, instanceID, err)
	}
	return nil
}

// SetVariables sets (adds or replaces) variables of an instance that has not ended.
func (e *Engine) SetVariables(ctx context.Context, instanceID string, vars map[string]any) error {
	if len(vars) == 0 {
		return fmt.Errorf("set variables of %q: no variables given: %w", instanceID, ErrInvalidInput)
	}
	err := e.update(ctx, instanceID, func(r *run) error {
		if r.ended() {
			return fmt.Errorf("instance %q has ended (%s): %w", instanceID, r.inst.State, ErrInvalidState)
		}
		return r.setVariables(vars, nil, nil)
	})
	if err != nil {
		return fmt.Errorf("set variables of %q: %w", instanceID, err)
	}
	return nil
}
