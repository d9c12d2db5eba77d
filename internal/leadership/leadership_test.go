package leadership_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the fake clocks' fixed start.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

const ttl = 3 * time.Second // renewed every second

// countingStore counts the writes (lease attempts and releases) and fails them while
// down is set.
type countingStore struct {
	store.Store
	writes atomic.Int64
	down   atomic.Bool
}

func (s *countingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	defer s.writes.Add(1)
	if s.down.Load() {
		return store.ErrUnavailable
	}
	return s.Store.Write(ctx, fn)
}

func openStore(t *testing.T) *countingStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &countingStore{Store: st}
}

func newElector(t *testing.T, st store.Store, c clock.Clock, owner string) *leadership.Elector {
	t.Helper()
	e, err := leadership.New(leadership.Options{Store: st, Name: "job", Owner: owner, TTL: ttl, Clock: c,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	return e
}

func elect(t *testing.T, e *leadership.Elector) bool {
	t.Helper()
	held, err := e.Elect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if held != e.Leader() {
		t.Fatalf("Elect said %v, Leader says %v", held, e.Leader())
	}
	return held
}

// waitFor polls cond, calling step between looks (a fake clock's advance), for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool, step func()) {
	t.Helper()
	wait.For(t, what, func() bool {
		if cond() {
			return true
		}
		step()
		return false
	})
}

// ended waits for a term's context to end (Lead cancels it from a goroutine of its own).
func ended(t *testing.T, term context.Context) {
	t.Helper()
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the term outlived the lease")
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Take, renew, lose and take back, by single attempts on a fake clock.
func TestElectTakeRenewLose(t *testing.T) {
	t.Parallel()
	st, c := openStore(t), clock.NewFake(t0)
	a, b := newElector(t, st, c, "a"), newElector(t, st, c, "b")

	changed := a.Changed()
	if !elect(t, a) {
		t.Fatal("a could not take a free lease")
	}
	if !closed(changed) {
		t.Fatal("taking the lease did not close Changed")
	}
	term, cancel, ok := a.Lead(t.Context())
	defer cancel()
	if !ok || term.Err() != nil {
		t.Fatal("a leads but has no live term")
	}
	if elect(t, b) {
		t.Fatal("b took the lease a holds")
	}
	if _, _, ok := b.Lead(t.Context()); ok {
		t.Fatal("b has a term without the lease")
	}

	// a renews before expiry: b cannot take it when the first TTL has passed.
	c.Advance(2 * time.Second)
	if !elect(t, a) {
		t.Fatal("a could not renew")
	}
	c.Advance(2 * time.Second) // 4s: past the first expiry, before the renewed one
	if elect(t, b) {
		t.Fatal("b took a renewed lease")
	}
	if term.Err() != nil {
		t.Fatal("a renewal ended the term")
	}

	// a stops renewing (a pause, a crash): once it expired, b takes it, and a learns it
	// lost at its next attempt: the term's context ends and Changed closes.
	c.Advance(ttl)
	if !elect(t, b) {
		t.Fatal("b could not take an expired lease")
	}
	changed = a.Changed()
	if elect(t, a) {
		t.Fatal("a kept the lease b took")
	}
	if !closed(changed) {
		t.Fatal("losing the lease did not close Changed")
	}
	ended(t, term)
}

// A renewal the store does not answer ends the term at once: the holder stops working
// while the lease is still its own, rather than after another node took it.
func TestElectStoreFailureEndsTerm(t *testing.T) {
	t.Parallel()
	st, c := openStore(t), clock.NewFake(t0)
	a := newElector(t, st, c, "a")
	if !elect(t, a) {
		t.Fatal("a could not take a free lease")
	}
	term, cancel, _ := a.Lead(t.Context())
	defer cancel()
	st.down.Store(true)
	if held, err := a.Elect(t.Context()); held || !errors.Is(err, store.ErrUnavailable) || a.Leader() {
		t.Fatalf("renewal on a failing store: held %v, err %v, leader %v", held, err, a.Leader())
	}
	ended(t, term)
	st.down.Store(false)
	if !elect(t, a) {
		t.Fatal("a could not take its lease back once the store answered")
	}
}

// A started elector takes the lease at once and renews it every Renew on its clock, so a
// contender never gets it, however long it runs.
func TestLoopRenews(t *testing.T) {
	t.Parallel()
	st, c := openStore(t), clock.NewFake(t0)
	a, b := newElector(t, st, c, "a"), newElector(t, st, c, "b")
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to take the lease", a.Leader, func() {})
	for range 10 { // 10 renewals: ten seconds, more than three TTLs
		n := st.writes.Load()
		c.Advance(a.Options().Renew)
		waitFor(t, "a renewal", func() bool { return st.writes.Load() > n }, func() {})
		if elect(t, b) {
			t.Fatalf("b took the lease at %v while a's loop renews it", c.Now().Sub(t0))
		}
	}
	if err := a.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a.Leader() {
		t.Fatal("a leads after Stop")
	}
	if !elect(t, b) {
		t.Fatal("b could not take the lease a's Stop released")
	}
}

// timedStore records the fake clock's time at each write.
type timedStore struct {
	store.Store
	c  *clock.Fake
	mu sync.Mutex
	at []time.Time
}

func (s *timedStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	s.mu.Lock()
	s.at = append(s.at, s.c.Now())
	s.mu.Unlock()
	return s.Store.Write(ctx, fn)
}

func (s *timedStore) writes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

// waitingClock tells when someone waits on it (the loop between attempts).
type waitingClock struct {
	*clock.Fake
	waits chan time.Duration
}

func (c waitingClock) After(d time.Duration) <-chan time.Time {
	ch := c.Fake.After(d)
	c.waits <- d
	return ch
}

// An elector started after its own Elect took the lease (a rebuild) does not write again
// at once: its first renewal comes Renew after that Elect.
func TestStartAfterElectKeepsTheRhythm(t *testing.T) {
	t.Parallel()
	c := waitingClock{Fake: clock.NewFake(t0), waits: make(chan time.Duration, 16)}
	st := &timedStore{Store: openStore(t), c: c.Fake}
	a := newElector(t, st, c, "a")
	renew := a.Options().Renew
	if !elect(t, a) {
		t.Fatal("a could not take a free lease")
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := <-c.waits; d != renew || len(st.writes()) != 1 {
		t.Fatalf("the loop waits %v after writes at %v, want Renew (%v) after Elect's one write", d, st.writes(), renew)
	}
	c.Advance(renew)
	<-c.waits // the renewal was written
	if at := st.writes(); len(at) != 2 || !at[1].Equal(t0.Add(renew)) {
		t.Fatalf("writes at %v, want at %v and %v", at, t0, t0.Add(renew))
	}
	if !a.Leader() {
		t.Fatal("a lost the lease its loop renews")
	}
}

// A standby takes a released lease at its next try, and a crashed holder's lease once
// it expired; never before.
func TestStandbyTakesOver(t *testing.T) {
	t.Parallel()
	t.Run("released", func(t *testing.T) {
		t.Parallel()
		st, c := openStore(t), clock.NewFake(t0)
		a, b := newElector(t, st, c, "a"), newElector(t, st, c, "b")
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a to take the lease", a.Leader, func() {})
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := a.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := c.Now()
		waitFor(t, "b to take the released lease", b.Leader, func() { c.Advance(10 * time.Millisecond) })
		if took := c.Now().Sub(start); took > b.Options().Retry+10*time.Millisecond {
			t.Fatalf("b took a released lease after %v, more than a try (%v)", took, b.Options().Retry)
		}
	})
	t.Run("crashed", func(t *testing.T) {
		t.Parallel()
		st, c := openStore(t), clock.NewFake(t0)
		crashed, b := newElector(t, st, c, "a"), newElector(t, st, c, "b")
		if !elect(t, crashed) { // takes the lease and never renews nor releases it
			t.Fatal("a could not take a free lease")
		}
		if err := b.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "b to take the expired lease", b.Leader, func() { c.Advance(10 * time.Millisecond) })
		took := c.Now().Sub(t0)
		if took < ttl || took > ttl+b.Options().Retry+10*time.Millisecond {
			t.Fatalf("b took the lease %v after the holder's last renewal, want between TTL %v and TTL + a try", took, ttl)
		}
	})
}

func TestOptions(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	e, err := leadership.New(leadership.Options{Store: st, Name: "job"})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Options(); o.TTL != leadership.DefaultTTL || o.Renew != leadership.DefaultTTL/3 ||
		o.Retry != leadership.DefaultRetry || o.Owner == "" {
		t.Fatalf("defaults: %+v", o)
	}
	for _, o := range []leadership.Options{
		{Name: "job"},
		{Store: st},
		{Store: st, Name: "job", TTL: leadership.MinTTL - 1},
		{Store: st, Name: "job", TTL: -time.Second},
		{Store: st, Name: "job", TTL: 2 * time.Second, Renew: 2 * time.Second},
	} {
		if _, err := leadership.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for _, ttl := range []time.Duration{leadership.MinTTL - 1, leadership.MaxTTL + 1, 0} {
		if err := leadership.CheckTTL(ttl); err == nil {
			t.Errorf("CheckTTL(%v) accepted", ttl)
		}
	}
	if err := leadership.CheckTTL(leadership.DefaultTTL); err != nil {
		t.Error(err)
	}
}
