package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/startstop"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
)

// envelopeBytes is room for what an event message holds besides its data: ids, keys and
// names (bounded by engine.MaxNameBytes, and grown at most sixfold by JSON escaping) and
// the headers. event.MaxDataBytes plus this stays below NATS's default max_payload of
// 1 MiB.
const envelopeBytes = 16 << 10

// LeaseName is the store lease the relay holds while it publishes: one relay per store
// publishes at a time, so in a cluster of nodes each outbox row is published by one.
const LeaseName = "outbox-relay"

// RelayOptions configure a Relay. Zero values take the documented defaults.
type RelayOptions struct {
	Store store.Store
	// Conn is the NATS connection to publish on (required). The relay does not close it.
	Conn *nats.Conn
	// Prefix is the subject prefix (default DefaultPrefix); the streams of EnsureStreams
	// with the same prefix must exist.
	Prefix string
	// Service names the engine in every event: the payload's "service", the
	// Cockpit-Service header and, in subject scheme 2, a subject token (default
	// DefaultService(), derived from the host name; CheckService says what a name may be).
	// Every node of one store should name the same service: the lease holder's is used.
	Service string
	// Subjects is the subject scheme version: SubjectsV2 (the default) or SubjectsV1.
	Subjects int
	// Owner names this node in the lease (default a random id; the app passes the
	// engine's node id).
	Owner string
	// BatchSize is how many outbox rows one round reads and publishes (default 512).
	BatchSize int
	// Fallback is the longest the relay sleeps without a Notify (default 1s): it picks
	// up rows written by other nodes or left by a previous run, and retries after a failed
	// round (a failed round ignores Notify until then, so a NATS outage does not turn
	// every commit into a publish attempt).
	Fallback time.Duration
	// LeaseTTL is how long the lease is taken for (default leadership.DefaultTTL, 5s). It
	// is renewed every third of it; a node that dies hands over within about LeaseTTL
	// (package leadership).
	LeaseTTL time.Duration
	// AckTimeout bounds the wait for one publish acknowledgement (default 10s). A round
	// that outlives the lease is cancelled when the lease is lost.
	AckTimeout time.Duration
	Clock      clock.Clock  // default clock.Real
	Logger     *slog.Logger // default slog.Default()
}

// Relay publishes the store's outbox to JetStream. Create it with NewRelay, Start it,
// call Notify after commits (engine.Options.OnCommit), and Stop it.
//
// Invariants:
//   - A row leaves the outbox only after every message of its event was acknowledged by
//     the stream (Nats-Msg-Id = event id; a republished row is dropped by the stream's
//     duplicate window).
//   - Per instance, events are published in Seq order, and an instance's events after one
//     that failed stay in the outbox (even when acknowledged) and go again, in order, with
//     it in a later round.
//   - Only the holder of the "outbox-relay" lease publishes: a round runs under the
//     lease's term (leadership.Elector.Lead) and is cancelled when the lease is lost, so
//     a relay that cannot renew it stops publishing before it expires.
type Relay struct {
	opts RelayOptions
	subj Subjects
	log  *slog.Logger
	js   jetstream.JetStream
	el   *leadership.Elector
	// run is the publishing loop; it drains: Stop lets it publish what is left, and the
	// elector is stopped (the lease released) after it.
	run startstop.Runner

	notify chan struct{}
	// presence announces this node while the relay runs (presence.go).
	presence micro.Service

	published  atomic.Uint64
	parked     atomic.Uint64
	duplicates atomic.Uint64
	errs       atomic.Uint64
	lastLag    atomic.Int64 // nanoseconds
	lag        prometheus.Histogram

	// beforeDelete, when set (tests), runs after a round's acknowledgements and before
	// DeleteOutbox; an error makes the round end there, as a crash would.
	beforeDelete func(seqs []int64) error
}

// NewRelay checks the options and makes a relay; Start runs it.
func NewRelay(o RelayOptions) (*Relay, error) {
	if o.Store == nil || o.Conn == nil {
		return nil, errors.New("new relay: Store and Conn are required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Service == "" {
		o.Service = DefaultService()
	}
	if o.Subjects == 0 {
		o.Subjects = DefaultSubjects
	}
	subj := Subjects{Prefix: o.Prefix, Service: o.Service, Version: o.Subjects}
	if err := subj.Check(); err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	if o.Owner == "" {
		o.Owner = "relay-" + uuid.NewString()[:8]
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 512
	}
	if o.Fallback <= 0 {
		o.Fallback = time.Second
	}
	if o.AckTimeout <= 0 {
		o.AckTimeout = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("component", "outbox-relay")
	el, err := leadership.New(leadership.Options{Store: o.Store, Name: LeaseName, Owner: o.Owner, TTL: o.LeaseTTL,
		Clock: o.Clock, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new relay: %w", err)
	}
	return &Relay{
		opts:   o,
		subj:   subj,
		log:    log,
		el:     el,
		run:    startstop.Runner{Name: "outbox relay", Drain: true},
		notify: make(chan struct{}, 1),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cockpit_event_publish_lag_seconds",
			Help:    "Time from an event's change in the engine to the stream's acknowledgement of its publication.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 17), // 1 ms .. 65 s
		}),
	}, nil
}

// Notify tells the relay that new outbox rows were committed. It never blocks; bursts
// coalesce into one wake-up. Call it from engine.Options.OnCommit.
func (r *Relay) Notify() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Start runs the relay until Stop. The relay outlives ctx (only its values are kept):
// stopping is Stop's job, so that it can drain the outbox first.
func (r *Relay) Start(ctx context.Context) error {
	js, err := jetstream.New(r.opts.Conn,
		jetstream.WithPublishAsyncTimeout(r.opts.AckTimeout),
		// Every message of a round may be in flight at once (an incident event is two).
		jetstream.WithPublishAsyncMaxPending(2*r.opts.BatchSize+16),
	)
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	err = r.run.Start(ctx, func(ctx context.Context, stopping <-chan struct{}) {
		// Set here, not in Start: a loop that outlived a Stop out of time still uses the
		// previous run's, and Start fails then.
		r.js = js
		defer js.CleanupPublisher()
		r.loop(ctx, stopping)
	})
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	// The elector stops after the loop: the drain at Stop still holds the lease.
	if err := r.el.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("start relay: %w", err), r.run.Stop(ctx))
	}
	if r.presence, err = announce(r.opts.Conn, r.opts.Prefix, r.opts.Service, r.opts.Owner); err != nil {
		// Discovery is a convenience; publishing goes on without it.
		r.log.Warn("announce this engine node", "err", err)
	} else if err := serveHistory(r.presence, r.opts.Store, r.opts.Conn, r.opts.Prefix, r.opts.Service, r.log); err != nil {
		r.log.Warn("serve history requests", "err", err)
	}
	r.log.Info("outbox relay started", "owner", r.opts.Owner, "prefix", r.opts.Prefix,
		"service", r.opts.Service, "subjects", r.opts.Subjects)
	if mp := r.opts.Conn.MaxPayload(); mp > 0 && mp < event.MaxDataBytes+envelopeBytes {
		r.log.Warn("the NATS server's max_payload is below the engine's largest event: larger events will be set aside, not published",
			"max_payload", mp, "largest_event", event.MaxDataBytes+envelopeBytes)
	}
	return nil
}

// Stop stops the relay: it finishes the round in flight, publishes what is left in the
// outbox (until it is empty, a round fails, or ctx ends), and gives up the lease. When
// ctx ends first, acknowledgements still outstanding are abandoned; their rows stay in
// the outbox and are deduplicated when published again (package startstop says what a
// Stop out of time leaves).
func (r *Relay) Stop(ctx context.Context) error {
	err := errors.Join(r.run.Stop(ctx), r.el.Stop(ctx))
	if r.presence != nil {
		err = errors.Join(err, r.presence.Stop())
		r.presence = nil
	}
	return err
}

// loop publishes while this node holds the lease. It exits when ctx ends (Stop ran out
// of time) or after the drain that stopping asks for.
func (r *Relay) loop(ctx context.Context, stopping <-chan struct{}) {
	failed := false
	for {
		// Taken before the round looks at the lease: a change meanwhile wakes the wait.
		changed := r.el.Changed()
		select {
		case <-stopping:
			r.drain(ctx)
			return
		case <-ctx.Done():
			return
		default:
		}
		more := false
		if lctx, cancel, ok := r.el.Lead(ctx); ok {
			n, ok := r.round(lctx)
			cancel()
			more, failed = ok && n == r.opts.BatchSize, !ok
		}
		if more {
			continue
		}
		notify := r.notify
		if failed {
			notify = nil // back off: retry after Fallback, not on the next commit
		}
		select {
		case <-notify:
		case <-changed: // took the lease (or lost it): look at once
		case <-r.opts.Clock.After(r.opts.Fallback):
		case <-stopping:
			r.drain(ctx)
			return
		case <-ctx.Done():
			return
		}
	}
}

// drain publishes until the outbox is empty, a round fails, the lease is lost, or ctx
// ends.
func (r *Relay) drain(ctx context.Context) {
	for ctx.Err() == nil {
		lctx, cancel, ok := r.el.Lead(ctx)
		if !ok {
			return
		}
		n, ok := r.round(lctx)
		cancel()
		if !ok || n == 0 {
			return
		}
	}
}

// inflight is one event whose messages were handed to the connection.
type inflight struct {
	ev    *store.Event
	futs  []jetstream.PubAckFuture
	bytes int64 // the largest of its messages, as the server counts them
	// park is set when the event cannot be published: it is recorded as set aside (with
	// its placeholder, if that was acknowledged) instead of published.
	park *store.ParkedEvent
}

// setAside records that the server refused one of f's messages for good.
func (f *inflight) setAside(r *Relay, err error) {
	if f.park == nil {
		f.park = r.parkedEvent(f.ev, f.bytes, err.Error())
		return
	}
	f.park.Placeholder = false
	f.park.Reason += "; placeholder refused: " + err.Error()
}

func (r *Relay) parkedEvent(ev *store.Event, bytes int64, reason string) *store.ParkedEvent {
	return &store.ParkedEvent{Seq: ev.Seq, ID: ev.ID, InstanceID: ev.InstanceID, Type: ev.Type, Bytes: bytes,
		Reason: reason, ParkedAt: r.opts.Clock.Now()}
}

// payloadSize is a message's size as the server's max_payload counts it: data and
// headers.
func payloadSize(m *nats.Msg) int64 {
	return int64(m.Size() - len(m.Subject) - len(m.Reply))
}

// permanent reports errors after which a message can never be published, however often
// it is sent again: it is larger than the server or the stream accepts.
func permanent(err error) bool {
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum)
}

// round publishes up to BatchSize outbox rows and deletes those acknowledged. It returns
// how many rows it read and whether all of them were published.
func (r *Relay) round(ctx context.Context) (int, bool) {
	var evs []*store.Event
	err := r.opts.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		evs, err = tx.ListOutbox(ctx, r.opts.BatchSize)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("outbox relay: read outbox", "err", err)
		}
		return 0, false
	}
	if len(evs) == 0 {
		return 0, true
	}
	nc := r.opts.Conn
	if !nc.IsConnected() {
		return len(evs), false
	}

	// Publish everything, then wait: the acknowledgements of a batch arrive in one
	// round trip instead of one per event.
	//
	// A message lost with a dying connection followed by one sent on the new connection
	// would overtake it; so the round stops sending when the connection reconnected
	// since the round began (the reconnect buffer is off, see baseOptions).
	reconnects := nc.Stats().Reconnects
	// The server's limit, as the connection learned it (it may differ after a reconnect
	// to another server of a cluster; a round that reconnected stops sending anyway).
	maxPayload := nc.MaxPayload()
	blocked := map[string]bool{} // instances with a failed event in this round
	var sent []inflight
	var lastErr error
send:
	for _, ev := range evs {
		if blocked[ev.InstanceID] {
			continue
		}
		if !nc.IsConnected() || nc.Stats().Reconnects != reconnects {
			lastErr = nats.ErrDisconnected
			break
		}
		f := inflight{ev: ev}
		msgs, err := eventMsgs(r.subj, ev)
		if err == nil {
			for _, m := range msgs {
				f.bytes = max(f.bytes, payloadSize(m))
			}
			if f.bytes > maxPayload {
				err = fmt.Errorf("the event's message is %d bytes, more than the server's max_payload of %d bytes", f.bytes, maxPayload)
			}
		}
		if err != nil {
			// It can never be published: a placeholder without its data goes in its
			// place, so its instance's events on NATS keep their order and have no gap.
			f.park = r.parkedEvent(ev, f.bytes, err.Error())
			msgs = placeholderMsgs(r.subj, ev, f.park)
			f.park.Placeholder = len(msgs) > 0
		}
		for _, m := range msgs {
			// No client-side retry on "no responders": a retry fires later than the
			// events sent after this one and would overtake them; the row goes again
			// in the next round instead.
			fut, err := r.js.PublishMsgAsync(m, jetstream.WithRetryAttempts(0))
			if err != nil {
				r.errs.Add(1)
				if permanent(err) {
					// Refused by the client for good (a placeholder too large?): set
					// aside without a placeholder rather than stop the stream.
					f.setAside(r, err)
					break
				}
				blocked[ev.InstanceID], lastErr = true, err
				if connectionError(err) {
					break send
				}
				continue send
			}
			f.futs = append(f.futs, fut)
		}
		sent = append(sent, f)
	}

	acked := make([]int64, 0, len(sent))
	var parked []*store.ParkedEvent
	for _, f := range sent {
		ok := !blocked[f.ev.InstanceID]
		for _, fut := range f.futs {
			select {
			case ack := <-fut.Ok():
				if ack.Duplicate {
					r.duplicates.Add(1)
				}
			case err := <-fut.Err():
				r.errs.Add(1)
				if permanent(err) {
					f.setAside(r, err) // refused by the stream for good
					continue
				}
				ok, lastErr = false, err
			case <-ctx.Done():
				// Stopped: the rows stay and are deduplicated when published again.
				return len(evs), false
			}
		}
		if !ok {
			blocked[f.ev.InstanceID] = true
			continue
		}
		acked = append(acked, f.ev.Seq)
		if f.park != nil {
			parked = append(parked, f.park)
			continue
		}
		lag := r.opts.Clock.Now().Sub(f.ev.Time)
		r.lastLag.Store(int64(lag))
		r.lag.Observe(max(lag, 0).Seconds())
	}
	if r.beforeDelete != nil {
		if err := r.beforeDelete(acked); err != nil {
			return len(evs), false
		}
	}
	if len(acked) > 0 {
		// Parked rows are recorded in the transaction that moves the cursor past them:
		// an event is either still queued or recorded as set aside, never lost.
		err := r.opts.Store.Write(ctx, func(tx store.Tx) error {
			if err := tx.ParkOutbox(ctx, parked); err != nil {
				return err
			}
			return tx.DeleteOutbox(ctx, acked)
		})
		if err != nil {
			// Published but still queued: published again later, deduplicated.
			r.log.Warn("outbox relay: delete published rows", "err", err, "rows", len(acked))
			return len(evs), false
		}
		r.published.Add(uint64(len(acked) - len(parked)))
		r.parked.Add(uint64(len(parked)))
		for _, p := range parked {
			r.log.Error("outbox relay: event set aside, it cannot be published", "event", p.ID, "seq", p.Seq,
				"instance", p.InstanceID, "type", p.Type, "bytes", p.Bytes, "reason", p.Reason, "placeholder", p.Placeholder)
		}
	}
	if len(acked) < len(evs) {
		r.log.Warn("outbox relay: events not published, retrying", "published", len(acked), "read", len(evs), "err", lastErr)
		return len(evs), false
	}
	return len(evs), true
}

// connectionError reports errors after which nothing more can be sent in this round.
func connectionError(err error) bool {
	return errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrConnectionDraining) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrNoServers) ||
		errors.Is(err, jetstream.ErrTooManyStalledMsgs)
}

// Stats is a snapshot of the relay and the outbox.
type Stats struct {
	// Backlog is the number of rows in the outbox; OldestAge the age of the oldest.
	Backlog   int64
	OldestAge time.Duration
	// Published counts rows whose events were acknowledged and removed from the outbox
	// by this relay; Duplicates the acknowledgements that said "already stored".
	Published  uint64
	Duplicates uint64
	// PublishErrors counts messages that could not be published (retried, or set aside
	// when they never can be).
	PublishErrors uint64
	// Parked counts the events this relay set aside because they can never be published
	// (larger than the server's max_payload); ParkedTotal is how many the store holds,
	// from every node's relay.
	Parked      uint64
	ParkedTotal int64
	// LastLag is the time from the last published event's change to its acknowledgement.
	LastLag time.Duration
	// Leader reports whether this relay holds the lease.
	Leader bool
}

// Stats reads the outbox size from the store and the relay's counters.
func (r *Relay) Stats(ctx context.Context) (Stats, error) {
	s := Stats{
		Published: r.published.Load(), Parked: r.parked.Load(), Duplicates: r.duplicates.Load(), PublishErrors: r.errs.Load(),
		LastLag: time.Duration(r.lastLag.Load()), Leader: r.el.Leader(),
	}
	err := r.opts.Store.Read(ctx, func(tx store.Tx) error {
		n, oldest, err := tx.OutboxStats(ctx)
		if err != nil {
			return err
		}
		s.Backlog = n
		if n > 0 {
			s.OldestAge = max(r.opts.Clock.Now().Sub(oldest), 0)
		}
		s.ParkedTotal, err = tx.CountParked(ctx)
		return err
	})
	if err != nil {
		return s, fmt.Errorf("relay stats: %w", err)
	}
	return s, nil
}
