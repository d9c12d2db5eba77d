package operation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// Defaults and bounds of ExecutorOptions.
const (
	// DefaultRate is the items a node starts per second by default (--operation-rate),
	// and DefaultConcurrency how many run at once (--operation-concurrency), which is
	// also the grain they start in (at most a tenth of a second's worth: 55 items every
	// 100 ms). On the 2-core reference machine a bulk cancel or migration of 10,000
	// instances with these runs at 539-549 items a second while the reference flow keeps
	// 83-104% of its throughput (median 88%), on both stores (BenchmarkBulkCancel,
	// BenchmarkBulkMigrate; the README has the figures).
	DefaultRate        = 550
	DefaultConcurrency = 64
	// MaxConcurrency bounds Concurrency: the engine's committer takes the items'
	// commands, and more at once only queue there.
	MaxConcurrency = 1024
	DefaultBatch   = 128
	DefaultLockFor = 30 * time.Second
	DefaultPoll    = time.Second
	// maxRunning bounds the running operations one pass looks at.
	maxRunning = 100
)

// ExecutorOptions configure an Executor.
type ExecutorOptions struct {
	Store store.Store
	Clock clock.Clock
	// Owner names this node in item locks (unique per node).
	Owner string
	// Kinds are the kinds this node runs; an operation of another kind waits for a node
	// that runs it.
	Kinds []Kind
	// Rate bounds the items this node starts per second (0: no bound): a bulk action
	// must not take the engine from the flows.
	Rate float64
	// Concurrency is how many items run at once (default DefaultConcurrency); the
	// engine's group commit turns them into few transactions. Under Rate they start in
	// grains of Concurrency (at most a tenth of a second's worth), which the engine
	// commits together.
	Concurrency int
	// Batch is how many items one claim locks (default DefaultBatch).
	Batch int
	// LockFor is how long a claim locks its items (default DefaultLockFor).
	LockFor time.Duration
	// Poll is how often an idle executor looks for operations (default DefaultPoll);
	// Wake looks at once.
	Poll time.Duration
	// OnProgress, when set, is called after each batch of an operation's items and when
	// an operation ends (not on the executor's goroutine's critical path: keep it quick).
	OnProgress func(operationID string, finished bool)
	Logger     *slog.Logger
}

// Executor works off the running operations' items on this node.
type Executor struct {
	o     ExecutorOptions
	kinds map[string]Kind
	run   startstop.Runner
	wake  chan struct{}
	// next is when the throttle lets the next grain of items start, left how many of
	// the current grain may still start.
	mu   sync.Mutex
	next time.Time
	left int
}

// NewExecutor makes an executor; Start runs it.
func NewExecutor(o ExecutorOptions) (*Executor, error) {
	if o.Store == nil || o.Owner == "" {
		return nil, errors.New("operation executor: a store and an owner are required")
	}
	if o.Rate < 0 {
		return nil, fmt.Errorf("operation executor: rate %v is negative", o.Rate)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Concurrency > MaxConcurrency {
		return nil, fmt.Errorf("operation executor: concurrency %d is more than %d", o.Concurrency, MaxConcurrency)
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.LockFor <= 0 {
		o.LockFor = DefaultLockFor
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	x := &Executor{o: o, kinds: map[string]Kind{}, wake: make(chan struct{}, 1)}
	for _, k := range o.Kinds {
		x.kinds[k.Name] = k
	}
	return x, nil
}

// Start runs the executor's loop until Stop.
func (x *Executor) Start(ctx context.Context) error { return x.run.Start(ctx, x.loop) }

// Stop ends the loop: items in flight finish (their outcomes are written), the locks of
// the items claimed but not started are given back.
func (x *Executor) Stop(ctx context.Context) error { return x.run.Stop(ctx) }

// Wake makes an idle executor look for work at once (an operation was created).
func (x *Executor) Wake() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *Executor) loop(ctx context.Context, stopping <-chan struct{}) {
	for {
		worked, err := x.pass(ctx, stopping)
		if err != nil && ctx.Err() == nil {
			x.o.Logger.Warn("operations pass", "err", err)
		}
		if worked {
			select {
			case <-stopping:
				return
			default:
				continue
			}
		}
		select {
		case <-stopping:
			return
		case <-x.wake:
		case <-x.o.Clock.After(x.o.Poll):
		}
	}
}

// pass claims and runs one batch of each running operation this node has a kind for;
// it reports whether it ran any item.
func (x *Executor) pass(ctx context.Context, stopping <-chan struct{}) (bool, error) {
	var ops []*store.Operation
	err := x.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		ops, err = tx.ListOperations(ctx, store.OperationFilter{State: store.OperationRunning, Limit: maxRunning})
		return err
	})
	if err != nil {
		return false, err
	}
	worked := false
	// Oldest first: an operation confirmed earlier finishes first.
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		k, ok := x.kinds[op.Kind]
		if !ok {
			continue
		}
		select {
		case <-stopping:
			return worked, nil
		default:
		}
		n, err := x.batch(ctx, stopping, op, k)
		if err != nil {
			return worked, err
		}
		worked = worked || n > 0
	}
	return worked, nil
}

// batch claims items of op and runs them; with none left to claim it tries to complete op.
func (x *Executor) batch(ctx context.Context, stopping <-chan struct{}, op *store.Operation, k Kind) (int, error) {
	now := x.o.Clock.Now()
	limit := x.o.Batch
	if x.o.Rate > 0 {
		// Claim no more than can start within half the lock.
		limit = max(1, min(limit, int(x.o.Rate*x.o.LockFor.Seconds()/2)))
	}
	var items []*store.OperationItem
	err := x.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.ClaimOperationItems(ctx, store.ClaimItems{OperationID: op.ID, Owner: x.o.Owner, Now: now,
			Until: now.Add(x.o.LockFor), Limit: limit})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim items of operation %s: %w", op.ID, err)
	}
	if len(items) == 0 {
		return 0, x.complete(ctx, op)
	}
	sem := make(chan struct{}, x.o.Concurrency)
	var wg sync.WaitGroup
	started := 0
	for _, it := range items {
		if !x.throttle(stopping) {
			break
		}
		select {
		case <-stopping:
		case sem <- struct{}{}:
			started++
			wg.Go(func() {
				defer func() { <-sem }()
				x.item(ctx, op, k, it)
			})
			continue
		}
		break
	}
	wg.Wait()
	if started < len(items) {
		// Stopping: hand the rest to the other nodes now rather than at their lock's end.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := x.o.Store.Write(rctx, func(tx store.Tx) error {
			return tx.ReleaseOperationItems(rctx, op.ID, x.o.Owner)
		}); err != nil {
			x.o.Logger.Warn("release operation items", "operation", op.ID, "err", err)
		}
	}
	if x.o.OnProgress != nil {
		x.o.OnProgress(op.ID, false)
	}
	return started, nil
}

// throttle waits until the rate lets the next item start; false when stopping. Items
// start in grains (see grain), a grain every grain/Rate: the engine group-commits a
// grain's commands together, so the statements a bulk item writes with are paid once a
// grain rather than once an item, and a pause between two claims is made up within the
// interval instead of lost.
func (x *Executor) throttle(stopping <-chan struct{}) bool {
	if x.o.Rate <= 0 {
		return true
	}
	x.mu.Lock()
	if x.left > 0 {
		x.left--
		x.mu.Unlock()
		return true
	}
	g := x.grain()
	now := x.o.Clock.Now()
	if x.next.Before(now) {
		x.next = now // no credit for time spent idle
	}
	wait := x.next.Sub(now)
	x.next = x.next.Add(time.Duration(float64(g) * float64(time.Second) / x.o.Rate))
	x.left = g - 1
	x.mu.Unlock()
	if wait <= 0 {
		return true
	}
	select {
	case <-stopping:
		return false
	case <-x.o.Clock.After(wait):
		return true
	}
}

// grain is how many items start at once: Concurrency, but no more than a tenth of a
// second's worth at Rate, so a slow operation starts its items evenly.
func (x *Executor) grain() int {
	return max(1, min(x.o.Concurrency, int(x.o.Rate/10)))
}

// item runs one item and records its outcome.
func (x *Executor) item(ctx context.Context, op *store.Operation, k Kind, it *store.OperationItem) {
	var recorded bool
	rec := func(ctx context.Context, tx store.Tx) error {
		at := x.o.Clock.Now()
		if err := tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: it.Seq, Owner: x.o.Owner,
			State: store.ItemOK, At: at}); err != nil {
			return err
		}
		recorded = true
		return tx.InsertAudit(ctx, itemAudit(op, it, "ok", "", at))
	}
	err := k.Run(engine.WithRecord(ctx, rec), op, it)
	switch {
	case err == nil && recorded:
		return
	case err == nil:
		// The kind's work was not an instance command that took the record: write the
		// outcome after it (such a kind must be idempotent per item).
		err = x.o.Store.Write(ctx, func(tx store.Tx) error { return rec(ctx, tx) })
		if err == nil || errors.Is(err, store.ErrLostItem) {
			return
		}
		x.o.Logger.Warn("record operation item", "operation", op.ID, "item", it.Seq, "err", err)
		return
	case errors.Is(err, store.ErrLostItem):
		return // another node did it, or the operation was cancelled: this run is undone
	case ctx.Err() != nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict):
		// Not the item's fault: it stays pending, to be run again when its lock ends.
		x.o.Logger.Warn("operation item not run", "operation", op.ID, "item", it.Seq, "err", err)
		return
	}
	at := x.o.Clock.Now()
	code := Code(err)
	ferr := x.o.Store.Write(context.WithoutCancel(ctx), func(tx store.Tx) error {
		if err := tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: it.Seq, Owner: x.o.Owner,
			State: store.ItemFailed, Code: code, Error: store.StorableText(err.Error()), At: at}); err != nil {
			return err
		}
		return tx.InsertAudit(ctx, itemAudit(op, it, code, err.Error(), at))
	})
	if ferr != nil && !errors.Is(ferr, store.ErrLostItem) {
		x.o.Logger.Warn("record failed operation item", "operation", op.ID, "item", it.Seq, "err", ferr)
	}
}

// complete ends op when it has no pending item left; a retry's failing-again count is
// taken then.
func (x *Executor) complete(ctx context.Context, op *store.Operation) error {
	var done bool
	err := x.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		now := x.o.Clock.Now()
		if done, err = tx.CompleteOperation(ctx, op.ID, now); err != nil || !done {
			return err
		}
		if op.Kind != KindRetryIncidents {
			return nil
		}
		n, err := tx.CountFailingAgain(ctx, op.ID)
		if err != nil {
			return err
		}
		return tx.SetFailingAgain(ctx, op.ID, n, now)
	})
	if err != nil {
		return fmt.Errorf("complete operation %s: %w", op.ID, err)
	}
	if done && x.o.OnProgress != nil {
		x.o.OnProgress(op.ID, true)
	}
	return nil
}
