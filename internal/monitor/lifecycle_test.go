package monitor_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// gatedStore holds every Write until gate is closed, whatever its context says (a store
// call that outlives Stop's deadline), and counts the Writes in flight.
type gatedStore struct {
	store.Store
	gate     chan struct{}
	entered  chan struct{} // gets a value when a Write starts waiting
	inflight atomic.Int32
}

func (g *gatedStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	g.inflight.Add(1)
	defer g.inflight.Add(-1)
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	return g.Store.Write(ctx, fn)
}

type lifecycle interface {
	Start(context.Context) error
	Stop(context.Context) error
}

// TestStopWaitsForTheLoop: when Stop's context ends before the loop exits, the loop still
// counts as running: Start fails, a second Stop waits again, and once it returns nil no
// store call of the loop (or of its lease elector) is left in flight (goleak in TestMain
// checks the goroutines). The rule is startstop.Runner's; this checks the owners use it.
func TestStopWaitsForTheLoop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(st store.Store) (lifecycle, error)
	}{
		{"projector", func(st store.Store) (lifecycle, error) {
			return monitor.NewProjector(monitor.ProjectorOptions{Store: st, Logger: slog.New(slog.DiscardHandler)})
		}},
		{"stall-detector", func(st store.Store) (lifecycle, error) {
			return monitor.NewStallDetector(monitor.StallOptions{Store: st, Logger: slog.New(slog.DiscardHandler)})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inner, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = inner.Close() })
			st := &gatedStore{Store: inner, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			open := sync.OnceFunc(func() { close(st.gate) })
			t.Cleanup(open) // a failed test must not leave the loop stuck at the gate
			l, err := tc.make(st)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := l.Start(ctx); err != nil {
				t.Fatal(err)
			}
			<-st.entered // the elector's first lease write waits at the gate

			expired, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			if err := l.Stop(expired); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stop with an expired context: %v, want DeadlineExceeded", err)
			}
			if err := l.Start(ctx); err == nil {
				t.Fatal("start while the loop still runs: no error")
			}
			expired2, cancel2 := context.WithTimeout(ctx, time.Millisecond)
			defer cancel2()
			if err := l.Stop(expired2); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("second stop while the loop still runs: %v, want DeadlineExceeded", err)
			}

			open()
			if err := l.Stop(ctx); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if n := st.inflight.Load(); n != 0 {
				t.Fatalf("%d store writes in flight after Stop", n)
			}
			if err := l.Stop(ctx); err != nil {
				t.Fatalf("stop again: %v", err)
			}
		})
	}
}
