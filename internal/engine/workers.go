package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// External workers: processes outside the engine (any language, over NATS; see
// internal/workers and docs/workers.md) that take the jobs of the types they serve and
// report each outcome. The store is the one source of truth: a worker's jobs are locked in
// it with the worker's name (WorkerOwner), exactly as a node locks the jobs its handlers
// run, so a worker that dies loses its jobs when their locks expire and they are offered
// again (at least once, with the job's Key stable).

// Bounds of an activation and of an outcome.
const (
	// MaxActivateJobs bounds the jobs one activation returns.
	MaxActivateJobs = 100
	// MaxWorkerTypes bounds the job types one activation asks for.
	MaxWorkerTypes = 32
	// MinJobLock and MaxJobLock bound how long a worker may lock a job for.
	MinJobLock = time.Second
	MaxJobLock = time.Hour
	// MaxActivateWait bounds how long an activation waits for a job (its long poll).
	MaxActivateWait = time.Minute
	// MaxWorkerNameBytes bounds a worker's name.
	MaxWorkerNameBytes = 128
	// WorkerSeenFor is how long a worker that asked for a job type counts as serving it
	// (Serves, Workers).
	WorkerSeenFor = time.Minute
	// activateRecheck is the longest an activation sleeps between two looks at the store
	// when no commit woke it: jobs that become due later (a retry's backoff, a timer) are
	// found within it. New jobs wake waiting activations at once.
	activateRecheck = time.Second
)

// WorkerOwner is the lock owner a worker's jobs carry in the store: "worker:" and the
// name, which no engine node id has.
func WorkerOwner(worker string) string { return "worker:" + worker }

// ActivateRequest asks for jobs for an external worker.
type ActivateRequest struct {
	// Worker names the worker (1 to MaxWorkerNameBytes bytes): its jobs are locked with
	// it, outcomes must come from it, and the cockpit lists it.
	Worker string
	// Types are the job types the worker serves (1 to MaxWorkerTypes).
	Types []string
	// Max is the most jobs to return (1 to MaxActivateJobs).
	Max int
	// LockFor is how long the jobs are locked for (MinJobLock to MaxJobLock): the worker
	// reports an outcome or extends the lock before it ends, or the job is offered again.
	LockFor time.Duration
	// Wait is how long to wait for a job when none is due (0 to MaxActivateWait): a job
	// committed meanwhile is returned at once.
	Wait time.Duration
}

func (r *ActivateRequest) check() error {
	switch {
	case r.Worker == "" || len(r.Worker) > MaxWorkerNameBytes || !storable(r.Worker):
		return fmt.Errorf("%w: worker name must be 1 to %d bytes of text", ErrInvalidInput, MaxWorkerNameBytes)
	case len(r.Types) == 0 || len(r.Types) > MaxWorkerTypes:
		return fmt.Errorf("%w: ask for 1 to %d job types, not %d", ErrInvalidInput, MaxWorkerTypes, len(r.Types))
	case r.Max < 1 || r.Max > MaxActivateJobs:
		return fmt.Errorf("%w: max jobs must be 1 to %d, not %d", ErrInvalidInput, MaxActivateJobs, r.Max)
	case r.LockFor < MinJobLock || r.LockFor > MaxJobLock:
		return fmt.Errorf("%w: lock duration must be %s to %s, not %s", ErrInvalidInput, MinJobLock, MaxJobLock, r.LockFor)
	case r.Wait < 0 || r.Wait > MaxActivateWait:
		return fmt.Errorf("%w: wait must be 0 to %s, not %s", ErrInvalidInput, MaxActivateWait, r.Wait)
	}
	for _, t := range r.Types {
		if t == "" || len(t) > MaxNameBytes {
			return fmt.Errorf("%w: job type must be 1 to %d bytes", ErrInvalidInput, MaxNameBytes)
		}
	}
	return nil
}

// ActivateJobs locks up to r.Max due jobs of r.Types for the worker and returns them with
// their instance's variables. When none is due it waits up to r.Wait for one (a commit
// that makes one due wakes it), and returns none when the wait ends or ctx does.
func (e *Engine) ActivateJobs(ctx context.Context, r ActivateRequest) ([]*Job, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	types := slices.Clone(r.Types)
	slices.Sort(types)
	types = slices.Compact(types)
	e.workers.seen(r.Worker, types, e.clock.Now())
	deadline := e.clock.Now().Add(r.Wait)
	for {
		changed := e.jobsChanged()
		jobs, err := e.activate(ctx, r, types)
		if err != nil || len(jobs) > 0 {
			return jobs, err
		}
		left := deadline.Sub(e.clock.Now())
		if left <= 0 {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-changed:
		case <-e.clock.After(min(left, activateRecheck)):
		}
	}
}

// activate locks and reads the jobs of one look at the store.
func (e *Engine) activate(ctx context.Context, r ActivateRequest, types []string) ([]*Job, error) {
	owner := WorkerOwner(r.Worker)
	var locked []*store.Job
	err := e.exec(ctx, func(b *batch) (bool, error) {
		now := e.clock.Now()
		var err error
		locked, err = b.tx.LockJobs(ctx, store.LockJobsParams{
			Owner: owner, Now: now, LockUntil: now.Add(r.LockFor), Limit: r.Max,
			Kinds: []string{store.JobService}, Types: types,
		})
		if err == nil {
			for _, j := range locked {
				b.lockedJob(j)
			}
		}
		return false, err
	})
	if err != nil || len(locked) == 0 {
		return nil, err
	}
	vars, err := e.jobVariables(ctx, locked)
	if err != nil {
		return nil, err
	}
	out := make([]*Job, len(locked))
	for i, j := range locked {
		out[i] = &Job{Key: j.ID, Type: j.Type, Attempt: j.Attempt + 1, Retries: j.Retries, InstanceID: j.InstanceID,
			ElementID: j.ElementID, DefinitionKey: j.DefinitionKey, Variables: vars[j.InstanceID], Deadline: *j.LockedUntil}
		if out[i].Variables == nil {
			out[i].Variables = map[string]any{}
		}
	}
	e.workers.activated(r.Worker, locked)
	return out, nil
}

// jobsChanged returns a channel closed at the next commit that leaves a job due for
// someone other than this node's handlers (or at Wake).
func (e *Engine) jobsChanged() <-chan struct{} {
	e.jobsMu.Lock()
	defer e.jobsMu.Unlock()
	if e.jobsCh == nil {
		e.jobsCh = make(chan struct{})
	}
	return e.jobsCh
}

// broadcastJobs wakes the activations waiting for a job.
func (e *Engine) broadcastJobs() {
	e.jobsMu.Lock()
	defer e.jobsMu.Unlock()
	if e.jobsCh != nil {
		close(e.jobsCh)
		e.jobsCh = nil
	}
}

// JobRef names the attempt of a job an outcome is for: the Key, InstanceID and Attempt of
// the activated Job, and the worker that holds it.
type JobRef struct {
	Worker     string
	Key        string
	InstanceID string
	Attempt    int
}

// JobFailure is a failed attempt reported by a worker.
type JobFailure struct {
	Message string
	Details string
	// Retries is how many attempts are left after this one: 0 opens an incident. Nil
	// counts this attempt off the job's retries.
	Retries *int
	// Backoff delays the next attempt (0: the task's retry policy).
	Backoff time.Duration
}

// ErrDuplicateOutcome is returned (wrapped) for an outcome the engine has already
// recorded for this attempt: the worker may treat it as done.
var ErrDuplicateOutcome = errors.New("outcome already recorded")

// CompleteJob records a worker's completion of a job, with the variables to set.
func (e *Engine) CompleteJob(ctx context.Context, ref JobRef, vars map[string]any) error {
	return e.jobOutcome(ctx, ref, event.JobCompleted, func(r *run, j *store.Job) error {
		return r.completeJob(j, vars, r.now)
	})
}

// FailJob records a worker's failed attempt.
func (e *Engine) FailJob(ctx context.Context, ref JobRef, f JobFailure) error {
	if f.Retries != nil && *f.Retries < 0 {
		return fmt.Errorf("%w: retries left must not be negative", ErrInvalidInput)
	}
	if f.Backoff < 0 || f.Backoff > MaxJobLock*24 {
		return fmt.Errorf("%w: backoff must be 0 to %s", ErrInvalidInput, MaxJobLock*24)
	}
	msg := f.Message
	if msg == "" {
		msg = "failed by worker " + ref.Worker
	}
	err := e.jobOutcome(ctx, ref, event.JobFailed, func(r *run, j *store.Job) error {
		if f.Retries != nil {
			j.Retries = *f.Retries + 1 // failJob counts this attempt off
		}
		if err := r.failJob(j, &cleanError{msg: store.StorableText(msg), details: store.StorableText(f.Details)}, r.now); err != nil {
			return err
		}
		if f.Backoff > 0 && j.Retries > 0 {
			j.DueAt = r.now.Add(f.Backoff)
			r.putJob(j)
		}
		return nil
	})
	if err == nil {
		e.workers.failed(ref.Worker)
	}
	return err
}

// ThrowJobError records a BPMN error thrown by a worker: the variables are set, then the
// error goes to the task's boundary error events (an incident when none catches it).
func (e *Engine) ThrowJobError(ctx context.Context, ref JobRef, code, message string, vars map[string]any) error {
	if code == "" {
		return fmt.Errorf("%w: an error code is required", ErrInvalidInput)
	}
	return e.jobOutcome(ctx, ref, event.ErrorThrown, func(r *run, j *store.Job) error {
		if len(vars) > 0 {
			if err := r.setVariables(vars, r.tokens[j.TokenID], r.p.nodes[j.ElementID]); err != nil {
				return err
			}
		}
		return r.failJob(j, &BPMNError{Code: store.StorableText(code), Message: store.StorableText(message)}, r.now)
	})
}

// ExtendJobLock moves the end of a worker's lock to lockFor from now and returns it.
func (e *Engine) ExtendJobLock(ctx context.Context, ref JobRef, lockFor time.Duration) (time.Time, error) {
	if lockFor < MinJobLock || lockFor > MaxJobLock {
		return time.Time{}, fmt.Errorf("%w: lock duration must be %s to %s", ErrInvalidInput, MinJobLock, MaxJobLock)
	}
	var until time.Time
	err := e.jobOutcome(ctx, ref, "", func(r *run, j *store.Job) error {
		until = r.now.Add(lockFor)
		j.LockedUntil = &until
		r.putJob(j)
		return nil
	})
	return until, err
}

// ReturnJob gives a job back unharmed (no attempt counted): it is offered again at once.
func (e *Engine) ReturnJob(ctx context.Context, ref JobRef) error {
	err := e.jobOutcome(ctx, ref, "", func(r *run, j *store.Job) error {
		j.LockOwner, j.LockedUntil = "", nil
		r.putJob(j)
		r.wake = true
		return nil
	})
	if err == nil {
		e.workers.returned(ref.Worker)
	}
	return err
}

// jobOutcome runs fn on the job ref names when the worker still holds this attempt's
// lock. Otherwise: ErrDuplicateOutcome when the history shows this attempt's outcome of
// kind done (a repeated request); ErrLostLock when the job is someone else's now, ran on,
// or is gone (cancelled, or moved on).
func (e *Engine) jobOutcome(ctx context.Context, ref JobRef, done event.Type, fn func(r *run, j *store.Job) error) error {
	if ref.Worker == "" || ref.Key == "" || ref.InstanceID == "" || ref.Attempt < 1 {
		return fmt.Errorf("%w: worker, job key, instance id and attempt are required", ErrInvalidInput)
	}
	owner := WorkerOwner(ref.Worker)
	err := e.update(ctx, ref.InstanceID, func(r *run) error {
		cur := r.jobs[ref.Key]
		if cur == nil || cur.Kind != store.JobService || cur.LockOwner != owner || cur.Attempt+1 != ref.Attempt {
			return ErrLostLock
		}
		if err := fn(r, cur); err != nil {
			return err
		}
		if done != "" {
			r.tagWorker(ref.Key, ref.Worker)
		}
		return nil
	})
	switch {
	case err == nil:
		if done != "" {
			e.workers.finished(ref.Worker)
		}
		return nil
	case errors.Is(err, ErrLostLock) || errors.Is(err, ErrNotFound):
		if done != "" && e.recorded(ctx, ref, done) {
			return fmt.Errorf("job %q attempt %d: %w", ref.Key, ref.Attempt, ErrDuplicateOutcome)
		}
		return fmt.Errorf("job %q attempt %d: not locked by worker %q (its lock expired and it ran elsewhere, or the instance moved on): %w",
			ref.Key, ref.Attempt, ref.Worker, ErrLostLock)
	}
	return err
}

// tagWorker names the worker in the outcome events this run wrote for the job.
func (r *run) tagWorker(jobKey, worker string) {
	for _, ev := range r.events {
		if ev.Type == event.ErrorThrown && ev.JobID == "" {
			ev.JobID = jobKey // the job whose worker threw it (for the duplicate check)
		}
		if ev.JobID == jobKey && (ev.Type == event.JobCompleted || ev.Type == event.JobFailed || ev.Type == event.ErrorThrown) &&
			len(ev.Data) > 1 {
			ev.Data = appendString(ev.Data[:len(ev.Data)-1], event.FieldWorker, worker)
			ev.Data = append(ev.Data, '}')
		}
	}
}

// maxOutcomeScan bounds the history an outcome's duplicate check reads.
const maxOutcomeScan = 20000

// recorded reports whether the instance's history holds the outcome of kind typ for this
// attempt of the job, written for this worker.
func (e *Engine) recorded(ctx context.Context, ref JobRef, typ event.Type) bool {
	var after int64
	for read := 0; read < maxOutcomeScan; {
		evs, err := e.History(ctx, store.EventFilter{InstanceID: ref.InstanceID, AfterSeq: after, Limit: 1000})
		if err != nil || len(evs) == 0 {
			return false
		}
		for _, ev := range evs {
			if ev.JobID == ref.Key && ev.Type == typ && outcomeOf(ev, ref) {
				return true
			}
		}
		read += len(evs)
		after = evs[len(evs)-1].Seq
	}
	return false
}

// outcomeOf reports whether a job.completed, job.failed or error.thrown event (which
// carries no attempt) is this attempt's, by this worker.
func outcomeOf(ev *store.Event, ref JobRef) bool {
	var d map[string]any
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return false
	}
	attempt, _ := d["attempt"].(float64)
	worker, _ := d[event.FieldWorker].(string)
	return (ev.Type == event.ErrorThrown || int(attempt) == ref.Attempt) && worker == ref.Worker
}

// Workers seen: per job type, the external workers that asked for it recently.

// WorkerInfo is what this node knows of an external worker.
type WorkerInfo struct {
	Name     string
	Types    []string
	LastSeen time.Time
	// InFlight counts the jobs activated and not yet reported on (through this node).
	InFlight int
	// Failures counts the failed attempts it reported (through this node).
	Failures int
}

// workerTable tracks the workers that asked this node for jobs.
type workerTable struct {
	mu sync.Mutex
	m  map[string]*WorkerInfo
}

// maxTrackedWorkers bounds the table: past it the least recently seen worker is dropped.
const maxTrackedWorkers = 1000

func (w *workerTable) get(name string) *WorkerInfo {
	if w.m == nil {
		w.m = map[string]*WorkerInfo{}
	}
	info := w.m[name]
	if info == nil {
		if len(w.m) >= maxTrackedWorkers {
			var oldest *WorkerInfo
			for _, x := range w.m {
				if oldest == nil || x.LastSeen.Before(oldest.LastSeen) {
					oldest = x
				}
			}
			delete(w.m, oldest.Name)
		}
		info = &WorkerInfo{Name: name}
		w.m[name] = info
	}
	return info
}

func (w *workerTable) seen(name string, types []string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	info := w.get(name)
	info.LastSeen = now
	for _, t := range types {
		if !slices.Contains(info.Types, t) && len(info.Types) < MaxWorkerTypes*4 {
			info.Types = append(info.Types, t)
		}
	}
	slices.Sort(info.Types)
}

func (w *workerTable) activated(name string, jobs []*store.Job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.get(name).InFlight += len(jobs)
}

func (w *workerTable) finished(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if info := w.get(name); info.InFlight > 0 {
		info.InFlight--
	}
}

func (w *workerTable) failed(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.get(name).Failures++
}

func (w *workerTable) returned(name string) { w.finished(name) }

// servesType reports whether a worker asked for jobType within WorkerSeenFor of now.
func (w *workerTable) servesType(jobType string, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, info := range w.m {
		if now.Sub(info.LastSeen) < WorkerSeenFor && slices.Contains(info.Types, jobType) {
			return true
		}
	}
	return false
}

// Workers returns the external workers that asked this node for jobs within
// WorkerSeenFor, by name.
func (e *Engine) Workers() []WorkerInfo {
	now := e.clock.Now()
	e.workers.mu.Lock()
	defer e.workers.mu.Unlock()
	var out []WorkerInfo
	for _, info := range e.workers.m {
		if now.Sub(info.LastSeen) < WorkerSeenFor {
			cp := *info
			cp.Types = slices.Clone(info.Types)
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
