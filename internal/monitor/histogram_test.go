package monitor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// resolution is the largest relative error of a percentile read from the buckets.
const resolution = 0.0221 // 2^(1/32) - 1

func exactPercentile(sorted []int64, p float64) int64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// withinResolution reports whether a percentile estimate is within the histogram's
// resolution of the exact value (in whole milliseconds).
func withinResolution(got time.Duration, exactMs int64) bool {
	want := float64(exactMs) * float64(time.Millisecond)
	return math.Abs(float64(got)-want) <= resolution*want+1
}

func TestHistogramPercentilesWithinResolution(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var vals []int64
	var sum int64
	for range 20000 {
		// Log-uniform over a millisecond to about three hours, and some zeros.
		v := int64(math.Exp(rng.Float64() * math.Log(1e7)))
		if rng.IntN(50) == 0 {
			v = 0
		}
		vals = append(vals, v)
		sum += v
		h.ObserveMs(v)
	}
	slices.Sort(vals)
	if h.Count != int64(len(vals)) || h.SumMs != sum || h.MaxMs != vals[len(vals)-1] {
		t.Fatalf("count %d sum %d max %d, want %d %d %d", h.Count, h.SumMs, h.MaxMs, len(vals), sum, vals[len(vals)-1])
	}
	for _, p := range []float64{0.1, 1, 10, 50, 90, 95, 99, 99.9, 100} {
		exact := exactPercentile(vals, p)
		if got := h.Percentile(p); !withinResolution(got, exact) {
			t.Errorf("p%v = %v, exact %d ms", p, got, exact)
		}
	}
	// Few values: every one is its own percentile.
	var small Histogram
	for _, v := range []int64{0, 1, 2, 3, 1000, 3600000} {
		small.ObserveMs(v)
	}
	for i, v := range []int64{0, 1, 2, 3, 1000, 3600000} {
		p := (float64(i) + 0.5) / 6 * 100
		if got := small.Percentile(p); !withinResolution(got, v) {
			t.Errorf("small p%.0f = %v, want %d ms", p, got, v)
		}
	}
	if (&Histogram{}).Percentile(50) != 0 {
		t.Error("empty histogram has a percentile")
	}
}

// Where count, sum and max pin a percentile it is exact, not a bucket's middle: the
// highest rank is the max, and equal observations (a 3 s timer) are all their value.
func TestHistogramExactWherePinned(t *testing.T) {
	var timer Histogram
	for range 40 {
		timer.ObserveMs(3037) // not a bucket's middle
	}
	for _, p := range []float64{1, 50, 95, 99, 100} {
		if got := timer.Percentile(p); got != 3037*time.Millisecond {
			t.Errorf("40 waits of 3,037 ms: p%v = %v", p, got)
		}
	}
	var few Histogram
	for _, v := range []int64{1200, 2500, 3037} {
		few.ObserveMs(v)
	}
	if got := few.Percentile(99); got != 3037*time.Millisecond {
		t.Errorf("p99 of 3 observations = %v, want the max", got)
	}
	if got := few.Percentile(50); !withinResolution(got, 2500) {
		t.Errorf("p50 = %v: a bucket estimate within the resolution of 2,500 ms", got)
	}
}

func TestHistogramBucketsHoldTheirValues(t *testing.T) {
	for _, v := range []int64{1, 2, 3, 4, 5, 7, 8, 1000, 1023, 1024, 1025, 86400000, math.MaxInt32} {
		i := bucketIndex(v)
		if lo, up := upperMs(i-1), upperMs(i); !(float64(v) > lo && float64(v) <= up) {
			t.Errorf("%d ms in bucket %d (%v, %v]", v, i, lo, up)
		}
		if up, lo := upperMs(i), upperMs(i-1); i > 1 && up/lo > 1.0444 {
			t.Errorf("bucket %d is %.3f wide", i, up/lo)
		}
	}
	if bucketIndex(0) != 0 || bucketIndex(-5) != 0 {
		t.Error("zero and negative durations are not in bucket 0")
	}
}

func TestHistogramMergeAndEncode(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 5000 {
		v := rng.Int64N(100000)
		all.ObserveMs(v)
		if i%3 == 0 {
			a.ObserveMs(v)
		} else {
			b.ObserveMs(v)
		}
	}
	a.Merge(&b)
	a.Merge(nil)
	a.Merge(&Histogram{})
	if a.Encode() != all.Encode() {
		t.Fatalf("merged %+v\nwant   %+v", a.Encode(), all.Encode())
	}
	d, err := DecodeHistogram(all.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if d.Encode() != all.Encode() || d.Stats() != all.Stats() {
		t.Fatalf("decoded %+v, want %+v", d.Encode(), all.Encode())
	}
	if e := (&Histogram{}).Encode(); e != (store.HistogramData{}) {
		t.Errorf("empty histogram encodes as %+v", e)
	}
	var total int64
	for _, bk := range all.Buckets() {
		total += bk.Count
	}
	if total != all.Count {
		t.Errorf("buckets hold %d, count %d", total, all.Count)
	}
	for _, bad := range []store.HistogramData{
		{Count: 1, Buckets: "x:1"},
		{Count: 1, Buckets: "3:1 3:1"},
		{Count: 2, Buckets: "3:1"},
		{Count: 1, Buckets: "3:0 4:1"},
		{Count: 1, Buckets: "99999:1"},
		{Count: -1},
	} {
		if _, err := DecodeHistogram(bad); err == nil {
			t.Errorf("decoded %+v", bad)
		}
	}
}

func FuzzDecodeHistogram(f *testing.F) {
	f.Add(int64(3), int64(10), int64(7), "0:1 5:2")
	f.Add(int64(0), int64(0), int64(0), "")
	f.Add(int64(1), int64(1), int64(1), "1:1")
	f.Add(int64(2), int64(4), int64(3), "3:1 2:1")
	f.Add(int64(2), int64(4), int64(3), "+3:1  4:1")
	f.Fuzz(func(t *testing.T, count, sum, maxMs int64, buckets string) {
		d := store.HistogramData{Count: count, SumMs: sum, MaxMs: maxMs, Buckets: buckets}
		h, err := DecodeHistogram(d)
		// mergeData (what Report uses) accepts and reads the same data.
		var merged, want Histogram
		want.ObserveMs(7)
		merged.ObserveMs(7)
		if errM := merged.mergeData(d); (errM == nil) != (err == nil) {
			t.Fatalf("DecodeHistogram says %v, mergeData %v", err, errM)
		}
		if err != nil {
			if merged.Encode() != want.Encode() {
				t.Fatalf("a failed mergeData changed the histogram: %+v", merged.Encode())
			}
			return
		}
		want.Merge(h)
		if merged.Encode() != want.Encode() {
			t.Fatalf("mergeData gives %+v, DecodeHistogram and Merge %+v", merged.Encode(), want.Encode())
		}
		again, err := DecodeHistogram(h.Encode())
		if err != nil {
			t.Fatalf("re-decode %+v: %v", h.Encode(), err)
		}
		if again.Encode() != h.Encode() {
			t.Fatalf("not stable: %+v then %+v", h.Encode(), again.Encode())
		}
		for _, p := range []float64{1, 50, 99, 100} {
			if got := h.Percentile(p); got < 0 || got > time.Duration(maxMs)*time.Millisecond {
				t.Fatalf("p%v = %v outside [0, max %d ms]", p, got, maxMs)
			}
		}
	})
}

func TestEventData(t *testing.T) {
	cases := []struct {
		data  string
		key   string
		n     int64
		okN   bool
		s     string
		okS   bool
		field string
	}{
		{data: `{"durationMs":1234}`, key: "durationMs", n: 1234, okN: true},
		{data: `{"attempt":2,"waitMs":15}`, key: "waitMs", n: 15, okN: true},
		{data: `{"flow":"F1"}`, key: "flow", s: "F1", okS: true},
		{data: `{"flow":"a\"b"}`, key: "flow", s: `a"b`, okS: true},
		{data: `{"error":"x,\"waitMs\":9","waitMs":3}`, key: "waitMs", n: 3, okN: true},
		{data: `{"error":"{\"waitMs\":9"}`, key: "waitMs"},
		{data: `{"durationMs": 12}`, key: "durationMs", n: 12, okN: true},
		{data: `{"waitMs": 5, "durationMs": 12}`, key: "durationMs", n: 12, okN: true},
		{data: `{"flow": "F2", "x": 1}`, key: "flow", s: "F2", okS: true},
		{data: `{"durationMs":1.5e3}`, key: "durationMs"},
		{data: ``, key: "flow"},
	}
	for _, c := range cases {
		n, okN := dataInt([]byte(c.data), c.key)
		s, okS := dataString([]byte(c.data), c.key)
		if n != c.n || okN != c.okN || s != c.s || okS != c.okS {
			t.Errorf("%s %s: int %d %v, string %q %v", c.data, c.key, n, okN, s, okS)
		}
	}
}
