package camunda

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/auth"
)

// APIVersion is the Camunda 7 release whose REST API this one mirrors (GET /version):
// clients that check it find the API they were written for.
const APIVersion = "7.22.0"

// moreRoutes wires the deployment, process definition, instance, message, incident and
// job endpoints.
func (s *Server) moreRoutes(handle func(pattern string, p auth.Permission, h func(w http.ResponseWriter, r *http.Request) error)) {
	read, act := auth.Read, auth.Act
	handle("GET /version", read, s.version)
	handle("GET /engine", read, s.engines)
	// Deployments (deployment.go): deploying changes what runs for everyone, an admin's
	// right, as the web UI's deploy is.
	handle("POST /deployment/create", auth.Administer, s.createDeployment)
	listDeployments, countDeployments := wholeList(readDeploymentQuery, s.deployments)
	handle("GET /deployment", read, listDeployments)
	handle("GET /deployment/count", read, countDeployments)
	handle("GET /deployment/{id}", read, s.getDeployment)
	// Process definitions (definition.go).
	listDefinitions, countDefinitions := wholeList(readDefinitionQuery, s.definitions)
	handle("GET /process-definition", read, listDefinitions)
	handle("GET /process-definition/count", read, countDefinitions)
	handle("GET /process-definition/{id}", read, s.getDefinition)
	// /{id}/xml and /key/{key} overlap (/key/xml), which the mux refuses: one pattern
	// serves both, as Camunda's own routing prefers /key/.
	handle("GET /process-definition/{a}/{b}", read, s.definitionOrXML)
	handle("GET /process-definition/key/{key}/xml", read, s.definitionXML)
	handle("POST /process-definition/{id}/start", act, s.startInstance)
	handle("POST /process-definition/key/{key}/start", act, s.startInstance)
	// Process instances (instance.go).
	handle("GET /process-instance", read, s.listInstances)
	handle("POST /process-instance", read, s.listInstances)
	handle("GET /process-instance/count", read, s.countInstances)
	handle("POST /process-instance/count", read, s.countInstances)
	handle("GET /process-instance/{id}", read, s.getInstance)
	handle("GET /process-instance/{id}/variables", read, s.instanceVariables)
	handle("GET /process-instance/{id}/variables/{name}", read, s.instanceVariable)
	// Messages (message.go).
	handle("POST /message", act, s.correlateMessage)
	// Incidents and retries (incident.go).
	handle("GET /incident", read, s.listIncidents)
	handle("GET /incident/count", read, s.countIncidents)
	handle("PUT /job/{id}/retries", act, s.setRetries)
	handle("PUT /external-task/{id}/retries", act, s.setRetries)
}

// version answers GET /version.
func (s *Server) version(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"version": APIVersion})
	return nil
}

// engines answers GET /engine: one engine, Camunda's default name.
func (s *Server) engines(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, []map[string]string{{"name": "default"}})
	return nil
}

// listing is how a list is sorted and paged: sortBy (one of the names a list allows),
// sortOrder, firstResult and maxResults.
type listing struct {
	sortBy string
	desc   bool
	first  int
	max    *int
}

// readListing reads a list's sorting and page from its query parameters; sortBy must be
// one of sorts (or absent).
func readListing(v url.Values, sorts ...string) (listing, error) {
	l := listing{sortBy: v.Get("sortBy")}
	if l.sortBy != "" && !slices.Contains(sorts, l.sortBy) {
		return l, badRequest("sortBy %q: sort by %s", l.sortBy, strings.Join(sorts, ", "))
	}
	switch o := v.Get("sortOrder"); o {
	case "", "asc":
	case "desc":
		l.desc = true
	default:
		return l, badRequest("sortOrder must be asc or desc, not %q", o)
	}
	var err error
	l.first, l.max, err = page(v.Get("firstResult"), v.Get("maxResults"))
	return l, err
}

// paging is a query with a listing.
type paging interface{ page() listing }

func (l listing) page() listing { return l }

// wholeList makes the list and count endpoints of a selection that is read whole and
// paged here: read parses the query, sel selects.
func wholeList[Q paging, T any](read func(*http.Request) (Q, error), sel func(*http.Request, Q) ([]T, error)) (list, count func(http.ResponseWriter, *http.Request) error) {
	run := func(w http.ResponseWriter, r *http.Request, counted bool) error {
		q, err := read(r)
		if err != nil {
			return err
		}
		all, err := sel(r, q)
		if err != nil {
			return err
		}
		if counted {
			writeJSON(w, http.StatusOK, map[string]int{"count": len(all)})
			return nil
		}
		l := q.page()
		writeJSON(w, http.StatusOK, paged(all, l.first, l.max))
		return nil
	}
	return func(w http.ResponseWriter, r *http.Request) error { return run(w, r, false) },
		func(w http.ResponseWriter, r *http.Request) error { return run(w, r, true) }
}
