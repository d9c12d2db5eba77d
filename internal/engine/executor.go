package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/job"
)

// Job is what a handler gets: one attempt at a service task (the public job.Job).
type Job = job.Job

// Handler runs a job (the public job.Handler): it returns the variables to set, or a
// *BPMNError (see ThrowError) thrown to the boundary error events, or any other error, a
// failed attempt. The handler's ctx ends when the job lock expires.
type Handler = job.Handler

// Handle registers the handler of a job type. Only registered types are fetched by this
// engine; jobs of other types wait for an engine (or worker) that handles them.
func (e *Engine) Handle(jobType string, h Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.handlers[jobType] = h
}

// Handles reports whether a handler in this process serves a job type (Handle): its
// jobs are not for external workers.
func (e *Engine) Handles(jobType string) bool { return e.handler(jobType) != nil }

func (e *Engine) handlerTypes() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	types := make([]string, 0, len(e.handlers))
	for t := range e.handlers {
		types = append(types, t)
	}
	return types
}

func (e *Engine) handler(jobType string) Handler {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.handlers[jobType]
}

// executorLoop runs the jobs commands push to it, fetches due jobs while there are free
// workers, and sleeps until a commit wakes it, the next job is due, or IdlePoll passes.
//
// A fetch (a committer command, then a read of the jobs' variables) and the look for the
// next due time run on a goroutine of their own, one of each at a time: the loop keeps
// starting the jobs pushed to it meanwhile, which are most jobs of a busy engine.
func (e *Engine) executorLoop(ctx context.Context) {
	sem := e.sem
	freed := make(chan struct{}, 1)
	defer e.busy.Wait()
	start := func(j *store.Job, vars map[string]any) {
		e.busy.Add(1)
		go func() {
			e.jobsRunning.Add(1)
			began := time.Now() // wall time: utilisation is about the machine, not the process clock
			s := &slot{}
			defer func() {
				e.busyNanos.Add(int64(time.Since(began)))
				e.jobsRunning.Add(-1)
				if s.release() {
					<-sem
					select {
					case freed <- struct{}{}:
					default:
					}
				}
				e.busy.Done()
			}()
			e.runJob(withSlot(ctx, s), j, vars)
		}()
	}
	// pushed runs a job a command locked for us (its slot is taken), or gives a void
	// reservation's slot back.
	pushed := func(p pushedJob) {
		e.received()
		if p.job == nil {
			<-sem
			return
		}
		start(p.job, p.vars)
	}
	// run starts fetched jobs. Pushes may have taken the free slots meanwhile: wait for
	// one, running the pushed jobs that hold them (they are ours to start).
	run := func(jobs []*store.Job, vars map[string]map[string]any) {
		for _, j := range jobs {
			for acquired := false; !acquired; {
				select {
				case sem <- struct{}{}:
					acquired = true
				case p := <-e.pushCh:
					pushed(p)
				}
			}
			start(j, vars[j.ID])
		}
	}
	fetches := make(chan fetched, 1)
	dues := make(chan due, 1)
	fetching, probing := false, false
	defer func() {
		// A fetch or probe still out ends soon (ctx is cancelled); the jobs a fetch locked
		// run like those pushed while we stop, so none stays locked until its lock expires.
		if fetching {
			f := <-fetches
			run(f.jobs, f.vars)
		}
		if probing {
			<-dues
		}
		// Jobs committed for us while we stop still run (Stop waits for handlers).
		for n := e.closePush(); n > 0; n-- {
			pushed(<-e.pushCh)
		}
	}()
	// look: fetch when a slot is free (a commit or another node announced due work, a
	// deadline passed, or the last fetch was full). A freed slot alone does not fetch:
	// most jobs are pushed, and a fetch that finds nothing is a wasted statement in the
	// next group commit. nextAt is when the next job is due (zero: none known); commands
	// that write jobs due later shorten it (noteDue). After a failed fetch, none starts
	// before holdUntil.
	look := true
	var nextAt, holdUntil, deadline time.Time
	var timer <-chan time.Time
	for ctx.Err() == nil {
		for drained := false; !drained; {
			select {
			case p := <-e.pushCh:
				pushed(p)
			default:
				drained = true
			}
		}
		if free := cap(sem) - len(sem); look && free > 0 && !fetching && !e.clock.Now().Before(holdUntil) {
			look, fetching = false, true
			limit := min(free, e.opts.BatchSize)
			go func() { fetches <- e.fetch(ctx, limit) }()
		}
		wait := e.opts.IdlePoll
		if !nextAt.IsZero() {
			d := nextAt.Sub(e.clock.Now())
			if d <= 0 {
				// Due but not ours to take (a type this node does not handle, or
				// locked elsewhere): look again later, not in a busy loop.
				d = time.Second
			}
			wait = min(wait, d)
		}
		// One timer per deadline, not one per loop (the loop turns once per pushed job).
		if at := e.clock.Now().Add(wait); timer == nil || at.Before(deadline) {
			deadline, timer = at, e.clock.After(wait)
		}
		select {
		case <-ctx.Done():
		case <-e.wake:
			look = true
		case <-freed:
			// A slot: look only if an earlier look found no free slot (look still set).
		case p := <-e.pushCh:
			pushed(p)
		case f := <-fetches:
			fetching = false
			if f.err != nil {
				if ctx.Err() == nil {
					// The store is unreachable or failing: try again soon, not at the idle poll.
					e.log.Error("fetch jobs", "err", f.err)
					look, holdUntil, nextAt = true, e.clock.Now().Add(errorBackoff), e.clock.Now().Add(errorBackoff)
				}
				continue
			}
			run(f.jobs, f.vars)
			if len(f.jobs) == f.limit {
				look = true // there may be more due right now
				continue
			}
			// None left due now: when is the next? Hints that arrive meanwhile count too.
			nextAt = time.Time{}
			if !probing {
				probing = true
				go func() { dues <- e.probeDue(ctx) }()
			}
		case d := <-dues:
			probing = false
			if d.ok && (nextAt.IsZero() || d.at.Before(nextAt)) {
				nextAt = d.at
			}
		case <-e.dueCh:
			if t := e.dueHint.Swap(0); t != 0 && (nextAt.IsZero() || t < nextAt.UnixNano()) {
				nextAt = time.Unix(0, t)
			}
		case <-timer:
			timer, look = nil, true
		}
	}
}

// fetched is what one fetch of the executor locked: the jobs, their variables by job id,
// and the limit it asked for (a full fetch means more may be due).
type fetched struct {
	jobs  []*store.Job
	vars  map[string]map[string]any
	limit int
	err   error
}

// fetch locks up to limit due jobs of the types this node handles, for this node.
func (e *Engine) fetch(ctx context.Context, limit int) fetched {
	types := e.handlerTypes()
	jobs, vars, err := e.lockJobs(ctx, store.LockJobsParams{Owner: e.opts.NodeID, Limit: limit, Kinds: kindsFor(types),
		Types: types}, e.opts.LockDuration)
	return fetched{jobs: jobs, vars: vars, limit: limit, err: err}
}

// due is when the next job is due, if one is known.
type due struct {
	at time.Time
	ok bool
}

// probeDue reads when the next job is due; an error counts as none known (the idle poll
// and wake-ups still come).
func (e *Engine) probeDue(ctx context.Context) due {
	var d due
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		d.at, d.ok, err = tx.NextJobDue(ctx)
		return err
	})
	d.ok = d.ok && err == nil
	return d
}

// ExecutorStats is a snapshot of the job executor, for utilisation metrics.
type ExecutorStats struct {
	// Workers is the most jobs run at once (Options.Workers); Running how many run now.
	Workers int
	Running int
	// Busy is the time spent running jobs (handlers and recording their outcome) by
	// jobs that have finished, summed over workers: its rate divided by Workers is the
	// executor's utilisation.
	Busy time.Duration
}

// ExecutorStats returns the executor's counters. It is two atomic loads.
func (e *Engine) ExecutorStats() ExecutorStats {
	return ExecutorStats{Workers: e.opts.Workers, Running: int(e.jobsRunning.Load()), Busy: time.Duration(e.busyNanos.Load())}
}

// errorBackoff is how long the executor waits after the store failed a fetch.
const errorBackoff = time.Second

// Wake tells the executor to look for due jobs now. Commits in this engine wake it by
// themselves; call Wake when work arrives another way (a store notification from another
// node, or a test that moved a fake clock).
func (e *Engine) Wake() { e.signal() }

// lockJobs locks a batch of due jobs for p.Owner (this node, or an external worker) for
// lockFor from now, selected as p says, and reads their instances' variables.
func (e *Engine) lockJobs(ctx context.Context, p store.LockJobsParams, lockFor time.Duration) (
	[]*store.Job, map[string]map[string]any, error) {
	jobs, err := e.lockJobsOnly(ctx, p, lockFor)
	if err != nil || len(jobs) == 0 {
		return nil, nil, err
	}
	vars, err := e.jobVariables(ctx, jobs)
	return jobs, vars, err
}

// lockJobsOnly is lockJobs without reading the variables.
func (e *Engine) lockJobsOnly(ctx context.Context, p store.LockJobsParams, lockFor time.Duration) ([]*store.Job, error) {
	var jobs []*store.Job
	err := e.exec(ctx, func(b *batch) (bool, error) {
		tx := b.tx
		p.Now = e.clock.Now()
		p.LockUntil = p.Now.Add(lockFor)
		var err error
		jobs, err = tx.LockJobs(ctx, p)
		if err == nil {
			for _, j := range jobs {
				b.lockedJob(j)
			}
		}
		return false, err
	})
	if err != nil {
		// jobs is not read: after a cancelled ctx the command may still be running.
		return nil, err
	}
	return jobs, nil
}

// jobVariables reads the variables each service job's token sees, by job id, decoded
// (visibleVariables).
func (e *Engine) jobVariables(ctx context.Context, jobs []*store.Job) (map[string]map[string]any, error) {
	vars, _, err := visibleVariables(ctx, e.store, jobs, false, func(v *store.Variable) (any, error) { return decodeValue(v.Value) }, nil)
	return vars, err
}

// visibleVariables reads the variables each service job's token sees, by job id: its
// instance's process variables, shadowed by those of the token's scopes (scope.go), each
// converted by conv (decoded for handlers; the rows themselves for an API that gives
// their types back). Jobs of one instance without local variables share one map, as
// before scopes; where an instance has locals its tokens are read to find each job's
// scope chain. With withLocal it also returns, by job id, the variables of the job's own
// scope (a task's input mappings' results), when it has any. also, when set, runs in the
// same read transaction with the jobs' instance ids.
func visibleVariables[T any](ctx context.Context, st store.Store, jobs []*store.Job, withLocal bool,
	conv func(*store.Variable) (T, error), also func(tx store.Tx, instanceIDs []string) error) (visible, local map[string]map[string]T, err error) {
	var ids []string
	seen := map[string]bool{}
	for _, j := range jobs {
		if j.Kind == store.JobService && !seen[j.InstanceID] {
			seen[j.InstanceID] = true
			ids = append(ids, j.InstanceID)
		}
	}
	out := map[string]map[string]T{}
	if len(ids) == 0 {
		return out, nil, nil
	}
	if withLocal {
		local = map[string]map[string]T{}
	}
	err = st.Read(ctx, func(tx store.Tx) error {
		if also != nil {
			if err := also(tx, ids); err != nil {
				return err
			}
		}
		vs, err := tx.ListVariables(ctx, ids)
		if err != nil {
			return err
		}
		process := map[string]map[string]T{}
		locals := map[string]map[string]map[string]T{} // instance → scope → name → value
		for _, v := range vs {
			dv, err := conv(v)
			if err != nil {
				return fmt.Errorf("variable %q of %q: %w", v.Name, v.InstanceID, err)
			}
			m := process[v.InstanceID]
			if v.Scope != "" {
				ls := locals[v.InstanceID]
				if ls == nil {
					ls = map[string]map[string]T{}
					locals[v.InstanceID] = ls
				}
				m = ls[v.Scope]
				if m == nil {
					m = map[string]T{}
					ls[v.Scope] = m
				}
			} else if m == nil {
				m = map[string]T{}
				process[v.InstanceID] = m
			}
			m[v.Name] = dv
		}
		scopeOf := map[string]map[string]string{} // instance → token → enclosing scope
		for _, j := range jobs {
			if j.Kind != store.JobService {
				continue
			}
			ls := locals[j.InstanceID]
			if len(ls) == 0 {
				out[j.ID] = process[j.InstanceID]
				continue
			}
			if withLocal && ls[j.TokenID] != nil {
				local[j.ID] = ls[j.TokenID]
			}
			parents := scopeOf[j.InstanceID]
			if parents == nil {
				agg, err := tx.LoadInstance(ctx, j.InstanceID)
				if err != nil {
					return fmt.Errorf("tokens of %q: %w", j.InstanceID, err)
				}
				parents = make(map[string]string, len(agg.Tokens))
				for _, t := range agg.Tokens {
					parents[t.ID] = t.ScopeID
				}
				scopeOf[j.InstanceID] = parents
			}
			var chain []map[string]T
			for id, guard := j.TokenID, 0; id != "" && guard < 1024; guard++ {
				if m := ls[id]; m != nil {
					chain = append(chain, m)
				}
				id = parents[id]
			}
			m := make(map[string]T, len(process[j.InstanceID]))
			for k, v := range process[j.InstanceID] {
				m[k] = v
			}
			for i := len(chain) - 1; i >= 0; i-- {
				for k, v := range chain[i] {
					m[k] = v
				}
			}
			out[j.ID] = m
		}
		return nil
	})
	return out, local, err
}

// newJob is what a handler or a worker gets for a locked job.
func (e *Engine) newJob(ctx context.Context, j *store.Job, vars map[string]any) *Job {
	job := &Job{Key: j.ID, Type: j.Type, Attempt: j.Attempt + 1, Retries: j.Retries, InstanceID: j.InstanceID,
		ElementID: j.ElementID, ProcessKey: j.DefinitionKey, Variables: vars, Headers: e.jobHeaders(ctx, j)}
	if job.Variables == nil {
		job.Variables = map[string]any{}
	}
	if j.LockedUntil != nil {
		job.Deadline = *j.LockedUntil
	}
	return job
}

// jobHeaders returns a copy of the static headers of a service job's task (nil when it
// has none), from the compiled plan of its definition, which is cached after the first
// look: a job of a task without headers costs a map lookup.
func (e *Engine) jobHeaders(ctx context.Context, j *store.Job) map[string]string {
	e.mu.RLock()
	p := e.plans[j.DefinitionID]
	e.mu.RUnlock()
	if p == nil {
		err := e.store.Read(ctx, func(tx store.Tx) error {
			var err error
			p, err = e.planFor(ctx, tx, j.DefinitionID)
			return err
		})
		if err != nil {
			e.log.Warn("job headers not read", "job", j.ID, "definition", j.DefinitionID, "err", err)
			return nil
		}
	}
	n := p.nodes[j.ElementID]
	if n == nil || len(n.headers) == 0 {
		return nil
	}
	return maps.Clone(n.headers)
}

func kindsFor(types []string) []string {
	if len(types) == 0 {
		return []string{store.JobTimer, store.JobTimerStart, store.JobSignal}
	}
	return nil
}

// runJob runs one locked job and records its outcome. The outcome is written with the
// job's own context detached from the executor's: a result we have is never dropped
// because the engine is stopping.
func (e *Engine) runJob(ctx context.Context, j *store.Job, vars map[string]any) {
	wctx := context.WithoutCancel(ctx)
	var err error
	switch j.Kind {
	case store.JobTimer:
		err = e.update(wctx, j.InstanceID, func(r *run) error {
			cur := r.jobs[j.ID]
			if cur == nil {
				return errStale // cancelled meanwhile (or the cached instance is behind)
			}
			if cur.LockOwner != e.opts.NodeID {
				return ErrLostLock
			}
			return r.fireTimer(cur)
		})
	case store.JobTimerStart:
		err = e.fireStartTimer(wctx, j)
	case store.JobSignal:
		err = e.runSignal(ctx, j)
	default:
		h := e.handler(j.Type)
		started := e.clock.Now()
		if h == nil {
			err = e.recordOutcome(ctx, j, nil, fmt.Errorf("no handler registered for job type %q", j.Type), started)
			break
		}
		hctx, cancel := context.WithTimeout(e.handlerCtx, e.opts.LockDuration)
		out, herr := callHandler(hctx, h, e.newJob(ctx, j, vars))
		cancel()
		herr = storableError(herr)
		if herr != nil && e.handlerCtx.Err() != nil {
			// Cut short by a forced stop: not the job's fault, so give it back unharmed.
			err = e.releaseJob(wctx, j, e.opts.NodeID)
			break
		}
		err = e.recordOutcome(ctx, j, out, herr, started)
	}
	if err != nil && !errors.Is(err, ErrLostLock) {
		e.log.Warn("job outcome not recorded", "job", j.ID, "type", j.Type, "instance", j.InstanceID, "err", err)
	}
}

// panicError carries a handler panic's stack into the incident details.
type panicError struct {
	msg   string
	stack string
}

func (p *panicError) Error() string   { return p.msg }
func (p *panicError) Details() string { return p.stack }

func callHandler(ctx context.Context, h Handler, job *Job) (out map[string]any, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			out, err = nil, &panicError{msg: fmt.Sprintf("handler panicked: %v", rec), stack: string(debug.Stack())}
		}
	}()
	return h(ctx, job)
}

// Writing a job's outcome. The outcome (completion or failed attempt) is a command like
// any other and can fail. The executor tries it outcomeAttempts times in all, waiting
// outcomeBackoff on the engine's clock before the second attempt and twice as long before
// each next one, never past the job's lock (the job is still ours to finish). Then:
//
//   - a transient failure (store.ErrUnavailable, store.ErrConflict beyond the command's own
//     retries, a timeout) leaves the job locked: when the lock expires it runs again, as
//     after a crash (jobs run at least once);
//   - any other failure is permanent: the store refuses what the outcome writes (a value
//     it cannot hold, a message it cannot store). Running the handler again would fail
//     the same way at every lock expiry, forever and unseen, so the job gets an incident
//     that names the failure and says the handler's result was not written. Retrying the
//     incident runs the handler again.
//
// A stop of the engine ends the waiting (the job is left to its lock expiry).
const (
	// outcomeAttempts is how many times the executor writes a job's outcome before it
	// gives up (transient failure) or opens an incident (permanent failure).
	outcomeAttempts = 4
	// outcomeBackoff is the wait before the second attempt; it doubles after each one
	// (0.5 s, 1 s, 2 s: well inside the default 5-minute lock).
	outcomeBackoff = 500 * time.Millisecond
)

// transientOutcomeError reports a failed outcome write that may succeed later.
func transientOutcomeError(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// recordOutcome writes a job's outcome (finishJob), retrying as described above. ctx is the
// executor's: when it ends, retries stop; the writes themselves run detached from it.
func (e *Engine) recordOutcome(ctx context.Context, j *store.Job, vars map[string]any, herr error, started time.Time) error {
	wctx := context.WithoutCancel(ctx)
	wait := outcomeBackoff
	var err error
	attempt := 1
	for ; ; attempt++ {
		err = e.finishJob(wctx, j, vars, herr, started)
		if err == nil || errors.Is(err, ErrLostLock) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrStopped) {
			return err
		}
		if attempt == outcomeAttempts || (j.LockedUntil != nil && !e.clock.Now().Add(wait).Before(*j.LockedUntil)) {
			break
		}
		e.log.Warn("job outcome not written, trying again", "job", j.ID, "type", j.Type, "instance", j.InstanceID,
			"attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("job outcome not written, engine stopping (the job runs again when its lock expires): %w", err)
		case <-e.clock.After(wait):
		}
		wait *= 2
	}
	if transientOutcomeError(err) {
		return fmt.Errorf("job outcome not written (the job runs again when its lock expires): %w", err)
	}
	e.log.Error("job outcome cannot be written, opening an incident", "job", j.ID, "type", j.Type, "instance", j.InstanceID, "err", err)
	oerr := &outcomeError{write: err, handler: herr, attempts: attempt}
	ierr := e.update(wctx, j.InstanceID, func(r *run) error {
		cur := r.jobs[j.ID]
		if cur == nil {
			return fmt.Errorf("job %q is gone (instance cancelled or moved on): %w", j.ID, ErrNotFound)
		}
		if cur.LockOwner != e.opts.NodeID {
			return ErrLostLock
		}
		cur.Retries = 1 // this attempt is the last: failJob opens the incident
		return r.failJob(cur, oerr, started)
	})
	if ierr != nil {
		return fmt.Errorf("job outcome not written (%v), nor its incident: %w", err, ierr)
	}
	return nil
}

// outcomeError is the failed attempt recorded when a job's outcome cannot be written: its
// message names the write's failure, its details what the handler had returned.
type outcomeError struct {
	write    error // the last failed write
	handler  error // the handler's error; nil: it completed
	attempts int
}

func (o *outcomeError) Error() string {
	return store.StorableText(fmt.Sprintf("the job's outcome could not be written (%d attempts), so the handler's result was not written: %v",
		o.attempts, o.write))
}

func (o *outcomeError) Details() string {
	if o.handler == nil {
		return "The handler completed the job, but its result (the variables it returned and the move to the next " +
			"element) could not be stored. Retrying this incident runs the handler again."
	}
	d := "The handler failed the job with: " + o.handler.Error()
	var det detailer
	if errors.As(o.handler, &det) {
		d += "\n\n" + det.Details()
	}
	return d + "\n\nThat failure could not be recorded as a failed attempt. Retrying this incident runs the handler again."
}

// storableError returns a handler's error with text every store can hold: PostgreSQL
// refuses a NUL byte and invalid UTF-8 in text and jsonb, SQLite would keep them, so a
// failure the handler reports is recorded alike on both (bytes replaced by U+FFFD).
func storableError(herr error) error {
	if herr == nil {
		return nil
	}
	var be *BPMNError
	if errors.As(herr, &be) {
		if storable(be.Code) && storable(be.Message) {
			return herr
		}
		return &BPMNError{Code: store.StorableText(be.Code), Message: store.StorableText(be.Message)}
	}
	msg := herr.Error()
	var d detailer
	details := ""
	if errors.As(herr, &d) {
		details = d.Details()
	}
	if storable(msg) && storable(details) {
		return herr
	}
	return &cleanError{msg: store.StorableText(msg), details: store.StorableText(details)}
}

// cleanError is a handler error whose text was made storable.
type cleanError struct{ msg, details string }

func (c *cleanError) Error() string   { return c.msg }
func (c *cleanError) Details() string { return c.details }

func storable(s string) bool { return store.StorableText(s) == s }

// finishJob completes or fails a job; started is when its handler began.
func (e *Engine) finishJob(ctx context.Context, j *store.Job, vars map[string]any, herr error, started time.Time) error {
	outcome := func(r *run) error {
		cur := r.jobs[j.ID]
		if cur == nil {
			return fmt.Errorf("job %q is gone (instance cancelled or moved on): %w", j.ID, ErrNotFound)
		}
		if cur.LockOwner != e.opts.NodeID {
			return ErrLostLock
		}
		if herr != nil {
			return r.failJob(cur, herr, started)
		}
		return r.completeJob(cur, vars, started)
	}
	err := e.update(ctx, j.InstanceID, outcome)
	if herr == nil && errors.Is(err, ErrInvalidInput) {
		// The handler returned variables that cannot be stored: that is a failed attempt.
		// It is recorded on a fresh run: the completion's run has already dropped the job
		// and written job.completed.
		herr = fmt.Errorf("handler result: %w", err)
		err = e.update(ctx, j.InstanceID, outcome)
	}
	return err
}

// releaseJob unlocks a job owner holds, without counting an attempt.
func (e *Engine) releaseJob(ctx context.Context, j *store.Job, owner string) error {
	return e.update(ctx, j.InstanceID, func(r *run) error {
		cur := r.jobs[j.ID]
		if cur == nil || cur.LockOwner != owner {
			return nil
		}
		cur.LockOwner, cur.LockedUntil = "", nil
		r.putJob(cur)
		return nil
	})
}

// fireStartTimer starts an instance for a timer start event and schedules the next one.
func (e *Engine) fireStartTimer(ctx context.Context, j *store.Job) error {
	return e.exec(ctx, func(b *batch) (bool, error) {
		tx := b.tx
		cur, err := tx.GetJob(ctx, j.ID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil // replaced by a newer deployment
		}
		if err != nil {
			return false, err
		}
		if cur.LockOwner != e.opts.NodeID {
			return false, ErrLostLock
		}
		p, err := e.planFor(ctx, tx, cur.DefinitionID)
		if err != nil {
			return false, err
		}
		// The job is deleted first, and only rewritten if that deleted it: a deployment
		// may have replaced it since it was read (on another node, or in the transaction
		// PostgreSQL's commit pipeline is committing), and an upsert would bring the old
		// version's timer back for good. A conflict re-runs the command, which then finds
		// the job gone and starts nothing.
		if err := tx.DeleteJob(ctx, cur.ID); errors.Is(err, store.ErrNotFound) {
			return false, fmt.Errorf("timer start job %q was replaced meanwhile: %w", cur.ID, store.ErrConflict)
		} else if err != nil {
			return false, err
		}
		n := p.nodes[cur.ElementID]
		if n == nil {
			return false, nil
		}
		r, err := e.startRun(ctx, b, p, n, "", nil)
		if err != nil {
			return false, err
		}
		if cur.Repeat == "" {
			return r.wake, nil
		}
		nr := e.newRun(ctx, b, p)
		nr.rescheduleCycle(cur)
		if nr.delJobs[cur.ID] {
			return r.wake, nil
		}
		return true, tx.PutJob(ctx, cur)
	})
}
