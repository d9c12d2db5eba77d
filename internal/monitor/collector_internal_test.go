package monitor

import (
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestClosedBefore: a day is closed an hour after it ended, counted from the first event
// still to fold when the projector lags (or from now when that event's time is ahead).
func TestClosedBefore(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	noon := day.Add(12 * time.Hour)
	for _, tc := range []struct {
		name string
		now  time.Time
		next time.Time
		want time.Time
	}{
		{"caught up", noon, time.Time{}, day},
		{"just after midnight", day.Add(30 * time.Minute), time.Time{}, day.AddDate(0, 0, -1)},
		{"an hour after midnight", day.Add(time.Hour), time.Time{}, day},
		{"lagging a day", noon, day.Add(-19 * time.Hour), day.AddDate(0, 0, -1)},
		{"lagging into the day before", noon, day.AddDate(0, 0, -1).Add(30 * time.Minute), day.AddDate(0, 0, -2)},
		{"next ahead of now", noon, noon.Add(time.Hour), day},
		{"local time", noon.In(time.FixedZone("UTC+14", 14*3600)), time.Time{}, day},
	} {
		if got := closedBefore(tc.now, store.MetricsState{Next: tc.next}); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
