package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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
	// MaxWorkerRetries bounds the retries left a worker may set on a failure.
	MaxWorkerRetries = 1000
	// MaxWorkerBackoff bounds the delay a worker may set before a job's next attempt.
	MaxWorkerBackoff = 24 * time.Hour
	// activateRecheck is the longest an activation sleeps between two looks at the store
	// when no commit woke it: jobs that become due later (a retry's backoff, a timer) are
	// found within it. New jobs wake waiting activations at once.
	activateRecheck = time.Second
)

// WorkerOwner is the lock owner a worker's jobs carry in the store: "worker:" and the
// name, which no engine node id has.
func WorkerOwner(worker string) string { return "worker:" + worker }

// WorkerLock is the lock a worker holds on a job row now, as the outcomes name it (ok
// false when no worker holds one: unlocked, or locked by an engine node). The lock may
// have expired: the row still names it until the job is locked again.
func WorkerLock(j *store.Job) (JobRef, bool) {
	w, ok := strings.CutPrefix(j.LockOwner, "worker:")
	if !ok || j.LockedUntil == nil {
		return JobRef{}, false
	}
	return JobRef{Worker: w, Key: j.ID, InstanceID: j.InstanceID, Attempt: j.Attempt + 1, Deadline: *j.LockedUntil}, true
}

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
	// ProcessKey limits the jobs to one process's ("": all).
	ProcessKey string
	// BusinessKey limits the jobs to those of the instances with this business key.
	BusinessKey string
	// Variables names the variables to return with each job (nil: all of them; empty:
	// none), at most MaxWorkerTypes*4.
	Variables []string
	// DefinitionID limits the jobs to one process version's ("": all).
	DefinitionID string
	// ProcessVariables limits the jobs to those of the instances whose process variables
	// equal these values (at most MaxWorkerTypes*4 of them, MaxVariablesBytes in all).
	ProcessVariables map[string]any
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
	case len(r.ProcessKey) > MaxNameBytes:
		return fmt.Errorf("%w: process key must be at most %d bytes", ErrInvalidInput, MaxNameBytes)
	case len(r.BusinessKey) > MaxBusinessKeyBytes:
		return fmt.Errorf("%w: business key must be at most %d bytes", ErrInvalidInput, MaxBusinessKeyBytes)
	case len(r.Variables) > MaxWorkerTypes*4:
		return fmt.Errorf("%w: ask for at most %d variables, not %d", ErrInvalidInput, MaxWorkerTypes*4, len(r.Variables))
	case len(r.DefinitionID) > MaxNameBytes*2:
		return fmt.Errorf("%w: process definition id must be at most %d bytes", ErrInvalidInput, MaxNameBytes*2)
	case len(r.ProcessVariables) > MaxWorkerTypes*4:
		return fmt.Errorf("%w: filter on at most %d process variables, not %d", ErrInvalidInput, MaxWorkerTypes*4, len(r.ProcessVariables))
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
	tjs, err := e.activateTopics(ctx, r.Worker, r.Max, r.Wait, []ActivateRequest{r}, false)
	jobs := make([]*Job, len(tjs))
	for i, tj := range tjs {
		jobs[i] = tj.Job
	}
	return jobs, err
}

// TopicJob is a job ActivateTopics locked: the Job with the stored rows of the variables
// its token sees, which keep each one's type (Typed). Job.Variables is left empty: the
// API that asks for rows encodes them itself, so none is decoded for it.
type TopicJob struct {
	*Job
	// Rows are the rows of the variables the job's token sees, by name.
	Rows map[string]*store.Variable
	// Local are the rows of the variables of the task's own scope (its input mappings'
	// results), by name, limited to ActivateRequest.Variables as Rows are; nil or empty
	// when it has none.
	Local map[string]*store.Variable
	// Row is the job's stored row (its process version, last error, creation).
	Row *store.Job
	// BusinessKey is the business key of the job's instance.
	BusinessKey string
}

// ActivateTopics is ActivateJobs over several topics at once, as Camunda 7's
// fetchAndLock asks: each of topics (at most MaxWorkerTypes) names its job types, its
// filters, its lock (LockFor) and its variables; their Worker, Max and Wait are those
// given here. Up to max jobs are locked, topic by topic in order; when none is due it
// waits up to wait for one.
func (e *Engine) ActivateTopics(ctx context.Context, worker string, max int, wait time.Duration, topics []ActivateRequest) ([]*TopicJob, error) {
	if len(topics) == 0 || len(topics) > MaxWorkerTypes {
		return nil, fmt.Errorf("%w: ask for 1 to %d topics, not %d", ErrInvalidInput, MaxWorkerTypes, len(topics))
	}
	return e.activateTopics(ctx, worker, max, wait, topics, true)
}

func (e *Engine) activateTopics(ctx context.Context, worker string, max int, wait time.Duration, topics []ActivateRequest, rows bool) ([]*TopicJob, error) {
	topics = slices.Clone(topics)
	var all []string
	for i := range topics {
		t := &topics[i]
		t.Worker, t.Max, t.Wait = worker, max, wait
		if err := t.check(); err != nil {
			return nil, err
		}
		t.Types = slices.Clone(t.Types)
		slices.Sort(t.Types)
		t.Types = slices.Compact(t.Types)
		all = append(all, t.Types...)
	}
	slices.Sort(all)
	e.workers.seen(worker, slices.Compact(all), e.clock.Now())
	matches := make([][]store.VariableMatch, len(topics))
	for i, t := range topics {
		m, err := variableMatches(t.ProcessVariables)
		if err != nil {
			return nil, err
		}
		matches[i] = m
	}
	deadline := e.clock.Now().Add(wait)
	for {
		changed := e.jobsChanged()
		var jobs []*TopicJob
		for i, t := range topics {
			got, err := e.activate(ctx, t, matches[i], max-len(jobs), rows)
			if err != nil {
				if len(jobs) > 0 { // they are locked: hand them out rather than leave them for nobody
					e.log.Warn("activate jobs: a topic failed after others", "worker", worker, "types", t.Types, "err", err)
					return jobs, nil
				}
				return nil, err
			}
			jobs = append(jobs, got...)
			if len(jobs) >= max {
				break
			}
		}
		if len(jobs) > 0 {
			return jobs, nil
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

// variableMatches encodes a process variables filter as the store compares it (nil for
// none).
func variableMatches(vars map[string]any) ([]store.VariableMatch, error) {
	if len(vars) == 0 {
		return nil, nil
	}
	out := make([]store.VariableMatch, 0, len(vars))
	total := 0
	for _, name := range sortedKeys(vars) {
		raw, _, err := encodeValue(name, vars[name])
		if err != nil {
			return nil, err
		}
		if total += len(name) + len(raw); total > MaxVariablesBytes {
			return nil, fmt.Errorf("%w: the process variables filter is more than %d bytes", ErrInvalidInput, MaxVariablesBytes)
		}
		out = append(out, store.VariableMatch{Name: name, Value: raw})
	}
	return out, nil
}

// activate locks and reads the jobs of one look at the store for one topic, at most max.
// It is not cut short by ctx (which ends the wait): jobs it locked are returned, not left
// locked for nobody; when their variables cannot be read, they are given back.
func (e *Engine) activate(ctx context.Context, r ActivateRequest, vars []store.VariableMatch, max int, rows bool) ([]*TopicJob, error) {
	ctx = context.WithoutCancel(ctx)
	owner := WorkerOwner(r.Worker)
	p := store.LockJobsParams{Owner: owner, Limit: max, Kinds: []string{store.JobService}, Types: r.Types,
		DefinitionKey: r.ProcessKey, BusinessKey: r.BusinessKey, DefinitionID: r.DefinitionID, Variables: vars}
	var locked []*store.Job
	var decoded map[string]map[string]any
	var visible, local map[string]map[string]*store.Variable
	var err error
	keys := map[string]string{} // instance → business key
	if rows {
		if locked, err = e.lockJobsOnly(ctx, p, r.LockFor); err == nil && len(locked) > 0 {
			visible, local, err = visibleVariables(ctx, e.store, locked, true, func(v *store.Variable) (*store.Variable, error) { return v, nil },
				func(tx store.Tx, ids []string) error {
					for _, id := range ids {
						in, err := tx.GetInstance(ctx, id)
						if err != nil {
							return fmt.Errorf("instance %q of a job: %w", id, err)
						}
						keys[id] = in.BusinessKey
					}
					return nil
				})
		}
	} else {
		locked, decoded, err = e.lockJobs(ctx, p, r.LockFor)
	}
	if err != nil && len(locked) > 0 {
		for _, j := range locked {
			if rerr := e.releaseJob(ctx, j, owner); rerr != nil {
				e.log.Warn("activated job not given back", "job", j.ID, "worker", r.Worker, "err", rerr)
			}
		}
	}
	if err != nil || len(locked) == 0 {
		return nil, err
	}
	out := make([]*TopicJob, len(locked))
	for i, j := range locked {
		tj := &TopicJob{Row: j}
		if rows {
			tj.Job, tj.Rows, tj.Local, tj.BusinessKey = e.newJob(ctx, j, nil), only(visible[j.ID], r.Variables),
				only(local[j.ID], r.Variables), keys[j.InstanceID]
		} else {
			tj.Job = e.newJob(ctx, j, only(decoded[j.ID], r.Variables))
		}
		out[i] = tj
	}
	return out, nil
}

// only keeps the named variables of vars (names nil: all of them).
func only[T any](vars map[string]T, names []string) map[string]T {
	if names == nil {
		return vars
	}
	out := make(map[string]T, len(names))
	for _, n := range names {
		if v, ok := vars[n]; ok {
			out[n] = v
		}
	}
	return out
}

// jobsChanged returns a channel closed at the executor's next wake-up: a commit that
// leaves work due which it did not push to this node's handlers, or Wake (another node's
// commit, on PostgreSQL). Every waiting activation then looks at the store once.
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

// JobRef names the lock an outcome is for: the Key, InstanceID, Attempt and Deadline of
// the activated Job (or the deadline ExtendJobLock returned), and the worker that holds
// it. The deadline tells one activation from the next of the same attempt: a lock that
// expired and was taken again, even by a worker of the same name, is another lock.
type JobRef struct {
	Worker     string
	Key        string
	InstanceID string
	Attempt    int
	Deadline   time.Time
}

// JobFailure is a failed attempt reported by a worker.
type JobFailure struct {
	Message string
	Details string
	// Retries is how many attempts are left after this one (0 to MaxWorkerRetries): 0
	// opens an incident. Nil counts this attempt off the job's retries.
	Retries *int
	// Backoff delays the next attempt (0 to MaxWorkerBackoff; 0: the task's retry policy).
	Backoff time.Duration
}

// workerFailure is a JobFailure as the error failJob records: its retries and backoff
// override the job's (retryOverride).
type workerFailure struct{ f JobFailure }

func (w *workerFailure) Error() string   { return w.f.Message }
func (w *workerFailure) Details() string { return w.f.Details }
func (w *workerFailure) RetriesLeft() (int, bool) {
	if w.f.Retries == nil {
		return 0, false
	}
	return *w.f.Retries, true
}
func (w *workerFailure) Backoff() time.Duration { return w.f.Backoff }

// retryOverride is an error that sets the retries left and the backoff of the failed
// attempt failJob records, instead of the task's policy.
type retryOverride interface {
	RetriesLeft() (int, bool)
	Backoff() time.Duration
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

// CompleteJobLocal is CompleteJob with local variables too (Camunda 7's localVariables):
// the task's output mappings see them, shadowing vars; they are not kept after the task
// (its scope ends with it), so a task without output mappings drops them.
func (e *Engine) CompleteJobLocal(ctx context.Context, ref JobRef, vars, local map[string]any) error {
	if len(local) == 0 {
		return e.CompleteJob(ctx, ref, vars)
	}
	return e.jobOutcome(ctx, ref, event.JobCompleted, func(r *run, j *store.Job) error {
		if n := r.p.nodes[j.ElementID]; n != nil && len(n.outputs) > 0 {
			merged := make(map[string]any, len(vars)+len(local))
			maps.Copy(merged, vars)
			maps.Copy(merged, local)
			return r.completeJob(j, merged, r.now)
		}
		return r.completeJob(j, vars, r.now)
	})
}

// FailJob records a worker's failed attempt.
func (e *Engine) FailJob(ctx context.Context, ref JobRef, f JobFailure) error {
	if f.Retries != nil && (*f.Retries < 0 || *f.Retries > MaxWorkerRetries) {
		return fmt.Errorf("%w: retries left must be 0 to %d", ErrInvalidInput, MaxWorkerRetries)
	}
	if f.Backoff < 0 || f.Backoff > MaxWorkerBackoff {
		return fmt.Errorf("%w: backoff must be 0 to %s", ErrInvalidInput, MaxWorkerBackoff)
	}
	if f.Message == "" {
		f.Message = "failed by worker " + ref.Worker
	}
	f.Message, f.Details = store.StorableText(f.Message), store.StorableText(f.Details)
	err := e.jobOutcome(ctx, ref, event.JobFailed, func(r *run, j *store.Job) error {
		return r.failJob(j, &workerFailure{f}, r.now)
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
		tok, n := r.tokens[j.TokenID], r.p.nodes[j.ElementID]
		if tok == nil || n == nil {
			return fmt.Errorf("job %q: its token is gone: %w", j.ID, ErrInvalidState)
		}
		if err := r.setVariables(vars, tok, n); err != nil {
			return err
		}
		return r.failJob(j, &BPMNError{Code: store.StorableText(code), Message: store.StorableText(message)}, r.now)
	})
}

// ExtendJobLock moves the end of a worker's lock to lockFor from now and returns it: the
// deadline later outcomes name.
func (e *Engine) ExtendJobLock(ctx context.Context, ref JobRef, lockFor time.Duration) (time.Time, error) {
	if lockFor < MinJobLock || lockFor > MaxJobLock {
		return time.Time{}, fmt.Errorf("%w: lock duration must be %s to %s", ErrInvalidInput, MinJobLock, MaxJobLock)
	}
	var until time.Time
	err := e.jobOutcome(ctx, ref, "", func(r *run, j *store.Job) error {
		until = r.now.Add(lockFor).Truncate(time.Microsecond) // as the stores keep it
		j.LockedUntil = &until
		r.putJob(j)
		return nil
	})
	return until, err
}

// ReturnJob gives a job back unharmed (no attempt counted): it is offered again at once.
func (e *Engine) ReturnJob(ctx context.Context, ref JobRef) error {
	return e.jobOutcome(ctx, ref, "", func(r *run, j *store.Job) error {
		j.LockOwner, j.LockedUntil = "", nil
		r.putJob(j)
		return nil
	})
}

// jobOutcome runs fn on the job ref names when the worker still holds that lock.
// Otherwise: ErrDuplicateOutcome when the history shows this attempt's outcome of kind
// done by this worker (a repeated request); ErrLostLock when the lock is someone else's
// now (or another activation's), the job ran on, or it is gone (cancelled, moved on).
func (e *Engine) jobOutcome(ctx context.Context, ref JobRef, done event.Type, fn func(r *run, j *store.Job) error) error {
	if ref.Worker == "" || ref.Key == "" || ref.InstanceID == "" || ref.Attempt < 1 || ref.Deadline.IsZero() {
		return fmt.Errorf("%w: worker, job key, instance id, attempt and deadline are required", ErrInvalidInput)
	}
	owner := WorkerOwner(ref.Worker)
	err := e.update(ctx, ref.InstanceID, func(r *run) error {
		cur := r.jobs[ref.Key]
		if cur == nil || cur.Kind != store.JobService || cur.LockOwner != owner || cur.Attempt+1 != ref.Attempt ||
			cur.LockedUntil == nil || !cur.LockedUntil.Truncate(time.Microsecond).Equal(ref.Deadline.Truncate(time.Microsecond)) {
			return ErrLostLock
		}
		r.worker = ref.Worker
		return fn(r, cur)
	})
	if !errors.Is(err, ErrLostLock) && !errors.Is(err, ErrNotFound) {
		return err
	}
	if done != "" {
		dup, rerr := e.recorded(ctx, ref, done)
		if rerr != nil {
			return fmt.Errorf("job %q attempt %d: lock lost; looking for a recorded outcome: %w", ref.Key, ref.Attempt, rerr)
		}
		if dup {
			return fmt.Errorf("job %q attempt %d: %w", ref.Key, ref.Attempt, ErrDuplicateOutcome)
		}
	}
	return fmt.Errorf("job %q attempt %d: not locked by worker %q with that deadline (its lock expired and it was taken again, or the instance moved on): %w",
		ref.Key, ref.Attempt, ref.Worker, ErrLostLock)
}

// maxJobEvents bounds the events of one job the duplicate check reads (a job writes a
// few per attempt).
const maxJobEvents = 1000

// recorded reports whether the instance's history holds the outcome of kind typ for this
// attempt of the job, written for this worker.
func (e *Engine) recorded(ctx context.Context, ref JobRef, typ event.Type) (bool, error) {
	evs, err := e.History(ctx, store.EventFilter{InstanceID: ref.InstanceID, JobID: ref.Key, Limit: maxJobEvents})
	if err != nil {
		return false, err
	}
	for _, ev := range evs {
		if ev.Type != typ {
			continue
		}
		var d struct {
			Attempt int    `json:"attempt"`
			Worker  string `json:"worker"`
		}
		if json.Unmarshal(ev.Data, &d) == nil && d.Attempt == ref.Attempt && d.Worker == ref.Worker {
			return true, nil
		}
	}
	return false, nil
}

// Workers seen: per job type, the external workers that asked for it recently.

// WorkerInfo is what this node knows of an external worker.
type WorkerInfo struct {
	Name string
	// Types are the job types it asked this node for within WorkerSeenFor.
	Types    []string
	LastSeen time.Time
	// InFlight counts the jobs it holds now (locked in its name, lock not expired).
	InFlight int
	// Failures counts the failed attempts it reported through this node.
	Failures int
}

// workerTable tracks the workers that asked this node for jobs.
type workerTable struct {
	mu sync.Mutex
	m  map[string]*seenWorker
}

type seenWorker struct {
	types    map[string]time.Time // job type → last asked
	failures int
}

// maxTrackedWorkers bounds the table: past it the least recently seen worker is dropped.
const maxTrackedWorkers = 1000

func (s *seenWorker) lastSeen() time.Time {
	var last time.Time
	for _, at := range s.types {
		if at.After(last) {
			last = at
		}
	}
	return last
}

func (w *workerTable) seen(name string, types []string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]*seenWorker{}
	}
	sw := w.m[name]
	if sw == nil {
		if len(w.m) >= maxTrackedWorkers {
			oldest, at := "", now
			for n, x := range w.m {
				if l := x.lastSeen(); !l.After(at) {
					oldest, at = n, l
				}
			}
			delete(w.m, oldest)
		}
		sw = &seenWorker{types: map[string]time.Time{}}
		w.m[name] = sw
	}
	for t, at := range sw.types {
		if now.Sub(at) >= WorkerSeenFor {
			delete(sw.types, t) // it stopped asking for t
		}
	}
	for _, t := range types {
		if cur, ok := sw.types[t]; !ok || now.After(cur) {
			sw.types[t] = now // a sighting relayed late never moves one back
		}
	}
}

// WorkerSeen records that a worker asked another node for jobs of these types at a time
// (package workers relays the sightings between the nodes, so each node's Serves and
// Workers know every worker).
func (e *Engine) WorkerSeen(worker string, types []string, at time.Time) {
	if worker == "" || len(worker) > MaxWorkerNameBytes || len(types) > MaxWorkerTypes {
		return
	}
	for _, t := range types {
		if t == "" || len(t) > MaxNameBytes {
			return
		}
	}
	if now := e.clock.Now(); at.After(now) {
		at = now // another node's clock runs ahead
	}
	e.workers.seen(worker, types, at)
}

func (w *workerTable) failed(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if sw := w.m[name]; sw != nil {
		sw.failures++
	}
}

// live returns the workers seen within WorkerSeenFor of now, with the types they asked
// for within it, by name.
func (w *workerTable) live(now time.Time) []WorkerInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []WorkerInfo
	for name, sw := range w.m {
		info := WorkerInfo{Name: name, Failures: sw.failures}
		for t, at := range sw.types {
			if now.Sub(at) < WorkerSeenFor {
				info.Types = append(info.Types, t)
				if at.After(info.LastSeen) {
					info.LastSeen = at
				}
			}
		}
		if len(info.Types) > 0 {
			slices.Sort(info.Types)
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// liveTypes returns the job types a worker asked for within WorkerSeenFor of now.
func (w *workerTable) liveTypes(now time.Time) []string {
	var types []string
	for _, info := range w.live(now) {
		types = append(types, info.Types...)
	}
	return types
}

// maxInFlightCount bounds the jobs Workers counts per worker.
const maxInFlightCount = 10000

// Workers returns the external workers that asked this node for jobs within
// WorkerSeenFor, by name, with the jobs each holds now (read from the store).
func (e *Engine) Workers(ctx context.Context) ([]WorkerInfo, error) {
	now := e.clock.Now()
	out := e.workers.live(now)
	if len(out) == 0 {
		return out, nil
	}
	err := e.store.Read(ctx, func(tx store.Tx) error {
		for i := range out {
			jobs, err := tx.ListJobs(ctx, store.JobFilter{LockOwner: WorkerOwner(out[i].Name), Limit: maxInFlightCount})
			if err != nil {
				return err
			}
			for _, j := range jobs {
				if j.LockedUntil != nil && j.LockedUntil.After(now) {
					out[i].InFlight++
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	return out, nil
}

// LookupJob returns the stored row of a service job by key: its instance, its current
// lock and its retries, for an API that names jobs by key alone (Camunda 7's external
// tasks). It fails with ErrNotFound for a job that does not exist (any more) or is not a
// service job.
func (e *Engine) LookupJob(ctx context.Context, key string) (*store.Job, error) {
	if key == "" || len(key) > MaxNameBytes {
		return nil, fmt.Errorf("job %.40q: %w", key, ErrNotFound)
	}
	var j *store.Job
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		j, err = tx.GetJob(ctx, key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && j.Kind != store.JobService) {
		return nil, fmt.Errorf("job %q: %w", key, ErrNotFound)
	}
	return j, err
}

// LockJob locks one service job for a worker for lockFor from now and returns the lock's
// deadline (Camunda 7's external task lock): a job locked by the same worker has its lock
// moved; one locked by someone else until later is refused with ErrLostLock; one without
// retries left (an incident) or suspended is refused with ErrInvalidState.
func (e *Engine) LockJob(ctx context.Context, worker, key string, lockFor time.Duration) (time.Time, error) {
	if worker == "" || len(worker) > MaxWorkerNameBytes || !storable(worker) {
		return time.Time{}, fmt.Errorf("%w: worker name must be 1 to %d bytes of text", ErrInvalidInput, MaxWorkerNameBytes)
	}
	if lockFor < MinJobLock || lockFor > MaxJobLock {
		return time.Time{}, fmt.Errorf("%w: lock duration must be %s to %s", ErrInvalidInput, MinJobLock, MaxJobLock)
	}
	j, err := e.LookupJob(ctx, key)
	if err != nil {
		return time.Time{}, err
	}
	owner := WorkerOwner(worker)
	var until time.Time
	err = e.update(ctx, j.InstanceID, func(r *run) error {
		cur := r.jobs[key]
		switch {
		case cur == nil || cur.Kind != store.JobService:
			return fmt.Errorf("job %q: %w", key, ErrNotFound)
		case cur.Retries <= 0:
			return fmt.Errorf("job %q has no retries left (it has an incident): %w", key, ErrInvalidState)
		case cur.Suspended:
			return fmt.Errorf("job %q is suspended: %w", key, ErrInvalidState)
		case cur.LockOwner != "" && cur.LockOwner != owner && cur.LockedUntil != nil && cur.LockedUntil.After(r.now):
			return fmt.Errorf("job %q is locked by %s until %s: %w", key, lockHolder(cur.LockOwner), cur.LockedUntil.UTC().Format(time.RFC3339), ErrLostLock)
		}
		until = r.now.Add(lockFor).Truncate(time.Microsecond) // as the stores keep it
		cur.LockOwner, cur.LockedUntil = owner, &until
		r.putJob(cur)
		return nil
	})
	return until, err
}

// lockHolder names a lock owner for a message: a worker by its name, else an engine node.
func lockHolder(owner string) string {
	if w, ok := strings.CutPrefix(owner, "worker:"); ok {
		return fmt.Sprintf("worker %q", w)
	}
	return fmt.Sprintf("engine node %q", owner)
}
