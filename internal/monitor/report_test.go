package monitor_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// fromRows is a report computed the plain way, from the rows of one step that tile the
// range: the reference the tiled Report must equal.
func fromRows(t *testing.T, rows []*store.Rollup, from, to time.Time, step time.Duration) *monitor.Report {
	t.Helper()
	n := int((to.Sub(from) + step - 1) / step)
	rep := &monitor.Report{Series: make([]monitor.Point, n)}
	points := make([]monitor.Histogram, n)
	for i := range rep.Series {
		rep.Series[i].Start = from.Add(time.Duration(i) * step)
	}
	var total monitor.Histogram
	type el struct {
		m         monitor.ElementMetrics
		dur, wait monitor.Histogram
	}
	elements := map[string]*el{}
	flows := map[string]int64{}
	decode := func(d store.HistogramData) *monitor.Histogram {
		h, err := monitor.DecodeHistogram(d)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for _, r := range rows {
		if r.Bucket.Before(from) || !r.Bucket.Before(to) {
			continue
		}
		switch r.Kind {
		case store.RollupInstance:
			c := monitor.Counts{Started: r.Started, Completed: r.Completed, Cancelled: r.Cancelled, Incidents: r.Incidents}
			i := int(r.Bucket.Sub(from) / step)
			for _, into := range []*monitor.Counts{&rep.Total, &rep.Series[i].Counts} {
				into.Started += c.Started
				into.Completed += c.Completed
				into.Cancelled += c.Cancelled
				into.Incidents += c.Incidents
			}
			h := decode(r.Duration)
			total.Merge(h)
			points[i].Merge(h)
		case store.RollupElement:
			e := elements[r.ElementID]
			if e == nil {
				e = &el{m: monitor.ElementMetrics{ElementID: r.ElementID}}
				elements[r.ElementID] = e
			}
			e.m.Entered += r.Entered
			e.m.Left += r.Left
			e.m.Cancelled += r.Cancelled
			e.m.Incidents += r.Incidents
			e.dur.Merge(decode(r.Duration))
			e.wait.Merge(decode(r.Waiting))
		case store.RollupFlow:
			flows[r.ElementID] += r.Taken
		}
	}
	for i := range points {
		rep.Series[i].Duration = points[i].Stats()
	}
	rep.Duration, rep.Distribution = total.Stats(), total.Buckets()
	for _, e := range elements {
		e.m.Duration, e.m.Waiting = e.dur.Stats(), e.wait.Stats()
		rep.Elements = append(rep.Elements, e.m)
	}
	slices.SortFunc(rep.Elements, func(a, b monitor.ElementMetrics) int { return strings.Compare(a.ElementID, b.ElementID) })
	for id, n := range flows {
		rep.Flows = append(rep.Flows, monitor.FlowMetrics{FlowID: id, Taken: n})
	}
	slices.SortFunc(rep.Flows, func(a, b monitor.FlowMetrics) int { return strings.Compare(a.FlowID, b.FlowID) })
	return rep
}

// sameFigures compares everything a report computes from rows.
func sameFigures(t *testing.T, what string, got, want *monitor.Report) {
	t.Helper()
	if got.Total != want.Total {
		t.Errorf("%s: totals %+v, want %+v", what, got.Total, want.Total)
	}
	if got.Duration != want.Duration || !reflect.DeepEqual(got.Distribution, want.Distribution) {
		t.Errorf("%s: duration %+v %v, want %+v %v", what, got.Duration, got.Distribution, want.Duration, want.Distribution)
	}
	if !reflect.DeepEqual(got.Elements, want.Elements) {
		t.Errorf("%s: elements\n%+v\nwant\n%+v", what, got.Elements, want.Elements)
	}
	if !reflect.DeepEqual(got.Flows, want.Flows) {
		t.Errorf("%s: flows %+v, want %+v", what, got.Flows, want.Flows)
	}
	if len(got.Series) != len(want.Series) {
		t.Fatalf("%s: %d points, want %d", what, len(got.Series), len(want.Series))
	}
	for i := range got.Series {
		if g, w := got.Series[i], want.Series[i]; !g.Start.Equal(w.Start) || g.Counts != w.Counts || g.Duration != w.Duration {
			t.Fatalf("%s: point %d %+v, want %+v", what, i, g, w)
		}
	}
}

// Report reads day rows for the whole days of a range and finer rows only at its ends:
// over several days of the real engine's history, with partial days, hours and minutes
// at both ends, its figures equal those summed from the finest rows, on every store.
// The history starts at fixed instants (the hour a test runs at must not decide what its
// ranges hold): mid-morning, just after and just before midnight, and across the end of a
// month.
func TestReportTilesMatchFinestRows(t *testing.T) {
	for _, start := range []time.Time{
		mt0,
		time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC),
		time.Date(2026, 3, 2, 23, 59, 0, 0, time.UTC),
		time.Date(2026, 2, 27, 23, 59, 0, 0, time.UTC), // day0 + 2 days is 1 March
	} {
		for _, k := range metricsStores() {
			t.Run(start.Format("2006-01-02T15:04")+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				reportTilesMatchFinestRows(t, k, start)
			})
		}
	}
}

func reportTilesMatchFinestRows(t *testing.T, k metricsStore, start time.Time) {
	v := newMetricsEnvAt(t, k.open, nil, start)
	day0 := start.Truncate(24 * time.Hour)
	cases := []struct {
		name     string
		from, to time.Time
		step     monitor.Step
	}{
		{"minutes, partial days and hours at both ends", day0.Add(29*time.Hour + 17*time.Minute), day0.Add(4*24*time.Hour + 20*time.Hour + 43*time.Minute), monitor.StepMinute},
		{"hours, partial days at both ends", day0.Add(29 * time.Hour), day0.Add(4*24*time.Hour + 21*time.Hour), monitor.StepHour},
		{"hours, whole days", day0.Add(24 * time.Hour), day0.Add(4 * 24 * time.Hour), monitor.StepHour},
		{"hours within one day", day0.Add(26 * time.Hour), day0.Add(47 * time.Hour), monitor.StepHour},
		{"minutes within one hour", day0.Add(30*time.Hour + 5*time.Minute), day0.Add(30*time.Hour + 50*time.Minute), monitor.StepMinute},
		{"minutes across midnight", day0.Add(47*time.Hour + 20*time.Minute), day0.Add(48*time.Hour + 10*time.Minute), monitor.StepMinute},
		{"days", day0, day0.Add(5 * 24 * time.Hour), monitor.StepDay},
	}
	// The random steps (up to 4 hours) may jump over a short range: the drive stops in
	// the middle of each range and starts an instance there, so every range holds data
	// wherever the history starts.
	for _, c := range cases {
		v.stops = append(v.stops, c.from.Add(c.to.Sub(c.from)/2))
	}
	slices.SortFunc(v.stops, time.Time.Compare)
	p := v.projector(100)
	// Folding after each round keeps the minute rows of every event (the fold skips
	// those past MinuteRetention), so the minute rows are the reference.
	for seed := uint64(10); v.clock.Now().Before(day0.Add(5 * 24 * time.Hour)); seed++ {
		v.driveFor(12, seed, 4*time.Hour)
		v.catchUp(p)
	}
	if len(v.stops) > 0 {
		t.Fatalf("the drive did not stop at %v", v.stops)
	}
	all := v.allRows()
	byStep := map[string][]*store.Rollup{}
	for _, r := range all {
		byStep[r.Step] = append(byStep[r.Step], r)
	}
	started := map[string]int64{}
	for _, r := range all {
		started[r.Step] += r.Started
	}
	if started[store.StepMinute] == 0 || started[store.StepMinute] != started[store.StepDay] || started[store.StepHour] != started[store.StepDay] {
		t.Fatalf("instances started by step %v: the minute rows should hold every event", started)
	}

	for _, c := range cases {
		w := map[monitor.Step]time.Duration{monitor.StepMinute: time.Minute, monitor.StepHour: time.Hour, monitor.StepDay: 24 * time.Hour}[c.step]
		q := monitor.Query{DefinitionKey: "metrics", From: c.from, To: c.to, Step: c.step}
		got := v.report(q)
		want := fromRows(t, byStep[store.StepMinute], c.from, c.to, w)
		sameFigures(t, c.name, got, want)
		if want.Total.Started == 0 || len(want.Elements) == 0 {
			t.Errorf("%s: no data in the range: %+v", c.name, want.Total)
		}
		// The step's own rows say the same (they tile the range too).
		sameFigures(t, c.name+" (step rows)", got, fromRows(t, byStep[string(c.step)], c.from, c.to, w))

		q.SeriesCountsOnly = true
		counts := v.report(q)
		for i, pt := range counts.Series {
			if pt.Counts != got.Series[i].Counts || pt.Duration != (monitor.Stats{}) {
				t.Fatalf("%s, counts only: point %d %+v, want the counts of %+v and no duration", c.name, i, pt, got.Series[i])
			}
		}
		if counts.Total != got.Total || counts.Duration != got.Duration || !reflect.DeepEqual(counts.Elements, got.Elements) {
			t.Errorf("%s, counts only: the totals changed", c.name)
		}
	}
}

// Rows of each step carry their own marker (a minute row counts 1, an hour row 1000, a
// day row a million), so the totals say which rows a report read: day rows for the whole
// days, hour rows for the whole hours at the ends, minute rows for the rest, none twice;
// and the series reads the rows of its step only.
func TestReportReadsEachInstantOnce(t *testing.T) {
	for _, k := range metricsStores() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			v := newMetricsEnv(t, k.open, nil)
			defs, err := v.e.ListDefinitions(v.ctx, store.DefinitionFilter{Key: "metrics"})
			if err != nil || len(defs) != 1 {
				t.Fatalf("definitions %v %v", defs, err)
			}
			day0 := mt0.Truncate(24 * time.Hour)
			marks := []struct {
				step  string
				width time.Duration
				n     int64
				from  time.Time
				to    time.Time
			}{
				// Every row of a week around the range at the coarse steps, and the minute
				// rows of the hours at the ends (enough for the range below).
				{store.StepDay, 24 * time.Hour, 1_000_000, day0, day0.Add(7 * 24 * time.Hour)},
				{store.StepHour, time.Hour, 1000, day0, day0.Add(7 * 24 * time.Hour)},
				{store.StepMinute, time.Minute, 1, day0.Add(45 * time.Hour), day0.Add(48 * time.Hour)},
				{store.StepMinute, time.Minute, 1, day0.Add(96 * time.Hour), day0.Add(99 * time.Hour)},
			}
			var rows []*store.Rollup
			for _, m := range marks {
				for b := m.from; b.Before(m.to); b = b.Add(m.width) {
					var dur monitor.Histogram
					dur.ObserveMs(m.n) // the marker as a duration: the distribution shows it too
					rows = append(rows,
						&store.Rollup{Step: m.step, Bucket: b, DefinitionID: defs[0].ID, Kind: store.RollupInstance,
							Started: m.n, Completed: m.n, Duration: dur.Encode()},
						&store.Rollup{Step: m.step, Bucket: b, DefinitionID: defs[0].ID, Kind: store.RollupElement, ElementID: "a",
							Entered: m.n, Left: m.n, Duration: dur.Encode(), Waiting: dur.Encode()},
						&store.Rollup{Step: m.step, Bucket: b, DefinitionID: defs[0].ID, Kind: store.RollupFlow, ElementID: "fa", Taken: m.n})
				}
			}
			if err := v.st.Write(v.ctx, func(tx store.Tx) error {
				return tx.ApplyMetrics(v.ctx, &store.MetricsBatch{Rows: rows})
			}); err != nil {
				t.Fatal(err)
			}

			for _, c := range []struct {
				name                  string
				from, to              time.Time
				step                  monitor.Step
				minutes, hours, days  int64
				seriesPoints, seriesN int64
			}{
				// Day 1 22:30 to day 4 01:15: 30 minutes and hour 23 of day 1, days 2 and
				// 3, hour 0 and 15 minutes of day 4. The series reads the minute rows: those
				// of the range are 22:30-24:00 and 00:00-01:15.
				{"by the minute", day0.Add(46*time.Hour + 30*time.Minute), day0.Add(97*time.Hour + 15*time.Minute), monitor.StepMinute,
					45, 2, 2, 60*50 + 45, 90 + 75},
				{"by the minute within a day", day0.Add(45*time.Hour + 30*time.Minute), day0.Add(47*time.Hour + 15*time.Minute), monitor.StepMinute,
					45, 1, 0, 60 + 45, 60 + 45},
				// Day 1 21:00 to day 4 03:00: hours 21-23 of day 1, days 2 and 3, hours 0-2 of day 4.
				{"by the hour", day0.Add(45 * time.Hour), day0.Add(99 * time.Hour), monitor.StepHour,
					0, 6, 2, 2*24 + 6, 1000 * (2*24 + 6)},
				{"by the day", day0.Add(24 * time.Hour), day0.Add(96 * time.Hour), monitor.StepDay,
					0, 0, 3, 3, 3_000_000},
			} {
				rep := v.report(monitor.Query{DefinitionKey: "metrics", From: c.from, To: c.to, Step: c.step})
				want := c.minutes + 1000*c.hours + 1_000_000*c.days
				if rep.Total.Started != want || rep.Total.Completed != want {
					t.Errorf("%s: started %d completed %d, want %d (%d minute, %d hour and %d day rows)",
						c.name, rep.Total.Started, rep.Total.Completed, want, c.minutes, c.hours, c.days)
				}
				if len(rep.Elements) != 1 || rep.Elements[0].Entered != want || rep.Elements[0].Duration.Count != c.minutes+c.hours+c.days {
					t.Errorf("%s: elements %+v, want a entered %d", c.name, rep.Elements, want)
				}
				if len(rep.Flows) != 1 || rep.Flows[0].Taken != want {
					t.Errorf("%s: flows %+v, want fa taken %d", c.name, rep.Flows, want)
				}
				if rep.Duration.Count != c.minutes+c.hours+c.days {
					t.Errorf("%s: %d durations, want one per row read (%d)", c.name, rep.Duration.Count, c.minutes+c.hours+c.days)
				}
				var series int64
				for _, pt := range rep.Series {
					series += pt.Started
				}
				if int64(len(rep.Series)) != c.seriesPoints || series != c.seriesN {
					t.Errorf("%s: %d points adding up to %d, want %d adding up to %d", c.name, len(rep.Series), series, c.seriesPoints, c.seriesN)
				}
			}
		})
	}
}
