package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// rawStream is a /live request whose answer is kept open (a stream counts from its
// answer's headers until it is closed).
type rawStream struct {
	resp   *http.Response
	body   string
	cancel context.CancelFunc
}

func (f *liveFixture) openAs(method, topic, user string) *rawStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, method, f.srv.URL+"/live?topic="+url.QueryEscape(topic), nil)
	if user != "" {
		req.Header.Set("X-Forwarded-User", user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		f.t.Fatalf("%s /live %s: %v", method, topic, err)
	}
	s := &rawStream{resp: resp, cancel: cancel}
	if resp.StatusCode != http.StatusOK || method == http.MethodHead {
		b, _ := io.ReadAll(resp.Body)
		s.body = string(b)
		resp.Body.Close()
		cancel()
	}
	f.t.Cleanup(s.close)
	return s
}

func (s *rawStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// TestLiveLimits: streams over the per-client, total and topic limits are refused with
// 429 or 503, Retry-After and the limit named; HEAD /live tells the page so; a stream
// that closes frees its place.
func TestLiveLimits(t *testing.T) {
	t.Parallel()
	f := newLiveFixtureWith(t, web.Options{TrustProxyUser: true, LiveLimits: web.LiveLimits{Streams: 4, PerClient: 3, Topics: 2}})
	wantRefused := func(s *rawStream, status int, limit string) {
		t.Helper()
		if s.resp.StatusCode != status || s.resp.Header.Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q, want %d with Retry-After", s.resp.StatusCode, s.resp.Header.Get("Retry-After"), status)
		}
		if !strings.Contains(s.body, limit) {
			t.Errorf("refusal does not name %q:\n%.400s", limit, s.body)
		}
	}
	var ann []*rawStream
	for range 3 {
		s := f.openAs(http.MethodGet, "dashboard", "ann")
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("stream of ann: %d %s", s.resp.StatusCode, s.body)
		}
		ann = append(ann, s)
	}
	// One client's fourth stream: 429, and HEAD says so too.
	wantRefused(f.openAs(http.MethodGet, "dashboard", "ann"), http.StatusTooManyRequests, "live streams of one client")
	if s := f.openAs(http.MethodHead, "dashboard", "ann"); s.resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("HEAD for ann: %d, want 429", s.resp.StatusCode)
	}
	if s := f.openAs(http.MethodHead, "dashboard", "bob"); s.resp.StatusCode != http.StatusNoContent {
		t.Errorf("HEAD for bob: %d, want 204", s.resp.StatusCode)
	}
	// Another client fills the server: the fifth stream is 503.
	bob := f.openAs(http.MethodGet, "instances?process=fix", "bob")
	if bob.resp.StatusCode != http.StatusOK {
		t.Fatalf("stream of bob: %d", bob.resp.StatusCode)
	}
	wantRefused(f.openAs(http.MethodGet, "dashboard", "cyd"), http.StatusServiceUnavailable, "live streams of this server")
	// A closed stream frees its place; a third topic is over the topic limit.
	ann[0].close()
	waitUntil(t, "ann's stream to leave", func() bool {
		return f.openAs(http.MethodHead, "dashboard", "cyd").resp.StatusCode == http.StatusNoContent
	})
	wantRefused(f.openAs(http.MethodGet, "incidents", "cyd"), http.StatusServiceUnavailable, "distinct live topics")
	// The same view under another query string is no new topic.
	if s := f.openAs(http.MethodGet, "instances?utm=x&process=fix&limit=50", "cyd"); s.resp.StatusCode != http.StatusOK {
		t.Errorf("same view, other query: %d %s", s.resp.StatusCode, s.body)
	}
}

// TestLiveSharedRender: streams on query strings that show one view (parameters the
// page does not read, another order, defaults) share one room: one render per change
// for all of them.
func TestLiveSharedRender(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	renders := web.CountRenders(f.ui)
	var streams []*liveStream
	for i := range 30 {
		topic := fmt.Sprintf("instances?junk=%d&process=fix&state=active", i)
		if i%2 == 1 {
			topic = fmt.Sprintf("instances?state=active,active&x%d=1&process=fix&limit=50", i)
		}
		s := f.open(topic)
		s.waitStatus("live")
		streams = append(streams, s)
	}
	if n := web.LiveRooms(f.ui); n != 1 {
		t.Fatalf("%d rooms for one view, want 1", n)
	}
	for _, s := range streams {
		s.waitFragment("live-instances", "the first fragment", func(string) bool { return true })
	}
	before := renders()
	in, err := f.e.StartInstance(context.Background(), "fix", engine.StartOptions{BusinessKey: "shared", Variables: map[string]any{"ok": true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		s.waitFragment("live-instances", "the new instance", contains(in.ID))
	}
	// Starting runs the instance to its user task: a few events, coalesced into a few
	// renders, shared by the 30 streams (per stream it would be 30 times as many).
	if n := renders() - before; n < 1 || n > 5 {
		t.Errorf("%d renders for one instance start and 30 streams, want 1 to 5", n)
	}
}

// TestLiveUnderLoad: many streams on distinct topics while the engine commits a burst of
// instances: the engine finishes the burst, every stream ends up current, and the renders
// are coalesced (far fewer than events times topics).
func TestLiveUnderLoad(t *testing.T) {
	t.Parallel()
	// All streams come from this one client: raise its limit.
	f := newLiveFixtureWith(t, web.Options{LiveLimits: web.LiveLimits{PerClient: 100}})
	renders := web.CountRenders(f.ui)
	const topics, burst = 40, 200
	var streams []*liveStream
	for i := range topics {
		s := f.open(fmt.Sprintf("instances?process=fix&limit=%d", i+1))
		s.waitStatus("live")
		streams = append(streams, s)
	}
	ctx := context.Background()
	start := time.Now()
	var last *engine.InstanceDetail
	for i := range burst {
		in, err := f.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: fmt.Sprintf("load-%d", i), Variables: map[string]any{"ok": true}})
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		if i == burst-1 {
			last, _ = f.e.GetInstance(ctx, in.ID)
		}
	}
	took := time.Since(start)
	for _, s := range streams {
		s.waitFragment("live-instances", "the last instance", contains(last.Instance.ID))
	}
	n := renders()
	t.Logf("%d instances in %s with %d live topics: %d renders", burst, took, topics, n)
	// Each start commits several events; one render per event per topic would be
	// thousands.
	if max := int64(topics * burst / 4); n > max {
		t.Errorf("%d renders for %d instances on %d topics, want at most %d (coalesced)", n, burst, topics, max)
	}
}

// TestBrowserLiveBusy: a page whose stream the server refuses over its limit says it is
// not live (and why) instead of "Reconnecting…" forever.
func TestBrowserLiveBusy(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t)
	f := newLiveFixtureWith(t, web.Options{LiveLimits: web.LiveLimits{Streams: 1}})
	if s := f.openAs(http.MethodGet, "dashboard", ""); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", s.resp.StatusCode)
	}
	ctx, cancel := chromedp.NewContext(browser)
	defer cancel()
	if err := doSteps(ctx, chromedp.Navigate(f.srv.URL+"/"),
		waitJS(`document.querySelector("[data-live-status]").dataset.state === "busy"`)); err != nil {
		t.Fatalf("page did not say it is busy: %v", err)
	}
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("[data-live-label]").textContent`))
	if err != nil || !strings.Contains(label, "busy") {
		t.Errorf("label %q (%v)", label, err)
	}
}

// BenchmarkLiveConnections starts instances (each runs to its user task: a few commits
// and events) while 300 live streams are open on distinct query strings: of one view
// (parameters the page does not read: one room), of distinct views (one room each, up to
// the topic limit; the rest refused), or none. It reports the renders per start.
//
//	go test -run '^$' -bench BenchmarkLiveConnections -benchtime 300x ./internal/web/
func BenchmarkLiveConnections(b *testing.B) {
	for _, c := range []struct {
		name  string
		topic func(i int) string
	}{
		{"none", nil},
		{"300-one-view", func(i int) string { return fmt.Sprintf("instances?process=fix&utm=%d", i) }},
		{"300-distinct-views", func(i int) string { return fmt.Sprintf("instances?process=fix&limit=%d", i%200+1) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newLiveFixtureWith(b, web.Options{LiveLimits: web.LiveLimits{PerClient: 1000}})
			renders := web.CountRenders(f.ui)
			open, refused := 0, 0
			if c.topic != nil {
				for i := range 300 {
					s := f.openAs(http.MethodGet, c.topic(i), "")
					if s.resp.StatusCode != http.StatusOK {
						refused++
						continue
					}
					open++
					go func() { _, _ = io.Copy(io.Discard, s.resp.Body) }()
				}
			}
			ctx := context.Background()
			b.ResetTimer()
			before := renders()
			for i := 0; b.Loop(); i++ {
				if _, err := f.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: fmt.Sprintf("b-%d", i), Variables: map[string]any{"ok": true}}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(renders()-before)/float64(b.N), "renders/op")
			b.ReportMetric(float64(open), "streams")
			b.ReportMetric(float64(refused), "refused")
		})
	}
}
