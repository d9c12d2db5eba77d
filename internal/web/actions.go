package web

// Operator actions. Every action but deployment travels through the command service (the
// CommandClient, NATS), which checks it, runs it on an engine node and writes the audit
// log; deployment has no command yet, so it calls the engine and writes its audit row
// here. The shape of every action is the same:
//
//   - a form posts (the CrossOriginProtection in New refuses cross-site posts);
//   - app.js asks first in a <dialog> (forms carry data-confirm). Without script, the
//     destructive actions (cancel, bulk retry) answer the first post with a confirm page
//     that posts the same fields again with confirm=yes; the others take the click as
//     consent, since their forms are an explicit step already;
//   - success redirects (303) to the page to look at next, with a one-time flash cookie
//     that the layout shows as a banner (role=status); a refused action shows the form
//     again with the errors inline (role=alert), or a flash error for one-button actions.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
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
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

const (
	// bulkWait is how long a bulk retry's POST waits for the command before it redirects
	// to the progress page: a small selection is done by then, so the page shows the
	// result at once, with or without script.
	bulkWait = 3 * time.Second
	// maxRetries bounds the attempts an operator gives a retried job.
	maxRetries = 100
	// multipartSlack is what a multipart upload may carry besides the file (headers,
	// boundaries) before the request itself is refused.
	multipartSlack = 1 << 20
	// flashCookie carries an action's result to the page it redirects to.
	flashCookie = "cockpit_flash"
	// reasonWeb is the audit log's reason when the operator gave none.
	reasonWeb = "from the cockpit web UI"
)

// actorFunc names the operator of a request: X-Forwarded-User when the proxy in front
// is trusted to set it (and strip it from clients), else the configured name. The header
// is passed on as sent, even when it is no valid actor (too long, not UTF-8, control
// characters): the command service refuses it and deploy checks it (command.CheckActor),
// so an action is refused rather than recorded under another name or a cut one.
func actorFunc(name string, trustProxy bool) func(*http.Request) string {
	if name == "" {
		name = "web"
	}
	return func(r *http.Request) string {
		if trustProxy {
			if u := strings.TrimSpace(r.Header.Get("X-Forwarded-User")); u != "" {
				return u
			}
		}
		return name
	}
}

func (s *server) meta(c echo.Context, reason string) command.Meta {
	if r := strings.TrimSpace(c.FormValue("reason")); r != "" {
		reason = r
	}
	return command.Meta{Actor: s.actor(c.Request()), Reason: reason}
}

// writable refuses a change on the Engine itself on a read-only cockpit (Options.ReadOnly):
// deployment, a task completed without a command client.
func (s *server) writable() error {
	if s.readOnly != "" {
		return &pageError{Status: http.StatusServiceUnavailable, Title: "Actions unavailable", Message: s.readOnly}
	}
	return nil
}

// commands returns the command client, or a 503 page when the UI runs without one. A
// read-only cockpit with a client (an observing cockpit's command.Router) sends its
// actions through it, to the services that own them.
func (s *server) commands() (CommandClient, error) {
	if s.cmds == nil && s.readOnly != "" {
		return nil, s.writable()
	}
	if s.cmds == nil {
		return nil, &pageError{Status: http.StatusServiceUnavailable, Title: "Actions unavailable",
			Message: "This cockpit runs without the command service, so it cannot change instances. Start it with `cockpit serve`."}
	}
	return s.cmds, nil
}

// setFlash stores a one-time banner for the next page. The cookie holds the text
// base64-encoded (cookie values allow few characters); it is not secret, only shown.
func setFlash(c echo.Context, msg string, isErr bool) {
	if len(msg) > 1500 {
		msg = msg[:1500] + "…"
	}
	kind := "o"
	if isErr {
		kind = "e"
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(kind + msg)),
		Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// takeFlash reads and clears the banner set by the action that redirected here.
func takeFlash(c echo.Context) *layout.Flash {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(b) < 2 || !utf8.Valid(b) {
		return nil
	}
	return &layout.Flash{Message: string(b[1:]), Error: b[0] == 'e'}
}

// redirectFlash ends an action: a banner for the next page, and 303 to it (a target
// that would leave this server goes to the overview).
func redirectFlash(c echo.Context, to, msg string, isErr bool) error {
	setFlash(c, msg, isErr)
	return c.Redirect(http.StatusSeeOther, localPath(to, "/"))
}

// localPath is the one check of a redirect target that comes from a request (back=, a
// form's field): it is kept only when every browser reads it as a path on this server.
// Browsers drop tabs and newlines anywhere in a URL and read a backslash as a slash, so
// "/\t/evil.example" or "/\\evil.example" would become "//evil.example", another host:
// control characters and backslashes are refused anywhere, not only after the first "/".
func localPath(p, fallback string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || len(p) > MaxParamBytes || !utf8.ValidString(p) {
		return fallback
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' || (r >= 0x80 && r <= 0x9f) {
			return fallback
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return fallback
	}
	return p
}

func confirmed(c echo.Context) bool { return c.FormValue("confirm") == "yes" }

// hiddenFields repeats a posted form (without confirm) on a confirm page.
func hiddenFields(form url.Values, keys ...string) []components.Hidden {
	var out []components.Hidden
	for _, k := range keys {
		for _, v := range form[k] {
			out = append(out, components.Hidden{Name: k, Value: v})
		}
	}
	return out
}

// commandStatus is the HTTP status for a failed command.
func commandStatus(err error) int {
	var cerr *command.Error
	if errors.As(err, &cerr) {
		switch cerr.Code {
		case command.CodeNotFound:
			return http.StatusNotFound
		case command.CodeInvalidState:
			return http.StatusConflict
		case command.CodeInvalidInput:
			return http.StatusUnprocessableEntity
		case command.CodeUnauthorized:
			return http.StatusForbidden
		case command.CodeUnavailable:
			return http.StatusServiceUnavailable
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// commandMessage says in words why a command failed, and what happened.
func commandMessage(what string, err error) string {
	var cerr *command.Error
	switch {
	case errors.As(err, &cerr) && errors.Is(err, command.ErrServiceNotAnswering):
		return what + " was not carried out: service " + cerr.Service + " is not answering (is it running?). Nothing was changed; try again when it is back."
	case errors.Is(err, command.ErrNoService):
		return what + " was not carried out: no engine node answers commands (is one running?). Nothing was changed; try again when one is back."
	case errors.Is(err, command.ErrNATSUnavailable):
		return what + " was not carried out: the command service could not be reached (NATS is unavailable). Nothing was changed; try again when it is back."
	case errors.As(err, &cerr) && cerr.Code == command.CodeUnavailable:
		// The service says why and when to try again (stopping, database unavailable).
		return what + " was not carried out: " + cerr.Message + ". Nothing was changed."
	case errors.As(err, &cerr):
		return what + " was refused: " + cerr.Message
	case errors.Is(err, context.DeadlineExceeded):
		return what + ": no answer in time. The command may still have run; look at the instance before trying again."
	}
	return what + " failed: " + err.Error()
}

// actionFailed ends a one-button action that the command service refused: a missing
// target is a 404 page; anything else goes back with the reason as an error banner.
func actionFailed(c echo.Context, back, what string, err error) error {
	if commandStatus(err) == http.StatusNotFound {
		var cerr *command.Error
		errors.As(err, &cerr)
		return &pageError{Status: http.StatusNotFound, Title: "Not found", Message: what + ": " + cerr.Message,
			BackHref: localPath(back, "/"), BackLabel: "Go back"}
	}
	return redirectFlash(c, back, commandMessage(what, err), true)
}

// ---- Instance: suspend, resume, cancel ----

type instanceVerb struct {
	verb, done, question, label string
	danger                      bool
}

var (
	verbSuspend = instanceVerb{verb: "suspend", done: "Instance suspended: its jobs and timers wait until it is resumed.", label: "Suspend"}
	verbResume  = instanceVerb{verb: "resume", done: "Instance resumed.", label: "Resume"}
	verbCancel  = instanceVerb{verb: "cancel", done: "Instance cancelled.", label: "Cancel instance", danger: true,
		question: "Cancel this instance? Its open tasks, jobs and timers are dropped; it cannot be resumed."}
)

func (s *server) instanceAction(v instanceVerb) echo.HandlerFunc {
	return func(c echo.Context) error {
		cmds, err := s.commands()
		if err != nil {
			return err
		}
		id := c.Param("id")
		back := instanceURL(id)
		if v.danger && !confirmed(c) {
			d, err := s.eng.GetInstance(c.Request().Context(), id)
			if err != nil {
				return s.instanceLoadError(id, err)
			}
			details := []string{"Instance " + id + " of " + processLabelOf(d.Instance) + " (" + d.Instance.State + ")"}
			if d.Instance.BusinessKey != "" {
				details = append(details, "Business key "+components.Clip(d.Instance.BusinessKey, components.CellChars))
			}
			form, _ := c.FormParams()
			return s.render(c, http.StatusOK, page{Title: "Cancel instance?", Nav: layout.NavInstances}, pages.Confirm(pages.ConfirmPageProps{
				Title: "Cancel instance?", Message: v.question, Details: details, Action: back + "/" + v.verb,
				Fields: hiddenFields(form, "reason"), Label: v.label, Danger: true, BackHref: back}))
		}
		req := command.InstanceRequest{Meta: s.meta(c, reasonWeb), InstanceID: id}
		ctx := c.Request().Context()
		switch v.verb {
		case "suspend":
			_, err = cmds.SuspendInstance(ctx, req)
		case "resume":
			_, err = cmds.ResumeInstance(ctx, req)
		case "cancel":
			_, err = cmds.CancelInstance(ctx, req)
		}
		if err != nil {
			return actionFailed(c, back, strings.ToUpper(v.verb[:1])+v.verb[1:]+" instance", err)
		}
		return redirectFlash(c, back, v.done, false)
	}
}

func (s *server) instanceLoadError(id string, err error) error {
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, engine.ErrNotFound) {
		return &pageError{Status: http.StatusNotFound, Title: "Instance not found",
			Message:  "No instance has the id " + strconv.Quote(id) + ". Check the id, or find the instance in the list.",
			BackHref: "/instances", BackLabel: "Go to the instance list"}
	}
	return err
}

func instanceURL(id string) string { return "/instances/" + url.PathEscape(id) }

func processLabelOf(in *store.Instance) string {
	return in.DefinitionKey + " v" + strconv.Itoa(in.DefinitionVersion)
}

// ---- Instance variables ----

func (s *server) variablesPage(c echo.Context) (*pages.VariablesProps, *engine.InstanceDetail, error) {
	id := c.Param("id")
	d, err := s.eng.GetInstance(c.Request().Context(), id)
	if err != nil {
		return nil, nil, s.instanceLoadError(id, err)
	}
	p := &pages.VariablesProps{Instance: d.Instance, DefinitionName: d.Instance.DefinitionKey}
	return p, d, nil
}

func (s *server) editVariables(c echo.Context) error {
	p, d, err := s.variablesPage(c)
	if err != nil {
		return err
	}
	p.Rows = variableEditorRows(processVariables(d.Variables))
	return s.render(c, http.StatusOK, page{Title: "Edit variables", Nav: layout.NavInstances}, pages.Variables(*p))
}

func (s *server) setVariables(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	p, _, err := s.variablesPage(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	vars, rows, invalid := parseVariableRows(form)
	p.Rows = appendBlankIfNone(rows)
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Edit variables", Nav: layout.NavInstances}, pages.Variables(*p))
	}
	switch {
	case invalid:
		return show(http.StatusUnprocessableEntity, "Some rows need fixing; no variable was changed.")
	case len(vars) == 0:
		return show(http.StatusUnprocessableEntity, "Nothing changed: edit a value or type, or fill in a new row.")
	}
	res, err := cmds.SetVariables(c.Request().Context(), command.SetVariablesRequest{
		Meta: s.meta(c, reasonWeb), InstanceID: p.Instance.ID, Variables: vars})
	if err != nil {
		if commandStatus(err) == http.StatusNotFound {
			return actionFailed(c, instanceURL(p.Instance.ID), "Set variables", err)
		}
		return show(commandStatus(err), commandMessage("Setting variables", err))
	}
	return redirectFlash(c, instanceURL(p.Instance.ID), "Variables set: "+strings.Join(res.Names, ", ")+".", false)
}

func appendBlankIfNone(rows []pages.VariableInput) []pages.VariableInput {
	for _, r := range rows {
		if !r.Existing && r.Name == "" {
			return rows
		}
	}
	return appendBlankRows(rows)
}

// ---- Incident retry ----

func (s *server) retryPage(c echo.Context) (*pages.RetryProps, *engine.InstanceDetail, error) {
	ctx := c.Request().Context()
	id := c.Param("id")
	inc, err := s.eng.GetIncident(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, &pageError{Status: http.StatusNotFound, Title: "Incident not found",
			Message:  "No incident has the id " + strconv.Quote(id) + ". It may have been retried and cleaned up, or the link is wrong.",
			BackHref: "/incidents", BackLabel: "Go to the incidents"}
	}
	if err != nil {
		return nil, nil, err
	}
	d, err := s.eng.GetInstance(ctx, inc.InstanceID)
	if err != nil {
		return nil, nil, s.instanceLoadError(inc.InstanceID, err)
	}
	name := inc.ElementID
	if model, err := s.eng.Model(ctx, d.Instance.DefinitionID); err == nil {
		if n := elementNames(model)[inc.ElementID]; n != "" {
			name = n
		}
	}
	return &pages.RetryProps{Now: s.now(), Incident: inc, Instance: d.Instance, ElementName: name, Retries: "1"}, d, nil
}

func (s *server) retryForm(c echo.Context) error {
	p, d, err := s.retryPage(c)
	if err != nil {
		return err
	}
	if p.Incident.State != store.IncidentOpen {
		p.FormError = "This incident is " + p.Incident.State + " already; there is nothing to retry."
	}
	p.Rows = variableEditorRows(processVariables(d.Variables))
	return s.render(c, http.StatusOK, page{Title: "Retry incident", Nav: layout.NavIncidents}, pages.Retry(*p))
}

// retryIncident retries one incident: from the instance page's button (retries only), or
// from the retry form (retries and variables; errors are shown on the form).
func (s *server) retryIncident(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	p, _, err := s.retryPage(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	back := localPath(form.Get("back"), instanceURL(p.Instance.ID))
	_, fromForm := form[fieldVarName]
	var vars map[string]any
	invalid := false
	if fromForm {
		vars, p.Rows, invalid = parseVariableRows(form)
		p.Rows = appendBlankIfNone(p.Rows)
	}
	retries := 1
	if raw := strings.TrimSpace(form.Get("retries")); raw != "" {
		p.Retries = raw
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxRetries {
			p.RetriesError, invalid = fmt.Sprintf("Attempts must be a whole number from 1 to %d.", maxRetries), true
		}
		retries = n
	}
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Retry incident", Nav: layout.NavIncidents}, pages.Retry(*p))
	}
	if invalid {
		if !fromForm {
			return redirectFlash(c, back, "Retry refused: "+p.RetriesError, true)
		}
		return show(http.StatusUnprocessableEntity, "Some values need fixing; the incident was not retried.")
	}
	if len(vars) == 0 {
		vars = nil
	}
	_, err = cmds.RetryIncident(c.Request().Context(), command.RetryIncidentRequest{
		Meta: s.meta(c, reasonWeb), IncidentID: p.Incident.ID, Variables: vars, Retries: retries})
	if err != nil {
		if fromForm && commandStatus(err) != http.StatusNotFound {
			return show(commandStatus(err), commandMessage("The retry", err))
		}
		return actionFailed(c, back, "Retry incident", err)
	}
	msg := fmt.Sprintf("Incident retried: %s runs again", p.ElementName)
	if retries > 1 {
		msg += fmt.Sprintf(" with %d attempts", retries)
	}
	if len(vars) > 0 {
		msg += ", after setting " + strings.Join(sortedNames(vars), ", ")
	}
	return redirectFlash(c, back, msg+".", false)
}

// ---- Bulk retry ----
//
// A bulk retry runs exactly what the operator confirmed. The button posts its selection
// (an incident group's filter, or the instance list's filter); the server resolves it to
// incident ids now and asks on a confirm page that carries those ids, at most
// maxBulkSelect of them. Only the confirming post, with the ids, runs, and it retries
// those ids and no others: an incident that opened after the confirm page is left alone,
// one resolved meanwhile is reported as not retried. A confirm=yes post without ids (an
// old page, a script's dialog) gets the confirm page again, never a run of the filter.

// maxBulkSelect is the most incidents one bulk retry from the UI runs (the ids travel
// in the confirm form, about 40 bytes each). Above it the confirm page offers the oldest
// maxBulkSelect or to narrow the selection.
const maxBulkSelect = 1000

// bulkIDs reads the incident ids a confirm page posted; a bad one is a 400 naming it.
func bulkIDs(form url.Values) ([]string, error) {
	raw := form["id"]
	if len(raw) > maxBulkSelect {
		return nil, badRequest("The form lists %d incidents; one bulk retry runs at most %d (maxBulkSelect). Narrow the selection.", len(raw), maxBulkSelect)
	}
	seen := make(map[string]bool, len(raw))
	ids := make([]string, 0, len(raw))
	for i, id := range raw {
		if id == "" || len(id) > maxIDBytes || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
			return nil, badRequest("Parameter id #%d is not an incident id.", i+1)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// maxIDBytes bounds an id posted by a form (engine ids are 36-byte UUIDs).
const maxIDBytes = 128

// retryBulk retries the open incidents of a group of the incidents page (a filter).
func (s *server) retryBulk(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	req := command.BulkRetryRequest{
		DefinitionKey: strings.TrimSpace(form.Get("definitionKey")), ElementID: strings.TrimSpace(form.Get("elementId")),
		Type: strings.TrimSpace(form.Get("type")), MessageContains: form.Get("messageContains"), All: form.Get("all") == "true",
		ErrorCode: strings.TrimSpace(form.Get("errorCode")), Fingerprint: strings.TrimSpace(form.Get("fingerprint")),
	}
	if req.Filter().IsZero() && !req.All {
		return badRequest("A bulk retry needs a selection: a process, element, type, message, error code or group (or all=true).")
	}
	if raw := form.Get("retries"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxRetries {
			return badRequest("Attempts %q: use a whole number from 1 to %d.", raw, maxRetries)
		}
		req.Retries = n
	}
	back := localPath(form.Get("back"), "/incidents")
	selection := describeSelection(req)
	ids, err := bulkIDs(form)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if !confirmed(c) || len(ids) == 0 {
		sel, matched, err := s.selectIncidents(ctx, req)
		if err != nil {
			return err
		}
		if len(sel) == 0 {
			return redirectFlash(c, back, "No open incident matches "+selection+" any more; nothing to retry.", true)
		}
		return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavIncidents}, pages.Confirm(bulkConfirm(
			"/incidents/retry-bulk", hiddenFields(form, "definitionKey", "elementId", "type", "messageContains", "errorCode", "fingerprint", "all", "retries", "back", "reason"),
			sel, matched, "Selection: "+selection, back)))
	}
	req.DefinitionKey, req.ElementID, req.Type, req.MessageContains, req.All = "", "", "", "", false
	req.ErrorCode, req.Fingerprint = "", ""
	req.IncidentIDs, req.Max = ids, len(ids)
	return s.startBulk(c, cmds, req, selection, back)
}

// bulkConfirm is the confirm page of a bulk retry: the count, and a form that posts the
// selection's ids (sel, oldest first, at most maxBulkSelect; matched counts them all).
func bulkConfirm(action string, fields []components.Hidden, sel []*store.Incident, matched int, what, back string) pages.ConfirmPageProps {
	for _, in := range sel {
		fields = append(fields, components.Hidden{Name: "id", Value: in.ID})
	}
	n := strconv.Itoa(len(sel))
	p := pages.ConfirmPageProps{
		Title:   "Retry " + n + " incident" + pluralS(len(sel)) + "?",
		Message: "Retry these " + n + " open incident" + pluralS(len(sel)) + "? Each failed step runs once more.",
		Details: []string{what,
			"Exactly these " + n + " are retried: an incident that opens after this page is not included, and one resolved meanwhile is skipped and reported.",
			"Oldest opened " + sel[0].CreatedAt.UTC().Format(time.DateTime) + " UTC, newest " + sel[len(sel)-1].CreatedAt.UTC().Format(time.DateTime) + " UTC."},
		Action: action, Fields: fields, Label: "Retry " + n + " incident" + pluralS(len(sel)), Danger: true, BackHref: back,
	}
	if matched > len(sel) {
		p.Title = "Retry the oldest " + n + " of " + strconv.Itoa(matched) + " incidents?"
		p.Message = strconv.Itoa(matched) + " open incidents match, more than one bulk retry runs (" + strconv.Itoa(maxBulkSelect) +
			"). Retry the oldest " + n + " now and repeat for the rest, or go back and narrow the selection."
		p.Label = "Retry the oldest " + n
	}
	return p
}

// retryInstances retries the open incidents of the instances a list filter selects.
func (s *server) retryInstances(c echo.Context) error {
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
	ids, err := bulkIDs(form)
	if err != nil {
		return err
	}
	if confirmed(c) && len(ids) > 0 {
		selection := "incidents of the instance list, filter: " + describeFilter(q)
		req := command.BulkRetryRequest{IncidentIDs: ids, Max: len(ids)}
		return s.startBulk(c, cmds, req, selection, back)
	}
	sel, instances, err := s.incidentsOfInstances(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if len(sel) == 0 {
		return redirectFlash(c, back, "No open incidents among the instances of this list; nothing to retry.", true)
	}
	matched := len(sel)
	sel = sel[:min(len(sel), maxBulkSelect)]
	what := fmt.Sprintf("Filter: %s (%d instance%s with open incidents).", describeFilter(q), instances, pluralS(instances))
	return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavInstances}, pages.Confirm(bulkConfirm(
		"/instances/retry-incidents", hiddenFields(form, append(instanceFilterKeys, "reason")...), sel, matched, what, back)))
}

// instanceFilterKeys are the instance list's filter parameters (not the page cursor).
var instanceFilterKeys = []string{"state", "service", "process", "version", "businessKey", "var", "value", "from", "to", "hasIncident", "waitingAt", "stalled", "parent"}

// incidentsOfInstances collects the open incidents of the instances a filter selects
// (at most command.DefaultBulkMax instances, newest first), oldest incident first.
func (s *server) incidentsOfInstances(ctx context.Context, f store.InstanceFilter) (sel []*store.Incident, instances int, err error) {
	yes := true
	f.HasIncident, f.After, f.Limit = &yes, "", maxPage
	want := map[string]bool{}
	for len(want) < command.DefaultBulkMax {
		page, err := s.eng.ListInstances(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		for _, in := range page.Instances {
			want[in.ID] = true
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	if len(want) == 0 {
		return nil, 0, nil
	}
	if s.queue == nil {
		return nil, 0, errNoQueue
	}
	// Every open incident of those instances, oldest first (the incident queue reads them
	// all, in keyset pages).
	res, err := s.queue.Select(ctx, incidents.Filter{State: store.IncidentOpen, InstanceIDs: slices.Collect(maps.Keys(want))}, s.now(), 0)
	if err != nil {
		return nil, 0, err
	}
	return res.Incidents, len(want), nil
}

// selectIncidents resolves a bulk filter to the open incidents it selects now, the way
// the command service does (the incident queue, oldest first), at most maxBulkSelect of
// them; matched counts every match.
func (s *server) selectIncidents(ctx context.Context, r command.BulkRetryRequest) (sel []*store.Incident, matched int, err error) {
	if s.queue == nil {
		return nil, 0, errNoQueue
	}
	res, err := s.queue.Select(ctx, r.Filter(), s.now(), maxBulkSelect)
	if errors.Is(err, incidents.ErrInvalid) {
		return nil, 0, badRequest("%v", err)
	}
	if err != nil {
		return nil, 0, err
	}
	return res.Incidents, res.Matched, nil
}

func oldestFirst(list []*store.Incident) {
	slices.SortFunc(list, func(a, b *store.Incident) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func describeSelection(r command.BulkRetryRequest) string {
	var parts []string
	if r.All {
		parts = append(parts, "every open incident")
	}
	if r.DefinitionKey != "" {
		parts = append(parts, "process "+r.DefinitionKey)
	}
	if r.ElementID != "" {
		parts = append(parts, "element "+r.ElementID)
	}
	if r.Type != "" {
		parts = append(parts, "type "+r.Type)
	}
	if r.MessageContains != "" {
		parts = append(parts, "message containing "+strconv.Quote(firstLineOf(r.MessageContains, components.CellChars)))
	}
	return strings.Join(parts, ", ")
}

func describeFilter(q url.Values) string {
	if len(q) == 0 {
		return "all instances"
	}
	var parts []string
	for _, k := range instanceFilterKeys {
		if v := q.Get(k); v != "" {
			parts = append(parts, k+" = "+components.Clip(v, components.CellChars))
		}
	}
	return strings.Join(parts, ", ")
}

func firstLineOf(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return components.Clip(s, n)
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// startBulk creates the operation that retries the confirmed incidents (req.IncidentIDs)
// and redirects to its page: the engine nodes run it, and the page follows it live.
func (s *server) startBulk(c echo.Context, cmds CommandClient, req command.BulkRetryRequest, selection, back string) error {
	op, err := cmds.CreateOperation(c.Request().Context(), command.CreateOperationRequest{Meta: s.meta(c, reasonWeb),
		Kind: operation.KindRetryIncidents, IncidentIDs: req.IncidentIDs, Max: len(req.IncidentIDs), Retries: req.Retries,
		Selection: components.Clip(selection, command.MaxSelectionBytes/4)})
	if err != nil {
		return actionFailed(c, back, "The bulk retry", err)
	}
	return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
}

// ---- Start an instance ----

func (s *server) startPage(c echo.Context) (*pages.StartProps, error) {
	key := c.Param("key")
	versions, err := s.eng.ListDefinitions(c.Request().Context(), store.DefinitionFilter{Key: key})
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, notFound("No process with key %q is deployed. The overview lists the deployed processes.", key)
	}
	// In an observing cockpit's read model several services may deploy the key: the
	// form starts in one (the service parameter, else the first), and names the others.
	services := definitionServices(versions)
	service := c.FormValue("service")
	if service == "" {
		service = services[0]
	} else if !slices.Contains(services, service) {
		return nil, notFound("Service %q deploys no process with key %q.", service, key)
	}
	var newestFirst []*store.Definition
	for i := len(versions) - 1; i >= 0; i-- {
		if versions[i].Service == service {
			newestFirst = append(newestFirst, versions[i])
		}
	}
	def := *newestFirst[0]
	if def.Name == "" {
		def.Name = def.Key
	}
	p := &pages.StartProps{Definition: &def, Versions: newestFirst, Service: service}
	for _, other := range services {
		if other != service {
			p.Services = append(p.Services, other)
		}
	}
	return p, nil
}

func (s *server) startForm(c echo.Context) error {
	p, err := s.startPage(c)
	if err != nil {
		return err
	}
	p.Version = c.QueryParam("version")
	p.Rows = appendBlankRows(nil)
	return s.render(c, http.StatusOK, page{Title: "Start " + p.Definition.Name, Nav: layout.NavOverview}, pages.Start(*p))
}

func (s *server) startInstance(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	p, err := s.startPage(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	p.Version, p.BusinessKey = form.Get("version"), strings.TrimSpace(form.Get("businessKey"))
	vars, rows, invalid := parseVariableRows(form)
	p.Rows = appendBlankIfNone(rows)
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Start " + p.Definition.Name, Nav: layout.NavOverview}, pages.Start(*p))
	}
	version := 0
	if p.Version != "" {
		n, err := strconv.Atoi(p.Version)
		if err != nil || n < 1 {
			return show(http.StatusUnprocessableEntity, fmt.Sprintf("Version %q is not a version number.", p.Version))
		}
		version = n
	}
	if invalid {
		return show(http.StatusUnprocessableEntity, "Some variables need fixing; no instance was started.")
	}
	if len(vars) == 0 {
		vars = nil
	}
	res, err := cmds.StartInstance(c.Request().Context(), command.StartInstanceRequest{Meta: s.meta(c, reasonWeb),
		ProcessKey: p.Definition.Key, Version: version, BusinessKey: p.BusinessKey, Variables: vars, Service: p.Service})
	if err != nil {
		return show(commandStatus(err), commandMessage("Starting the instance", err))
	}
	return redirectFlash(c, instanceURL(res.InstanceID),
		fmt.Sprintf("Started an instance of %s v%d; it is %s now.", res.DefinitionKey, res.DefinitionVersion, res.State), false)
}

// ---- Correlate a message ----

func (s *server) correlateForm(c echo.Context) error {
	services, err := s.allServices(c.Request().Context())
	if err != nil {
		return err
	}
	p := pages.CorrelateProps{Name: c.QueryParam("name"), CorrelationKey: c.QueryParam("correlationKey"),
		Service: c.QueryParam("service"), Services: services}
	return s.render(c, http.StatusOK, page{Title: "Correlate a message"}, pages.Correlate(p))
}

// allServices lists the services the store holds definitions of: several in an
// observing cockpit's read model, [""] in an engine's own cockpit. The forms offer a
// choice when there are several.
func (s *server) allServices(ctx context.Context) ([]string, error) {
	defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{})
	if err != nil {
		return nil, err
	}
	return definitionServices(defs), nil
}

// formService reads a form's service choice: "" or one of services.
func formService(form url.Values, services []string) (string, error) {
	svc := strings.TrimSpace(form.Get("service"))
	if svc != "" && !slices.Contains(services, svc) {
		return "", badRequest("Service %q deploys no process here.", svc)
	}
	return svc, nil
}

func (s *server) correlate(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	services, err := s.allServices(c.Request().Context())
	if err != nil {
		return err
	}
	service, err := formService(form, services)
	if err != nil {
		return err
	}
	if service == "" && len(services) == 1 {
		service = services[0]
	}
	p := pages.CorrelateProps{Name: strings.TrimSpace(form.Get("name")), CorrelationKey: strings.TrimSpace(form.Get("correlationKey")),
		Variables: form.Get("variables"), Service: service, Services: services}
	invalid := false
	if p.Name == "" {
		p.NameError, invalid = "Enter the message name, as the model's message element names it.", true
	}
	vars, err := parseVariablesJSON(p.Variables)
	if err != nil {
		p.VariablesError, invalid = err.Error(), true
	}
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Correlate a message"}, pages.Correlate(p))
	}
	if invalid {
		return show(http.StatusUnprocessableEntity, "Some fields need fixing; no message was sent.")
	}
	res, err := cmds.CorrelateMessage(c.Request().Context(), command.CorrelateMessageRequest{Meta: s.meta(c, reasonWeb),
		Name: p.Name, CorrelationKey: p.CorrelationKey, Variables: vars, Service: p.Service})
	if err != nil {
		if commandStatus(err) == http.StatusNotFound {
			return show(http.StatusNotFound, fmt.Sprintf("Nothing waits for message %q with correlation key %q, and no process starts with it. Nothing changed.", p.Name, p.CorrelationKey))
		}
		return show(commandStatus(err), commandMessage("The message", err))
	}
	msg := fmt.Sprintf("Message %q delivered to this instance.", p.Name)
	if res.Started {
		msg = fmt.Sprintf("Message %q started this instance.", p.Name)
	}
	return redirectFlash(c, instanceURL(res.InstanceID), msg, false)
}

// ---- Broadcast a signal ----

func (s *server) signalForm(c echo.Context) error {
	services, err := s.allServices(c.Request().Context())
	if err != nil {
		return err
	}
	p := pages.SignalProps{Name: c.QueryParam("name"), Service: c.QueryParam("service"), Services: services}
	return s.render(c, http.StatusOK, page{Title: "Send a signal"}, pages.Signal(p))
}

func (s *server) broadcastSignal(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	services, err := s.allServices(c.Request().Context())
	if err != nil {
		return err
	}
	service, err := formService(form, services)
	if err != nil {
		return err
	}
	if service == "" && len(services) == 1 {
		service = services[0]
	}
	p := pages.SignalProps{Name: strings.TrimSpace(form.Get("name")), Variables: form.Get("variables"), Service: service, Services: services}
	invalid := false
	if p.Name == "" {
		p.NameError, invalid = "Enter the signal name, as the model's signal element names it.", true
	}
	vars, err := parseVariablesJSON(p.Variables)
	if err != nil {
		p.VariablesError, invalid = err.Error(), true
	}
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Send a signal"}, pages.Signal(p))
	}
	if invalid {
		return show(http.StatusUnprocessableEntity, "Some fields need fixing; no signal was sent.")
	}
	if _, err := cmds.BroadcastSignal(c.Request().Context(), command.BroadcastSignalRequest{Meta: s.meta(c, reasonWeb),
		Name: p.Name, Variables: vars, Service: p.Service}); err != nil {
		return show(commandStatus(err), commandMessage("The signal", err))
	}
	return redirectFlash(c, "/", fmt.Sprintf("Signal %q sent: every instance waiting for it moves on as it is delivered, and processes with a signal start event of that name start.", p.Name), false)
}

// ---- Deploy ----

func (s *server) deployForm(c echo.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, page{Title: "Deploy a process", Nav: layout.NavOverview}, pages.Deploy(pages.DeployProps{MaxBytes: bpmn.MaxDocumentBytes}))
}

// deploy reads an uploaded BPMN file and deploys it on the engine directly: there is no
// deploy command on NATS yet, so this handler writes the audit row itself.
func (s *server) deploy(c echo.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	p := pages.DeployProps{MaxBytes: bpmn.MaxDocumentBytes}
	show := func(status int, msg string) error {
		p.FormError = msg
		return s.render(c, status, page{Title: "Deploy a process", Nav: layout.NavOverview}, pages.Deploy(p))
	}
	tooLarge := fmt.Sprintf("The file is larger than %d MiB, the most a BPMN document may be. Nothing was deployed.", bpmn.MaxDocumentBytes>>20)
	r := c.Request()
	r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxDeployBodyBytes)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return show(http.StatusRequestEntityTooLarge, tooLarge)
		}
		return show(http.StatusBadRequest, "The upload could not be read: "+err.Error())
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	file, header, err := r.FormFile("file")
	if err != nil {
		return show(http.StatusBadRequest, "Choose a BPMN file to deploy.")
	}
	defer file.Close()
	if header.Size > bpmn.MaxDocumentBytes {
		return show(http.StatusRequestEntityTooLarge, tooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(file, bpmn.MaxDocumentBytes+1))
	if err != nil {
		return show(http.StatusBadRequest, "The upload could not be read: "+err.Error())
	}
	if len(data) > bpmn.MaxDocumentBytes {
		return show(http.StatusRequestEntityTooLarge, tooLarge)
	}
	resource := command.ResourceName(header.Filename, "upload.bpmn")
	if len(resource) > command.MaxResourceBytes {
		return show(http.StatusBadRequest, fmt.Sprintf("The file name is %d bytes, more than the limit of %d bytes (the audit log indexes it); rename the file. Nothing was deployed.",
			len(resource), command.MaxResourceBytes))
	}
	p.Resource = resource
	// No audit row, no deployment (as for commands, see internal/command/audit.go).
	dep, err := command.Deploy(c.Request().Context(), s.eng, command.DeployRequest{
		Actor: s.actor(c.Request()), Reason: reasonWeb, Resource: resource, Data: data, Now: s.now(), Log: s.log})
	var cerr *command.Error
	switch {
	case errors.As(err, &cerr): // the resource is checked above: the actor is refused
		return show(http.StatusForbidden, "Nothing was deployed: the operator name from the proxy is refused: "+cerr.Message+".")
	case errors.Is(err, command.ErrAuditUnavailable):
		s.log.Error("web: write audit log", "command", "deploy", "err", err)
		return show(http.StatusServiceUnavailable, "Nothing was deployed: the audit log could not be written (the database may be unavailable). Try again later.")
	}
	if err != nil {
		var derr *engine.DeployError
		if !errors.As(err, &derr) {
			return err
		}
		// bpmn.ErrTooLarge past the byte check above is a limit of shape (depth,
		// elements, attributes, namespaces): a problem with its line, listed like others.
		p.Problems = deployProblems(derr)
		msg := fmt.Sprintf("%s was not deployed", resource)
		if len(p.Problems) > 0 {
			msg += fmt.Sprintf(": %d problem%s.", len(p.Problems), pluralS(len(p.Problems)))
		} else {
			msg += ": " + derr.Error()
		}
		return show(http.StatusUnprocessableEntity, msg)
	}
	var parts []string
	for _, dp := range dep.Processes {
		state := "new version"
		if !dp.Created {
			state = "unchanged, the same file was deployed before"
		}
		parts = append(parts, fmt.Sprintf("%s v%d (%s)", dp.Definition.Key, dp.Definition.Version, state))
	}
	to := "/"
	if len(dep.Processes) == 1 {
		d := dep.Processes[0].Definition
		to = "/processes/" + url.PathEscape(d.Key) + "?version=" + strconv.Itoa(d.Version)
	}
	msg := "Deployed " + resource + ": " + strings.Join(parts, "; ") + "."
	if n := len(dep.Warnings); n > 0 {
		// A warning does not refuse the deployment; the process page names the types.
		tasks := "1 service task uses"
		if n > 1 {
			tasks = strconv.Itoa(n) + " service tasks use"
		}
		msg += " Warning: " + tasks + " a job type that no handler serves; its jobs will wait until one is registered."
	}
	if dep.Report != nil && len(dep.Report.Warnings) > 0 {
		// References of the diagram and artifacts that point at nothing: the flow runs,
		// but the drawing may miss shapes.
		n := len(dep.Report.Warnings)
		verb := "point"
		if n == 1 {
			verb = "points"
		}
		msg += fmt.Sprintf(" Note: %d reference%s of the diagram or its artifacts %s at nothing (cockpit validate lists them).", n, pluralS(n), verb)
	}
	return redirectFlash(c, to, msg, false)
}

// deployAuditTimeout bounds each write of an audit row the UI writes itself (a user's).
const deployAuditTimeout = 5 * time.Second

// deployProblems lists why a deployment was refused, with element ids, lines and columns.
func deployProblems(derr *engine.DeployError) []pages.DeployProblem {
	var out []pages.DeployProblem
	for _, p := range derr.Problems() {
		out = append(out, pages.DeployProblem{Process: p.Process, ElementID: p.ElementID, Kind: string(p.Kind),
			Line: p.Line, Col: p.Col, Message: p.Message})
	}
	return out
}
