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
//	process:<key>[?version=N] /processes/<key>       the key's instance, element and incident events
//	instance:<id>             /instances/<id>        every event of the instance
//	instances[?<filter>]      /instances?<filter>    instance and incident events (element events with waitingAt
//	                                                 or stalled)
//	incidents[?<filter>]      /incidents?<filter>    incident events
//
// Stall notices (<prefix>.stalls.>, published by the stall detector) are not history
// events: one hub-wide subscription, made at Start, marks the rooms whose page shows
// stalls (dashboard, the process, the instance, instance lists filtered by stalled).
//
// Invariants:
//   - One core NATS subscription per subject pattern (<prefix>.events.> or
//     <prefix>.events.<safeKey>.>), shared by the rooms that need it and dropped with the
//     last of them; rooms filter the decoded events in Go (exact key, instance id, type).
//   - A room renders at most once per Interval: the first event after a quiet spell
//     renders at once, later ones within the interval coalesce into one trailing render.
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
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
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
)

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

func newHub(nc *nats.Conn, prefix string, interval time.Duration, log *slog.Logger, render renderFunc,
	instanceKey func(context.Context, string) (string, error)) *hub {
	if prefix == "" {
		prefix = bus.DefaultPrefix
	}
	if interval <= 0 {
		interval = DefaultLiveInterval
	}
	return &hub{nc: nc, prefix: prefix, interval: interval, log: log, render: render, instanceKey: instanceKey,
		stopping: make(chan struct{}), rooms: map[string]*room{}, subs: map[string]*sharedSub{}}
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

// join adds a stream to the room of t, creating the room (and subscribing) when it is
// the first.
func (h *hub) join(t topic) (*liveClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.started || h.stopped {
		return nil, errHubStopped
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
		h.wg.Add(1)
		go h.loop(r)
	}
	c := &liveClient{r: r, out: make(chan []byte, liveQueue), gone: make(chan struct{}), sent: map[string]uint64{}}
	r.clients[c] = struct{}{}
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
	delete(r.clients, c)
	if len(r.clients) > 0 || h.rooms[r.t.key] != r {
		return
	}
	delete(h.rooms, r.t.key)
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
		if wait := h.interval - time.Since(last); wait > 0 {
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
			// Events of the wait are covered by this render.
			select {
			case <-r.dirty:
			default:
			}
		}
		last = time.Now()
		h.renderRoom(r)
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
	q = cloneValues(q) // drops empty values, so equal filters name one room
	all := h.prefix + ".events.>"
	byKey := func(key string) string { return h.prefix + ".events." + bus.SafeToken(key) + ".>" }
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
		for k := range q {
			if k != "version" {
				q.Del(k)
			}
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
			types = ofKind(event.KindInstance, event.KindIncident)
			if q.Get("waitingAt") != "" || q.Get("stalled") != "" {
				types = ofKind(event.KindInstance, event.KindIncident, event.KindElement)
			}
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
	default:
		return topic{}, fmt.Errorf("%w: %q", errBadTopic, raw)
	}
	if arg != "" && kind != "process" && kind != "instance" {
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
		t := "process:" + c.Param("key")
		if v := c.QueryParam("version"); v != "" {
			t += "?version=" + url.QueryEscape(v)
		}
		return t
	case "/instances/:id":
		return "instance:" + c.Param("id")
	case "/instances":
		return "instances" + encodeQuery(cloneValues(c.Request().URL.Query()))
	case "/incidents":
		return "incidents" + encodeQuery(cloneValues(c.Request().URL.Query()))
	}
	return ""
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
	cl, err := h.join(t)
	if errors.Is(err, errHubStopped) {
		return &pageError{Status: http.StatusServiceUnavailable, Title: "Live updates are not running", Message: err.Error()}
	}
	if err != nil {
		return err
	}
	defer h.leave(cl)

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
	var key string
	err := s.eng.Store().Read(ctx, func(tx store.Tx) error {
		in, err := tx.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		key = in.DefinitionKey
		return nil
	})
	return key, err
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
