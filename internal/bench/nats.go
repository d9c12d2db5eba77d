package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publication measures the event fabric during a run with Options.NATS: an embedded
// NATS server, the outbox relay, and a core NATS subscriber on <prefix>.events.> that
// times each event from its commit (OnCommit) to its arrival.
type publication struct {
	srv   *bus.Server
	nc    *nats.Conn
	subNC *nats.Conn // the subscriber's own connection: a slow reader must not cost the relay its connection
	sub   *nats.Subscription
	relay *bus.Relay
	st    store.Store

	mu        sync.Mutex
	committed map[string]time.Time // event id → commit time, until it arrives
	// early holds events that arrived before OnCommit saw them: the relay can read a row
	// right after the commit, before the committer gets to call OnCommit.
	early      map[string]bool
	lats       []time.Duration
	total      int // events committed
	arrived    int
	allArrived chan struct{} // signalled when arrived catches up with total
	maxBacklog int64

	polling  bool
	stopPoll chan struct{}
	polled   chan struct{}
}

func startPublication(ctx context.Context, dir string, st store.Store, log *slog.Logger) (*publication, error) {
	p := &publication{st: st, committed: map[string]time.Time{}, early: map[string]bool{}, allArrived: make(chan struct{}, 1),
		stopPoll: make(chan struct{}), polled: make(chan struct{})}
	var err error
	p.srv, err = bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		return nil, err
	}
	if p.nc, err = p.srv.Connect(ctx, "cockpit-bench"); err != nil {
		p.close()
		return nil, err
	}
	js, err := jetstream.New(p.nc)
	if err == nil {
		err = bus.EnsureStreams(ctx, js, bus.StreamOptions{})
	}
	if err == nil {
		p.relay, err = bus.NewRelay(bus.RelayOptions{Store: st, Conn: p.nc, Logger: log})
	}
	if err == nil {
		p.subNC, err = p.srv.Connect(ctx, "cockpit-bench-subscriber")
	}
	if err == nil {
		p.sub, err = p.subNC.Subscribe(bus.DefaultPrefix+".events.>", p.onMsg)
	}
	if err == nil {
		// The subscriber must keep up with the whole run without dropping.
		err = p.sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		// Subscribe only queues the interest: without this round trip the server may not
		// have it when the first instance's events are published, and they are missed.
		err = p.subNC.Flush()
	}
	if err == nil {
		err = p.relay.Start(ctx)
	}
	if err != nil {
		p.close()
		return nil, fmt.Errorf("bench: NATS: %w", err)
	}
	p.polling = true
	go p.pollBacklog()
	return p, nil
}

// onCommit records the commit time of each event and wakes the relay (committer
// goroutine: short).
func (p *publication) onCommit(evs []*store.Event) {
	now := time.Now()
	p.mu.Lock()
	for _, ev := range evs {
		if p.early[ev.ID] {
			delete(p.early, ev.ID)
			p.lats = append(p.lats, 0)
			p.arrived++
			continue
		}
		p.committed[ev.ID] = now
	}
	p.total += len(evs)
	if p.arrived == p.total {
		select {
		case p.allArrived <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
	p.relay.Notify()
}

func (p *publication) onMsg(m *nats.Msg) {
	now := time.Now()
	id := m.Header.Get(jetstream.MsgIDHeader)
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.committed[id]
	if !ok {
		// Not committed yet as far as OnCommit knows (or a duplicate, which OnCommit will
		// never report: early keeps it, unused).
		p.early[id] = true
		return
	}
	delete(p.committed, id)
	p.lats = append(p.lats, now.Sub(at))
	p.arrived++
	if p.arrived == p.total {
		select {
		case p.allArrived <- struct{}{}:
		default:
		}
	}
}

// pollBacklog samples the outbox size every 20 ms for the maximum.
func (p *publication) pollBacklog() {
	defer close(p.polled)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stopPoll:
			return
		case <-t.C:
		}
		_ = p.st.Read(context.Background(), func(tx store.Tx) error {
			n, _, err := tx.OutboxStats(context.Background())
			p.mu.Lock()
			p.maxBacklog = max(p.maxBacklog, n)
			p.mu.Unlock()
			return err
		})
	}
}

// wait blocks until every committed event arrived (or ctx ends).
func (p *publication) wait(ctx context.Context) error {
	for {
		p.mu.Lock()
		done, arrived, total := p.arrived >= p.total, p.arrived, p.total
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-p.allArrived:
		case <-time.After(100 * time.Millisecond): // re-check: total may have grown
		case <-ctx.Done():
			return fmt.Errorf("bench: %d of %d events arrived (%s): %w", arrived, total, p.diagnose(), ctx.Err())
		}
	}
}

// result fills the NATS fields of r.
func (p *publication) result(r *Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sort.Slice(p.lats, func(i, j int) bool { return p.lats[i] < p.lats[j] })
	p50, p99 := round2(ms(percentile(p.lats, 50))), round2(ms(percentile(p.lats, 99)))
	events, backlog := p.arrived, p.maxBacklog
	r.NATS = true
	r.EventP50Ms, r.EventP99Ms, r.Events, r.MaxBacklog = &p50, &p99, &events, &backlog
}

// close stops the relay, the subscriber, the connection and the server, in that order.
func (p *publication) close() {
	if p.polling {
		p.polling = false
		close(p.stopPoll)
		<-p.polled
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.relay != nil {
		_ = p.relay.Stop(ctx)
	}
	if p.subNC != nil {
		p.subNC.Close()
	}
	if p.nc != nil {
		p.nc.Close()
	}
	if p.srv != nil {
		_ = p.srv.Stop(ctx)
	}
}

// diagnose tells where missing events are: still in the outbox, or in the stream.
func (p *publication) diagnose() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var backlog int64
	_ = p.st.Read(ctx, func(tx store.Tx) error {
		var err error
		backlog, _, err = tx.OutboxStats(ctx)
		return err
	})
	var stored uint64
	if js, err := jetstream.New(p.nc); err == nil {
		if s, err := js.Stream(ctx, bus.EventsStream(bus.DefaultPrefix)); err == nil {
			if info, err := s.Info(ctx); err == nil {
				stored = info.State.Msgs
			}
		}
	}
	st, _ := p.relay.Stats(ctx)
	return fmt.Sprintf("outbox %d, stream %d messages, relay %+v, subscriber dropped %d", backlog, stored, st, dropped(p.sub))
}

func dropped(s *nats.Subscription) int {
	n, _ := s.Dropped()
	return n
}
