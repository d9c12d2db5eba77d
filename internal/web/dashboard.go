package web

import (
	"context"
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Bounds of the counting queries: a count reads at most this many rows and then says
// "N+" (the store has no count query on purpose: counting every row gets slower with
// history, and pages must not).
const (
	countCap        = 1000
	taskListCap     = 200
	recentIncidents = 8
)

// countInstances counts instances matching f, reading at most limit rows.
func (s *server) countInstances(ctx context.Context, f store.InstanceFilter, limit int) (components.Bounded, *store.InstancePage, error) {
	f.Limit = limit
	page, err := s.eng.ListInstances(ctx, f)
	if err != nil {
		return components.Bounded{}, nil, err
	}
	return components.Bounded{N: len(page.Instances), Capped: page.Next != ""}, page, nil
}

func (s *server) dashboard(c echo.Context) error {
	ctx := c.Request().Context()
	now := s.now()
	p := pages.DashboardProps{Now: now, ReadOnly: s.readOnly != ""}

	defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{})
	if err != nil {
		return err
	}
	incidents, err := s.eng.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen, Limit: countCap + 1})
	if err != nil {
		return err
	}
	incCapped := len(incidents) > countCap
	if incCapped {
		incidents = incidents[:countCap]
	}
	p.OpenIncidents = components.Bounded{N: len(incidents), Capped: incCapped}
	perKey := map[string]int{}
	for _, in := range incidents {
		perKey[in.DefinitionKey]++
	}
	p.Incidents = incidents[:min(len(incidents), recentIncidents)]
	stalled, stalledPerKey, err := s.stalledInstances(ctx)
	if err != nil {
		return err
	}

	// Definitions come ordered by service, key and version: the last of a run is the
	// latest. The running total is the sum of the rows' counts (every instance belongs to
	// one service's key). With several services (an observing cockpit) a row is one
	// service's key and names its service.
	svcs := definitionServices(defs)
	p.ShowService = len(svcs) > 1
	keyServices := map[string]int{}
	for i, d := range defs {
		if i == 0 || defs[i-1].Key != d.Key || defs[i-1].Service != d.Service {
			keyServices[d.Key]++
		}
	}
	running := components.Bounded{}
	for i, d := range defs {
		if i+1 < len(defs) && defs[i+1].Key == d.Key && defs[i+1].Service == d.Service {
			continue
		}
		versions := 1
		for j := i - 1; j >= 0 && defs[j].Key == d.Key && defs[j].Service == d.Service; j-- {
			versions++
		}
		service := ""
		if p.ShowService {
			service = d.Service
		}
		keyRunning, _, err := s.countInstances(ctx, store.InstanceFilter{DefinitionKey: d.Key, Service: service,
			States: []string{store.InstanceActive}}, countCap)
		if err != nil {
			return err
		}
		running.N += keyRunning.N
		running.Capped = running.Capped || keyRunning.Capped
		name := d.Name
		if name == "" {
			name = d.Key
		}
		row := pages.ProcessRow{
			Service: d.Service, Key: d.Key, Name: name, Latest: d.Version, Versions: versions, DeployedAt: d.DeployedAt,
			Running: keyRunning, Incidents: components.Bounded{N: perKey[d.Key], Capped: incCapped},
			Stalled: components.Bounded{N: stalledPerKey[d.Key]},
		}
		if keyServices[d.Key] > 1 {
			// Incidents and stalls are counted per process key; a key that several
			// services deploy counts its own service's instances with an open incident
			// and with a stall (what the row's links list).
			if row.Incidents, _, err = s.countInstances(ctx, store.InstanceFilter{DefinitionKey: d.Key, Service: d.Service,
				HasIncident: new(true)}, countCap); err != nil {
				return err
			}
			if row.Stalled, _, err = s.countInstances(ctx, store.InstanceFilter{DefinitionKey: d.Key, Service: d.Service,
				Stalled: new(true)}, countCap); err != nil {
				return err
			}
		}
		p.Processes = append(p.Processes, row)
	}

	if p.ProcessNames, p.ElementNames, err = s.incidentNames(ctx, defs, p.Incidents); err != nil {
		return err
	}
	p.Running = components.Bounded{N: min(running.N, countCap), Capped: running.Capped || running.N > countCap}
	p.Stalled.N = stalled
	p.StalledHref = instancesURL("stalled", "true")
	tasks, err := s.eng.ListUserTasks(ctx, store.UserTaskFilter{State: store.TaskOpen, Limit: countCap + 1})
	if err != nil {
		return err
	}
	p.OpenTasks = components.Bounded{N: min(len(tasks), countCap), Capped: len(tasks) > countCap}
	if p.ParkedEvents, err = s.eng.CountParked(ctx); err != nil {
		return err
	}

	// Throughput from the newest instances started in the last hour: how many started,
	// and how many of those completed. When the bound cuts the hour short, the rows read
	// still give the rate.
	started, recent, err := s.countInstances(ctx, store.InstanceFilter{StartedAfter: now.Add(-time.Hour)}, countCap)
	if err != nil {
		return err
	}
	p.StartedHour = started
	done := 0
	for _, in := range recent.Instances {
		if in.State == store.InstanceCompleted {
			done++
		}
	}
	p.CompletedHour = components.Bounded{N: done, Capped: started.Capped}
	if n := len(recent.Instances); n > 1 {
		// Over the span the rows cover: the whole hour, or less when the bound cut it
		// or the store is younger than an hour.
		if span := now.Sub(recent.Instances[n-1].StartedAt); span > 0 {
			p.RateNote = rateNote(float64(n) / span.Seconds())
		}
	}
	ws, err := s.eng.Workers(ctx)
	if err != nil {
		return err
	}
	for _, w := range ws {
		p.Workers = append(p.Workers, pages.WorkerRow{Name: w.Name, Types: w.Types, LastSeen: w.LastSeen,
			InFlight: w.InFlight, Failures: w.Failures})
	}
	if p.Unserved, err = s.unservedAll(ctx); err != nil {
		return err
	}
	return s.render(c, 200, page{Title: "Overview", Nav: layout.NavOverview}, pages.Dashboard(p))
}

func rateNote(perSecond float64) string {
	switch {
	case perSecond >= 1:
		return fmt.Sprintf("≈ %.1f per second", perSecond)
	case perSecond*60 >= 1:
		return fmt.Sprintf("≈ %.1f per minute", perSecond*60)
	}
	return fmt.Sprintf("≈ %.1f per hour", perSecond*3600)
}

// incidentNames names the processes and elements of the recent incidents, from the
// latest version of each process (the models are cached by the engine): the overview
// shows "Charge card", not "Task_0x3f".
func (s *server) incidentNames(ctx context.Context, defs []*store.Definition, incidents []*store.Incident) (procs, elements map[string]string, err error) {
	latest := map[string]*store.Definition{}
	for _, d := range defs {
		if l := latest[d.Key]; l == nil || l.Version < d.Version {
			latest[d.Key] = d
		}
	}
	procs, elements = map[string]string{}, map[string]string{}
	models := map[string]map[string]string{}
	for _, in := range incidents {
		d := latest[in.DefinitionKey]
		if d == nil {
			continue
		}
		procs[d.Key] = d.Name
		names, ok := models[d.ID]
		if !ok {
			model, err := s.eng.Model(ctx, d.ID)
			if err != nil {
				return nil, nil, err
			}
			names = elementNames(model)
			models[d.ID] = names
		}
		elements[pages.ElementKey(in.DefinitionKey, in.ElementID)] = names[in.ElementID]
	}
	return procs, elements, nil
}
