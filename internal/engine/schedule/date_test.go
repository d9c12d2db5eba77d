package schedule

import (
	"errors"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("", 2*3600)
	tests := []struct {
		in   string
		want time.Time
		off  int // seconds east of UTC of the result
	}{
		{"2026-01-02T10:00:00Z", date(2026, 1, 2, 10, 0, 0), 0},
		{"2026-01-02T10:00:00z", date(2026, 1, 2, 10, 0, 0), 0},
		{"2026-01-02T10:00:00+02:00", time.Date(2026, 1, 2, 10, 0, 0, 0, plus2), 7200},
		{"2026-01-02T10:00:00-05:30", date(2026, 1, 2, 15, 30, 0), -19800},
		{"2026-01-02T10:00:00.5Z", date(2026, 1, 2, 10, 0, 0).Add(500 * time.Millisecond), 0},
		{"2026-01-02T10:00:00,25", date(2026, 1, 2, 10, 0, 0).Add(250 * time.Millisecond), 0},
		{"2026-01-02T10:00:00", date(2026, 1, 2, 10, 0, 0), 0},
		{"2026-01-02T10:00", date(2026, 1, 2, 10, 0, 0), 0},
		{"2026-01-02T10:00Z", date(2026, 1, 2, 10, 0, 0), 0},
		{"2026-01-02", date(2026, 1, 2, 0, 0, 0), 0},
		{" 2026-01-02 ", date(2026, 1, 2, 0, 0, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDate(tt.in)
			if err != nil {
				t.Fatalf("ParseDate: %v", err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("ParseDate = %v, want %v", got, tt.want)
			}
			if _, off := got.Zone(); off != tt.off {
				t.Errorf("offset = %d, want %d", off, tt.off)
			}
		})
	}
}

func TestParseDateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", `schedule: invalid ISO 8601 date-time "": empty`},
		{"tomorrow", `schedule: invalid ISO 8601 date-time "tomorrow": cannot parse "tomorrow" as year`},
		{"2026-13-01", `schedule: invalid ISO 8601 date-time "2026-13-01": month out of range`},
		{"2026-02-30", `schedule: invalid ISO 8601 date-time "2026-02-30": day out of range`},
		{"2026-01-02T25:00:00Z", `schedule: invalid ISO 8601 date-time "2026-01-02T25:00:00Z": hour out of range`},
		{"2026-01-02T10:00:00+2", `schedule: invalid ISO 8601 date-time "2026-01-02T10:00:00+2": cannot parse "+2" as UTC offset (Z or ±hh:mm)`},
		{"2026-01-02 10:00:00", `schedule: invalid ISO 8601 date-time "2026-01-02 10:00:00": extra text: " 10:00:00"`},
		{"2026-1-2", `schedule: invalid ISO 8601 date-time "2026-1-2": cannot parse "1-2" as month`},
		{"2026-01-02T10:00:00Z[Europe/Berlin]", `schedule: invalid ISO 8601 date-time "2026-01-02T10:00:00Z[Europe/Berlin]": extra text: "[Europe/Berlin]"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDate(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseDate error = %v (%T), want *SyntaxError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n       want %q", err, tt.want)
			}
		})
	}
}
