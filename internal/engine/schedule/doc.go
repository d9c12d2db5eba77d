// Package schedule parses the time specifications of BPMN timers and the
// retry policies of jobs, and computes due times from them.
//
// The package keeps no state and never reads the clock: every computation
// takes the current time as an argument, so the engine can inject its
// clock and tests need not wait. Parsed values are immutable and safe for
// concurrent use. Syntax errors are *SyntaxError values naming the text and
// what is wrong with it, for example
//
//	schedule: invalid ISO 8601 duration "P1X": unknown designator 'X'
//
// # Durations
//
// [ParseDuration] reads ISO 8601 durations PnYnMnWnDTnHnMnS: "P1D",
// "PT10S", "PT1.5S", "P1Y2M3DT4H5M6S", "P2W". Designators must appear in
// that order, each at most once, with at least one present; "T" separates
// the date part from the time part and must be followed by a time
// component. Only seconds may have a fraction (up to 9 digits, "." or ","),
// as in java.time. Designators may be lower case. Signs are not accepted.
// Each number has at most 9 digits and the time part must fit in a
// time.Duration (about 292 years).
//
// Years, months, weeks and days are calendar units: [Duration.AddTo] adds
// them with time.Time.AddDate, so P1M from 31 January lands on 2 or 3
// March, and P1D across a daylight-saving change in the time's location
// is 23 or 25 hours. [Duration.ToDuration] approximates them (a year is
// 365 days, a month 30) for display and retry delays only.
//
// # Date-times
//
// [ParseDate] reads "2026-01-02T10:00:00Z", "2026-01-02T10:00:00+02:00",
// "2026-01-02T10:00:00.5Z", "2026-01-02T10:00" (no seconds) and the date
// alone, "2026-01-02" (midnight). Without an offset the time is UTC. Zone
// names such as "[Europe/Berlin]" and week or ordinal dates are not
// accepted.
//
// # Timers
//
// [ParseTimer] takes the kind of a BPMN timer definition and its text:
//
//   - "duration" (timeDuration): an ISO 8601 duration, due that long after
//     the time the timer is created.
//   - "date" (timeDate): an ISO 8601 date-time, due then (at once if it is
//     already past).
//   - "cycle" (timeCycle): either an ISO 8601 repeating interval or a cron
//     expression, described below.
//
// ISO 8601 repeating intervals are "Rn/duration" or "Rn/start/duration":
// "R5/PT10S" fires five times, ten seconds apart, the first ten seconds
// after the timer is created; "R/PT1H" fires every hour without end;
// "R3/2026-01-01T10:00:00Z/PT1H" fires at 10:00, 11:00 and 12:00. R0 never
// fires. The interval must not be zero. The forms "Rn/start/end" and
// "Rn/duration/end" are not accepted. [Timer.CheckInterval] tells a cycle
// that repeats more often than [MinCycleInterval] (one second), which the
// engine refuses at deployment.
//
// Anything else is a cron expression, parsed by github.com/robfig/cron/v3:
// five fields (minute hour day-of-month month day-of-week), or six with a
// leading seconds field as Camunda and Zeebe write them ("0 0/5 * * * ?");
// "?" means "*"; names such as MON-FRI and JAN are accepted; numeric
// days of the week run 0-6 from Sunday (Quartz numbers them 1-7, so prefer
// names). The descriptors @yearly, @annually, @monthly, @weekly, @daily,
// @midnight, @hourly and "@every <Go duration>" are accepted, and a
// "CRON_TZ=Europe/Berlin " prefix evaluates the schedule in that zone (the
// zone database must be available where the engine runs). Without a
// prefix the schedule is evaluated in the location of the times passed to
// it, normally UTC.
//
// Quartz's extensions, which Camunda 7 and Zeebe accept, are read too: a
// seventh field for the year ("2027", "2027-2030", "2028/2", lists; 1970 to
// 2199), and in the day of month "L" (the last day), "L-n" (n days before
// it), "nW" (the weekday nearest day n, within the month) and "LW" (the last
// weekday); in the day of week "L" (Saturday), "dL" (the last day d of the
// month) and "d#n" (the n-th day d: "FRI#3"). The other day field must then
// be "?" (or "*"). Numeric days of the week keep the numbering above.
//
// # Persisting timers
//
// A [Timer] is stored as its kind ([Timer.Kind]) and text ([Timer.String]),
// with the due time beside them; [ParseTimer] of the two gives the timer
// back. The text always describes the firings still to come, the pending
// one included:
//
//	t, _ := schedule.ParseTimer("cycle", "R3/PT10S")
//	due, _ := t.First(now)          // store kind, t.String() = "R3/PT10S", due
//	// ... the job fires at due ...
//	next, rest, ok := t.Next(due)   // store kind, rest.String() = "R2/PT10S", next
//
// For a cycle with a start, the rest starts at the next occurrence
// ("R3/2026-01-01T10:00:00Z/PT1H" fired once is
// "R2/2026-01-01T11:00:00Z/PT1H"), so its First is exact after a restart.
// Unbounded cycles without a start ("R/PT1H") and cron expressions are
// unchanged by firing.
//
// [Timer.Next] steps from the previous due time, not from when the job ran,
// so a late executor does not shift the schedule; it also returns
// occurrences missed while the engine was down. [Timer.NextAfter] skips
// them instead, as Zeebe does: an overdue occurrence is moved a whole
// interval past now.
//
// # Retry policies
//
// [ParseBackoff] reads the retry policy of a job (Camunda's
// failedJobRetryTimeCycle and similar):
//
//   - "" is [DefaultBackoff]: 3 retries, 10 seconds apart ("R3/PT10S").
//   - "R3" is 3 retries with the default 10 second delay.
//   - "R3/PT10S" is 3 retries, 10 seconds apart.
//   - "PT5S,PT1M,PT10M" is one retry per listed delay, in order; should the
//     engine retry more often, the last delay repeats. A single duration
//     "PT30S" is a list of one.
//   - "R5/PT1S/exp" is 5 retries with exponential delays: 1s, 2s, 4s, ...,
//     capped at one hour; "R5/PT1S/exp/PT5M" caps them at 5 minutes.
//
// Delays use [Duration.ToDuration], so calendar units are approximate.
// [ParseRetries] reads a bare retry count, "R3" or "3".
package schedule
