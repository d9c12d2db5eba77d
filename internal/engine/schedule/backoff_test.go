package schedule

import (
	"errors"
	"testing"
	"time"
)

func TestParseBackoff(t *testing.T) {
	t.Parallel()
	const s, m = time.Second, time.Minute
	tests := []struct {
		in      string
		retries int
		delays  []time.Duration // for attempts 1, 2, ...
		canon   string
	}{
		{"", 3, []time.Duration{10 * s, 10 * s, 10 * s, 10 * s}, "R3/PT10S"},
		{"R3", 3, []time.Duration{10 * s, 10 * s}, "R3/PT10S"},
		{"R3/PT10S", 3, []time.Duration{10 * s, 10 * s, 10 * s}, "R3/PT10S"},
		{"R0/PT10S", 0, []time.Duration{10 * s}, "R0/PT10S"},
		{" R05/PT1M ", 5, []time.Duration{m}, "R5/PT1M"},
		{"PT5S,PT1M,PT10M", 3, []time.Duration{5 * s, m, 10 * m, 10 * m, 10 * m}, "PT5S,PT1M,PT10M"},
		{"PT5S, PT1M , PT10M", 3, []time.Duration{5 * s, m, 10 * m}, "PT5S,PT1M,PT10M"},
		{"PT30S", 1, []time.Duration{30 * s, 30 * s}, "PT30S"},
		{"P1D", 1, []time.Duration{24 * time.Hour}, "P1D"},
		{"R5/PT1S/exp", 5, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s}, "R5/PT1S/exp"},
		{"R5/PT1S/exp/PT5M", 5, []time.Duration{s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 5 * m, 5 * m}, "R5/PT1S/exp/PT5M"},
		{"R10/PT10M/EXP", 10, []time.Duration{10 * m, 20 * m, 40 * m, time.Hour, time.Hour}, "R10/PT10M/exp"},
		{"R2/PT2H/exp/PT1H", 2, []time.Duration{time.Hour, time.Hour}, "R2/PT2H/exp/PT1H"},
		{"R2/PT0S/exp", 2, []time.Duration{0, 0}, "R2/PT0S/exp"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			b, err := ParseBackoff(tt.in)
			if err != nil {
				t.Fatalf("ParseBackoff: %v", err)
			}
			if b.Retries() != tt.retries {
				t.Errorf("Retries() = %d, want %d", b.Retries(), tt.retries)
			}
			for i, want := range tt.delays {
				if got := b.Delay(i + 1); got != want {
					t.Errorf("Delay(%d) = %v, want %v", i+1, got, want)
				}
			}
			if b.String() != tt.canon {
				t.Errorf("String() = %q, want %q", b.String(), tt.canon)
			}
			again, err := ParseBackoff(b.String())
			if err != nil || again.String() != b.String() || again.Retries() != b.Retries() {
				t.Errorf("reparse %q = %v, %v", b.String(), again, err)
			}
		})
	}
}

func TestBackoffDelayEdges(t *testing.T) {
	t.Parallel()
	exp, _ := ParseBackoff("R5/PT1S/exp")
	if got := exp.Delay(0); got != time.Second {
		t.Errorf("Delay(0) = %v, want 1s", got)
	}
	if got := exp.Delay(1 << 30); got != DefaultMaxDelay {
		t.Errorf("Delay(huge) = %v, want %v", got, DefaultMaxDelay)
	}
	if got := exp.Delay(64); got != DefaultMaxDelay {
		t.Errorf("Delay(64) = %v, want %v", got, DefaultMaxDelay)
	}
	var zero Backoff
	if zero.Retries() != 0 || zero.Delay(1) != 0 {
		t.Errorf("zero Backoff: %d retries, delay %v", zero.Retries(), zero.Delay(1))
	}
	if d := DefaultBackoff(); d.Retries() != DefaultRetries || d.Delay(1) != DefaultRetryDelay || d.String() != "R3/PT10S" {
		t.Errorf("DefaultBackoff() = %q", d)
	}
}

func TestParseBackoffErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"R/PT10S", `schedule: invalid retry policy "R/PT10S": retries must be counted, as in R3`},
		{"Rx/PT10S", `schedule: invalid retry policy "Rx/PT10S": count "x" is not a number`},
		{"R3/P1X", `schedule: invalid retry policy "R3/P1X": invalid ISO 8601 duration "P1X": unknown designator 'X'`},
		{"PT5S,,PT1M", `schedule: invalid retry policy "PT5S,,PT1M": empty delay in the list`},
		{"PT5S,soon", `schedule: invalid retry policy "PT5S,soon": invalid ISO 8601 duration "soon": must start with 'P'`},
		{"R3/PT1S/lin", `schedule: invalid retry policy "R3/PT1S/lin": want Rn, Rn/delay, Rn/base/exp, Rn/base/exp/max or a list of delays`},
		{"R3/PT1S/exp/x", `schedule: invalid retry policy "R3/PT1S/exp/x": invalid ISO 8601 duration "x": must start with 'P'`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseBackoff(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseBackoff error = %v (%T), want *SyntaxError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n       want %q", err, tt.want)
			}
		})
	}
}

func TestParseRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"R3", 3, true}, {"3", 3, true}, {" R0 ", 0, true}, {"R", 0, false}, {"", 0, false}, {"three", 0, false}, {"R-1", 0, false},
	} {
		got, err := ParseRetries(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseRetries(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
