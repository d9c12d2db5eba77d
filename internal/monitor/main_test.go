package monitor_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/cockpit-engine/cockpit/internal/bus"
)

// TestMain checks that no test leaves a goroutine behind: the projector's and the stall
// detector's loops, the engines and the embedded NATS servers must all stop cleanly.
// nats.go may keep a goroutine past a closed connection (bus.LibraryGoroutines).
func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, fn := range bus.LibraryGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	goleak.VerifyTestMain(m, opts...)
}
