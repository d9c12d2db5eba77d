package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// LeaseName is the store lease the projector holds while it folds history: one node of
// a cluster projects at a time.
const LeaseName = "metrics"

// ProjectorOptions configure a Projector. Zero values take the documented defaults.
type ProjectorOptions struct {
	Store store.Store
	// Owner names this node in the lease (default a random id; the app passes the
	// engine's node id).
	Owner string
	// BatchSize is how many events one write folds at most (default 1000).
	BatchSize int
	// Debounce is how long the projector waits after a Notify before it reads, so a
	// burst of commits is one batch (default 250ms).
	Debounce time.Duration
	// Poll is the longest it sleeps without a Notify (default 5s): it picks up commits
	// of other nodes and retries after a failure.
	Poll time.Duration
	// LeaseTTL is how long the lease is taken for (default leadership.DefaultTTL, 5s),
	// renewed every third of it (package leadership).
	LeaseTTL time.Duration
	// PruneEvery is how often the lease holder deletes minute rows older than
	// MinuteRetention and hour rows older than HourRetention (default 10m).
	PruneEvery time.Duration
	Clock      clock.Clock  // default clock.Real
	Logger     *slog.Logger // default slog.Default()
}

// Projector folds the history into rollup rows. Create it with NewProjector, call
// Observe (or Notify) after commits (engine.Options.OnCommit), Start it and Stop it.
//
// Events its own engine committed are folded from memory (Observe keeps them) once a
// count of the seq range in the store shows that they are the whole history of that
// range; otherwise (other nodes write too, or the queue overflowed) the batch is read
// from the store. Reading history back was four fifths of the projector's cost.
//
// Invariants:
//   - The rows and the cursor move together, in one write transaction: a batch counts
//     once, whatever crashes when.
//   - Only the holder of the "metrics" lease writes: a batch runs under the lease's term
//     (leadership.Elector.Lead) and is cancelled when the lease is lost; a batch written
//     by a projector that lost the lease meanwhile fails the cursor check
//     (store.ErrConflict) and is dropped.
//   - Events are folded in seq order, which is commit order, so none is skipped.
type Projector struct {
	opts   ProjectorOptions
	log    *slog.Logger
	el     *leadership.Elector
	run    startstop.Runner
	notify chan struct{}

	// queue holds events handed to Observe, in commit order, while this projector leads.
	qmu   sync.Mutex
	queue []*store.Event

	fromMemory atomic.Uint64 // events folded from Observe, not read back
	folded     atomic.Uint64 // events folded by this projector
	batches    atomic.Uint64
	errs       atomic.Uint64
}

// NewProjector checks the options and makes a projector.
func NewProjector(o ProjectorOptions) (*Projector, error) {
	if o.Store == nil {
		return nil, errors.New("new projector: Store is required")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Debounce <= 0 {
		o.Debounce = 250 * time.Millisecond
	}
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = 10 * time.Minute
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("component", "metrics-projector")
	el, err := leadership.New(leadership.Options{Store: o.Store, Name: LeaseName, Owner: o.Owner, TTL: o.LeaseTTL,
		Clock: o.Clock, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new projector: %w", err)
	}
	return &Projector{opts: o, log: log, el: el, run: startstop.Runner{Name: "metrics projector"},
		notify: make(chan struct{}, 1)}, nil
}

// maxQueue bounds the events Observe keeps (in batches); beyond it the oldest go, and
// the batches they belonged to are read from the store.
const maxQueue = 16

// Observe hands the projector the events of a commit (call it from OnCommit, in commit
// order) and wakes it. It never blocks; it keeps the events only while this projector
// holds the lease.
func (p *Projector) Observe(evs []*store.Event) {
	if len(evs) > 0 && p.el.Leader() {
		p.qmu.Lock()
		p.queue = append(p.queue, evs...)
		if len(p.queue) > maxQueue*p.opts.BatchSize {
			// Too far behind to fold from memory: the store path takes over (queued
			// events are used only when they start at the cursor), so keep none.
			p.queue = p.queue[:0]
		}
		p.qmu.Unlock()
	}
	p.Notify()
}

// queued returns up to n observed events above cursor, dropping those at or below it.
func (p *Projector) queued(cursor int64, n int) []*store.Event {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	i := 0
	for i < len(p.queue) && p.queue[i].Seq <= cursor {
		i++
	}
	if i > 0 {
		p.queue = append(p.queue[:0], p.queue[i:]...)
	}
	return append([]*store.Event(nil), p.queue[:min(n, len(p.queue))]...)
}

// Notify tells the projector that events were committed. It never blocks.
func (p *Projector) Notify() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Start runs the projector in a goroutine until Stop: it folds while it holds the
// lease.
func (p *Projector) Start(ctx context.Context) error {
	if err := p.el.Start(ctx); err != nil {
		return fmt.Errorf("start metrics projector: %w", err)
	}
	if err := p.run.Start(ctx, p.loop); err != nil {
		return errors.Join(err, p.el.Stop(ctx))
	}
	return nil
}

// Stop ends the batch in flight (its write commits or rolls back as a whole), waits for
// the projector to exit and gives up the lease (package startstop says what a Stop out
// of time leaves).
func (p *Projector) Stop(ctx context.Context) error {
	return errors.Join(p.run.Stop(ctx), p.el.Stop(ctx))
}

// loop projects until ctx ends, folding only under the lease's term.
func (p *Projector) loop(ctx context.Context, _ <-chan struct{}) {
	var pruneAt time.Time
	for {
		changed := p.el.Changed() // before looking at the lease: a change wakes the wait
		more := false
		if lctx, cancel, ok := p.el.Lead(ctx); ok {
			more = p.fold(lctx, &pruneAt)
			cancel()
		}
		if ctx.Err() != nil {
			return
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-p.opts.Clock.After(p.opts.Poll):
		case <-changed: // took the lease: catch up at once
		case <-p.notify:
			// Debounce: the commits of the next moments join this batch.
			select {
			case <-ctx.Done():
				return
			case <-p.opts.Clock.After(p.opts.Debounce):
			}
		}
	}
}

// fold folds one batch, and prunes when it is time; it reports whether more is waiting.
func (p *Projector) fold(ctx context.Context, pruneAt *time.Time) (more bool) {
	now := p.opts.Clock.Now()
	n, err := p.Step(ctx)
	switch {
	case ctx.Err() != nil:
		return false // stopped, or the lease was lost
	case err != nil:
		p.errs.Add(1)
		p.log.Warn("metrics projector: batch failed", "err", err)
	default:
		more = n == p.opts.BatchSize
	}
	if !now.Before(*pruneAt) {
		if err := p.prune(ctx, now); err != nil && ctx.Err() == nil {
			p.log.Warn("metrics projector: prune", "err", err)
		}
		*pruneAt = now.Add(p.opts.PruneEvery)
	}
	return more
}

// Step folds the next batch of events (up to BatchSize) and returns how many it folded.
// The caller must hold the lease (Run does; Rebuild takes it).
func (p *Projector) Step(ctx context.Context) (int, error) {
	var state store.MetricsState
	var evs []*store.Event
	err := p.opts.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if state, err = tx.MetricsState(ctx); err != nil {
			return err
		}
		if q := p.queued(state.Cursor, p.opts.BatchSize); len(q) > 0 {
			// Seqs are unique: when the range up to the last observed event holds as many
			// events as were observed, they are all of it.
			n, err := tx.CountEvents(ctx, state.Cursor, q[len(q)-1].Seq)
			if err != nil {
				return err
			}
			if n == int64(len(q)) {
				p.fromMemory.Add(uint64(len(q)))
				evs = q
				return nil
			}
		}
		evs, err = tx.ListEvents(ctx, store.EventFilter{AfterSeq: state.Cursor, Limit: p.opts.BatchSize})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("read history: %w", err)
	}
	if len(evs) == 0 {
		return 0, nil
	}
	f := newFold(p.opts.Clock.Now())
	for _, ev := range evs {
		f.add(ev)
	}
	err = p.opts.Store.Write(ctx, func(tx store.Tx) error {
		rows, err := f.merged(ctx, tx)
		if err != nil {
			return err
		}
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: state.Cursor, To: evs[len(evs)-1].Seq, Rows: rows})
	})
	if err != nil {
		return 0, fmt.Errorf("write rollups: %w", err)
	}
	p.folded.Add(uint64(len(evs)))
	p.batches.Add(1)
	return len(evs), nil
}

// merged reads the stored rows the fold touches, adds them in and returns the rows to
// write. It changes the fold: a failed write discards it (the next Step folds again).
func (f *fold) merged(ctx context.Context, tx store.Tx) ([]*store.Rollup, error) {
	type span struct {
		defs     map[string]bool
		from, to int64
	}
	spans := map[Step]*span{}
	for k := range f.rows {
		s := spans[k.step]
		if s == nil {
			s = &span{defs: map[string]bool{}, from: k.bucket, to: k.bucket}
			spans[k.step] = s
		}
		s.defs[k.def] = true
		s.from, s.to = min(s.from, k.bucket), max(s.to, k.bucket)
	}
	for st, s := range spans {
		defs := make([]string, 0, len(s.defs))
		for d := range s.defs {
			defs = append(defs, d)
		}
		old, err := tx.ListRollups(ctx, store.RollupFilter{Step: string(st), DefinitionIDs: defs,
			From: time.Unix(s.from, 0), To: time.Unix(s.to+1, 0)})
		if err != nil {
			return nil, err
		}
		for _, o := range old {
			a := f.rows[rowKey{step: st, bucket: o.Bucket.Unix(), def: o.DefinitionID, kind: o.Kind, elem: o.ElementID}]
			if a == nil {
				continue
			}
			if err := a.merge(o); err != nil {
				return nil, fmt.Errorf("rollup %s %s %s %s %q: %w", o.Step, o.Bucket, o.DefinitionID, o.Kind, o.ElementID, err)
			}
		}
	}
	rows := make([]*store.Rollup, 0, len(f.rows))
	for _, a := range f.rows {
		a.Duration, a.Waiting = a.dur.Encode(), a.wait.Encode()
		rows = append(rows, &a.Rollup)
	}
	return rows, nil
}

// prune deletes the rows of the fine steps that fell out of their retention.
func (p *Projector) prune(ctx context.Context, now time.Time) error {
	return p.opts.Store.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.PruneRollups(ctx, string(StepMinute), now.Add(-MinuteRetention)); err != nil {
			return err
		}
		_, err := tx.PruneRollups(ctx, string(StepHour), now.Add(-HourRetention))
		return err
	})
}

// ProjectorStats are the projector's counters.
type ProjectorStats struct {
	Leader bool
	Events uint64 // events folded by this projector
	// Observed is how many of them came from Observe instead of the store.
	Observed uint64
	Batches  uint64
	Errors   uint64 // failed batches (retried)
}

// Stats returns the projector's counters.
func (p *Projector) Stats() ProjectorStats {
	return ProjectorStats{Leader: p.el.Leader(), Events: p.folded.Load(), Observed: p.fromMemory.Load(),
		Batches: p.batches.Load(), Errors: p.errs.Load()}
}
