package wait

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a test that records its failure instead of failing the real one.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls fn with a recorder on its own goroutine, as the testing package runs a
// test, so Fatalf can end it.
func run(fn func(t testing.TB)) string {
	r := &recorder{TB: nil}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.failed
}

func TestForReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	calls := 0
	if failed := run(func(tb testing.TB) {
		For(tb, "the third call", func() bool { calls++; return calls == 3 })
	}); failed != "" {
		t.Fatalf("failed: %s", failed)
	}
	if calls != 3 {
		t.Errorf("%d calls, want 3 (it returns at the first that holds)", calls)
	}
}

func TestUntilFailsNamingWhatAndTheLastError(t *testing.T) {
	t.Parallel()
	calls := 0
	began := time.Now()
	failed := run(func(tb testing.TB) {
		Until(tb, 30*time.Millisecond, "five instances", func() error {
			calls++
			return fmt.Errorf("%d of 5 completed", calls%5)
		})
	})
	if !strings.Contains(failed, "waiting for five instances") || !strings.Contains(failed, "of 5 completed") {
		t.Errorf("failure %q does not say what and how far it got", failed)
	}
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Errorf("gave up after %v, before the 30ms timeout", took)
	}
	// A short backoff: many checks within the timeout, but no busy loop.
	if calls < 4 || calls > 40 {
		t.Errorf("%d checks in 30ms, want a few (1ms doubling to 10ms)", calls)
	}
}

func TestForFailsWithoutItsPlaceholderError(t *testing.T) {
	t.Parallel()
	// For's own "not yet" says nothing a reader needs.
	failed := run(func(tb testing.TB) {
		Until(tb, 5*time.Millisecond, "never", func() error { return errNotYet })
	})
	if failed != "timed out after 5ms waiting for never" {
		t.Errorf("failure %q", failed)
	}
}
