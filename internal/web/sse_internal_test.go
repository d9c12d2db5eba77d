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
	h := newHub(nc, "stub", interval, slog.New(slog.DiscardHandler), render,
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
		if err := nc.Publish(bus.EventSubject("stub", "k", event.VariablesChanged), b); err != nil {
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
	c, err := h.join(tp)
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(c)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(renders) }
	deadline := time.Now().Add(10 * time.Second)
	for count() < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// Out of the first render's interval, so the burst starts a fresh one.
	for time.Since(func() time.Time { mu.Lock(); defer mu.Unlock(); return renders[0] }()) < interval {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	publishEvents(t, nc, 500)
	burst := time.Since(start)
	lastEvent := time.Now()
	// Wait until a render started after the burst ended.
	for time.Now().Before(deadline) {
		mu.Lock()
		done := renders[len(renders)-1].After(lastEvent)
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
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
	slow, err := h.join(tp)
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(slow)
	fast, err := h.join(tp)
	if err != nil {
		t.Fatal(err)
	}
	defer h.leave(fast)
	stop := make(chan struct{})
	var got atomic.Int64
	var wg sync.WaitGroup
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
	dropped := false
	for i := 0; i < 200 && !dropped; i++ {
		b, _ := json.Marshal(bus.Message{Schema: bus.SchemaV1, ID: fmt.Sprint(i), InstanceID: "i", DefinitionKey: "k",
			Type: event.InstanceStarted, Data: json.RawMessage(`{}`)})
		_ = nc.Publish(bus.EventSubject("stub", "k", event.InstanceStarted), b)
		_ = nc.Flush()
		select {
		case <-slow.gone:
			dropped = true
		case <-time.After(20 * time.Millisecond):
		}
	}
	before := got.Load()
	if !dropped {
		t.Fatal("the slow stream was never dropped")
	}
	// The fast one still gets pushes after the drop.
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() == before && time.Now().Before(deadline) {
		b, _ := json.Marshal(bus.Message{Schema: bus.SchemaV1, ID: "x", InstanceID: "i", DefinitionKey: "k", Type: event.InstanceCompleted, Data: json.RawMessage(`{}`)})
		_ = nc.Publish(bus.EventSubject("stub", "k", event.InstanceCompleted), b)
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got.Load() == before {
		t.Error("the fast stream got nothing after the slow one was dropped")
	}
}
