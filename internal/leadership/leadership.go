// Package leadership elects one node of a cluster to do a job, with a named store lease
// (store.Tx.AcquireLease). The outbox relay ("outbox-relay"), the metrics projector
// ("metrics") and the stall detector ("stalls") each run an Elector on every node; the
// one that holds the lease works, the others stand by.
//
// Rhythm (the defaults; Options change them):
//
//   - The holder takes the lease for TTL (5 s) and renews it every TTL/3.
//   - A standby tries every Retry (250 ms): a released lease is taken within Retry, an
//     expired one within Retry of its expiry. A holder that crashed is replaced between
//     2/3 TTL and TTL + Retry after it died (it renewed at most TTL/3 before).
//   - A stopped holder releases the lease (Stop), so a standby takes over at its next try.
//
// Invariants:
//   - The renewal rhythm counts from the moment before the write that took or renewed the
//     lease, the moment its expiry in the store counts from too.
//   - A renewal that fails, is refused, or does not answer within (TTL-Renew)/2 ends the
//     term at once: with the default rhythm the holder stops working at least TTL/3
//     before its lease could pass on (on the holder's clock; nodes' clocks must agree to
//     well within that, as NTP keeps them).
//   - Work done under a term uses its context (Lead): it is cancelled when the term ends.
//   - Every attempt, and the release, is one small write transaction. On SQLite there is
//     one node and no standby; on PostgreSQL a standby's try costs one small write.
package leadership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// Defaults and limits of the rhythm.
const (
	// DefaultTTL is how long a lease is taken for: a crashed holder is replaced within
	// about this long.
	DefaultTTL = 5 * time.Second
	// DefaultRetry is how often a standby tries to take the lease.
	DefaultRetry = 250 * time.Millisecond
	// MinTTL is the shortest lease: renewing every TTL/3 must leave a store round trip
	// room to answer, also under load.
	MinTTL = time.Second
	// MaxTTL is the longest lease an operator may set (CheckTTL): a crashed holder blocks
	// its job for up to this long.
	MaxTTL = time.Hour
	// releaseTimeout bounds the write that gives a lease up at Stop (the lease expires
	// by itself anyway).
	releaseTimeout = 5 * time.Second
)

// Options configure an Elector. Zero values take the documented defaults.
type Options struct {
	Store store.Store // required
	// Name is the lease (required).
	Name string
	// Owner names this node in the lease (default a random id; the app passes the node id).
	Owner string
	// TTL is how long the lease is taken for (default DefaultTTL, at least MinTTL).
	TTL time.Duration
	// Renew is how often the holder renews (default TTL/3, below TTL).
	Renew time.Duration
	// Retry is how often a standby tries to take the lease (default DefaultRetry, at most
	// Renew).
	Retry  time.Duration
	Clock  clock.Clock  // default clock.Real
	Logger *slog.Logger // default slog.Default()
}

// Elector takes and keeps one lease for its owner. Start it (or call Elect), watch
// Leader, Lead or Changed, and Stop it: Stop gives the lease up.
type Elector struct {
	opts Options
	log  *slog.Logger
	run  startstop.Runner

	// attempt serialises the writes of Elect (the loop's and direct calls).
	attempt sync.Mutex
	// took is the start of the last attempt that took or renewed the lease (under attempt).
	took time.Time

	mu sync.Mutex
	// leader is written under mu and read without it (Leader runs on every commit of
	// the projector's node).
	leader  atomic.Bool
	term    context.Context // while leader: ends when the term ends
	end     context.CancelFunc
	changed chan struct{} // closed at the next change of leader
}

// New checks the options and makes an elector.
func New(o Options) (*Elector, error) {
	if o.Store == nil || o.Name == "" {
		return nil, errors.New("new elector: Store and Name are required")
	}
	if o.Owner == "" {
		o.Owner = o.Name + "-" + uuid.NewString()[:8]
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < MinTTL {
		return nil, fmt.Errorf("new elector %q: lease TTL %s is below %s", o.Name, o.TTL, MinTTL)
	}
	if o.Renew <= 0 {
		o.Renew = o.TTL / 3
	}
	if o.Renew >= o.TTL {
		return nil, fmt.Errorf("new elector %q: renew interval %s must be shorter than the lease's TTL %s", o.Name, o.Renew, o.TTL)
	}
	if o.Retry <= 0 {
		o.Retry = DefaultRetry
	}
	o.Retry = min(o.Retry, o.Renew)
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Elector{opts: o, log: o.Logger.With("lease", o.Name, "owner", o.Owner),
		run: startstop.Runner{Name: "elector " + o.Name}, changed: make(chan struct{})}, nil
}

// CheckTTL reports a lease TTL outside MinTTL..MaxTTL, the range an operator may set
// (a rebuild or a test may take a longer one).
func CheckTTL(ttl time.Duration) error {
	if ttl < MinTTL || ttl > MaxTTL {
		return fmt.Errorf("lease TTL %s is outside %s..%s", ttl, MinTTL, MaxTTL)
	}
	return nil
}

// Options returns the options in effect (defaults filled in).
func (e *Elector) Options() Options { return e.opts }

// Start tries to take the lease at once and then every Retry, and renews it every Renew
// while it holds it, until Stop. When a direct Elect already holds the lease, the first
// renewal comes Renew after that attempt, not at once.
func (e *Elector) Start(ctx context.Context) error { return e.run.Start(ctx, e.loop) }

// Stop ends the loop and releases the lease (when held, the term ends first). See
// package startstop for what happens when ctx ends first.
func (e *Elector) Stop(ctx context.Context) error { return e.run.Stop(ctx) }

func (e *Elector) loop(ctx context.Context, _ <-chan struct{}) {
	// The lease is released however the loop ends, also when this node's last attempt
	// took it without learning so (cancelled): a release by a non-holder changes nothing.
	defer e.release()
	failing := false // an outage is logged once, not at every try
	resume, took := e.holding()
	for {
		start := e.opts.Clock.Now()
		var held bool
		var err error
		if resume {
			// Held since a direct Elect: count the first renewal from that attempt.
			held, start, resume = true, took, false
		} else {
			held, err = e.Elect(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !failing {
			e.log.Warn("lease: the store did not answer, retrying", "err", err)
		}
		failing = err != nil
		wait := e.opts.Retry
		if held {
			// Renew relative to the attempt's start, the moment the expiry counts from.
			wait = max(start.Add(e.opts.Renew).Sub(e.opts.Clock.Now()), 0)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.opts.Clock.After(wait):
		}
	}
}

// Elect tries once to take or renew the lease now and reports whether this node holds
// it. A failed or refused attempt ends a term; an attempt cancelled by ctx changes
// nothing. Start runs it on its rhythm; a caller that needs the lease once (a rebuild, a
// single pass) may call it directly.
func (e *Elector) Elect(ctx context.Context) (bool, error) {
	e.attempt.Lock()
	defer e.attempt.Unlock()
	now := e.opts.Clock.Now()
	// An attempt that cannot answer in time ends the term before the lease could pass on.
	actx, cancel := context.WithTimeout(ctx, (e.opts.TTL-e.opts.Renew)/2)
	defer cancel()
	var held bool
	err := e.opts.Store.Write(actx, func(tx store.Tx) error {
		var err error
		held, err = tx.AcquireLease(actx, e.opts.Name, e.opts.Owner, now, now.Add(e.opts.TTL))
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return e.Leader(), ctx.Err()
		}
		e.set(false, "lost the lease: it could not be renewed")
		return false, fmt.Errorf("acquire lease %q: %w", e.opts.Name, err)
	}
	if held {
		e.took = now
		e.set(true, "took the lease")
	} else {
		e.set(false, "lost the lease: another node holds it")
	}
	return held, nil
}

// holding reports whether this node holds the lease, and since when its last attempt
// that took or renewed it started.
func (e *Elector) holding() (bool, time.Time) {
	e.attempt.Lock()
	defer e.attempt.Unlock()
	return e.Leader(), e.took
}

// set records whether this node holds the lease; msg is logged on a change.
func (e *Elector) set(held bool, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.setLocked(held) {
		return
	}
	if held {
		e.log.Info(msg)
	} else {
		e.log.Warn(msg)
	}
}

// setLocked starts or ends the term and wakes Changed's waiters, and reports whether
// anything changed. e.mu is held.
func (e *Elector) setLocked(held bool) bool {
	if held == e.leader.Load() {
		return false
	}
	e.leader.Store(held)
	if held {
		e.term, e.end = context.WithCancel(context.Background())
	} else {
		e.end()
		e.term, e.end = nil, nil
	}
	close(e.changed)
	e.changed = make(chan struct{})
	return true
}

// release gives the lease up so another node takes over at its next try.
func (e *Elector) release() {
	e.attempt.Lock()
	defer e.attempt.Unlock()
	e.mu.Lock()
	was := e.setLocked(false)
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), min(e.opts.TTL, releaseTimeout))
	defer cancel()
	err := e.opts.Store.Write(ctx, func(tx store.Tx) error { return tx.ReleaseLease(ctx, e.opts.Name, e.opts.Owner) })
	switch {
	case err != nil:
		e.log.Warn("release lease", "err", err)
	case was:
		e.log.Info("released the lease")
	}
}

// Leader reports whether this node holds the lease.
func (e *Elector) Leader() bool { return e.leader.Load() }

// Lead returns, while this node holds the lease, a context derived from ctx that is also
// cancelled when the term ends (the lease is lost or released), its cancel function, and
// true. Otherwise it returns ctx, a no-op, and false. Work that must stop with the lease
// runs under the returned context.
func (e *Elector) Lead(ctx context.Context) (context.Context, context.CancelFunc, bool) {
	e.mu.Lock()
	term := e.term
	e.mu.Unlock()
	if term == nil {
		return ctx, func() {}, false
	}
	lctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(term, cancel)
	return lctx, func() { stop(); cancel() }, true
}

// Changed returns a channel that is closed when this node next takes or loses the lease.
// Take it before looking at Leader or Lead, so a change in between is not missed.
func (e *Elector) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}
