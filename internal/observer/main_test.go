package observer_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs an observer process for the crash test (envChild), else the tests, and
// checks that no test leaves a goroutine behind (the observer's fetch loop).
func TestMain(m *testing.M) {
	if os.Getenv(envChild) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}
