package command

import (
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
)

// replayCache remembers the answers to requests whose caller chose the request id, so
// that a caller who timed out and sends the same request again gets the first answer
// instead of running the command twice (two starts, two retries). It is per node: a
// repeat that the queue group hands to another node runs again there (see
// docs/commands.md). Entries leave after the window or when the cache is full, oldest
// first.
type replayCache struct {
	clock  clock.Clock
	window time.Duration
	max    int

	mu      sync.Mutex
	flights map[string]*flight
	order   []*flight // insertion order, for eviction
}

// flight is one request id: running until done is closed, then answered with rep.
type flight struct {
	id   string
	verb string
	at   time.Time
	done chan struct{}
	rep  *reply
	gone bool // evicted or dropped: order may still hold it
}

func newReplayCache(c clock.Clock, window time.Duration, max int) *replayCache {
	return &replayCache{clock: c, window: window, max: max, flights: map[string]*flight{}}
}

// begin returns the flight of a request id and whether it is new (the caller runs the
// command and must call finish) or a repeat (the caller waits on done and sends rep).
func (c *replayCache) begin(id, verb string) (*flight, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.evict(now)
	if f := c.flights[id]; f != nil {
		return f, false
	}
	f := &flight{id: id, verb: verb, at: now, done: make(chan struct{})}
	c.flights[id] = f
	c.order = append(c.order, f)
	return f, true
}

// finish publishes the answer of a flight. An unavailable answer is handed to the
// repeats already waiting but not kept: the command did not run, so sending it again
// must try again.
func (c *replayCache) finish(f *flight, rep *reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.rep = rep
	close(f.done)
	if rep.code == CodeUnavailable {
		c.drop(f)
	}
}

// evict drops finished flights older than the window, and the oldest finished ones
// beyond max. Running flights stay: their repeats wait for them.
func (c *replayCache) evict(now time.Time) {
	n := 0
	for _, f := range c.order {
		if f.gone {
			n++
			continue
		}
		select {
		case <-f.done:
		default:
			// Running; everything after it is younger, but may be over max: stop here
			// anyway, the cache grows only by the requests in flight.
			c.order = c.order[n:]
			return
		}
		if now.Sub(f.at) < c.window && len(c.flights) <= c.max {
			break
		}
		c.drop(f)
		n++
	}
	c.order = c.order[n:]
}

func (c *replayCache) drop(f *flight) {
	if !f.gone {
		f.gone = true
		if c.flights[f.id] == f {
			delete(c.flights, f.id)
		}
	}
}
