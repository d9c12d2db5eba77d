package auth

import (
	"sync"
	"time"
)

// Sign-in attempts are limited per account and per client address: after Failures
// failed attempts within Window, further attempts are refused until the oldest failure
// leaves the window. A success clears the account's count (not the address's: one
// address guessing many accounts stays limited). The limiter keeps at most maxTracked
// keys (the oldest go first), so guessing with many names cannot exhaust memory.

// Limits bound sign-in attempts.
type Limits struct {
	// AccountFailures and AddressFailures are the failures allowed within Window.
	AccountFailures, AddressFailures int
	Window                           time.Duration
}

// DefaultLimits: 5 failures per account and 20 per address in 15 minutes.
var DefaultLimits = Limits{AccountFailures: 5, AddressFailures: 20, Window: 15 * time.Minute}

const maxTracked = 100_000

type limiter struct {
	l  Limits
	mu sync.Mutex
	// failures per key ("a:" + account, "i:" + address), oldest first.
	failures map[string][]time.Time
}

func newLimiter(l Limits) *limiter { return &limiter{l: l, failures: map[string][]time.Time{}} }

// allow returns how long to wait before an attempt for account from address (0: now).
func (l *limiter) allow(account, address string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	wait := l.waitLocked("a:"+account, l.l.AccountFailures, now)
	if w := l.waitLocked("i:"+address, l.l.AddressFailures, now); w > wait {
		wait = w
	}
	return wait
}

func (l *limiter) waitLocked(key string, max int, now time.Time) time.Duration {
	fs := l.prune(key, now)
	if len(fs) < max {
		return 0
	}
	return fs[len(fs)-max].Add(l.l.Window).Sub(now)
}

// prune drops a key's failures older than the window.
func (l *limiter) prune(key string, now time.Time) []time.Time {
	fs := l.failures[key]
	i := 0
	for i < len(fs) && !now.Before(fs[i].Add(l.l.Window)) {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = fs
	return fs
}

func (l *limiter) fail(account, address string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) >= maxTracked {
		for k := range l.failures {
			l.prune(k, now)
		}
		for k := range l.failures {
			if len(l.failures) < maxTracked {
				break
			}
			delete(l.failures, k)
		}
	}
	for _, key := range []string{"a:" + account, "i:" + address} {
		fs := append(l.failures[key], now)
		if len(fs) > 64 {
			fs = fs[len(fs)-64:]
		}
		l.failures[key] = fs
	}
}

func (l *limiter) succeed(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, "a:"+account)
}
