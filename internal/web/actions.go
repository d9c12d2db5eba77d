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
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

const (
	// maxActorBytes is the command service's limit on an actor.
	maxActorBytes = 256
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
// is trusted to set it (and strip it from clients), else the configured name.
func actorFunc(name string, trustProxy bool) func(*http.Request) string {
	if name == "" {
		name = "web"
	}
	return func(r *http.Request) string {
		if trustProxy {
			if u := strings.TrimSpace(r.Header.Get("X-Forwarded-User")); u != "" && utf8.ValidString(u) {
				if len(u) > maxActorBytes {
					u = u[:maxActorBytes]
				}
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

// commands returns the command client, or a 503 page when the UI runs without one.
func (s *server) commands() (CommandClient, error) {
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
	case errors.As(err, &cerr) && cerr.Code == command.CodeUnavailable:
		return what + " was not carried out: the command service did not answer (" + cerr.Message + "). Nothing changed; try again."
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
				details = append(details, "Business key "+d.Instance.BusinessKey)
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
	p.Rows = variableEditorRows(d.Variables)
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
	var inc *store.Incident
	err := s.eng.Store().Read(ctx, func(tx store.Tx) error {
		var err error
		inc, err = tx.GetIncident(ctx, id)
		return err
	})
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
	p.Rows = variableEditorRows(d.Variables)
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
	}
	if req.DefinitionKey == "" && req.ElementID == "" && req.Type == "" && req.MessageContains == "" && !req.All {
		return badRequest("A bulk retry needs a selection: a process, element, type or message (or all=true).")
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
	if !confirmed(c) {
		n, capped, err := s.countMatching(c.Request().Context(), req)
		if err != nil {
			return err
		}
		count := strconv.Itoa(n)
		if capped {
			count += "+"
		}
		return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavIncidents}, pages.Confirm(pages.ConfirmPageProps{
			Title:   "Retry " + count + " incidents?",
			Message: "Retry every open incident that matches, oldest first (at most " + strconv.Itoa(command.DefaultBulkMax) + ")? Each failed job runs again.",
			Details: []string{"Selection: " + selection, count + " open incidents match now."},
			Action:  "/incidents/retry-bulk", Fields: hiddenFields(form, "definitionKey", "elementId", "type", "messageContains", "all", "retries", "back", "reason"),
			Label: "Retry " + count + " incidents", Danger: true, BackHref: back}))
	}
	return s.startBulk(c, cmds, req, "Bulk retry", selection, back)
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
	ids, instances, err := s.incidentsOfInstances(c.Request().Context(), f)
	if err != nil {
		return err
	}
	selection := fmt.Sprintf("%d instance%s of the filtered list", instances, pluralS(instances))
	if len(ids) == 0 {
		return redirectFlash(c, back, "No open incidents among the instances of this list; nothing to retry.", true)
	}
	if !confirmed(c) {
		return s.render(c, http.StatusOK, page{Title: "Retry incidents?", Nav: layout.NavInstances}, pages.Confirm(pages.ConfirmPageProps{
			Title:   fmt.Sprintf("Retry %d incidents?", len(ids)),
			Message: fmt.Sprintf("Retry the %d open incidents of %s? Each failed job runs again.", len(ids), selection),
			Details: []string{"Filter: " + describeFilter(q)},
			Action:  "/instances/retry-incidents", Fields: hiddenFields(form, append(instanceFilterKeys, "reason")...),
			Label: fmt.Sprintf("Retry %d incidents", len(ids)), Danger: true, BackHref: back}))
	}
	req := command.BulkRetryRequest{IncidentIDs: ids, Max: len(ids)}
	return s.startBulk(c, cmds, req, "Retry incidents of instances", selection, back)
}

// instanceFilterKeys are the instance list's filter parameters (not the page cursor).
var instanceFilterKeys = []string{"state", "process", "version", "businessKey", "var", "value", "from", "to", "hasIncident", "waitingAt", "stalled"}

// incidentsOfInstances collects the open incidents of the instances a filter selects
// (at most command.DefaultBulkMax instances, newest first).
func (s *server) incidentsOfInstances(ctx context.Context, f store.InstanceFilter) (ids []string, instances int, err error) {
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
	list, err := s.eng.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen, DefinitionKey: f.DefinitionKey, Limit: command.MaxBulk})
	if err != nil {
		return nil, 0, err
	}
	for _, in := range list {
		if want[in.InstanceID] && len(ids) < command.MaxBulk {
			ids = append(ids, in.ID)
		}
	}
	return ids, len(want), nil
}

// countMatching counts the open incidents a bulk filter selects, the way the command
// service selects them, for the confirm step.
func (s *server) countMatching(ctx context.Context, r command.BulkRetryRequest) (n int, capped bool, err error) {
	list, err := s.eng.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen, DefinitionKey: r.DefinitionKey, Limit: command.MaxBulk + 1})
	if err != nil {
		return 0, false, err
	}
	msg := strings.ToLower(r.MessageContains)
	for _, in := range list {
		if (r.ElementID == "" || in.ElementID == r.ElementID) && (r.Type == "" || in.Type == r.Type) &&
			(msg == "" || strings.Contains(strings.ToLower(in.Message), msg)) {
			n++
		}
	}
	return n, len(list) > command.MaxBulk, nil
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
		parts = append(parts, "message containing "+strconv.Quote(firstLineOf(r.MessageContains, 80)))
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
			parts = append(parts, k+" = "+v)
		}
	}
	return strings.Join(parts, ", ")
}

func firstLineOf(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// startBulk sends a bulk retry in the background and redirects to its progress page,
// after waiting a little so that a small selection shows its result right away.
func (s *server) startBulk(c echo.Context, cmds CommandClient, req command.BulkRetryRequest, title, selection, back string) error {
	req.Meta = s.meta(c, reasonWeb)
	req.RequestID = "web-" + uuid.Must(uuid.NewV7()).String()
	backLabel := "Back to the incidents"
	if strings.HasPrefix(back, "/instances") {
		backLabel = "Back to the instances"
	}
	job := s.bulk.add(pages.BulkProgress{ID: req.RequestID, Title: title, Selection: selection, Actor: req.Actor,
		Started: s.now(), BackHref: back, BackLabel: backLabel}, s.now())
	// The command outlives the request: it is bounded by the client's bulk timeout, and
	// its result is kept in the registry for the progress page.
	ctx := context.WithoutCancel(c.Request().Context())
	go func() {
		res, err := cmds.RetryIncidents(ctx, req, func(p command.Progress) { s.bulk.progress(job, p) })
		s.bulk.finish(job, res, err, s.now())
	}()
	t := time.NewTimer(bulkWait)
	defer t.Stop()
	select {
	case <-job.done:
	case <-t.C:
	case <-c.Request().Context().Done():
	}
	return c.Redirect(http.StatusSeeOther, "/actions/"+url.PathEscape(req.RequestID))
}

// actionProgress shows a bulk action; a fragment request (the page's own poll) gets the
// changing card alone.
func (s *server) actionProgress(c echo.Context) error {
	id := c.Param("id")
	job, ok := s.bulk.get(id, s.now())
	if !ok {
		return &pageError{Status: http.StatusNotFound, Title: "Action not found",
			Message:  "No bulk action has the id " + strconv.Quote(id) + " on this server. Results are kept for 30 minutes; the audit log keeps them for good.",
			BackHref: "/incidents", BackLabel: "Go to the incidents"}
	}
	p := pages.BulkProgressProps{Now: s.now(), Job: job}
	if isFragment(c.Request()) {
		return s.render(c, http.StatusOK, page{}, pages.BulkProgressCard(p))
	}
	return s.render(c, http.StatusOK, page{Title: job.Title, Nav: layout.NavIncidents}, pages.BulkProgressPage(p))
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
	newestFirst := make([]*store.Definition, len(versions))
	for i, d := range versions {
		newestFirst[len(versions)-1-i] = d
	}
	def := *newestFirst[0]
	if def.Name == "" {
		def.Name = def.Key
	}
	return &pages.StartProps{Definition: &def, Versions: newestFirst}, nil
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
		ProcessKey: p.Definition.Key, Version: version, BusinessKey: p.BusinessKey, Variables: vars})
	if err != nil {
		return show(commandStatus(err), commandMessage("Starting the instance", err))
	}
	return redirectFlash(c, instanceURL(res.InstanceID),
		fmt.Sprintf("Started an instance of %s v%d; it is %s now.", res.DefinitionKey, res.DefinitionVersion, res.State), false)
}

// ---- Correlate a message ----

func (s *server) correlateForm(c echo.Context) error {
	p := pages.CorrelateProps{Name: c.QueryParam("name"), CorrelationKey: c.QueryParam("correlationKey")}
	return s.render(c, http.StatusOK, page{Title: "Correlate a message"}, pages.Correlate(p))
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
	p := pages.CorrelateProps{Name: strings.TrimSpace(form.Get("name")), CorrelationKey: strings.TrimSpace(form.Get("correlationKey")),
		Variables: form.Get("variables")}
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
		Name: p.Name, CorrelationKey: p.CorrelationKey, Variables: vars})
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

// ---- Deploy ----

func (s *server) deployForm(c echo.Context) error {
	return s.render(c, http.StatusOK, page{Title: "Deploy a process", Nav: layout.NavOverview}, pages.Deploy(pages.DeployProps{MaxBytes: bpmn.MaxDocumentBytes}))
}

// deploy reads an uploaded BPMN file and deploys it on the engine directly: there is no
// deploy command on NATS yet, so this handler writes the audit row itself.
func (s *server) deploy(c echo.Context) error {
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
	resource := path.Base(strings.ReplaceAll(header.Filename, "\\", "/"))
	if resource == "" || resource == "." || resource == "/" {
		resource = "upload.bpmn"
	}
	p.Resource = resource
	ctx := c.Request().Context()
	dep, err := s.eng.Deploy(ctx, resource, data)
	s.auditDeploy(c, resource, data, dep, err)
	if err != nil {
		var derr *engine.DeployError
		if !errors.As(err, &derr) {
			return err
		}
		if errors.Is(err, bpmn.ErrTooLarge) {
			return show(http.StatusRequestEntityTooLarge, tooLarge)
		}
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
	return redirectFlash(c, to, "Deployed "+resource+": "+strings.Join(parts, "; ")+".", false)
}

// auditDeploy records a deployment (or a refused one) in the audit log, as the command
// service does for commands.
func (s *server) auditDeploy(c echo.Context, resource string, data []byte, dep *engine.Deployment, derr error) {
	sum := sha256.Sum256(data)
	req := map[string]any{"resource": resource, "bytes": len(data), "checksum": hex.EncodeToString(sum[:])}
	if dep != nil {
		var procs []map[string]any
		for _, p := range dep.Processes {
			procs = append(procs, map[string]any{"key": p.Definition.Key, "version": p.Definition.Version, "created": p.Created})
		}
		req["processes"] = procs
	}
	body, _ := json.Marshal(req)
	a := &store.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), Time: s.now(), Actor: s.actor(c.Request()),
		Command: "deploy", Target: resource, Reason: reasonWeb, Request: body, Result: "ok"}
	if derr != nil {
		a.Result, a.Error = string(command.CodeInternal), derr.Error()
		var de *engine.DeployError
		if errors.As(derr, &de) || errors.Is(derr, engine.ErrInvalidInput) {
			a.Result = string(command.CodeInvalidInput)
		}
	}
	// The deployment happened (or not) regardless; a lost audit row is logged.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 5*time.Second)
	defer cancel()
	if err := s.eng.Store().Write(ctx, func(tx store.Tx) error { return tx.InsertAudit(ctx, a) }); err != nil {
		s.log.Error("web: write audit log", "command", "deploy", "actor", a.Actor, "err", err)
	}
}

// problemPattern reads the engine's compile problems: `process "p": element "X" (kind,
// line 12): message`.
var problemPattern = regexp.MustCompile(`^process "([^"]*)": element "([^"]*)" \(([^,)]*)(?:, line (\d+))?\):? (.*)$`)

// deployProblems lists why a deployment was refused, with element ids and lines.
func deployProblems(derr *engine.DeployError) []pages.DeployProblem {
	var out []pages.DeployProblem
	var perr *bpmn.ParseError
	var cerr *bpmn.CheckError
	switch {
	case errors.As(derr, &perr):
		out = append(out, pages.DeployProblem{Line: perr.Line, Col: perr.Col, Message: perr.Msg})
	case errors.As(derr, &cerr):
		for _, pr := range cerr.Processes {
			for _, f := range pr.Unsupported {
				out = append(out, pages.DeployProblem{Process: pr.ID, ElementID: f.ElementID, Kind: string(f.Kind), Line: f.Line,
					Message: "cannot be executed: " + f.Message})
			}
			for _, f := range pr.Problems {
				out = append(out, pages.DeployProblem{Process: pr.ID, ElementID: f.ElementID, Kind: string(f.Kind), Line: f.Line, Message: f.Message})
			}
		}
	}
	for _, s := range derr.Problems {
		if m := problemPattern.FindStringSubmatch(s); m != nil {
			line, _ := strconv.Atoi(m[4])
			out = append(out, pages.DeployProblem{Process: m[1], ElementID: m[2], Kind: m[3], Line: line, Message: m[5]})
			continue
		}
		out = append(out, pages.DeployProblem{Message: s})
	}
	if len(out) == 0 && derr.Err != nil && !errors.Is(derr.Err, engine.ErrInvalidInput) {
		return nil
	}
	if len(out) == 0 {
		msg := derr.Err.Error()
		msg = strings.TrimPrefix(msg, engine.ErrInvalidInput.Error()+": ")
		out = append(out, pages.DeployProblem{Message: msg})
	}
	return out
}
