package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBulkConfirmOverTheLimit: when more incidents match than one bulk retry runs, the
// confirm page says so, offers the oldest maxBulkSelect, and its form carries exactly
// those ids (issue 10, point 18).
func TestBulkConfirmOverTheLimit(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sel := make([]*store.Incident, maxBulkSelect)
	for i := range sel {
		sel[i] = &store.Incident{ID: fmt.Sprintf("inc-%04d", i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	p := bulkConfirm("/incidents/retry-bulk", nil, sel, maxBulkSelect+234, "Selection: all", "/incidents")
	if p.Title != "Retry the oldest 1000 of 1234 incidents?" || p.Label != "Retry the oldest 1000" {
		t.Errorf("title %q, label %q", p.Title, p.Label)
	}
	if !strings.Contains(p.Message, "more than one bulk retry runs (1000)") || !strings.Contains(p.Message, "narrow the selection") {
		t.Errorf("message %q", p.Message)
	}
	ids := 0
	for _, f := range p.Fields {
		if f.Name == "id" {
			ids++
		}
	}
	if ids != maxBulkSelect {
		t.Errorf("the form carries %d ids, want %d", ids, maxBulkSelect)
	}

	p = bulkConfirm("/incidents/retry-bulk", nil, sel[:1], 1, "Selection: all", "/incidents")
	if p.Title != "Retry 1 incident?" || p.Label != "Retry 1 incident" {
		t.Errorf("one incident: title %q, label %q", p.Title, p.Label)
	}
}

// TestFailingAgainHref: the link to the instances of retried incidents that fail again
// uses the narrowest filter that holds the items.
func TestFailingAgainHref(t *testing.T) {
	it := func(def, el string) *store.OperationItem {
		return &store.OperationItem{DefinitionKey: def, ElementID: el}
	}
	for _, tc := range []struct {
		items []*store.OperationItem
		want  string
	}{
		{[]*store.OperationItem{it("pay", "charge"), it("pay", "charge")}, "/instances?hasIncident=true&process=pay&waitingAt=charge"},
		{[]*store.OperationItem{it("pay", "charge"), it("pay", "ship")}, "/instances?hasIncident=true&process=pay"},
		{[]*store.OperationItem{it("pay", "charge"), it("order", "charge")}, "/instances?hasIncident=true"},
	} {
		if got := failingAgainHref(tc.items); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.items, got, tc.want)
		}
	}
}
