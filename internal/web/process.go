package web

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

func (s *server) process(c echo.Context) error {
	ctx := c.Request().Context()
	key := c.Param("key")
	// Several services may deploy the key (an observing cockpit): the page is one
	// service's, the one the service parameter names, else the first (servicefilter.go).
	all, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: key})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return notFound("No process with key %q is deployed. The overview lists the deployed processes.", key)
	}
	svcs := definitionServices(all)
	service := c.QueryParam("service")
	if service == "" {
		service = svcs[0]
	}
	var versions []*store.Definition
	for _, d := range all {
		if d.Service == service {
			versions = append(versions, d)
		}
	}
	if len(versions) == 0 {
		return notFound("Service %q deploys no process with key %q; %s does.", service, key, strings.Join(svcs, ", "))
	}
	def := versions[len(versions)-1]
	if v := c.QueryParam("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("Version %q is not a version number (1, 2, …).", v)
		}
		def = nil
		for _, d := range versions {
			if d.Version == n {
				def = d
			}
		}
		if def == nil {
			return notFound("Process %q has no version %d; its versions are 1 to %d.", key, n, versions[len(versions)-1].Version)
		}
	}
	newestFirst := make([]*store.Definition, len(versions))
	for i, d := range versions {
		newestFirst[len(versions)-1-i] = d
	}
	if def.Name == "" {
		def.Name = def.Key
	}
	p := pages.ProcessProps{Now: s.now(), Definition: def, Versions: newestFirst}
	for _, sv := range svcs {
		if sv != service {
			p.OtherServices = append(p.OtherServices, sv)
		}
	}

	model, err := s.eng.Model(ctx, def.ID)
	if err != nil {
		return err
	}
	incidents, err := s.eng.ListIncidents(ctx, store.IncidentFilter{DefinitionKey: key, State: store.IncidentOpen, Limit: countCap + 1})
	if err != nil {
		return err
	}
	incCapped := len(incidents) > countCap
	incidents = incidents[:min(len(incidents), countCap)]
	if len(svcs) > 1 {
		// Incidents name their process key, not its service: keep those of this
		// service's instances with an open incident (a bounded list, like the counts).
		if incidents, err = s.serviceIncidents(ctx, service, key, incidents); err != nil {
			return err
		}
	}
	p.Incidents = components.Bounded{N: len(incidents), Capped: incCapped}
	incAt := map[string]int{}
	for _, in := range incidents {
		incAt[in.ElementID]++
	}

	// One grouped count over the tokens of running instances: its cost follows what is
	// running, never the history (a per-element instance query walked finished instances).
	tokens, err := s.eng.CountTokens(ctx, def.ID)
	if err != nil {
		return err
	}
	// Completions come from a summary the store keeps per element as it writes the
	// history: a few rows, however many instances finished.
	completed, err := s.eng.ElementCounts(ctx, def.ID)
	if err != nil {
		return err
	}
	stalled, err := s.stallCounts(ctx, def.ID)
	if err != nil {
		return err
	}
	thresholds, thresholdSet, err := s.elementThresholds(ctx, def)
	if err != nil {
		return err
	}
	overlay := &diagram.Overlay{Active: map[string]int{}, Incidents: incAt, Completed: map[string]int{},
		Titles: map[string]string{}, Stalled: stalled, StallTitles: map[string]string{}}
	version := strconv.Itoa(def.Version)
	for _, el := range flowNodes(model.Process(def.Key)) {
		active := components.Bounded{N: tokens[el.ID]}
		done := components.Bounded{N: int(completed[el.ID])}
		overlay.Active[el.ID] = active.N
		overlay.Completed[el.ID] = done.N
		if active.N > 0 || incAt[el.ID] > 0 || done.N > 0 {
			overlay.Titles[el.ID] = fmt.Sprintf("%s: %s active, %d open incidents, %s completed", el.ID, active, incAt[el.ID], done)
		}
		if n := stalled[el.ID]; n > 0 {
			overlay.StallTitles[el.ID] = fmt.Sprintf("%d stalled: waiting longer than %s", n, thresholds[el.ID])
		}
		p.Stalled.N += stalled[el.ID]
		name := el.Name
		if name == "" {
			name = el.ID
		}
		p.Elements = append(p.Elements, pages.ElementRow{
			ID: el.ID, Name: name, Kind: string(el.Kind), Active: active, Completed: done,
			Incidents:     components.Bounded{N: incAt[el.ID], Capped: incCapped},
			WaitingHref:   instancesURL("service", def.Service, "process", key, "waitingAt", el.ID),
			IncidentsHref: instancesURL("service", def.Service, "process", key, "waitingAt", el.ID, "hasIncident", "true"),
			Stalled:       components.Bounded{N: stalled[el.ID]},
			StalledHref:   instancesURL("service", def.Service, "process", key, "version", version, "waitingAt", el.ID, "stalled", "true"),
			Threshold:     thresholds[el.ID], ThresholdSet: thresholdSet[el.ID],
		})
	}
	p.StalledHref = instancesURL("service", def.Service, "process", key, "version", version, "stalled", "true")
	p.StallAction = processURL(key) + "/stall-threshold?version=" + version
	p.Diagram = s.drawDiagram(ctx, def.ID, model, def.Key, overlay, []string{"active", "incident", "stalled", "completed"})
	p.Diagram.ElementHref = withService("/instances?process="+url.QueryEscape(key), def.Service) + "&waitingAt={id}"

	if p.Running, _, err = s.countInstances(ctx, store.InstanceFilter{DefinitionID: def.ID, States: []string{store.InstanceActive}}, countCap); err != nil {
		return err
	}
	newest, err := s.eng.ListInstances(ctx, store.InstanceFilter{DefinitionID: def.ID, Limit: 10})
	if err != nil {
		return err
	}
	p.Instances = newest.Instances
	p.AllInstancesHref = instancesURL("service", def.Service, "process", key, "version", strconv.Itoa(def.Version))
	if p.Unserved, err = s.unservedOfProcess(ctx, key, model.Process(def.Key)); err != nil {
		return err
	}
	return s.render(c, 200, page{Title: def.Name + " v" + strconv.Itoa(def.Version)}, pages.Process(p))
}

// diagramBudget bounds the time one definition's drawing may take. A model within the
// import limits draws in well under a second; past the budget the page shows why there is
// no diagram instead of waiting.
const diagramBudget = 5 * time.Second

// diagramRetry is how long a drawing that ran out of time is remembered as such before
// it is tried again (the node may have been busy); other failures are final, since a
// deployed definition never changes.
const diagramRetry = time.Minute

// sceneEntry is the drawing of one definition, or why there is none; done is closed when
// it is known. Concurrent requests for a definition wait for one drawing.
type sceneEntry struct {
	done  chan struct{}
	scene *diagram.Scene
	err   error
	at    time.Time
}

// scene returns the prepared drawing of a definition, drawing it once per definition
// under diagramBudget (not under the request's context: the result is shared).
func (s *server) scene(ctx context.Context, defID string, model *bpmn.Definitions, processID string) (*diagram.Scene, error) {
	for {
		e := &sceneEntry{done: make(chan struct{})}
		v, loaded := s.scenes.LoadOrStore(defID, e)
		if !loaded {
			dctx, cancel := context.WithTimeout(context.Background(), diagramBudget)
			e.scene, e.err = diagram.PrepareContext(dctx, model, diagram.Options{ProcessID: processID, NoStyle: true})
			cancel()
			e.at = time.Now()
			close(e.done)
			return e.scene, e.err
		}
		e = v.(*sceneEntry)
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if errors.Is(e.err, context.DeadlineExceeded) && time.Since(e.at) > diagramRetry {
			s.scenes.CompareAndDelete(defID, e)
			continue
		}
		return e.scene, e.err
	}
}

// drawDiagram draws the process with its overlay, or says in the slot why it cannot.
func (s *server) drawDiagram(ctx context.Context, defID string, model *bpmn.Definitions, processID string, ov *diagram.Overlay, legend []string) components.DiagramProps {
	d := components.DiagramProps{Legend: legend}
	scene, err := s.scene(ctx, defID, model, processID)
	switch {
	case err == nil:
		d.SVG = scene.SVG(ov)
	case ctx.Err() != nil:
		// This request ended (the browser left, or its own deadline) while it waited for
		// the drawing: not the drawing's failure, and nobody reads the page.
		d.Placeholder = "The diagram was not drawn: the request ended first."
	case errors.Is(err, diagram.ErrTooLarge):
		d.Placeholder = fmt.Sprintf("This diagram is too large to draw here (over %d MiB of SVG).", diagram.MaxBytes>>20)
	case errors.Is(err, context.DeadlineExceeded):
		d.Placeholder = fmt.Sprintf("This diagram took longer than %s to draw and is not shown.", diagramBudget)
	default:
		s.log.Warn("web: draw diagram", "definition", defID, "err", err)
		d.Placeholder = "This diagram could not be drawn: " + err.Error()
	}
	return d
}

// flowNodes lists the flow nodes of a process, subprocess content included, in document
// order.
func flowNodes(p *bpmn.Process) []*bpmn.Element {
	if p == nil {
		return nil
	}
	var out []*bpmn.Element
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, el := range c.Elements {
			if !el.Kind.IsFlowNode() {
				continue
			}
			out = append(out, el)
			if el.Children != nil {
				walk(el.Children)
			}
		}
	}
	walk(&p.Container)
	return out
}

// elementNames maps the element ids of a model to their names.
func elementNames(model *bpmn.Definitions) map[string]string {
	names := map[string]string{}
	for _, p := range model.Processes {
		for _, el := range flowNodes(p) {
			names[el.ID] = el.Name
		}
	}
	return names
}

// instancesURL links the instance list with the given filter pairs.
func instancesURL(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	return "/instances?" + q.Encode()
}
