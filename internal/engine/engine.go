// Package engine runs BPMN 2.0 processes: deployments, instances, jobs, timers,
// messages, retries, incidents and history, on any store.Store.
//
// Every command (start, complete a job, correlate a message, retry an incident ...) loads
// the instance, moves its tokens until each one waits, and writes the result with its
// history events in one transaction guarded by the instance version. Commands from many
// goroutines are group-committed: one committer goroutine runs whatever is pending in a
// single store transaction, each command inside its own savepoint, so one failing command
// never undoes another and a busy engine pays for one commit per batch, not per command.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/schedule"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/google/uuid"
)

// Options configure an Engine. Zero values take the documented defaults.
type Options struct {
	Store  store.Store
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
	NodeID string       // lock owner name; default a random id
	// Workers bounds how many job handlers run at once (default 64: handlers mostly wait
	// on other services, and each waiting handler is only a goroutine).
	Workers int
	// BatchSize is how many jobs one fetch locks at most (default 128).
	BatchSize int
	// LockDuration is how long a fetched job stays locked before another worker may
	// take it (default 5 minutes). A handler that runs longer may run twice.
	LockDuration time.Duration
	// MaxCommandsPerTx bounds the group commit (default 256).
	MaxCommandsPerTx int
	// CachedInstances is how many recently written instances are kept in memory so a
	// command need not read its instance back (default 10,000; negative: none).
	CachedInstances int
	// DefaultRetries for service tasks without their own setting (default 3).
	DefaultRetries int
	// DefaultBackoff is the retry policy for tasks without one (default "R3/PT10S").
	DefaultBackoff string
	// IdlePoll is the longest the executor sleeps without a wake-up (default 1 minute);
	// wake-ups come from commits in this process, the poll catches other writers.
	IdlePoll time.Duration
	// OnCommit, when set, is called after every commit with the history events it wrote,
	// in commit order. It runs on the committer goroutine: keep it short and never call
	// back into the engine from it (hand the events to a channel instead).
	OnCommit func(events []*store.Event)

	defaultBackoff schedule.Backoff
}

// Engine runs processes. Create it with New, register handlers, then Start it.
// Commands and queries work before Start; jobs run only while started.
type Engine struct {
	opts  Options
	store store.Store
	clock clock.Clock
	log   *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler
	plans    map[string]*plan      // by definition id
	latest   map[string]latestPlan // by process key (see startPlan)

	cmds chan *command
	wake chan struct{}

	lifeMu        sync.Mutex
	running       bool
	cancel        context.CancelFunc
	handlerCtx    context.Context
	handlerCancel context.CancelFunc
	done          chan struct{}
	stopped       chan struct{} // closed when the committer has exited

	busy sync.WaitGroup // in-flight handlers
	// jobsRunning counts the jobs in flight and busyNanos the time finished ones took
	// (ExecutorStats).
	jobsRunning atomic.Int64
	busyNanos   atomic.Int64

	// sem holds a token per job in flight (fetched or pushed); see push.go for pushCh,
	// the push fields and pushed (the jobs the batch being committed locked for us).
	sem         chan struct{}
	pushCh      chan pushedJob
	pushMu      sync.Mutex
	pushOpen    bool
	pushPending int
	pushed      []pushedJob
	// dueHint is the earliest due time (unix nanos, 0: none) of jobs written to be due
	// later since the executor last looked; dueCh signals it (noteDue).
	dueHint atomic.Int64
	dueCh   chan struct{}

	// pending collects the events of the batch being committed (committer goroutine only).
	pending []*store.Event
	// cache holds recently written instances (committer goroutine only). On a shared
	// store an entry may be stale; see update.
	cache *instanceCache
	// exclusive: no other process writes the store (store.Exclusive).
	exclusive bool
	// notifier tells other nodes about new work; stopNotify unregisters our listener.
	notifier   store.Notifier
	stopNotify func()
}

// New creates an engine on a store.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("engine: Options.Store is required: %w", ErrInvalidInput)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NodeID == "" {
		opts.NodeID = "node-" + uuid.NewString()[:8]
	}
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 128
	}
	if opts.LockDuration <= 0 {
		opts.LockDuration = 5 * time.Minute
	}
	if opts.MaxCommandsPerTx <= 0 {
		opts.MaxCommandsPerTx = 256
	}
	if opts.CachedInstances == 0 {
		opts.CachedInstances = 10000
	}
	if opts.DefaultRetries <= 0 {
		opts.DefaultRetries = 3
	}
	if opts.DefaultBackoff == "" {
		opts.DefaultBackoff = "R3/PT10S"
	}
	if opts.IdlePoll <= 0 {
		opts.IdlePoll = time.Minute
	}
	b, err := schedule.ParseBackoff(opts.DefaultBackoff)
	if err != nil {
		return nil, fmt.Errorf("engine: default backoff: %w", err)
	}
	opts.defaultBackoff = b
	e := &Engine{
		opts:     opts,
		store:    opts.Store,
		clock:    opts.Clock,
		log:      opts.Logger,
		handlers: map[string]Handler{},
		plans:    map[string]*plan{},
		latest:   map[string]latestPlan{},
		cmds:     make(chan *command, 1024),
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, opts.Workers),
		pushCh:   make(chan pushedJob, opts.Workers),
		dueCh:    make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	if ex, ok := opts.Store.(store.Exclusive); ok && ex.Exclusive() {
		e.exclusive = true
	}
	if opts.CachedInstances > 0 {
		e.cache = newInstanceCache(opts.CachedInstances)
	}
	if n, ok := opts.Store.(store.Notifier); ok {
		e.notifier = n
	}
	go e.commitLoop()
	return e, nil
}

// Store returns the store the engine writes to, for wiring the parts that share it (the
// outbox relay, the metrics projector, the stall detector, the command service) and for
// tests. The UI and the JSON API read through the query API instead (query.go, admin.go).
func (e *Engine) Store() store.Store { return e.store }

// Clock returns the engine's clock.
func (e *Engine) Clock() clock.Clock { return e.clock }

// Start runs the job executor (service jobs and timers) until Stop or ctx ends.
func (e *Engine) Start(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.running {
		return fmt.Errorf("engine already started: %w", ErrInvalidState)
	}
	select {
	case <-e.stopped:
		return ErrStopped
	default:
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.cancel = cancel
	// Handlers get a context of their own: stopping the engine lets them finish, and
	// cancels them only when Stop's own deadline passes.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	e.handlerCtx, e.handlerCancel = hctx, hcancel
	e.done = make(chan struct{})
	e.running = true
	e.openPush()
	if e.notifier != nil {
		e.stopNotify = e.notifier.OnWork(e.signal)
	}
	go func() {
		defer close(e.done)
		e.executorLoop(ctx)
	}()
	e.log.Info("engine started", "node", e.opts.NodeID, "workers", e.opts.Workers, "store", e.store.Dialect())
	return nil
}

// Stop stops fetching jobs, waits for running handlers to finish and their results to
// be written (or ctx to end), then stops the committer. The engine cannot be restarted.
func (e *Engine) Stop(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	var stopErr error
	if e.running {
		if e.stopNotify != nil {
			e.stopNotify()
		}
		e.cancel()
		select {
		case <-e.done:
		case <-ctx.Done():
			// Out of patience: cancel the handlers (their jobs are released, not failed)
			// and wait for them to return.
			stopErr = fmt.Errorf("stop engine: handlers still running: %w", ctx.Err())
			e.handlerCancel()
			<-e.done
		}
		e.handlerCancel()
		e.running = false
	}
	select {
	case <-e.stopped:
		return nil
	default:
	}
	// Commands still queued are finished before the committer exits.
	e.cmds <- &command{stop: true}
	<-e.stopped // the committer finishes what is queued; each command is short
	return stopErr
}

// command is one unit of work for the committer. fn runs inside the batch transaction
// under its own savepoint; after runs once the batch has committed.
type command struct {
	ctx context.Context
	// fn reports whether it created work that is due now, so the executor looks again.
	fn   func(tx store.Tx) (wake bool, err error)
	res  chan error
	stop bool
}

// exec runs fn in the next group-committed transaction and waits for the commit.
// A conflict (another node moved the instance) re-runs fn on fresh state.
func (e *Engine) exec(ctx context.Context, fn func(tx store.Tx) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		c := &command{ctx: ctx, fn: fn, res: make(chan error, 1)}
		select {
		case <-e.stopped:
			return ErrStopped
		case e.cmds <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		select {
		case err = <-c.res:
		case <-ctx.Done():
			// The command may still commit; the caller cannot know. Same as a lost reply.
			return ctx.Err()
		}
		if errors.Is(err, store.ErrConflict) && attempt < 10 {
			continue
		}
		return err
	}
}

// flight is a batch of commands that have run, and whose transaction commits (or has
// committed) on its own goroutine.
type flight struct {
	batch   []*command
	results []error
	wakes   []bool
	events  []*store.Event
	pushed  []pushedJob
	staged  int // how many cache entries it staged: a prefix of the cache's staged list
	began   time.Time
	done    chan error
}

// commitLoop group-commits the queued commands. On a shared store (PostgreSQL) it is a
// two-stage pipeline: while one batch's transaction commits, the next batch's commands
// already run in Go on their own transaction, whose writes wait for the commit-order lock
// on the server. The next batch runs on the state the first one wrote (the cache holds it
// staged); if the first fails, the version checks fail the second too, and both are
// re-run. At most two batches are in flight, and batches finish (cache, OnCommit,
// replies) in order. On an exclusive store (SQLite: one writer) batches run one after
// the other.
func (e *Engine) commitLoop() {
	defer close(e.stopped)
	var inflight *flight
	for {
		var first *command
		if inflight != nil {
			select {
			case first = <-e.cmds:
			case err := <-inflight.done:
				e.finish(inflight, err, nil)
				inflight = nil
				continue
			}
		} else {
			first = <-e.cmds
		}
		batch := []*command{first}
		stop := first.stop
	fill:
		for !stop && len(batch) < e.opts.MaxCommandsPerTx {
			select {
			case c := <-e.cmds:
				batch = append(batch, c)
				stop = c.stop
			default:
				break fill
			}
		}
		f := e.launch(batch)
		if inflight != nil {
			if e.finish(inflight, <-inflight.done, f) {
				f = nil // finish waited for it and finished it too
			}
		}
		inflight = f
		if e.exclusive && inflight != nil {
			e.finish(inflight, <-inflight.done, nil)
			inflight = nil
		}
		if stop {
			if inflight != nil {
				e.finish(inflight, <-inflight.done, nil)
			}
			// Drain what raced in behind the stop marker so no caller waits forever.
			for {
				select {
				case c := <-e.cmds:
					if !c.stop {
						c.res <- ErrStopped
					}
				default:
					return
				}
			}
		}
	}
}

// commitBatch runs a batch and waits for its commit (no pipelining).
func (e *Engine) commitBatch(batch []*command) {
	f := e.launch(batch)
	e.finish(f, <-f.done, nil)
}

// launch runs the batch's commands in a new transaction and returns once they have run;
// the transaction commits on its own goroutine, reporting on f.done.
func (e *Engine) launch(batch []*command) *flight {
	f := &flight{batch: batch, results: make([]error, len(batch)), wakes: make([]bool, len(batch)),
		began: time.Now(), // wall time on purpose: this measures the database, not the process's clock
		done:  make(chan error, 1)}
	e.pending = e.pending[:0]
	e.pushed = e.pushed[:0]
	cmark := e.cacheMark()
	ran := make(chan struct{})
	go func() {
		var once sync.Once
		ranDone := func() {
			once.Do(func() {
				// The batch's bookkeeping moves to its flight; the next batch starts afresh.
				f.events = slices.Clone(e.pending)
				f.pushed = slices.Clone(e.pushed)
				f.staged = e.cacheMark() - cmark
				close(ran)
			})
		}
		err := e.store.Write(context.Background(), func(tx store.Tx) error {
			defer ranDone()
			return e.runCommands(tx, f)
		})
		ranDone() // Write failed before running them (no connection)
		f.done <- err
	}()
	<-ran
	return f
}

// runCommands runs a batch's commands in tx, each under a savepoint (one alone needs none).
func (e *Engine) runCommands(tx store.Tx, f *flight) error {
	for i, c := range f.batch {
		mark, pmark := len(e.pending), len(e.pushed)
		cmark := e.cacheMark()
		if c.stop {
			continue
		}
		if c.ctx != nil && c.ctx.Err() != nil {
			f.results[i] = c.ctx.Err()
			continue
		}
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		if len(f.batch) == 1 {
			f.wakes[i], f.results[i] = c.fn(tx)
			if f.results[i] != nil {
				e.pending = e.pending[:mark]
				e.voidPushed(pmark)
				e.cacheRollback(cmark)
				return errSingleFailed
			}
			continue
		}
		if err := tx.Savepoint(ctx, "cmd"); err != nil {
			return err
		}
		if f.wakes[i], f.results[i] = c.fn(tx); f.results[i] != nil {
			e.pending = e.pending[:mark]
			e.voidPushed(pmark)
			e.cacheRollback(cmark)
			if err := tx.RollbackTo(ctx, "cmd"); err != nil {
				return err
			}
		}
		if err := tx.Release(ctx, "cmd"); err != nil {
			return err
		}
	}
	return nil
}

// finish completes a flight whose transaction ended with err: the cache, pushed jobs,
// OnCommit, the callers' replies, wake-ups. next is the flight launched after it, still
// in flight, or nil. When the batch failed as a whole, its commands are re-run one by one
// after next has finished (next ran on this batch's state); finish then reports true:
// it has finished next too.
func (e *Engine) finish(f *flight, err error, next *flight) (finishedNext bool) {
	batch := f.batch
	if errors.Is(err, errSingleFailed) {
		err = nil // the only command failed; its own error is in results
	}
	if err != nil {
		e.log.Error("commit failed", "commands", len(batch), "store", e.store.Dialect(), "err", err)
	} else if took := time.Since(f.began); took > slowCommit {
		e.log.Warn("slow commit", "commands", len(batch), "took", took, "store", e.store.Dialect())
	}
	if e.cache != nil {
		e.cache.finishFirst(f.staged, err == nil)
	}
	e.answerPushed(f.pushed, err == nil)
	if err != nil && countCommands(batch) > 1 {
		// The batch's transaction failed as a whole (a store that sends writes at commit
		// reports a stale instance there, or the database failed). Nothing of it was kept:
		// run each command again in a transaction of its own, so that one bad command
		// cannot fail the others, now or in every batch it joins.
		e.log.Warn("batch failed, running its commands one by one", "commands", len(batch), "err", err)
		if next != nil {
			e.finish(next, <-next.done, nil)
			finishedNext = true
		}
		for _, c := range batch {
			if !c.stop {
				e.commitBatch([]*command{c})
			}
		}
		return finishedNext
	}
	if err == nil && e.opts.OnCommit != nil && len(f.events) > 0 {
		e.opts.OnCommit(f.events)
	}
	wake := false
	for i, c := range batch {
		if c.stop {
			continue
		}
		r := f.results[i]
		if err != nil && r == nil {
			r = fmt.Errorf("commit: %w", err)
		}
		if r == nil && f.wakes[i] {
			wake = true
		}
		c.res <- r
	}
	if wake {
		e.signal()
		if e.notifier != nil {
			e.notifier.NotifyWork()
		}
	}
	return false
}

var errSingleFailed = errors.New("single command failed")

func countCommands(batch []*command) int {
	n := 0
	for _, c := range batch {
		if !c.stop {
			n++
		}
	}
	return n
}

// slowCommit is when a batch's transaction is logged as slow.
const slowCommit = 500 * time.Millisecond

func (e *Engine) cacheMark() int {
	if e.cache == nil {
		return 0
	}
	return e.cache.mark()
}

func (e *Engine) cacheRollback(mark int) {
	if e.cache != nil {
		e.cache.rollback(mark)
	}
}

// signal wakes the executor without blocking.
func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// planFor returns the compiled plan of a definition, loading and compiling it once.
func (e *Engine) planFor(ctx context.Context, tx store.Tx, definitionID string) (*plan, error) {
	e.mu.RLock()
	p := e.plans[definitionID]
	e.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	def, err := tx.GetDefinition(ctx, definitionID)
	if err != nil {
		return nil, fmt.Errorf("load definition %q: %w", definitionID, err)
	}
	defs, err := bpmn.ParseBytes(def.XML)
	if err != nil {
		return nil, fmt.Errorf("parse definition %q: %w", definitionID, err)
	}
	proc := findProcess(defs, def.Key)
	if proc == nil {
		return nil, fmt.Errorf("definition %q has no process %q: %w", definitionID, def.Key, ErrNotFound)
	}
	p, problems := compileProcess(def, defs, proc, &e.opts)
	if len(problems) > 0 {
		return nil, &DeployError{Resource: def.Resource, Err: &bpmn.CheckError{Processes: []bpmn.ProcessReport{
			{ID: proc.ID, Name: proc.Name, IsExecutable: proc.IsExecutable, Problems: problems}}}}
	}
	e.mu.Lock()
	e.plans[definitionID] = p
	e.mu.Unlock()
	return p, nil
}

func findProcess(defs *bpmn.Definitions, id string) *bpmn.Process {
	for _, p := range defs.Processes {
		if p.ID == id {
			return p
		}
	}
	return nil
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }
