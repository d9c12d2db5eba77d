package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ErrInvalidQuery is returned for a query Report cannot answer as asked (no key, an
// empty range, an unknown step, too many points).
var ErrInvalidQuery = errors.New("invalid metrics query")

// ErrNotFound is returned when the key or version of a query is not deployed. It wraps
// store.ErrNotFound.
var ErrNotFound = fmt.Errorf("metrics: %w", store.ErrNotFound)

// maxSeriesPoints bounds a series for an explicit Step (a chosen step gives at most
// MaxPoints).
const maxSeriesPoints = 10000

// Options configure a Monitor.
type Options struct {
	Store store.Store
	Clock clock.Clock // default clock.Real
}

// Monitor answers metrics queries from the rollups. It is safe for concurrent use.
type Monitor struct {
	st    store.Store
	clock clock.Clock
}

// New makes a Monitor.
func New(o Options) (*Monitor, error) {
	if o.Store == nil {
		return nil, errors.New("new monitor: Store is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	return &Monitor{st: o.Store, clock: o.Clock}, nil
}

// chooseStep returns the finest step that covers [from, to) with at most MaxPoints
// buckets and whose rows are still kept for from.
func chooseStep(from, to, now time.Time) Step {
	for _, s := range steps {
		if s.step == StepMinute && from.Before(now.Add(-MinuteRetention)) {
			continue
		}
		if s.step == StepHour && from.Before(now.Add(-HourRetention)) {
			continue
		}
		if points(from, to, s.width) <= MaxPoints {
			return s.step
		}
	}
	return StepDay
}

// points is the number of buckets of width w that [from, to) touches.
func points(from, to time.Time, w time.Duration) int64 {
	a := from.UTC().Truncate(w)
	return int64((to.Sub(a) + w - 1) / w)
}

// ceilTo rounds t up to a multiple of w.
func ceilTo(t time.Time, w time.Duration) time.Time {
	d := t.UTC().Truncate(w)
	if d.Equal(t) {
		return d
	}
	return d.Add(w)
}

// span is the rows of one step with a bucket in [from, to).
type span struct {
	step     Step
	from, to time.Time
}

// tile returns the spans of the coarsest rows that cover [from, to) exactly, both
// multiples of the finest step's width: day rows for the whole days inside, hour rows
// for the whole hours left at each end, finest rows for the rest. Each instant of the
// range is in exactly one span, so a row is never counted twice. Day rows are kept
// forever and hour rows for HourRetention, so past that the coarse rows are the only ones
// left; the finer rows a span needs at the ends are those a report at the finest step
// reads anyway.
func tile(from, to time.Time, finest Step) []span {
	for k := len(steps) - 1; k >= 0; k-- {
		st := steps[k]
		a, b := ceilTo(from, st.width), to.Truncate(st.width)
		if a.Before(b) {
			out := tile(from, a, finest)
			out = append(out, span{st.step, a, b})
			return append(out, tile(b, to, finest)...)
		}
		if st.step == finest {
			break
		}
	}
	return nil
}

// Report returns the metrics of one process key for a range, from the rollups. The
// range is widened to whole buckets of the step (Report.Query says which). Instance
// durations are those of the instances completed in the range.
//
// The series reads the instance rows of the step; the totals, elements and flows read the
// coarsest rows that tile the range (see tile), so a week by the hour reads 7 day rows
// per element instead of 168 hour rows.
func (m *Monitor) Report(ctx context.Context, q Query) (*Report, error) {
	if strings.TrimSpace(q.DefinitionKey) == "" {
		return nil, fmt.Errorf("report: definition key is empty: %w", ErrInvalidQuery)
	}
	now := m.clock.Now().UTC()
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-24 * time.Hour)
	}
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("report: range %v to %v is empty: %w", q.From, q.To, ErrInvalidQuery)
	}
	if q.Step == "" {
		q.Step = chooseStep(q.From, q.To, now)
	}
	w := stepWidth(q.Step)
	if w == 0 {
		return nil, fmt.Errorf("report: unknown step %q: %w", q.Step, ErrInvalidQuery)
	}
	if n := points(q.From, q.To, w); n > maxSeriesPoints {
		return nil, fmt.Errorf("report: %d points of a %s is too many (at most %d): %w", n, q.Step, maxSeriesPoints, ErrInvalidQuery)
	}
	q.From, q.To = q.From.Truncate(w), ceilTo(q.To, w)

	rep := &Report{Query: q}
	spans := tile(q.From, q.To, q.Step)
	// When the range is one span of the step (a report by the day, or no whole coarser
	// bucket inside), the series is the instance rows of the totals: one query.
	oneSpan := len(spans) == 1 && spans[0].step == q.Step
	var series, totals []*store.Rollup
	var state store.MetricsState
	err := m.st.Read(ctx, func(tx store.Tx) error {
		defs, err := tx.ListDefinitions(ctx, store.DefinitionFilter{Key: q.DefinitionKey, Service: q.Service})
		if err != nil {
			return err
		}
		var ids []string
		for _, d := range defs {
			rep.Versions = append(rep.Versions, d.Version)
			if q.Version == 0 || d.Version == q.Version {
				ids = append(ids, d.ID)
			}
		}
		if len(ids) == 0 {
			if q.Version != 0 && len(defs) > 0 {
				return fmt.Errorf("version %d of %q: %w", q.Version, q.DefinitionKey, ErrNotFound)
			}
			return fmt.Errorf("process %q: %w", q.DefinitionKey, ErrNotFound)
		}
		if !oneSpan {
			series, err = tx.ListRollups(ctx, store.RollupFilter{Step: string(q.Step), DefinitionIDs: ids,
				Kind: store.RollupInstance, From: q.From, To: q.To})
			if err != nil {
				return err
			}
		}
		for _, sp := range spans {
			rows, err := tx.ListRollups(ctx, store.RollupFilter{Step: string(sp.step), DefinitionIDs: ids, From: sp.from, To: sp.to})
			if err != nil {
				return err
			}
			totals = append(totals, rows...)
		}
		state, err = tx.MetricsState(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report of %q: %w", q.DefinitionKey, err)
	}
	slices.Sort(rep.Versions)
	rep.Versions = slices.Compact(rep.Versions)
	if !state.Next.IsZero() {
		rep.Lag = max(now.Sub(state.Next), 0)
	}
	if oneSpan {
		for _, r := range totals {
			if r.Kind == store.RollupInstance {
				series = append(series, r)
			}
		}
	}

	n := int(points(q.From, q.To, w))
	rep.Series = make([]Point, n)
	for i := range rep.Series {
		rep.Series[i].Start = q.From.Add(time.Duration(i) * w)
	}
	var pointDur []Histogram
	if !q.SeriesCountsOnly {
		pointDur = make([]Histogram, n)
	}
	for _, r := range series {
		i := int(r.Bucket.Sub(q.From) / w)
		if i < 0 || i >= n {
			continue
		}
		rep.Series[i].Counts.add(instanceCounts(r))
		if pointDur != nil {
			if err := pointDur[i].mergeData(r.Duration); err != nil {
				return nil, fmt.Errorf("report of %q: %w", q.DefinitionKey, err)
			}
		}
	}
	for i := range pointDur {
		rep.Series[i].Duration = pointDur[i].Stats()
	}

	var total Histogram
	elements := map[string]*elementAcc{}
	flows := map[string]int64{}
	for _, r := range totals {
		switch r.Kind {
		case store.RollupInstance:
			rep.Total.add(instanceCounts(r))
			if err := total.mergeData(r.Duration); err != nil {
				return nil, fmt.Errorf("report of %q: %w", q.DefinitionKey, err)
			}
		case store.RollupElement, store.RollupInterrupt:
			e := elements[r.ElementID]
			if e == nil {
				e = &elementAcc{m: ElementMetrics{ElementID: r.ElementID}}
				elements[r.ElementID] = e
			}
			if r.Kind == store.RollupInterrupt {
				e.m.Interrupted += r.Cancelled
				continue
			}
			if err := e.add(r); err != nil {
				return nil, fmt.Errorf("report of %q: %w", q.DefinitionKey, err)
			}
		case store.RollupFlow:
			flows[r.ElementID] += r.Taken
		}
	}
	rep.Duration = total.Stats()
	rep.Distribution = total.Buckets()
	for _, e := range elements {
		e.m.Duration, e.m.Waiting = e.dur.Stats(), e.wait.Stats()
		rep.Elements = append(rep.Elements, e.m)
	}
	slices.SortFunc(rep.Elements, func(a, b ElementMetrics) int { return strings.Compare(a.ElementID, b.ElementID) })
	for id, n := range flows {
		rep.Flows = append(rep.Flows, FlowMetrics{FlowID: id, Taken: n})
	}
	slices.SortFunc(rep.Flows, func(a, b FlowMetrics) int { return strings.Compare(a.FlowID, b.FlowID) })
	return rep, nil
}

func instanceCounts(r *store.Rollup) Counts {
	return Counts{Started: r.Started, Completed: r.Completed, Cancelled: r.Cancelled, Incidents: r.Incidents}
}

func (c *Counts) add(o Counts) {
	c.Started += o.Started
	c.Completed += o.Completed
	c.Cancelled += o.Cancelled
	c.Incidents += o.Incidents
}

type elementAcc struct {
	m         ElementMetrics
	dur, wait Histogram
}

func (e *elementAcc) add(r *store.Rollup) error {
	if err := e.dur.mergeData(r.Duration); err != nil {
		return err
	}
	if err := e.wait.mergeData(r.Waiting); err != nil {
		return err
	}
	e.m.Entered += r.Entered
	e.m.Left += r.Left
	e.m.Cancelled += r.Cancelled
	e.m.Incidents += r.Incidents
	return nil
}

// Thresholds returns, for each element of a definition version with data since the
// given time, the 99th percentile of its waiting time, or of its duration where it has
// no waiting data (elements that do not wait: gateways, script tasks, events). The stall
// detector learns its thresholds from it. It reads the rollups of the finest step that
// still covers since with at most MaxPoints buckets.
func (m *Monitor) Thresholds(ctx context.Context, definitionID string, since time.Time) (map[string]time.Duration, error) {
	now := m.clock.Now().UTC()
	if !since.Before(now) {
		return map[string]time.Duration{}, nil
	}
	step := chooseStep(since, now, now)
	var rows []*store.Rollup
	err := m.st.Read(ctx, func(tx store.Tx) error {
		var err error
		rows, err = tx.ListRollups(ctx, store.RollupFilter{Step: string(step), DefinitionIDs: []string{definitionID},
			Kind: store.RollupElement, From: since.UTC().Truncate(stepWidth(step)), To: ceilTo(now, stepWidth(step)).Add(stepWidth(step))})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("thresholds of %q: %w", definitionID, err)
	}
	elements := map[string]*elementAcc{}
	for _, r := range rows {
		e := elements[r.ElementID]
		if e == nil {
			e = &elementAcc{}
			elements[r.ElementID] = e
		}
		if err := e.add(r); err != nil {
			return nil, fmt.Errorf("thresholds of %q: %w", definitionID, err)
		}
	}
	out := make(map[string]time.Duration, len(elements))
	for id, e := range elements {
		switch {
		case e.wait.Count > 0:
			out[id] = e.wait.Percentile(99)
		case e.dur.Count > 0:
			out[id] = e.dur.Percentile(99)
		}
	}
	return out, nil
}

// Lag returns how far the rollups trail the history: the age of the oldest event not yet
// folded in (0 when caught up).
func (m *Monitor) Lag(ctx context.Context) (time.Duration, error) {
	var state store.MetricsState
	err := m.st.Read(ctx, func(tx store.Tx) error {
		var err error
		state, err = tx.MetricsState(ctx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("metrics lag: %w", err)
	}
	if state.Next.IsZero() {
		return 0, nil
	}
	return max(m.clock.Now().Sub(state.Next), 0), nil
}

// RebuildResult says what Rebuild did.
type RebuildResult struct {
	// Events is the number of events replayed (0 when another node replays them).
	Events int64
	// Delegated is true when a running node holds the "metrics" lease: Rebuild reset the
	// rollups and that node's projector replays the history.
	Delegated bool
}

// Rebuild drops every rollup and folds the whole history again. When no projector holds
// the "metrics" lease, Rebuild takes it and replays the history itself, in batches, until
// it is caught up. When a running node holds it, Rebuild only resets the rollups and that
// node's projector replays them (a batch it had in flight fails its cursor check and is
// dropped). owner names the caller in the lease.
func (m *Monitor) Rebuild(ctx context.Context, owner string) (*RebuildResult, error) {
	// Errors are returned; the lease taken and released is no news to the caller.
	p, err := NewProjector(ProjectorOptions{Store: m.st, Owner: owner, Clock: m.clock, LeaseTTL: 5 * time.Minute,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	held, err := p.el.Elect(ctx)
	if err != nil {
		return nil, fmt.Errorf("rebuild metrics: %w", err)
	}
	if held {
		// The elector renews the lease while the replay runs (the first renewal Renew after
		// Elect's write), and its Stop releases it.
		if err := p.el.Start(ctx); err != nil {
			return nil, fmt.Errorf("rebuild metrics: %w", err)
		}
		defer func() { _ = p.el.Stop(context.WithoutCancel(ctx)) }()
	}
	if err := m.st.Write(ctx, func(tx store.Tx) error { return tx.ResetMetrics(ctx) }); err != nil {
		return nil, fmt.Errorf("rebuild metrics: reset: %w", err)
	}
	if !held {
		return &RebuildResult{Delegated: true}, nil
	}
	res := &RebuildResult{}
	for {
		lctx, cancel, ok := p.el.Lead(ctx)
		if !ok {
			return res, fmt.Errorf("rebuild metrics: lost the lease after %d events", res.Events)
		}
		n, err := p.Step(lctx)
		cancel()
		if err != nil {
			return res, fmt.Errorf("rebuild metrics after %d events: %w", res.Events, err)
		}
		res.Events += int64(n)
		if n == 0 {
			break
		}
	}
	if err := p.prune(ctx, m.clock.Now()); err != nil {
		return res, fmt.Errorf("rebuild metrics: prune: %w", err)
	}
	return res, nil
}
