package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The committer. Every command (see Engine.exec) is a function of a *batch that runs
// inside a group-committed store transaction. One goroutine (loop) takes whatever is
// queued, up to MaxCommandsPerTx commands, and runs them in one transaction, each inside
// its own savepoint (one alone needs none): a failing command rolls back to its
// savepoint and leaves the others alone, and a busy engine pays for one commit per batch.
//
// A command touches only its batch (batch.go): the transaction, the instance cache
// (lookups see what earlier commands of this and the previous batch staged), the jobs it
// pushes to this node's executor, the events it wrote. The committer owns what a batch
// leaves behind and settles it when the transaction ends, in batch order:
//
//   - committed: the staged cache writes are applied, the pushed jobs are handed to the
//     executor, OnCommit gets the events, each caller its reply, the executor a wake-up;
//   - failed as a whole: the staged cache writes are dropped (the entries they touched
//     evicted), every pushed-job reservation is answered void, and, when the batch had
//     more than one command, each command is run again in a transaction of its own, so
//     one bad command (or a store that failed the commit) cannot fail the others. Each
//     caller gets exactly one reply: its command's, from the batch or from its re-run.
//
// Pipeline. On a shared store (PostgreSQL) the committer has two batches in flight: while
// one batch's transaction commits on its own goroutine, the next batch's commands already
// run on a second transaction, on the state the first staged in the cache; their writes
// reach the server at their commit, after the first's. If the first fails, the second
// (built on it) fails its version checks, so it is finished first, then the first's
// commands are re-run one by one. On an exclusive store (SQLite: one writer) batches run
// one after the other. Commands never run concurrently: one batch runs its commands at a
// time, so the cache and the batch's bookkeeping need no lock.
type committer struct {
	store     store.Store
	log       *slog.Logger
	exclusive bool // store.Exclusive: no pipeline, the cache is always current
	max       int  // Options.MaxCommandsPerTx
	onCommit  func(events []*store.Event)
	// wake is called after a commit that left work due now (the executor, other nodes).
	wake func()

	cmds    chan *command
	stopped chan struct{} // closed when loop has exited

	// cache holds recently written instances; nil: none (Options.CachedInstances < 0).
	cache *instanceCache
	// b is the batch whose commands run now; a launch resets it and, once the commands
	// have run, moves its events and pushed jobs to the batch's flight.
	b batch
}

func newCommitter(e *Engine) *committer {
	c := &committer{
		store: e.store, log: e.log, exclusive: e.exclusive, max: e.opts.MaxCommandsPerTx,
		onCommit: e.opts.OnCommit,
		wake: func() {
			e.signal()
			if e.notifier != nil {
				e.notifier.NotifyWork()
			}
		},
		cmds:    make(chan *command, 1024),
		stopped: make(chan struct{}),
	}
	if e.opts.CachedInstances > 0 {
		c.cache = newInstanceCache(e.opts.CachedInstances)
	}
	c.b = batch{cache: c.cache, pushCh: e.pushCh}
	return c
}

// command is one unit of work for the committer. fn runs inside the batch transaction
// under its own savepoint; its caller gets the result on res once the batch has committed.
type command struct {
	ctx context.Context
	// fn reports whether it created work that is due now, so the executor looks again.
	fn   func(b *batch) (wake bool, err error)
	res  chan error
	stop bool
}

// exec runs fn in the next group-committed transaction and waits for the commit.
// A conflict (another node moved the instance) re-runs fn on fresh state.
func (c *committer) exec(ctx context.Context, fn func(b *batch) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		cmd := &command{ctx: ctx, fn: fn, res: make(chan error, 1)}
		select {
		case <-c.stopped:
			return ErrStopped
		case c.cmds <- cmd:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		select {
		case err = <-cmd.res:
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

// stop finishes the queued commands and ends loop. Calls after the first return at once.
func (c *committer) stop() {
	select {
	case <-c.stopped:
		return
	default:
	}
	c.cmds <- &command{stop: true}
	<-c.stopped // the committer finishes what is queued; each command is short
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

// loop group-commits the queued commands, as a two-stage pipeline on a shared store and
// one batch after the other on an exclusive one (see committer). Batches finish (cache,
// pushed jobs, OnCommit, replies) in order.
func (c *committer) loop() {
	defer close(c.stopped)
	var inflight *flight
	for {
		var first *command
		if inflight != nil {
			select {
			case first = <-c.cmds:
			case err := <-inflight.done:
				c.finish(inflight, err, nil)
				inflight = nil
				continue
			}
		} else {
			first = <-c.cmds
		}
		batch := []*command{first}
		stop := first.stop
	fill:
		for !stop && len(batch) < c.max {
			select {
			case cmd := <-c.cmds:
				batch = append(batch, cmd)
				stop = cmd.stop
			default:
				break fill
			}
		}
		f := c.launch(batch)
		if inflight != nil {
			if c.finish(inflight, <-inflight.done, f) {
				f = nil // finish waited for it and finished it too
			}
		}
		inflight = f
		if c.exclusive && inflight != nil {
			c.finish(inflight, <-inflight.done, nil)
			inflight = nil
		}
		if stop {
			if inflight != nil {
				c.finish(inflight, <-inflight.done, nil)
			}
			// Drain what raced in behind the stop marker so no caller waits forever.
			for {
				select {
				case cmd := <-c.cmds:
					if !cmd.stop {
						cmd.res <- ErrStopped
					}
				default:
					return
				}
			}
		}
	}
}

// commitBatch runs a batch and waits for its commit (no pipelining).
func (c *committer) commitBatch(batch []*command) {
	f := c.launch(batch)
	c.finish(f, <-f.done, nil)
}

// launch runs the batch's commands in a new transaction and returns once they have run;
// the transaction commits on its own goroutine, reporting on f.done.
func (c *committer) launch(batch []*command) *flight {
	f := &flight{batch: batch, results: make([]error, len(batch)), wakes: make([]bool, len(batch)),
		began: time.Now(), // wall time on purpose: this measures the database, not the process's clock
		done:  make(chan error, 1)}
	b := &c.b
	b.events = b.events[:0]
	b.pushed = b.pushed[:0]
	cmark := b.cacheMark()
	ran := make(chan struct{})
	go func() {
		var once sync.Once
		ranDone := func() {
			once.Do(func() {
				// The batch's bookkeeping moves to its flight; the next batch starts afresh.
				f.events = slices.Clone(b.events)
				f.pushed = slices.Clone(b.pushed)
				f.staged = b.cacheMark() - cmark
				b.tx = nil
				close(ran)
			})
		}
		err := c.store.Write(context.Background(), func(tx store.Tx) error {
			defer ranDone()
			b.tx = tx
			return c.runCommands(b, f)
		})
		ranDone() // Write failed before running them (no connection)
		f.done <- err
	}()
	<-ran
	return f
}

// runCommands runs a batch's commands, each under a savepoint (one alone needs none).
func (c *committer) runCommands(b *batch, f *flight) error {
	tx := b.tx
	for i, cmd := range f.batch {
		if cmd.stop {
			continue
		}
		if cmd.ctx != nil && cmd.ctx.Err() != nil {
			f.results[i] = cmd.ctx.Err()
			continue
		}
		ctx := cmd.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		m := b.mark()
		if len(f.batch) == 1 {
			f.wakes[i], f.results[i] = cmd.fn(b)
			if f.results[i] != nil {
				b.undo(m)
				return errSingleFailed
			}
			continue
		}
		if err := tx.Savepoint(ctx, "cmd"); err != nil {
			return err
		}
		if f.wakes[i], f.results[i] = cmd.fn(b); f.results[i] != nil {
			b.undo(m)
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
func (c *committer) finish(f *flight, err error, next *flight) (finishedNext bool) {
	batch := f.batch
	if errors.Is(err, errSingleFailed) {
		err = nil // the only command failed; its own error is in results
	}
	if err != nil {
		c.log.Error("commit failed", "commands", len(batch), "store", c.store.Dialect(), "err", err)
	} else if took := time.Since(f.began); took > slowCommit {
		c.log.Warn("slow commit", "commands", len(batch), "took", took, "store", c.store.Dialect())
	}
	if c.cache != nil {
		c.cache.finishFirst(f.staged, err == nil)
	}
	answerPushed(c.b.pushCh, f.pushed, err == nil)
	if err != nil && next != nil {
		// next ran on the state this batch staged, which is gone: finish it first (its
		// version checks fail where it built on this batch), so that no command of this
		// batch, re-run here or retried by its caller, reads what next staged. A retry
		// that read it found the instance as the failed batch left it: a job outcome
		// found its job gone and was dropped.
		c.finish(next, <-next.done, nil)
		finishedNext = true
	}
	if err != nil && countCommands(batch) > 1 {
		// The batch's transaction failed as a whole (a store that sends writes at commit
		// reports a stale instance there, or the database failed). Nothing of it was kept:
		// run each command again in a transaction of its own, so that one bad command
		// cannot fail the others, now or in every batch it joins.
		c.log.Warn("batch failed, running its commands one by one", "commands", len(batch), "err", err)
		for _, cmd := range batch {
			if !cmd.stop {
				c.commitBatch([]*command{cmd})
			}
		}
		return finishedNext
	}
	if err == nil && c.onCommit != nil && len(f.events) > 0 {
		c.onCommit(f.events)
	}
	wake := false
	for i, cmd := range batch {
		if cmd.stop {
			continue
		}
		r := f.results[i]
		if err != nil && r == nil {
			r = fmt.Errorf("commit: %w", err)
		}
		if r == nil && f.wakes[i] {
			wake = true
		}
		cmd.res <- r
	}
	if wake {
		c.wake()
	}
	return finishedNext
}

var errSingleFailed = errors.New("single command failed")

func countCommands(batch []*command) int {
	n := 0
	for _, cmd := range batch {
		if !cmd.stop {
			n++
		}
	}
	return n
}

// slowCommit is when a batch's transaction is logged as slow.
const slowCommit = 500 * time.Millisecond
