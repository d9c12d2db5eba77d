// Package engine runs BPMN 2.0 processes: deployments, instances, jobs, timers,
// messages, retries, incidents and history, on any store.Store.
//
// Every command (start, complete a job, correlate a message, retry an incident ...) loads
// the instance, moves its tokens until each one waits, and writes the result with its
// history events in one transaction guarded by the instance version. Commands from many
// goroutines are group-committed: the committer (committer.go) runs whatever is pending
// in a single store transaction, each command inside its own savepoint, so one failing
// command never undoes another and a busy engine pays for one commit per batch, not per
// command. A command is a function of its batch (batch.go): the transaction, the
// instance cache, the jobs it pushes to the executor, the events it wrote; the committer
// settles them when the transaction ends, and re-runs the commands of a batch that
// failed as a whole one by one.
package engine

import (
	"context"
	"fmt"
	"log/slog"
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
	// OnDeploy, when set, is called after a deployment committed, with the definitions it
	// created (not called when it created none: the same bytes deployed again). It runs
	// on the deploying goroutine: keep it short (the model publisher queues them).
	OnDeploy func(defs []*store.Definition)

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

	// com group-commits the commands (committer.go).
	com  *committer
	wake chan struct{}
	// jobsCh is closed (and replaced) when jobs may have become due for others than this
	// node's handlers: activations of external workers wait on it (workers.go).
	jobsMu sync.Mutex
	jobsCh chan struct{}
	// workers are the external workers that asked this node for jobs.
	workers workerTable

	lifeMu        sync.Mutex
	running       bool
	cancel        context.CancelFunc
	handlerCtx    context.Context
	handlerCancel context.CancelFunc
	done          chan struct{}

	busy sync.WaitGroup // in-flight handlers
	// jobsRunning counts the jobs in flight and busyNanos the time finished ones took
	// (ExecutorStats).
	jobsRunning atomic.Int64
	busyNanos   atomic.Int64

	// sem holds a token per job in flight (fetched or pushed); see push.go for pushCh
	// and the push fields (the committer answers each reservation on pushCh).
	sem         chan struct{}
	pushCh      chan pushedJob
	pushMu      sync.Mutex
	pushOpen    bool
	pushPending int
	// dueHint is the earliest due time (unix nanos, 0: none) of jobs written to be due
	// later since the executor last looked; dueCh signals it (noteDue).
	dueHint atomic.Int64
	dueCh   chan struct{}

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
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, opts.Workers),
		pushCh:   make(chan pushedJob, opts.Workers),
		dueCh:    make(chan struct{}, 1),
	}
	if ex, ok := opts.Store.(store.Exclusive); ok && ex.Exclusive() {
		e.exclusive = true
	}
	if n, ok := opts.Store.(store.Notifier); ok {
		e.notifier = n
	}
	e.com = newCommitter(e)
	go e.com.loop()
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
	case <-e.com.stopped:
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
	// Commands still queued are finished before the committer exits.
	e.com.stop()
	return stopErr
}

// exec runs fn as a command of the next group commit and waits for the commit (see
// committer.exec).
func (e *Engine) exec(ctx context.Context, fn func(b *batch) (bool, error)) error {
	return e.com.exec(ctx, fn)
}

// signal wakes the executor without blocking.
func (e *Engine) signal() {
	e.broadcastJobs()
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
