package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// firing is one step of a timer's life as the engine drives it.
type firing struct {
	due  time.Time
	text string // the text the engine stores for the pending firing
}

// run drives a timer the way the engine does: First, then Next from each
// due time, reparsing the stored text at every step as after a restart.
func run(t *testing.T, kind, text string, now time.Time, max int) []firing {
	t.Helper()
	tm, err := ParseTimer(kind, text)
	if err != nil {
		t.Fatalf("ParseTimer(%q, %q): %v", kind, text, err)
	}
	due, ok := tm.First(now)
	var out []firing
	for ok && len(out) < max {
		out = append(out, firing{due, tm.String()})
		reloaded, err := ParseTimer(tm.Kind(), tm.String())
		if err != nil {
			t.Fatalf("reparse %q: %v", tm.String(), err)
		}
		due, tm, ok = reloaded.Next(due)
	}
	return out
}

func TestTimerFirings(t *testing.T) {
	t.Parallel()
	now := date(2026, 1, 1, 9, 30, 0)
	tests := []struct {
		kind, text string
		want       []firing
	}{
		{"duration", "PT10S", []firing{{date(2026, 1, 1, 9, 30, 10), "PT10S"}}},
		{"duration", "P1M", []firing{{date(2026, 2, 1, 9, 30, 0), "P1M"}}},
		{"date", "2026-01-02T10:00:00Z", []firing{{date(2026, 1, 2, 10, 0, 0), "2026-01-02T10:00:00Z"}}},
		{"date", "2026-01-02", []firing{{date(2026, 1, 2, 0, 0, 0), "2026-01-02T00:00:00Z"}}},
		{"date", "2020-01-01T00:00:00+01:00", []firing{{date(2019, 12, 31, 23, 0, 0), "2020-01-01T00:00:00+01:00"}}},
		{"cycle", "R3/PT10S", []firing{
			{date(2026, 1, 1, 9, 30, 10), "R3/PT10S"},
			{date(2026, 1, 1, 9, 30, 20), "R2/PT10S"},
			{date(2026, 1, 1, 9, 30, 30), "R1/PT10S"},
		}},
		{"cycle", " R1/PT1.5S ", []firing{{now.Add(1500 * time.Millisecond), "R1/PT1.5S"}}},
		{"cycle", "R0/PT10S", nil},
		{"cycle", "R/PT1H", []firing{
			{date(2026, 1, 1, 10, 30, 0), "R/PT1H"},
			{date(2026, 1, 1, 11, 30, 0), "R/PT1H"},
			{date(2026, 1, 1, 12, 30, 0), "R/PT1H"},
		}},
		{"cycle", "R3/2026-01-01T10:00:00Z/PT1H", []firing{
			{date(2026, 1, 1, 10, 0, 0), "R3/2026-01-01T10:00:00Z/PT1H"},
			{date(2026, 1, 1, 11, 0, 0), "R2/2026-01-01T11:00:00Z/PT1H"},
			{date(2026, 1, 1, 12, 0, 0), "R1/2026-01-01T12:00:00Z/PT1H"},
		}},
		{"cycle", "R/2026-01-31T00:00:00Z/P1M", []firing{
			{date(2026, 1, 31, 0, 0, 0), "R/2026-01-31T00:00:00Z/P1M"},
			{date(2026, 3, 3, 0, 0, 0), "R/2026-03-03T00:00:00Z/P1M"},
			{date(2026, 4, 3, 0, 0, 0), "R/2026-04-03T00:00:00Z/P1M"},
		}},
		{"cycle", "0 0 12 * * ?", []firing{ // Zeebe/Spring: seconds first
			{date(2026, 1, 1, 12, 0, 0), "0 0 12 * * ?"},
			{date(2026, 1, 2, 12, 0, 0), "0 0 12 * * ?"},
		}},
		{"cycle", "*/15 * * * *", []firing{
			{date(2026, 1, 1, 9, 45, 0), "*/15 * * * *"},
			{date(2026, 1, 1, 10, 0, 0), "*/15 * * * *"},
		}},
		{"cycle", "0 0/5 * * * ?", []firing{
			{date(2026, 1, 1, 9, 35, 0), "0 0/5 * * * ?"},
			{date(2026, 1, 1, 9, 40, 0), "0 0/5 * * * ?"},
		}},
		{"cycle", "0 9 * * MON-FRI", []firing{ // 1 Jan 2026 is a Thursday
			{date(2026, 1, 2, 9, 0, 0), "0 9 * * MON-FRI"},
			{date(2026, 1, 5, 9, 0, 0), "0 9 * * MON-FRI"},
		}},
		{"cycle", "@daily", []firing{
			{date(2026, 1, 2, 0, 0, 0), "@daily"},
			{date(2026, 1, 3, 0, 0, 0), "@daily"},
		}},
		{"cycle", "@every 90s", []firing{
			{date(2026, 1, 1, 9, 31, 30), "@every 90s"},
			{date(2026, 1, 1, 9, 33, 0), "@every 90s"},
		}},
		{"cycle", "0 0 30 2 *", nil}, // 30 February never comes
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.text, func(t *testing.T) {
			t.Parallel()
			// One more than wanted, to prove that bounded timers end.
			got := run(t, tt.kind, tt.text, now, len(tt.want)+1)
			if tm, _ := ParseTimer(tt.kind, tt.text); tm.Remaining() == -1 && len(got) > len(tt.want) {
				got = got[:len(tt.want)]
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d firings %v, want %d %v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if !got[i].due.Equal(tt.want[i].due) || got[i].text != tt.want[i].text {
					t.Errorf("firing %d = %v %q, want %v %q", i, got[i].due, got[i].text, tt.want[i].due, tt.want[i].text)
				}
			}
		})
	}
}

func TestTimerEnds(t *testing.T) {
	t.Parallel()
	now := date(2026, 1, 1, 0, 0, 0)
	for _, tc := range []struct{ kind, text string }{
		{"duration", "PT1S"}, {"date", "2026-01-01"}, {"cycle", "R1/PT1S"}, {"cycle", "R2/PT1S"},
	} {
		tm, err := ParseTimer(tc.kind, tc.text)
		if err != nil {
			t.Fatal(err)
		}
		due, ok := tm.First(now)
		n := 0
		for ok {
			n++
			if n > 10 {
				t.Fatalf("%s %s does not end", tc.kind, tc.text)
			}
			var next time.Time
			next, tm, ok = tm.Next(due)
			if ok && !next.After(due) {
				t.Fatalf("%s %s: next %v not after %v", tc.kind, tc.text, next, due)
			}
			due = next
		}
		if want := max(1, int(tc.text[1]-'0')); tc.kind == "cycle" && n != want {
			t.Errorf("%s fired %d times, want %d", tc.text, n, want)
		}
	}
	var zero Timer
	if _, ok := zero.First(now); ok {
		t.Error("zero Timer fires")
	}
	if zero.String() != "" || zero.Kind() != "" || zero.Remaining() != 0 {
		t.Errorf("zero Timer: %q %q %d", zero.String(), zero.Kind(), zero.Remaining())
	}
}

func TestTimerRemaining(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, text string
		want       int
	}{
		{"duration", "PT1S", 1}, {"date", "2026-01-01", 1}, {"cycle", "R5/PT1S", 5},
		{"cycle", "R/PT1S", -1}, {"cycle", "@hourly", -1}, {"cycle", "R0/PT1S", 0},
	} {
		tm, err := ParseTimer(tc.kind, tc.text)
		if err != nil {
			t.Fatal(err)
		}
		if got := tm.Remaining(); got != tc.want {
			t.Errorf("%s Remaining() = %d, want %d", tc.text, got, tc.want)
		}
	}
}

func TestTimerNextAfter(t *testing.T) {
	t.Parallel()
	// The engine was down from 10:00 to 13:20; the job was due at 10:00.
	prev, now := date(2026, 1, 1, 10, 0, 0), date(2026, 1, 1, 13, 20, 0)
	tests := []struct {
		text     string
		wantNext time.Time
		wantRest string
	}{
		{"R5/PT1H", date(2026, 1, 1, 14, 20, 0), "R4/PT1H"},
		{"R/2026-01-01T10:00:00Z/PT1H", date(2026, 1, 1, 14, 20, 0), "R/2026-01-01T14:20:00Z/PT1H"},
		{"R/PT4H", date(2026, 1, 1, 14, 0, 0), "R/PT4H"}, // not overdue: kept
		{"0 * * * *", date(2026, 1, 1, 14, 0, 0), "0 * * * *"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			tm, err := ParseTimer("cycle", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			next, rest, ok := tm.NextAfter(prev, now)
			if !ok || !next.Equal(tt.wantNext) || rest.String() != tt.wantRest {
				t.Errorf("NextAfter = %v %q %v, want %v %q", next, rest.String(), ok, tt.wantNext, tt.wantRest)
			}
		})
	}
	once, _ := ParseTimer("duration", "PT1S")
	if _, _, ok := once.NextAfter(prev, now); ok {
		t.Error("duration timer fires again")
	}
	last, _ := ParseTimer("cycle", "R1/PT1S")
	if _, _, ok := last.NextAfter(prev, now); ok {
		t.Error("R1 fires again")
	}
}

func TestParseTimerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ kind, text, want string }{
		{"cron", "R/PT1S", `schedule: invalid timer kind "cron": want "duration", "date" or "cycle"`},
		{"duration", "P1X", `schedule: invalid ISO 8601 duration "P1X": unknown designator 'X'`},
		{"date", "soon", `schedule: invalid ISO 8601 date-time "soon": cannot parse "soon" as year`},
		{"cycle", "", `schedule: invalid timer cycle "": empty`},
		{"cycle", "PT10S", `schedule: invalid timer cycle "PT10S": a duration needs a repetition prefix such as R/ or R5/ to be a cycle`},
		{"cycle", "R5/P1X", `schedule: invalid timer cycle "R5/P1X": invalid ISO 8601 duration "P1X": unknown designator 'X'`},
		{"cycle", "R5", `schedule: invalid timer cycle "R5": want Rn/duration or Rn/start/duration`},
		{"cycle", "Rx/PT1S", `schedule: invalid timer cycle "Rx/PT1S": count "x" is not a number`},
		{"cycle", "R-1/PT1S", `schedule: invalid timer cycle "R-1/PT1S": count "-1" is not a number`},
		{"cycle", "R99999999999/PT1S", `schedule: invalid timer cycle "R99999999999/PT1S": count 99999999999 is too large`},
		{"cycle", "R/PT0S", `schedule: invalid timer cycle "R/PT0S": the interval must not be zero`},
		{"cycle", "R3/2026-13-01T00:00:00Z/PT1H", `schedule: invalid timer cycle "R3/2026-13-01T00:00:00Z/PT1H": invalid ISO 8601 date-time "2026-13-01T00:00:00Z": month out of range`},
		{"cycle", "R3/PT1H/2026-01-01T00:00:00Z", `schedule: invalid timer cycle "R3/PT1H/2026-01-01T00:00:00Z": the form Rn/duration/end is not supported`},
		{"cycle", "R3/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z", `schedule: invalid timer cycle "R3/2026-01-01T00:00:00Z/2026-01-02T00:00:00Z": the form Rn/start/end is not supported`},
		{"cycle", "R3/a/b/c", `schedule: invalid timer cycle "R3/a/b/c": want Rn/duration or Rn/start/duration`},
		{"cycle", "* * *", `schedule: invalid timer cycle "* * *": cron: expected 5 to 6 fields, found 3: [* * *]`},
		{"cycle", "0 0 0 * * ? 2026 1", `schedule: invalid timer cycle "0 0 0 * * ? 2026 1": cron: expected 5 to 6 fields, found 8: [0 0 0 * * ? 2026 1]`},
		{"cycle", "61 * * * *", `schedule: invalid timer cycle "61 * * * *": cron: end of range (61) above maximum (59): 61`},
		{"cycle", "@fortnightly", `schedule: invalid timer cycle "@fortnightly": cron: unrecognized descriptor: @fortnightly`},
		{"cycle", "CRON_TZ=UTC", `schedule: invalid timer cycle "CRON_TZ=UTC": cron: time zone prefix must be followed by a schedule`},
		{"cycle", "TZ=Nowhere/Land 0 * * * *", ""},
	}
	for _, tt := range tests {
		t.Run(tt.kind+" "+tt.text, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTimer(tt.kind, tt.text)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseTimer error = %v (%T), want *SyntaxError", err, err)
			}
			if tt.want != "" && err.Error() != tt.want {
				t.Errorf("error = %q\n       want %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "schedule: invalid ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestCronTimeZone(t *testing.T) {
	t.Parallel()
	if _, err := time.LoadLocation("Europe/Berlin"); err != nil {
		t.Skipf("no zone database: %v", err)
	}
	tm, err := ParseTimer("cycle", "CRON_TZ=Europe/Berlin 0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	due, ok := tm.First(date(2026, 1, 1, 0, 0, 0))
	if want := date(2026, 1, 1, 8, 0, 0); !ok || !due.Equal(want) {
		t.Errorf("First = %v %v, want %v (09:00 CET)", due, ok, want)
	}
	if tm.String() != "CRON_TZ=Europe/Berlin 0 9 * * *" {
		t.Errorf("String = %q", tm.String())
	}
}

func TestCheckInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, text string
		short      bool
	}{
		{KindCycle, "R/PT1S", false},
		{KindCycle, "R5/PT10S", false},
		{KindCycle, "R/P1D", false},
		{KindCycle, "R/PT0.999S", true},
		{KindCycle, "R/PT0.001S", true},
		{KindCycle, "R3/2026-01-01T10:00:00Z/PT0.5S", true},
		{KindCycle, "* * * * * *", false}, // every second: the cron resolution
		{KindCycle, "0 0/5 * * * ?", false},
		{KindCycle, "@every 1s", false},
		{KindCycle, "@every 1ms", true},
		{KindCycle, "CRON_TZ=UTC @every 10ms", true},
		{KindCycle, "@hourly", false},
		// One-shot timers have no interval.
		{KindDuration, "PT0S", false},
		{KindDuration, "PT0.001S", false},
		{KindDate, "2026-01-01T10:00:00Z", false},
	}
	for _, tt := range tests {
		tm, err := ParseTimer(tt.kind, tt.text)
		if err != nil {
			t.Fatalf("%s %q: %v", tt.kind, tt.text, err)
		}
		err = tm.CheckInterval()
		if errors.Is(err, ErrCycleTooShort) != tt.short {
			t.Errorf("%s %q: CheckInterval = %v, want too short %v", tt.kind, tt.text, err, tt.short)
		}
		if tt.short && !strings.Contains(err.Error(), "minimum of once every 1s") {
			t.Errorf("%q: the error does not name the limit: %v", tt.text, err)
		}
	}
}
