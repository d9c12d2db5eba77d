package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// (a) A normal run: every event arrives exactly once, in order per instance.
func TestRelayPublishesEveryEventOnce(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		ctx := deadline(t, 60*time.Second)
		f := newFlow(t)
		nc := tg.connect(t)
		r := newTestRelay(t, f, nc, tg.prefix, "node-a")
		f.setNotify(r.Notify)
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		const n = 100
		f.start(n)
		waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == n })
		waitFor(t, ctx, "the outbox to empty", func() bool { return f.backlog(t) == 0 })
		stopRelay(t, r)

		history := f.history(t)
		checkExactlyOnce(t, nc, tg.prefix, history)
		s, err := r.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Published != uint64(len(history)) || s.Backlog != 0 || s.Leader || s.LastLag <= 0 {
			t.Errorf("stats %+v, want %d published, empty backlog, lease released, a lag", s, len(history))
		}
	})
}

// TestRelaySubjectsV1: with subject scheme 1 the relay publishes without the service
// token (as before services had names), the payload and header still name the service;
// the streams take both forms.
func TestRelaySubjectsV1(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	tg := embeddedTarget(t)
	f := newFlow(t)
	nc := tg.connect(t)
	r := newTestRelayOpts(t, f, nc, RelayOptions{Prefix: tg.prefix, Owner: "node-a", Service: "legacy", Subjects: SubjectsV1})
	f.setNotify(r.Notify)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 5 // the first fails: an incident
	f.start(n)
	waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == n })
	waitFor(t, ctx, "the outbox to empty", func() bool { return f.backlog(t) == 0 })
	stopRelay(t, r)
	subj := Subjects{Prefix: tg.prefix, Service: "legacy", Version: SubjectsV1}
	got := readStream(t, nc, EventsStream(tg.prefix))
	if len(got) != len(f.history(t)) {
		t.Errorf("%d messages, %d events", len(got), len(f.history(t)))
	}
	for _, m := range got {
		if m.subject != subj.Event(flowKey, m.msg.Type) || !strings.HasPrefix(m.subject, tg.prefix+".events.order_flow.") ||
			m.service != "legacy" || m.msg.Service != "legacy" {
			t.Errorf("event %s on %q, service %q / %q", m.msgID, m.subject, m.service, m.msg.Service)
		}
	}
	inc := readStream(t, nc, IncidentsStream(tg.prefix))
	if len(inc) == 0 {
		t.Error("no incident message")
	}
	for _, m := range inc {
		if m.subject != tg.prefix+".incidents.order_flow" {
			t.Errorf("incident on %q", m.subject)
		}
	}
}

// TestNewRelayChecksServiceAndSubjects: a bad service name or scheme version is refused
// before anything starts.
func TestNewRelayChecksServiceAndSubjects(t *testing.T) {
	t.Parallel()
	f := newFlow(t)
	nc := embeddedTarget(t).connect(t)
	for _, o := range []RelayOptions{{Service: "a.b"}, {Service: strings.Repeat("s", MaxServiceBytes+1)}, {Subjects: 3}} {
		o.Store, o.Conn = f.st, nc
		if _, err := NewRelay(o); !errors.Is(err, ErrInvalidService) && !errors.Is(err, ErrInvalidSubjects) {
			t.Errorf("NewRelay(service %q, subjects %d) = %v", o.Service, o.Subjects, err)
		}
	}
	r, err := NewRelay(RelayOptions{Store: f.st, Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	if r.subj.Service != DefaultService() || r.subj.Version != SubjectsV2 {
		t.Errorf("defaults %+v", r.subj)
	}
}

// (b) The server stops under load: commands go on, the outbox grows, and after the
// server is back every event arrives once and in order.
func TestRelaySurvivesServerRestart(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 90*time.Second)
	dir := filepath.Join(t.TempDir(), "nats")
	srv, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	tg := &target{name: "embedded", url: srv.ClientURL(), prefix: DefaultPrefix, embedded: srv}
	tg.ensure(t)
	f := newFlow(t)
	nc := tg.connect(t)
	r := newTestRelay(t, f, nc, tg.prefix, "node-a")
	f.setNotify(r.Notify)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer stopRelay(t, r)

	f.start(50)
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// NATS is down: starting instances and running their jobs does not wait for it.
	f.start(100)
	waitFor(t, ctx, "the instances started while NATS is down to end", func() bool { return f.endedCount() == 150 })
	if b := f.backlog(t); b == 0 {
		t.Fatal("the outbox is empty while NATS is down")
	}

	srv2, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatalf("restart NATS on port %d: %v", port, err)
	}
	defer func() { _ = srv2.Stop(context.Background()) }()
	f.start(50)
	waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == 200 })
	waitFor(t, ctx, "the outbox to empty after NATS came back", func() bool { return f.backlog(t) == 0 })

	checkExactlyOnce(t, nc, tg.prefix, f.history(t))
	s, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.PublishErrors == 0 {
		t.Logf("no publish failed while NATS was down (the relay saw the disconnect first): %+v", s)
	}
	if s.Parked != 0 || s.ParkedTotal != 0 {
		t.Errorf("an outage set events aside: %+v (only events that can never be published are)", s)
	}
}

// (c) A relay dies after its publishes were acknowledged and before it deleted the
// rows; the next relay publishes them again and the stream drops the duplicates.
func TestRelayCrashBeforeDelete(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		ctx := deadline(t, 60*time.Second)
		f := newFlow(t)
		const n = 60
		f.start(n) // no relay yet: everything waits in the outbox
		waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == n })
		history := f.history(t)

		nc1 := tg.connect(t)
		r1 := newTestRelay(t, f, nc1, tg.prefix, "node-a")
		var crashed atomic.Int32
		crash := make(chan struct{})
		r1.beforeDelete = func(seqs []int64) error {
			if len(seqs) == 0 || crashed.Add(1) > 1 {
				return errors.New("crashed")
			}
			nc1.Close() // the node dies: its connection goes, the rows stay
			close(crash)
			return errors.New("crashed")
		}
		if err := r1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-crash:
		case <-ctx.Done():
			t.Fatal("the first relay never published")
		}
		stopRelay(t, r1)
		if b := f.backlog(t); b != int64(len(history)) {
			t.Fatalf("backlog after the crash %d, want all %d events still queued", b, len(history))
		}

		nc2 := tg.connect(t)
		r2 := newTestRelay(t, f, nc2, tg.prefix, "node-b")
		if err := r2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the second relay to empty the outbox", func() bool { return f.backlog(t) == 0 })
		stopRelay(t, r2)
		checkExactlyOnce(t, nc2, tg.prefix, history)
		s, _ := r2.Stats(ctx)
		if s.Duplicates == 0 {
			t.Errorf("the second relay saw no duplicate: %+v", s)
		}
	})
}

// Two relays on one store: only the lease holder publishes; when it stops, the other
// takes over.
func TestRelayLease(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	tg := embeddedTarget(t)
	f := newFlow(t)
	a := newTestRelay(t, f, tg.connect(t), tg.prefix, "node-a")
	b := newTestRelay(t, f, tg.connect(t), tg.prefix, "node-b")
	f.setNotify(func() { a.Notify(); b.Notify() })
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "node-a to take the lease", a.el.Leader)
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.start(20)
	waitFor(t, ctx, "the outbox to empty", func() bool { return f.endedCount() == 20 && f.backlog(t) == 0 })
	if b.el.Leader() || b.published.Load() != 0 {
		t.Fatalf("node-b published %d events without the lease", b.published.Load())
	}
	stopRelay(t, a) // releases the lease
	f.start(20)
	waitFor(t, ctx, "node-b to take over", func() bool { return f.endedCount() == 40 && f.backlog(t) == 0 })
	stopRelay(t, b)
	if b.published.Load() == 0 {
		t.Fatal("node-b published nothing after node-a stopped")
	}
	checkExactlyOnce(t, tg.connect(t), tg.prefix, f.history(t))
}

func TestCollector(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	tg := embeddedTarget(t)
	f := newFlow(t)
	r := newTestRelay(t, f, tg.connect(t), tg.prefix, "node-a")
	f.start(5)
	waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == 5 })
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(r)); err != nil {
		t.Fatal(err)
	}
	metrics := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			m := mf.GetMetric()[0]
			switch {
			case m.Gauge != nil:
				out[mf.GetName()] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[mf.GetName()] = m.Counter.GetValue()
			case m.Histogram != nil:
				out[mf.GetName()] = float64(m.Histogram.GetSampleCount())
			}
		}
		return out
	}
	before := metrics()
	if before["cockpit_outbox_backlog"] == 0 || before["cockpit_outbox_oldest_age_seconds"] <= 0 {
		t.Errorf("before the relay ran: %v", before)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the outbox to empty", func() bool { return f.backlog(t) == 0 })
	after := metrics()
	stopRelay(t, r)
	for _, name := range []string{"cockpit_events_published_total", "cockpit_event_publish_lag_seconds", "cockpit_outbox_relay_leader"} {
		if after[name] == 0 {
			t.Errorf("%s is 0 after publishing: %v", name, after)
		}
	}
	if after["cockpit_outbox_backlog"] != 0 {
		t.Errorf("backlog %v after publishing", after["cockpit_outbox_backlog"])
	}
	for _, name := range []string{"cockpit_outbox_parked", "cockpit_events_parked_total"} {
		if v, ok := after[name]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", name, v, ok)
		}
	}
}

func TestConnectGivesUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Connect(ctx, ConnectOptions{URL: "nats://user:secret@127.0.0.1:1", ReconnectWait: 50 * time.Millisecond, Logger: quietLog()})
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err %v", err)
	}
	if _, err := Connect(context.Background(), ConnectOptions{URL: "nats://127.0.0.1:1", TLSCert: "c.pem"}); err == nil {
		t.Fatal("a TLS certificate without a key was accepted")
	}
}

func TestEmbeddedInProcess(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 30*time.Second)
	srv, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop(context.Background()) }()
	if srv.ClientURL() != "" || srv.Port() != 0 {
		t.Fatalf("a server without listener reports %q, port %d", srv.ClientURL(), srv.Port())
	}
	nc, err := srv.Connect(ctx, "in-process")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.FlushWithContext(ctx); err != nil {
		t.Fatal(err)
	}
}

// An event larger than the server's max_payload (written before the engine bounded
// events, or on a server configured below the default) never stops the stream: the
// relay sets it aside (recorded, counted, logged), publishes a placeholder with its id
// in its place, and every event behind it, of its instance too, is published in order.
func TestRelaySetsAsideEventsTooLargeToPublish(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		ctx := deadline(t, 60*time.Second)
		f := newFlow(t)
		nc := tg.connect(t)
		limit := nc.MaxPayload()
		// Hostile shapes: plain bytes over the limit, JSON that escaping grows sixfold past
		// it, and an incident event (two messages) over it.
		plain, _ := json.Marshal(map[string]string{"v": strings.Repeat("x", int(limit))})
		escaped, _ := json.Marshal(map[string]string{"v": strings.Repeat("<", int(limit)/6+1)})
		mk := func(seq int64, typ event.Type, data []byte) *store.Event {
			return &store.Event{ID: fmt.Sprintf("big-%d", seq), InstanceID: "big", InstanceSeq: seq, DefinitionID: flowKey + ":1",
				DefinitionKey: flowKey, Type: typ, Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Data: data}
		}
		evs := []*store.Event{
			mk(1, event.InstanceStarted, []byte(`{"businessKey":"big"}`)),
			mk(2, event.VariablesChanged, plain),
			mk(3, event.VariablesChanged, escaped),
			mk(4, event.IncidentOpened, plain),
			mk(5, event.InstanceCancelled, []byte(`{"reason":"done"}`)),
		}
		err := f.st.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{Events: evs}) })
		if err != nil {
			t.Fatal(err)
		}
		f.start(10) // events of other instances, before and after
		waitFor(t, ctx, "instances to end", func() bool { return f.endedCount() == 10 })

		r := newTestRelay(t, f, nc, tg.prefix, "node-a")
		f.setNotify(r.Notify)
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the outbox to empty", func() bool { return f.backlog(t) == 0 })
		stopRelay(t, r)

		history := f.history(t)
		checkExactlyOnce(t, nc, tg.prefix, history)
		omitted := map[string]string{}
		for _, m := range readStream(t, nc, EventsStream(tg.prefix)) {
			var data struct {
				Omitted *Omitted `json:"omitted"`
			}
			if err := json.Unmarshal(m.msg.Data, &data); err != nil {
				t.Fatal(err)
			}
			if data.Omitted != nil {
				omitted[m.msgID] = data.Omitted.Reason
			}
		}
		if len(omitted) != 3 || omitted["big-2"] == "" || omitted["big-3"] == "" || omitted["big-4"] == "" {
			t.Errorf("placeholders %v, want big-2, big-3 and big-4", omitted)
		}
		for id, reason := range omitted {
			if !strings.Contains(reason, "max_payload of "+strconv.FormatInt(limit, 10)) {
				t.Errorf("%s: reason %q does not name the server's limit %d", id, reason, limit)
			}
		}
		var parked []*store.ParkedEvent
		err = f.st.Read(ctx, func(tx store.Tx) error {
			var err error
			parked, err = tx.ListParked(ctx, 10)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) != 3 || parked[0].ID != "big-4" || !parked[0].Placeholder || parked[0].Bytes <= limit {
			t.Errorf("parked %+v", parked)
		}
		s, err := r.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Parked != 3 || s.ParkedTotal != 3 || s.Published != uint64(len(history)-3) {
			t.Errorf("stats %+v, want 3 parked and %d published", s, len(history)-3)
		}
		// The history keeps the events whole.
		for _, ev := range history {
			if ev.ID == "big-3" && string(ev.Data) != string(escaped) {
				t.Errorf("the history lost the parked event's data")
			}
		}
	})
}

// The engine's largest event, in its largest envelope (keys and ids at their limits, all
// escaped sixfold), fits the max_payload of the embedded server (NATS's default).
func TestLargestEventFitsMaxPayload(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 30*time.Second)
	tg := embeddedTarget(t)
	nc := tg.connect(t)
	data, _ := json.Marshal(map[string]string{"v": strings.Repeat("x", event.MaxDataBytes-10)})
	name := strings.Repeat("<", engine.MaxNameBytes)
	ev := &store.Event{ID: strings.Repeat("i", 36), Seq: 1 << 60, InstanceID: strings.Repeat("i", 36), InstanceSeq: 1 << 60,
		DefinitionID: name, DefinitionKey: name, Type: event.IncidentOpened, ElementID: name, ElementType: name,
		TokenID: strings.Repeat("t", 36), JobID: strings.Repeat("j", 36), IncidentID: strings.Repeat("x", 36),
		Time: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Data: data}
	msgs, err := eventMsgs(Subjects{Prefix: tg.prefix, Service: strings.Repeat("s", MaxServiceBytes)}, ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if n := payloadSize(m); n > event.MaxDataBytes+envelopeBytes || n > nc.MaxPayload() {
			t.Errorf("the largest event is %d bytes: more than %d + %d, or the server's max_payload %d",
				n, event.MaxDataBytes, envelopeBytes, nc.MaxPayload())
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, msgs[0]); err != nil {
		t.Errorf("publish the largest event: %v", err)
	}
}
