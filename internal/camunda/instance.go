package camunda

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Process instances, as Camunda's runtime API sees them: the running ones (active or
// suspended). An ended instance is history in Camunda, so it is not found here (the web
// UI and the JSON API show it).

// maxScan bounds the open incidents an incident query reads to filter (incident.go).
const maxScan = 10000

// instanceQuery is the filter of GET /process-instance (query parameters) and of its
// POST form (a JSON body with the same names; the page in the query parameters).
type instanceQuery struct {
	ProcessInstanceIDs   []string `json:"processInstanceIds"`
	BusinessKey          string   `json:"businessKey"`
	ProcessDefinitionID  string   `json:"processDefinitionId"`
	ProcessDefinitionKey string   `json:"processDefinitionKey"`
	Active               bool     `json:"active"`
	Suspended            bool     `json:"suspended"`
	WithIncident         bool     `json:"withIncident"`
	TenantIDIn           []string `json:"tenantIdIn"`
	first                int
	max                  *int
}

func readInstanceQuery(w http.ResponseWriter, r *http.Request) (*instanceQuery, error) {
	q := &instanceQuery{}
	v := r.URL.Query()
	if r.Method == http.MethodPost {
		if err := decode(w, r, q); err != nil {
			return nil, err
		}
	} else {
		q.BusinessKey, q.ProcessDefinitionID, q.ProcessDefinitionKey = v.Get("businessKey"), v.Get("processDefinitionId"), v.Get("processDefinitionKey")
		if ids := v.Get("processInstanceIds"); ids != "" {
			q.ProcessInstanceIDs = strings.Split(ids, ",")
		}
		if t := v.Get("tenantIdIn"); t != "" {
			q.TenantIDIn = strings.Split(t, ",")
		}
		for name, p := range map[string]*bool{"active": &q.Active, "suspended": &q.Suspended, "withIncident": &q.WithIncident} {
			if s := v.Get(name); s != "" {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return nil, badRequest("%s must be true or false, not %q", name, s)
				}
				*p = b
			}
		}
	}
	if len(q.ProcessInstanceIDs) > maxResults {
		return nil, badRequest("processInstanceIds: %d ids, more than the limit of %d", len(q.ProcessInstanceIDs), maxResults)
	}
	var err error
	q.first, q.max, err = page(v.Get("firstResult"), v.Get("maxResults"))
	return q, err
}

// states are the instance states the query selects.
func (q *instanceQuery) states() []string {
	switch {
	case q.Active && q.Suspended:
		return nil
	case q.Active:
		return []string{store.InstanceActive}
	case q.Suspended:
		return []string{store.InstanceSuspended}
	}
	return []string{store.InstanceActive, store.InstanceSuspended}
}

// instances returns the page of instances the query selects.
func (s *Server) instances(r *http.Request, q *instanceQuery) ([]*store.Instance, error) {
	states := q.states()
	if states == nil || len(q.TenantIDIn) > 0 {
		return nil, nil
	}
	if q.ProcessInstanceIDs != nil {
		ins, err := s.instancesByID(r, q, states)
		return paged(ins, q.first, q.max), err
	}
	f := q.filter(states)
	f.Offset, f.Limit = q.first, maxResults
	if q.max != nil {
		f.Limit = *q.max
	}
	if f.Limit == 0 {
		return nil, nil
	}
	p, err := s.o.Engine.ListInstances(r.Context(), f)
	if err != nil {
		return nil, err
	}
	return p.Instances, nil
}

// filter is the store's filter of the query (its instance ids aside).
func (q *instanceQuery) filter(states []string) store.InstanceFilter {
	f := store.InstanceFilter{DefinitionKey: q.ProcessDefinitionKey, DefinitionID: q.ProcessDefinitionID, States: states,
		BusinessKey: q.BusinessKey}
	if q.WithIncident {
		f.HasIncident = ptr(true)
	}
	return f
}

// instancesByID reads the listed instances and keeps those the other filters select.
func (s *Server) instancesByID(r *http.Request, q *instanceQuery, states []string) ([]*store.Instance, error) {
	ids := append([]string(nil), q.ProcessInstanceIDs...)
	sort.Strings(ids)
	var out []*store.Instance
	for i, id := range ids {
		if i > 0 && ids[i-1] == id {
			continue
		}
		in, err := s.o.Engine.GetInstanceRow(r.Context(), id)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		switch {
		case !slices.Contains(states, in.State),
			q.BusinessKey != "" && in.BusinessKey != q.BusinessKey,
			q.ProcessDefinitionID != "" && in.DefinitionID != q.ProcessDefinitionID,
			q.ProcessDefinitionKey != "" && in.DefinitionKey != q.ProcessDefinitionKey,
			q.WithIncident && in.IncidentCount == 0:
			continue
		}
		out = append(out, in)
	}
	return out, nil
}

func (s *Server) listInstances(w http.ResponseWriter, r *http.Request) error {
	q, err := readInstanceQuery(w, r)
	if err != nil {
		return err
	}
	ins, err := s.instances(r, q)
	if err != nil {
		return err
	}
	out := make([]instanceDTO, len(ins))
	for i, in := range ins {
		out[i] = newInstanceDTO(r, in)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) countInstances(w http.ResponseWriter, r *http.Request) error {
	q, err := readInstanceQuery(w, r)
	if err != nil {
		return err
	}
	states := q.states()
	var n int64
	switch {
	case states == nil || len(q.TenantIDIn) > 0:
	case q.ProcessInstanceIDs != nil:
		ins, err := s.instancesByID(r, q, states)
		if err != nil {
			return err
		}
		n = int64(len(ins))
	default:
		if n, err = s.o.Engine.CountInstances(r.Context(), q.filter(states)); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	return nil
}

// runningInstance reads an instance the runtime API knows: not ended.
func (s *Server) runningInstance(r *http.Request, id string) (*store.Instance, error) {
	in, err := s.o.Engine.GetInstanceRow(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) || err == nil && (in.State == store.InstanceCompleted || in.State == store.InstanceCancelled) {
		return nil, notFound("Process instance with id %s does not exist", id)
	}
	return in, err
}

func (s *Server) getInstance(w http.ResponseWriter, r *http.Request) error {
	in, err := s.runningInstance(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newInstanceDTO(r, in))
	return nil
}

// deserializeParam reads deserializeValues or deserializeValue (default true).
func deserializeParam(r *http.Request, name string) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("%s must be true or false, not %q", name, s)
	}
	return b, nil
}

func (s *Server) instanceVariables(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	deserialize, err := deserializeParam(r, "deserializeValues")
	if err != nil {
		return err
	}
	if _, err := s.runningInstance(r, id); err != nil {
		return err
	}
	vars, err := s.processVariables(r, id, deserialize)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vars)
	return nil
}

func (s *Server) instanceVariable(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.PathValue("name")
	deserialize, err := deserializeParam(r, "deserializeValue")
	if err != nil {
		return err
	}
	if _, err := s.runningInstance(r, id); err != nil {
		return err
	}
	vars, err := s.processVariables(r, id, deserialize)
	if err != nil {
		return err
	}
	v, ok := vars[name]
	if !ok {
		return notFound("process variable with name %s does not exist", name)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
