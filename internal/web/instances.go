package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Instance list page sizes.
const (
	defaultPage = 50
	maxPage     = 200
	// historyShown bounds the instance page's timeline (the newest events are kept).
	historyShown = 500
)

var knownStates = []string{store.InstanceActive, store.InstanceSuspended, store.InstanceCompleted, store.InstanceCancelled}

// Accepted forms of the started from/to filters: what <input type=datetime-local> sends
// (read as UTC, which the form says), and RFC 3339 for links made by hand.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

// parseInstanceFilter turns the list's query string into a store filter. Bad values are
// a *pageError (400) that names the parameter and what it accepts.
func (s *server) parseInstanceFilter(c echo.Context, q url.Values) (store.InstanceFilter, pages.InstanceFilterForm, error) {
	form := pages.InstanceFilterForm{
		State: q.Get("state"), Service: q.Get("service"), Process: q.Get("process"), Version: q.Get("version"), BusinessKey: q.Get("businessKey"),
		VarName: q.Get("var"), VarValue: q.Get("value"), From: q.Get("from"), To: q.Get("to"),
		HasIncident: q.Get("hasIncident"), WaitingAt: q.Get("waitingAt"), Stalled: q.Get("stalled"), Parent: q.Get("parent"),
	}
	f := store.InstanceFilter{Service: form.Service, DefinitionKey: form.Process, BusinessKey: form.BusinessKey, WaitingAt: form.WaitingAt,
		ParentInstanceID: form.Parent, After: q.Get("after"), Limit: defaultPage}
	for st := range strings.SplitSeq(form.State, ",") {
		if st = strings.TrimSpace(st); st == "" {
			continue
		}
		if !slices.Contains(knownStates, st) {
			return f, form, badRequest("Unknown state %q: use active, suspended, completed or cancelled (several separated by commas).", st)
		}
		f.States = append(f.States, st)
	}
	if form.Version != "" {
		n, err := strconv.Atoi(form.Version)
		if err != nil || n < 1 {
			return f, form, badRequest("Version %q is not a version number (1, 2, …).", form.Version)
		}
		if form.Process == "" {
			return f, form, badRequest("A version filter needs a process: choose the process too.")
		}
		defs, err := s.eng.ListDefinitions(c.Request().Context(), store.DefinitionFilter{Key: form.Process, Service: form.Service})
		if err != nil {
			return f, form, err
		}
		var services []string
		for _, d := range defs {
			if d.Version == n {
				f.DefinitionID = d.ID
				services = append(services, d.Service)
			}
		}
		if f.DefinitionID == "" {
			return f, form, badRequest("Process %q has no version %d.", form.Process, n)
		}
		if len(services) > 1 {
			return f, form, badRequest("Process %q version %d is deployed by several services (%s): choose the service too.",
				form.Process, n, strings.Join(services, ", "))
		}
	}
	if form.VarName != "" {
		f.VariableName = form.VarName
		f.VariableValue = variableValue(form.VarValue)
		if jsonHasNUL(f.VariableValue) {
			return f, form, badRequest("Parameter value: %q holds a NUL character (\\u0000), which no variable can hold.", form.VarValue)
		}
	} else if form.VarValue != "" {
		return f, form, badRequest("A variable value needs a variable name.")
	}
	var err error
	if f.StartedAfter, err = parseTime("from", form.From); err != nil {
		return f, form, err
	}
	if f.StartedBefore, err = parseTime("to", form.To); err != nil {
		return f, form, err
	}
	if !f.StartedAfter.IsZero() && !f.StartedBefore.IsZero() && !f.StartedAfter.Before(f.StartedBefore) {
		return f, form, badRequest("“Started from” (%s) must be before “started before” (%s).", form.From, form.To)
	}
	if f.HasIncident, err = optionalBool("hasIncident", form.HasIncident); err != nil {
		return f, form, err
	}
	if f.Stalled, err = optionalBool("stalled", form.Stalled); err != nil {
		return f, form, err
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return f, form, badRequest("limit %q: use a page size from 1 to %d.", l, maxPage)
		}
		f.Limit = n
	}
	return f, form, nil
}

// variableValue reads a filter value as JSON where it is JSON (42, true, "42", {...}),
// else as a string, so `orderId = A-17` needs no quotes.
func variableValue(s string) json.RawMessage {
	t := strings.TrimSpace(s)
	if t != "" && json.Valid([]byte(t)) {
		return json.RawMessage(t)
	}
	b, _ := json.Marshal(s)
	return b
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest("%s %q is not a time: use YYYY-MM-DDTHH:MM (UTC) or RFC 3339.", name, s)
}

func (s *server) instances(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.Request().URL.Query()
	f, form, err := s.parseInstanceFilter(c, q)
	if err != nil {
		return err
	}
	list, err := s.eng.ListInstances(ctx, f)
	if err != nil {
		// store.ErrInvalidCursor and engine.ErrInvalidInput are 400s (handleError).
		return err
	}
	latest, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{LatestOnly: true})
	if err != nil {
		return err
	}
	p := pages.InstancesProps{Now: s.now(), Form: form, Instances: list.Instances}
	if p.Rows, err = s.instanceRows(ctx, list.Instances); err != nil {
		return err
	}
	p.Services = definitionServices(latest)
	for _, d := range latest {
		if !slices.Contains(p.Processes, d.Key) {
			p.Processes = append(p.Processes, d.Key)
		}
	}
	slices.Sort(p.Processes)
	p.Filtered = form != (pages.InstanceFilterForm{})
	p.Pager = components.PagerProps{Shown: len(list.Instances)}
	if f.After != "" {
		first := cloneValues(q)
		first.Del("after")
		p.Pager.FirstHref = "/instances" + encodeQuery(first)
	}
	if list.Next != "" {
		next := cloneValues(q)
		next.Set("after", list.Next)
		p.Pager.NextHref = "/instances" + encodeQuery(next)
	}
	return s.render(c, 200, page{Title: "Instances", Nav: layout.NavInstances}, pages.Instances(p))
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func (s *server) instance(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	d, err := s.eng.GetInstance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return &pageError{Status: 404, Title: "Instance not found",
			Message:  "No instance has the id " + strconv.Quote(id) + ". Check the id, or find the instance in the list.",
			BackHref: "/instances", BackLabel: "Go to the instance list"}
	}
	if err != nil {
		return err
	}
	in := d.Instance
	p := pages.InstanceProps{Now: s.now(), Instance: in, DefinitionName: in.DefinitionKey, Tokens: d.Tokens,
		Jobs: d.Jobs, Tasks: d.UserTasks, Incidents: d.Incidents}
	model, err := s.eng.Model(ctx, in.DefinitionID)
	if err != nil {
		return err
	}
	p.Names = elementNames(model)
	p.Unserved = s.unservedOfJobs(d.Jobs)
	if in.ParentInstanceID != "" {
		if p.Parent, err = s.eng.GetInstanceRow(ctx, in.ParentInstanceID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	called, err := s.eng.ListInstances(ctx, store.InstanceFilter{ParentInstanceID: in.ID, Limit: calledShown})
	if err != nil {
		return err
	}
	p.Called, p.CalledMore = called.Instances, called.Next != ""
	if p.Audit, err = s.instanceAudit(c, in.ID); err != nil {
		return err
	}
	if proc := model.Process(in.DefinitionKey); proc != nil && proc.Name != "" {
		p.DefinitionName = proc.Name
	}
	// The service that runs it: an observing cockpit's read model holds several.
	def, err := s.eng.GetDefinition(ctx, in.DefinitionID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if def != nil {
		p.Service = def.Service
	}

	// Overlay: where tokens stand, open incidents, and every element the history shows
	// the instance entered.
	overlay := &diagram.Overlay{Active: map[string]int{}, Incidents: map[string]int{}, Current: map[string]bool{},
		Visited: map[string]bool{}, Taken: map[string]bool{}}
	for _, t := range d.Tokens {
		overlay.Current[t.ElementID] = true
		if t.State == store.TokenMultiInstance {
			continue // its inner instances are the ones counted; the body shows loopBadges
		}
		overlay.Active[t.ElementID]++
	}
	overlay.Loops, overlay.Titles = loopBadges(d.Tokens, d.Variables)
	for _, inc := range d.Incidents {
		if inc.State == store.IncidentOpen {
			overlay.Incidents[inc.ElementID]++
		}
	}
	for _, ev := range d.History {
		if ev.ElementID == "" || (ev.Type != event.ElementEntered && ev.Type != event.ElementLeft) {
			continue
		}
		overlay.Visited[ev.ElementID] = true
		var data struct {
			Flow string `json:"flow"`
		}
		if ev.Type == event.ElementEntered && json.Unmarshal(ev.Data, &data) == nil && data.Flow != "" {
			overlay.Taken[data.Flow] = true
		}
	}
	if overlay.Stalled, overlay.StallTitles, err = s.instanceStalls(ctx, in.ID, d.Tokens, d.Jobs); err != nil {
		return err
	}
	legend := []string{"active", "incident", "stalled", "visited"}
	p.Compensation, p.Compensating = compensationRows(d.History, p.Names)
	if len(p.Compensation) > 0 {
		overlay.Compensated, overlay.CompensatedTitles = map[string]int{}, map[string]string{}
		for _, r := range p.Compensation {
			if r.State != "undone" {
				continue
			}
			overlay.Compensated[r.ActivityID]++
			if t := overlay.CompensatedTitles[r.ActivityID]; t != "" {
				overlay.CompensatedTitles[r.ActivityID] = t + "; #" + strconv.Itoa(r.N)
			} else {
				overlay.CompensatedTitles[r.ActivityID] = "undone by " + r.Handler + ": #" + strconv.Itoa(r.N)
			}
		}
		legend = append(legend, "compensated")
	}
	p.Diagram = s.drawDiagram(ctx, in.DefinitionID, model, in.DefinitionKey, overlay, legend)

	p.Variables, p.Scopes = variableScopes(d.Variables, d.Tokens)
	markVariables(&p, d.History)
	hist := d.History
	if len(hist) > historyShown {
		p.HistoryHidden = len(hist) - historyShown
		hist = hist[len(hist)-historyShown:]
	}
	for _, ev := range hist {
		p.History = append(p.History, historyRow(ev, p.Names))
	}
	title := p.DefinitionName + " instance"
	if in.BusinessKey != "" {
		title = p.DefinitionName + " " + components.Clip(in.BusinessKey, components.HeadingChars)
	}
	return s.render(c, 200, page{Title: title, Nav: layout.NavInstances}, pages.Instance(p))
}

// compensationRows reads from the history what compensation undid, in the order it did:
// one row per handler run (compensation.started, then element.compensated, or
// element.cancelled when the handler was cancelled), and whether a throw event still
// waits for its handlers (compensation.thrown without compensation.completed).
func compensationRows(hist []*store.Event, names map[string]string) (rows []pages.CompensationRow, compensating bool) {
	label := func(id string) string {
		if n := names[id]; n != "" {
			return n + " (" + id + ")"
		}
		return id
	}
	byToken := map[string]int{}
	open := map[string]bool{}
	for _, ev := range hist {
		switch ev.Type {
		case event.CompensationThrown:
			open[ev.TokenID] = true
		case event.CompensationCompleted:
			delete(open, ev.TokenID)
		case event.CompensationStarted:
			var data struct {
				Handler  string `json:"handler"`
				ThrownBy string `json:"thrownBy"`
			}
			_ = json.Unmarshal(ev.Data, &data)
			byToken[ev.TokenID] = len(rows)
			rows = append(rows, pages.CompensationRow{N: len(rows) + 1, ActivityID: ev.ElementID, Activity: label(ev.ElementID),
				Handler: label(data.Handler), ThrownBy: label(data.ThrownBy), State: "undoing", StartedAt: ev.Time})
		case event.ElementCompensated, event.ElementCancelled:
			i, ok := byToken[ev.TokenID]
			if !ok {
				if ev.Type == event.ElementCancelled {
					delete(open, ev.TokenID) // a throw event cancelled while it waited
				}
				continue
			}
			delete(byToken, ev.TokenID)
			t := ev.Time
			rows[i].EndedAt = &t
			rows[i].State = "undone"
			if ev.Type == event.ElementCancelled {
				rows[i].State = "cancelled"
			}
		}
	}
	return rows, len(open) > 0
}

// calledShown is how many called instances the instance page lists (the rest are a link
// to the instance list filtered by parent).
const calledShown = 50

// loopBadges gives each multi-instance body of an instance its counts ("2/5": instances
// completed of all, from the body's nrOfCompletedInstances and nrOfInstances), and a
// standard loop its runs so far (loopCounter), with a tooltip each.
func loopBadges(tokens []*store.Token, vars []*store.Variable) (map[string]string, map[string]string) {
	bodies := map[string]string{} // token id → element id
	for _, t := range tokens {
		if t.State == store.TokenMultiInstance {
			bodies[t.ID] = t.ElementID
		}
	}
	if len(bodies) == 0 {
		return nil, nil
	}
	counts := map[string]map[string]int{}
	for _, v := range vars {
		if _, ok := bodies[v.Scope]; !ok {
			continue
		}
		var n float64
		if json.Unmarshal(v.Value, &n) != nil {
			continue
		}
		if counts[v.Scope] == nil {
			counts[v.Scope] = map[string]int{}
		}
		counts[v.Scope][v.Name] = int(n)
	}
	loops, titles := map[string]string{}, map[string]string{}
	for id, el := range bodies {
		c := counts[id]
		if total, ok := c["nrOfInstances"]; ok {
			loops[el] = strconv.Itoa(c["nrOfCompletedInstances"]) + "/" + strconv.Itoa(total)
			titles[el] = fmt.Sprintf("multi-instance: %d of %d instances completed, %d active",
				c["nrOfCompletedInstances"], total, c["nrOfActiveInstances"])
		} else {
			loops[el] = "↻" + strconv.Itoa(c["loopCounter"])
			titles[el] = fmt.Sprintf("loop: run %d", c["loopCounter"])
		}
	}
	return loops, titles
}

// variableScopes sorts an instance's variables into the process's and those of each live
// scope (in the order of the tokens holding them, the scope's element named).
func variableScopes(vars []*store.Variable, tokens []*store.Token) ([]pages.VariableRow, []pages.VariableScope) {
	var process []pages.VariableRow
	local := map[string][]pages.VariableRow{}
	for _, v := range vars {
		if v.Scope == "" {
			process = append(process, variableRow(v))
		} else {
			local[v.Scope] = append(local[v.Scope], variableRow(v))
		}
	}
	var scopes []pages.VariableScope
	for _, t := range tokens {
		if rows := local[t.ID]; rows != nil {
			scopes = append(scopes, pages.VariableScope{TokenID: t.ID, ElementID: t.ElementID, Variables: rows})
			delete(local, t.ID)
		}
	}
	// A scope whose token is gone would be deleted with it; shown rather than hidden.
	for _, id := range slices.Sorted(maps.Keys(local)) {
		scopes = append(scopes, pages.VariableScope{TokenID: id, Variables: local[id]})
	}
	return process, scopes
}

func variableRow(v *store.Variable) pages.VariableRow {
	r := pages.VariableRow{Name: v.Name, Type: v.Type, UpdatedAt: v.UpdatedAt,
		Value: displayJSON(v.Value, v.Type == store.TypeObject || v.Type == store.TypeArray)}
	r.Multiline = strings.Contains(r.Value, "\n") || len(r.Value) > 80
	return r
}

func historyRow(ev *store.Event, names map[string]string) pages.HistoryRow {
	r := pages.HistoryRow{Time: ev.Time, Type: string(ev.Type), ElementID: ev.ElementID}
	if ev.ElementID != "" {
		r.Element = ev.ElementID
		if n := names[ev.ElementID]; n != "" {
			r.Element = n + " (" + ev.ElementID + ")"
		}
	}
	if len(ev.Data) > 0 && string(ev.Data) != "{}" && string(ev.Data) != "null" {
		r.Data = displayJSON(ev.Data, true)
	}
	switch {
	case ev.Type == event.IncidentOpened, ev.Type == event.JobFailed, ev.Type == event.ErrorThrown:
		r.Class = "ev-incident"
	case ev.Type == event.InstanceCompleted:
		r.Class = "ev-completed"
	}
	return r
}

// search finds an instance by id, else lists the instances with that business key.
func (s *server) search(c echo.Context) error {
	q := strings.TrimSpace(c.QueryParam("q"))
	if q == "" {
		return c.Redirect(303, "/instances")
	}
	ctx := c.Request().Context()
	if _, err := s.eng.GetInstanceRow(ctx, q); err == nil {
		return c.Redirect(303, "/instances/"+url.PathEscape(q))
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return c.Redirect(303, instancesURL("businessKey", q))
}

// optionalBool reads an optional true/false filter ("" is no filter).
func optionalBool(name, v string) (*bool, error) {
	switch v {
	case "":
		return nil, nil
	case "true", "false":
		b := v == "true"
		return &b, nil
	}
	return nil, badRequest("%s %q: use true or false.", name, v)
}
