package startstop_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/startstop"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// expired is a context whose deadline has passed.
func expired(t *testing.T) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
	t.Cleanup(cancel)
	return ctx
}

// Without Drain, Stop cancels the loop's context at once and waits for it.
func TestStopCancels(t *testing.T) {
	t.Parallel()
	r := &startstop.Runner{Name: "loop"}
	exited := make(chan error, 1)
	if err := r.Start(context.Background(), func(ctx context.Context, _ <-chan struct{}) {
		<-ctx.Done()
		exited <- ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), func(context.Context, <-chan struct{}) {}); !errors.Is(err, startstop.ErrRunning) {
		t.Fatalf("second start: %v, want ErrRunning", err)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("loop context ended with %v", err)
		}
	default:
		t.Fatal("Stop returned before the loop did")
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// The loop's context outlives Start's: cancelling it stops nothing.
func TestLoopOutlivesStartContext(t *testing.T) {
	t.Parallel()
	r := &startstop.Runner{Name: "loop"}
	ctx, cancel := context.WithCancel(context.Background())
	type key struct{}
	ctx = context.WithValue(ctx, key{}, "v")
	got := make(chan any, 1)
	if err := r.Start(ctx, func(lctx context.Context, stopping <-chan struct{}) {
		got <- lctx.Value(key{})
		<-stopping
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if v := <-got; v != "v" {
		t.Fatalf("loop context lost the value: %v", v)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, func(context.Context, <-chan struct{}) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("start with an ended context: %v, want Canceled", err)
	}
}

// With Drain, Stop closes stopping and the loop keeps its context to finish its work; when
// Stop's context ends first, the loop's context is cancelled.
func TestDrain(t *testing.T) {
	t.Parallel()
	t.Run("finishes", func(t *testing.T) {
		r := &startstop.Runner{Name: "relay", Drain: true}
		var live bool
		if err := r.Start(context.Background(), func(ctx context.Context, stopping <-chan struct{}) {
			<-stopping
			live = ctx.Err() == nil // the drain's work would run here
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !live {
			t.Fatal("the draining loop's context was cancelled by Stop")
		}
	})
	t.Run("out of time", func(t *testing.T) {
		r := &startstop.Runner{Name: "relay", Drain: true}
		if err := r.Start(context.Background(), func(ctx context.Context, stopping <-chan struct{}) {
			<-stopping
			<-ctx.Done() // a drain that never ends by itself
		}); err != nil {
			t.Fatal(err)
		}
		if err := r.Stop(expired(t)); !errors.Is(err, context.DeadlineExceeded) || err.Error() != "stop relay: context deadline exceeded" {
			t.Fatalf("stop out of time: %v", err)
		}
		if err := r.Stop(context.Background()); err != nil {
			t.Fatalf("stop after the cancel: %v", err)
		}
	})
}

// A loop stuck past Stop's deadline still counts as running: Start fails, a later Stop
// waits again, and once Stop returned nil the loop has exited and may start again.
func TestStopOutOfTime(t *testing.T) {
	t.Parallel()
	r := &startstop.Runner{Name: "detector"}
	gate := make(chan struct{})
	exited := make(chan struct{})
	stuck := func(context.Context, <-chan struct{}) {
		<-gate // a store call that ignores its context
		close(exited)
	}
	if err := r.Start(context.Background(), stuck); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := r.Stop(expired(t)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stop while stuck: %v, want DeadlineExceeded", err)
		}
		if err := r.Start(context.Background(), stuck); !errors.Is(err, startstop.ErrRunning) {
			t.Fatalf("start while stuck: %v, want ErrRunning", err)
		}
	}
	close(gate)
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	default:
		t.Fatal("Stop returned nil before the loop exited")
	}
	again := make(chan struct{})
	if err := r.Start(context.Background(), func(ctx context.Context, _ <-chan struct{}) { close(again); <-ctx.Done() }); err != nil {
		t.Fatalf("restart: %v", err)
	}
	<-again
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStopNeverStarted(t *testing.T) {
	t.Parallel()
	var r startstop.Runner
	if err := r.Stop(expired(t)); err != nil {
		t.Fatal(err)
	}
}
