package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// notifier implements store.Notifier with LISTEN/NOTIFY on one channel per schema.
//
// Sending: kick never blocks; a sender goroutine (started on the first kick) sends one
// pg_notify on a pooled connection at once, then at most one per delay for the rest of a
// burst (leading edge: an idle node hears of new work without waiting). NOTIFY takes a
// lock that serialises committing transactions that notified, which is why bursts are
// coalesced and the NOTIFY runs in its own tiny transaction, not in the engine's.
//
// Listening: a dedicated connection (started on the first listen) LISTENs and waits for
// notifications; when it drops, it reconnects with backoff and calls the listeners once,
// since notifications sent meanwhile are lost.
//
// close stops both goroutines and waits for them.
type notifier struct {
	pool    *pgxpool.Pool
	cc      *pgx.ConnConfig
	channel string
	delay   time.Duration
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	kicks      chan struct{}
	senderOnce sync.Once

	mu        sync.Mutex
	closed    bool
	listening bool
	fns       map[int]func()
	nextID    int
}

func newNotifier(pool *pgxpool.Pool, cc *pgx.ConnConfig, channel string, delay time.Duration, log *slog.Logger) *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	return &notifier{pool: pool, cc: cc.Copy(), channel: channel, delay: delay, log: log, ctx: ctx, cancel: cancel,
		kicks: make(chan struct{}, 1), fns: map[int]func(){}}
}

func (n *notifier) kick() {
	n.senderOnce.Do(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.closed {
			return
		}
		n.wg.Add(1)
		go n.send()
	})
	select {
	case n.kicks <- struct{}{}:
	default: // a NOTIFY is pending already
	}
}

func (n *notifier) send() {
	defer n.wg.Done()
	timer := time.NewTimer(0)
	<-timer.C
	var last time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kicks:
		}
		// At most one NOTIFY per delay (NOTIFY serialises commits): the first of a burst
		// goes at once, so an idle node hears of new work without waiting; the rest of the
		// burst is covered by one more, delay after the previous.
		if wait := n.delay - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-n.ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		// Kicks that arrived while waiting are covered by this NOTIFY.
		select {
		case <-n.kicks:
		default:
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		if _, err := n.pool.Exec(ctx, notifySQL, n.channel); err != nil && n.ctx.Err() == nil {
			n.log.Warn("postgres store: notify work", "channel", n.channel, "err", err)
		}
		cancel()
		last = time.Now()
	}
}

func (n *notifier) listen(fn func()) (cancel func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	id := n.nextID
	n.nextID++
	n.fns[id] = fn
	if !n.listening && !n.closed {
		n.listening = true
		n.wg.Add(1)
		go n.listenLoop()
	}
	return func() {
		n.mu.Lock()
		delete(n.fns, id)
		n.mu.Unlock()
	}
}

func (n *notifier) fire() {
	n.mu.Lock()
	fns := make([]func(), 0, len(n.fns))
	for _, fn := range n.fns {
		fns = append(fns, fn)
	}
	n.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func (n *notifier) listenLoop() {
	defer n.wg.Done()
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for n.ctx.Err() == nil {
		connected, err := n.listenOnce()
		if n.ctx.Err() != nil {
			return
		}
		if connected {
			backoff = minBackoff
		}
		if err != nil {
			n.log.Warn("postgres store: work listener lost its connection", "channel", n.channel, "err", err,
				"retry_in", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// listenOnce connects, listens and relays notifications until the connection fails or
// the notifier closes.
func (n *notifier) listenOnce() (connected bool, err error) {
	conn, err := pgx.ConnectConfig(n.ctx, n.cc)
	if err != nil {
		return false, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(ctx)
		cancel()
	}()
	if _, err := conn.Exec(n.ctx, "LISTEN "+pgx.Identifier{n.channel}.Sanitize()); err != nil {
		return false, err
	}
	// Whatever was announced before this LISTEN took effect was not heard: on a reconnect
	// what came while we were away, and on the first one what came between the engine's
	// first look for jobs and now (another node's job would otherwise wait for IdlePoll).
	n.fire()
	for {
		if _, err := conn.WaitForNotification(n.ctx); err != nil {
			return true, err
		}
		n.fire()
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
}
