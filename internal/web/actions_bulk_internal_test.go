package web

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
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

// TestStillFailingHref: the link to the still-failing incidents' instances uses the
// narrowest filter that holds them all.
func TestStillFailingHref(t *testing.T) {
	for _, tc := range []struct{ def, defEl, want string }{
		{"pay", "pay\x00charge", "/instances?hasIncident=true&process=pay&waitingAt=charge"},
		{"pay", "\x00", "/instances?hasIncident=true&process=pay"},
		{"\x00", "\x00", "/instances?hasIncident=true"},
		{"", "", "/instances?hasIncident=true"},
	} {
		if got := stillFailingHref(tc.def, tc.defEl); got != tc.want {
			t.Errorf("stillFailingHref(%q, %q) = %q, want %q", tc.def, tc.defEl, got, tc.want)
		}
	}
}

// incidentLister is an Engine that answers ListIncidents alone (recheck reads nothing else).
type incidentLister struct {
	Engine
	open []*store.Incident
}

func (e incidentLister) ListIncidents(context.Context, store.IncidentFilter) ([]*store.Incident, error) {
	return e.open, nil
}

// TestBulkRecheckUnknownPlace: a retried incident whose place was not read when the
// retry started (past the window read, or resolved meanwhile) is reported as not
// checked; it does not count as one that did not fail again.
func TestBulkRecheckUnknownPlace(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := newBulkRegistry()
	items := []bulkItem{
		{IncidentID: "inc-1", InstanceID: "i-1", ElementID: "charge", DefinitionKey: "pay"},
		{IncidentID: "inc-2"}, // place unknown
	}
	j := r.add(pages.BulkProgress{ID: "req"}, items, t0)
	r.finish(j, &command.BulkRetryResult{Selected: 2, Matched: 2, Retried: 2}, nil, t0)

	v, ok := r.recheck(context.Background(), "req", incidentLister{}, t0.Add(bulkRecheckFor))
	if !ok {
		t.Fatal("no job")
	}
	if v.StillFailing != 0 || v.Unchecked != 1 {
		t.Errorf("still failing %d, unchecked %d; want 0, 1", v.StillFailing, v.Unchecked)
	}
	if got := cardText(t, v); strings.Contains(got, "None of them") ||
		!strings.Contains(got, "None of the 1 checked has failed again.") || !strings.Contains(got, "1 was not checked") {
		t.Errorf("summary %q", got)
	}

	// Every retried incident without a place: nothing is claimed about failing again.
	r = newBulkRegistry()
	j = r.add(pages.BulkProgress{ID: "req"}, items[1:], t0)
	r.finish(j, &command.BulkRetryResult{Selected: 1, Matched: 1, Retried: 1}, nil, t0)
	v, _ = r.recheck(context.Background(), "req", incidentLister{}, t0.Add(bulkRecheckFor))
	if got := cardText(t, v); strings.Contains(got, "None") || !strings.Contains(got, "1 was not checked") {
		t.Errorf("summary %q", got)
	}
}

func cardText(t *testing.T, v pages.BulkProgress) string {
	t.Helper()
	var b strings.Builder
	if err := pages.BulkProgressCard(pages.BulkProgressProps{Now: v.Checked, Job: v}).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestBulkErrorOnce: a refused bulk retry's message names the action once.
func TestBulkErrorOnce(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := newBulkRegistry()
	j := r.add(pages.BulkProgress{ID: "req"}, nil, t0)
	r.finish(j, nil, &command.Error{Code: command.CodeInvalidInput, Message: "nothing selected"}, t0)
	v, _ := r.get("req", t0)
	got := cardText(t, v)
	if n := strings.Count(got, "The bulk retry"); n != 1 || !strings.Contains(got, "The bulk retry was refused: nothing selected") {
		t.Errorf("%d times \"The bulk retry\" in %q", n, got)
	}
}
