package monitor_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stallEnv is a started engine on its own SQLite file with a fake clock and the "pay"
// process: start → charge (service, one attempt; fail=true makes an incident) → review
// (user task) → end.
type stallEnv struct {
	t     *testing.T
	ctx   context.Context
	e     *engine.Engine
	st    store.Store
	clock *clock.Fake
	def   *store.Definition
	src   *fakeThresholds
}

func newStallEnv(t *testing.T) *stallEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(t0)
	e, err := engine.New(engine.Options{Store: st, Clock: fc, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("card declined")
		}
		return nil, nil
	})
	defs, err := bpmn.Build("pay").Start("start").
		ServiceTask("charge", bpmn.JobType("charge"), bpmn.Retries(1)).
		UserTask("review").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	dep, err := e.DeployModel(ctx, "pay.bpmn", defs)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v := &stallEnv{t: t, ctx: ctx, e: e, st: st, clock: fc, src: &fakeThresholds{byDef: map[string]map[string]time.Duration{}}}
	v.def = dep.Processes[0].Definition
	return v
}

// start starts an instance and waits until it stands at review (or at charge with an
// incident when fail is set).
func (v *stallEnv) start(fail bool) *store.Instance {
	v.t.Helper()
	in, err := v.e.StartInstance(v.ctx, "pay", engine.StartOptions{Variables: map[string]any{"fail": fail}})
	if err != nil {
		v.t.Fatal(err)
	}
	want := "review"
	if fail {
		want = "charge"
	}
	v.waitFor("instance at "+want, func() bool {
		d, err := v.e.GetInstance(v.ctx, in.ID)
		if err != nil || len(d.Tokens) != 1 || d.Tokens[0].ElementID != want {
			return false
		}
		return !fail || len(d.Incidents) == 1
	})
	return in
}

func (v *stallEnv) waitFor(what string, cond func() bool) {
	v.t.Helper()
	wait.For(v.t, what, cond)
}

func (v *stallEnv) detector(o monitor.StallOptions) *monitor.StallDetector {
	v.t.Helper()
	o.Store, o.Clock = v.st, v.clock
	if o.Thresholds == nil {
		o.Thresholds = v.src
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := monitor.NewStallDetector(o)
	if err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() { _ = d.Stop(context.Background()) })
	return d
}

func (v *stallEnv) pass(d *monitor.StallDetector) monitor.PassResult {
	v.t.Helper()
	res, err := d.Pass(v.ctx)
	if err != nil {
		v.t.Fatalf("pass: %v", err)
	}
	return res
}

func (v *stallEnv) stalls(state string) []*store.Stall {
	v.t.Helper()
	var out []*store.Stall
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListStalls(v.ctx, store.StallFilter{State: state})
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

func (v *stallEnv) openTask(instanceID string) string {
	v.t.Helper()
	tasks, err := v.e.ListUserTasks(v.ctx, store.UserTaskFilter{InstanceID: instanceID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		v.t.Fatalf("open tasks of %s: %v %v", instanceID, tasks, err)
	}
	return tasks[0].ID
}

func (v *stallEnv) setThreshold(element string, d time.Duration) {
	v.t.Helper()
	err := v.st.Write(v.ctx, func(tx store.Tx) error {
		if d == 0 {
			return tx.DeleteStallThreshold(v.ctx, "pay", element)
		}
		return tx.PutStallThreshold(v.ctx, &store.StallThreshold{DefinitionKey: "pay", ElementID: element, Threshold: d,
			UpdatedAt: v.clock.Now(), UpdatedBy: "ann"})
	})
	if err != nil {
		v.t.Fatal(err)
	}
}

// fakeThresholds stands in for the metrics' p99 waiting times.
type fakeThresholds struct {
	mu    sync.Mutex
	byDef map[string]map[string]time.Duration
	since []time.Time
}

func (f *fakeThresholds) set(def, element string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byDef[def] == nil {
		f.byDef[def] = map[string]time.Duration{}
	}
	f.byDef[def][element] = d
}

func (f *fakeThresholds) Thresholds(_ context.Context, def string, since time.Time) (map[string]time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = append(f.since, since)
	out := map[string]time.Duration{}
	for k, v := range f.byDef[def] {
		out[k] = v
	}
	return out, nil
}

func ids(ss []*store.Stall) map[string]*store.Stall {
	out := map[string]*store.Stall{}
	for _, s := range ss {
		out[s.InstanceID] = s
	}
	return out
}

// TestStallDetectAndClear: tokens waiting longer than the element's p99 are flagged
// (not before), once; a stall clears when its token moves on or its instance is
// suspended; elements without data or setting are never checked.
func TestStallDetectAndClear(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", 10*time.Minute)
	a, b, c := v.start(false), v.start(false), v.start(false)
	d := v.detector(monitor.StallOptions{})

	v.clock.Advance(5 * time.Minute)
	if res := v.pass(d); !res.Leader || res.Opened != 0 {
		t.Fatalf("pass at 5m: %+v", res)
	}
	if got := v.src.since; len(got) != 1 || !got[0].Equal(v.clock.Now().Add(-monitor.DefaultStallWindow)) {
		t.Fatalf("thresholds asked since %v, want the last 7 days", got)
	}
	v.clock.Advance(6 * time.Minute)
	if res := v.pass(d); res.Opened != 3 || res.Cleared != 0 {
		t.Fatalf("pass at 11m: %+v", res)
	}
	open := ids(v.stalls(store.StallOpen))
	s := open[a.ID]
	if len(open) != 3 || s == nil || s.ElementID != "review" || s.Threshold != 10*time.Minute || s.Incident ||
		!s.DetectedAt.Equal(t0.Add(11*time.Minute)) || s.DefinitionKey != "pay" || s.DefinitionID != v.def.ID {
		t.Fatalf("open stalls: %+v", open)
	}
	if !s.Since.Equal(t0) {
		t.Fatalf("since %v, want the arrival %v", s.Since, t0)
	}
	if res := v.pass(d); res.Opened != 0 || res.Cleared != 0 {
		t.Fatalf("a second pass changed stalls: %+v", res)
	}

	// a moves on (and completes), b is suspended; c stays.
	if err := v.e.CompleteUserTask(v.ctx, v.openTask(a.ID), nil); err != nil {
		t.Fatal(err)
	}
	if err := v.e.SuspendInstance(v.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if res := v.pass(d); res.Opened != 0 || res.Cleared != 2 {
		t.Fatalf("pass after a moved on and b was suspended: %+v", res)
	}
	open = ids(v.stalls(store.StallOpen))
	if len(open) != 1 || open[c.ID] == nil {
		t.Fatalf("open stalls after clearing: %+v", open)
	}
	cleared := ids(v.stalls(store.StallCleared))
	if len(cleared) != 2 || cleared[a.ID] == nil || !cleared[a.ID].ClearedAt.Equal(v.clock.Now()) {
		t.Fatalf("cleared stalls: %+v", cleared)
	}

	// Without data and without a setting, nothing is checked: a year changes nothing new.
	v.src.set(v.def.ID, "review", 0)
	v.clock.Advance(365 * 24 * time.Hour)
	if res := v.pass(d); res.Opened != 0 || res.Cleared != 1 {
		t.Fatalf("pass without thresholds: %+v (c's stall clears: its element is no longer checked)", res)
	}
}

// TestStallWithIncident: a token with an open incident stalls like any other, and the
// stall says it has one.
func TestStallWithIncident(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "charge", 2*time.Minute)
	in := v.start(true)
	d := v.detector(monitor.StallOptions{})
	v.clock.Advance(3 * time.Minute)
	if res := v.pass(d); res.Opened != 1 {
		t.Fatalf("pass: %+v", res)
	}
	s := v.stalls(store.StallOpen)[0]
	if s.InstanceID != in.ID || s.ElementID != "charge" || !s.Incident {
		t.Fatalf("stall %+v", s)
	}
}

// TestStallOperatorThreshold: an operator's threshold wins over the p99 (in both
// directions) and is not floored; raising it above the wait clears the stall.
func TestStallOperatorThreshold(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", time.Hour)
	v.start(false)
	d := v.detector(monitor.StallOptions{Min: 10 * time.Minute})
	v.setThreshold("review", 5*time.Minute)
	th, err := d.EffectiveThresholds(v.ctx, v.def.ID)
	if err != nil || th["review"] != 5*time.Minute {
		t.Fatalf("effective thresholds %v %v", th, err)
	}
	v.clock.Advance(6 * time.Minute)
	if res := v.pass(d); res.Opened != 1 {
		t.Fatalf("pass with the operator's 5m: %+v", res)
	}
	if s := v.stalls(store.StallOpen)[0]; s.Threshold != 5*time.Minute {
		t.Fatalf("stall threshold %v, want the operator's 5m", s.Threshold)
	}
	v.setThreshold("review", 2*time.Hour)
	if res := v.pass(d); res.Cleared != 1 {
		t.Fatalf("pass after raising the threshold: %+v", res)
	}
	// Removing it falls back to the p99.
	v.setThreshold("review", 0)
	v.clock.Advance(time.Hour)
	if res := v.pass(d); res.Opened != 1 {
		t.Fatalf("pass back on the p99: %+v", res)
	}
	if s := v.stalls(store.StallOpen)[0]; s.Threshold != time.Hour {
		t.Fatalf("stall threshold %v, want the p99 1h", s.Threshold)
	}
}

// TestStallFloor: a learnt threshold below the floor is raised to it.
func TestStallFloor(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", 10*time.Second)
	v.start(false)
	d := v.detector(monitor.StallOptions{}) // floor: 1m
	v.clock.Advance(30 * time.Second)
	if res := v.pass(d); res.Opened != 0 {
		t.Fatalf("flagged after 30s although the floor is 1m: %+v", res)
	}
	v.clock.Advance(31 * time.Second)
	if res := v.pass(d); res.Opened != 1 {
		t.Fatalf("pass at 61s: %+v", res)
	}
	if s := v.stalls(store.StallOpen)[0]; s.Threshold != monitor.DefaultStallMin {
		t.Fatalf("threshold %v, want the floor", s.Threshold)
	}
}

// TestStallLease: one detector per store works; the other takes over once the first
// stops (it releases the lease) and, after a crash, once the lease expired.
func TestStallLease(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", time.Minute)
	v.start(false)
	a := v.detector(monitor.StallOptions{Owner: "node-a", Interval: time.Second})
	b := v.detector(monitor.StallOptions{Owner: "node-b", Interval: time.Second})
	c := v.detector(monitor.StallOptions{Owner: "node-c", Interval: time.Second})
	v.clock.Advance(2 * time.Minute)
	if res := v.pass(a); !res.Leader || res.Opened != 1 {
		t.Fatalf("a: %+v", res)
	}
	if res := v.pass(b); res.Leader || res.Opened != 0 {
		t.Fatalf("b while a holds the lease: %+v", res)
	}
	if err := a.Start(v.ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(v.ctx); err != nil {
		t.Fatal(err)
	}
	if res := v.pass(b); !res.Leader {
		t.Fatalf("b after a stopped: %+v", res)
	}
	// b "crashes" (never releases): c waits for the lease to expire (its TTL, 5s).
	if res := v.pass(c); res.Leader {
		t.Fatalf("c while b holds the lease: %+v", res)
	}
	v.clock.Advance(6 * time.Second)
	if res := v.pass(c); !res.Leader {
		t.Fatalf("c after b's lease expired: %+v", res)
	}
	if n := len(v.stalls("")); n != 1 {
		t.Fatalf("%d stalls, want 1 whatever node looked", n)
	}
}

// TestStallLoop: a started detector passes every interval on its clock and stops cleanly.
func TestStallLoop(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", time.Minute)
	v.start(false)
	d := v.detector(monitor.StallOptions{Interval: 30 * time.Second})
	if err := d.Start(v.ctx); err != nil {
		t.Fatal(err)
	}
	// The first pass runs at once and finds nothing; each advance fires the next.
	v.waitFor("a stall after two minutes", func() bool {
		v.clock.Advance(10 * time.Second)
		return len(v.stalls(store.StallOpen)) == 1
	})
	if !v.clock.Now().After(t0.Add(time.Minute)) {
		t.Fatalf("flagged at %v, before the threshold", v.clock.Now())
	}
	if err := d.Stop(v.ctx); err != nil {
		t.Fatal(err)
	}
}

// recorder is a publisher that fails while down is set.
type recorder struct {
	mu   sync.Mutex
	down bool
	sent []string // stall id + " " + type
}

func (r *recorder) PublishStall(_ context.Context, s *store.Stall, typ event.Type) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return errors.New("nats: no responders available for request")
	}
	r.sent = append(r.sent, s.InstanceID+" "+string(typ))
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

// TestStallPublication: every opened and cleared stall is published once; while the
// publisher fails nothing is lost, and a stall opened and cleared in that time gets both
// notices, in order, when it is back.
func TestStallPublication(t *testing.T) {
	t.Parallel()
	v := newStallEnv(t)
	v.src.set(v.def.ID, "review", time.Minute)
	pub := &recorder{}
	a := v.start(false)
	d := v.detector(monitor.StallOptions{Publisher: pub})
	v.clock.Advance(2 * time.Minute)
	if res := v.pass(d); res.Opened != 1 || res.Published != 1 || res.Unpublished {
		t.Fatalf("pass: %+v", res)
	}
	if got := pub.take(); len(got) != 1 || got[0] != a.ID+" "+string(event.StallDetected) {
		t.Fatalf("sent %v", got)
	}
	if res := v.pass(d); res.Published != 0 {
		t.Fatalf("a second pass published again: %+v", res)
	}

	pub.down = true
	b := v.start(false) // arrives now: stalls at +1m
	v.clock.Advance(2 * time.Minute)
	if res := v.pass(d); res.Opened != 1 || !res.Unpublished {
		t.Fatalf("pass while NATS is down: %+v", res)
	}
	for _, in := range []*store.Instance{a, b} {
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(in.ID), nil); err != nil {
			t.Fatal(err)
		}
	}
	if res := v.pass(d); res.Cleared != 2 || !res.Unpublished {
		t.Fatalf("pass while NATS is still down: %+v", res)
	}
	pub.down = false
	if res := v.pass(d); res.Published != 3 || res.Unpublished {
		t.Fatalf("pass when NATS is back: %+v", res)
	}
	got := pub.take()
	want := map[string]bool{a.ID + " " + string(event.StallCleared): true, b.ID + " " + string(event.StallDetected): true,
		b.ID + " " + string(event.StallCleared): true}
	if len(got) != 3 {
		t.Fatalf("sent %v", got)
	}
	bDetected := -1
	for i, s := range got {
		if !want[s] {
			t.Fatalf("sent %v", got)
		}
		if s == b.ID+" "+string(event.StallDetected) {
			bDetected = i
		}
		if s == b.ID+" "+string(event.StallCleared) && i < bDetected {
			t.Fatalf("b's clearing went before its detection: %v", got)
		}
	}
	if res := v.pass(d); res.Published != 0 {
		t.Fatalf("published again: %+v", res)
	}
}
