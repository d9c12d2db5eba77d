package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Timer kinds, as the BPMN timer event definitions name them.
const (
	KindDuration = "duration" // timeDuration
	KindDate     = "date"     // timeDate
	KindCycle    = "cycle"    // timeCycle
)

const whatCycle = "timer cycle"

// unbounded is the repetition count of "R/...".
const unbounded = -1

// cronOptions accept five fields, or six with leading seconds, and the
// @ descriptors.
const cronOptions = cron.SecondOptional | cron.Minute | cron.Hour |
	cron.Dom | cron.Month | cron.Dow | cron.Descriptor

// Timer is a parsed BPMN timer definition: a duration, a date, or a cycle
// (ISO 8601 repeating interval or cron expression). The zero Timer never
// fires. A Timer is immutable; firing a cycle yields a new Timer for the
// rest of it (see [Timer.Next]).
type Timer struct {
	kind string

	// Duration timers, and the interval of ISO cycles.
	dur Duration
	// Date timers, and the start of ISO cycles when hasStart.
	at       time.Time
	hasStart bool
	// ISO cycles: firings still to come, the pending one included, or
	// unbounded.
	repeat int

	// Cron cycles: the schedule and its text, trimmed.
	cron     cron.Schedule
	cronText string
}

// ParseTimer parses the text of a timer definition of the given kind:
// KindDuration, KindDate or KindCycle. See the package documentation for
// the formats.
func ParseTimer(kind, text string) (Timer, error) {
	switch kind {
	case KindDuration:
		d, err := ParseDuration(text)
		if err != nil {
			return Timer{}, err
		}
		return Timer{kind: kind, dur: d}, nil
	case KindDate:
		t, err := ParseDate(text)
		if err != nil {
			return Timer{}, err
		}
		return Timer{kind: kind, at: t}, nil
	case KindCycle:
		return parseCycle(text)
	}
	return Timer{}, syntaxErr("timer kind", kind, "want %q, %q or %q", KindDuration, KindDate, KindCycle)
}

func parseCycle(s string) (Timer, error) {
	text := strings.TrimSpace(s)
	switch {
	case text == "":
		return Timer{}, syntaxErr(whatCycle, s, "empty")
	case text[0] == 'R':
		return parseRepeating(s, text)
	case text[0] == 'P':
		return Timer{}, syntaxErr(whatCycle, s, "a duration needs a repetition prefix such as R/ or R5/ to be a cycle")
	}
	return parseCron(s, text)
}

// parseRepeating parses "Rn/duration" and "Rn/start/duration".
func parseRepeating(s, text string) (Timer, error) {
	parts := strings.Split(text, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return Timer{}, syntaxErr(whatCycle, s, "want Rn/duration or Rn/start/duration")
	}
	repeat, err := parseCount(parts[0], true)
	if err != nil {
		return Timer{}, syntaxErr(whatCycle, s, "%v", err)
	}
	t := Timer{kind: KindCycle, repeat: repeat}
	durText := parts[len(parts)-1]
	if len(parts) == 3 {
		if p := strings.TrimSpace(parts[1]); p != "" && (p[0] == 'P' || p[0] == 'p') {
			return Timer{}, syntaxErr(whatCycle, s, "the form Rn/duration/end is not supported")
		}
		if t.at, err = ParseDate(parts[1]); err != nil {
			return Timer{}, nested(whatCycle, s, err)
		}
		t.hasStart = true
	}
	if t.dur, err = ParseDuration(durText); err != nil {
		if _, dateErr := ParseDate(durText); dateErr == nil {
			return Timer{}, syntaxErr(whatCycle, s, "the form Rn/start/end is not supported")
		}
		return Timer{}, nested(whatCycle, s, err)
	}
	if t.dur.IsZero() {
		return Timer{}, syntaxErr(whatCycle, s, "the interval must not be zero")
	}
	return t, nil
}

// parseCount parses "R", "Rn" and, unless requireR, "n". "R" alone is
// unbounded.
func parseCount(s string, requireR bool) (int, error) {
	digits, hasR := strings.CutPrefix(s, "R")
	if requireR && !hasR {
		return 0, fmt.Errorf("repetitions %q must start with R", s)
	}
	if digits == "" {
		if !hasR {
			return 0, fmt.Errorf("missing count")
		}
		return unbounded, nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("count %q is not a number", digits)
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > 1<<31-1 {
		return 0, fmt.Errorf("count %s is too large", digits)
	}
	return n, nil
}

func parseCron(s, text string) (t Timer, err error) {
	// robfig/cron slices past a "TZ=" prefix without checking that a
	// space follows, and panics; report that here instead.
	if strings.HasPrefix(text, "TZ=") || strings.HasPrefix(text, "CRON_TZ=") {
		if !strings.Contains(text, " ") {
			return Timer{}, syntaxErr(whatCycle, s, "cron: time zone prefix must be followed by a schedule")
		}
	}
	defer func() {
		if r := recover(); r != nil {
			t, err = Timer{}, syntaxErr(whatCycle, s, "cron: %v", r)
		}
	}()
	prefix, spec := "", text
	if strings.HasPrefix(text, "TZ=") || strings.HasPrefix(text, "CRON_TZ=") {
		zone, rest, _ := strings.Cut(text, " ")
		prefix, spec = zone+" ", rest
	}
	sched, err := parseQuartz(prefix, strings.Fields(spec))
	if err == nil && sched == nil {
		sched, err = cron.NewParser(cronOptions).Parse(text)
	}
	if err != nil {
		return Timer{}, &SyntaxError{What: whatCycle, Text: s, Msg: "cron: " + err.Error(), Err: err}
	}
	return Timer{kind: KindCycle, cron: sched, cronText: text}, nil
}

// maxYear bounds due times: later ones cannot be written back in ISO 8601
// (nor stored in most databases), so a timer due after it never fires.
const maxYear = 9999

// dueAt reports t as a due time, or not at all if it lies beyond maxYear.
func dueAt(t time.Time) (time.Time, bool) {
	if t.Year() > maxYear {
		return time.Time{}, false
	}
	return t, true
}

// cronDue is dueAt for robfig/cron, which returns the zero time when the
// schedule has no time in the next five years.
func cronDue(t time.Time) (time.Time, bool) {
	if t.IsZero() {
		return time.Time{}, false
	}
	return dueAt(t)
}

// Kind returns KindDuration, KindDate or KindCycle, or "" for the zero
// Timer.
func (t Timer) Kind() string { return t.kind }

// String returns the text of the firings still to come, the pending one
// included; ParseTimer(t.Kind(), t.String()) gives t back. Dates are
// written in RFC 3339 with their offset.
func (t Timer) String() string {
	switch {
	case t.kind == KindDuration:
		return t.dur.String()
	case t.kind == KindDate:
		return t.at.Format(time.RFC3339Nano)
	case t.cron != nil:
		return t.cronText
	case t.kind == KindCycle:
		var b strings.Builder
		b.WriteByte('R')
		if t.repeat != unbounded {
			b.WriteString(strconv.Itoa(t.repeat))
		}
		b.WriteByte('/')
		if t.hasStart {
			b.WriteString(t.at.Format(time.RFC3339Nano))
			b.WriteByte('/')
		}
		b.WriteString(t.dur.String())
		return b.String()
	}
	return ""
}

// Remaining returns how many firings are still to come, the pending one
// included, or -1 for an unbounded or cron cycle.
func (t Timer) Remaining() int {
	switch {
	case t.kind == KindDuration || t.kind == KindDate:
		return 1
	case t.cron != nil:
		return unbounded
	case t.kind == KindCycle:
		return t.repeat
	}
	return 0
}

// First returns when the timer is first due, given the current time. A
// date, or the start of a cycle, that is already past is returned as it
// is: the timer is due at once. ok is false if the timer never fires (a
// zero Timer, R0, a cron expression with no time in the next five years,
// or a due time after the year 9999).
func (t Timer) First(now time.Time) (due time.Time, ok bool) {
	switch {
	case t.kind == KindDuration:
		return dueAt(t.dur.AddTo(now))
	case t.kind == KindDate:
		return dueAt(t.at)
	case t.cron != nil:
		return cronDue(t.cron.Next(now))
	case t.kind == KindCycle:
		if t.repeat == 0 {
			return time.Time{}, false
		}
		if t.hasStart {
			return dueAt(t.at)
		}
		return dueAt(t.dur.AddTo(now))
	}
	return time.Time{}, false
}

// Next is called after the timer fired at its due time prev. It returns
// when it is next due and the Timer for the firings still to come, that
// one included. ok is false when the timer is done: always for durations
// and dates, after the last repetition of a bounded cycle.
//
// Pass the due time, not the time the job ran, so that late execution
// does not shift the schedule. The result may lie in the past if firings
// were missed; see NextAfter to skip them.
func (t Timer) Next(prev time.Time) (next time.Time, rest Timer, ok bool) {
	switch {
	case t.cron != nil:
		if next, ok = cronDue(t.cron.Next(prev)); !ok {
			return time.Time{}, Timer{}, false
		}
		return next, t, true
	case t.kind == KindCycle:
		if t.repeat != unbounded && t.repeat <= 1 {
			return time.Time{}, Timer{}, false
		}
		return t.advance(t.dur.AddTo(prev))
	}
	return time.Time{}, Timer{}, false
}

// NextAfter is Next, except that an occurrence at or before now is not
// returned: a cron cycle continues with its first time after now, an ISO
// cycle is re-anchored one interval after now (as Zeebe does). Missed
// occurrences do not use up repetitions.
func (t Timer) NextAfter(prev, now time.Time) (next time.Time, rest Timer, ok bool) {
	switch {
	case t.cron != nil:
		if now.After(prev) {
			prev = now
		}
		return t.Next(prev)
	case t.kind == KindCycle:
		if t.repeat != unbounded && t.repeat <= 1 {
			return time.Time{}, Timer{}, false
		}
		next = t.dur.AddTo(prev)
		if !next.After(now) {
			next = t.dur.AddTo(now)
		}
		return t.advance(next)
	}
	return time.Time{}, Timer{}, false
}

// advance returns the rest of an ISO cycle whose next firing is at next.
func (t Timer) advance(next time.Time) (time.Time, Timer, bool) {
	if _, ok := dueAt(next); !ok {
		return time.Time{}, Timer{}, false
	}
	rest := t
	if rest.repeat != unbounded {
		rest.repeat--
	}
	if rest.hasStart {
		// Anchor the rest at its next firing, so that its text alone
		// gives the due time after a restart.
		rest.at = next
	}
	return next, rest, true
}

// MinCycleInterval is the shortest interval at which a timer cycle may repeat. A cycle
// that fires more often ("R/PT0.001S") starts instances or fires boundary events faster
// than anyone can follow, and keeps a node busy for nothing; a cron expression cannot
// repeat more often than every second anyway. The engine refuses shorter cycles when a
// model is deployed or validated ([Timer.CheckInterval]); cycles already stored still
// run.
const MinCycleInterval = time.Second

// ErrCycleTooShort is wrapped by the error of [Timer.CheckInterval].
var ErrCycleTooShort = errors.New("timer cycle repeats too often")

// CheckInterval returns an error wrapping ErrCycleTooShort, naming the limit, when t is a
// cycle that repeats more often than MinCycleInterval, and nil otherwise. Cron schedules
// have a resolution of one second; "@every <duration>" is checked as written, although the
// cron library would run a shorter one every second.
func (t Timer) CheckInterval() error {
	if t.kind != KindCycle {
		return nil
	}
	every := time.Duration(0)
	switch {
	case t.cron != nil:
		spec := t.cronText
		if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
			_, spec, _ = strings.Cut(spec, " ")
			spec = strings.TrimSpace(spec)
		}
		rest, ok := strings.CutPrefix(spec, "@every ")
		if !ok {
			return nil
		}
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return nil // the cron parser accepted it; it runs every second at most
		}
		every = d
	default:
		every = t.dur.ToDuration()
	}
	if every < MinCycleInterval {
		return fmt.Errorf("schedule: timer cycle %q repeats every %s, more often than the minimum of once every %s: %w",
			t.String(), every, MinCycleInterval, ErrCycleTooShort)
	}
	return nil
}
