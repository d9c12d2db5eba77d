// Package startstop is the lifecycle of Cockpit's background loops (outbox relay, metrics
// projector, stall detector, lease elector, demo driver): Start(ctx) runs one goroutine,
// Stop(ctx) ends it. It is the one place that decides what Stop does, so every loop
// stops the same way:
//
//   - Stop asks the loop to end: it closes the loop's stopping channel and, unless the
//     Runner drains, cancels the loop's context at once (a store call in flight is
//     cancelled and its transaction rolled back).
//   - A draining Runner (the relay publishes what is left) keeps the loop's context
//     until Stop's own context ends.
//   - When Stop's context ends before the loop returned, Stop cancels the loop's context
//     and returns an error wrapping ctx.Err() without waiting further: a stuck store
//     call cannot hold a shutdown past its deadline. The loop then still counts as
//     running: Start fails with ErrRunning and a later Stop waits for it again.
//   - Once Stop returned nil the goroutine has exited (the goleak checks rely on it), and
//     the Runner may be started again.
//
// The loop's context outlives Start's context (its values are kept): stopping is Stop's
// job, so that a loop can finish its work first.
package startstop

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrRunning is returned by Start while the loop of an earlier Start still runs (also
// after a Stop whose context ended before the loop returned).
var ErrRunning = errors.New("already running")

// Runner runs one loop from Start to Stop. The zero value is ready to use; a Runner is
// safe for concurrent use.
type Runner struct {
	// Name says what runs, in errors ("stop outbox relay: context deadline exceeded").
	Name string
	// Drain makes Stop only close the stopping channel and let the loop finish its work;
	// the loop's context is cancelled when Stop's context ends.
	Drain bool

	// mu is held by Start and Stop for their whole run, Stop's wait included, so a
	// Start never overlaps a Stop.
	mu       sync.Mutex
	running  bool
	asked    bool          // Stop closed stopping
	stopping chan struct{} // closed by Stop
	cancel   context.CancelFunc
	done     chan struct{} // closed when the loop returned
}

// Start runs loop in a goroutine until Stop. loop gets a context that ends when Stop
// gives up on it (at once unless Drain), and a channel that Stop closes; it must return
// promptly once either ends. Start fails when ctx has already ended or a loop runs.
func (r *Runner) Start(ctx context.Context, loop func(ctx context.Context, stopping <-chan struct{})) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running {
		return fmt.Errorf("start %s: %w", r.Name, ErrRunning)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start %s: %w", r.Name, err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopping, done := make(chan struct{}), make(chan struct{})
	r.running, r.asked, r.stopping, r.cancel, r.done = true, false, stopping, cancel, done
	go func() {
		defer close(done)
		loop(lctx, stopping)
	}()
	return nil
}

// Stop ends the loop and waits for it to return, or for ctx (see the package comment).
// It does nothing when no loop runs, and may be called again after an error.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.running {
		return nil
	}
	if !r.asked {
		r.asked = true
		close(r.stopping)
		if !r.Drain {
			r.cancel()
		}
	}
	select {
	case <-r.done:
		r.cancel()
		r.running = false
		return nil
	case <-ctx.Done():
		r.cancel()
		return fmt.Errorf("stop %s: %w", r.Name, ctx.Err())
	}
}
