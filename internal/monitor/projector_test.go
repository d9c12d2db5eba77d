package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// metricsFlow forks into two user tasks, joins, and routes on amount: above 100 to
// "big", below 50 to "small", anything else is an incident (no matching flow).
const metricsFlow = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="https://cockpit.dev/test">
  <bpmn:process id="metrics" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork" />
    <bpmn:parallelGateway id="fork" />
    <bpmn:sequenceFlow id="fa" sourceRef="fork" targetRef="a" />
    <bpmn:sequenceFlow id="fb" sourceRef="fork" targetRef="b" />
    <bpmn:userTask id="a" />
    <bpmn:userTask id="b" />
    <bpmn:sequenceFlow id="ja" sourceRef="a" targetRef="join" />
    <bpmn:sequenceFlow id="jb" sourceRef="b" targetRef="join" />
    <bpmn:parallelGateway id="join" />
    <bpmn:sequenceFlow id="f2" sourceRef="join" targetRef="check" />
    <bpmn:exclusiveGateway id="check" />
    <bpmn:sequenceFlow id="big" sourceRef="check" targetRef="endBig"><bpmn:conditionExpression>=amount &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="check" targetRef="endSmall"><bpmn:conditionExpression>=amount &lt; 50</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:endEvent id="endBig" />
    <bpmn:endEvent id="endSmall" />
  </bpmn:process>
</bpmn:definitions>`

// mt0 is the fake clock's start: a fixed instant, so that what a test's ranges hold does
// not depend on the hour it runs at. Everything that dates rows (the engine, the monitor,
// the projectors) reads the fake clock; a projector whose loop runs in real time reads it
// through fakeNow.
var mt0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// fakeNow tells the time of a fake clock and waits in real time: for a projector whose
// loop (debounce, poll) must run by itself while its rows, retention and lease are dated
// by the engine's fake clock.
type fakeNow struct{ *clock.Fake }

func (fakeNow) After(d time.Duration) <-chan time.Time { return time.After(d) }

type metricsStore struct {
	name string
	open func(t *testing.T) store.Store
}

// metricsStores are the stores the tests run on: SQLite, and PostgreSQL when
// COCKPIT_TEST_DATABASE_URL is set (a schema per test, dropped at its end).
func metricsStores() []metricsStore {
	kinds := []metricsStore{{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}}}
	if url := pgtest.URL(); url != "" {
		kinds = append(kinds, metricsStore{"postgres", func(t *testing.T) store.Store {
			st := pgtest.Open(t, postgres.Options{URL: url})
			return st
		}})
	}
	return kinds
}

// metricsEnv is an engine on a store with a fake clock, and a projector on it.
type metricsEnv struct {
	t     *testing.T
	st    store.Store
	e     *engine.Engine
	clock *clock.Fake
	mon   *monitor.Monitor
	ctx   context.Context
	// stops are instants (in order) the drive must not step over: it stops the clock at
	// each and starts an instance there.
	stops []time.Time
}

func newMetricsEnv(t *testing.T, open func(t *testing.T) store.Store, onCommit func([]*store.Event)) *metricsEnv {
	t.Helper()
	return newMetricsEnvAt(t, open, onCommit, mt0)
}

// newMetricsEnvAt is newMetricsEnv with the fake clock starting at start.
func newMetricsEnvAt(t *testing.T, open func(t *testing.T) store.Store, onCommit func([]*store.Event), start time.Time) *metricsEnv {
	t.Helper()
	st := open(t)
	fc := clock.NewFake(start)
	e, err := engine.New(engine.Options{Store: st, Clock: fc, Logger: slog.New(slog.DiscardHandler), OnCommit: onCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	if _, err := e.Deploy(context.Background(), "metrics.bpmn", []byte(metricsFlow)); err != nil {
		t.Fatal(err)
	}
	mon, err := monitor.New(monitor.Options{Store: st, Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	return &metricsEnv{t: t, st: st, e: e, clock: fc, mon: mon, ctx: context.Background()}
}

// drive runs n instances with random stays (seconds to hours) on the fake clock: some
// complete, some are cancelled, some stop at an incident.
func (v *metricsEnv) drive(n int, seed uint64) {
	v.t.Helper()
	v.driveFor(n, seed, time.Hour)
}

// driveFor is drive with the clock's steps log-uniform from a millisecond to longest.
func (v *metricsEnv) driveFor(n int, seed uint64, longest time.Duration) {
	v.t.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 7))
	type live struct {
		id   string
		left []string
	}
	var open []*live
	stopped := false // the clock stands at a stop: start an instance there
	for i := 0; i < n || len(open) > 0; {
		if stopped || i < n && (len(open) == 0 || rng.IntN(3) == 0) {
			amount := []float64{10, 75, 500}[rng.IntN(3)]
			in, err := v.e.StartInstance(v.ctx, "metrics", engine.StartOptions{Variables: map[string]any{"amount": amount}})
			if err != nil {
				v.t.Fatal(err)
			}
			open = append(open, &live{id: in.ID, left: []string{"a", "b"}})
			if !stopped {
				i++
			}
			stopped = false
		} else {
			k := rng.IntN(len(open))
			l := open[k]
			if rng.IntN(12) == 0 {
				if err := v.e.CancelInstance(v.ctx, l.id, "test"); err != nil {
					v.t.Fatal(err)
				}
				open = slices.Delete(open, k, k+1)
			} else {
				j := rng.IntN(len(l.left))
				d, err := v.e.GetInstance(v.ctx, l.id)
				if err != nil {
					v.t.Fatal(err)
				}
				for _, task := range d.UserTasks {
					if task.ElementID == l.left[j] && task.State == store.TaskOpen {
						if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
							v.t.Fatal(err)
						}
					}
				}
				l.left = slices.Delete(l.left, j, j+1)
				if len(l.left) == 0 {
					open = slices.Delete(open, k, k+1)
				}
			}
		}
		// Log-uniform steps from a millisecond to longest, none over a stop.
		next := v.clock.Now().Add(time.Duration(math.Exp(rng.Float64()*math.Log(float64(longest.Milliseconds())))) * time.Millisecond)
		if len(v.stops) > 0 && !next.Before(v.stops[0]) {
			next, v.stops, stopped = v.stops[0], v.stops[1:], true
		}
		v.clock.Set(next)
	}
}

// history reads every event.
func (v *metricsEnv) history() []*store.Event {
	v.t.Helper()
	var evs []*store.Event
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		var err error
		evs, err = tx.ListEvents(v.ctx, store.EventFilter{})
		return err
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return evs
}

func (v *metricsEnv) projector(batch int) *monitor.Projector {
	v.t.Helper()
	p, err := monitor.NewProjector(monitor.ProjectorOptions{Store: v.st, BatchSize: batch, Clock: v.clock,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		v.t.Fatal(err)
	}
	return p
}

// catchUp steps p until it folded everything, and returns how many events it folded.
func (v *metricsEnv) catchUp(p *monitor.Projector) int {
	v.t.Helper()
	total := 0
	for {
		n, err := p.Step(v.ctx)
		if err != nil {
			v.t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// allRows reads every rollup row of every step.
func (v *metricsEnv) allRows() []*store.Rollup {
	v.t.Helper()
	var out []*store.Rollup
	err := v.st.Read(v.ctx, func(tx store.Tx) error {
		for _, s := range []string{store.StepMinute, store.StepHour, store.StepDay} {
			rows, err := tx.ListRollups(v.ctx, store.RollupFilter{Step: s})
			if err != nil {
				return err
			}
			out = append(out, rows...)
		}
		return nil
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

func (v *metricsEnv) report(q monitor.Query) *monitor.Report {
	v.t.Helper()
	rep, err := v.mon.Report(v.ctx, q)
	if err != nil {
		v.t.Fatal(err)
	}
	return rep
}

// exact is what the history says, computed from the events themselves.
type exact struct {
	counts   monitor.Counts
	duration []int64
	elements map[string]*exactElement
	flows    map[string]int64
}

type exactElement struct {
	entered, left, cancelled, interrupted, incidents int64
	duration, waiting                                []int64
}

func exactFrom(t *testing.T, evs []*store.Event) *exact {
	x := &exact{elements: map[string]*exactElement{}, flows: map[string]int64{}}
	el := func(id string) *exactElement {
		if x.elements[id] == nil {
			x.elements[id] = &exactElement{}
		}
		return x.elements[id]
	}
	for _, ev := range evs {
		var d struct {
			DurationMs *int64 `json:"durationMs"`
			WaitMs     *int64 `json:"waitMs"`
			Flow       string `json:"flow"`
			Reason     string `json:"reason"`
		}
		if len(ev.Data) > 0 {
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				t.Fatal(err)
			}
		}
		switch ev.Type {
		case event.InstanceStarted:
			x.counts.Started++
		case event.InstanceCompleted:
			x.counts.Completed++
			x.duration = append(x.duration, *d.DurationMs)
		case event.InstanceCancelled:
			x.counts.Cancelled++
		case event.IncidentOpened:
			x.counts.Incidents++
			el(ev.ElementID).incidents++
		case event.ElementEntered:
			el(ev.ElementID).entered++
			if d.Flow != "" {
				x.flows[d.Flow]++
			}
		case event.ElementLeft:
			e := el(ev.ElementID)
			e.left++
			e.duration = append(e.duration, *d.DurationMs)
			if d.WaitMs != nil {
				e.waiting = append(e.waiting, *d.WaitMs)
			}
		case event.ElementCancelled:
			if d.Reason == event.ReasonInstanceCancelled {
				el(ev.ElementID).cancelled++
			} else {
				el(ev.ElementID).interrupted++
			}
		}
	}
	return x
}

func nearestRank(vals []int64, p float64) int64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func checkStats(t *testing.T, what string, got monitor.Stats, vals []int64) {
	t.Helper()
	if got.Count != int64(len(vals)) {
		t.Errorf("%s: count %d, want %d", what, got.Count, len(vals))
		return
	}
	if len(vals) == 0 {
		return
	}
	var sum int64
	for _, v := range vals {
		sum += v
	}
	if got.Sum != time.Duration(sum)*time.Millisecond || got.Max != time.Duration(slices.Max(vals))*time.Millisecond {
		t.Errorf("%s: sum %v max %v, want %d ms %d ms", what, got.Sum, got.Max, sum, slices.Max(vals))
	}
	for _, c := range []struct {
		p   float64
		got time.Duration
	}{{50, got.P50}, {95, got.P95}, {99, got.P99}} {
		want := float64(nearestRank(vals, c.p)) * float64(time.Millisecond)
		if math.Abs(float64(c.got)-want) > 0.0221*want+1 {
			t.Errorf("%s: p%v = %v, exact %v", what, c.p, c.got, time.Duration(want))
		}
	}
}

// checkReport compares a report over the whole history with the history itself.
func checkReport(t *testing.T, rep *monitor.Report, x *exact) {
	t.Helper()
	if rep.Total != x.counts {
		t.Errorf("totals %+v, want %+v", rep.Total, x.counts)
	}
	checkStats(t, "instance duration", rep.Duration, x.duration)
	var series monitor.Counts
	for _, p := range rep.Series {
		series.Started += p.Started
		series.Completed += p.Completed
		series.Cancelled += p.Cancelled
		series.Incidents += p.Incidents
	}
	if series != x.counts {
		t.Errorf("series adds up to %+v, want %+v", series, x.counts)
	}
	var ids []string
	for _, e := range rep.Elements {
		ids = append(ids, e.ElementID)
		w := x.elements[e.ElementID]
		if w == nil {
			t.Errorf("element %s not in history", e.ElementID)
			continue
		}
		if e.Entered != w.entered || e.Left != w.left || e.Cancelled != w.cancelled || e.Interrupted != w.interrupted || e.Incidents != w.incidents {
			t.Errorf("element %s: %d/%d/%d/%d/%d, want %d/%d/%d/%d/%d", e.ElementID, e.Entered, e.Left, e.Cancelled, e.Interrupted, e.Incidents,
				w.entered, w.left, w.cancelled, w.interrupted, w.incidents)
		}
		checkStats(t, e.ElementID+" duration", e.Duration, w.duration)
		checkStats(t, e.ElementID+" waiting", e.Waiting, w.waiting)
	}
	if len(ids) != len(x.elements) || !slices.IsSorted(ids) {
		t.Errorf("elements %v, want the %d of the history, sorted", ids, len(x.elements))
	}
	flows := map[string]int64{}
	for _, f := range rep.Flows {
		flows[f.FlowID] = f.Taken
	}
	if len(flows) != len(x.flows) {
		t.Errorf("flows %v, want %v", flows, x.flows)
	}
	for id, n := range x.flows {
		if flows[id] != n {
			t.Errorf("flow %s taken %d, want %d", id, flows[id], n)
		}
	}
}

// The rollups of the real engine's history are exact: counts equal the history's,
// percentiles are within the histogram's resolution, and the figures are the same at
// every step.
func TestProjectorMatchesHistory(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			v := newMetricsEnv(t, k.open, nil)
			v.drive(60, 1)
			folded := v.catchUp(v.projector(37))
			evs := v.history()
			if folded != len(evs) {
				t.Fatalf("folded %d events, history has %d", folded, len(evs))
			}
			x := exactFrom(t, evs)
			if x.counts.Incidents == 0 || x.counts.Cancelled == 0 || x.counts.Completed == 0 {
				t.Fatalf("the drive should complete, cancel and fail some: %+v", x.counts)
			}
			now := v.clock.Now()
			for _, step := range []monitor.Step{monitor.StepMinute, monitor.StepHour, monitor.StepDay} {
				rep := v.report(monitor.Query{DefinitionKey: "metrics", From: mt0, To: now.Add(time.Minute), Step: step})
				checkReport(t, rep, x)
				if rep.Lag != 0 || !slices.Equal(rep.Versions, []int{1}) {
					t.Errorf("%s: lag %v versions %v", step, rep.Lag, rep.Versions)
				}
			}
			rep := v.report(monitor.Query{DefinitionKey: "metrics", From: mt0, To: now.Add(time.Minute)})
			want := monitor.StepHour
			if now.Add(time.Minute).Sub(mt0) <= monitor.MaxPoints*time.Minute {
				want = monitor.StepMinute
			}
			if rep.Query.Step != want {
				t.Errorf("step %s for %v, want %s", rep.Query.Step, now.Sub(mt0), want)
			}
			if len(rep.Series) > monitor.MaxPoints {
				t.Errorf("%d points", len(rep.Series))
			}

			// The stall detector's thresholds: p99 of waiting where there is one.
			def := evs[0].DefinitionID
			th, err := v.mon.Thresholds(v.ctx, def, mt0)
			if err != nil {
				t.Fatal(err)
			}
			wantA := float64(nearestRank(x.elements["a"].waiting, 99)) * float64(time.Millisecond)
			if got := float64(th["a"]); math.Abs(got-wantA) > 0.0221*wantA+1 {
				t.Errorf("threshold of a %v, want about %v", th["a"], time.Duration(wantA))
			}
			if _, ok := th["check"]; !ok {
				t.Errorf("no threshold for the gateway (duration only): %v", th)
			}

			// New events lag until folded.
			v.clock.Advance(time.Second)
			if _, err := v.e.StartInstance(v.ctx, "metrics", engine.StartOptions{Variables: map[string]any{"amount": 10}}); err != nil {
				t.Fatal(err)
			}
			v.clock.Advance(3 * time.Second)
			if lag, err := v.mon.Lag(v.ctx); err != nil || lag != 3*time.Second {
				t.Errorf("lag %v %v, want 3s", lag, err)
			}
		})
	}
}

// A projector stopped mid-way and a new one started (a restart) fold every event once;
// a rebuild gives the same rows.
func TestProjectorRestartAndRebuild(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			v := newMetricsEnv(t, k.open, nil)
			v.drive(30, 2)
			first := v.projector(11)
			for range 3 {
				if _, err := first.Step(v.ctx); err != nil {
					t.Fatal(err)
				}
			}
			v.drive(20, 3)
			rest := v.catchUp(v.projector(50))
			if evs := v.history(); 33+rest != len(evs) {
				t.Fatalf("folded 33 + %d events, history has %d", rest, len(evs))
			}
			if n := v.catchUp(first); n != 0 {
				t.Fatalf("the first projector folded %d events again", n)
			}
			x := exactFrom(t, v.history())
			checkReport(t, v.report(monitor.Query{DefinitionKey: "metrics", From: mt0, To: v.clock.Now().Add(time.Hour), Step: monitor.StepHour}), x)
			before := v.allRows()
			res, err := v.mon.Rebuild(v.ctx, "test")
			if err != nil {
				t.Fatal(err)
			}
			if res.Delegated || res.Events != int64(len(v.history())) {
				t.Errorf("rebuild %+v, want %d events replayed here", res, len(v.history()))
			}
			if after := v.allRows(); !sameRows(before, after) {
				t.Errorf("rebuild changed the rows: %d rows before, %d after", len(before), len(after))
			}
		})
	}
}

func sameRows(a, b []*store.Rollup) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := *a[i], *b[i]
		x.Bucket, y.Bucket = x.Bucket.UTC(), y.Bucket.UTC()
		if x != y {
			return false
		}
	}
	return true
}

// Run projects on commits (debounced), holds the lease so a second projector does not
// fold, hands over when stopped, and a rebuild while it runs is replayed by it.
func TestProjectorRunAndLease(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			var current atomic.Pointer[monitor.Projector]
			v := newMetricsEnv(t, k.open, func(evs []*store.Event) {
				if p := current.Load(); p != nil {
					p.Observe(evs)
				}
			})
			// The projector waits in real time (debounce, poll) and dates by the engine's fake clock.
			// drive moves that clock by up to a day and a half: the lease outlasts it, or
			// it would lapse (in fake time) until the loop's next turn renews it, and a
			// rebuild in that gap would take it.
			p, err := monitor.NewProjector(monitor.ProjectorOptions{Store: v.st, Owner: "one", Debounce: 10 * time.Millisecond,
				Poll: 50 * time.Millisecond, Clock: fakeNow{v.clock}, LeaseTTL: 1000 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			current.Store(p)
			if err := p.Start(v.ctx); err != nil {
				t.Fatal(err)
			}
			v.drive(10, 4)
			caughtUp := func() bool {
				var st store.MetricsState
				_ = v.st.Read(v.ctx, func(tx store.Tx) error {
					var err error
					st, err = tx.MetricsState(v.ctx)
					return err
				})
				evs := v.history()
				return st.Cursor == evs[len(evs)-1].Seq
			}
			wait.For(t, "projector caught up", caughtUp)
			if s := p.Stats(); !s.Leader || s.Events != uint64(len(v.history())) || s.Observed == 0 {
				t.Errorf("stats %+v: want every event folded, some from Observe", s)
			}
			// A second node does not get the lease: Rebuild only resets, the running one replays.
			// The lease is dated by the same clock as the projector's.
			second, err := monitor.New(monitor.Options{Store: v.st, Clock: fakeNow{v.clock}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := second.Rebuild(v.ctx, "two")
			if err != nil || !res.Delegated {
				t.Fatalf("rebuild beside a running projector: %+v %v", res, err)
			}
			wait.For(t, "replayed by the running projector", caughtUp)
			checkReport(t, v.report(monitor.Query{DefinitionKey: "metrics", From: mt0, To: v.clock.Now().Add(time.Hour), Step: monitor.StepHour}),
				exactFrom(t, v.history()))

			// Prometheus: scrape the collector.
			reg := prometheus.NewRegistry()
			reg.MustRegister(monitor.NewCollector(monitor.CollectorOptions{Store: v.st, Executor: v.e.ExecutorStats, Projector: p, Clock: v.clock}))
			srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			x := exactFrom(t, v.history())
			running := x.counts.Started - x.counts.Completed - x.counts.Cancelled
			for _, want := range []string{
				`cockpit_process_instances_started_total{process="metrics"} ` + itoa(x.counts.Started),
				`cockpit_process_instances_completed_total{process="metrics"} ` + itoa(x.counts.Completed),
				`cockpit_process_instances_cancelled_total{process="metrics"} ` + itoa(x.counts.Cancelled),
				`cockpit_process_incidents_opened_total{process="metrics"} ` + itoa(x.counts.Incidents),
				`cockpit_process_instance_duration_seconds_count{process="metrics"} ` + itoa(x.counts.Completed),
				`cockpit_process_instance_duration_seconds_bucket{process="metrics",le="+Inf"} ` + itoa(x.counts.Completed),
				`cockpit_process_instances_running{process="metrics"} ` + itoa(running),
				`cockpit_incidents_open{process="metrics"} ` + itoa(x.counts.Incidents),
				`cockpit_metrics_projector_lag_seconds 0`,
				`cockpit_metrics_projector_leader 1`,
				`cockpit_executor_workers 64`,
				`cockpit_process_metrics_error 0`,
			} {
				if !strings.Contains(string(body), want+"\n") {
					t.Errorf("scrape lacks %q", want)
				}
			}

			if err := p.Stop(v.ctx); err != nil {
				t.Fatal(err)
			}
			if p.Stats().Leader {
				t.Error("still the leader after Stop")
			}
			// Stop gave the lease up: a rebuild now replays by itself.
			res, err = second.Rebuild(v.ctx, "two")
			if err != nil || res.Delegated || res.Events != int64(len(v.history())) {
				t.Errorf("rebuild after stop: %+v %v", res, err)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
