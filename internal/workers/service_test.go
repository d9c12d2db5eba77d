package workers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/workers"
	"github.com/cockpit-engine/cockpit/internal/workers/wire"
	"github.com/cockpit-engine/cockpit/internal/workers/workerstest"
)

// rig is the engine and worker service (workerstest) with a plain NATS connection for
// the worker: the test speaks the documented protocol as raw JSON, as a worker in
// another language would.
type rig struct {
	t   *testing.T
	e   *engine.Engine
	nc  *nats.Conn
	svc *workers.Service
}

func newRig(t *testing.T) *rig {
	t.Helper()
	// A fake clock that never moves: the engine's once-a-second re-look never fires, so a
	// waiting activation is answered only by the wake-up a commit sends.
	w := workerstest.New(t, workerstest.Options{Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))})
	xml, err := os.ReadFile("../engine/testdata/service.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Engine.Deploy(context.Background(), "service.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, e: w.Engine, nc: w.Conn, svc: w.Service}
}

// call sends one request and decodes the reply.
func (r *rig) call(verb, body string, timeout time.Duration) map[string]any {
	r.t.Helper()
	msg, err := r.nc.Request(wire.Subject("cockpit", verb), []byte(body), timeout)
	if err != nil {
		r.t.Fatalf("%s: %v", verb, err)
	}
	var out map[string]any
	if err := json.Unmarshal(msg.Data, &out); err != nil {
		r.t.Fatalf("%s reply %s: %v", verb, msg.Data, err)
	}
	return out
}

func (r *rig) start(amount int) *store.Instance {
	r.t.Helper()
	in, err := r.e.StartInstance(context.Background(), "service", engine.StartOptions{Variables: map[string]any{"amount": amount}})
	if err != nil {
		r.t.Fatal(err)
	}
	return in
}

func (r *rig) waitState(id, state string) {
	r.t.Helper()
	wait.For(r.t, "instance "+state, func() bool {
		d, err := r.e.GetInstance(context.Background(), id)
		return err == nil && d.Instance.State == state
	})
}

func job(t *testing.T, reply map[string]any) map[string]any {
	t.Helper()
	jobs, _ := reply["jobs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("reply %v: want one job", reply)
	}
	return jobs[0].(map[string]any)
}

func outcome(j map[string]any, worker, extra string) string {
	b, _ := json.Marshal(map[string]any{"worker": worker, "key": j["key"], "instanceId": j["instanceId"], "attempt": j["attempt"],
		"deadline": j["deadline"]})
	if extra == "" {
		return string(b)
	}
	return strings.TrimSuffix(string(b), "}") + "," + extra + "}"
}

// TestWorkerOverNATS: a worker that speaks only the documented JSON takes a job, and its
// completion moves the instance on; a repeat is answered as a duplicate, an outcome from
// a worker that does not hold the lock as lock_lost.
func TestWorkerOverNATS(t *testing.T) {
	r := newRig(t)
	in := r.start(4)
	j := job(t, r.call(wire.VerbActivate, `{"worker":"py-1","types":["work"],"maxJobs":5,"lockMs":60000}`, 5*time.Second))
	if j["instanceId"] != in.ID || j["processKey"] != "service" || j["attempt"] != float64(1) {
		t.Fatalf("job %v", j)
	}
	if v, _ := j["variables"].(map[string]any); v["amount"] != float64(4) {
		t.Fatalf("variables %v", j["variables"])
	}
	if rep := r.call(wire.VerbComplete, outcome(j, "other", ""), 5*time.Second); rep["error"].(map[string]any)["code"] != wire.CodeLockLost {
		t.Fatalf("complete by another worker: %v", rep)
	}
	if rep := r.call(wire.VerbComplete, outcome(j, "py-1", `"variables":{"paid":true}`), 5*time.Second); rep["ok"] != true {
		t.Fatalf("complete: %v", rep)
	}
	r.waitState(in.ID, store.InstanceCompleted)
	if rep := r.call(wire.VerbComplete, outcome(j, "py-1", `"variables":{"paid":true}`), 5*time.Second); rep["duplicate"] != true {
		t.Fatalf("repeated complete: %v", rep)
	}
}

// TestWorkerLongPollOverNATS: an activation that waits is answered as soon as a job is
// committed, while other requests are served meanwhile.
func TestWorkerLongPollOverNATS(t *testing.T) {
	r := newRig(t)
	replies := make(chan *nats.Msg, 1)
	sub, err := r.nc.ChanSubscribe(nats.NewInbox(), replies)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.PublishRequest(wire.Subject("cockpit", wire.VerbActivate), sub.Subject,
		[]byte(`{"worker":"sh-1","types":["work"],"maxJobs":1,"lockMs":60000,"waitMs":30000}`)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the activation to wait", func() bool { ws, _ := r.e.Workers(context.Background()); return len(ws) == 1 })
	// Another request is answered while the activation waits.
	if rep := r.call(wire.VerbActivate, `{"worker":"sh-2","types":["other"],"maxJobs":1,"lockMs":60000}`, 5*time.Second); rep["jobs"] == nil {
		t.Fatalf("second activation: %v", rep)
	}
	in := r.start(1)
	select {
	case msg := <-replies:
		var rep map[string]any
		if err := json.Unmarshal(msg.Data, &rep); err != nil {
			t.Fatal(err)
		}
		if j := job(t, rep); j["instanceId"] != in.ID {
			t.Fatalf("long poll got %v", j)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting activation was not answered after a job was committed")
	}
}

// TestStopAnswersWaitingActivations: Stop does not leave a worker waiting out its long
// poll: the activation is answered with no jobs.
func TestStopAnswersWaitingActivations(t *testing.T) {
	r := newRig(t)
	replies := make(chan *nats.Msg, 1)
	sub, err := r.nc.ChanSubscribe(nats.NewInbox(), replies)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.nc.PublishRequest(wire.Subject("cockpit", wire.VerbActivate), sub.Subject,
		[]byte(`{"worker":"w","types":["work"],"maxJobs":1,"lockMs":60000,"waitMs":60000}`)); err != nil {
		t.Fatal(err)
	}
	wait.For(t, "the activation to wait", func() bool { ws, _ := r.e.Workers(context.Background()); return len(ws) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-replies:
		if string(msg.Data) != `{"jobs":[]}` {
			t.Fatalf("reply %s, want no jobs", msg.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a waiting activation was not answered at Stop")
	}
}

// TestWorkerRequestsAreChecked: malformed and out-of-bounds requests are refused with
// invalid_input naming the problem.
func TestWorkerRequestsAreChecked(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct{ verb, body, want string }{
		{wire.VerbActivate, `{"worker":"w","types":["work"],"maxJobs":1000,"lockMs":60000}`, "max jobs"},
		{wire.VerbActivate, `{"worker":"w","types":["work"],"maxJobs":1,"lockMs":60000,"extra":1}`, "unknown field"},
		{wire.VerbActivate, `{"worker":"w"`, "request"},
		{wire.VerbFail, `{"worker":"w","key":"k","instanceId":"i","attempt":1,"retries":-1}`, "retries"},
		{wire.VerbComplete, `{"worker":"w","key":"k","attempt":1,"deadline":"2026-01-01T00:01:00Z"}`, "instance id"},
		{wire.VerbComplete, `{"worker":"w","key":"k","instanceId":"i","attempt":1}`, "deadline"},
	} {
		rep := r.call(c.verb, c.body, 5*time.Second)
		e, _ := rep["error"].(map[string]any)
		if e["code"] != wire.CodeInvalidInput || !strings.Contains(e["message"].(string), c.want) {
			t.Errorf("%s %s: %v, want invalid_input naming %q", c.verb, c.body, rep, c.want)
		}
	}
}

// TestSightingsReachEveryNode: an activation is answered by one node of the queue group,
// and every node learns of the worker: its Workers lists it and its Serves counts the type.
func TestSightingsReachEveryNode(t *testing.T) {
	a := workerstest.New(t, workerstest.Options{})
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "b.db")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := workers.Start(context.Background(), workers.Options{Engine: b, Conn: nc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
		nc.Close()
		_ = b.Stop(ctx)
		_ = st.Close()
	})
	for i := range 4 { // several activations: the queue group spreads them over the nodes
		body := fmt.Sprintf(`{"worker":"w-%d","types":["work"],"maxJobs":1,"lockMs":60000}`, i)
		if _, err := a.Conn.Request(wire.Subject("cockpit", wire.VerbActivate), []byte(body), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for name, e := range map[string]*engine.Engine{"a": a.Engine, "b": b} {
		wait.For(t, "node "+name+" knows the four workers", func() bool {
			ws, err := e.Workers(context.Background())
			return err == nil && len(ws) == 4 && e.Serves("work")
		})
	}
}

// TestWorkerGetsTaskHeaders: a job's static task headers (zeebe:taskHeaders) travel in the
// activation reply as "headers"; a job of a task without any has none.
func TestWorkerGetsTaskHeaders(t *testing.T) {
	r := newRig(t)
	xml, err := os.ReadFile("../engine/testdata/zeebe_headers.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.Deploy(context.Background(), "zeebe_headers.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	if _, err := r.e.StartInstance(context.Background(), "zeebe_headers", engine.StartOptions{Variables: map[string]any{"amount": 1}}); err != nil {
		t.Fatal(err)
	}
	j := job(t, r.call(wire.VerbActivate, `{"worker":"py-1","types":["notify"],"maxJobs":5,"lockMs":60000}`, 5*time.Second))
	h, _ := j["headers"].(map[string]any)
	if h["method"] != "POST" || h["url"] != "https://hooks.example/orders" || len(h) != 2 {
		t.Fatalf("headers %v", j["headers"])
	}
	r.start(1)
	j = job(t, r.call(wire.VerbActivate, `{"worker":"py-1","types":["work"],"maxJobs":5,"lockMs":60000}`, 5*time.Second))
	if _, ok := j["headers"]; ok {
		t.Fatalf("a task without headers: %v", j["headers"])
	}
}
