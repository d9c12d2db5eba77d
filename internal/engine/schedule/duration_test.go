package schedule

import (
	"errors"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   Duration
		approx time.Duration
		canon  string
	}{
		{"P1D", Duration{Days: 1}, 24 * time.Hour, "P1D"},
		{"PT10S", Duration{Seconds: 10}, 10 * time.Second, "PT10S"},
		{"PT1.5S", Duration{Seconds: 1, Nanos: 5e8}, 1500 * time.Millisecond, "PT1.5S"},
		{"PT0,25S", Duration{Nanos: 25e7}, 250 * time.Millisecond, "PT0.25S"},
		{"PT.5S", Duration{Nanos: 5e8}, 500 * time.Millisecond, "PT0.5S"},
		{"PT0.000000001S", Duration{Nanos: 1}, 1, "PT0.000000001S"},
		{"P1Y2M3DT4H5M6S", Duration{Years: 1, Months: 2, Days: 3, Hours: 4, Minutes: 5, Seconds: 6},
			(365+60+3)*24*time.Hour + 4*time.Hour + 5*time.Minute + 6*time.Second, "P1Y2M3DT4H5M6S"},
		{"P2W", Duration{Weeks: 2}, 14 * 24 * time.Hour, "P2W"},
		{"P1Y2M3W4D", Duration{Years: 1, Months: 2, Weeks: 3, Days: 4}, (365 + 60 + 21 + 4) * 24 * time.Hour, "P1Y2M3W4D"},
		{"PT1M", Duration{Minutes: 1}, time.Minute, "PT1M"},
		{"P1M", Duration{Months: 1}, 30 * 24 * time.Hour, "P1M"},
		{"PT90M", Duration{Minutes: 90}, 90 * time.Minute, "PT90M"},
		{"P0D", Duration{}, 0, "PT0S"},
		{"PT0S", Duration{}, 0, "PT0S"},
		{"  pt10s\n", Duration{Seconds: 10}, 10 * time.Second, "PT10S"},
		{"P0001D", Duration{Days: 1}, 24 * time.Hour, "P1D"},
		{"PT2562047H", Duration{Hours: 2562047}, 2562047 * time.Hour, "PT2562047H"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration = %+v, want %+v", got, tt.want)
			}
			if d := got.ToDuration(); d != tt.approx {
				t.Errorf("ToDuration = %v, want %v", d, tt.approx)
			}
			if s := got.String(); s != tt.canon {
				t.Errorf("String = %q, want %q", s, tt.canon)
			}
		})
	}
}

func TestParseDurationErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"P1X", `schedule: invalid ISO 8601 duration "P1X": unknown designator 'X'`},
		{"", `schedule: invalid ISO 8601 duration "": empty`},
		{"1D", `schedule: invalid ISO 8601 duration "1D": must start with 'P'`},
		{"-P1D", `schedule: invalid ISO 8601 duration "-P1D": signed durations are not supported`},
		{"P", `schedule: invalid ISO 8601 duration "P": no components`},
		{"PT", `schedule: invalid ISO 8601 duration "PT": 'T' must be followed by hours, minutes or seconds`},
		{"P1", `schedule: invalid ISO 8601 duration "P1": number 1 has no designator`},
		{"PTS", `schedule: invalid ISO 8601 duration "PTS": missing number before "S"`},
		{"P1D2Y", `schedule: invalid ISO 8601 duration "P1D2Y": designator 'Y' out of order or repeated`},
		{"P1D1D", `schedule: invalid ISO 8601 duration "P1D1D": designator 'D' out of order or repeated`},
		{"P1H", `schedule: invalid ISO 8601 duration "P1H": designator 'H' must follow 'T'`},
		{"PT1D", `schedule: invalid ISO 8601 duration "PT1D": designator 'D' must come before 'T'`},
		{"PT1H2H", `schedule: invalid ISO 8601 duration "PT1H2H": designator 'H' out of order or repeated`},
		{"PT1HT1M", `schedule: invalid ISO 8601 duration "PT1HT1M": repeated 'T'`},
		{"PT1.5M", `schedule: invalid ISO 8601 duration "PT1.5M": only seconds may have a fraction, not 'M'`},
		{"P1.5D", `schedule: invalid ISO 8601 duration "P1.5D": only seconds may have a fraction, not 'D'`},
		{"PT1.S", `schedule: invalid ISO 8601 duration "PT1.S": missing digits after the decimal separator`},
		{"PT0.1234567891S", `schedule: invalid ISO 8601 duration "PT0.1234567891S": fraction 0.1234567891 has more than 9 digits`},
		{"P1234567890D", `schedule: invalid ISO 8601 duration "P1234567890D": number 1234567890 is too large`},
		{"PT2562048H", `schedule: invalid ISO 8601 duration "PT2562048H": time part exceeds 2562047 hours (about 292 years)`},
		{"P1D ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseDuration(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseDuration: %v", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseDuration error = %v (%T), want *SyntaxError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\n       want %q", err, tt.want)
			}
			if se.Text != tt.in {
				t.Errorf("Text = %q, want %q", se.Text, tt.in)
			}
		})
	}
}

func TestDurationAddTo(t *testing.T) {
	t.Parallel()
	berlin := time.FixedZone("CET", 3600) // fixed, so the test needs no tzdata
	tests := []struct {
		d    string
		from time.Time
		want time.Time
	}{
		{"P1D", date(2026, 1, 31, 10, 0, 0), date(2026, 2, 1, 10, 0, 0)},
		{"P1M", date(2026, 1, 31, 10, 0, 0), date(2026, 3, 3, 10, 0, 0)}, // AddDate normalises 31 Feb
		{"P1Y", date(2024, 2, 29, 0, 0, 0), date(2025, 3, 1, 0, 0, 0)},
		{"P1Y2M3DT4H5M6.5S", date(2026, 1, 1, 0, 0, 0), date(2027, 3, 4, 4, 5, 6).Add(500 * time.Millisecond)},
		{"P2W", date(2026, 12, 25, 0, 0, 0), date(2027, 1, 8, 0, 0, 0)},
		{"PT36H", date(2026, 1, 1, 0, 0, 0), date(2026, 1, 2, 12, 0, 0)},
		{"P1D", time.Date(2026, 3, 28, 12, 0, 0, 0, berlin), time.Date(2026, 3, 29, 12, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.d+" from "+tt.from.String(), func(t *testing.T) {
			t.Parallel()
			d, err := ParseDuration(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.AddTo(tt.from); !got.Equal(tt.want) {
				t.Errorf("AddTo = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDurationAddToDST(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no zone database: %v", err)
	}
	// 29 March 2026 has 23 hours in Berlin: P1D keeps the wall clock,
	// PT24H does not.
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, loc)
	day, _ := ParseDuration("P1D")
	hours, _ := ParseDuration("PT24H")
	if got, want := day.AddTo(from), time.Date(2026, 3, 29, 12, 0, 0, 0, loc); !got.Equal(want) {
		t.Errorf("P1D: %v, want %v", got, want)
	}
	if got, want := hours.AddTo(from), time.Date(2026, 3, 29, 13, 0, 0, 0, loc); !got.Equal(want) {
		t.Errorf("PT24H: %v, want %v", got, want)
	}
}

func TestToDurationSaturates(t *testing.T) {
	t.Parallel()
	d, err := ParseDuration("P999999999Y")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.ToDuration(); got != time.Duration(1<<63-1) {
		t.Errorf("ToDuration = %v, want the maximum", got)
	}
}

func date(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, time.UTC)
}
