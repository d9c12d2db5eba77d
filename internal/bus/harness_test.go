package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}

// flowKey has a dot, so the subject token is "order_flow".
const flowKey = "order.flow"

// testService is the service name the test relays publish under.
const testService = "orders-test"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLog logs to the test when -v is on and COCKPIT_TEST_LOG is set.
func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("COCKPIT_TEST_LOG") == "" {
		return quietLog()
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// deadline returns a context that ends well before the test's own timeout.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, within ctx's deadline (wait.Timeout without one).
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	timeout := wait.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	wait.Within(t, timeout, what, cond)
}

// target is a NATS server the relay tests run against: an embedded one per test, or the
// server of COCKPIT_TEST_NATS_URL with a prefix of the test's own.
type target struct {
	name     string
	url      string
	prefix   string
	embedded *Server
}

// targets returns the servers a relay test runs on; the external variant is skipped
// (with a message) when COCKPIT_TEST_NATS_URL is unset.
func eachTarget(t *testing.T, fn func(t *testing.T, tg *target)) {
	t.Run("embedded", func(t *testing.T) {
		t.Parallel()
		fn(t, embeddedTarget(t))
	})
	t.Run("external", func(t *testing.T) {
		url := os.Getenv("COCKPIT_TEST_NATS_URL")
		if url == "" {
			t.Skip("COCKPIT_TEST_NATS_URL is not set: skipping the variant against an external NATS server")
		}
		t.Parallel()
		fn(t, externalTarget(t, url))
	})
}

func embeddedTarget(t *testing.T) *target {
	t.Helper()
	srv, err := StartEmbedded(deadline(t, 30*time.Second), EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	tg := &target{name: "embedded", url: srv.ClientURL(), prefix: DefaultPrefix, embedded: srv}
	tg.ensure(t)
	return tg
}

func externalTarget(t *testing.T, url string) *target {
	t.Helper()
	tg := &target{name: "external", url: url, prefix: "cockpittest_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")}
	tg.ensure(t)
	t.Cleanup(func() {
		nc := tg.connect(t)
		js, err := jetstream.New(nc)
		if err == nil {
			err = DeleteStreams(context.Background(), js, tg.prefix)
		}
		if err != nil {
			t.Errorf("clean up streams of %s: %v", tg.prefix, err)
		}
	})
	return tg
}

// connect opens a connection that the test closes at cleanup.
func (tg *target) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := Connect(deadline(t, 10*time.Second), ConnectOptions{
		URL: tg.url, Name: t.Name(), ReconnectWait: 20 * time.Millisecond, Logger: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (tg *target) ensure(t *testing.T) {
	t.Helper()
	js, err := jetstream.New(tg.connect(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(deadline(t, 10*time.Second), js, StreamOptions{Prefix: tg.prefix}); err != nil {
		t.Fatal(err)
	}
}

// flow is an engine on its own SQLite store running the test flow: start → service task
// "work" (one attempt; a "fail" variable makes it an incident) → end.
type flow struct {
	t  *testing.T
	e  *engine.Engine
	st store.Store

	mu     sync.Mutex
	ended  map[string]bool // instances completed or stuck at an incident
	notify func()
}

func newFlow(t *testing.T) *flow {
	t.Helper()
	ctx := deadline(t, 10*time.Second)
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, st: st, ended: map[string]bool{}}
	// The real clock: the engine runs its jobs and the relay publishes in real time.
	e, err := engine.New(engine.Options{Store: st, Logger: quietLog(), OnCommit: f.onCommit})
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	e.Handle("work", func(_ context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("work failed on purpose")
		}
		return map[string]any{"done": true}, nil
	})
	defs, err := bpmn.Build(flowKey, bpmn.Name("Order flow")).
		Start("start").
		ServiceTask("work", bpmn.JobType("work"), bpmn.Retries(1)).
		End("end").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "order.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(deadline(t, 30*time.Second)); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return f
}

func (f *flow) onCommit(evs []*store.Event) {
	f.mu.Lock()
	for _, ev := range evs {
		if ev.Type == event.InstanceCompleted || ev.Type == event.IncidentOpened {
			f.ended[ev.InstanceID] = true
		}
	}
	n := f.notify
	f.mu.Unlock()
	if n != nil {
		n()
	}
}

func (f *flow) setNotify(fn func()) {
	f.mu.Lock()
	f.notify = fn
	f.mu.Unlock()
}

func (f *flow) endedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ended)
}

// start starts n instances from a few goroutines; every fifth one fails into an
// incident. Each start must finish within a few seconds whatever NATS does.
func (f *flow) start(n int) {
	f.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := f.e.StartInstance(ctx, flowKey, engine.StartOptions{
				BusinessKey: fmt.Sprint("order-", i), Variables: map[string]any{"fail": i%5 == 0},
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			f.t.Fatalf("start instance: %v", err)
		}
	}
}

func (f *flow) history(t *testing.T) []*store.Event {
	t.Helper()
	evs, err := f.e.History(deadline(t, 10*time.Second), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func (f *flow) backlog(t *testing.T) int64 {
	t.Helper()
	var n int64
	err := f.st.Read(context.Background(), func(tx store.Tx) error {
		var err error
		n, _, err = tx.OutboxStats(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newTestRelay(t *testing.T, f *flow, nc *nats.Conn, prefix, owner string) *Relay {
	t.Helper()
	return newTestRelayOpts(t, f, nc, RelayOptions{Prefix: prefix, Owner: owner})
}

// newTestRelayOpts makes a relay for f with the test's timings, o's prefix, owner and
// subject scheme, and testService unless o names a service.
func newTestRelayOpts(t *testing.T, f *flow, nc *nats.Conn, o RelayOptions) *Relay {
	t.Helper()
	if o.Service == "" {
		o.Service = testService
	}
	r, err := NewRelay(RelayOptions{
		Store: f.st, Conn: nc, Prefix: o.Prefix, Service: o.Service, Subjects: o.Subjects, Owner: o.Owner, BatchSize: 64,
		Fallback: 20 * time.Millisecond, LeaseTTL: 3 * time.Second, AckTimeout: time.Second, Logger: testLog(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func stopRelay(t *testing.T, r *Relay) {
	t.Helper()
	if err := r.Stop(deadline(t, 10*time.Second)); err != nil {
		t.Errorf("stop relay: %v", err)
	}
}

// streamMsg is one stored message read back from a stream.
type streamMsg struct {
	subject string
	msgID   string
	service string // the Cockpit-Service header
	msg     *Message
}

// readStream reads every message of a stream from the start with an ordered consumer.
func readStream(t *testing.T, nc *nats.Conn, stream string) []streamMsg {
	t.Helper()
	ctx := deadline(t, 30*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := int(info.State.Msgs)
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]streamMsg, 0, want)
	for len(out) < want {
		batch, err := cons.Fetch(min(want-len(out), 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			msg, err := DecodeMessage(m.Data())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, streamMsg{subject: m.Subject(), msgID: m.Headers().Get(jetstream.MsgIDHeader),
				service: m.Headers().Get(HeaderService), msg: msg})
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d messages of %s", len(out), want, stream)
		}
	}
	return out
}

// checkExactlyOnce checks that the events stream holds every history event once, each
// instance's events in InstanceSeq order, and the incidents stream every incident event,
// on the subjects of scheme 2 for testService.
func checkExactlyOnce(t *testing.T, nc *nats.Conn, prefix string, history []*store.Event) {
	t.Helper()
	subj := Subjects{Prefix: prefix, Service: testService, Version: SubjectsV2}
	got := readStream(t, nc, EventsStream(prefix))
	if len(got) != len(history) {
		t.Errorf("stream %s holds %d messages, history has %d events", EventsStream(prefix), len(got), len(history))
	}
	byID := map[string]*store.Event{}
	wantIncidents := 0
	for _, ev := range history {
		byID[ev.ID] = ev
		if ev.Type == event.IncidentOpened || ev.Type == event.IncidentResolved {
			wantIncidents++
		}
	}
	seen := map[string]bool{}
	lastSeq := map[string]int64{}
	for _, m := range got {
		ev := byID[m.msgID]
		switch {
		case ev == nil:
			t.Errorf("message %s is not a history event", m.msgID)
			continue
		case seen[m.msgID]:
			t.Errorf("event %s arrived twice", m.msgID)
		case m.msg.ID != m.msgID || m.msg.InstanceSeq != ev.InstanceSeq || m.msg.Type != ev.Type:
			t.Errorf("message %s: payload %+v does not match event %+v", m.msgID, m.msg, ev)
		case m.subject != subj.Event(flowKey, ev.Type):
			t.Errorf("event %s on subject %q", m.msgID, m.subject)
		case m.service != testService || m.msg.Service != testService:
			t.Errorf("event %s: service %q in the header, %q in the payload", m.msgID, m.service, m.msg.Service)
		}
		seen[m.msgID] = true
		if prev := lastSeq[ev.InstanceID]; ev.InstanceSeq != prev+1 {
			t.Errorf("instance %s: event %d arrived after %d", ev.InstanceID, ev.InstanceSeq, prev)
		}
		lastSeq[ev.InstanceID] = ev.InstanceSeq
	}
	for id := range byID {
		if !seen[id] {
			t.Errorf("event %s (%s) never arrived", id, byID[id].Type)
		}
	}
	inc := readStream(t, nc, IncidentsStream(prefix))
	if len(inc) != wantIncidents || wantIncidents == 0 {
		t.Errorf("incidents stream holds %d messages, want %d (> 0)", len(inc), wantIncidents)
	}
	for _, m := range inc {
		if m.subject != subj.Incident(flowKey) || byID[m.msgID] == nil {
			t.Errorf("incident message %s on %q", m.msgID, m.subject)
		}
	}
}
