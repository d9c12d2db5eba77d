package schedule

import (
	"testing"
	"time"
)

func TestQuartzCron(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		line string
		from string
		want []string
	}{
		// Camunda 7's every five minutes, seconds first and "?".
		{"0 0/5 * * * ?", "2026-03-10T10:02:00Z", []string{"2026-03-10T10:05:00Z", "2026-03-10T10:10:00Z"}},
		// Last day of the month, at noon: February of a leap year, then March.
		{"0 0 12 L * ?", "2028-02-01T00:00:00Z", []string{"2028-02-29T12:00:00Z", "2028-03-31T12:00:00Z"}},
		// Two days before the last.
		{"0 0 12 L-2 * ?", "2026-04-01T00:00:00Z", []string{"2026-04-28T12:00:00Z"}},
		// The weekday nearest the 15th: 2026-08-15 is a Saturday, so Friday the 14th;
		// 2026-11-15 a Sunday, so Monday the 16th.
		{"0 0 9 15W * ?", "2026-08-01T00:00:00Z", []string{"2026-08-14T09:00:00Z", "2026-09-15T09:00:00Z", "2026-10-15T09:00:00Z", "2026-11-16T09:00:00Z"}},
		// 1W on a Saturday the 1st is Monday the 3rd, not the last day of the month before.
		{"0 0 9 1W * ?", "2026-07-31T00:00:00Z", []string{"2026-08-03T09:00:00Z"}},
		// Last weekday: 2026-05-31 is a Sunday, so Friday the 29th.
		{"0 0 18 LW * ?", "2026-05-01T00:00:00Z", []string{"2026-05-29T18:00:00Z"}},
		// Third Friday of the month.
		{"0 0 10 ? * FRI#3", "2026-01-01T00:00:00Z", []string{"2026-01-16T10:00:00Z", "2026-02-20T10:00:00Z"}},
		// Last Friday of the month (5L, numbered from Sunday = 0 as the rest of the line).
		{"0 0 10 ? * 5L", "2026-01-01T00:00:00Z", []string{"2026-01-30T10:00:00Z", "2026-02-27T10:00:00Z"}},
		// A year field.
		{"0 0 0 1 1 ? 2028-2030/2", "2026-06-01T00:00:00Z", []string{"2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z"}},
		// Every second on the last day: the search skips whole days, not seconds.
		{"* * * L * ?", "2026-06-01T00:00:00Z", []string{"2026-06-30T00:00:00Z", "2026-06-30T00:00:01Z"}},
		// A time zone prefix: the last day of the month in Auckland.
		{"CRON_TZ=Pacific/Auckland 0 0 0 L * ?", "2026-06-01T00:00:00Z", []string{"2026-06-29T12:00:00Z"}},
	}
	for _, tt := range tests {
		tm, err := ParseTimer(KindCycle, tt.line)
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if tm.String() != tt.line {
			t.Errorf("%q: String() = %q", tt.line, tm.String())
		}
		due, ok := tm.First(at(tt.from))
		for i, w := range tt.want {
			if !ok || !due.Equal(at(w)) {
				t.Errorf("%q from %s: time %d = %v (%v), want %s", tt.line, tt.from, i, due, ok, w)
				break
			}
			due, _, ok = tm.Next(due)
		}
	}
	// After the last year, nothing.
	tm, err := ParseTimer(KindCycle, "0 0 0 1 1 ? 2027")
	if err != nil {
		t.Fatal(err)
	}
	if due, ok := tm.First(at("2027-06-01T00:00:00Z")); ok {
		t.Errorf("a past year fires at %v", due)
	}
	for _, bad := range []string{
		"0 0 12 L * MON", "0 0 12 ? * 5#6", "0 0 12 32W * ?", "0 0 12 L-40 * ?", "0 0 12 ? * 9L",
		"0 0 0 1 1 ? 1800", "0 0 0 1 1 ? 2030-2028", "0 0 12 1 * FRI#2", "0 0 12 LX * ?",
	} {
		if _, err := ParseTimer(KindCycle, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
