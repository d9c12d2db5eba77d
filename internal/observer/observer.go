package observer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// Observer defaults and bounds.
const (
	// DefaultDurable names the durable consumer on the events stream when Options name
	// none: a restarted observer goes on where it acknowledged last. Observers with
	// stores of their own need consumers of their own (serve names one per store).
	DefaultDurable = "cockpit-observer"
	// DefaultBatch is how many events one fetch takes and one transaction folds. A
	// fetch takes what is ready, so a live observer folds small batches; behind, the
	// larger fold amortizes its transaction: beside an engine running the reference flow
	// at full speed on 2 cores, commit to fold p99 was 514-729 ms at 256 and 117-157 ms
	// at 1,024 (BenchmarkObserverLive).
	DefaultBatch = 1024
	// MaxBatch bounds Batch.
	MaxBatch = 4096
	// gapRetry is how long an event held back by a gap waits before it is delivered
	// again (the missing event may still come: a relay that was down publishes it).
	gapRetry = time.Second
	// maxDeliver bounds the deliveries of one message: an event whose gap never closes
	// stops being delivered (Stats.Stuck counts it; a snapshot repairs its instance).
	maxDeliver = 60
	// repairAfter is the delivery of an event held back by a gap at which the observer
	// stops waiting for the missing event and asks the owning engine for the instance's
	// history (the second: the missing event did not come within gapRetry).
	repairAfter = 2
	// repairBacklog bounds the instances waiting for a repair; more are asked for at a
	// later delivery of their events.
	repairBacklog = 1024
	// DefaultRepairRetry is how long an instance whose repair failed (its service did
	// not answer) waits before it is tried again.
	DefaultRepairRetry = 10 * time.Second
	// repairTimeout bounds one history request; repairPages the pages one repair reads.
	repairTimeout = 5 * time.Second
	repairPages   = 1000
	// ackWait is how long a delivered batch may take to fold before the server delivers
	// it again: the events an observer that died had fetched come back after it (their
	// instances' later events wait as gaps meanwhile).
	ackWait = 10 * time.Second
)

// Options configure an Observer.
type Options struct {
	// Store is the read model; Models finds the definitions the events name.
	Store  store.Store
	Models ModelSource
	// JS is the JetStream context and Prefix the subject prefix (bus.DefaultPrefix).
	JS     jetstream.JetStream
	Prefix string
	// Durable names the consumer (default DefaultDurable); Batch the events one fetch
	// takes (default DefaultBatch, at most MaxBatch).
	Durable string
	Batch   int
	Logger  *slog.Logger
	// OnFold is called after each committed batch (the live UI's signal), outside the
	// transaction; a repair's batches too.
	OnFold func(*Result)
	// NoRepair turns off the repair of gaps by history requests (tests of the gaps).
	NoRepair bool
	// RepairRetry is how long an instance whose repair failed waits before it is tried
	// again (default DefaultRepairRetry).
	RepairRetry time.Duration
}

// Stats are an observer's counters since it started.
type Stats struct {
	// Applied and Repeats count the folded and the dropped (already folded) events;
	// Gaps the deliveries held back for a missing earlier event, Waiting those held back
	// for a definition the read model could not get; Stuck the events given up on after
	// maxDeliver deliveries.
	Applied, Repeats, Gaps, Waiting, Stuck int64
	// Repairs counts the instances whose gap a history request from their engine
	// closed; RepairFailures the requests that failed (no node of the service answered,
	// or it no longer holds the instance).
	Repairs, RepairFailures int64
	// Last is the time of the newest event folded (zero before the first).
	Last time.Time
	// Services are the counters per publishing service ("" for events without one).
	Services map[string]ServiceStats
}

// ServiceStats are the counters of one service's events since the observer started.
type ServiceStats struct {
	// Events counts the events received (a redelivered one again); Last is the newest
	// one's time (when its engine made the change), Folded when this observer last
	// folded one (its clock).
	Events       int64
	Last, Folded time.Time
}

// MaxServices bounds the services Stats keeps counters for: beyond it, events of new
// services count under "" (a stream cannot grow the observer's memory without bound).
const MaxServices = 1000

// Observer consumes the events stream into the read model until Stop.
type Observer struct {
	o      Options
	f      *Folder
	runner startstop.Runner

	mu    sync.Mutex
	stats Stats
	cons  jetstream.Consumer
	// repairs feeds the repair loop; repairing holds the instances asked for, and
	// those whose repair failed until they may be tried again (the time).
	repairs   chan repairRequest
	repairing map[string]time.Time
}

// repairRequest asks for an instance's history after its last folded position.
type repairRequest struct {
	service, instance string
	after             int64
}

// New checks the options.
func New(o Options) (*Observer, error) {
	if o.JS == nil {
		return nil, errors.New("observer: JS is required")
	}
	if o.Prefix == "" {
		o.Prefix = bus.DefaultPrefix
	}
	if err := bus.CheckPrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	if o.Durable == "" {
		o.Durable = DefaultDurable
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch < 1 || o.Batch > MaxBatch {
		return nil, fmt.Errorf("observer: batch %d is not between 1 and %d", o.Batch, MaxBatch)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RepairRetry <= 0 {
		o.RepairRetry = DefaultRepairRetry
	}
	f, err := NewFolder(o.Store, o.Models)
	if err != nil {
		return nil, err
	}
	return &Observer{o: o, f: f, runner: startstop.Runner{Name: "observer"},
		repairs: make(chan repairRequest, repairBacklog), repairing: map[string]time.Time{}}, nil
}

// Stats returns the counters.
func (ob *Observer) Stats() Stats {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	st := ob.stats
	st.Services = make(map[string]ServiceStats, len(ob.stats.Services))
	for k, v := range ob.stats.Services {
		st.Services[k] = v
	}
	return st
}

// Pending is how many events the stream holds that the observer has not acknowledged
// yet (its lag in events); an error before Start.
func (ob *Observer) Pending(ctx context.Context) (uint64, error) {
	ob.mu.Lock()
	cons := ob.cons
	ob.mu.Unlock()
	if cons == nil {
		return 0, errors.New("observer: not started")
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("observer: consumer info: %w", err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Start creates or binds the durable consumer (explicit acks, from the first event the
// stream holds) and folds what it delivers until Stop.
func (ob *Observer) Start(ctx context.Context) error {
	// A read model without a single event starts from the stream's first event, even
	// when the consumer acknowledged events into another store before (a new data
	// directory with the same name): those would be missing here for good.
	var evs []*store.Event
	if err := ob.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		evs, err = tx.ListEvents(ctx, store.EventFilter{Limit: 1})
		return err
	}); err != nil {
		return fmt.Errorf("observer: %w", err)
	}
	if len(evs) == 0 {
		err := ob.o.JS.DeleteConsumer(ctx, bus.EventsStream(ob.o.Prefix), ob.o.Durable)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("observer: reset consumer %q: %w", ob.o.Durable, err)
		}
		if err == nil {
			ob.o.Logger.Info("observer: the read model is empty; its consumer starts from the stream's first event", "consumer", ob.o.Durable)
		}
	}
	cons, err := ob.o.JS.CreateOrUpdateConsumer(ctx, bus.EventsStream(ob.o.Prefix), jetstream.ConsumerConfig{
		Durable: ob.o.Durable, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: ob.o.Prefix + ".events.>", MaxDeliver: maxDeliver, AckWait: ackWait,
		MaxAckPending: 4 * MaxBatch,
	})
	if err != nil {
		return fmt.Errorf("observer: consumer %q: %w", ob.o.Durable, err)
	}
	ob.mu.Lock()
	ob.cons = cons
	ob.mu.Unlock()
	return ob.runner.Start(ctx, func(ctx context.Context, stopping <-chan struct{}) {
		// One goroutine fetches and decodes the next batch while this one folds the
		// last: decoding and the fold's transaction overlap.
		batches := make(chan *received)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			ob.repairLoop(rctx)
		}()
		go func() {
			defer wg.Done()
			defer close(batches)
			for rctx.Err() == nil {
				r, err := ob.receive(cons)
				if err != nil {
					ob.o.Logger.Warn("observer", "err", err)
					select {
					case <-rctx.Done():
						return
					case <-time.After(time.Second):
					}
					continue
				}
				if r == nil {
					continue
				}
				select {
				case batches <- r:
				case <-rctx.Done():
					return // its messages come back after the ack wait
				}
			}
		}()
		defer func() {
			cancel()
			wg.Wait()
		}()
		for {
			select {
			case <-stopping:
				return
			case r, ok := <-batches:
				if !ok {
					return
				}
				if err := ob.fold(ctx, r); err != nil && ctx.Err() == nil {
					ob.o.Logger.Warn("observer", "err", err)
				}
			}
		}
	})
}

// Stop ends the loop; what was fetched and not folded is delivered again later.
func (ob *Observer) Stop(ctx context.Context) error { return ob.runner.Stop(ctx) }

// received is a fetched batch, decoded.
type received struct {
	msgs []jetstream.Msg
	evs  []*bus.Message
	byID map[string]jetstream.Msg
}

// receive takes what the consumer has ready, up to a batch; with nothing ready it
// waits up to a second for the next event and returns that one at once (a live page
// waits for no batch to fill). Nil: nothing came.
func (ob *Observer) receive(cons jetstream.Consumer) (*received, error) {
	msgs, err := fetch(cons.FetchNoWait(ob.o.Batch))
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		if msgs, err = fetch(cons.Fetch(1, jetstream.FetchMaxWait(time.Second))); err != nil || len(msgs) == 0 {
			return nil, err
		}
	}
	r := &received{msgs: msgs, evs: make([]*bus.Message, 0, len(msgs)), byID: make(map[string]jetstream.Msg, len(msgs))}
	for _, m := range msgs {
		ev, err := bus.DecodeMessage(m.Data())
		if err != nil {
			// Not an event this observer can read: it can never be folded.
			ob.o.Logger.Error("observer: an event that does not decode is dropped", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		r.evs = append(r.evs, ev)
		r.byID[ev.ID] = m
	}
	return r, nil
}

// fold folds a received batch and acknowledges what it folded (or had folded
// before); what it held back is delivered again after gapRetry.
func (ob *Observer) fold(ctx context.Context, r *received) error {
	msgs, evs, byID := r.msgs, r.evs, r.byID
	res, err := ob.f.Fold(ctx, evs)
	if err != nil {
		for _, m := range msgs {
			_ = m.Nak()
		}
		return err
	}
	held := make(map[string]bool, len(res.Gaps)+len(res.Waiting))
	for _, g := range res.Gaps {
		held[g.EventID] = true
		if md, err := byID[g.EventID].Metadata(); err == nil && md.NumDelivered >= repairAfter {
			ob.requestRepair(g)
		}
	}
	for i, w := range res.Waiting {
		held[w.EventID] = true
		if i == 0 {
			ob.o.Logger.Warn("observer: events wait for their definition", "count", len(res.Waiting), "err", w.Err)
		}
	}
	var stuck int64
	for id, m := range byID {
		if !held[id] {
			_ = m.Ack()
			continue
		}
		if md, err := m.Metadata(); err == nil && md.NumDelivered >= maxDeliver {
			stuck++
			ob.o.Logger.Error("observer: an event waited for an earlier event or its definition too long; given up on", "event", id)
		}
		_ = m.NakWithDelay(gapRetry)
	}
	ob.mu.Lock()
	ob.stats.Applied += int64(res.Applied)
	ob.stats.Repeats += int64(res.Repeats)
	ob.stats.Gaps += int64(len(res.Gaps))
	ob.stats.Waiting += int64(len(res.Waiting))
	ob.stats.Stuck += stuck
	if ob.stats.Services == nil {
		ob.stats.Services = map[string]ServiceStats{}
	}
	now := time.Now()
	for _, ev := range evs {
		if held[ev.ID] {
			continue
		}
		if ev.Time.After(ob.stats.Last) {
			ob.stats.Last = ev.Time
		}
		svc := ev.Service
		if _, ok := ob.stats.Services[svc]; !ok && len(ob.stats.Services) >= MaxServices {
			svc = ""
		}
		ss := ob.stats.Services[svc]
		ss.Events++
		ss.Folded = now
		if ev.Time.After(ss.Last) {
			ss.Last = ev.Time
		}
		ob.stats.Services[svc] = ss
	}
	ob.mu.Unlock()
	if ob.o.OnFold != nil {
		ob.o.OnFold(res)
	}
	return nil
}

// fetch collects a fetch's messages; no message is no error.
func fetch(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(msgs) == 0 {
		return nil, err
	}
	return msgs, nil
}

// requestRepair queues a history request for a gap's instance, unless one is queued or
// failed a short while ago, the backlog is full, or the events name no service.
func (ob *Observer) requestRepair(g Gap) {
	if ob.o.NoRepair || g.Service == "" {
		return
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if until, ok := ob.repairing[g.InstanceID]; ok && (until.IsZero() || time.Now().Before(until)) {
		return
	}
	if len(ob.repairing) >= repairBacklog {
		// Forget failures that may be tried again: the map stays bounded.
		now := time.Now()
		for id, until := range ob.repairing {
			if !until.IsZero() && !now.Before(until) {
				delete(ob.repairing, id)
			}
		}
		if len(ob.repairing) >= repairBacklog {
			return
		}
	}
	select {
	case ob.repairs <- repairRequest{service: g.Service, instance: g.InstanceID, after: g.Want - 1}:
		ob.repairing[g.InstanceID] = time.Time{}
	default:
	}
}

// repairLoop runs the queued repairs one after another until ctx ends.
func (ob *Observer) repairLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-ob.repairs:
			err := ob.repair(ctx, r)
			ob.mu.Lock()
			if err != nil {
				ob.stats.RepairFailures++
				ob.repairing[r.instance] = time.Now().Add(ob.o.RepairRetry)
			} else {
				ob.stats.Repairs++
				delete(ob.repairing, r.instance)
			}
			ob.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				ob.o.Logger.Warn("observer: repair a gap", "service", r.service, "instance", r.instance, "err", err)
			}
		}
	}
}

// repair asks the instance's engine for its events after the read model's position
// and folds them, page by page; the events the stream holds back for the gap are
// repeats then.
func (ob *Observer) repair(ctx context.Context, r repairRequest) error {
	_, err := ob.foldHistory(ctx, r.service, bus.HistoryRequest{InstanceID: r.instance, AfterInstanceSeq: r.after}, repairPages,
		func(res *Result) error {
			if len(res.Gaps) > 0 || len(res.Waiting) > 0 {
				return fmt.Errorf("the history of instance %s does not fold: %d events after a gap, %d waiting for their definition",
					r.instance, len(res.Gaps), len(res.Waiting))
			}
			return nil
		})
	return err
}

// foldHistory asks the nodes of service for history from req on, page by page, and
// folds each page as the stream's batches are folded (counters, OnFold); check, when
// set, may refuse a page's result. maxPages bounds the pages (0: none, the history
// must advance). It returns the events applied.
func (ob *Observer) foldHistory(ctx context.Context, service string, req bus.HistoryRequest, maxPages int, check func(*Result) error) (int64, error) {
	nc := ob.o.JS.Conn()
	var applied int64
	for pages := 1; ; pages++ {
		rep, err := bus.RequestHistory(ctx, nc, ob.o.Prefix, service, req, repairTimeout)
		if err != nil {
			return applied, err
		}
		if len(rep.Events) > 0 {
			res, err := ob.f.Fold(ctx, rep.Events)
			if err != nil {
				return applied, err
			}
			applied += int64(res.Applied)
			ob.mu.Lock()
			ob.stats.Applied += int64(res.Applied)
			ob.stats.Repeats += int64(res.Repeats)
			for _, ev := range res.Folded {
				if ev.Time.After(ob.stats.Last) {
					ob.stats.Last = ev.Time
				}
			}
			ob.mu.Unlock()
			if ob.o.OnFold != nil && res.Applied > 0 {
				ob.o.OnFold(res)
			}
			if check != nil {
				if err := check(res); err != nil {
					return applied, err
				}
			}
		}
		switch {
		case !rep.More:
			return applied, nil
		case rep.Next <= req.AfterSeq:
			return applied, fmt.Errorf("observer: the history of service %s does not advance past %d", service, req.AfterSeq)
		case maxPages > 0 && pages >= maxPages:
			return applied, fmt.Errorf("observer: the history asked of service %s is longer than %d pages", service, maxPages)
		}
		req.AfterSeq = rep.Next
	}
}

// FoldHistory asks the nodes of service for their store's whole history, page by page
// (bus.RequestHistory), and folds it: what the stream's retention dropped, an instance
// that finished long ago included. Events the read model holds are repeats. It returns
// the events applied; call it before Start (cockpit rebuild --from-engines) or beside
// a running observer.
func (ob *Observer) FoldHistory(ctx context.Context, service string) (int64, error) {
	if err := bus.CheckService(service); err != nil {
		return 0, fmt.Errorf("observer: %w", err)
	}
	return ob.foldHistory(ctx, service, bus.HistoryRequest{Limit: bus.MaxHistoryLimit}, 0, nil)
}
