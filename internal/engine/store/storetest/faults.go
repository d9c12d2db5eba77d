package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ErrInjected is the error of a failure a FaultStore injected.
var ErrInjected = errors.New("injected fault")

// Fault is what a FaultStore does with a write transaction whose work has run.
type Fault int

const (
	// NoFault commits as the store would.
	NoFault Fault = iota
	// FailCommit rolls the transaction back; Write returns ErrInjected. Nothing of it is
	// written, as when the database refuses a commit (a version check that fails at
	// COMMIT on a store that sends its writes there).
	FailCommit
	// ConflictCommit rolls the transaction back like FailCommit, but Write returns
	// ErrInjected wrapped with store.ErrConflict: a version check that failed at COMMIT,
	// which callers retry on fresh state.
	ConflictCommit
	// LoseCommit commits, then Write returns ErrInjected marked store.ErrUnavailable:
	// everything is written, and the caller cannot know (a reply lost after the commit
	// reached the server).
	LoseCommit
)

// WriteInfo describes a write transaction whose work has run, for a commit rule.
type WriteInfo struct {
	// N numbers the store's Write calls from 1, in the order they began.
	N int
	// Applies counts the Changes it applied (Apply calls that returned nil, including
	// any later rolled back to a savepoint).
	Applies int
}

// FaultStore wraps a store and injects failures into its write transactions: a commit
// that fails or whose outcome is lost (OnCommit), an Apply that is refused (OnApply), and
// a Write held back before it begins (Hold). It lets the engine's failure paths run on
// every store, not only where a database happens to fail them. Reads pass through.
//
// It reports Exclusive as the wrapped store does, unless Shared is set: then the engine
// treats it as a store other processes write too (the PostgreSQL pipeline, a cache that
// may be behind) even on SQLite. It does not pass store.Notifier on.
type FaultStore struct {
	store.Store
	// Shared hides the wrapped store's Exclusive (set it before the engine is created).
	Shared bool

	mu     sync.Mutex
	writes int
	commit func(WriteInfo) Fault
	apply  func(*store.Change) error
	hold   chan struct{} // the next Write waits until it is closed
	held   chan struct{} // closed when that Write is waiting
}

// NewFaultStore wraps st; it injects nothing until told to.
func NewFaultStore(st store.Store) *FaultStore { return &FaultStore{Store: st} }

// OnCommit sets the rule deciding each write transaction's fate (nil: NoFault for all).
func (f *FaultStore) OnCommit(rule func(WriteInfo) Fault) {
	f.mu.Lock()
	f.commit = rule
	f.mu.Unlock()
}

// OnApply sets the rule deciding each Apply: a non-nil error is returned instead of
// applying the Change (nil rule: apply all).
func (f *FaultStore) OnApply(rule func(*store.Change) error) {
	f.mu.Lock()
	f.apply = rule
	f.mu.Unlock()
}

// Hold makes the next Write wait before it begins. The returned channel is closed once
// that Write is waiting; release lets it go on.
func (f *FaultStore) Hold() (waiting <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	hold, held := make(chan struct{}), make(chan struct{})
	f.hold, f.held = hold, held
	var once sync.Once
	return held, func() { once.Do(func() { close(hold) }) }
}

// Exclusive reports whether the engine may treat the store as its own.
func (f *FaultStore) Exclusive() bool {
	ex, ok := f.Store.(store.Exclusive)
	return !f.Shared && ok && ex.Exclusive()
}

// Write runs fn in a write transaction of the wrapped store, then applies the commit rule.
func (f *FaultStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	f.mu.Lock()
	f.writes++
	n := f.writes
	hold, held := f.hold, f.held
	f.hold, f.held = nil, nil
	f.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	var fault Fault
	err := f.Store.Write(ctx, func(tx store.Tx) error {
		ftx := &faultTx{Tx: tx, f: f}
		if err := fn(ftx); err != nil {
			return err
		}
		f.mu.Lock()
		rule := f.commit
		f.mu.Unlock()
		if rule != nil {
			fault = rule(WriteInfo{N: n, Applies: ftx.applies})
		}
		switch fault {
		case FailCommit:
			return fmt.Errorf("commit: %w", ErrInjected)
		case ConflictCommit:
			return fmt.Errorf("commit: %w: %w", store.ErrConflict, ErrInjected)
		}
		return nil
	})
	if err == nil && fault == LoseCommit {
		return store.Unavailable(fmt.Errorf("commit (it was written): %w", ErrInjected))
	}
	return err
}

type faultTx struct {
	store.Tx
	f       *FaultStore
	applies int
}

func (t *faultTx) Apply(ctx context.Context, c *store.Change) error {
	t.f.mu.Lock()
	rule := t.f.apply
	t.f.mu.Unlock()
	if rule != nil {
		if err := rule(c); err != nil {
			return err
		}
	}
	if err := t.Tx.Apply(ctx, c); err != nil {
		return err
	}
	t.applies++
	return nil
}
