package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/monitor"
)

// seedRollups writes the rollup rows the metrics projector would keep for n finished
// instances of def spread evenly over the days before now: minute rows for the last
// monitor.MinuteRetention, hour rows and day rows for the whole span, per instance, per
// flow node and per sequence flow of the model. It writes them through the store's
// ApplyMetrics, as the projector does, and moves the projector's cursor to the end of the
// history already in the store (the seeded instances), so the pages see caught-up
// figures. Instances, elements and flows vary so that the heatmap and the charts have
// shape: instance i takes 1..300 s, element k is passed by most instances, with its own
// durations, and one instance in 97 opens an incident.
func seedRollups(b *testing.B, st store.Store, def *store.Definition, model *bpmn.Definitions, n int, days int, now time.Time) {
	b.Helper()
	ctx := context.Background()
	var nodes []string
	var flows []string
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, el := range c.Elements {
			if el.Kind.IsFlowNode() {
				nodes = append(nodes, el.ID)
			}
			if el.Children != nil {
				walk(el.Children)
			}
		}
		for _, f := range c.Flows {
			flows = append(flows, f.ID)
		}
	}
	walk(&model.Process(def.Key).Container)

	type key struct {
		step   string
		bucket int64 // unix seconds
		kind   string
		id     string
	}
	type acc struct {
		r         store.Rollup
		dur, wait monitor.Histogram
	}
	rows := map[key]*acc{}
	get := func(step string, t time.Time, kind, id string) *acc {
		w := map[string]time.Duration{store.StepMinute: time.Minute, store.StepHour: time.Hour, store.StepDay: 24 * time.Hour}[step]
		k := key{step, t.Truncate(w).Unix(), kind, id}
		a := rows[k]
		if a == nil {
			a = &acc{r: store.Rollup{Step: step, Bucket: t.Truncate(w).UTC(), DefinitionID: def.ID, Kind: kind, ElementID: id}}
			rows[k] = a
		}
		return a
	}
	steps := func(t time.Time) []string {
		if now.Sub(t) <= monitor.MinuteRetention {
			return []string{store.StepMinute, store.StepHour, store.StepDay}
		}
		return []string{store.StepHour, store.StepDay}
	}
	// flush writes the rows of buckets that ended before the given time.
	var batch []*store.Rollup
	write := func() {
		if len(batch) == 0 {
			return
		}
		if err := st.Write(ctx, func(tx store.Tx) error {
			return tx.ApplyMetrics(ctx, &store.MetricsBatch{Rows: batch})
		}); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	flush := func(before time.Time) {
		for k, a := range rows {
			w := map[string]time.Duration{store.StepMinute: time.Minute, store.StepHour: time.Hour, store.StepDay: 24 * time.Hour}[k.step]
			if !time.Unix(k.bucket, 0).Add(w).Before(before) {
				continue
			}
			a.r.Duration, a.r.Waiting = a.dur.Encode(), a.wait.Encode()
			r := a.r
			batch = append(batch, &r)
			delete(rows, k)
			if len(batch) >= 5000 {
				write()
			}
		}
	}

	span := time.Duration(days) * 24 * time.Hour
	t0 := now.Add(-span)
	every := span / time.Duration(n)
	lastFlush := t0
	for i := range n {
		start := t0.Add(time.Duration(i) * every)
		dur := time.Duration(1+i%300) * time.Second
		end := start.Add(dur)
		if start.Sub(lastFlush) > time.Hour {
			flush(start.Add(-10 * time.Minute)) // instances last at most 5 minutes
			lastFlush = start
		}
		cancelled := i%211 == 0
		incident := i%97 == 0
		for _, step := range steps(start) {
			get(step, start, store.RollupInstance, "").r.Started++
		}
		for _, step := range steps(end) {
			a := get(step, end, store.RollupInstance, "")
			if cancelled {
				a.r.Cancelled++
			} else {
				a.r.Completed++
				a.dur.Observe(dur)
			}
			if incident {
				a.r.Incidents++
			}
		}
		for k, id := range nodes {
			if k > 2 && i%(k+1) == 0 {
				continue // not every instance passes every element
			}
			d := time.Duration((i*7+k*13)%60+1) * 100 * time.Millisecond * time.Duration(k%4+1)
			wait := d / 3
			for _, step := range steps(start) {
				a := get(step, start, store.RollupElement, id)
				a.r.Entered++
				a.r.Left++
				a.dur.Observe(d)
				a.wait.Observe(wait)
				if incident && k == i%len(nodes) {
					a.r.Incidents++
				}
			}
		}
		for f, id := range flows {
			if f > 2 && i%(f+1) == 0 {
				continue
			}
			for _, step := range steps(start) {
				get(step, start, store.RollupFlow, id).r.Taken++
			}
		}
	}
	flush(now.Add(48 * time.Hour))
	write()

	// The seeded history counts as folded: the projector's cursor moves to its end.
	if err := st.Write(ctx, func(tx store.Tx) error {
		// The last seq, by bisection on "is there an event above x" (seq is indexed).
		lo, hi := int64(0), int64(1)<<40
		for lo < hi {
			mid := lo + (hi-lo+1)/2
			evs, err := tx.ListEvents(ctx, store.EventFilter{AfterSeq: mid - 1, Limit: 1})
			if err != nil {
				return err
			}
			if len(evs) > 0 {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return tx.ApplyMetrics(ctx, &store.MetricsBatch{From: 0, To: lo})
	}); err != nil {
		b.Fatal(err)
	}
}
