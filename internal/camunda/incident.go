package camunda

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Incidents: Camunda's runtime API lists the open ones. A failed service job whose type
// no handler in this process serves is an external task's: "failedExternalTask"; other
// failed jobs are "failedJob"; Cockpit's other incident types keep their names
// (noMatchingFlow, expressionError, …).

const incidentExternalTask = "failedExternalTask"

// incidentDTO is Camunda's IncidentDto.
type incidentDTO struct {
	ID                  string `json:"id"`
	ProcessDefinitionID string `json:"processDefinitionId"`
	ProcessInstanceID   string `json:"processInstanceId"`
	ExecutionID         string `json:"executionId"`
	IncidentTimestamp   any    `json:"incidentTimestamp"`
	IncidentType        string `json:"incidentType"`
	ActivityID          string `json:"activityId"`
	FailedActivityID    string `json:"failedActivityId"`
	CauseIncidentID     string `json:"causeIncidentId"`
	RootCauseIncidentID string `json:"rootCauseIncidentId"`
	Configuration       any    `json:"configuration"`
	TenantID            any    `json:"tenantId"`
	IncidentMessage     any    `json:"incidentMessage"`
	JobDefinitionID     any    `json:"jobDefinitionId"`
	Annotation          any    `json:"annotation"`
}

// incidentQuery is the filter of GET /incident.
type incidentQuery struct {
	id, typ, instanceID, definitionID, activityID, configuration, message string
	keys                                                                  []string
	none                                                                  bool // a filter nothing matches (a tenant, a job definition)
	first                                                                 int
	max                                                                   *int
}

func readIncidentQuery(r *http.Request) (*incidentQuery, error) {
	v := r.URL.Query()
	q := &incidentQuery{id: v.Get("incidentId"), typ: v.Get("incidentType"), instanceID: v.Get("processInstanceId"),
		definitionID: v.Get("processDefinitionId"), activityID: v.Get("activityId"), configuration: v.Get("configuration"),
		message: v.Get("incidentMessage"), none: v.Get("tenantIdIn") != "" || v.Get("jobDefinitionIdIn") != ""}
	if f := v.Get("failedActivityId"); f != "" {
		if q.activityID != "" && q.activityID != f {
			q.none = true
		}
		q.activityID = f // the failed activity is the incident's activity
	}
	if k := v.Get("processDefinitionKeyIn"); k != "" {
		q.keys = strings.Split(k, ",")
	}
	var err error
	q.first, q.max, err = page(v.Get("firstResult"), v.Get("maxResults"))
	return q, err
}

// incidents returns the open incidents the query selects, described, not yet paged.
func (s *Server) incidents(r *http.Request, q *incidentQuery) ([]incidentDTO, error) {
	if q.none {
		return []incidentDTO{}, nil
	}
	var rows []*store.Incident
	if q.id != "" {
		inc, err := s.o.Engine.GetIncident(r.Context(), q.id)
		if errors.Is(err, engine.ErrNotFound) {
			return []incidentDTO{}, nil
		}
		if err != nil {
			return nil, err
		}
		if inc.State == store.IncidentOpen {
			rows = []*store.Incident{inc}
		}
	} else {
		f := store.IncidentFilter{InstanceID: q.instanceID, State: store.IncidentOpen, Limit: maxScan + 1}
		if len(q.keys) == 1 {
			f.DefinitionKey = q.keys[0]
		}
		var err error
		if rows, err = s.o.Engine.ListIncidents(r.Context(), f); err != nil {
			return nil, err
		}
		if len(rows) > maxScan {
			return nil, badRequest("more than %d open incidents match: a query reads at most that many (narrow the filter)", maxScan)
		}
	}
	d := describer{s: s, r: r, defs: map[string]string{}}
	out := []incidentDTO{}
	for _, inc := range rows {
		switch {
		case q.instanceID != "" && inc.InstanceID != q.instanceID,
			q.keys != nil && !slices.Contains(q.keys, inc.DefinitionKey),
			q.activityID != "" && inc.ElementID != q.activityID,
			q.configuration != "" && inc.JobID != q.configuration,
			q.message != "" && inc.Message != q.message:
			continue
		}
		dto, err := d.incident(inc)
		if err != nil {
			return nil, err
		}
		if q.typ != "" && dto.IncidentType != q.typ || q.definitionID != "" && dto.ProcessDefinitionID != q.definitionID {
			continue
		}
		out = append(out, dto)
	}
	return out, nil
}

// describer describes incidents, reading each instance's definition once.
type describer struct {
	s    *Server
	r    *http.Request
	defs map[string]string // instance id → definition id
}

func (d *describer) incident(inc *store.Incident) (incidentDTO, error) {
	ctx := d.r.Context()
	defID, ok := d.defs[inc.InstanceID]
	if !ok {
		in, err := d.s.o.Engine.GetInstanceRow(ctx, inc.InstanceID)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return incidentDTO{}, err
		}
		if in != nil {
			defID = in.DefinitionID
		}
		d.defs[inc.InstanceID] = defID
	}
	typ := inc.Type
	if typ == store.IncidentFailedJob && inc.JobID != "" {
		j, err := d.s.o.Engine.LookupJob(ctx, inc.JobID)
		if err != nil && !errors.Is(err, engine.ErrNotFound) {
			return incidentDTO{}, err
		}
		if j != nil && j.Kind == store.JobService && !d.s.o.Engine.Handles(j.Type) {
			typ = incidentExternalTask
		}
	}
	cause := inc.ID
	if inc.CauseIncidentID != "" {
		cause = inc.CauseIncidentID
	}
	out := incidentDTO{ID: inc.ID, ProcessDefinitionID: defID, ProcessInstanceID: inc.InstanceID, ExecutionID: inc.InstanceID,
		IncidentTimestamp: formatDate(inc.CreatedAt), IncidentType: typ, ActivityID: inc.ElementID, FailedActivityID: inc.ElementID,
		CauseIncidentID: cause, RootCauseIncidentID: cause}
	if inc.JobID != "" {
		out.Configuration = inc.JobID
	}
	if inc.Message != "" {
		out.IncidentMessage = inc.Message
	}
	return out, nil
}

func (s *Server) listIncidents(w http.ResponseWriter, r *http.Request) error {
	q, err := readIncidentQuery(r)
	if err != nil {
		return err
	}
	all, err := s.incidents(r, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, paged(all, q.first, q.max))
	return nil
}

func (s *Server) countIncidents(w http.ResponseWriter, r *http.Request) error {
	q, err := readIncidentQuery(r)
	if err != nil {
		return err
	}
	all, err := s.incidents(r, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": len(all)})
	return nil
}

// retriesRequest is Camunda's RetriesDto.
type retriesRequest struct {
	Retries *int `json:"retries"`
}

// setRetries gives a failed job (an external task: the job's key) retries again: the
// retry of its open incident, through the command service (audited, with the caller as
// actor). Retries of a job that has not failed cannot be set (Cockpit's jobs get their
// retries from the model).
func (s *Server) setRetries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req retriesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	what := "Job"
	if strings.HasPrefix(r.URL.Path, Prefix+"/external-task/") {
		what = "External task"
	}
	if req.Retries == nil {
		return badRequest("retries is required")
	}
	if *req.Retries < 0 {
		return badRequest("The number of job retries must be a non-negative Integer, but '%s' has been provided.", strconv.Itoa(*req.Retries))
	}
	j, err := s.o.Engine.LookupJob(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return notFound("%s with id %s does not exist", what, id)
	}
	if err != nil {
		return err
	}
	incs, err := s.o.Engine.ListIncidents(r.Context(), store.IncidentFilter{InstanceID: j.InstanceID, State: store.IncidentOpen, Limit: maxScan})
	if err != nil {
		return err
	}
	var inc *store.Incident
	for _, i := range incs {
		if i.JobID == j.ID {
			inc = i
		}
	}
	switch {
	case inc == nil && *req.Retries > 0 && j.Retries > 0:
		return badRequest("%s %s has not failed (it has %d retries left): Cockpit sets the retries of a failed job only", what, id, j.Retries)
	case inc == nil:
		return badRequest("%s %s has no open incident whose retries could be set", what, id)
	case *req.Retries == 0:
		noContent(w) // no retries: it stays failed, as it is
		return nil
	}
	_, err = s.o.Commands.RetryIncident(r.Context(), command.RetryIncidentRequest{
		Meta: command.Meta{Actor: s.actor(r), Reason: reasonREST}, IncidentID: inc.ID, Retries: *req.Retries})
	if err != nil {
		return err
	}
	noContent(w)
	return nil
}
