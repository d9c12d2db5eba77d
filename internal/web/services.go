package web

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// ServicesReporter reports the services an observing cockpit folds (internal/app: its
// observer's counters and a NATS discovery of the engine nodes). Nil: no services page.
type ServicesReporter interface {
	ServicesReport(ctx context.Context) (*ServicesReport, error)
}

// ServicesReport is what the services page shows.
type ServicesReport struct {
	// Pending is the events the stream holds that the observer has not folded;
	// PendingErr why that is unknown.
	Pending    uint64
	PendingErr error
	// Services are the observer's counters by service name.
	Services map[string]ObservedService
	// Nodes are the engine nodes that answered the discovery.
	Nodes []bus.Node
	// Repairs are the gaps closed by asking the owning engine for an instance's
	// history, RepairFailures the requests that failed, Stuck the events given up on.
	Repairs, RepairFailures, Stuck int64
}

// ObservedService is the observer's view of one service.
type ObservedService struct {
	Events int64
	// Last is the newest event's time.
	Last time.Time
}

// SilentAfter is how long a service without an engine node online may send no event
// before the services page calls it silent.
const SilentAfter = 5 * time.Minute

// services is GET /services.
func (s *server) services(c echo.Context) error {
	if s.servicesReport == nil {
		return notFound("This cockpit observes no services: it runs its own engine. Start it with --observe to see the services on its NATS server.")
	}
	rep, err := s.servicesReport.ServicesReport(c.Request().Context())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, page{Title: "Services", Nav: layout.NavServices}, pages.Services(servicesProps(rep, s.now())))
}

// servicesProps joins the counters and the nodes by service, newest first.
func servicesProps(rep *ServicesReport, now time.Time) pages.ServicesProps {
	p := pages.ServicesProps{Now: now, Pending: rep.Pending, SilentAfter: SilentAfter, Repairs: rep.Repairs,
		RepairFailures: rep.RepairFailures, Stuck: rep.Stuck}
	if rep.PendingErr != nil {
		p.PendingErr = rep.PendingErr.Error()
	}
	rows := map[string]*pages.ServiceRow{}
	row := func(name string) *pages.ServiceRow {
		r := rows[name]
		if r == nil {
			r = &pages.ServiceRow{Name: name}
			rows[name] = r
		}
		return r
	}
	var newest time.Time
	for name, o := range rep.Services {
		r := row(name)
		r.Events, r.Last = o.Events, o.Last
		if o.Last.After(newest) {
			newest = o.Last
		}
	}
	for _, n := range rep.Nodes {
		r := row(n.Service)
		r.Nodes = append(r.Nodes, pages.ServiceNode{Node: n.Node, Build: n.Build})
		if !slices.Contains(r.Builds, n.Build) {
			r.Builds = append(r.Builds, n.Build)
		}
	}
	for _, r := range rows {
		slices.SortFunc(r.Nodes, func(a, b pages.ServiceNode) int { return strings.Compare(a.Node, b.Node) })
		slices.Sort(r.Builds)
		r.Silent = len(r.Nodes) == 0 && (r.Last.IsZero() || now.Sub(r.Last) > SilentAfter)
		p.Rows = append(p.Rows, *r)
	}
	slices.SortFunc(p.Rows, func(a, b pages.ServiceRow) int { return strings.Compare(a.Name, b.Name) })
	if rep.Pending > 0 && !newest.IsZero() {
		p.LagSeconds = now.Sub(newest).Seconds()
	}
	return p
}
