package camunda

import (
	"net/http"

	"github.com/cockpit-engine/cockpit/internal/auth"
)

// moreRoutes wires the deployment, process definition, instance, message, incident and
// job endpoints.
func (s *Server) moreRoutes(handle func(pattern string, p auth.Permission, h func(w http.ResponseWriter, r *http.Request) error)) {
}
