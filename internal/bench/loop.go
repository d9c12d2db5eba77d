package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Loop drives the reference flow as Run does (a closed loop: each of its goroutines
// starts an instance and waits for its completion before starting the next) on an engine
// that the caller set up with other work beside it, so that a benchmark of that work
// (a bulk operation, say) can report what it leaves of the reference flow's throughput.
// The engine must have the reference flow deployed and handlers for JobTypes, and hand
// its commits to Observe (engine.Options.OnCommit).
type Loop struct {
	col       *collector
	completed atomic.Int64
	tick      chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

// NewLoop makes a loop; Start drives it.
func NewLoop() *Loop {
	l := &Loop{col: newCollector(1024), tick: make(chan struct{}, 1)}
	go l.col.run()
	return l
}

// Observe takes one commit's events (call it from engine.Options.OnCommit).
func (l *Loop) Observe(evs []*store.Event) {
	var ref []*store.Event
	for _, ev := range evs {
		if ev.Type == event.InstanceCompleted && ev.DefinitionKey == ProcessKey {
			ref = append(ref, ev)
		}
	}
	if len(ref) == 0 {
		return
	}
	l.col.observe(ref)
	l.completed.Add(int64(len(ref)))
	select {
	case l.tick <- struct{}{}:
	default:
	}
}

// Start runs concurrency goroutines of the closed loop on e until Stop.
func (l *Loop) Start(ctx context.Context, e *engine.Engine, concurrency int) {
	ctx, l.cancel = context.WithCancel(ctx)
	for range concurrency {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				inst, err := e.StartInstance(ctx, ProcessKey, engine.StartOptions{})
				if err == nil {
					select {
					case <-l.col.started(inst.ID, time.Now()):
					case <-ctx.Done():
					}
				}
				if err != nil && ctx.Err() == nil {
					l.mu.Lock()
					if l.err == nil {
						l.err = fmt.Errorf("bench loop: start: %w", err)
					}
					l.mu.Unlock()
					return
				}
			}
		})
	}
}

// Completed is how many reference instances have completed so far.
func (l *Loop) Completed() int64 { return l.completed.Load() }

// Rate waits until n more instances have completed and returns how many completed per
// second meanwhile.
func (l *Loop) Rate(ctx context.Context, n int64) (float64, error) {
	c0, t0 := l.Completed(), time.Now()
	for l.Completed() < c0+n {
		select {
		case <-l.tick:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
			if err := l.failed(); err != nil {
				return 0, err
			}
		}
	}
	return float64(l.Completed()-c0) / time.Since(t0).Seconds(), nil
}

func (l *Loop) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Stop ends the loop (instances in flight are left as they are) and returns the first
// error a start met.
func (l *Loop) Stop() error {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	l.col.stop()
	return l.failed()
}
