package pages

import (
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// Choice is one option of a select.
type Choice struct{ Value, Label string }

// IncidentFilterProps is the incidents page's filter, as the query gave it.
type IncidentFilterProps struct {
	State, Process, Element, Type, Message, ErrorCode, Age, Assignee, Fingerprint, Service string
}

// IncidentsProps is the incident queue: groups of incidents by fingerprint.
type IncidentsProps struct {
	Now       time.Time
	Filter    IncidentFilterProps
	Processes []string
	// Services are the services whose definitions the store holds: with more than one
	// (an observing cockpit) the page offers them as a filter and names each group's.
	Services []string
	Types    []string
	Ages     []Choice
	Groups   []IncidentGroup
	// Total is how many incidents the listed groups hold; More says there are more
	// groups than the Shown listed (the oldest are left out).
	Total int
	More  bool
	Shown int
	// Back is this page with its filter (where actions return).
	Back string
}

// IncidentGroup is the incidents of one fingerprint: one cause (process, element, type,
// error code, message with ids and numbers masked).
type IncidentGroup struct {
	Fingerprint   string
	DefinitionKey string
	ElementID     string
	ElementName   string
	Type          string
	ErrorCode     string
	// Message is the newest incident's; MaskedMessage the group's (ids and numbers
	// masked; "" for a group without a record).
	Message       string
	MaskedMessage string
	Count         int
	First, Last   time.Time
	// InstancesHref lists the instances with an incident at this element; GroupHref is
	// the group's page.
	InstancesHref string
	GroupHref     string
	ProcessHref   string
	// Services name the service of the group's incidents (nil: one service in the store);
	// a key several services deploy, without the service filter, names each of them,
	// linked to the page narrowed to it.
	Services []Link
	// Sample is the newest incident of the group (its details are shown).
	Sample     *store.Incident
	Assignee   string
	AssignNote string
	AssignedBy string
	// Notice is the state of the group's webhook notice.
	Notice string
}

// IncidentGroupProps is the page of one group.
type IncidentGroupProps struct {
	Now       time.Time
	State     string
	Group     IncidentGroup
	Record    *store.IncidentGroupRecord
	Notes     []*store.IncidentNote
	Incidents []*store.Incident
	// NextHref is the next page of incidents ("" on the last).
	NextHref string
	Back     string
}

// groupMessage is the line that names a group's cause: its masked message, or the
// incident's own message when the group has one incident (or no record).
func groupMessage(g IncidentGroup) string {
	if g.MaskedMessage != "" && (g.Count > 1 || g.Message == "") {
		return g.MaskedMessage
	}
	return g.Message
}

// noticeText says where a group's webhook notice stands.
func noticeText(r *store.IncidentGroupRecord) string {
	switch r.NotifyState {
	case store.NoticePending:
		if r.NotifyAttempts > 0 {
			return "pending, " + itoa(r.NotifyAttempts) + " attempt" + plural(r.NotifyAttempts) + " failed: " + r.NotifyError
		}
		return "pending"
	case store.NoticeDelivered:
		return "delivered"
	case store.NoticeFailed:
		return "failed after " + itoa(r.NotifyAttempts) + " attempts: " + r.NotifyError
	case store.NoticeExpired:
		return "not sent (too old when due)"
	case store.NoticeSkipped:
		return "not sent (found in older incidents)"
	}
	return r.NotifyState
}

// noteKind names an entry of a group's log.
func noteKind(kind string) string {
	switch kind {
	case store.NoteResolution:
		return "Resolution"
	case store.NoteAssign:
		return "Assigned"
	case store.NoteUnassign:
		return "Unassigned"
	}
	return "Note"
}

// groupRetryFields select a group for a bulk retry: by its fingerprint (and process,
// which the result page reads), or, for incidents not fingerprinted yet, by process,
// element, type and message.
func groupRetryFields(g IncidentGroup) []components.Hidden {
	if g.Fingerprint != "" {
		return []components.Hidden{{Name: "definitionKey", Value: g.DefinitionKey}, {Name: "fingerprint", Value: g.Fingerprint},
			{Name: "back", Value: "/incidents"}}
	}
	return []components.Hidden{{Name: "definitionKey", Value: g.DefinitionKey}, {Name: "elementId", Value: g.ElementID},
		{Name: "type", Value: g.Type}, {Name: "messageContains", Value: g.Message}, {Name: "back", Value: "/incidents"}}
}
