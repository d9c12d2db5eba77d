package web

// Bulk actions of the instance list's selection: the rows checked (at most a page,
// maxPage), or every instance the list's filter matches ("select all matching"). Retry
// goes to the bulk retry of the instances' open incidents (actions.go); cancel creates an
// operation (operations.go) that cancels each selected instance in its own transaction,
// with its audit row, after a confirm page that names how many.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// selectedInstances reads the checked rows (field instance): at most maxPage ids, each
// a plausible id; duplicates count once.
func selectedInstances(form url.Values) ([]string, error) {
	raw := form["instance"]
	if len(raw) > maxPage {
		return nil, badRequest("The form selects %d instances; a selection holds at most %d (a page). Use “select all matching” for more.", len(raw), maxPage)
	}
	seen := make(map[string]bool, len(raw))
	ids := make([]string, 0, len(raw))
	for i, id := range raw {
		if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
			return nil, badRequest("Parameter instance #%d is not an instance id.", i+1)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// bulkInstances is POST /instances/bulk: the bulk bar's buttons (action=retry|cancel|modify).
func (s *server) bulkInstances(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	q := url.Values{}
	for _, k := range instanceFilterKeys {
		if v := form.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	back := "/instances" + encodeQuery(q)
	f, _, err := s.parseInstanceFilter(c, q)
	if err != nil {
		return err
	}
	all := form.Get("all") == "true"
	ids, err := selectedInstances(form)
	if err != nil {
		return err
	}
	if !all && len(ids) == 0 {
		return redirectFlash(c, back, "Select instances first (the boxes in the list), or “all matching the filter”.", true)
	}
	ctx := c.Request().Context()
	switch form.Get("action") {
	case "retry":
		if all {
			return s.retryInstances(c) // the filter's instances, as the list's retry button
		}
		var sel []*store.Incident
		for _, id := range ids {
			list, err := s.eng.ListIncidents(ctx, store.IncidentFilter{InstanceID: id, State: store.IncidentOpen})
			if err != nil {
				return err
			}
			sel = append(sel, list...)
		}
		if len(sel) == 0 {
			return redirectFlash(c, back, "The selected instances have no open incidents; nothing to retry.", true)
		}
		oldestFirst(sel)
		matched := len(sel)
		sel = sel[:min(len(sel), maxBulkSelect)]
		what := fmt.Sprintf("The %d selected instance%s of the list.", len(ids), pluralS(len(ids)))
		return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavInstances}, pages.Confirm(bulkConfirm(
			"/instances/retry-incidents", hiddenFields(form, append(instanceFilterKeys, "reason")...), sel, matched, what, back)))
	case "cancel":
		if all {
			// The filter travels to the confirm page, and the instances it matches when
			// the operator confirms become the operation's items (command.InstanceSelection).
			matched, err := s.countRunning(ctx, f, command.MaxOperationItems+1)
			if err != nil {
				return err
			}
			if matched == 0 {
				return redirectFlash(c, back, "No running instance matches the filter; nothing to cancel.", true)
			}
			if !confirmed(c) {
				return s.render(c, http.StatusOK, page{Title: "Cancel instances?", Nav: layout.NavInstances},
					pages.Confirm(cancelAllConfirm(form, matched, back)))
			}
			return s.cancelMatching(c, cmds, f, back)
		}
		if !confirmed(c) {
			return s.render(c, http.StatusOK, page{Title: "Cancel instances?", Nav: layout.NavInstances},
				pages.Confirm(cancelConfirm(form, ids, back)))
		}
		return s.cancelInstances(c, cmds, ids, back)
	case "modify":
		// The bulk modification page, composed by GET (modify_bulk.go): the checked rows
		// by id, or the filter, which must name a process.
		if all {
			if f.DefinitionKey == "" {
				return redirectFlash(c, back, "To modify all matching instances, filter the list to a process first: the steps name the elements of one process version.", true)
			}
			return c.Redirect(http.StatusSeeOther, modifyBulkHref(q, nil, ""))
		}
		return c.Redirect(http.StatusSeeOther, modifyBulkHref(url.Values{"id": ids}, nil, ""))
	}
	return badRequest("Unknown bulk action %q: use retry, cancel or modify.", form.Get("action"))
}

// countRunning counts the running (active or suspended) instances a filter matches, up
// to limit.
func (s *server) countRunning(ctx context.Context, f store.InstanceFilter, limit int) (int, error) {
	running := runningStates(f.States)
	if len(running) == 0 {
		return 0, nil
	}
	f.States, f.After, f.Limit = running, "", 1000
	matched := 0
	for matched < limit {
		page, err := s.eng.ListInstances(ctx, f)
		if err != nil {
			return 0, err
		}
		matched += len(page.Instances)
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	return min(matched, limit), nil
}

// runningStates narrows a filter's states to the running ones (all of them when the
// filter names none).
func runningStates(states []string) []string {
	if len(states) == 0 {
		return []string{store.InstanceActive, store.InstanceSuspended}
	}
	var keep []string
	for _, st := range states {
		if st == store.InstanceActive || st == store.InstanceSuspended {
			keep = append(keep, st)
		}
	}
	return keep
}

// selectionOf is the command service's form of the instance list's filter: the running
// instances it matches.
func selectionOf(f store.InstanceFilter) *command.InstanceSelection {
	sel := &command.InstanceSelection{DefinitionKey: f.DefinitionKey, DefinitionID: f.DefinitionID, BusinessKey: f.BusinessKey,
		WaitingAt: f.WaitingAt, HasIncident: f.HasIncident, Stalled: f.Stalled, VariableName: f.VariableName,
		VariableValue: f.VariableValue, ParentInstanceID: f.ParentInstanceID, States: runningStates(f.States), All: true}
	if !f.StartedAfter.IsZero() {
		t := f.StartedAfter
		sel.StartedAfter = &t
	}
	if !f.StartedBefore.IsZero() {
		t := f.StartedBefore
		sel.StartedBefore = &t
	}
	return sel
}

// cancelConfirm asks before cancelling the checked instances ids.
func cancelConfirm(form url.Values, ids []string, back string) pages.ConfirmPageProps {
	fields := hiddenFields(form, append(instanceFilterKeys, "reason")...)
	fields = append(fields, components.Hidden{Name: "action", Value: "cancel"})
	for _, id := range ids {
		fields = append(fields, components.Hidden{Name: "instance", Value: id})
	}
	n := strconv.Itoa(len(ids))
	return pages.ConfirmPageProps{
		Title:   "Cancel " + n + " instance" + pluralS(len(ids)) + "?",
		Message: "Cancel these " + n + " instance" + pluralS(len(ids)) + "? Their open tasks, jobs and timers are dropped; they cannot be resumed.",
		Details: []string{"Exactly these " + n + " are cancelled, each in its own transaction with its audit row, by an operation whose page shows the progress; one that ends meanwhile is reported, not cancelled twice."},
		Action:  "/instances/bulk", Fields: fields, Label: "Cancel " + n + " instance" + pluralS(len(ids)), Danger: true, BackHref: back,
	}
}

// cancelAllConfirm asks before cancelling every running instance the filter matches
// (matched of them now, counted up to command.MaxOperationItems+1).
func cancelAllConfirm(form url.Values, matched int, back string) pages.ConfirmPageProps {
	fields := hiddenFields(form, append(instanceFilterKeys, "reason")...)
	fields = append(fields, components.Hidden{Name: "action", Value: "cancel"}, components.Hidden{Name: "all", Value: "true"})
	n := strconv.Itoa(min(matched, command.MaxOperationItems))
	p := pages.ConfirmPageProps{
		Title:   "Cancel " + n + " instance" + pluralS(matched) + "?",
		Message: "Cancel the " + n + " running instance" + pluralS(matched) + " the filter matches? Their open tasks, jobs and timers are dropped; they cannot be resumed.",
		Details: []string{"The instances the filter matches when you confirm become the operation's items: exactly those are cancelled, each in its own transaction with its audit row; the operation's page shows the progress.",
			"One started after you confirm is not cancelled; one that ends meanwhile is reported, not cancelled twice."},
		Action: "/instances/bulk", Fields: fields, Label: "Cancel " + n + " instance" + pluralS(matched), Danger: true, BackHref: back,
	}
	if matched > command.MaxOperationItems {
		p.Details = append(p.Details, fmt.Sprintf("More than %d running instances match: one operation takes at most %d (the newest). Repeat for the rest, or narrow the filter.",
			command.MaxOperationItems, command.MaxOperationItems))
	}
	return p
}

// cancelInstances creates the operation that cancels the confirmed instances (each in
// its own transaction, on the engine nodes, with its audit row) and goes to its page.
func (s *server) cancelInstances(c echo.Context, cmds CommandClient, ids []string, back string) error {
	op, err := cmds.CreateOperation(c.Request().Context(), command.CreateOperationRequest{Meta: s.meta(c, reasonWeb),
		Kind: operation.KindCancelInstances, InstanceIDs: ids, Max: len(ids),
		Selection: fmt.Sprintf("%d instance%s of the list", len(ids), pluralS(len(ids)))})
	if err != nil {
		return actionFailed(c, back, "The bulk cancel", err)
	}
	return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
}

// cancelMatching creates the operation that cancels the running instances the filter
// matches now (at most command.MaxOperationItems, newest first).
func (s *server) cancelMatching(c echo.Context, cmds CommandClient, f store.InstanceFilter, back string) error {
	op, err := cmds.CreateOperation(c.Request().Context(), command.CreateOperationRequest{Meta: s.meta(c, reasonWeb),
		Kind: operation.KindCancelInstances, Instances: selectionOf(f), Max: command.MaxOperationItems})
	if err != nil {
		return actionFailed(c, back, "The bulk cancel", err)
	}
	return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
}
