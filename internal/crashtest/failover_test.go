package crashtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// arrivals records when event messages reach a plain subscriber: the moments the relay
// publishes (a republished duplicate arrives too; the stream keeps one).
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) since(t time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, _ := slices.BinarySearchFunc(a.at, t, func(x, t time.Time) int { return x.Compare(t) })
	return len(a.at) - i
}

// silence returns the longest pause between two arrivals that ends after t, and when the
// first arrival after t came.
func (a *arrivals) silence(t time.Time) (longest, first time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	first = -1
	for i := 1; i < len(a.at); i++ {
		if !a.at[i].After(t) {
			continue
		}
		if first < 0 {
			first = a.at[i].Sub(t)
		}
		longest = max(longest, a.at[i].Sub(a.at[i-1]))
	}
	return longest, first
}

// natsTarget starts an embedded NATS server that node processes reach over TCP, or uses
// COCKPIT_TEST_NATS_URL with a prefix of the test's own; the streams exist on return.
func natsTarget(t *testing.T) (url, prefix string) {
	ctx := t.Context()
	prefix = bus.DefaultPrefix
	if url = os.Getenv("COCKPIT_TEST_NATS_URL"); url != "" {
		prefix = "cockpitcrash_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	} else {
		srv, err := bus.StartEmbedded(ctx, bus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "nats")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop(context.Background()) })
		url = srv.ClientURL()
	}
	nc := connectNATS(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	if prefix != bus.DefaultPrefix {
		t.Cleanup(func() { _ = bus.DeleteStreams(context.Background(), js, prefix) })
	}
	return url, prefix
}

func connectNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := bus.Connect(t.Context(), bus.ConnectOptions{URL: url, Name: t.Name(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestRelayFailover runs two nodes with the outbox relay at its defaults while instances
// start steadily, SIGKILLs the node that holds the relay's lease, and measures how long
// events pause until the other node's relay takes the lease over. The pause is reported,
// not asserted (it depends on the lease's TTL and on where in its renewal rhythm the
// holder died); asserted are that events resume, and that every event reaches the stream
// exactly once, in order per instance.
func TestRelayFailover(t *testing.T) {
	h := newHarness(t, 0)
	url, prefix := natsTarget(t)
	c := &cluster{t: t, url: h.url, schema: h.schema, nodes: map[int]*exec.Cmd{}, names: map[int]string{}, killed: map[string]bool{}}
	env := []string{envNATS + "=" + url, envPrefix + "=" + prefix}
	defer c.stopAll()

	var seen arrivals
	sub, err := connectNATS(t, url).Subscribe(prefix+".events.>", func(*nats.Msg) {
		seen.mu.Lock()
		seen.at = append(seen.at, time.Now())
		seen.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	holder := func() string {
		var owner string
		_ = h.db.QueryRow(h.ctx, h.q(`SELECT owner FROM $S.leases WHERE name = $1`), bus.LeaseName).Scan(&owner)
		return owner
	}
	first := c.start(0, env...)
	wait.Within(t, time.Minute, "the first node's relay to take the lease", func() bool { return holder() == first })
	c.start(1, env...)

	// Instances start every 5 ms from this process (its engine is not started: it runs
	// no job); the nodes run their jobs. Both write events all along.
	st, err := postgres.Open(h.ctx, postgres.Options{URL: h.url, Schema: h.schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	stop := make(chan struct{})
	produced := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		defer func() { produced <- n }()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := e.StartInstance(h.ctx, bench.ProcessKey, engine.StartOptions{BusinessKey: fmt.Sprint(n)}); err != nil {
				t.Errorf("start instance: %v", err)
				return
			}
			n++
		}
	}()

	wait.Within(t, time.Minute, "events to flow", func() bool { return seen.since(time.Time{}) > 500 })
	killedAt := time.Now()
	victim := c.kill(0)
	t.Logf("SIGKILLed %s, the holder of the relay's lease", victim)
	wait.Within(t, time.Minute, "events to resume", func() bool { return seen.since(killedAt.Add(100*time.Millisecond)) > 500 })
	longest, firstAfter := seen.silence(killedAt)
	t.Logf("fail-over after SIGKILL: the first event after the kill arrived %v after it; the longest pause in events was %v (lease TTL %v)",
		firstAfter.Round(time.Millisecond), longest.Round(time.Millisecond), leadership.DefaultTTL)
	survivor := holder()
	if survivor == victim {
		t.Errorf("the lease still names the killed node %s", victim)
	}

	// A graceful stop releases the lease: a standby (the killed node's replacement, once
	// its engine runs jobs) takes it at its next try.
	standby := c.start(0, env...)
	wait.Within(t, time.Minute, "the new node to run jobs", func() bool {
		return h.count(`SELECT count(*) FROM $S.crash_runs WHERE node = $1`, standby) > 0
	})
	stoppedAt := time.Now()
	c.stop(1)
	wait.Within(t, time.Minute, "events to resume after the stop", func() bool { return holder() == standby && seen.since(time.Now().Add(-time.Second)) > 100 })
	longest, firstAfter = seen.silence(stoppedAt)
	t.Logf("hand-over after a graceful stop of %s: the longest pause in events was %v (the stopping relay drains first; first event after the stop request %v)",
		survivor, longest.Round(time.Millisecond), firstAfter.Round(time.Millisecond))
	close(stop)
	n := <-produced

	// Let the survivor finish every instance and empty the outbox, then stop it.
	wait.Within(t, 2*time.Minute, "every instance to complete and be published", func() bool {
		return h.count(`SELECT count(*) FROM $S.instances WHERE state <> 'completed'`) == 0 &&
			h.count(`SELECT count(*) FROM $S.events WHERE seq > coalesce((SELECT max(seq) FROM $S.outbox_cursor), 0)`) == 0
	})
	c.stopAll()
	if got := h.count(`SELECT count(*) FROM $S.instances`); got != n {
		t.Errorf("%d instances, %d started", got, n)
	}
	checkStream(t, h, url, prefix)
}

// checkStream reads the events stream back: every event of the store exactly once, and
// per instance in instanceSeq order.
func checkStream(t *testing.T, h *harness, url, prefix string) {
	t.Helper()
	ctx := h.ctx
	js, err := jetstream.New(connectNATS(t, url))
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, bus.EventsStream(prefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	next := map[string]int64{} // instance → the instanceSeq expected next
	disorder := 0
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("read the stream: %v", err)
		}
		ev, err := bus.DecodeMessage(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		ids[ev.ID]++
		if ev.InstanceID == "" {
			continue
		}
		if want := next[ev.InstanceID] + 1; ev.InstanceSeq != want {
			disorder++
		}
		next[ev.InstanceID] = ev.InstanceSeq
	}
	rows, err := h.db.Query(ctx, h.q(`SELECT id FROM $S.events`))
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, id := range stored {
		if ids[id] == 0 {
			lost++
		}
	}
	dups := 0
	for _, k := range ids {
		dups += k - 1
	}
	if lost != 0 || dups != 0 || len(ids) != len(stored) || disorder != 0 {
		t.Errorf("stream: %d messages for %d stored events: %d lost, %d duplicated, %d not stored, %d out of order per instance",
			info.State.Msgs, len(stored), lost, dups, len(ids)-(len(stored)-lost), disorder)
	}
	t.Logf("stream: %d events, each once, in order per instance", len(stored))
}
