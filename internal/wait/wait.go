// Package wait is the one way tests wait for something that happens on another
// goroutine or in another process: poll a condition until it holds or a deadline
// passes, then fail the test saying what did not happen (nats-server's checkFor).
//
// Tests never sleep to synchronise; where a channel or an event says "done", they wait
// on that. Polling is for conditions nothing signals (a row in a store, a count in a
// projection, a page that renders).
package wait

import (
	"errors"
	"testing"
	"time"
)

// Timeout is how long For waits: far longer than any condition takes on a loaded
// machine under the race detector, so a timeout means the condition never holds.
const Timeout = 10 * time.Second

// The pause between checks starts at minPause and doubles up to maxPause: a condition
// that holds almost at once is seen almost at once, and a slow one costs a check every
// maxPause, not a busy loop.
const (
	minPause = time.Millisecond
	maxPause = 10 * time.Millisecond
)

// errNotYet is what For's condition reports while it does not hold.
var errNotYet = errors.New("condition not met")

// For polls cond until it returns true, for at most Timeout; then the test fails with
// "timed out after 10s waiting for <what>".
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Within(t, Timeout, what, cond)
}

// Within is For with a timeout of the caller's.
func Within(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// Until polls check until it returns nil, for at most timeout; then the test fails
// naming what and check's last error, which should say how far things got ("3 of 5
// instances completed"). check runs at least once, and once more at the deadline.
func Until(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := minPause
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if errors.Is(err, errNotYet) {
				t.Fatalf("timed out after %v waiting for %s", timeout, what)
			}
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		// The pause is the poll's rhythm, not a synchronisation: the condition decides.
		time.Sleep(min(pause, time.Until(deadline)+time.Millisecond))
		pause = min(2*pause, maxPause)
	}
}
