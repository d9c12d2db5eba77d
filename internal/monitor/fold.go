package monitor

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Retention of the fine steps: the projector prunes older rows, Report does not pick a
// step for a range it no longer covers, and a replay does not write rows that the next
// prune would delete.
const (
	MinuteRetention = 48 * time.Hour
	HourRetention   = 90 * 24 * time.Hour
)

// steps in order, with their width.
var steps = []struct {
	step  Step
	width time.Duration
}{{StepMinute, time.Minute}, {StepHour, time.Hour}, {StepDay, 24 * time.Hour}}

func stepWidth(s Step) time.Duration {
	for _, st := range steps {
		if st.step == s {
			return st.width
		}
	}
	return 0
}

// rowKey names a rollup row. The bucket is unix seconds (buckets are whole minutes).
type rowKey struct {
	step   Step
	bucket int64
	def    string
	kind   string
	elem   string
}

// acc is a rollup row under construction.
type acc struct {
	store.Rollup
	dur, wait Histogram
}

// fold adds a batch of events to rollup rows in memory. now bounds what is written for
// old events (see MinuteRetention).
type fold struct {
	now  time.Time
	rows map[rowKey]*acc
}

func newFold(now time.Time) *fold {
	return &fold{now: now, rows: make(map[rowKey]*acc, 64)}
}

// row returns the rows of one event's bucket at every step (nil where retention has
// passed), creating them.
func (f *fold) rowsFor(t time.Time, def, kind, elem string, out *[3]*acc) {
	t = t.UTC()
	for k, st := range steps {
		out[k] = nil
		switch {
		case st.step == StepMinute && f.now.Sub(t) > MinuteRetention:
			continue
		case st.step == StepHour && f.now.Sub(t) > HourRetention:
			continue
		}
		key := rowKey{step: st.step, bucket: t.Truncate(st.width).Unix(), def: def, kind: kind, elem: elem}
		r := f.rows[key]
		if r == nil {
			r = &acc{Rollup: store.Rollup{Step: string(st.step), Bucket: time.Unix(key.bucket, 0).UTC(),
				DefinitionID: def, Kind: kind, ElementID: elem}}
			f.rows[key] = r
		}
		out[k] = r
	}
}

// add folds one event.
func (f *fold) add(ev *store.Event) {
	if ev.DefinitionID == "" {
		return
	}
	var rs [3]*acc
	each := func(kind, elem string, fn func(r *acc)) {
		f.rowsFor(ev.Time, ev.DefinitionID, kind, elem, &rs)
		for _, r := range rs {
			if r != nil {
				fn(r)
			}
		}
	}
	switch ev.Type {
	case event.InstanceStarted:
		each(store.RollupInstance, "", func(r *acc) { r.Started++ })
	case event.InstanceCompleted:
		d, ok := dataInt(ev.Data, event.FieldDurationMs)
		each(store.RollupInstance, "", func(r *acc) {
			r.Completed++
			if ok {
				r.dur.ObserveMs(d)
			}
		})
	case event.InstanceCancelled:
		each(store.RollupInstance, "", func(r *acc) { r.Cancelled++ })
	case event.IncidentOpened:
		each(store.RollupInstance, "", func(r *acc) { r.Incidents++ })
		if ev.ElementID != "" {
			each(store.RollupElement, ev.ElementID, func(r *acc) { r.Incidents++ })
		}
	case event.ElementEntered:
		if ev.ElementID == "" {
			return
		}
		// A multi-instance body's arrival counts as the flow taken; its inner instances
		// are the element's runs.
		if ev.ElementType != event.ElementTypeMultiInstanceBody {
			each(store.RollupElement, ev.ElementID, func(r *acc) { r.Entered++ })
		}
		if flow, ok := dataString(ev.Data, event.FieldFlow); ok && flow != "" {
			each(store.RollupFlow, flow, func(r *acc) { r.Taken++ })
		}
	case event.ElementLeft:
		if ev.ElementID == "" || ev.ElementType == event.ElementTypeMultiInstanceBody {
			return
		}
		d, okD := dataInt(ev.Data, event.FieldDurationMs)
		w, okW := dataInt(ev.Data, event.FieldWaitMs)
		each(store.RollupElement, ev.ElementID, func(r *acc) {
			r.Left++
			if okD {
				r.dur.ObserveMs(d)
			}
			if okW {
				r.wait.ObserveMs(w)
			}
		})
	case event.ElementCancelled:
		if ev.ElementID == "" || ev.ElementType == event.ElementTypeMultiInstanceBody {
			return
		}
		// Any reason but a cancelled or modified instance is the process's own doing (an
		// interrupting boundary event, a terminate end event): interrupted, not cancelled.
		// Events without a reason (none the engine writes) count as cancelled.
		if reason, ok := dataString(ev.Data, event.FieldReason); ok && reason != event.ReasonInstanceCancelled && reason != event.ReasonModified {
			each(store.RollupInterrupt, ev.ElementID, func(r *acc) { r.Cancelled++ })
			return
		}
		each(store.RollupElement, ev.ElementID, func(r *acc) { r.Cancelled++ })
	case event.JobCompleted, event.JobFailed:
		if ev.ElementID == "" {
			return
		}
		if w, ok := dataInt(ev.Data, event.FieldWaitMs); ok {
			each(store.RollupElement, ev.ElementID, func(r *acc) { r.wait.ObserveMs(w) })
		}
	}
}

// merge adds a stored row to the folded row with the same key.
func (a *acc) merge(old *store.Rollup) error {
	if err := a.dur.mergeData(old.Duration); err != nil {
		return err
	}
	if err := a.wait.mergeData(old.Waiting); err != nil {
		return err
	}
	a.Started += old.Started
	a.Completed += old.Completed
	a.Cancelled += old.Cancelled
	a.Incidents += old.Incidents
	a.Entered += old.Entered
	a.Left += old.Left
	a.Taken += old.Taken
	return nil
}

// Reading event data. The engine writes these few fields itself (plain numbers, ids
// that need no escaping; PostgreSQL's jsonb gives them back with spaces after ':' and
// ','), so a scan for the key is enough; anything unusual falls back to encoding/json.
// A key is only matched where it starts a member (after '{' or ','): a JSON string
// cannot hold an unescaped quote, so the text cannot occur inside a value.

func findKey(data []byte, key string) int {
	var pat [32]byte
	p := append(pat[:0], '"')
	p = append(p, key...)
	p = append(p, '"', ':')
	for off := 0; ; {
		i := bytes.Index(data[off:], p)
		if i < 0 {
			return -1
		}
		i += off
		k := i - 1
		for k >= 0 && isSpace(data[k]) {
			k--
		}
		if k >= 0 && (data[k] == '{' || data[k] == ',') {
			j := i + len(p)
			for j < len(data) && isSpace(data[j]) {
				j++
			}
			return j
		}
		off = i + 1
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// dataInt reads an integer member of an event's data.
func dataInt(data []byte, key string) (int64, bool) {
	i := findKey(data, key)
	if i < 0 {
		return 0, false
	}
	j := i
	for j < len(data) && (data[j] == '-' || data[j] >= '0' && data[j] <= '9') {
		j++
	}
	if j < len(data) && data[j] != ',' && data[j] != '}' {
		var m map[string]json.Number
		if json.Unmarshal(data, &m) != nil {
			return 0, false
		}
		v, err := m[key].Int64()
		return v, err == nil
	}
	v, err := strconv.ParseInt(string(data[i:j]), 10, 64)
	return v, err == nil
}

// dataString reads a string member of an event's data.
func dataString(data []byte, key string) (string, bool) {
	i := findKey(data, key)
	if i < 0 || i >= len(data) || data[i] != '"' {
		return "", false
	}
	end := bytes.IndexByte(data[i+1:], '"')
	if end < 0 {
		return "", false
	}
	s := data[i+1 : i+1+end]
	if bytes.IndexByte(s, '\\') >= 0 {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return "", false
		}
		v, ok := m[key].(string)
		return v, ok
	}
	return string(s), true
}
