package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Operations (bulk actions stored by the command service, package operation) and the
// audit log. A bulk action runs what the operator confirmed: the confirm page carries
// the selection's ids, and only the confirming post, with them, creates the operation
// (the ids are its items). The operation then runs on the engine nodes, whichever web
// server or node started it; its page shows its progress live (the executor publishes a
// note on <prefix>.operations.<id> after each batch) and its items page by page.

// Bounds of the operations and audit pages.
const (
	// operationsShown bounds the operations panel; itemsShown a page of items;
	// auditShown a page of the audit log; auditCSVMax the rows of one CSV download.
	operationsShown = 100
	itemsShown      = 100
	auditShown      = 100
	auditCSVMax     = 10_000
	// instanceAuditShown bounds the instance page's audit card.
	instanceAuditShown = 10
)

// createOperation is POST /operations: a bulk action on a selection, confirmed first.
//
//	kind=instance.cancel  id=<instance id>... or the instance list's filter parameters
//	kind=incident.retry   id=<incident id>...  (retries: attempts a failed job gets)
//	reason, back          the audit reason and where "Don't" leads
//
// Without confirm=yes and ids it answers the confirm page, which posts the ids.
func (s *server) createOperation(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	kind := form.Get("kind")
	ids, err := formIDs(form, "id", maxBulkSelect)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	switch kind {
	case operation.KindCancelInstances:
		q := url.Values{}
		for _, k := range instanceFilterKeys {
			if v := form.Get(k); v != "" {
				q.Set(k, v)
			}
		}
		back := localPath(form.Get("back"), "/instances"+encodeQuery(q))
		selection := form.Get("selection")
		if len(ids) == 0 {
			if len(q) == 0 {
				return badRequest("A bulk cancel needs a selection: instance ids (id) or a filter of the instance list.")
			}
			f, _, err := s.parseInstanceFilter(c, q)
			if err != nil {
				return err
			}
			var matched int
			if ids, matched, err = s.runningInstances(c, f); err != nil {
				return err
			}
			if len(ids) == 0 {
				return redirectFlash(c, back, "No running instance matches this filter; nothing to cancel.", true)
			}
			selection = "instances: " + describeFilter(q)
			if matched > len(ids) {
				selection += fmt.Sprintf(" (the newest %d of %d)", len(ids), matched)
			}
		} else if selection == "" {
			selection = fmt.Sprintf("%d selected instance%s", len(ids), pluralS(len(ids)))
		}
		if !confirmed(c) {
			fields := hiddenFields(form, "kind", "reason", "back")
			fields = append(fields, components.Hidden{Name: "selection", Value: components.Clip(selection, 1000)})
			for _, id := range ids {
				fields = append(fields, components.Hidden{Name: "id", Value: id})
			}
			n := strconv.Itoa(len(ids))
			return s.render(c, http.StatusOK, page{Title: "Cancel instances?", Nav: layout.NavInstances}, pages.Confirm(pages.ConfirmPageProps{
				Title:   "Cancel " + n + " instance" + pluralS(len(ids)) + "?",
				Message: "Cancel these " + n + " instance" + pluralS(len(ids)) + "? Their open tasks, jobs and timers are dropped; they cannot be resumed.",
				Details: []string{"Selection: " + selection,
					"Exactly these " + n + " are cancelled, each in its own transaction: an instance started after this page is not included, one that ended meanwhile is reported as failed.",
					"The operation runs on the engine nodes; its page shows the progress, and it goes on if a node stops."},
				Action: "/operations", Fields: fields, Label: "Cancel " + n + " instance" + pluralS(len(ids)), Danger: true, BackHref: back}))
		}
		op, err := cmds.CreateOperation(ctx, command.CreateOperationRequest{Meta: s.meta(c, reasonWeb), Kind: kind,
			InstanceIDs: ids, Max: len(ids), Selection: selection})
		if err != nil {
			return actionFailed(c, back, "The bulk cancel", err)
		}
		return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
	case operation.KindRetryIncidents:
		back := localPath(form.Get("back"), "/incidents")
		if len(ids) == 0 {
			return badRequest("A bulk retry here needs incident ids (id); the incidents page retries a group by filter.")
		}
		req := command.BulkRetryRequest{IncidentIDs: ids, Max: len(ids)}
		if raw := form.Get("retries"); raw != "" {
			n, err := strconv.Atoi(raw)
			if err != nil || n < 1 || n > maxRetries {
				return badRequest("Attempts %q: use a whole number from 1 to %d.", raw, maxRetries)
			}
			req.Retries = n
		}
		selection := form.Get("selection")
		if selection == "" {
			selection = fmt.Sprintf("%d selected incident%s", len(ids), pluralS(len(ids)))
		}
		if !confirmed(c) {
			sel, err := s.incidentsByID(c, ids)
			if err != nil {
				return err
			}
			if len(sel) == 0 {
				return redirectFlash(c, back, "None of the selected incidents is open any more; nothing to retry.", true)
			}
			return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavIncidents}, pages.Confirm(bulkConfirm(
				"/operations", hiddenFields(form, "kind", "retries", "reason", "back"), sel, len(sel), "Selection: "+selection, back)))
		}
		return s.startBulk(c, cmds, req, selection, back)
	}
	return badRequest("Parameter kind %q: use %s or %s.", kind, operation.KindCancelInstances, operation.KindRetryIncidents)
}

// formIDs reads the ids a form posts under name (at most limit); a bad one is a 400.
func formIDs(form url.Values, name string, limit int) ([]string, error) {
	raw := form[name]
	if len(raw) > limit {
		return nil, badRequest("The form lists %d ids; one bulk action runs at most %d (maxBulkSelect). Narrow the selection.", len(raw), limit)
	}
	seen := make(map[string]bool, len(raw))
	ids := make([]string, 0, len(raw))
	for i, id := range raw {
		if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
			return nil, badRequest("Parameter %s #%d is not an id.", name, i+1)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// runningInstances resolves an instance filter to the running instances it selects now
// (newest first, at most maxBulkSelect; matched counts up to maxBulkSelect+1 pages' worth).
func (s *server) runningInstances(c echo.Context, f store.InstanceFilter) (ids []string, matched int, err error) {
	// Only running instances can be cancelled: the list's state filter, narrowed to them.
	running := []string{store.InstanceActive, store.InstanceSuspended}
	if len(f.States) > 0 {
		var keep []string
		for _, st := range f.States {
			if slices.Contains(running, st) {
				keep = append(keep, st)
			}
		}
		if len(keep) == 0 {
			return nil, 0, nil
		}
		running = keep
	}
	f.States = running
	f.After, f.Limit = "", maxPage
	for {
		page, err := s.eng.ListInstances(c.Request().Context(), f)
		if err != nil {
			return nil, 0, err
		}
		for _, in := range page.Instances {
			matched++
			if len(ids) < maxBulkSelect {
				ids = append(ids, in.ID)
			}
		}
		if page.Next == "" || matched > maxBulkSelect {
			return ids, matched, nil
		}
		f.After = page.Next
	}
}

// incidentsByID reads the open ones of the incidents named.
func (s *server) incidentsByID(c echo.Context, ids []string) ([]*store.Incident, error) {
	var sel []*store.Incident
	for _, id := range ids {
		in, err := s.eng.GetIncident(c.Request().Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if in.State == store.IncidentOpen {
			sel = append(sel, in)
		}
	}
	oldestFirst(sel)
	return sel, nil
}

// operations is GET /operations: the operations panel.
func (s *server) operations(c echo.Context) error {
	state, kind := c.QueryParam("state"), c.QueryParam("kind")
	switch state {
	case "", store.OperationRunning, store.OperationCompleted, store.OperationCancelled:
	default:
		return badRequest("Unknown operation state %q: use running, completed or cancelled.", state)
	}
	if len(kind) > store.MaxNameBytes {
		return badRequest("Parameter kind is longer than %d bytes.", store.MaxNameBytes)
	}
	ops, err := s.eng.ListOperations(c.Request().Context(), store.OperationFilter{State: state, Kind: kind, Limit: operationsShown + 1})
	if err != nil {
		return err
	}
	p := pages.OperationsProps{Now: s.now(), State: state, Kind: kind, Limit: operationsShown, Capped: len(ops) > operationsShown}
	p.Ops = ops[:min(len(ops), operationsShown)]
	return s.render(c, http.StatusOK, page{Title: "Operations", Nav: layout.NavOperations}, pages.Operations(p))
}

// operationPage is GET /operations/:id: one operation and a page of its items.
func (s *server) operationPage(c echo.Context) error {
	id := c.Param("id")
	state := c.QueryParam("state")
	switch state {
	case "", store.ItemPending, store.ItemOK, store.ItemFailed, store.ItemSkipped:
	default:
		return badRequest("Unknown item state %q: use pending, ok, failed or skipped.", state)
	}
	after := -1
	if raw := c.QueryParam("after"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > operation.MaxItems {
			return badRequest("Parameter after %q: use an item number from 0 to %d.", raw, operation.MaxItems)
		}
		after = n
	}
	d, err := s.eng.GetOperation(c.Request().Context(), id, store.OperationItemFilter{State: state, AfterSeq: after, Limit: itemsShown + 1})
	if errors.Is(err, store.ErrNotFound) {
		return &pageError{Status: http.StatusNotFound, Title: "Operation not found",
			Message:  "No operation has the id " + strconv.Quote(id) + ".",
			BackHref: "/operations", BackLabel: "Go to the operations"}
	}
	if err != nil {
		return err
	}
	p := pages.OperationProps{Now: s.now(), Op: d.Operation, Pending: d.Pending, ItemState: state, After: after, Next: -1}
	p.Items = d.Items[:min(len(d.Items), itemsShown)]
	if len(d.Items) > itemsShown {
		p.Next = p.Items[len(p.Items)-1].Seq
	}
	if d.Operation.FailingAgain > 0 {
		p.FailingAgainHref = failingAgainHref(p.Items)
	}
	p.Details = s.operationDetails(c.Request().Context(), d.Operation)
	return s.render(c, http.StatusOK, page{Title: "Operation", Nav: layout.NavOperations}, pages.Operation(p))
}

// failingAgainHref is the instance list that shows the instances with open incidents
// among the items (the narrowest filter that holds the page's items).
func failingAgainHref(items []*store.OperationItem) string {
	def, el := "", ""
	for i, it := range items {
		if i == 0 {
			def, el = it.DefinitionKey, it.ElementID
			continue
		}
		if it.DefinitionKey != def {
			def, el = "", ""
			break
		}
		if it.ElementID != el {
			el = ""
		}
	}
	switch {
	case def == "":
		return instancesURL("hasIncident", "true")
	case el == "":
		return instancesURL("process", def, "hasIncident", "true")
	}
	return instancesURL("process", def, "waitingAt", el, "hasIncident", "true")
}

// cancelOperation is POST /operations/:id/cancel.
func (s *server) cancelOperation(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	id := c.Param("id")
	back := "/operations/" + url.PathEscape(id)
	if !confirmed(c) {
		form, _ := c.FormParams()
		return s.render(c, http.StatusOK, page{Title: "Stop operation?", Nav: layout.NavOperations}, pages.Confirm(pages.ConfirmPageProps{
			Title: "Stop operation?", Message: "Stop this operation? The items that have not run are skipped; those done stay done.",
			Details: []string{"Operation " + id}, Action: back + "/cancel", Fields: hiddenFields(form, "reason"),
			Label: "Stop operation", Danger: true, BackHref: back}))
	}
	if _, err := cmds.CancelOperation(c.Request().Context(), command.OperationRequest{Meta: s.meta(c, reasonWeb), OperationID: id}); err != nil {
		return actionFailed(c, back, "Stop operation", err)
	}
	return redirectFlash(c, back, "The operation was stopped; the items that had not run are skipped.", false)
}

// ---- Audit log ----

// auditFilter reads the audit page's filter.
func auditFilter(c echo.Context) (store.AuditFilter, pages.AuditFilterForm, error) {
	q := c.QueryParams()
	form := pages.AuditFilterForm{Actor: strings.TrimSpace(q.Get("actor")), Command: strings.TrimSpace(q.Get("command")),
		Target: strings.TrimSpace(q.Get("target")), Instance: strings.TrimSpace(q.Get("instance")),
		Result: strings.TrimSpace(q.Get("result")), From: q.Get("from"), To: q.Get("to")}
	f := store.AuditFilter{Actor: form.Actor, Command: form.Command, Target: form.Target, Instance: form.Instance, Result: form.Result}
	for _, v := range []struct {
		name, val string
		max       int
	}{{"actor", form.Actor, command.MaxActorBytes}, {"command", form.Command, store.MaxNameBytes},
		{"target", form.Target, store.MaxKeyBytes}, {"instance", form.Instance, maxIDBytes}, {"result", form.Result, store.MaxNameBytes}} {
		if len(v.val) > v.max {
			return f, form, badRequest("Parameter %s is %d bytes, more than %d.", v.name, len(v.val), v.max)
		}
	}
	var err error
	if f.Since, err = formTime("from", form.From); err != nil {
		return f, form, err
	}
	if f.Until, err = formTime("to", form.To); err != nil {
		return f, form, err
	}
	if raw := q.Get("before"); raw != "" {
		at, id, ok := strings.Cut(raw, "|")
		t, terr := time.Parse(time.RFC3339Nano, at)
		if !ok || terr != nil || id == "" || len(id) > maxIDBytes {
			return f, form, badRequest("Parameter before %q is not a position in the audit log.", raw)
		}
		f.Before = &store.AuditCursor{Time: t, ID: id}
	}
	return f, form, nil
}

// formTime reads a datetime-local field (UTC); empty is zero.
func formTime(name, raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badRequest("Parameter %s %q: use a date and time such as 2026-12-07T09:30 (UTC).", name, raw)
}

// audit is GET /audit: the operator log, newest first, a page at a time.
func (s *server) audit(c echo.Context) error {
	f, form, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Limit = auditShown + 1
	list, err := s.eng.ListAudit(c.Request().Context(), f)
	if err != nil {
		return err
	}
	p := pages.AuditProps{Now: s.now(), Filter: form, Limit: auditShown}
	p.Entries = list[:min(len(list), auditShown)]
	q := form.Query()
	p.CSVHref = "/audit.csv" + encodeQuery(q)
	if len(list) > auditShown {
		last := p.Entries[len(p.Entries)-1]
		q.Set("before", last.Time.UTC().Format(time.RFC3339Nano)+"|"+last.ID)
		p.NextHref = "/audit" + encodeQuery(q)
	}
	return s.render(c, http.StatusOK, page{Title: "Audit log", Nav: layout.NavOperations}, pages.Audit(p))
}

// auditCSV is GET /audit.csv: the filtered log as CSV, newest first, at most
// auditCSVMax rows (read in pages); a read failing after the first page aborts the
// connection, so a cut download never looks complete.
func (s *server) auditCSV(c echo.Context) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	f.Limit = engineAuditPage
	first, err := s.eng.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"time", "actor", "command", "target", "instance_id", "reason", "result", "error"})
	rows, list := 0, first
	for {
		for _, a := range list {
			if rows >= auditCSVMax {
				break
			}
			_ = w.Write([]string{a.Time.UTC().Format(time.RFC3339Nano), csvSafe(a.Actor), csvSafe(a.Command), csvSafe(a.Target),
				csvSafe(a.InstanceID), csvSafe(a.Reason), csvSafe(a.Result), csvSafe(a.Error)})
			rows++
		}
		w.Flush()
		if rows >= auditCSVMax || len(list) < engineAuditPage {
			return w.Error()
		}
		last := list[len(list)-1]
		f.Before = &store.AuditCursor{Time: last.Time, ID: last.ID}
		if list, err = s.eng.ListAudit(ctx, f); err != nil {
			panic(http.ErrAbortHandler) // the download is cut: the client sees an error, not a short file
		}
	}
}

// engineAuditPage is how many entries one read of the CSV export takes.
const engineAuditPage = 1000

// csvSafe keeps a cell from being read as a formula by a spreadsheet.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// instanceAudit is the instance page's audit card.
func (s *server) instanceAudit(c echo.Context, id string) (pages.AuditCardProps, error) {
	list, err := s.eng.ListAudit(c.Request().Context(), store.AuditFilter{Instance: id, Limit: instanceAuditShown + 1})
	if err != nil {
		return pages.AuditCardProps{}, err
	}
	return pages.AuditCardProps{Now: s.now(), InstanceID: id, Entries: list[:min(len(list), instanceAuditShown)],
		More: len(list) > instanceAuditShown}, nil
}
