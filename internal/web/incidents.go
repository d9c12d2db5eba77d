package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// IncidentQueue is the incident queue's reads (*incidents.Queue implements it): groups
// by fingerprint and complete, paged selections, all in the store.
type IncidentQueue interface {
	Groups(ctx context.Context, f incidents.Filter, now time.Time, limit int) ([]*incidents.Group, bool, error)
	Page(ctx context.Context, f incidents.Filter, now time.Time, after store.IncidentCursor, limit int) ([]*store.Incident, store.IncidentCursor, error)
	Select(ctx context.Context, f incidents.Filter, now time.Time, max int) (*incidents.Selection, error)
	Info(ctx context.Context, fp string, notes int) (*incidents.GroupInfo, error)
}

var _ IncidentQueue = (*incidents.Queue)(nil)

// errNoQueue is the page of a UI whose Engine has no store for the incident queue.
var errNoQueue = &pageError{Status: http.StatusServiceUnavailable, Title: "Incidents unavailable",
	Message: "This cockpit was started without the incident queue (Options.Incidents)."}

// Bounds of the incident pages.
const (
	// incidentGroupsShown bounds the groups the incidents page lists; the page says when
	// there are more (their incidents are counted in none of the lines shown).
	incidentGroupsShown = 200
	// groupIncidentsPage is the page size of a group's incident list.
	groupIncidentsPage = 50
	// groupNotesShown bounds the entries of a group's log on its page.
	groupNotesShown = 50
)

// incidentAges are the age filter's choices: older (gt) or newer (lt) than a duration.
var incidentAges = []pages.Choice{
	{Value: "lt1h", Label: "Newer than 1 hour"}, {Value: "lt24h", Label: "Newer than 24 hours"},
	{Value: "gt1h", Label: "Older than 1 hour"}, {Value: "gt24h", Label: "Older than 24 hours"},
	{Value: "gt7d", Label: "Older than 7 days"},
}

var incidentTypes = []string{store.IncidentFailedJob, store.IncidentUnhandledError, store.IncidentExpression,
	store.IncidentNoMatchingFlow, store.IncidentMessageNoTarget, store.IncidentLimit, store.IncidentCall,
	store.IncidentCalledInstance}

// incidentFilterKeys are the incidents page's filter parameters.
var incidentFilterKeys = []string{"state", "process", "element", "type", "message", "errorCode", "age", "assignee", "fingerprint",
	"service"}

// parseIncidentFilter reads the incidents page's filter from a query.
func parseIncidentFilter(q url.Values) (incidents.Filter, pages.IncidentFilterProps, error) {
	fp := pages.IncidentFilterProps{State: q.Get("state"), Process: q.Get("process"), Element: q.Get("element"),
		Type: q.Get("type"), Message: q.Get("message"), ErrorCode: q.Get("errorCode"), Age: q.Get("age"),
		Assignee: q.Get("assignee"), Fingerprint: q.Get("fingerprint"), Service: q.Get("service")}
	switch fp.State {
	case "":
		fp.State = store.IncidentOpen
	case store.IncidentOpen, store.IncidentResolved:
	default:
		return incidents.Filter{}, fp, badRequest("Unknown incident state %q: use open or resolved.", fp.State)
	}
	f := incidents.Filter{State: fp.State, DefinitionKey: strings.TrimSpace(fp.Process), ElementID: strings.TrimSpace(fp.Element),
		Type: strings.TrimSpace(fp.Type), MessageContains: fp.Message, ErrorCode: strings.TrimSpace(fp.ErrorCode),
		Assignee: strings.TrimSpace(fp.Assignee), Fingerprint: strings.TrimSpace(fp.Fingerprint), Service: fp.Service}
	switch fp.Age {
	case "":
	case "lt1h":
		f.NewerThan = time.Hour
	case "lt24h":
		f.NewerThan = 24 * time.Hour
	case "gt1h":
		f.OlderThan = time.Hour
	case "gt24h":
		f.OlderThan = 24 * time.Hour
	case "gt7d":
		f.OlderThan = 7 * 24 * time.Hour
	default:
		return f, fp, badRequest("Unknown age %q: use lt1h, lt24h, gt1h, gt24h or gt7d.", fp.Age)
	}
	if err := f.Validate(); err != nil {
		return f, fp, badRequest("%v", err)
	}
	return f, fp, nil
}

// incidentQuery is the query string of a filter (only the set fields).
func incidentQuery(q url.Values) string {
	out := url.Values{}
	for _, k := range incidentFilterKeys {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return encodeQuery(out)
}

func (s *server) incidents(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	f, fp, err := parseIncidentFilter(q)
	if err != nil {
		return err
	}
	if s.queue == nil {
		return errNoQueue
	}
	now := s.now()
	groups, more, err := s.queue.Groups(ctx, f, now, incidentGroupsShown)
	if err != nil {
		return err
	}
	p := pages.IncidentsProps{Now: now, Filter: fp, More: more, Shown: incidentGroupsShown, Ages: incidentAges,
		Types: incidentTypes, Back: "/incidents" + incidentQuery(q)}
	latest, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{LatestOnly: true})
	if err != nil {
		return err
	}
	// Ordered by service, then key: with several services a key may come twice.
	for _, d := range latest {
		p.Processes = append(p.Processes, d.Key)
	}
	slices.Sort(p.Processes)
	p.Processes = slices.Compact(p.Processes)
	p.Services = definitionServices(latest)
	svc := groupServices{filter: f.Service}
	if len(p.Services) > 1 {
		svc.byKey = keyServices(latest)
		svc.href = func(service string) string {
			return "/incidents" + incidentQuery(withParam(q, "service", service))
		}
	}
	names := s.nameLookup(ctx)
	for _, g := range groups {
		p.Total += g.Count
		p.Groups = append(p.Groups, s.groupProps(g, fp.State, names, svc))
	}
	return s.render(c, 200, page{Title: "Incidents", Nav: layout.NavIncidents}, pages.Incidents(p))
}

// groupServices names the service of a group line, when the store holds definitions of
// several services (byKey set; else no line names one). A fingerprint names a process
// key, element and cause, not a service: with the service filter set the group's
// incidents are that service's; without it, a key one service deploys is that
// service's, and a key several deploy names them all, each a link to the page narrowed
// to it (where the count is that service's).
type groupServices struct {
	filter string
	byKey  map[string][]string
	href   func(service string) string
}

// of returns the services of a group of a key and the one its links may carry ("" for
// any).
func (gs groupServices) of(key string) ([]pages.Link, string) {
	switch {
	case gs.filter != "":
		return []pages.Link{{Label: gs.filter}}, gs.filter
	case gs.byKey == nil:
		return nil, ""
	}
	svcs := gs.byKey[key]
	if len(svcs) == 1 {
		return []pages.Link{{Label: svcs[0]}}, svcs[0]
	}
	var out []pages.Link
	for _, sv := range svcs {
		out = append(out, pages.Link{Label: sv, Href: gs.href(sv)})
	}
	return out, ""
}

// groupProps is the view of one group line.
func (s *server) groupProps(g *incidents.Group, state string, names func(key, id string) string, svc groupServices) pages.IncidentGroup {
	v := pages.IncidentGroup{Fingerprint: g.Fingerprint, Count: g.Count, First: g.First, Last: g.Last, Sample: g.Sample,
		GroupHref: groupURL(g.Fingerprint, state, svc.filter)}
	if in := g.Sample; in != nil {
		v.DefinitionKey, v.ElementID, v.Type, v.Message, v.ErrorCode = in.DefinitionKey, in.ElementID, in.Type, in.Message, in.ErrorCode
	}
	if r := g.Record; r != nil {
		v.MaskedMessage, v.Assignee, v.AssignNote, v.AssignedBy, v.Notice = r.Message, r.Assignee, r.AssignNote, r.AssignedBy, r.NotifyState
	}
	v.ElementName = names(v.DefinitionKey, v.ElementID)
	var service string
	v.Services, service = svc.of(v.DefinitionKey)
	v.ProcessHref = withService(processURL(v.DefinitionKey), service)
	if state == store.IncidentOpen {
		v.InstancesHref = instancesURL("service", service, "process", v.DefinitionKey, "waitingAt", v.ElementID, "hasIncident", "true")
	} else {
		v.InstancesHref = instancesURL("service", service, "process", v.DefinitionKey)
	}
	return v
}

// groupURL is the page of one group (of one service's incidents when service is set).
func groupURL(fp, state, service string) string {
	v := url.Values{}
	if state != "" && state != store.IncidentOpen {
		v.Set("state", state)
	}
	if service != "" {
		v.Set("service", service)
	}
	return "/incidents/groups/" + url.PathEscape(fp) + encodeQuery(v)
}

// incidentGroup is the page of one group: its record, log and incidents (paged).
func (s *server) incidentGroup(c echo.Context) error {
	ctx := c.Request().Context()
	fpr := c.Param("fp")
	q := c.QueryParams()
	state, service := q.Get("state"), q.Get("service")
	switch state {
	case "":
		state = store.IncidentOpen
	case store.IncidentOpen, store.IncidentResolved:
	default:
		return badRequest("Unknown incident state %q: use open or resolved.", state)
	}
	if s.queue == nil {
		return errNoQueue
	}
	info, err := s.queue.Info(ctx, fpr, groupNotesShown)
	if err != nil {
		return err
	}
	after, err := parseIncidentCursor(q.Get("after"))
	if err != nil {
		return err
	}
	now := s.now()
	f := incidents.Filter{State: state, Fingerprint: fpr, Service: service}
	if err := f.Validate(); err != nil {
		return badRequest("%v", err)
	}
	list, next, err := s.queue.Page(ctx, f, now, after, groupIncidentsPage)
	if err != nil {
		return err
	}
	groups, _, err := s.queue.Groups(ctx, f, now, 1)
	if err != nil {
		return err
	}
	g := &incidents.Group{IncidentGroup: store.IncidentGroup{Fingerprint: fpr, Record: info.Record}}
	if len(groups) == 1 {
		g = groups[0]
	}
	names := s.nameLookup(ctx)
	p := pages.IncidentGroupProps{Now: now, State: state, Group: s.groupProps(g, state, names, groupServices{filter: service}),
		Record: info.Record, Notes: info.Notes, Incidents: list, Back: groupURL(fpr, state, service)}
	if p.Group.DefinitionKey == "" {
		r := info.Record
		p.Group.DefinitionKey, p.Group.ElementID, p.Group.Type, p.Group.ErrorCode = r.DefinitionKey, r.ElementID, r.Type, r.ErrorCode
		p.Group.ElementName = names(r.DefinitionKey, r.ElementID)
	}
	if next.ID != "" {
		v := url.Values{"after": {formatIncidentCursor(next)}}
		if state != store.IncidentOpen {
			v.Set("state", state)
		}
		if service != "" {
			v.Set("service", service)
		}
		p.NextHref = "/incidents/groups/" + url.PathEscape(fpr) + "?" + v.Encode()
	}
	return s.render(c, 200, page{Title: "Incident group", Nav: layout.NavIncidents}, pages.IncidentGroupPage(p))
}

// Incident page cursors are "<created unix micros>.<id>".
func formatIncidentCursor(c store.IncidentCursor) string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID
}

func parseIncidentCursor(s string) (store.IncidentCursor, error) {
	if s == "" {
		return store.IncidentCursor{}, nil
	}
	micros, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" {
		return store.IncidentCursor{}, badRequest("The page cursor %q is not one this page made.", s)
	}
	return store.IncidentCursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

// assignGroup assigns (op=assign) or unassigns (op=unassign) a group, or adds a note
// (op=note, resolution=true for a resolution note), through the command service.
func (s *server) groupAction(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	fpr := c.Param("fp")
	back := localPath(c.FormValue("back"), groupURL(fpr, "", ""))
	req := command.IncidentGroupRequest{Meta: s.meta(c, reasonWeb), Fingerprint: fpr, Note: strings.TrimSpace(c.FormValue("note"))}
	ctx := c.Request().Context()
	switch op := c.FormValue("op"); op {
	case "assign":
		req.Assignee = strings.TrimSpace(c.FormValue("assignee"))
		if req.Assignee == "" {
			return redirectFlash(c, back, "Assign: enter the name of the person who takes these incidents.", true)
		}
		if _, err := cmds.AssignIncidents(ctx, req); err != nil {
			return actionFailed(c, back, "Assign", err)
		}
		return redirectFlash(c, back, "Assigned to "+req.Assignee+".", false)
	case "unassign":
		if _, err := cmds.UnassignIncidents(ctx, req); err != nil {
			return actionFailed(c, back, "Unassign", err)
		}
		return redirectFlash(c, back, "Unassigned.", false)
	case "note":
		if req.Note == "" {
			return redirectFlash(c, back, "Add note: the note is empty.", true)
		}
		req.Resolution = c.FormValue("resolution") == "true"
		if _, err := cmds.NoteIncidents(ctx, req); err != nil {
			return actionFailed(c, back, "Add note", err)
		}
		return redirectFlash(c, back, "Note added.", false)
	default:
		return &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: "op " + strconv.Quote(op) + ": use assign, unassign or note."}
	}
}

// nameLookup returns a function naming elements by process key and element id from the
// latest model of each key, loaded once per key (models are cached by the engine).
func (s *server) nameLookup(ctx context.Context) func(key, elementID string) string {
	byKey := map[string]map[string]string{}
	return func(key, id string) string {
		names, ok := byKey[key]
		if !ok {
			defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: key, LatestOnly: true})
			if err == nil && len(defs) > 0 {
				if model, err := s.eng.Model(ctx, defs[0].ID); err == nil {
					names = elementNames(model)
				}
			}
			byKey[key] = names
		}
		if n := names[id]; n != "" {
			return n
		}
		return id
	}
}
