package web

import (
	"errors"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bus"
)

// TestServicesProps: a service with nodes online is not silent, whatever the age of its
// events; one without is silent once its newest event is older than SilentAfter (or it
// has none); nodes of several builds show the skew; the lag counts while events wait.
func TestServicesProps(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rep := &ServicesReport{Pending: 40, Services: map[string]ObservedService{
		"orders":   {Events: 10, Last: now.Add(-time.Hour)},
		"shipping": {Events: 5, Last: now.Add(-2 * time.Second)},
		"billing":  {Events: 1, Last: now.Add(-time.Hour)},
	}, Nodes: []bus.Node{
		{Service: "orders", Node: "o-2", Build: "abc"}, {Service: "orders", Node: "o-1", Build: "def"},
		{Service: "audit", Node: "a-1", Build: "abc"},
	}, Repairs: 3, RepairFailures: 1, Stuck: 2}
	p := servicesProps(rep, now)
	got := map[string]string{}
	for _, r := range p.Rows {
		got[r.Name] = map[bool]string{true: "silent", false: "ok"}[r.Silent]
		if r.Name == "orders" && (len(r.Builds) != 2 || r.Nodes[0].Node != "o-1") {
			t.Errorf("orders: %+v", r)
		}
	}
	want := map[string]string{"orders": "ok", "shipping": "ok", "billing": "silent", "audit": "ok"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s (%v)", k, got[k], v, got)
		}
	}
	if p.Repairs != 3 || p.RepairFailures != 1 || p.Stuck != 2 {
		t.Errorf("repairs %+v", p)
	}
	if p.Rows[0].Name != "audit" || p.LagSeconds != 2 || p.Pending != 40 {
		t.Errorf("order %v, lag %v", p.Rows[0].Name, p.LagSeconds)
	}
	rep.Pending, rep.PendingErr = 0, errors.New("consumer gone")
	if p := servicesProps(rep, now); p.LagSeconds != 0 || p.PendingErr != "consumer gone" {
		t.Errorf("caught up: %+v", p)
	}
}
