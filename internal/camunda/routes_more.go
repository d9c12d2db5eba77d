package camunda

import (
	"net/http"

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
	handle("GET /deployment", read, s.listDeployments)
	handle("GET /deployment/count", read, s.countDeployments)
	handle("GET /deployment/{id}", read, s.getDeployment)
	// Process definitions (definition.go).
	handle("GET /process-definition", read, s.listDefinitions)
	handle("GET /process-definition/count", read, s.countDefinitions)
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
