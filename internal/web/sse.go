package web

// Live updates. A page that can change while it is open names a topic; web/static/live.js
// opens one SSE stream for it (GET /live?topic=...). The hub subscribes to the engine's
// events on NATS for the topic, and when an event concerns it, renders the page again
// through its own handler (as a fragment request, so the same templ components draw it),
// cuts out the elements marked data-live (and the diagram's <g id="overlays"> layer),
// and pushes those that changed to each browser as `event: fragment`.
//
// Topics (one room per topic, shared by every browser that watches it):
//
//	dashboard                 /                      instance, incident and user task events
//	process:<key>[?<query>]   /processes/<key>       the key's instance, element and incident events (query: service, version)
//	instance:<id>             /instances/<id>        every event of the instance
//	instances[?<filter>]      /instances?<filter>    instance, incident and element events (the list shows where
//	                                                 each instance waits)
//	incidents[?<filter>]      /incidents?<filter>    incident events
//	operations[?<filter>]     /operations?<filter>   operation notes (<prefix>.operations.>)
//	operation:<id>            /operations/<id>       the operation's notes
//
// Operation notes are not history events: the operation executor publishes one on
// <prefix>.operations.<id> after each batch of an operation's items and when it ends.
//
// Stall notices (<prefix>.stalls.>, published by the stall detector) are not history
// events: one hub-wide subscription, made at Start, marks the rooms whose page shows
// stalls (dashboard, the process, the instance, instance lists filtered by stalled).
//
// Invariants:
//   - One core NATS subscription per subject pattern (<prefix>.events.> or
//     <prefix>.events.*.<safeKey>.>: every service's events of the key, in subject
//     scheme 2; <prefix>.events.<safeKey>.> in scheme 1), shared by the rooms that need it
//     and dropped with the last of them; rooms filter the decoded events in Go (exact
//     key, instance id, type).
//   - A room renders at most once per Interval: the first event after a quiet spell
//     renders at once, later ones within the interval coalesce into one trailing render.
//   - Renders share a budget: at most liveRenderSlots run at once (half the cores), and a
//     room's interval grows with the cost of a render times the number of rooms, so all
//     renders together take about liveRenderShare of a core; under load pages refresh
//     more slowly (up to liveMaxInterval) instead of slowing the engine.
//   - Streams are bounded in total, per client (remote address, or the trusted proxy
//     user) and in distinct topics (LiveLimits). A stream over a limit is refused (503, or
//     429 for one client's) with Retry-After; the page says it is not live and keeps its
//     manual refresh. A topic's query keeps only the parameters its page reads, in
//     canonical order, so query strings that show the same view share one room and render.
//   - A browser gets a fragment only when its HTML differs from what it was last sent;
//     a new stream gets every fragment once, so events between the page's render and the
//     stream's start are never missed.
//   - The hub never blocks on a browser: each stream has a small queue, and a stream whose
//     queue is full is dropped (its browser reconnects and gets a full set again).
//   - After NATS comes back (nats.go reconnects and re-subscribes), every room renders
//     again: events published while the connection was down were not delivered.
//   - Lock order: hub.mu only; NATS callbacks and room loops take it briefly and never
//     send to a browser while holding it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
)

// Live-update defaults.
const (
	// DefaultLiveInterval is the least time between two renders of one topic.
	DefaultLiveInterval = 50 * time.Millisecond
	// liveHeartbeat keeps idle streams alive through proxies and finds dead browsers.
	liveHeartbeat = 20 * time.Second
	// liveWriteTimeout bounds one write to a browser; a browser that does not read in
	// that time is dropped.
	liveWriteTimeout = 10 * time.Second
	// liveQueue is how many pushes may wait for one browser before it is dropped.
	liveQueue = 16
	// liveRenderTimeout bounds one render of a page.
	liveRenderTimeout = 10 * time.Second
	// liveRenderShare is the share of one core the renders of all rooms may take on
	// average: a room's interval is at least its render cost times the number of rooms
	// divided by this share.
	liveRenderShare = 0.25
	// liveMaxInterval caps a room's interval however loaded the hub: a page under load
	// is at most this late.
	liveMaxInterval = 5 * time.Second
	// liveRetryAfter is the Retry-After of a stream refused over a limit.
	liveRetryAfter = 30 * time.Second
)

// Default limits of live streams (LiveLimits).
const (
	// DefaultMaxLiveStreams bounds the open live streams of the server.
	DefaultMaxLiveStreams = 500
	// DefaultMaxLiveStreamsPerClient bounds one client's streams (a browser over HTTP/1.1
	// opens at most 6 connections to a host; more tabs over HTTP/2 or a proxy's users).
	DefaultMaxLiveStreamsPerClient = 32
	// DefaultMaxLiveTopics bounds the distinct topics (rooms, each rendered on its own).
	DefaultMaxLiveTopics = 100
)

// LiveLimits bound the live streams; zero fields take the defaults.
type LiveLimits struct {
	// Streams is the most open streams (DefaultMaxLiveStreams).
	Streams int
	// PerClient is the most streams of one client: its remote address, or its user when
	// the proxy's X-Forwarded-User is trusted (DefaultMaxLiveStreamsPerClient).
	PerClient int
	// Topics is the most distinct topics watched at once (DefaultMaxLiveTopics).
	Topics int
}

func (l LiveLimits) withDefaults() LiveLimits {
	if l.Streams <= 0 {
		l.Streams = DefaultMaxLiveStreams
	}
	if l.PerClient <= 0 {
		l.PerClient = DefaultMaxLiveStreamsPerClient
	}
	if l.Topics <= 0 {
		l.Topics = DefaultMaxLiveTopics
	}
	return l
}

// limitError refuses a stream over a limit: the status (503, or 429 for one client's
// limit) and the limit's name for the message.
type limitError struct {
	status int
	limit  string
	n      int
}

func (e *limitError) Error() string {
	return fmt.Sprintf("live updates are at their limit (%s: %d); this page is not live, reload it to see changes", e.limit, e.n)
}

// Errors of the hub; the /live handler turns them into status codes.
var (
	// errHubStopped: the hub is not running (not started yet, or stopped).
	errHubStopped = errors.New("live updates are not running")
	// errBadTopic: the topic names no live page.
	errBadTopic = errors.New("unknown live topic")
)

// UI is the web UI: the pages (an http.Handler) and the live-update hub behind them.
// Start the hub before serving and Stop it when the server shuts down (it ends every
// open stream, so http.Server.Shutdown need not wait for them; see RegisterOnShutdown).
// Without Options.NATS, Start and Stop do nothing and pages say they are not live.
type UI struct {
	http.Handler
	s *server
}

// Start starts the live-update hub.
func (u *UI) Start(ctx context.Context) error {
	if u.s.hub == nil {
		return nil
	}
	return u.s.hub.Start(ctx)
}

// Stop ends every live stream and subscription and waits for them (or ctx). It may be
// called more than once.
func (u *UI) Stop(ctx context.Context) error {
	if u.s.hub == nil {
		return nil
	}
	return u.s.hub.Stop(ctx)
}

// renderFunc renders a page as a fragment request: its status and HTML.
type renderFunc func(ctx context.Context, path string) (int, []byte, error)

// hub is the SSE hub.
type hub struct {
	nc       *nats.Conn
	prefix   string
	subjects bus.Subjects // the scheme of the events' subjects (its Service is not used)
	interval time.Duration
	log      *slog.Logger
	render   renderFunc
	// instanceKey finds the process key of an instance (for its subject).
	instanceKey func(ctx context.Context, id string) (string, error)

	mu       sync.Mutex
	started  bool
	stopped  bool
	stopping chan struct{}
	ctx      context.Context // renders; cancelled by Stop
	cancel   context.CancelFunc
	rooms    map[string]*room
	subs     map[string]*sharedSub
	wg       sync.WaitGroup // room loops, the status watcher, and streams
	limits   LiveLimits
	streams  int            // open streams
	clients  map[string]int // open streams per client

	// slots bounds the renders running at once (liveRenderSlots).
	slots chan struct{}
	// cost is a moving average of one render's duration (ns); nrooms the rooms' count.
	cost   atomic.Int64
	nrooms atomic.Int64

	// onRender, when set (tests), is called after each render of a topic.
	onRender func(topic string)
}

// sharedSub is one NATS subscription and the rooms it feeds.
type sharedSub struct {
	sub   *nats.Subscription
	rooms map[*room]struct{}
}

// room is one topic and the streams watching it.
type room struct {
	t       topic
	sub     *sharedSub
	clients map[*liveClient]struct{}
	dirty   chan struct{} // capacity 1: a render is wanted
	quit    chan struct{} // closed when the last stream leaves
}

func (r *room) markDirty() {
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// liveClient is one browser stream.
type liveClient struct {
	r    *room
	out  chan []byte   // SSE bytes to write, queued by the hub
	who  string        // the client, for its limit
	gone chan struct{} // closed when the hub drops the stream
	once sync.Once
	// sent holds a hash of the HTML last queued per fragment id; only the room loop
	// touches it.
	sent map[string]uint64
}

func (c *liveClient) drop() { c.once.Do(func() { close(c.gone) }) }

// enqueue queues b without blocking; a full queue drops the stream.
func (c *liveClient) enqueue(b []byte) bool {
	select {
	case c.out <- b:
		return true
	default:
		c.drop()
		return false
	}
}

// liveRenderSlots is how many renders may run at once: half the cores, so the engine
// always has the other half.
func liveRenderSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

func newHub(nc *nats.Conn, subj bus.Subjects, interval time.Duration, limits LiveLimits, log *slog.Logger, render renderFunc,
	instanceKey func(context.Context, string) (string, error)) *hub {
	if subj.Prefix == "" {
		subj.Prefix = bus.DefaultPrefix
	}
	if subj.Version == 0 {
		subj.Version = bus.DefaultSubjects
	}
	if interval <= 0 {
		interval = DefaultLiveInterval
	}
	return &hub{nc: nc, prefix: subj.Prefix, subjects: subj, interval: interval, log: log, render: render, instanceKey: instanceKey,
		stopping: make(chan struct{}), rooms: map[string]*room{}, subs: map[string]*sharedSub{},
		limits: limits.withDefaults(), clients: map[string]int{}, slots: make(chan struct{}, liveRenderSlots())}
}

// gap is the least time between two renders of a room: the interval, or more when the
// renders of all rooms would take more than liveRenderShare of a core.
func (h *hub) gap() time.Duration {
	g := time.Duration(float64(h.cost.Load()) * float64(h.nrooms.Load()) / liveRenderShare)
	return min(max(g, h.interval), max(liveMaxInterval, h.interval))
}

// noteCost folds one render's duration into the moving average (weight 1/8).
func (h *hub) noteCost(d time.Duration) {
	old := h.cost.Load()
	h.cost.Store(old + (int64(d)-old)/8)
}

// Start lets streams join and watches the NATS connection's state. Renders run on a
// context of their own, ended by Stop, not by ctx.
func (h *hub) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return errHubStopped
	}
	if h.started {
		return nil
	}
	h.started = true
	h.ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ch := h.nc.StatusChanged(nats.CONNECTED, nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	h.wg.Add(1)
	go h.watchStatus(ch)
	if err := h.subscribeStalls(); err != nil {
		return err
	}
	return nil
}

// Stop ends every stream (each browser sees its stream end and reconnects later),
// unsubscribes, and waits for every goroutine of the hub or ctx.
func (h *hub) Stop(ctx context.Context) error {
	h.mu.Lock()
	if !h.stopped {
		h.stopped = true
		close(h.stopping)
		if h.cancel != nil {
			h.cancel()
		}
		for subj, s := range h.subs {
			if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				h.log.Warn("live: unsubscribe", "subject", subj, "err", err)
			}
		}
		clear(h.subs)
		clear(h.rooms)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop live updates: %w", ctx.Err())
	}
}

// watchStatus tells every stream when the event bus goes away and comes back, and
// renders every room again on reconnect.
func (h *hub) watchStatus(ch chan nats.Status) {
	defer h.wg.Done()
	defer h.nc.RemoveStatusListener(ch)
	for {
		select {
		case <-h.stopping:
			return
		case st := <-ch:
			up := st == nats.CONNECTED
			msg := statusEvent(up)
			h.mu.Lock()
			var clients []*liveClient
			for _, r := range h.rooms {
				if up {
					r.markDirty()
				}
				for c := range r.clients {
					clients = append(clients, c)
				}
			}
			h.mu.Unlock()
			for _, c := range clients {
				c.enqueue(msg)
			}
		}
	}
}

func statusEvent(up bool) []byte {
	if up {
		return []byte("event: status\ndata: live\n\n")
	}
	return []byte("event: status\ndata: down\n\n")
}

// admit tells whether one more stream of client who (on topic key, "" for any) is within
// the limits. The caller holds h.mu.
func (h *hub) admit(who, key string) error {
	switch {
	case h.streams >= h.limits.Streams:
		return &limitError{status: http.StatusServiceUnavailable, limit: "live streams of this server", n: h.limits.Streams}
	case h.clients[who] >= h.limits.PerClient:
		return &limitError{status: http.StatusTooManyRequests, limit: "live streams of one client", n: h.limits.PerClient}
	case h.rooms[key] == nil && len(h.rooms) >= h.limits.Topics:
		return &limitError{status: http.StatusServiceUnavailable, limit: "distinct live topics", n: h.limits.Topics}
	}
	return nil
}

// check tells whether a stream of who on topic key would be admitted now (HEAD /live).
func (h *hub) check(who, key string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started || h.stopped {
		return errHubStopped
	}
	return h.admit(who, key)
}

// join adds a stream of client who to the room of t, creating the room (and subscribing)
// when it is the first; a stream over a limit is a *limitError.
func (h *hub) join(t topic, who string) (*liveClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started || h.stopped {
		return nil, errHubStopped
	}
	if err := h.admit(who, t.key); err != nil {
		return nil, err
	}
	r := h.rooms[t.key]
	if r == nil {
		s := h.subs[t.subject]
		if s == nil {
			s = &sharedSub{rooms: map[*room]struct{}{}}
			sub, err := h.nc.Subscribe(t.subject, func(m *nats.Msg) { h.deliver(s, m) })
			if err != nil {
				return nil, fmt.Errorf("live: subscribe to %s: %w", t.subject, err)
			}
			// Events are hints to render again, so a flood may be cut short: the
			// render reads the store, not the messages.
			_ = sub.SetPendingLimits(4096, 8<<20)
			s.sub = sub
			h.subs[t.subject] = s
		}
		r = &room{t: t, sub: s, clients: map[*liveClient]struct{}{}, dirty: make(chan struct{}, 1), quit: make(chan struct{})}
		s.rooms[r] = struct{}{}
		h.rooms[t.key] = r
		h.nrooms.Store(int64(len(h.rooms)))
		h.wg.Add(1)
		go h.loop(r)
	}
	c := &liveClient{r: r, who: who, out: make(chan []byte, liveQueue), gone: make(chan struct{}), sent: map[string]uint64{}}
	r.clients[c] = struct{}{}
	h.streams++
	h.clients[who]++
	h.wg.Add(1) // the stream; leave ends it
	c.out <- statusEvent(h.nc.IsConnected())
	r.markDirty()
	return c, nil
}

// leave removes a stream; the last one out closes its room and, with the room's last
// subscriber, the NATS subscription.
func (h *hub) leave(c *liveClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.wg.Done()
	r := c.r
	if _, ok := r.clients[c]; ok {
		h.streams--
		if h.clients[c.who]--; h.clients[c.who] <= 0 {
			delete(h.clients, c.who)
		}
	}
	delete(r.clients, c)
	if len(r.clients) > 0 || h.rooms[r.t.key] != r {
		return
	}
	delete(h.rooms, r.t.key)
	h.nrooms.Store(int64(len(h.rooms)))
	close(r.quit)
	delete(r.sub.rooms, r)
	if len(r.sub.rooms) == 0 && h.subs[r.t.subject] == r.sub {
		delete(h.subs, r.t.subject)
		if err := r.sub.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			h.log.Warn("live: unsubscribe", "subject", r.t.subject, "err", err)
		}
	}
}

// deliver is the NATS callback of a shared subscription: it marks the rooms the event
// concerns. It never renders or writes.
func (h *hub) deliver(s *sharedSub, m *nats.Msg) {
	if id, ok := strings.CutPrefix(m.Subject, h.prefix+".operations."); ok {
		h.mu.Lock()
		defer h.mu.Unlock()
		for r := range s.rooms {
			if r.t.operation != nil && r.t.operation(id) {
				r.markDirty()
			}
		}
		return
	}
	msg, err := bus.DecodeMessage(m.Data)
	if err != nil {
		h.log.Debug("live: skip message", "subject", m.Subject, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for r := range s.rooms {
		if r.t.match(msg) {
			r.markDirty()
		}
	}
}

// loop renders a room when it is dirty, at most once per interval, and fans the
// changed fragments out.
func (h *hub) loop(r *room) {
	defer h.wg.Done()
	var last time.Time
	for {
		select {
		case <-h.stopping:
			return
		case <-r.quit:
			return
		case <-r.dirty:
		}
		if wait := h.gap() - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-h.stopping:
				t.Stop()
				return
			case <-r.quit:
				t.Stop()
				return
			case <-t.C:
			}
		}
		// A render slot: while the room waits for one, its events coalesce.
		select {
		case <-h.stopping:
			return
		case <-r.quit:
			return
		case h.slots <- struct{}{}:
		}
		// Events of the wait are covered by this render.
		select {
		case <-r.dirty:
		default:
		}
		last = time.Now()
		h.renderRoom(r)
		<-h.slots
		h.noteCost(time.Since(last))
	}
}

func (h *hub) renderRoom(r *room) {
	ctx, cancel := context.WithTimeout(h.ctx, liveRenderTimeout)
	defer cancel()
	status, body, err := h.render(ctx, r.t.path)
	if h.onRender != nil {
		h.onRender(r.t.key)
	}
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("live: render", "topic", r.t.key, "err", err)
		}
		return
	}
	if status != http.StatusOK {
		h.log.Debug("live: render", "topic", r.t.key, "status", status)
		return
	}
	frags := liveFragments(body)
	hashes := make([]uint64, len(frags))
	for i, f := range frags {
		hf := fnv.New64a()
		hf.Write(f.HTML)
		hashes[i] = hf.Sum64()
	}
	h.mu.Lock()
	clients := make([]*liveClient, 0, len(r.clients))
	for c := range r.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	var events [][]byte // encoded once per fragment, shared by the streams that need it
	for _, c := range clients {
		var batch bytes.Buffer
		var ids []string
		for i, f := range frags {
			if c.sent[f.ID] == hashes[i] {
				continue
			}
			if events == nil {
				events = make([][]byte, len(frags))
			}
			if events[i] == nil {
				events[i] = fragmentEvent(f)
			}
			batch.Write(events[i])
			ids = append(ids, f.ID)
		}
		if batch.Len() == 0 {
			continue
		}
		if !c.enqueue(batch.Bytes()) {
			h.log.Info("live: dropped a slow browser", "topic", r.t.key)
			continue
		}
		for i, f := range frags {
			if slices.Contains(ids, f.ID) {
				c.sent[f.ID] = hashes[i]
			}
		}
	}
}

// fragment is one element of a rendered page, by id.
type fragment struct {
	ID   string `json:"id"`
	HTML []byte `json:"-"`
}

// fragmentEvent encodes an SSE event: `event: fragment`, and one data line of JSON
// {"id": target element id, "html": its new outer HTML}.
func fragmentEvent(f fragment) []byte {
	var b bytes.Buffer
	b.WriteString("event: fragment\ndata: ")
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		ID   string `json:"id"`
		HTML string `json:"html"`
	}{f.ID, string(f.HTML)}) // Encode ends the line; JSON has no raw newlines
	b.WriteString("\n")
	return b.Bytes()
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// liveFragments cuts the live elements out of a rendered page: every element with an id
// and a data-live attribute, and the diagram's overlay layer (<g id="overlays">), byte
// for byte as rendered. templ closes every element it opens, so counting start and end
// tags finds each element's end.
func liveFragments(doc []byte) []fragment {
	type open struct {
		id           string
		start, depth int
	}
	var out []fragment
	var stack []open
	z := html.NewTokenizer(bytes.NewReader(doc))
	offset, depth := 0, 0
	for {
		tt := z.Next()
		start := offset
		offset += len(z.Raw())
		switch tt {
		case html.ErrorToken:
			slices.SortFunc(out, func(a, b fragment) int { return strings.Compare(a.ID, b.ID) })
			return out
		case html.StartTagToken:
			name, more := z.TagName()
			if voidElements[string(name)] {
				continue
			}
			depth++
			var id string
			live := false
			for more {
				var k, v []byte
				k, v, more = z.TagAttr()
				switch string(k) {
				case "id":
					id = string(v)
				case "data-live":
					live = true
				}
			}
			if id != "" && (live || id == "overlays") {
				stack = append(stack, open{id: id, start: start, depth: depth})
			}
		case html.EndTagToken:
			if n := len(stack); n > 0 && stack[n-1].depth == depth {
				o := stack[n-1]
				stack = stack[:n-1]
				out = append(out, fragment{ID: o.id, HTML: doc[o.start:offset]})
			}
			depth--
		}
	}
}

// topic is a parsed live topic.
type topic struct {
	key     string // canonical form, the room's name
	path    string // the page rendered for it
	subject string // the NATS subject pattern it needs
	match   func(*bus.Message) bool
	// stalls, when set, says whether a stall notice concerns the page.
	stalls func(*bus.StallMessage) bool
	// operation, when set, says whether a note of the operation concerns the page (its
	// subject is then the operations', and match is never asked).
	operation func(id string) bool
}

// ofKind matches the event types of the given kinds.
func ofKind(kinds ...event.Kind) func(event.Type) bool {
	return func(t event.Type) bool {
		k := t.Kind()
		for _, want := range kinds {
			if k == want {
				return true
			}
		}
		return false
	}
}

// parseTopic reads a topic (see the package comment of this file).
func (h *hub) parseTopic(ctx context.Context, raw string) (topic, error) {
	kind, query, _ := strings.Cut(raw, "?")
	kind, arg, _ := strings.Cut(kind, ":")
	q, err := url.ParseQuery(query)
	if err != nil {
		return topic{}, fmt.Errorf("%w: %q: %v", errBadTopic, raw, err)
	}
	q = topicQuery(kind, q) // equal views name one room
	all := h.subjects.EventFilter("", "")
	byKey := func(key string) string { return h.subjects.EventFilter("", key) }
	var t topic
	switch kind {
	case "dashboard":
		types := ofKind(event.KindInstance, event.KindIncident, event.KindUserTask)
		t = topic{key: "dashboard", path: "/", subject: all, match: func(m *bus.Message) bool { return types(m.Type) },
			stalls: func(*bus.StallMessage) bool { return true }}
	case "process":
		if arg == "" {
			return topic{}, fmt.Errorf("%w: %q: name the process key", errBadTopic, raw)
		}
		types := ofKind(event.KindInstance, event.KindElement, event.KindIncident)
		t = topic{key: "process:" + arg + encodeQuery(q), path: "/processes/" + url.PathEscape(arg) + encodeQuery(q),
			subject: byKey(arg), match: func(m *bus.Message) bool { return m.DefinitionKey == arg && types(m.Type) },
			stalls: func(m *bus.StallMessage) bool { return m.DefinitionKey == arg }}
	case "instance":
		if arg == "" {
			return topic{}, fmt.Errorf("%w: %q: name the instance id", errBadTopic, raw)
		}
		key, err := h.instanceKey(ctx, arg)
		if err != nil {
			return topic{}, err
		}
		t = topic{key: "instance:" + arg, path: "/instances/" + url.PathEscape(arg), subject: byKey(key),
			match:  func(m *bus.Message) bool { return m.InstanceID == arg },
			stalls: func(m *bus.StallMessage) bool { return m.InstanceID == arg }}
	case "instances", "incidents":
		types := ofKind(event.KindIncident)
		if kind == "instances" {
			// Element events too: the list shows where each instance waits and since when.
			types = ofKind(event.KindInstance, event.KindIncident, event.KindElement)
		}
		process := q.Get("process")
		subject := all
		if process != "" {
			subject = byKey(process)
		}
		t = topic{key: kind + encodeQuery(q), path: "/" + kind + encodeQuery(q), subject: subject,
			match: func(m *bus.Message) bool { return (process == "" || m.DefinitionKey == process) && types(m.Type) }}
		if kind == "instances" && q.Get("stalled") != "" {
			t.stalls = func(m *bus.StallMessage) bool { return process == "" || m.DefinitionKey == process }
		}
	case "operations":
		t = topic{key: "operations" + encodeQuery(q), path: "/operations" + encodeQuery(q), subject: h.prefix + ".operations.>",
			match: func(*bus.Message) bool { return false }, operation: func(string) bool { return true }}
	case "operation":
		if arg == "" || len(arg) > maxIDBytes {
			return topic{}, fmt.Errorf("%w: %q: name the operation id", errBadTopic, raw)
		}
		t = topic{key: "operation:" + arg, path: "/operations/" + url.PathEscape(arg), subject: h.prefix + ".operations." + bus.SafeToken(arg),
			match: func(*bus.Message) bool { return false }, operation: func(id string) bool { return id == arg }}
	default:
		return topic{}, fmt.Errorf("%w: %q", errBadTopic, raw)
	}
	if arg != "" && kind != "process" && kind != "instance" && kind != "operation" {
		return topic{}, fmt.Errorf("%w: %q", errBadTopic, raw)
	}
	return t, nil
}

// liveTopic names the topic of the page a request renders, "" for pages that are not
// live (forms, error pages).
func liveTopic(c echo.Context) string {
	switch c.Path() {
	case "/":
		return "dashboard"
	case "/processes/:key":
		return "process:" + c.Param("key") + encodeQuery(topicQuery("process", c.Request().URL.Query()))
	case "/instances/:id":
		return "instance:" + c.Param("id")
	case "/instances":
		return "instances" + encodeQuery(topicQuery("instances", c.Request().URL.Query()))
	case "/incidents":
		return "incidents" + encodeQuery(topicQuery("incidents", c.Request().URL.Query()))
	case "/operations":
		return "operations" + encodeQuery(topicQuery("operations", c.Request().URL.Query()))
	case "/operations/:id":
		// Only the first page of items follows the operation (a later page stays put).
		if len(c.Request().URL.Query()) == 0 {
			return "operation:" + c.Param("id")
		}
	}
	return ""
}

// topicParams are the query parameters each live page reads; a topic keeps only these.
var topicParams = map[string][]string{
	"process":    {"version", "service"},
	"instances":  {"state", "service", "process", "version", "businessKey", "var", "value", "from", "to", "hasIncident", "waitingAt", "stalled", "parent", "after", "limit"},
	"incidents":  incidentFilterKeys,
	"operations": {"state", "kind"},
}

// topicQuery is the canonical query of a topic: the parameters its page reads (the first
// value, as the page reads it), without empty ones and defaults, a state list sorted and
// without repeats; url.Values.Encode orders them by name. Query strings that show the same
// view (other parameters, another order) thus name one room, rendered once.
func topicQuery(kind string, q url.Values) url.Values {
	out := url.Values{}
	for _, name := range topicParams[kind] {
		v := q.Get(name)
		switch {
		case v == "":
			continue
		case name == "state" && kind == "instances":
			var states []string
			for st := range strings.SplitSeq(v, ",") {
				if st = strings.TrimSpace(st); st != "" && !slices.Contains(states, st) {
					states = append(states, st)
				}
			}
			slices.Sort(states)
			if v = strings.Join(states, ","); v == "" {
				continue
			}
		case name == "state" && kind == "incidents" && v == store.IncidentOpen,
			name == "limit" && v == strconv.Itoa(defaultPage):
			continue // the page's default
		}
		out.Set(name, v)
	}
	return out
}

// liveProps tell the layout how the page stays current.
func (s *server) liveProps(c echo.Context, status int) layout.Live {
	if status != http.StatusOK {
		return layout.Live{}
	}
	t := liveTopic(c)
	if t == "" {
		return layout.Live{}
	}
	if s.hub == nil {
		return layout.Live{Off: "Live updates are off: this server has no connection to the event bus (NATS). Reload the page to see changes."}
	}
	return layout.Live{URL: "/live?topic=" + url.QueryEscape(t)}
}

// live serves one SSE stream: GET /live?topic=...
func (s *server) live(c echo.Context) error {
	h := s.hub
	if h == nil {
		return &pageError{Status: http.StatusNotFound, Title: "Live updates are off",
			Message: "This server has no connection to the event bus (NATS)."}
	}
	req := c.Request()
	t, err := h.parseTopic(req.Context(), c.QueryParam("topic"))
	if errors.Is(err, errBadTopic) {
		return badRequest("%v", err)
	}
	if err != nil {
		return err // store.ErrNotFound for an unknown instance: 404
	}
	who := s.liveClientOf(req)
	var limit *limitError
	if req.Method == http.MethodHead {
		// live.js asks after a stream failed: is it refused over a limit (it then says
		// so and waits Retry-After), or was the connection lost (it reconnects)?
		err = h.check(who, t.key)
	} else {
		var cl *liveClient
		if cl, err = h.join(t, who); err == nil {
			defer h.leave(cl)
			return s.stream(c, h, t, cl)
		}
	}
	switch {
	case err == nil:
		return c.NoContent(http.StatusNoContent)
	case errors.Is(err, errHubStopped):
		return &pageError{Status: http.StatusServiceUnavailable, Title: "Live updates are not running", Message: err.Error()}
	case errors.As(err, &limit):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(liveRetryAfter/time.Second)))
		return &pageError{Status: limit.status, Title: "Live updates are busy", Message: limit.Error()}
	}
	return err
}

// liveClientOf names the client of a stream for its limit: the user a trusted proxy
// names, else the remote address without its port (not X-Forwarded-For, which anyone
// can send).
func (s *server) liveClientOf(r *http.Request) string {
	if s.trustProxyUser {
		if u := strings.TrimSpace(r.Header.Get("X-Forwarded-User")); u != "" {
			return "user:" + u
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr:" + host
}

// stream writes a joined stream until the browser goes, the hub drops it or stops.
func (s *server) stream(c echo.Context, h *hub, t topic, cl *liveClient) error {
	req := c.Request()
	w := c.Response()
	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for requests, not for a stream that
	// lasts as long as the page is open. Each write gets its own deadline instead.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write([]byte(": cockpit live " + t.key + "\n\n")); err != nil {
		return nil
	}
	beat := time.NewTicker(liveHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-req.Context().Done():
			return nil
		case <-h.stopping:
			return nil
		case <-cl.gone:
			return nil
		case b := <-cl.out:
			if err := write(b); err != nil {
				return nil
			}
		case <-beat.C:
			if err := write([]byte(": ping\n\n")); err != nil {
				return nil
			}
		}
	}
}

// instanceKey reads the process key of an instance.
func (s *server) instanceKey(ctx context.Context, id string) (string, error) {
	in, err := s.eng.GetInstanceRow(ctx, id)
	if err != nil {
		return "", err
	}
	return in.DefinitionKey, nil
}

// renderPage renders a page through the routes as a fragment request (HX-Request), the
// way htmx would ask for it: the live hub's view of the page is the page itself.
func (s *server) renderPage(ctx context.Context, path string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("HX-Request", "true")
	w := &bufferWriter{header: http.Header{}}
	s.echo.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.buf.Bytes(), nil
}

// bufferWriter is an http.ResponseWriter that keeps the answer in memory.
type bufferWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }
func (w *bufferWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.buf.Write(b)
}

var _ io.Writer = (*bufferWriter)(nil)
