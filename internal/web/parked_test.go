package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// The dashboard shows the events the relay set aside (NATS can never take them), and
// only when there are any.
func TestDashboardShowsParkedEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.get("/").want(t, 200, "stat-parked", 0)
	err := f.e.Store().Write(context.Background(), func(tx store.Tx) error {
		return tx.ParkOutbox(context.Background(), []*store.ParkedEvent{{Seq: 1, ID: "e1", InstanceID: f.ok[0].ID,
			Type: event.VariablesChanged, Bytes: 2 << 20, Reason: "too large", Placeholder: true,
			ParkedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	st := f.get("/").want(t, 200, "stat-parked", 1)[0]
	if !strings.Contains(text(st), "1") || !strings.Contains(renderNode(st), `href="/api/parked-events"`) {
		t.Errorf("parked events stat: %s", renderNode(st))
	}
}
