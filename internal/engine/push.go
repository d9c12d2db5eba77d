package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Job push. A command that makes a service job due now, of a type this engine handles,
// locks it for this node in its own transaction when a worker is free, and the committer
// hands it to the executor right after the commit. Without it, every job waits for the
// executor to wake, lock it in the next group commit and read its variables: two more
// round trips per service task. The lock is the same row lock a fetch takes (owner and
// expiry), so a node that dies with pushed jobs loses them like fetched ones: when the
// lock expires another node runs them.
//
// Slots: the executor's semaphore (Engine.sem) counts jobs in flight. A command reserves
// a slot per pushed job (never blocking) and records it in its batch; each reservation is answered by
// exactly one message on pushCh: the job after its commit, or an empty pushedJob when
// the command or its transaction failed (the slot is given back). The executor counts
// what it still has to receive, so on stop it runs the jobs committed meanwhile instead
// of leaving them locked.

// pushedJob is a job locked by a command for this node, and its handler's variables.
type pushedJob struct {
	job  *store.Job // nil: the reservation is void, free the slot
	vars map[string]any
}

// reserveSlot takes a worker slot for a pushed job: the slot of the running job whose
// command ctx is, handed over (once), else a free one. False when there is none or the
// executor no longer accepts pushes.
func (e *Engine) reserveSlot(ctx context.Context) bool {
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	if !e.pushOpen {
		return false
	}
	if s, _ := ctx.Value(slotKey{}).(*slot); s == nil || !s.state.CompareAndSwap(slotHeld, slotHandedOver) {
		select {
		case e.sem <- struct{}{}:
		default:
			return false
		}
	}
	e.pushPending++
	return true
}

// slot is the worker slot of a job the executor runs. The command that records the job's
// outcome may hand it over to a job it pushes (usually the job's successor in its
// instance): the finishing job needs no second slot for it, so with every worker busy the
// successor is still pushed instead of waiting for a fetch. The job's goroutine frees the
// slot when it ends only if it was not handed over; a handed-over slot belongs to the
// reservation, which frees it when answered void, like any other.
type slot struct {
	state atomic.Int32 // slotHeld, slotHandedOver or slotReleased
}

const (
	slotHeld int32 = iota
	slotHandedOver
	slotReleased
)

type slotKey struct{}

// withSlot marks ctx as that of the job holding s (the executor's runJob).
func withSlot(ctx context.Context, s *slot) context.Context {
	return context.WithValue(ctx, slotKey{}, s)
}

// release is called by the job's goroutine when it ends: true when the job still held its
// slot (free it), false when its outcome handed the slot over.
func (s *slot) release() bool { return s.state.CompareAndSwap(slotHeld, slotReleased) }

// pushJobs locks, for this node, the service jobs the command made due now (as far as
// free workers allow), clears the run's wake flag when nothing due is left for a fetch,
// and tells the executor about jobs due later (noteDue).
func (r *run) pushJobs() error {
	e := r.e
	wake := false
	for id, j := range r.putJobs {
		if r.delJobs[id] || j.Suspended || j.Retries <= 0 {
			continue
		}
		if j.DueAt.After(r.now) {
			e.noteDue(j.DueAt)
			continue
		}
		if j.LockedUntil != nil && j.LockedUntil.After(r.now) {
			continue // locked (by this command, or a live lock elsewhere)
		}
		if j.Kind != store.JobService || e.handler(j.Type) == nil || !e.reserveSlot(r.ctx) {
			wake = true
			continue
		}
		until := r.now.Add(e.opts.LockDuration)
		j.LockOwner, j.LockedUntil = e.opts.NodeID, &until
		vars, err := r.handlerVars(r.tokens[j.TokenID])
		if err != nil {
			r.b.push(pushedJob{}) // answered as void when the command fails
			return err
		}
		cp := *j
		r.b.push(pushedJob{job: &cp, vars: vars})
	}
	r.wake = wake
	return nil
}

// noteDue tells the executor that a job becomes due at t (a timer, a retry after its
// backoff), so it sleeps no longer than that. A hint from a command that is rolled back
// costs one fetch that finds nothing.
func (e *Engine) noteDue(t time.Time) {
	n := t.UnixNano()
	for {
		cur := e.dueHint.Load()
		if cur != 0 && cur <= n {
			return
		}
		if e.dueHint.CompareAndSwap(cur, n) {
			break
		}
	}
	select {
	case e.dueCh <- struct{}{}:
	default:
	}
}

// handlerVars decodes the variables the job's token sees afresh (the process's, shadowed
// by its scopes'): the handler owns its map, and the run's decoded values stay untouched.
func (r *run) handlerVars(tok *store.Token) (map[string]any, error) {
	out := make(map[string]any, len(r.vars))
	for name, v := range r.vars {
		dv, err := decodeValue(v.Value)
		if err != nil {
			return nil, fmt.Errorf("instance %q: variable %q: %w", r.inst.ID, name, err)
		}
		out[name] = dv
	}
	if len(r.locals) == 0 || tok == nil {
		return out, nil
	}
	var scopes []*scopeVars
	r.chain(tok, false, func(_ string, sv *scopeVars) bool {
		scopes = append(scopes, sv)
		return true
	})
	for i := len(scopes) - 1; i >= 0; i-- {
		for name, v := range scopes[i].vars {
			dv, err := decodeValue(v.Value)
			if err != nil {
				return nil, fmt.Errorf("instance %q: variable %q: %w", r.inst.ID, name, err)
			}
			out[name] = dv
		}
	}
	return out, nil
}

// answerPushed answers reservations on the executor's channel: with the jobs when their
// transaction committed, else as void (the slots are given back). The committer calls it
// once per reservation: when its batch ends, or at once when its command fails (batch).
func answerPushed(ch chan<- pushedJob, ps []pushedJob, committed bool) {
	for _, p := range ps {
		if !committed {
			p = pushedJob{}
		}
		ch <- p
	}
}

// received accounts for one message of pushCh (executor goroutine).
func (e *Engine) received() {
	e.pushMu.Lock()
	e.pushPending--
	e.pushMu.Unlock()
}

// closePush stops new reservations and returns how many messages are still to come.
func (e *Engine) closePush() int {
	e.pushMu.Lock()
	defer e.pushMu.Unlock()
	e.pushOpen = false
	return e.pushPending
}

func (e *Engine) openPush() {
	e.pushMu.Lock()
	e.pushOpen = true
	e.pushMu.Unlock()
}
