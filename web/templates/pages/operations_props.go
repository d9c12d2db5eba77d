package pages

import (
	"net/url"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// OperationsProps is the operations panel: bulk actions, newest first.
type OperationsProps struct {
	Now   time.Time
	Ops   []*store.Operation
	State string
	Kind  string
	// Capped: more operations than Limit match; the newest Limit are shown.
	Capped bool
	Limit  int
}

// OperationProps is one operation with a page of its items.
type OperationProps struct {
	Now     time.Time
	Op      *store.Operation
	Pending int
	Items   []*store.OperationItem
	// ItemState filters the items ("" all); After is the page's start (-1: the first
	// page); Next the next page's start (-1: none).
	ItemState string
	After     int
	Next      int
	// FailingAgainHref lists the instances of the retried incidents that fail again.
	FailingAgainHref string
	// Details describe what the operation does to each item beyond its kind (a
	// migration's versions and mapping, a modification's steps).
	Details []OperationDetail
}

// OperationDetail is one line of an operation's parameters.
type OperationDetail struct {
	Label, Value, TestID string
}

// AuditProps is the audit page: the operator log with its filters.
type AuditProps struct {
	Now     time.Time
	Entries []*store.AuditEntry
	Filter  AuditFilterForm
	// NextHref continues the list after its last entry ("" on the last page).
	NextHref string
	CSVHref  string
	Limit    int
}

// AuditFilterForm is the audit page's filter as the operator typed it.
type AuditFilterForm struct {
	Actor, Command, Target, Instance, Result, From, To string
}

// Query is the filter as URL parameters (empty ones left out).
func (f AuditFilterForm) Query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "command": f.Command, "target": f.Target,
		"instance": f.Instance, "result": f.Result, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// AuditCardProps is the instance page's own audit entries.
type AuditCardProps struct {
	Now        time.Time
	InstanceID string
	Entries    []*store.AuditEntry
	// More: there are more entries than shown; the audit page lists them all.
	More bool
}

func operationHref(id string) string { return "/operations/" + url.PathEscape(id) }

func operationItemsHref(id, state string, after int) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if after >= 0 {
		q.Set("after", strconv.Itoa(after))
	}
	if len(q) == 0 {
		return operationHref(id)
	}
	return operationHref(id) + "?" + q.Encode()
}

func auditInstanceHref(id string) string { return "/audit?instance=" + url.QueryEscape(id) }

func operationsFilterHref(state, kind string) string {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if kind != "" {
		q.Set("kind", kind)
	}
	if len(q) == 0 {
		return "/operations"
	}
	return "/operations?" + q.Encode()
}

// kindLabel names an operation's kind for people.
func kindLabel(kind string) string {
	switch kind {
	case "incident.retry":
		return "Retry incidents"
	case "instance.cancel":
		return "Cancel instances"
	case "instance.modify":
		return "Modify instances"
	case "instance.migrate":
		return "Migrate instances"
	}
	return kind
}

// itemsDone counts an operation's items with an outcome.
func itemsDone(op *store.Operation) int { return op.Succeeded + op.Failed + op.Skipped }

// opSummary says in one line where an operation stands.
func opSummary(op *store.Operation) string {
	s := strconv.Itoa(itemsDone(op)) + " of " + strconv.Itoa(op.Total) + " done: " + strconv.Itoa(op.Succeeded) + " ok"
	if op.Failed > 0 {
		s += ", " + strconv.Itoa(op.Failed) + " failed"
	}
	if op.Skipped > 0 {
		s += ", " + strconv.Itoa(op.Skipped) + " skipped"
	}
	return s
}

// targetHref links an item's or an entry's target where there is a page for it.
func targetHref(instanceID, target string) string {
	if instanceID != "" {
		return instanceHref(instanceID)
	}
	return ""
}

func resultClass(result string) string {
	switch result {
	case "ok":
		return "pill pill-completed"
	case store.AuditStarted:
		return "pill pill-active"
	}
	return "pill pill-incident"
}

func orAll(state string) string {
	if state == "" {
		return "all"
	}
	return state
}

func itemClass(state string) string {
	switch state {
	case store.ItemOK:
		return "pill pill-completed"
	case store.ItemFailed:
		return "pill pill-incident"
	case store.ItemSkipped:
		return "pill pill-cancelled"
	}
	return "pill pill-active"
}

// failingAgainCount shows a failing-again count, which stops past store.MaxFailingAgain.
func failingAgainCount(n int) string {
	if n > store.MaxFailingAgain {
		return itoa(store.MaxFailingAgain) + "+"
	}
	return itoa(n)
}
