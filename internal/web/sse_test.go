package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// Every goroutine of the package's tests ends with them: the SSE hub's room loops,
// status watcher and streams included.
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

const liveTestPrefix = "livetest"

// liveTestService is the service the fixture's events are published by.
const liveTestService = "livetest-svc"

// liveSubjects are the subjects the fixture publishes on: opts's scheme.
func liveSubjects(opts web.Options) bus.Subjects {
	return bus.Subjects{Prefix: liveTestPrefix, Service: liveTestService, Version: opts.Subjects}
}

// liveFixture is an engine on its own SQLite file, an embedded NATS server, a test relay
// (OnCommit publishes every event in the bus format on core NATS, like the outbox relay
// does after its commit) and the UI with live updates, served by httptest.
//
// The process "fix": start → work (service, 1 attempt; fails while the variable ok is
// not true) → review (user task) → end.
type liveFixture struct {
	t        testing.TB
	e        *engine.Engine
	nats     *bus.Server
	natsDir  string
	natsPort int
	hubConn  *nats.Conn
	pubConn  *nats.Conn
	ui       *web.UI
	srv      *httptest.Server
	interval time.Duration
}

func newLiveFixture(t *testing.T) *liveFixture {
	t.Helper()
	return newLiveFixtureWith(t, web.Options{})
}

// newLiveFixtureWith is newLiveFixture with the limits and proxy trust of opts.
func newLiveFixtureWith(t testing.TB, opts web.Options) *liveFixture {
	t.Helper()
	ctx := context.Background()
	f := &liveFixture{t: t, natsDir: t.TempDir(), interval: 40 * time.Millisecond}
	ns, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: f.natsDir, Port: -1})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	f.nats, f.natsPort = ns, ns.Port()
	t.Cleanup(func() { _ = f.nats.Stop(context.Background()) })
	connect := func(name string) *nats.Conn {
		// Like the app's connection: reconnect forever, no reconnect buffer (a publish
		// during an outage fails, so its event is lost to core subscribers).
		nc, err := nats.Connect(ns.ClientURL(), nats.Name(name), nats.MaxReconnects(-1),
			nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1))
		if err != nil {
			t.Fatalf("connect %s: %v", name, err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	pub := connect("test-relay")
	f.pubConn, f.hubConn = pub, connect("web")

	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The real clock: the executor runs jobs and the hub debounces renders in real time;
	// no figure here depends on the hour.
	f.e, err = engine.New(engine.Options{Store: st, Workers: 2, Logger: slog.New(slog.DiscardHandler),
		OnCommit: func(evs []*store.Event) {
			for _, ev := range evs {
				b, _ := json.Marshal(bus.NewMessage(liveTestService, ev))
				_ = pub.Publish(liveSubjects(opts).Event(ev.DefinitionKey, ev.Type), b)
			}
		}})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	f.e.Handle("work", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["ok"] != true {
			return nil, errors.New("the ok variable is not set")
		}
		return nil, nil
	})
	defs, err := bpmn.Build("fix", bpmn.Name("Fix me")).
		Start("start").
		ServiceTask("work", bpmn.Name("Work"), bpmn.JobType("work"), bpmn.Retries(1)).
		UserTask("review", bpmn.Name("Review")).
		End("end").
		Definitions()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	if _, err := f.e.DeployModel(ctx, "fix.bpmn", defs); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if err := f.e.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.e.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
	})

	f.ui = web.New(web.Options{Engine: f.e, Logger: slog.New(slog.DiscardHandler), NATS: f.hubConn,
		Prefix: liveTestPrefix, Subjects: opts.Subjects, LiveInterval: f.interval, LiveLimits: opts.LiveLimits, TrustProxyUser: opts.TrustProxyUser})
	if err := f.ui.Start(ctx); err != nil {
		t.Fatalf("start UI: %v", err)
	}
	f.srv = httptest.NewServer(f.ui)
	t.Cleanup(f.srv.Close)
	// Registered last, so it runs first: the streams end before the server waits for them.
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.ui.Stop(sctx); err != nil {
			t.Errorf("stop UI: %v", err)
		}
	})
	return f
}

// startFailing starts an instance that stops at work with an incident, and returns it
// with the incident's id.
func (f *liveFixture) startFailing() (*store.Instance, string) {
	f.t.Helper()
	ctx := context.Background()
	in, err := f.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: "F-1"})
	if err != nil {
		f.t.Fatalf("start instance: %v", err)
	}
	var incID string
	waitUntil(f.t, "the incident", func() bool {
		incs, err := f.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: in.ID, State: store.IncidentOpen})
		if err == nil && len(incs) == 1 {
			incID = incs[0].ID
		}
		return incID != ""
	})
	return in, incID
}

// waitUntil is wait.Within with the browser tests' timeout: a page in headless Chrome
// on a loaded machine takes longer than a store read.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	wait.Within(t, 15*time.Second, what, cond)
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data string
	At   time.Time
}

// fragment decodes a fragment event.
func (ev sseEvent) fragment() (id, html string) {
	var f struct {
		ID   string `json:"id"`
		HTML string `json:"html"`
	}
	if ev.Name == "fragment" && json.Unmarshal([]byte(ev.Data), &f) == nil {
		return f.ID, f.HTML
	}
	return "", ""
}

// liveStream reads one SSE stream into a channel.
type liveStream struct {
	t      testing.TB
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
	// last holds the newest HTML seen per fragment id.
	last map[string]string
}

func (f *liveFixture) open(topic string) *liveStream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/live?topic="+url.QueryEscape(topic), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		f.t.Fatalf("open live %s: %v", topic, err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		f.t.Fatalf("open live %s: %s %s", topic, resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &liveStream{t: f.t, events: make(chan sseEvent, 4096), cancel: cancel, done: make(chan struct{}), last: map[string]string{}}
	go func() {
		defer close(s.done)
		defer close(s.events)
		defer resp.Body.Close()
		r := bufio.NewReaderSize(resp.Body, 1<<16)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if ev.Name != "" || ev.Data != "" {
					ev.At = time.Now()
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	f.t.Cleanup(s.close)
	return s
}

func (s *liveStream) close() {
	s.cancel()
	<-s.done
}

// next returns the next event, failing after timeout; ok is false when the stream ended.
func (s *liveStream) next(timeout time.Duration) (sseEvent, bool) {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if id, html := ev.fragment(); id != "" {
			s.last[id] = html
		}
		return ev, ok
	case <-time.After(timeout):
		s.t.Fatalf("no live event within %s", timeout)
		return sseEvent{}, false
	}
}

// waitFragment reads events until fragment id (newest version) satisfies cond, and
// returns its HTML. A fragment seen earlier counts.
func (s *liveStream) waitFragment(id, what string, cond func(html string) bool) string {
	s.t.Helper()
	if h, ok := s.last[id]; ok && cond(h) {
		return h
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev, ok := s.next(time.Until(deadline))
		if !ok {
			s.t.Fatalf("stream ended waiting for %s (%s)", id, what)
		}
		if fid, html := ev.fragment(); fid == id && cond(html) {
			return html
		}
	}
}

func (s *liveStream) waitStatus(want string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev, ok := s.next(time.Until(deadline))
		if !ok {
			s.t.Fatalf("stream ended waiting for status %s", want)
		}
		if ev.Name == "status" && ev.Data == want {
			return
		}
	}
}

func contains(sub string) func(string) bool {
	return func(h string) bool { return strings.Contains(h, sub) }
}
func notContains(sub string) func(string) bool {
	return func(h string) bool { return !strings.Contains(h, sub) }
}

// statValue reads the value of a stat card from the stats fragment.
func statValue(html, testID string) string {
	_, rest, ok := strings.Cut(html, `data-testid="`+testID+`"`)
	if !ok {
		return ""
	}
	_, rest, ok = strings.Cut(rest, `<span class="value">`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, "<")
	return v
}

// TestLivePushesFragments follows an incident being retried on the instance page's
// stream and the dashboard's: the incident goes, the token moves on, the counts drop.
// It runs with both subject schemes.
func TestLivePushesFragments(t *testing.T) {
	for _, v := range []int{bus.SubjectsV2, bus.SubjectsV1} {
		t.Run(fmt.Sprint("subjects-v", v), func(t *testing.T) {
			t.Parallel()
			testLivePushesFragments(t, newLiveFixtureWith(t, web.Options{Subjects: v}))
		})
	}
}

func testLivePushesFragments(t *testing.T, f *liveFixture) {
	in, incID := f.startFailing()

	inst := f.open("instance:" + in.ID)
	dash := f.open("dashboard")
	inst.waitStatus("live")
	// A new stream gets every fragment of the page, as it is now.
	inst.waitFragment("live-incidents", "the open incident", contains(`data-state="open"`))
	inst.waitFragment("overlays", "the incident badge", contains(`data-testid="badge-incidents-work"`))
	inst.waitFragment("live-tokens", "the token at work", contains(`data-element-id="work"`))
	dash.waitFragment("live-stats", "one open incident", func(h string) bool { return statValue(h, "stat-incidents") == "1" })

	if err := f.e.RetryIncident(context.Background(), incID, engine.RetryOptions{Variables: map[string]any{"ok": true}}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	inst.waitFragment("live-incidents", "no open incident", notContains(`data-state="open"`))
	inst.waitFragment("live-tokens", "the token at review", contains(`data-element-id="review"`))
	ov := inst.waitFragment("overlays", "the active badge at review", contains(`data-testid="badge-active-review"`))
	if strings.Contains(ov, "badge-incidents-work") {
		t.Errorf("overlay still has the incident badge: %s", ov)
	}
	if !strings.HasPrefix(ov, `<g id="overlays"`) {
		t.Errorf("overlay fragment is not the overlay layer: %.80s", ov)
	}
	inst.waitFragment("live-variables", "the ok variable", contains(`data-name="ok"`))
	inst.waitFragment("live-history", "the resolution", contains(string(event.IncidentResolved)))
	dash.waitFragment("live-stats", "no open incident", func(h string) bool { return statValue(h, "stat-incidents") == "0" })
	dash.waitFragment("live-recent-incidents", "the empty incident list", contains(`data-testid="empty-state"`))

	// The user task completes the instance: the state pill and the end time follow.
	tasks, err := f.e.ListUserTasks(context.Background(), store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("open tasks: %v %v", tasks, err)
	}
	if err := f.e.CompleteUserTask(context.Background(), tasks[0].ID, nil); err != nil {
		t.Fatalf("complete task: %v", err)
	}
	inst.waitFragment("live-instance-title", "the completed pill", contains(`data-state="completed"`))
	inst.waitFragment("live-ended", "the end time", contains("<time"))
}

// TestLiveCoalesces checks that a burst of changes reaches the browser as few pushes,
// the last one showing the final state.
func TestLiveCoalesces(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	in, _ := f.startFailing()
	s := f.open("instance:" + in.ID)
	s.waitFragment("live-variables", "the first render", contains("<section"))

	const n = 40
	start := time.Now()
	for i := 1; i <= n; i++ {
		if err := f.e.SetVariables(context.Background(), in.ID, map[string]any{"n": i}); err != nil {
			t.Fatalf("set variables: %v", err)
		}
	}
	elapsed := time.Since(start)
	pushes := 0
	final := fmt.Sprintf(`<span class="mono" data-testid="variable-value">%d</span>`, n)
	for {
		ev, ok := s.next(15 * time.Second)
		if !ok {
			t.Fatal("stream ended")
		}
		if id, html := ev.fragment(); id == "live-variables" {
			pushes++
			if strings.Contains(html, final) {
				break
			}
		}
	}
	// Renders are at least one interval apart: one at once, the rest on the interval.
	limit := 2 + int(time.Since(start)/f.interval)
	t.Logf("%d commits in %s became %d pushes of the variables (limit %d)", n, elapsed, pushes, limit)
	if pushes > limit || pushes >= n {
		t.Errorf("%d pushes for %d commits, want at most %d", pushes, n, limit)
	}
}

// TestLiveStreamsEnd checks that a stream that goes away takes its room and NATS
// subscription with it, that rooms share one subscription per subject, and that Stop
// ends open streams (TestMain checks that no goroutine is left).
func TestLiveStreamsEnd(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	in, _ := f.startFailing()
	// The hub subscribes to stall notices at Start; rooms add their own subscriptions.
	base := f.hubConn.NumSubscriptions()
	if base != 1 {
		t.Errorf("%d subscriptions of a started hub, want 1 (stall notices)", base)
	}

	a := f.open("instance:" + in.ID) // livetest.events.*.fix.>
	b := f.open("process:fix")       // livetest.events.*.fix.> as well
	c := f.open("dashboard")         // livetest.events.>
	d := f.open("incidents")         // livetest.events.> as well
	for _, s := range []*liveStream{a, b, c, d} {
		s.waitStatus("live")
	}
	if got := f.hubConn.NumSubscriptions() - base; got != 2 {
		t.Errorf("%d subscriptions for 4 rooms on 2 subjects, want 2", got)
	}
	a.close()
	c.close()
	d.close()
	waitUntil(t, "one subscription left", func() bool { return f.hubConn.NumSubscriptions()-base == 1 })
	b.close()
	waitUntil(t, "no subscription left", func() bool { return f.hubConn.NumSubscriptions() == base })

	e := f.open("dashboard")
	e.waitStatus("live")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.ui.Stop(sctx); err != nil {
		t.Fatalf("stop UI: %v", err)
	}
	for {
		if _, ok := e.next(10 * time.Second); !ok {
			break // the server ended the stream
		}
	}
	if got := f.hubConn.NumSubscriptions(); got != 0 {
		t.Errorf("%d subscriptions after Stop, want none", got)
	}
	// A stopped hub refuses new streams (the browser backs off and retries).
	resp, err := http.Get(f.srv.URL + "/live?topic=dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Stop: %s, want 503", resp.Status)
	}
}

// TestLiveSurvivesNATSRestart stops the NATS server under an open stream: the browser
// hears that live updates paused, a change made meanwhile (its events are lost: no
// reconnect buffer) shows up once the connection is back, and later events flow again
// on the re-established subscription.
func TestLiveSurvivesNATSRestart(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	in, incID := f.startFailing()
	s := f.open("instance:" + in.ID)
	s.waitStatus("live")
	s.waitFragment("live-incidents", "the open incident", contains(`data-state="open"`))

	if err := f.nats.Stop(context.Background()); err != nil {
		t.Fatalf("stop NATS: %v", err)
	}
	s.waitStatus("down")
	if err := f.e.RetryIncident(context.Background(), incID, engine.RetryOptions{Variables: map[string]any{"ok": true}}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	ns, err := bus.StartEmbedded(context.Background(), bus.EmbeddedOptions{StoreDir: f.natsDir, Port: f.natsPort})
	if err != nil {
		t.Fatalf("restart NATS: %v", err)
	}
	f.nats = ns
	s.waitStatus("live")
	s.waitFragment("live-tokens", "the token at review, rendered after the reconnect", contains(`data-element-id="review"`))
	s.waitFragment("live-incidents", "no open incident", notContains(`data-state="open"`))

	tasks, err := f.e.ListUserTasks(context.Background(), store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("open tasks: %v %v", tasks, err)
	}
	// The publisher reconnects on its own schedule; wait until its events would arrive.
	waitUntil(t, "the test relay to reconnect", func() bool { return f.pubConn.IsConnected() })
	if err := f.e.CompleteUserTask(context.Background(), tasks[0].ID, nil); err != nil {
		t.Fatalf("complete task: %v", err)
	}
	s.waitFragment("live-instance-title", "the completed pill", contains(`data-state="completed"`))
}

// TestLiveTopics checks what pages say about live updates and how /live answers bad
// topics.
func TestLiveTopics(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	in, _ := f.startFailing()
	for path, topic := range map[string]string{
		"/":                        "dashboard",
		"/processes/fix":           "process:fix",
		"/processes/fix?version=1": "process:fix?version=1",
		"/instances/" + in.ID:      "instance:" + in.ID,
		"/instances?process=fix":   "instances?process=fix",
		"/incidents?state=open&x=": "incidents", // open is the default, x no parameter of the page
		"/instances?utm=1&state=completed,active&process=fix&state=x": "instances?process=fix&state=active%2Ccompleted",
		"/tasks": "",
	} {
		body := getBody(t, f.srv.URL+path)
		want := `data-live-src="/live?topic=` + url.QueryEscape(topic) + `"`
		if topic == "" {
			if strings.Contains(body, "data-live-src") {
				t.Errorf("%s: has a live stream, want none", path)
			}
			continue
		}
		if !strings.Contains(body, strings.ReplaceAll(want, "&", "&amp;")) || !strings.Contains(body, "/static/live.js") {
			t.Errorf("%s: want %s and live.js", path, want)
		}
		s := f.open(topic)
		s.waitStatus("live")
		s.waitFragment(firstLiveID(body), "a first fragment", func(string) bool { return true })
		s.close()
	}
	for topic, status := range map[string]int{"": 400, "bogus": 400, "process:": 400, "dashboard:x": 400, "instance:nope": 404} {
		resp, err := http.Get(f.srv.URL + "/live?topic=" + url.QueryEscape(topic))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != status {
			t.Errorf("topic %q: %s, want %d", topic, resp.Status, status)
		}
	}

	// Without NATS, pages render and say they are not live.
	plain := httptest.NewServer(web.New(web.Options{Engine: f.e, Logger: slog.New(slog.DiscardHandler)}))
	defer plain.Close()
	body := getBody(t, plain.URL+"/")
	if !strings.Contains(body, `data-state="off"`) || strings.Contains(body, "live.js") {
		t.Errorf("page without NATS should say it is not live")
	}
}

var liveIDPattern = regexp.MustCompile(`id="(live-[a-z-]+)" data-live[ >]`)

func firstLiveID(body string) string {
	m := liveIDPattern.FindStringSubmatch(body)
	if m == nil {
		return "no live fragment"
	}
	return m[1]
}

func getBody(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return b.String()
}
