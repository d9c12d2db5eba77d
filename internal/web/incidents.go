package web

import (
	"cmp"
	"context"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

func (s *server) incidents(c echo.Context) error {
	ctx := c.Request().Context()
	state := c.QueryParam("state")
	switch state {
	case "":
		state = store.IncidentOpen
	case store.IncidentOpen, store.IncidentResolved:
	default:
		return badRequest("Unknown incident state %q: use open or resolved.", state)
	}
	process := c.QueryParam("process")
	list, err := s.eng.ListIncidents(ctx, store.IncidentFilter{State: state, DefinitionKey: process, Limit: incidentScanCap + 1})
	if err != nil {
		return err
	}
	p := pages.IncidentsProps{Now: s.now(), State: state, Process: process, Capped: len(list) > incidentScanCap}
	list = list[:min(len(list), incidentScanCap)]
	p.Scanned = len(list)

	type groupKey struct{ def, el, typ, msg string }
	groups := map[groupKey]*pages.IncidentGroup{}
	names := s.nameLookup(ctx)
	// Incidents come newest first: the first of a group is its newest.
	for _, in := range list {
		k := groupKey{in.DefinitionKey, in.ElementID, in.Type, in.Message}
		g := groups[k]
		if g == nil {
			g = &pages.IncidentGroup{DefinitionKey: in.DefinitionKey, ElementID: in.ElementID, Type: in.Type,
				Message: in.Message, Last: in.CreatedAt, Sample: in, ElementName: names(in.DefinitionKey, in.ElementID)}
			if state == store.IncidentOpen {
				g.InstancesHref = instancesURL("process", in.DefinitionKey, "waitingAt", in.ElementID, "hasIncident", "true")
			} else {
				g.InstancesHref = instancesURL("process", in.DefinitionKey)
			}
			groups[k] = g
		}
		g.Count++
		g.First = in.CreatedAt
	}
	for _, g := range groups {
		p.Groups = append(p.Groups, *g)
	}
	slices.SortFunc(p.Groups, func(a, b pages.IncidentGroup) int {
		if c := b.Last.Compare(a.Last); c != 0 {
			return c
		}
		return cmp.Compare(a.Message, b.Message)
	})
	latest, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{LatestOnly: true})
	if err != nil {
		return err
	}
	for _, d := range latest {
		p.Processes = append(p.Processes, d.Key)
	}
	return s.render(c, 200, page{Title: "Incidents", Nav: layout.NavIncidents}, pages.Incidents(p))
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
