// Package components holds the templ components every page shares: state pills, times,
// ids, counts, empty states, the pager and the diagram slot. Each has golden HTML in
// testdata/ (go test -update rewrites it).
package components

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Relative formats t relative to now the way app.js does ("3m ago", "in 2h").
func Relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	s := int64(d.Round(time.Second) / time.Second)
	var out string
	switch {
	case s < 5:
		return "just now"
	case s < 60:
		out = strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		out = strconv.FormatInt(s/60, 10) + "m"
	case s < 86400:
		out = strconv.FormatInt(s/3600, 10) + "h"
	default:
		out = strconv.FormatInt(s/86400, 10) + "d"
	}
	if future {
		return "in " + out
	}
	return out + " ago"
}

// Absolute is the full timestamp shown in a time's title, in UTC so that every operator
// reads the same value.
func Absolute(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") }

// Duration formats a duration compactly: "850ms", "12.4s", "3m 05s", "2h 10m", "3d 4h".
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "–"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Bounded is a count read with a cap: N means exactly N, Capped means "at least N".
type Bounded struct {
	N      int
	Capped bool
}

func (b Bounded) String() string {
	if b.Capped {
		return strconv.Itoa(b.N) + "+"
	}
	return strconv.Itoa(b.N)
}

// StateLabel is the word shown in a state pill.
func StateLabel(state string) string {
	switch state {
	case "":
		return "unknown"
	case "joining":
		return "waiting to join"
	}
	return state
}

// nounCount is "1 job type" or "3 job types".
func nounCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func unservedText(t UnservedType) string {
	text := nounCount(t.Jobs, "job waits", "jobs wait")
	if t.Jobs == 0 {
		text = "used by a service task, no job waits yet"
	}
	if attr, value, ok := bpmn.JobTypeOrigin(t.Type); ok {
		text += fmt.Sprintf(" (the task's %s %s: Cockpit runs no Java, register a handler or worker for this type)", attr, Clip(value, CellChars))
	}
	return text
}
