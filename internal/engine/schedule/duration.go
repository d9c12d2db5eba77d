package schedule

import (
	"math"
	"strconv"
	"strings"
	"time"
)

const whatDuration = "ISO 8601 duration"

// Duration is an ISO 8601 duration. Years, months, weeks and days are
// calendar units, applied with [Duration.AddTo]; the other fields are
// fixed lengths of time. All fields are non-negative.
type Duration struct {
	Years, Months, Weeks, Days int
	Hours, Minutes, Seconds    int
	// Nanos is the fraction of a second, 0 to 999999999.
	Nanos int
}

// maxDigits bounds each number so that no arithmetic on it can overflow.
const maxDigits = 9

// designators in the order ISO 8601 requires; the date part comes first.
const (
	dateDesignators = "YMWD"
	timeDesignators = "HMS"
)

// ParseDuration parses an ISO 8601 duration such as "PT10S" or
// "P1Y2M3DT4H5M6.5S". See the package documentation for the rules.
func ParseDuration(s string) (Duration, error) {
	text := strings.TrimSpace(s)
	fail := func(format string, args ...any) (Duration, error) {
		return Duration{}, syntaxErr(whatDuration, s, format, args...)
	}
	if text == "" {
		return fail("empty")
	}
	if text[0] != 'P' && text[0] != 'p' {
		if text[0] == '-' || text[0] == '+' {
			return fail("signed durations are not supported")
		}
		return fail("must start with 'P'")
	}

	var d Duration
	rest := text[1:]
	inTime := false
	order := dateDesignators // designators still allowed in this part
	components := 0
	for rest != "" {
		if rest[0] == 'T' || rest[0] == 't' {
			if inTime {
				return fail("repeated 'T'")
			}
			inTime, order, rest = true, timeDesignators, rest[1:]
			if rest == "" {
				return fail("'T' must be followed by hours, minutes or seconds")
			}
			continue
		}
		// A number: digits, optionally a fraction.
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		intPart := rest[:i]
		frac := ""
		if i < len(rest) && (rest[i] == '.' || rest[i] == ',') {
			j := i + 1
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			frac, i = rest[i+1:j], j
			if frac == "" {
				return fail("missing digits after the decimal separator")
			}
		}
		if intPart == "" {
			if i == len(rest) {
				return fail("unexpected %q", rest)
			}
			if frac == "" {
				return fail("missing number before %q", rest[i:i+1])
			}
			intPart = "0" // ".5S", lenient as java.time is
		}
		if i == len(rest) {
			return fail("number %s has no designator", rest)
		}
		des := upper(rest[i])
		number := rest[:i]
		rest = rest[i+1:]

		pos := strings.IndexByte(order, des)
		if pos < 0 {
			switch {
			case !inTime && strings.IndexByte(timeDesignators, des) >= 0 && des != 'M':
				return fail("designator '%c' must follow 'T'", des)
			case inTime && strings.IndexByte(dateDesignators, des) >= 0 && des != 'M':
				return fail("designator '%c' must come before 'T'", des)
			case strings.IndexByte(dateDesignators+timeDesignators, des) >= 0:
				return fail("designator '%c' out of order or repeated", des)
			}
			return fail("unknown designator '%c'", des)
		}
		order = order[pos+1:]
		if frac != "" && !(inTime && des == 'S') {
			return fail("only seconds may have a fraction, not '%c'", des)
		}
		if len(strings.TrimLeft(intPart, "0")) > maxDigits {
			return fail("number %s is too large", number)
		}
		n, _ := strconv.Atoi(intPart) // digits only, at most 9 significant
		switch {
		case !inTime && des == 'Y':
			d.Years = n
		case !inTime && des == 'M':
			d.Months = n
		case des == 'W':
			d.Weeks = n
		case des == 'D':
			d.Days = n
		case des == 'H':
			d.Hours = n
		case des == 'M':
			d.Minutes = n
		case des == 'S':
			d.Seconds = n
			if len(frac) > 9 {
				return fail("fraction %s has more than 9 digits", number)
			}
			d.Nanos, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		}
		components++
	}
	if components == 0 {
		return fail("no components")
	}
	if _, ok := d.clock(); !ok {
		return fail("time part exceeds 2562047 hours (about 292 years)")
	}
	return d, nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// clock returns the hours, minutes and seconds as a time.Duration, and
// false if they do not fit.
func (d Duration) clock() (time.Duration, bool) {
	// Each field has at most 9 digits, so this sum fits in an int64.
	secs := int64(d.Hours)*3600 + int64(d.Minutes)*60 + int64(d.Seconds)
	if secs > (math.MaxInt64-int64(d.Nanos))/int64(time.Second) {
		return 0, false
	}
	return time.Duration(secs)*time.Second + time.Duration(d.Nanos), true
}

// IsZero reports whether every component is zero.
func (d Duration) IsZero() bool { return d == Duration{} }

// AddTo returns t plus d. Years, months, weeks and days are added with
// time.Time.AddDate, in t's location; the rest as a fixed time.Duration.
func (d Duration) AddTo(t time.Time) time.Time {
	c, _ := d.clock() // ParseDuration guarantees it fits
	return t.AddDate(d.Years, d.Months, 7*d.Weeks+d.Days).Add(c)
}

// ToDuration approximates d as a time.Duration, counting a year as 365
// days, a month as 30 and a day as 24 hours. It saturates at the largest
// time.Duration. Use it for display and retry delays, not for timers.
func (d Duration) ToDuration() time.Duration {
	const day = 24 * int64(time.Hour)
	total, ok := d.clock()
	if !ok {
		return math.MaxInt64
	}
	days := int64(d.Years)*365 + int64(d.Months)*30 + int64(d.Weeks)*7 + int64(d.Days)
	if days > (math.MaxInt64-int64(total))/day {
		return math.MaxInt64
	}
	return time.Duration(days*day) + total
}

// String returns the canonical ISO 8601 form, such as "P1DT1.5S"; the
// zero Duration is "PT0S". ParseDuration of it gives d back.
func (d Duration) String() string {
	if d.IsZero() {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteByte('P')
	part := func(n int, des byte) {
		if n != 0 {
			b.WriteString(strconv.Itoa(n))
			b.WriteByte(des)
		}
	}
	part(d.Years, 'Y')
	part(d.Months, 'M')
	part(d.Weeks, 'W')
	part(d.Days, 'D')
	if d.Hours != 0 || d.Minutes != 0 || d.Seconds != 0 || d.Nanos != 0 {
		b.WriteByte('T')
		part(d.Hours, 'H')
		part(d.Minutes, 'M')
		if d.Seconds != 0 || d.Nanos != 0 {
			b.WriteString(strconv.Itoa(d.Seconds))
			if d.Nanos != 0 {
				b.WriteByte('.')
				b.WriteString(strings.TrimRight(strconv.Itoa(1e9 + d.Nanos)[1:], "0"))
			}
			b.WriteByte('S')
		}
	}
	return b.String()
}
