package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func TestLiveFragments(t *testing.T) {
	doc := `<div class="x"><section id="live-a" data-live><input name="q"><br/><p>one<img src="i"></p></section>` +
		`<svg viewBox="0 0 1 1"><g id="static"><path d="M0 0"/></g><g id="overlays" class="overlays"><g><title>t</title></g></g></svg>` +
		`<div id="plain"><dd id="live-b" data-live>two</dd></div><div data-live>no id</div></div>`
	got := map[string]string{}
	for _, f := range liveFragments([]byte(doc)) {
		got[f.ID] = string(f.HTML)
	}
	want := map[string]string{
		"live-a":   `<section id="live-a" data-live><input name="q"><br/><p>one<img src="i"></p></section>`,
		"overlays": `<g id="overlays" class="overlays"><g><title>t</title></g></g>`,
		"live-b":   `<dd id="live-b" data-live>two</dd>`,
	}
	if len(got) != len(want) {
		t.Errorf("fragments %v, want %v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s = %q, want %q", id, got[id], w)
		}
	}
}

// stubSubjects are the subjects the stub hub's events are published on.
var stubSubjects = bus.Subjects{Prefix: "stub", Service: "stub-svc", Version: bus.SubjectsV2}

// stubHub is a hub on an embedded NATS server whose pages are drawn by render.
func stubHub(t *testing.T, interval time.Duration, render renderFunc) (*hub, *nats.Conn) {
	t.Helper()
	ns, err := bus.StartEmbedded(context.Background(), bus.EmbeddedOptions{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Stop(context.Background()) })
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	h := newHub(nc, bus.Subjects{Prefix: "stub"}, interval, LiveLimits{}, slog.New(slog.DiscardHandler), render,
		func(context.Context, string) (string, error) { return "k", nil })
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return h, nc
}

func publishEvents(t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	for i := range n {
		b, _ := json.Marshal(bus.Message{Schema: bus.SchemaV1, ID: fmt.Sprint(i), InstanceID: "i1", DefinitionKey: "k",
			Type: event.VariablesChanged, Data: json.RawMessage(`{}`)})
		if err := nc.Publish(stubSubjects.Event("k", event.VariablesChanged), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestHubCoalesces publishes a burst of events for one topic and counts the renders:
// one at once, then at most one per interval, the last after the burst.
func TestHubCoalesces(t *testing.T) {
	const interval = 100 * time.Millisecond
	var mu sync.Mutex
	var renders []time.Time
	h, nc := stubHub(t, interval, func(context.Context, string) (int, []byte, error) {
		mu.Lock()
		defer mu.Unlock()
		renders = append(renders, time.Now())
		return 200, []byte(`<p id="live-x" data-live>x</p>`), nil
	})
	tp, err := h.parseTopic(context.Background(), "instance:i1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.join(tp, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(c)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(renders) }
	wait.For(t, "the first render", func() bool { return count() >= 1 })
	// Out of the first render's interval, so the burst starts a fresh one.
	wait.For(t, "the first render's interval to pass", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return time.Since(renders[0]) >= interval
	})
	start := time.Now()
	publishEvents(t, nc, 500)
	burst := time.Since(start)
	lastEvent := time.Now()
	wait.For(t, "a render started after the burst ended", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return renders[len(renders)-1].After(lastEvent)
	})
	mu.Lock()
	defer mu.Unlock()
	var inBurst []time.Time
	for _, r := range renders {
		if !r.Before(start) {
			inBurst = append(inBurst, r)
		}
	}
	limit := 2 + int(burst/interval)
	t.Logf("500 events in %s: %d renders (limit %d)", burst, len(inBurst), limit)
	if len(inBurst) == 0 || len(inBurst) > limit {
		t.Errorf("%d renders for a burst of %s, want 1 to %d", len(inBurst), burst, limit)
	}
	for i := 1; i < len(renders); i++ {
		if gap := renders[i].Sub(renders[i-1]); gap < interval-5*time.Millisecond {
			t.Errorf("renders %d and %d only %s apart", i-1, i, gap)
		}
	}
}

// TestHubDropsSlowClient: a stream whose queue is full is dropped; the others go on.
func TestHubDropsSlowClient(t *testing.T) {
	var n atomic.Int64
	h, nc := stubHub(t, time.Millisecond, func(context.Context, string) (int, []byte, error) {
		return 200, fmt.Appendf(nil, `<p id="live-x" data-live>%d</p>`, n.Add(1)), nil
	})
	tp, _ := h.parseTopic(context.Background(), "dashboard")
	slow, err := h.join(tp, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(slow)
	fast, err := h.join(tp, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(fast)
	stop := make(chan struct{})
	var got atomic.Int64
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		wg.Wait()
	}()
	wg.Go(func() { // the fast browser reads everything
		for {
			select {
			case b := <-fast.out:
				if strings.Contains(string(b), "event: fragment") {
					got.Add(1)
				}
			case <-stop:
				return
			}
		}
	})
	// Each event renders a new fragment; the slow stream never reads.
	sent := 0
	wait.For(t, "the slow stream to be dropped", func() bool {
		select {
		case <-slow.gone:
			return true
		default:
		}
		b, _ := json.Marshal(bus.Message{Schema: bus.SchemaV1, ID: fmt.Sprint(sent), InstanceID: "i", DefinitionKey: "k",
			Type: event.InstanceStarted, Data: json.RawMessage(`{}`)})
		sent++
		_ = nc.Publish(stubSubjects.Event("k", event.InstanceStarted), b)
		_ = nc.Flush()
		return false
	})
	// The fast one still gets pushes after the drop.
	before := got.Load()
	wait.For(t, "a push to the fast stream after the slow one was dropped", func() bool {
		if got.Load() != before {
			return true
		}
		b, _ := json.Marshal(bus.Message{Schema: bus.SchemaV1, ID: "x", InstanceID: "i", DefinitionKey: "k", Type: event.InstanceCompleted, Data: json.RawMessage(`{}`)})
		_ = nc.Publish(stubSubjects.Event("k", event.InstanceCompleted), b)
		return false
	})
}

// TestHubRenderBudget: the renders of all rooms take about liveRenderShare of a core:
// a room's gap is its render cost times the number of rooms over the share, at least the
// interval and at most liveMaxInterval; at most liveRenderSlots renders run at once;
// and forty topics made dirty together all render (slower, never lost). Nothing here
// measures time: the costs are set, and the renders wait for the test.
func TestHubRenderBudget(t *testing.T) {
	const rooms = 40
	release := make(chan struct{})
	var mu sync.Mutex
	var running, most int
	rendered := map[string]int{}
	h, _ := stubHub(t, time.Millisecond, func(ctx context.Context, path string) (int, []byte, error) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		select { // the work of a render: as long as the test holds it
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		rendered[path]++
		mu.Unlock()
		return 200, []byte(`<p id="live-x" data-live>x</p>`), nil
	})

	// The budget, from the cost and the rooms' count.
	gapOf := func(cost time.Duration, n int64) time.Duration {
		h.cost.Store(int64(cost))
		h.nrooms.Store(n)
		return h.gap()
	}
	if g := gapOf(2*time.Millisecond, rooms); g != time.Duration(float64(2*time.Millisecond)*rooms/liveRenderShare) {
		t.Errorf("gap of 40 rooms of 2 ms: %s, want %s", g, time.Duration(float64(2*time.Millisecond)*rooms/liveRenderShare))
	}
	if g := gapOf(0, rooms); g != time.Millisecond {
		t.Errorf("gap of free renders: %s, want the interval", g)
	}
	if g := gapOf(time.Second, rooms); g != liveMaxInterval {
		t.Errorf("gap of costly renders: %s, want liveMaxInterval %s", g, liveMaxInterval)
	}
	h.cost.Store(0)
	for range 64 {
		h.noteCost(2 * time.Millisecond)
	}
	if c := time.Duration(h.cost.Load()); c < 1900*time.Microsecond || c > 2*time.Millisecond {
		t.Errorf("average cost after 64 renders of 2 ms: %s", c)
	}
	h.cost.Store(0)

	// The render slots, and no topic lost.
	h.limits.PerClient = rooms
	var joined []*room
	stop := make(chan struct{})
	var drains sync.WaitGroup
	defer drains.Wait()
	defer close(stop)
	for i := range rooms {
		tp, err := h.parseTopic(context.Background(), fmt.Sprintf("instances?businessKey=%d", i))
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.join(tp, "test")
		if err != nil {
			t.Fatal(err)
		}
		defer h.leave(c)
		h.mu.Lock()
		joined = append(joined, h.rooms[tp.key])
		h.mu.Unlock()
		// Drain the stream so the hub never drops it.
		drains.Add(1)
		go func() {
			defer drains.Done()
			for {
				select {
				case <-c.out:
				case <-c.gone:
					return
				case <-stop:
					return
				}
			}
		}()
	}
	// A joining stream gets a first render; each is held until the test lets it go, so
	// every slot is full while the rest wait for one.
	done := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for i := range rooms {
			n += min(rendered[fmt.Sprintf("/instances?businessKey=%d", i)], 1)
		}
		return n
	}
	// releaseUntil lets the held renders go, one at a time, until cond holds.
	releaseUntil := func(what string, cond func() bool) {
		waitFor(t, what, func() bool {
			select {
			case release <- struct{}{}:
			default:
			}
			return cond()
		})
	}
	releaseUntil("every topic's first render", func() bool { return done() == rooms })
	// Every topic made dirty at once renders again.
	before := map[string]int{}
	mu.Lock()
	for k, v := range rendered {
		before[k] = v
	}
	mu.Unlock()
	for _, r := range joined {
		r.markDirty()
	}
	again := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for k, v := range before {
			if rendered[k] <= v {
				return false
			}
		}
		return true
	}
	releaseUntil("every topic to render again", again)
	mu.Lock()
	defer mu.Unlock()
	if most > liveRenderSlots() {
		t.Errorf("%d renders at once, want at most %d", most, liveRenderSlots())
	}
}

// waitFor polls cond until it holds, for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Within(t, 20*time.Second, what, cond)
}

// TestInstancesTopicElementEvents: every instance list shows where its instances wait, so
// its room takes element events (not only the lists filtered by waitingAt); the
// incidents page's does not.
func TestInstancesTopicElementEvents(t *testing.T) {
	h, _ := stubHub(t, time.Millisecond, func(context.Context, string) (int, []byte, error) { return 200, nil, nil })
	entered := &bus.Message{Type: event.ElementEntered, DefinitionKey: "order", InstanceID: "i1", ElementID: "review"}
	for raw, want := range map[string]bool{
		"instances":                  true,
		"instances?state=active":     true,
		"instances?process=order":    true,
		"instances?process=other":    false,
		"instances?waitingAt=review": true,
		"incidents":                  false,
	} {
		tp, err := h.parseTopic(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.match(entered); got != want {
			t.Errorf("%s matches element.entered: %v, want %v", raw, got, want)
		}
	}
}
