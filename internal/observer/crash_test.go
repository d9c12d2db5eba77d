package observer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// The crash test's observer process: its read model file, NATS server and prefix.
const (
	envChild     = "COCKPIT_OBSERVER_CHILD"
	envNATS      = "COCKPIT_OBSERVER_NATS"
	envPrefix    = "COCKPIT_OBSERVER_PREFIX"
	crashDurable = "crash-observer"
)

// runChild is an observer process: it folds the stream into the SQLite file envChild
// names until SIGTERM (or SIGKILL).
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(ctx, sqlite.Options{Path: os.Getenv(envChild)})
	if err != nil {
		log.Error("open read model", "err", err)
		return 1
	}
	defer st.Close()
	nc, err := bus.Connect(ctx, bus.ConnectOptions{URL: os.Getenv(envNATS), Name: "observer-child", Logger: log})
	if err != nil {
		log.Error("connect", "err", err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 1
	}
	prefix := os.Getenv(envPrefix)
	ob, err := observer.New(observer.Options{Store: st, Models: observer.BusModels(js, prefix), JS: js, Prefix: prefix,
		Durable: crashDurable, Batch: 16, Logger: log})
	if err != nil {
		log.Error("new observer", "err", err)
		return 1
	}
	if err := ob.Start(ctx); err != nil {
		log.Error("start observer", "err", err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ob.Stop(sctx); err != nil {
		log.Error("stop observer", "err", err)
		return 1
	}
	return 0
}

// TestObserverKilled: an observer process is SIGKILLed again and again while an engine
// publishes; restarted each time on its read model, it ends with every instance as the
// engine's store has it: nothing lost, nothing folded twice.
func TestObserverKilled(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	prefix := "crashobs"
	ns, nc, js := natsServer(t, prefix)
	src := openStore(t, "source.db")
	relay := startRelay(t, src, nc, prefix)
	e := sourceOn(t, src, func([]*store.Event) { relay.Notify() })
	models, err := bus.NewModelPublisher(bus.ModelPublisherOptions{Store: src, Conn: nc, Prefix: prefix, Service: "src", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := models.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = models.Stop(context.Background()) })

	readPath := filepath.Join(t.TempDir(), "read.db")
	var child *exec.Cmd
	t.Cleanup(func() {
		if child != nil && child.ProcessState == nil {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	start := func() {
		child = exec.Command(os.Args[0], "-test.run=^$")
		child.Env = append(os.Environ(), envChild+"="+readPath, envNATS+"="+ns.ClientURL(), envPrefix+"="+prefix)
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
	}
	delivered := func() uint64 {
		c, err := js.Consumer(ctx, bus.EventsStream(prefix), crashDurable)
		if err != nil {
			return 0
		}
		info, err := c.Info(ctx)
		if err != nil {
			return 0
		}
		return info.Delivered.Consumer
	}
	start()
	var ids []string
	for round := range 4 {
		for i := range 40 {
			in, err := e.StartInstance(ctx, "pay", engine.StartOptions{BusinessKey: fmt.Sprintf("K-%d-%d", round, i),
				Variables: map[string]any{"fail": i%7 == 0}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
		}
		// Killed while it folds: once it has been delivered something more.
		before := delivered()
		wait.For(t, "the observer folding", func() bool { return delivered() > before })
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = child.Wait()
		start()
	}
	// Every instance settled (at its review task or at its incident), everything
	// published, the observer caught up.
	for _, id := range ids {
		wait.For(t, "settled", func() bool {
			d, err := e.GetInstance(ctx, id)
			return err == nil && (len(d.UserTasks) == 1 || d.Instance.IncidentCount == 1)
		})
	}
	total := len(history(t, src))
	// A killed observer's fetched events come back after the consumer's ack wait.
	wait.Within(t, 90*time.Second, "the observer caught up", func() bool {
		c, err := js.Consumer(ctx, bus.EventsStream(prefix), crashDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(total)
	})
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("observer process: %v", err)
	}
	dst, err := sqlite.Open(ctx, sqlite.Options{Path: readPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dst.Close() })
	if got := len(history(t, dst)); got != total {
		t.Fatalf("the read model holds %d events, the source %d", got, total)
	}
	for _, id := range ids {
		if want, got := snapshot(t, src, id), snapshot(t, dst, id); want != got {
			t.Fatalf("instance %s differs:\nsource:\n%s\nread model:\n%s", id, want, got)
		}
	}
}
