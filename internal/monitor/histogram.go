package monitor

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Histogram counts durations (whole milliseconds, as the history reports them) in
// log-scaled buckets: bucket 0 holds zero, bucket i >= 1 holds the durations in
// (Upper(i-1), Upper(i)] with Upper(i) = 2^((i-1)/16) ms. A bucket is 4.4% wide, so a
// percentile read from the buckets (the geometric middle of its bucket, at most Max) is
// within 2.2% of the exact value, from a millisecond to centuries, in at most about
// 700 buckets of which only the non-empty ones are kept.
//
// The zero value is an empty histogram. A Histogram is not safe for concurrent use.
type Histogram struct {
	Count int64
	SumMs int64
	MaxMs int64
	b     map[int]int64
}

// perOctave is the number of buckets per doubling.
const perOctave = 16

// maxIndex bounds the bucket index read from the store (2^43 ms is 278 years).
const maxIndex = 1 + 44*perOctave

// bucketIndex returns the bucket of ms.
func bucketIndex(ms int64) int {
	if ms <= 0 {
		return 0
	}
	i := 1 + int(math.Ceil(perOctave*math.Log2(float64(ms))-1e-9))
	return min(max(i, 1), maxIndex)
}

// upperMs is the upper bound of bucket i in milliseconds.
func upperMs(i int) float64 {
	if i <= 0 {
		return 0
	}
	return math.Exp2(float64(i-1) / perOctave)
}

// ObserveMs adds one duration in milliseconds (negative counts as zero).
func (h *Histogram) ObserveMs(ms int64) {
	ms = max(ms, 0)
	if h.b == nil {
		h.b = make(map[int]int64, 4)
	}
	h.b[bucketIndex(ms)]++
	h.Count++
	h.SumMs += ms
	h.MaxMs = max(h.MaxMs, ms)
}

// Observe adds one duration, truncated to milliseconds.
func (h *Histogram) Observe(d time.Duration) { h.ObserveMs(d.Milliseconds()) }

// Merge adds every observation of o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.Count == 0 {
		return
	}
	if h.b == nil {
		h.b = make(map[int]int64, len(o.b))
	}
	for i, n := range o.b {
		h.b[i] += n
	}
	h.Count += o.Count
	h.SumMs += o.SumMs
	h.MaxMs = max(h.MaxMs, o.MaxMs)
}

// Percentile returns the nearest-rank percentile p (0 < p <= 100) estimated from the
// buckets: the geometric middle of the bucket that holds it, never above Max. Where the
// figures say more, it is exact: the highest rank is Max, and when Sum is Count times
// Max every observation is Max. It is 0 without observations.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.Count == 0 {
		return 0
	}
	rank := int64(math.Ceil(p / 100 * float64(h.Count)))
	rank = min(max(rank, 1), h.Count)
	// Sum == Count*Max, tested by division: the product could overflow int64.
	if rank == h.Count || (h.MaxMs > 0 && h.SumMs/h.MaxMs == h.Count && h.SumMs%h.MaxMs == 0) {
		return time.Duration(h.MaxMs) * time.Millisecond
	}
	idx := h.indexes()
	var seen int64
	for _, i := range idx {
		seen += h.b[i]
		if seen >= rank {
			return msDuration(min(middleMs(i), float64(h.MaxMs)))
		}
	}
	return msDuration(float64(h.MaxMs)) // the buckets count fewer than Count (never from Observe)
}

// middleMs is the value a percentile in bucket i is reported as.
func middleMs(i int) float64 {
	switch {
	case i <= 0:
		return 0
	case i == 1:
		return 1 // durations are whole milliseconds: (0, 1] holds only 1
	}
	return math.Exp2((float64(i) - 1.5) / perOctave)
}

func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

func (h *Histogram) indexes() []int {
	idx := make([]int, 0, len(h.b))
	for i, n := range h.b {
		if n != 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx
}

// Stats summarises the histogram.
func (h *Histogram) Stats() Stats {
	return Stats{
		Count: h.Count,
		Sum:   time.Duration(h.SumMs) * time.Millisecond,
		Max:   time.Duration(h.MaxMs) * time.Millisecond,
		P50:   h.Percentile(50),
		P95:   h.Percentile(95),
		P99:   h.Percentile(99),
	}
}

// Buckets returns the non-empty buckets, shortest first.
func (h *Histogram) Buckets() []Bucket {
	idx := h.indexes()
	out := make([]Bucket, len(idx))
	for k, i := range idx {
		out[k] = Bucket{Upper: msDuration(upperMs(i)), Count: h.b[i]}
	}
	return out
}

// Encode returns the histogram as the store keeps it: its buckets as "index:count"
// pairs separated by spaces, in index order.
func (h *Histogram) Encode() store.HistogramData {
	d := store.HistogramData{Count: h.Count, SumMs: h.SumMs, MaxMs: h.MaxMs}
	var b []byte
	for _, i := range h.indexes() {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, h.b[i], 10)
	}
	d.Buckets = string(b)
	return d
}

// errHistogram marks stored histogram data that does not parse.
var errHistogram = errors.New("invalid histogram data")

// DecodeHistogram reads what Encode wrote. The bucket counts must add up to Count.
func DecodeHistogram(d store.HistogramData) (*Histogram, error) {
	h := &Histogram{Count: d.Count, SumMs: d.SumMs, MaxMs: d.MaxMs}
	if d.Count < 0 || d.SumMs < 0 || d.MaxMs < 0 {
		return nil, fmt.Errorf("%w: negative count, sum or max", errHistogram)
	}
	var total int64
	for f := range strings.FieldsSeq(d.Buckets) {
		is, ns, ok := strings.Cut(f, ":")
		i, err1 := strconv.Atoi(is)
		n, err2 := strconv.ParseInt(ns, 10, 64)
		if !ok || err1 != nil || err2 != nil || i < 0 || i > maxIndex || n <= 0 {
			return nil, fmt.Errorf("%w: bucket %q", errHistogram, f)
		}
		if h.b == nil {
			h.b = make(map[int]int64, 8)
		}
		if _, dup := h.b[i]; dup {
			return nil, fmt.Errorf("%w: bucket %d twice", errHistogram, i)
		}
		h.b[i] = n
		total += n
	}
	if total != d.Count {
		return nil, fmt.Errorf("%w: buckets hold %d observations, count is %d", errHistogram, total, d.Count)
	}
	return h, nil
}

// mergeData adds the observations of a stored histogram: what DecodeHistogram then
// Merge do, without building a histogram per row (Report merges hundreds of rows). The
// canonical form Encode writes (digits, single spaces, increasing indexes) is read in
// place; anything else goes through DecodeHistogram, so both accept and reject the same
// data. h is unchanged when d does not parse.
func (h *Histogram) mergeData(d store.HistogramData) error {
	if d.Count == 0 && d.SumMs == 0 && d.MaxMs == 0 && d.Buckets == "" {
		return nil
	}
	var buf [48][2]int64
	pairs, ok := parseCanonical(d.Buckets, buf[:0])
	if !ok || d.Count < 0 || d.SumMs < 0 || d.MaxMs < 0 {
		o, err := DecodeHistogram(d)
		if err != nil {
			return err
		}
		h.Merge(o)
		return nil
	}
	var total int64
	for _, p := range pairs {
		total += p[1]
	}
	if total != d.Count {
		return fmt.Errorf("%w: buckets hold %d observations, count is %d", errHistogram, total, d.Count)
	}
	if d.Count == 0 {
		return nil
	}
	if h.b == nil {
		h.b = make(map[int]int64, len(pairs))
	}
	for _, p := range pairs {
		h.b[int(p[0])] += p[1]
	}
	h.Count += d.Count
	h.SumMs += d.SumMs
	h.MaxMs = max(h.MaxMs, d.MaxMs)
	return nil
}

// parseCanonical reads "i:n i:n …" as Encode writes it: unsigned decimals, one space
// between pairs, indexes increasing and at most maxIndex, counts above zero. ok is false
// for anything else (which may still be valid: DecodeHistogram decides).
func parseCanonical(s string, out [][2]int64) (_ [][2]int64, ok bool) {
	const limit = 1 << 53 // no overflow below it; larger counts take the slow path
	prev := int64(-1)
	for i := 0; i < len(s); {
		if i > 0 {
			if s[i] != ' ' {
				return nil, false
			}
			i++
		}
		var v [2]int64
		for k := range 2 {
			start := i
			for i < len(s) && s[i] >= '0' && s[i] <= '9' && v[k] < limit {
				v[k] = v[k]*10 + int64(s[i]-'0')
				i++
			}
			if i == start || i-start > 16 {
				return nil, false
			}
			if k == 0 {
				if i >= len(s) || s[i] != ':' {
					return nil, false
				}
				i++
			}
		}
		if v[0] <= prev || v[0] > maxIndex || v[1] <= 0 {
			return nil, false
		}
		prev = v[0]
		out = append(out, v)
	}
	return out, true
}
