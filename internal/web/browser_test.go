package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// chromiumPath is Debian's chromium; the tests never download a browser of their own.
const chromiumPath = "/usr/bin/chromium"

// stack is the whole cockpit in-process, wired like `cockpit serve`: SQLite store,
// embedded NATS with the streams, the outbox relay (engine OnCommit → relay.Notify), the
// engine, the command service, and the UI with live updates on 127.0.0.1.
type stack struct {
	e    *engine.Engine
	cmds *command.Client
	url  string
	// onCommit, when set, sees every commit's events (after relay.Notify).
	mu       sync.Mutex
	onCommit func([]*store.Event)
}

func newStack(tb testing.TB, deploy func(e *engine.Engine) error) *stack {
	tb.Helper()
	return newStackWith(tb, deploy, stackOptions{})
}

// stackOptions vary the stack: observe (an observing cockpit) and signIn (--auth local
// with the users of signInUsers).
type stackOptions struct {
	observe, signIn bool
}

// signInUsers are the stack's users with sign-in: name → role; their password is
// stackPassword.
var signInUsers = map[string]auth.Role{"vera": auth.Viewer, "otto": auth.Operator, "ada": auth.Admin}

const stackPassword = "a long enough password"

// newStackWith is newStack; with observe, the UI is an observing cockpit's (cockpit
// serve --observe): the engine publishes as service "orders" (events and models), an
// observer folds the stream into a read model of its own, and the UI reads that, live on
// the folds the observer republishes, its commands going through a Router.
func newStackWith(tb testing.TB, deploy func(e *engine.Engine) error, so stackOptions) *stack {
	tb.Helper()
	observe := so.observe
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	const prefix = "browsertest"
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(tb.TempDir(), "cockpit.db")})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	ns, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: tb.TempDir(), Port: -1})
	if err != nil {
		tb.Fatalf("start NATS: %v", err)
	}
	tb.Cleanup(func() { _ = ns.Stop(context.Background()) })
	nc, err := ns.Connect(ctx, "cockpit-test")
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Prefix: prefix}); err != nil {
		tb.Fatalf("streams: %v", err)
	}
	service := ""
	if observe {
		service = "orders"
	}
	relay, err := bus.NewRelay(bus.RelayOptions{Store: st, Conn: nc, Prefix: prefix, Service: service, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := relay.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = relay.Stop(context.Background()) })
	s := &stack{}
	// The real clock: a browser watches jobs run, events relayed and pages pushed in real time.
	s.e, err = engine.New(engine.Options{Store: st, Logger: log, Workers: 4, OnCommit: func(evs []*store.Event) {
		relay.Notify()
		s.mu.Lock()
		f := s.onCommit
		s.mu.Unlock()
		if f != nil {
			f(evs)
		}
	}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := deploy(s.e); err != nil {
		tb.Fatalf("deploy: %v", err)
	}
	if err := s.e.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.e.Stop(sctx)
	})
	// Bulk operations, throttled so that a browser sees them move.
	opx, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: s.e.Clock(), Owner: "browser-test",
		Kinds: []operation.Kind{incidents.RetryOperation(s.e), operation.CancelInstances(s.e), operation.ModifyInstances(s.e),
			operation.MigrateInstances(s.e)}, Rate: 20, Batch: 4,
		Logger: log, OnProgress: command.OperationProgress(nc, prefix, log)})
	if err != nil {
		tb.Fatal(err)
	}
	if err := opx.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = opx.Stop(context.Background()) })
	// Named (observe), the command service also answers on the service's subjects, where
	// the observing cockpit's Router sends.
	svc, err := command.Start(ctx, command.Options{Conn: nc, Engine: s.e, Prefix: prefix, Service: service, Logger: log, WakeOperations: opx.Wake})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Stop(context.Background()) })
	s.cmds = command.NewClient(nc, prefix)
	uiOpts := web.Options{Engine: s.e, Commands: s.cmds, Logger: log, NATS: nc, Prefix: prefix}
	if observe {
		uiOpts = observingUI(tb, st, nc, js, prefix, service, s.cmds)
	}
	if so.signIn {
		svc, err := auth.New(auth.Options{Store: st, Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		for name, role := range signInUsers {
			if _, err := svc.CreateUser(ctx, name, stackPassword, role); err != nil {
				tb.Fatal(err)
			}
		}
		uiOpts.Auth = svc
	}
	ui := web.New(uiOpts)
	if err := ui.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(web.Guard(ui, web.GuardOptions{})) // 127.0.0.1:0; Guard sets the CSP the pages run under
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { _ = ui.Stop(context.Background()) }) // first: end the streams
	s.url = srv.URL
	return s
}

// newBrowser starts Debian's chromium (headless, fresh profile) and returns its context;
// chromedp.NewContext(browser) opens another tab in it.
func newBrowser(tb testing.TB) context.Context {
	tb.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		tb.Skipf("browser test skipped: %s is not installed (apt-get install chromium; .ci/run does it)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		tb.Fatalf("start chromium: %v", err)
	}
	tb.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	return bctx
}

// tab opens a page in a new tab and waits until its live stream is up; it marks the
// window, so a later check can tell the page was not reloaded.
func tab(tb testing.TB, browser context.Context, url string) context.Context {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	tb.Cleanup(cancel)
	if err := doSteps(ctx,
		chromedp.Navigate(url),
		waitJS(`document.querySelector("[data-live-status]").dataset.state === "live"`),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
	); err != nil {
		tb.Fatalf("open %s: %v", url, err)
	}
	return ctx
}

// driver is one chromium tab that a test drives step by step.
type driver struct {
	t   *testing.T
	ctx context.Context
}

// newDriver opens a tab, closed when the test ends.
func newDriver(t *testing.T, browser context.Context) *driver {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	return &driver{t: t, ctx: ctx}
}

// run runs steps; a failure fails the test, showing the page's main element.
func (d *driver) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	if err := doSteps(d.ctx, steps...); err != nil {
		html, _ := chromedp.Run(d.ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
		d.t.Fatalf("%s: %v\n%.3000s", what, err, html)
	}
}

// doSteps runs steps in order. A step whose evaluation found the page replaced under it
// did not run, so it runs again, in the new page, for up to 15 s.
func doSteps(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	for _, step := range steps {
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := chromedp.Do(ctx, step)
			if err == nil {
				break
			}
			if !pageReplaced(err) || time.Now().After(deadline) || ctx.Err() != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond) // the new page's context to be announced
		}
	}
	return nil
}

// page waits until cond holds. It polls from the test: after a click that navigates, a
// poll running in the page dies with it.
func (d *driver) page(what, cond string) {
	d.t.Helper()
	waitUntil(d.t, what, func() bool {
		ok, err := chromedp.Run(d.ctx, chromedp.Evaluate[bool](`(function () { try { return !!(`+cond+`); } catch (e) { return false; } })()`))
		return err == nil && ok
	})
}

// then runs act and waits until cond holds.
func (d *driver) then(what string, act chromedp.Action[chromedp.Void], cond string) {
	d.t.Helper()
	d.run(what, act)
	d.page(what, cond)
}

// clickJS clicks the element sel selects, deferred so that a click that navigates does
// not cut off the evaluation.
func clickJS(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector(` + jsString(sel) + `).click(); }, 0)`)
}

// clickShape clicks a diagram's shape as a pointer would: on the shape's first drawn
// child.
func clickShape(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`setTimeout(function () { var g = document.querySelector('[data-diagram] [data-testid="shape-` + id + `"]');
		(g.firstElementChild || g).dispatchEvent(new MouseEvent("click", {bubbles: true})); }, 0)`)
}

// waitJS polls a JavaScript condition until it holds, for at most 15 s. The poll runs in
// the page; when the page is replaced under it (a navigation that a deferred click
// started, or chromium still naming the old page's execution context just after one),
// the poll starts again in the new page instead of failing.
func waitJS(cond string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				left = time.Millisecond
			}
			poll := chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(10*time.Millisecond))
			v, err := poll(ctx, t)
			if err == nil || !pageReplaced(err) || time.Now().After(deadline) || ctx.Err() != nil {
				return v, err
			}
			select {
			case <-ctx.Done():
				return v, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// pageReplaced reports whether err says the page an evaluation ran in went away.
func pageReplaced(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Cannot find context with specified id") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Inspected target navigated or closed")
}

func expect(tb testing.TB, ctx context.Context, what, cond string) {
	tb.Helper()
	// Every condition also proves the page is the one loaded before: no reload.
	if err := doSteps(ctx, waitJS(`window.__notReloaded === true && (`+cond+`)`)); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		tb.Fatalf("%s: %v\npage main:\n%.3000s", what, err, html)
	}
}

// screenshot saves the page into the test's temp dir, and into $COCKPIT_SCREENSHOTS
// (e.g. /tmp) as browser-<name>.png when that is set.
func screenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(tb.TempDir(), name+".png"), png, 0o644); err != nil {
		tb.Fatal(err)
	}
	if dir := os.Getenv("COCKPIT_SCREENSHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "browser-"+name+".png"), png, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestBrowserLiveRetry drives chromium against the whole stack: an incident shows on the
// dashboard and the instance page; after the variable is fixed and the incident retried
// through the command service, two open instance tabs and the dashboard show, without a
// reload, the incident gone, the token at the next task and the counts down.
func TestBrowserLiveRetry(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(e *engine.Engine) error {
		e.Handle("work", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
			if job.Variables["ok"] != true {
				return nil, errors.New("the ok variable is not set")
			}
			return map[string]any{"done": true}, nil
		})
		defs, err := bpmn.Build("fix", bpmn.Name("Fix me")).
			Start("start", bpmn.Name("Start")).
			ServiceTask("work", bpmn.Name("Do the work"), bpmn.JobType("work"), bpmn.Retries(1)).
			UserTask("review", bpmn.Name("Review")).
			End("end", bpmn.Name("Done")).
			Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "fix.bpmn", defs)
		return err
	})
	ctx := context.Background()
	in, err := s.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: "ORDER-7"})
	if err != nil {
		t.Fatal(err)
	}
	var incID string
	waitUntil(t, "the incident", func() bool {
		incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: in.ID, State: store.IncidentOpen})
		if err == nil && len(incs) == 1 {
			incID = incs[0].ID
		}
		return incID != ""
	})

	dash := tab(t, browser, s.url+"/")
	expect(t, dash, "dashboard shows one incident", `document.querySelector('[data-testid=stat-incidents] .value').textContent === "1"`)
	screenshot(t, dash, "dashboard-incident")

	// The first tab follows the dashboard's link to the instance, like an operator.
	first := tab(t, browser, s.url+"/")
	href, err := chromedp.Run(first, chromedp.Evaluate[string](`document.querySelector("[data-testid=incident-row] a[data-testid=id-link]").href`))
	if err != nil {
		t.Fatalf("the dashboard's link to the instance: %v", err)
	}
	if err := doSteps(first,
		chromedp.Navigate(href),
		waitJS(`location.pathname === "/instances/`+in.ID+`" && document.querySelector("[data-live-status]").dataset.state === "live"`),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
	); err != nil {
		t.Fatalf("open the instance from the dashboard: %v", err)
	}
	second := tab(t, browser, s.url+"/instances/"+in.ID)
	for _, p := range []context.Context{first, second} {
		expect(t, p, "open incident", `document.querySelector('[data-testid=incident][data-state=open]') !== null`)
		expect(t, p, "incident badge on the diagram", `document.querySelector('#overlays [data-testid=badge-incidents-work]') !== null`)
		expect(t, p, "token at work", `document.querySelector('[data-testid=token-row][data-element-id=work]') !== null`)
	}
	screenshot(t, first, "instance-incident")

	// Fix the cause and retry, through the command service (NATS request/reply, audited),
	// as the page's retry action does.
	if _, err := s.cmds.RetryIncident(ctx, command.RetryIncidentRequest{Meta: command.Meta{Actor: "browser-test"},
		IncidentID: incID, Variables: map[string]any{"ok": true}}); err != nil {
		t.Fatalf("retry: %v", err)
	}
	for i, p := range []context.Context{first, second} {
		what := fmt.Sprintf("tab %d: ", i+1)
		expect(t, p, what+"no open incident", `document.querySelector('[data-testid=incident][data-state=open]') === null`)
		expect(t, p, what+"token at review", `document.querySelector('[data-testid=token-row][data-element-id=review]') !== null &&
			document.querySelector('[data-testid=token-row][data-element-id=work]') === null`)
		expect(t, p, what+"overlay moved, drawn as SVG", `(function () {
			var b = document.querySelector('#overlays [data-testid=badge-active-review]');
			return b !== null && b.namespaceURI === "http://www.w3.org/2000/svg" &&
				document.querySelector('#overlays [data-testid=badge-incidents-work]') === null;
		})()`)
		expect(t, p, what+"variable ok shown", `document.querySelector('[data-testid=variable-row][data-name=ok]') !== null`)
	}
	expect(t, dash, "dashboard: no open incident", `document.querySelector('[data-testid=stat-incidents] .value').textContent === "0"`)
	screenshot(t, first, "instance-retried")
	screenshot(t, second, "instance-retried-tab2")
	screenshot(t, dash, "dashboard-retried")

	// Completing the task ends the instance: the state pill changes in place.
	tasks, err := s.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("open tasks: %v %v", tasks, err)
	}
	if _, err := s.cmds.CompleteTask(ctx, command.CompleteTaskRequest{Meta: command.Meta{Actor: "browser-test"}, TaskID: tasks[0].ID}); err != nil {
		t.Fatalf("complete task: %v", err)
	}
	expect(t, second, "completed pill", `document.querySelector('#live-instance-title [data-testid=state-pill]').dataset.state === "completed"`)
	expect(t, second, "no token left", `document.querySelector('[data-testid=token-row]') === null`)
	screenshot(t, second, "instance-completed")
}

// BenchmarkLiveUpdate measures the time from an event's commit to its fragment in an
// open browser's DOM: the reference flow (start → three no-op service tasks → end) runs
// b.N instances one after another while chromium shows the process page, and the same
// flow under another key runs at full speed beside it (128 instances in flight) so that
// the engine, the relay, NATS and the hub are all busy; the page notes
// when each instance's row first shows "completed" (live.js's cockpit:swap event), the
// engine's OnCommit when instance.completed committed. Both read this machine's clock.
//
//	COCKPIT_SCREENSHOTS=/tmp go test -run '^$' -bench BenchmarkLiveUpdate -benchtime 200x ./internal/web
func BenchmarkLiveUpdate(b *testing.B) { benchLiveUpdate(b, false) }

// BenchmarkObserverLiveUpdate is BenchmarkLiveUpdate on an observing cockpit: the time
// from the engine's commit to the fragment in the browser includes the relay, the
// stream, the observer's fold into its read model and its republishing of the fold.
//
//	go test -run '^$' -bench BenchmarkObserverLiveUpdate -benchtime 200x ./internal/web
func BenchmarkObserverLiveUpdate(b *testing.B) { benchLiveUpdate(b, true) }

func benchLiveUpdate(b *testing.B, observe bool) {
	browser := newBrowser(b)
	var mu sync.Mutex
	committed := map[string]float64{} // instance id → commit time of instance.completed, ms since the epoch
	started := map[string]float64{}   // … of instance.started
	s := newStackWith(b, func(e *engine.Engine) error {
		nop := func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil }
		for _, jt := range []string{"bench.a", "bench.b", "bench.c"} {
			e.Handle(jt, nop)
		}
		defs, err := bpmn.Build("reference", bpmn.Name("Reference flow")).
			Start("start").
			ServiceTask("a", bpmn.JobType("bench.a")).
			ServiceTask("b", bpmn.JobType("bench.b")).
			ServiceTask("c", bpmn.JobType("bench.c")).
			End("end").
			Definitions()
		if err != nil {
			return err
		}
		if _, err = e.DeployModel(context.Background(), "reference.bpmn", defs); err != nil {
			return err
		}
		defs.Processes[0].ID = "load"
		_, err = e.DeployModel(context.Background(), "load.bpmn", defs)
		return err
	}, stackOptions{observe: observe})
	var inflight atomic.Int64 // background instances started and not yet completed
	s.mu.Lock()
	s.onCommit = func(evs []*store.Event) {
		now := float64(time.Now().UnixNano()) / 1e6
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range evs {
			if ev.DefinitionKey == "load" {
				if ev.Type == event.InstanceCompleted {
					inflight.Add(-1)
				}
				continue
			}
			switch ev.Type {
			case event.InstanceCompleted:
				committed[ev.InstanceID] = now
			case event.InstanceStarted:
				started[ev.InstanceID] = now
			}
		}
	}
	s.mu.Unlock()
	if observe {
		// The read model learns of a process from its first instance's events.
		if _, err := s.e.StartInstance(context.Background(), "reference", engine.StartOptions{}); err != nil {
			b.Fatal(err)
		}
		waitUntil(b, "the observer's process page", func() bool {
			res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(s.url + "/processes/reference")
			if err != nil {
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
	}
	page := tab(b, browser, s.url+"/processes/reference")
	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`window.__seen = {}; window.__first = {};
		document.addEventListener("cockpit:swap", function (e) {
			var t = performance.timeOrigin + performance.now();
			if (!e.detail.el.querySelectorAll) return;
			e.detail.el.querySelectorAll("[data-testid=instance-row]").forEach(function (r) {
				if (!(r.dataset.id in window.__first)) window.__first[r.dataset.id] = t;
				var p = r.querySelector("[data-testid=state-pill]");
				if (p && p.dataset.state === "completed" && !(r.dataset.id in window.__seen)) window.__seen[r.dataset.id] = t;
			});
		}); true`)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loaders sync.WaitGroup
	for range 8 {
		loaders.Add(1)
		go func() {
			defer loaders.Done()
			for loadCtx.Err() == nil {
				if inflight.Load() >= 128 {
					time.Sleep(time.Millisecond) // load generator back-pressure, not a wait in a test
					continue
				}
				inflight.Add(1)
				if _, err := s.e.StartInstance(loadCtx, "load", engine.StartOptions{}); err != nil {
					inflight.Add(-1)
				}
			}
		}()
	}
	defer func() { stopLoad(); loaders.Wait() }()
	var lat, first []float64
	b.ResetTimer()
	for range b.N {
		in, err := s.e.StartInstance(ctx, "reference", engine.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		seen, err := chromedp.Run(page, chromedp.Poll[float64](`window.__seen["`+in.ID+`"]`,
			chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(2*time.Millisecond)))
		if err != nil {
			b.Fatalf("instance %s never showed completed: %v", in.ID, err)
		}
		mu.Lock()
		c, ok := committed[in.ID]
		mu.Unlock()
		if !ok {
			b.Fatalf("no commit time for %s", in.ID)
		}
		lat = append(lat, seen-c)
		row, err := chromedp.Run(page, chromedp.Evaluate[float64](`window.__first["`+in.ID+`"]`))
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		first = append(first, row-started[in.ID])
		mu.Unlock()
	}
	b.StopTimer()
	// completed: the event that ends a burst (the trailing render of the interval);
	// started: the first event after a quiet spell (rendered at once).
	slices.Sort(lat)
	slices.Sort(first)
	pct := func(l []float64, p float64) float64 { return l[min(len(l)-1, int(p*float64(len(l))))] }
	b.ReportMetric(pct(lat, 0.50), "completed-p50-ms")
	b.ReportMetric(pct(lat, 0.99), "completed-p99-ms")
	b.ReportMetric(pct(first, 0.50), "started-p50-ms")
	b.ReportMetric(pct(first, 0.99), "started-p99-ms")
	b.ReportMetric(0, "ns/op")
	screenshot(b, page, "process-bench")
}

// observingUI wires an observing cockpit on the events of the engine on src: its models
// published, an observer folding into a read model of its own and republishing the
// folds, and the UI options that read the read model (an engine on it, never started).
func observingUI(tb testing.TB, src store.Store, nc *nats.Conn, js jetstream.JetStream, prefix, service string, cmds *command.Client) web.Options {
	tb.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	models, err := bus.NewModelPublisher(bus.ModelPublisherOptions{Store: src, Conn: nc, Prefix: prefix, Service: service, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err := models.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = models.Stop(context.Background()) })
	rm, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(tb.TempDir(), "read.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rm.Close() })
	folded := observer.NewFoldedPublisher(nc, prefix, log)
	ob, err := observer.New(observer.Options{Store: rm, Models: observer.BusModels(js, prefix), JS: js, Prefix: prefix,
		Durable: "browser-observer", Logger: log, OnFold: folded.Publish})
	if err != nil {
		tb.Fatal(err)
	}
	if err := ob.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ob.Stop(context.Background()) })
	e, err := engine.New(engine.Options{Store: rm, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Stop(context.Background()) })
	return web.Options{Engine: e, Commands: command.NewRouter(cmds, rm), Logger: log, NATS: nc,
		Prefix: observer.FoldedPrefix(prefix), Subjects: bus.SubjectsV2, ReadOnly: "observing"}
}
