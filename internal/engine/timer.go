package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/schedule"
)

// Timers written as expressions: Camunda 7 writes "${dueDate}" or
// "R3/${interval}"-style text only as a whole expression, Zeebe "=…" (FEEL). The
// expression is evaluated when a token arrives at the timer (a start timer: when the
// process is deployed, without variables), and its value is the timer's text. A value that
// is not a timer of the event's kind opens an incident naming the timer.

// isTimerExpression reports whether a timer's text is an expression rather than ISO 8601
// or cron text (which never start with "=", "${" or "#{").
func isTimerExpression(text string) bool {
	t := strings.TrimSpace(text)
	return strings.HasPrefix(t, "=") || strings.HasPrefix(t, "${") || strings.HasPrefix(t, "#{")
}

// timerText renders an evaluated timer expression as timer text: a string as it is, a
// date-time in RFC 3339, a duration in ISO 8601 seconds.
func timerText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	case time.Duration:
		if x <= 0 {
			return "", fmt.Errorf("the duration %s is not positive", x)
		}
		return "PT" + strconv.FormatFloat(x.Seconds(), 'f', -1, 64) + "S", nil
	}
	return "", fmt.Errorf("the value %s is not a timer text (an ISO 8601 date, duration or cycle, or a cron line)", describe(v))
}

func describe(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%v (%T)", v, v)
}

// timerSpec is the timer of node n for this instance: its literal text, or the value of
// its expression over the instance's variables.
func (r *run) timerSpec(n *node) (schedule.Timer, string, error) {
	text := strings.TrimSpace(n.timerText)
	if n.timerExpr != nil {
		v, err := n.timerExpr.EvalIn(r.budget, r.values)
		if err != nil {
			return schedule.Timer{}, n.timerText, err
		}
		if text, err = timerText(v); err != nil {
			return schedule.Timer{}, n.timerText, fmt.Errorf("expression %q: %w", n.timerText, err)
		}
	}
	spec, err := schedule.ParseTimer(n.timerKind, text)
	if err == nil {
		err = spec.CheckInterval()
	}
	return spec, text, err
}
