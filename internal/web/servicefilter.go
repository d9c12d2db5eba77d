package web

import (
	"context"
	"net/url"
	"slices"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The service as a dimension of the pages. An engine's own store holds its own
// definitions only (service ""); an observing cockpit's read model (package
// internal/observer) holds several services', where two may deploy the same process
// key. The pages then name each definition's service, link with a service parameter
// and offer it as a filter; with one service they look as they always did.

// definitionServices lists the distinct services of defs, sorted.
func definitionServices(defs []*store.Definition) []string {
	var out []string
	for _, d := range defs {
		if !slices.Contains(out, d.Service) {
			out = append(out, d.Service)
		}
	}
	slices.Sort(out)
	return out
}

// keyServices maps each process key of defs to the services that deploy it, sorted.
func keyServices(defs []*store.Definition) map[string][]string {
	out := map[string][]string{}
	for _, d := range defs {
		if !slices.Contains(out[d.Key], d.Service) {
			out[d.Key] = append(out[d.Key], d.Service)
		}
	}
	for _, svcs := range out {
		slices.Sort(svcs)
	}
	return out
}

// withParam is a copy of q with one parameter set ("" removes it).
func withParam(q url.Values, name, value string) url.Values {
	out := cloneValues(q)
	if value == "" {
		out.Del(name)
	} else {
		out.Set(name, value)
	}
	return out
}

// withService adds the service parameter to an instance list or process link ("" adds
// nothing).
func withService(href, service string) string {
	if service == "" {
		return href
	}
	u, err := url.Parse(href)
	if err != nil {
		return href
	}
	q := u.Query()
	q.Set("service", service)
	u.RawQuery = q.Encode()
	return u.String()
}

// serviceIncidents keeps the incidents (of a process key) that belong to one service's
// instances: those among the service's instances of the key with an open incident,
// listed up to countCap (the page's bound on incidents too).
func (s *server) serviceIncidents(ctx context.Context, service, key string, incidents []*store.Incident) ([]*store.Incident, error) {
	page, err := s.eng.ListInstances(ctx, store.InstanceFilter{Service: service, DefinitionKey: key, HasIncident: new(true),
		Limit: countCap})
	if err != nil {
		return nil, err
	}
	mine := make(map[string]bool, len(page.Instances))
	for _, in := range page.Instances {
		mine[in.ID] = true
	}
	var out []*store.Incident
	for _, in := range incidents {
		if mine[in.InstanceID] {
			out = append(out, in)
		}
	}
	return out, nil
}
