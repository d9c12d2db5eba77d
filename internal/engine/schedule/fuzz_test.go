package schedule

import (
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"P1D", "PT10S", "PT1.5S", "P1Y2M3DT4H5M6S", "P2W", "PT0,5S", "P1X", "PT", "P999999999Y", "PT2562047H", "pt1m"} {
		f.Add(s)
	}
	from := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != (Duration{}) {
				t.Fatalf("ParseDuration(%q) failed but returned %+v", s, d)
			}
			return
		}
		again, err := ParseDuration(d.String())
		if err != nil || again != d {
			t.Fatalf("ParseDuration(%q) = %+v; String %q reparses to %+v, %v", s, d, d.String(), again, err)
		}
		if d.ToDuration() < 0 {
			t.Fatalf("ToDuration(%q) = %v", s, d.ToDuration())
		}
		if d.AddTo(from).Before(from) {
			t.Fatalf("AddTo(%q) goes back in time", s)
		}
	})
}

func FuzzParseTimer(f *testing.F) {
	for _, seed := range [][2]string{
		{"duration", "PT10S"}, {"date", "2026-01-02T10:00:00Z"}, {"date", "2026-01-02"},
		{"cycle", "R5/PT10S"}, {"cycle", "R/PT1H"}, {"cycle", "R3/2026-01-01T10:00:00Z/PT1H"},
		{"cycle", "0 0 12 * * ?"}, {"cycle", "*/5 * * * *"}, {"cycle", "@daily"}, {"cycle", "@every 1m"},
		{"cycle", "CRON_TZ=UTC 0 * * * *"}, {"cycle", "TZ=UTC"}, {"cycle", "R0/P1M"}, {"cycle", "R/2026-01-01T00:00:00Z/P9000Y"},
	} {
		f.Add(seed[0], seed[1])
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind, text string) {
		tm, err := ParseTimer(kind, text)
		if err != nil {
			return
		}
		// The stored text must give the same timer back.
		again, err := ParseTimer(tm.Kind(), tm.String())
		if err != nil || again.String() != tm.String() {
			t.Fatalf("ParseTimer(%q, %q): String %q reparses to %q, %v", kind, text, tm.String(), again.String(), err)
		}
		due, ok := tm.First(now)
		for i := 0; ok && i < 3; i++ {
			var next time.Time
			next, rest, more := tm.Next(due)
			if more {
				if !next.After(due) {
					t.Fatalf("%s %q: Next(%v) = %v, not later", kind, text, due, next)
				}
				if r := rest.Remaining(); r != -1 && r >= tm.Remaining() {
					t.Fatalf("%s %q: remaining %d after %d", kind, text, r, tm.Remaining())
				}
				if _, err := ParseTimer(rest.Kind(), rest.String()); err != nil {
					t.Fatalf("%s %q: rest %q does not parse: %v", kind, text, rest.String(), err)
				}
			}
			_, _, _ = tm.NextAfter(due, due.Add(time.Hour))
			due, tm, ok = next, rest, more
		}
	})
}
