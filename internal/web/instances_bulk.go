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

// bulkInstances is POST /instances/bulk: the bulk bar's buttons (action=retry|cancel).
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
		matched := len(ids)
		if all {
			if ids, matched, err = s.runningOf(ctx, f); err != nil {
				return err
			}
			if len(ids) == 0 {
				return redirectFlash(c, back, "No running instance matches the filter; nothing to cancel.", true)
			}
		}
		if !confirmed(c) || all {
			return s.render(c, http.StatusOK, page{Title: "Cancel instances?", Nav: layout.NavInstances},
				pages.Confirm(cancelConfirm(form, ids, matched, back)))
		}
		return s.cancelInstances(c, cmds, ids, back)
	}
	return badRequest("Unknown bulk action %q: use retry or cancel.", form.Get("action"))
}

// runningOf lists the running (active or suspended) instances a filter matches, newest
// first, at most maxPage of them; matched counts them up to maxBulkSelect.
func (s *server) runningOf(ctx context.Context, f store.InstanceFilter) (ids []string, matched int, err error) {
	running := []string{store.InstanceActive, store.InstanceSuspended}
	if len(f.States) > 0 {
		var keep []string
		for _, st := range f.States {
			if st == store.InstanceActive || st == store.InstanceSuspended {
				keep = append(keep, st)
			}
		}
		running = keep
	}
	if len(running) == 0 {
		return nil, 0, nil
	}
	f.States, f.After, f.Limit = running, "", maxPage
	for matched < maxBulkSelect {
		page, err := s.eng.ListInstances(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		for _, in := range page.Instances {
			if len(ids) < maxPage {
				ids = append(ids, in.ID)
			}
			matched++
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	return ids, matched, nil
}

// cancelConfirm asks before cancelling ids (matched: how many the selection had).
func cancelConfirm(form url.Values, ids []string, matched int, back string) pages.ConfirmPageProps {
	fields := hiddenFields(form, append(instanceFilterKeys, "reason")...)
	fields = append(fields, components.Hidden{Name: "action", Value: "cancel"})
	for _, id := range ids {
		fields = append(fields, components.Hidden{Name: "instance", Value: id})
	}
	n := strconv.Itoa(len(ids))
	p := pages.ConfirmPageProps{
		Title:   "Cancel " + n + " instance" + pluralS(len(ids)) + "?",
		Message: "Cancel these " + n + " instance" + pluralS(len(ids)) + "? Their open tasks, jobs and timers are dropped; they cannot be resumed.",
		Details: []string{"Exactly these " + n + " are cancelled, each in its own transaction with its audit row, by an operation whose page shows the progress; one that ends meanwhile is reported, not cancelled twice."},
		Action:  "/instances/bulk", Fields: fields, Label: "Cancel " + n + " instance" + pluralS(len(ids)), Danger: true, BackHref: back,
	}
	if matched > len(ids) {
		more := strconv.Itoa(matched)
		if matched >= maxBulkSelect {
			more = "at least " + more
		}
		p.Details = append(p.Details, more+" running instances match the filter; the newest "+n+" are cancelled now. Repeat for the rest.")
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
