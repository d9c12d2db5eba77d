package observer_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the observer's fetch loop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
