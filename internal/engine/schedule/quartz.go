package schedule

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Quartz extensions of cron lines, as Camunda 7 (Quartz) and Zeebe (Spring) write them and
// robfig/cron does not read: an optional seventh field for the year, and in the day
// fields "L" (last day of the month, or with a weekday, its last such day), "L-n" (n days
// before the last), "nW" (the weekday nearest day n), "LW" (the last weekday) and "d#n"
// (the n-th weekday d of the month). robfig/cron parses the line with the special day
// field read as "*", and a filter keeps only the times on matching days and years.
//
// robfig/cron stays the parser (it reads the cron texts already stored in timer jobs the
// same way, with its time zone prefix and descriptors); adhocore/gronx, which reads these
// forms too, parses the line again on every call and gives up after 500 steps, which a
// leap-day schedule reaches.

// maxFilterSteps bounds the search for the next time of a filtered schedule: each step
// skips at least to the next day (or year), so this is more than five years of days, as
// far as robfig/cron itself looks.
const maxFilterSteps = 6 * 366

// quartz is a cron line with its Quartz extensions: the robfig schedule of the line
// without them, and the filter of the days and years they allow.
type quartz struct {
	base  cron.Schedule
	day   func(t time.Time) bool // nil: every day the base allows
	years map[int]bool           // nil: every year
}

// Next returns the first time after t that the schedule allows, or the zero time when
// there is none within maxFilterSteps.
func (q *quartz) Next(t time.Time) time.Time {
	for range maxFilterSteps {
		next := q.base.Next(t)
		if next.IsZero() {
			return next
		}
		orig := next
		// Days and years are those of the schedule's zone (a CRON_TZ prefix), which
		// robfig/cron evaluates in but answers in t's location.
		if ss, ok := q.base.(*cron.SpecSchedule); ok && ss.Location != time.Local {
			next = next.In(ss.Location)
		}
		switch {
		case q.years != nil && !q.years[next.Year()]:
			// Skip to the end of that year.
			t = time.Date(next.Year()+1, 1, 1, 0, 0, 0, 0, next.Location()).Add(-time.Second)
		case q.day != nil && !q.day(next):
			y, m, d := next.Date()
			t = time.Date(y, m, d+1, 0, 0, 0, 0, next.Location()).Add(-time.Second)
		default:
			return orig
		}
	}
	return time.Time{}
}

// parseQuartz parses a cron line that uses the Quartz extensions, or returns nil, nil
// when it uses none (robfig/cron then parses it alone). prefix is a time zone prefix
// ("CRON_TZ=Europe/Berlin "), fields the rest split on spaces.
func parseQuartz(prefix string, fields []string) (cron.Schedule, error) {
	if len(fields) != 6 && len(fields) != 7 {
		return nil, nil
	}
	var years map[int]bool
	if len(fields) == 7 {
		var err error
		if years, err = parseYears(fields[6]); err != nil {
			return nil, err
		}
		fields = fields[:6]
	}
	dom, dow := fields[3], fields[5]
	var day func(time.Time) bool
	switch {
	case strings.ContainsAny(dom, "LW"):
		if dow != "?" && dow != "*" {
			return nil, fmt.Errorf("day of month %q needs \"?\" as the day of week", dom)
		}
		f, err := domFilter(dom)
		if err != nil {
			return nil, err
		}
		day, fields[3] = f, "*"
	case strings.ContainsAny(dow, "L#"):
		if dom != "?" && dom != "*" {
			return nil, fmt.Errorf("day of week %q needs \"?\" as the day of month", dow)
		}
		f, err := dowFilter(dow)
		if err != nil {
			return nil, err
		}
		day, fields[5] = f, "*"
	}
	if day == nil && years == nil {
		return nil, nil
	}
	base, err := cron.NewParser(cronOptions).Parse(prefix + strings.Join(fields, " "))
	if err != nil {
		return nil, err
	}
	return &quartz{base: base, day: day, years: years}, nil
}

func lastDay(t time.Time) int {
	y, m, _ := t.Date()
	return time.Date(y, m+1, 0, 0, 0, 0, 0, t.Location()).Day()
}

// weekdayNear is the day of t's month that is a weekday nearest to day d (Quartz's "dW":
// never crossing into another month).
func weekdayNear(t time.Time, d int) int {
	last := lastDay(t)
	if d > last {
		d = last
	}
	y, m, _ := t.Date()
	switch time.Date(y, m, d, 0, 0, 0, 0, t.Location()).Weekday() {
	case time.Saturday:
		if d == 1 {
			return 3 // Monday the 3rd
		}
		return d - 1
	case time.Sunday:
		if d == last {
			return d - 2 // Friday
		}
		return d + 1
	}
	return d
}

// domFilter reads a day-of-month field with L or W: "L", "L-n", "LW", "nW".
func domFilter(f string) (func(time.Time) bool, error) {
	switch {
	case f == "L":
		return func(t time.Time) bool { return t.Day() == lastDay(t) }, nil
	case f == "LW":
		return func(t time.Time) bool { return t.Day() == weekdayNear(t, lastDay(t)) }, nil
	case strings.HasPrefix(f, "L-"):
		n, err := strconv.Atoi(f[2:])
		if err != nil || n < 0 || n > 30 {
			return nil, fmt.Errorf("day of month %q: want L-n with n from 0 to 30", f)
		}
		return func(t time.Time) bool { return t.Day() == lastDay(t)-n }, nil
	case strings.HasSuffix(f, "W"):
		d, err := strconv.Atoi(strings.TrimSuffix(f, "W"))
		if err != nil || d < 1 || d > 31 {
			return nil, fmt.Errorf("day of month %q: want nW with n from 1 to 31", f)
		}
		return func(t time.Time) bool { return t.Day() == weekdayNear(t, d) }, nil
	}
	return nil, fmt.Errorf("day of month %q: L and W are accepted as L, L-n, LW and nW only", f)
}

var weekdayNames = map[string]time.Weekday{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

// weekday reads a day of week as the rest of the line numbers it: 0-7 from Sunday (0 and
// 7 both Sunday), or a name.
func weekday(s string) (time.Weekday, error) {
	if d, ok := weekdayNames[strings.ToUpper(s)]; ok {
		return d, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 7 {
		return 0, fmt.Errorf("day of week %q: want 0-7 (0 and 7 are Sunday) or SUN-SAT", s)
	}
	return time.Weekday(n % 7), nil
}

// dowFilter reads a day-of-week field with L or #: "L" (Saturday, as in Quartz), "dL"
// (the last day d of the month), "d#n" (the n-th day d of the month).
func dowFilter(f string) (func(time.Time) bool, error) {
	if f == "L" {
		return func(t time.Time) bool { return t.Weekday() == time.Saturday }, nil
	}
	if ds, ok := strings.CutSuffix(f, "L"); ok {
		d, err := weekday(ds)
		if err != nil {
			return nil, err
		}
		return func(t time.Time) bool { return t.Weekday() == d && t.Day()+7 > lastDay(t) }, nil
	}
	ds, ns, ok := strings.Cut(f, "#")
	if !ok {
		return nil, fmt.Errorf("day of week %q: L and # are accepted as L, dL and d#n only", f)
	}
	d, err := weekday(ds)
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > 5 {
		return nil, fmt.Errorf("day of week %q: want d#n with n from 1 to 5", f)
	}
	return func(t time.Time) bool { return t.Weekday() == d && (t.Day()-1)/7+1 == n }, nil
}

// Years a Quartz year field may name (Quartz's own bounds).
const minYear, lastYear = 1970, 2199

// parseYears reads the year field: "*", "?", a year, a range "a-b", a step "a/n" or
// "a-b/n", or a list of these; nil means every year.
func parseYears(f string) (map[int]bool, error) {
	if f == "*" || f == "?" {
		return nil, nil
	}
	years := map[int]bool{}
	for _, part := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			s, err := strconv.Atoi(stepText)
			if err != nil || s < 1 {
				return nil, fmt.Errorf("year %q: the step must be a positive number", part)
			}
			step = s
		}
		lo, hi := minYear, lastYear
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = strconv.Atoi(a); err != nil {
				return nil, fmt.Errorf("year %q is not a year", part)
			}
			hi = lo
			if isRange {
				if hi, err = strconv.Atoi(b); err != nil {
					return nil, fmt.Errorf("year %q is not a range of years", part)
				}
			} else if hasStep {
				hi = lastYear
			}
		}
		if lo < minYear || hi > lastYear || lo > hi {
			return nil, fmt.Errorf("year %q: want years from %d to %d", part, minYear, lastYear)
		}
		for y := lo; y <= hi; y += step {
			years[y] = true
		}
	}
	return years, nil
}
