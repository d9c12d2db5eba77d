package schedule

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

const whatBackoff = "retry policy"

const (
	// DefaultRetries is the number of retries of DefaultBackoff.
	DefaultRetries = 3
	// DefaultRetryDelay is the delay of DefaultBackoff, and of "Rn".
	DefaultRetryDelay = 10 * time.Second
	// DefaultMaxDelay caps exponential delays when the policy names no cap.
	DefaultMaxDelay = time.Hour
)

// Backoff is a retry policy: how many times a failed job is retried and
// how long to wait before each retry. The zero Backoff retries never and
// waits 0. Backoff is immutable.
type Backoff struct {
	retries int
	// delays are the fixed delays in order, the last repeating; nil for
	// exponential policies.
	delays []time.Duration
	// base and max of exponential policies.
	base, max time.Duration
	// spec is the canonical text, for String.
	spec string
}

// DefaultBackoff returns the policy used when a model names none: 3
// retries, 10 seconds apart ("R3/PT10S").
func DefaultBackoff() Backoff {
	return Backoff{
		retries: DefaultRetries,
		delays:  []time.Duration{DefaultRetryDelay},
		spec:    "R3/PT10S",
	}
}

// ParseBackoff parses a retry policy: "", "R3", "R3/PT10S",
// "PT5S,PT1M,PT10M", "R5/PT1S/exp" or "R5/PT1S/exp/PT5M". See the package
// documentation.
func ParseBackoff(s string) (Backoff, error) {
	text := strings.TrimSpace(s)
	fail := func(format string, args ...any) (Backoff, error) {
		return Backoff{}, syntaxErr(whatBackoff, s, format, args...)
	}
	duration := func(part string) (Duration, error) {
		d, err := ParseDuration(part)
		if err != nil {
			return Duration{}, nested(whatBackoff, s, err)
		}
		return d, nil
	}

	if text == "" {
		return DefaultBackoff(), nil
	}
	if text[0] != 'R' {
		// A list of delays, possibly of one.
		parts := strings.Split(text, ",")
		b := Backoff{retries: len(parts)}
		specs := make([]string, len(parts))
		for i, p := range parts {
			if strings.TrimSpace(p) == "" {
				return fail("empty delay in the list")
			}
			d, err := duration(p)
			if err != nil {
				return Backoff{}, err
			}
			b.delays = append(b.delays, d.ToDuration())
			specs[i] = d.String()
		}
		b.spec = strings.Join(specs, ",")
		return b, nil
	}

	parts := strings.Split(text, "/")
	retries, err := parseCount(parts[0], true)
	if err != nil {
		return fail("%v", err)
	}
	if retries == unbounded {
		return fail("retries must be counted, as in R3")
	}
	count := "R" + strconv.Itoa(retries)
	switch {
	case len(parts) == 1:
		b := DefaultBackoff()
		b.retries = retries
		b.spec = count + "/PT10S"
		return b, nil
	case len(parts) == 2:
		d, err := duration(parts[1])
		if err != nil {
			return Backoff{}, err
		}
		return Backoff{retries: retries, delays: []time.Duration{d.ToDuration()}, spec: count + "/" + d.String()}, nil
	case (len(parts) == 3 || len(parts) == 4) && strings.EqualFold(strings.TrimSpace(parts[2]), "exp"):
		base, err := duration(parts[1])
		if err != nil {
			return Backoff{}, err
		}
		b := Backoff{retries: retries, base: base.ToDuration(), max: DefaultMaxDelay}
		b.spec = count + "/" + base.String() + "/exp"
		if len(parts) == 4 {
			m, err := duration(parts[3])
			if err != nil {
				return Backoff{}, err
			}
			b.max = m.ToDuration()
			b.spec += "/" + m.String()
		}
		return b, nil
	}
	return fail("want Rn, Rn/delay, Rn/base/exp, Rn/base/exp/max or a list of delays")
}

// ParseRetries parses a bare retry count: "R3" or "3".
func ParseRetries(s string) (int, error) {
	n, err := parseCount(strings.TrimSpace(s), false)
	if err == nil && n == unbounded {
		err = errors.New("retries must be counted, as in R3")
	}
	if err != nil {
		return 0, syntaxErr("retry count", s, "%v", err)
	}
	return n, nil
}

// Retries returns how many times a failed job is retried.
func (b Backoff) Retries() int { return b.retries }

// Delay returns how long to wait before retrying after failure number
// attempt, counted from 1 (0 and below count as 1). Past the listed
// delays the last one repeats; exponential delays double per attempt up
// to their cap.
func (b Backoff) Delay(attempt int) time.Duration {
	attempt = max(attempt, 1)
	if b.delays != nil {
		return b.delays[min(attempt, len(b.delays))-1]
	}
	if b.base <= 0 {
		return 0
	}
	shift := attempt - 1
	if b.base > b.max || shift >= 63 || b.base > b.max>>shift {
		return b.max
	}
	return b.base << shift
}

// String returns the policy in canonical form, such as "R3/PT10S";
// ParseBackoff of it gives b back.
func (b Backoff) String() string {
	if b.spec == "" {
		return "R0/PT0S"
	}
	return b.spec
}
