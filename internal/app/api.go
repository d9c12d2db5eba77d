package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// queries is what the JSON API reads; *engine.Engine implements it.
type queries interface {
	// Ping and Ready are the health probes (engine.Ping, engine.Ready).
	Ping(ctx context.Context) error
	Ready(ctx context.Context) error
	ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error)
	ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error)
	GetInstance(ctx context.Context, id string) (*engine.InstanceDetail, error)
	ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error)
	ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error)
	ListParked(ctx context.Context, q engine.ParkedQuery) (*engine.ParkedEvents, error)
}

// maxLimit bounds the page size a client may ask for.
const maxLimit = 1000

type api struct {
	q   queries
	log *slog.Logger
}

// newAPI wires the read-only JSON API. Every route is here.
func newAPI(q queries, log *slog.Logger) http.Handler {
	a := &api{q: q, log: log}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, a.checked(h)) }
	handle("GET /healthz", a.health)
	handle("GET /readyz", a.ready)
	handle("GET /api/definitions", a.definitions)
	handle("GET /api/instances", a.instances)
	handle("GET /api/instances/{id}", a.instance)
	handle("GET /api/incidents", a.incidents)
	handle("GET /api/tasks", a.tasks)
	handle("GET /api/parked-events", a.parkedEvents)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Error: "no such endpoint: " + r.URL.Path})
	})
	return mux
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

// fail answers with the status that fits err: 400 for bad input, 404 for a missing row,
// 500 (logged, message hidden) for the rest.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var perr *web.ParamError
	switch {
	case errors.Is(err, store.ErrInvalidCursor): // before ErrInvalidInput, which the engine wraps it in
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "parameter after: not a cursor this server made (use a page's next)"})
	case errors.Is(err, errBadRequest), errors.Is(err, engine.ErrInvalidInput), errors.As(err, &perr):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error()})
	case errors.Is(err, store.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: err.Error()})
	case errors.Is(err, context.Canceled):
		// The client hung up.
	default:
		a.log.Error("api", "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
	}
}

var errBadRequest = errors.New("bad request")

// checked refuses a request whose path or query parameters no route accepts (a NUL, invalid
// UTF-8, a value over web.MaxParamBytes, a malformed query string) with a 400 naming the
// parameter; handlers then check only what a value means.
func (a *api) checked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := web.CheckQuery(r.URL.RawQuery); err != nil {
			a.fail(w, r, err)
			return
		}
		if err := web.CheckParam("id", r.PathValue("id")); err != nil {
			a.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	// A read transaction with one indexed lookup proves the store answers and has its
	// tables (engine.Ping).
	if err := a.q.Ping(ctx); err != nil {
		a.log.Warn("health check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 when the store is ready to serve: it answers and its migrations are
// applied (stores that cannot tell count as ready when they answer).
func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := a.q.Ready(ctx); err != nil {
		a.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (a *api) definitions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DefinitionFilter{Key: q.Get("key"), Service: q.Get("service")}
	var err error
	if f.LatestOnly, err = boolParam("latest", q.Get("latest")); err != nil {
		a.fail(w, r, err)
		return
	}
	defs, err := a.q.ListDefinitions(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]definitionJSON, 0, len(defs))
	for _, d := range defs {
		out = append(out, definitionView(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"definitions": out})
}

var instanceStates = map[string]bool{
	store.InstanceActive: true, store.InstanceSuspended: true, store.InstanceCompleted: true,
	store.InstanceCancelled: true,
}

func (a *api) instances(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.InstanceFilter{DefinitionKey: q.Get("definition"), Service: q.Get("service"), BusinessKey: q.Get("businessKey"),
		ParentInstanceID: q.Get("parent"), After: q.Get("after")}
	for _, s := range splitList(q.Get("state")) {
		if !instanceStates[s] {
			a.fail(w, r, fmt.Errorf("%w: unknown state %q", errBadRequest, s))
			return
		}
		f.States = append(f.States, s)
	}
	var err error
	if f.HasIncident, err = optionalBool(q, "hasIncident"); err != nil {
		a.fail(w, r, err)
		return
	}
	if f.Stalled, err = optionalBool(q, "stalled"); err != nil {
		a.fail(w, r, err)
		return
	}
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.q.ListInstances(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]instanceJSON, 0, len(page.Instances))
	for _, in := range page.Instances {
		out = append(out, instanceView(in))
	}
	writeJSON(w, http.StatusOK, map[string]any{"instances": out, "next": page.Next})
}

func (a *api) instance(w http.ResponseWriter, r *http.Request) {
	d, err := a.q.GetInstance(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, detailView(d))
}

func (a *api) incidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{InstanceID: q.Get("instance"), DefinitionKey: q.Get("definition"), State: q.Get("state")}
	if f.State != "" && f.State != store.IncidentOpen && f.State != store.IncidentResolved {
		a.fail(w, r, fmt.Errorf("%w: unknown incident state %q (open or resolved)", errBadRequest, f.State))
		return
	}
	var err error
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	incs, err := a.q.ListIncidents(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]incidentJSON, 0, len(incs))
	for _, i := range incs {
		out = append(out, incidentView(i))
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out})
}

func (a *api) tasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.UserTaskFilter{InstanceID: q.Get("instance"), State: q.Get("state"), Assignee: q.Get("assignee")}
	switch f.State {
	case "", store.TaskOpen, store.TaskCompleted, store.TaskCancelled:
	default:
		a.fail(w, r, fmt.Errorf("%w: unknown task state %q (open, completed or cancelled)", errBadRequest, f.State))
		return
	}
	var err error
	if f.Limit, err = limitParam(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	tasks, err := a.q.ListUserTasks(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]taskJSON, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, taskView(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tasks": out})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// boolParam reads the parameter name's value s: empty means false.
func boolParam(name, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: %s=%q is not true or false", errBadRequest, name, s)
	}
	return b, nil
}

// optionalBool reads a filter that is off when absent (nil) and else true or false.
func optionalBool(q url.Values, name string) (*bool, error) {
	v := q.Get(name)
	if v == "" {
		return nil, nil
	}
	b, err := boolParam(name, v)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// limitParam reads a page size: empty means the store's default.
func limitParam(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fmt.Errorf("%w: limit %q must be a number from 1 to %d", errBadRequest, s, maxLimit)
	}
	return n, nil
}

// parkedEvents lists the events the outbox relay set aside because NATS can never take
// them (newest first), and how many there are in all.
func (a *api) parkedEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r.URL.Query().Get("limit"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if limit == 0 {
		limit = 100
	}
	parked, err := a.q.ListParked(r.Context(), engine.ParkedQuery{Limit: limit})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]parkedEventJSON, 0, len(parked.Events))
	for _, p := range parked.Events {
		out = append(out, parkedEventJSON{Seq: p.Seq, ID: p.ID, InstanceID: p.InstanceID, Type: p.Type, Bytes: p.Bytes,
			Reason: p.Reason, Placeholder: p.Placeholder, ParkedAt: p.ParkedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": parked.Count, "events": out})
}

type parkedEventJSON struct {
	Seq         int64      `json:"seq"`
	ID          string     `json:"id"`
	InstanceID  string     `json:"instanceId"`
	Type        event.Type `json:"type"`
	Bytes       int64      `json:"bytes"`
	Reason      string     `json:"reason"`
	Placeholder bool       `json:"placeholder"`
	ParkedAt    time.Time  `json:"parkedAt"`
}

// JSON views: the API's own shapes, so that the store's structs can change without
// changing what clients see.

type definitionJSON struct {
	ID         string    `json:"id"`
	Key        string    `json:"key"`
	Version    int       `json:"version"`
	Name       string    `json:"name,omitempty"`
	Resource   string    `json:"resource,omitempty"`
	Checksum   string    `json:"checksum"`
	DeployedAt time.Time `json:"deployedAt"`
	// Service deployed it (an observing cockpit's read model; absent for the engine's own).
	Service string `json:"service,omitempty"`
}

func definitionView(d *store.Definition) definitionJSON {
	return definitionJSON{ID: d.ID, Key: d.Key, Version: d.Version, Name: d.Name, Resource: d.Resource, Checksum: d.Checksum,
		DeployedAt: d.DeployedAt, Service: d.Service}
}

type instanceJSON struct {
	ID                string     `json:"id"`
	DefinitionID      string     `json:"definitionId"`
	DefinitionKey     string     `json:"definitionKey"`
	DefinitionVersion int        `json:"definitionVersion"`
	BusinessKey       string     `json:"businessKey,omitempty"`
	State             string     `json:"state"`
	IncidentCount     int        `json:"incidentCount"`
	StartedAt         time.Time  `json:"startedAt"`
	EndedAt           *time.Time `json:"endedAt,omitempty"`
	// A called instance names its caller: the instance, its token and call activity.
	ParentInstanceID string `json:"parentInstanceId,omitempty"`
	ParentTokenID    string `json:"parentTokenId,omitempty"`
	ParentElementID  string `json:"parentElementId,omitempty"`
	CallDepth        int    `json:"callDepth,omitempty"`
}

func instanceView(i *store.Instance) instanceJSON {
	return instanceJSON{ID: i.ID, DefinitionID: i.DefinitionID, DefinitionKey: i.DefinitionKey, DefinitionVersion: i.DefinitionVersion,
		BusinessKey: i.BusinessKey, State: i.State, IncidentCount: i.IncidentCount, StartedAt: i.StartedAt, EndedAt: i.EndedAt,
		ParentInstanceID: i.ParentInstanceID, ParentTokenID: i.ParentTokenID, ParentElementID: i.ParentElementID, CallDepth: i.CallDepth}
}

type tokenJSON struct {
	ID        string    `json:"id"`
	ElementID string    `json:"elementId"`
	ScopeID   string    `json:"scopeId,omitempty"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"createdAt"`
}

type variableJSON struct {
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt time.Time       `json:"updatedAt"`
	// Scope is the token id of the scope that holds a local variable ("" omitted: the process).
	Scope string `json:"scope,omitempty"`
}

type jobJSON struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Type      string     `json:"type"`
	ElementID string     `json:"elementId"`
	Retries   int        `json:"retries"`
	Attempt   int        `json:"attempt"`
	DueAt     time.Time  `json:"dueAt"`
	Suspended bool       `json:"suspended,omitempty"`
	LockedBy  string     `json:"lockedBy,omitempty"`
	LockedTo  *time.Time `json:"lockedUntil,omitempty"`
	LastError string     `json:"lastError,omitempty"`
}

type incidentJSON struct {
	ID            string     `json:"id"`
	InstanceID    string     `json:"instanceId"`
	ElementID     string     `json:"elementId"`
	DefinitionKey string     `json:"definitionKey"`
	JobID         string     `json:"jobId,omitempty"`
	Type          string     `json:"type"`
	Message       string     `json:"message"`
	Details       string     `json:"details,omitempty"`
	State         string     `json:"state"`
	CreatedAt     time.Time  `json:"createdAt"`
	ResolvedAt    *time.Time `json:"resolvedAt,omitempty"`
}

func incidentView(i *store.Incident) incidentJSON {
	return incidentJSON{ID: i.ID, InstanceID: i.InstanceID, ElementID: i.ElementID, DefinitionKey: i.DefinitionKey, JobID: i.JobID,
		Type: i.Type, Message: i.Message, Details: i.Details, State: i.State, CreatedAt: i.CreatedAt, ResolvedAt: i.ResolvedAt}
}

type taskJSON struct {
	ID              string     `json:"id"`
	InstanceID      string     `json:"instanceId"`
	ElementID       string     `json:"elementId"`
	DefinitionKey   string     `json:"definitionKey"`
	Name            string     `json:"name"`
	Assignee        string     `json:"assignee,omitempty"`
	CandidateGroups string     `json:"candidateGroups,omitempty"`
	FormKey         string     `json:"formKey,omitempty"`
	State           string     `json:"state"`
	CreatedAt       time.Time  `json:"createdAt"`
	DueAt           *time.Time `json:"dueAt,omitempty"`
	CompletedAt     *time.Time `json:"completedAt,omitempty"`
}

func taskView(t *store.UserTask) taskJSON {
	return taskJSON{ID: t.ID, InstanceID: t.InstanceID, ElementID: t.ElementID, DefinitionKey: t.DefinitionKey, Name: t.Name,
		Assignee: t.Assignee, CandidateGroups: t.CandidateGroups, FormKey: t.FormKey, State: t.State,
		CreatedAt: t.CreatedAt, DueAt: t.DueAt, CompletedAt: t.CompletedAt}
}

type eventJSON struct {
	ID          string          `json:"id"`
	Seq         int64           `json:"seq"`
	Type        event.Type      `json:"type"`
	ElementID   string          `json:"elementId,omitempty"`
	ElementType string          `json:"elementType,omitempty"`
	TokenID     string          `json:"tokenId,omitempty"`
	JobID       string          `json:"jobId,omitempty"`
	IncidentID  string          `json:"incidentId,omitempty"`
	Time        time.Time       `json:"time"`
	Data        json.RawMessage `json:"data,omitempty"`
}

type detailJSON struct {
	Instance  instanceJSON   `json:"instance"`
	Tokens    []tokenJSON    `json:"tokens"`
	Variables []variableJSON `json:"variables"`
	// LocalVariables are the variables of scopes below the process (omitted when none).
	LocalVariables []variableJSON `json:"localVariables,omitempty"`
	Jobs           []jobJSON      `json:"jobs"`
	Incidents      []incidentJSON `json:"incidents"`
	UserTasks      []taskJSON     `json:"userTasks"`
	History        []eventJSON    `json:"history"`
}

func detailView(d *engine.InstanceDetail) detailJSON {
	out := detailJSON{
		Instance: instanceView(d.Instance), Tokens: []tokenJSON{}, Variables: []variableJSON{}, Jobs: []jobJSON{},
		Incidents: []incidentJSON{}, UserTasks: []taskJSON{}, History: []eventJSON{},
	}
	for _, t := range d.Tokens {
		out.Tokens = append(out.Tokens, tokenJSON{ID: t.ID, ElementID: t.ElementID, ScopeID: t.ScopeID, State: t.State, CreatedAt: t.CreatedAt})
	}
	// variables are the process's, as before scopes; localVariables those of the live
	// scopes below it, each with the token that holds it.
	for _, v := range d.Variables {
		val := v.Value
		if !json.Valid(val) {
			val = json.RawMessage("null")
		}
		vj := variableJSON{Name: v.Name, Type: v.Type, Value: val, UpdatedAt: v.UpdatedAt, Scope: v.Scope}
		if v.Scope == "" {
			out.Variables = append(out.Variables, vj)
		} else {
			out.LocalVariables = append(out.LocalVariables, vj)
		}
	}
	for _, j := range d.Jobs {
		out.Jobs = append(out.Jobs, jobJSON{ID: j.ID, Kind: j.Kind, Type: j.Type, ElementID: j.ElementID, Retries: j.Retries,
			Attempt: j.Attempt, DueAt: j.DueAt, Suspended: j.Suspended, LockedBy: j.LockOwner, LockedTo: j.LockedUntil, LastError: j.LastError})
	}
	for _, i := range d.Incidents {
		out.Incidents = append(out.Incidents, incidentView(i))
	}
	for _, t := range d.UserTasks {
		out.UserTasks = append(out.UserTasks, taskView(t))
	}
	for _, e := range d.History {
		data := e.Data
		if len(data) > 0 && !json.Valid(data) {
			data = nil
		}
		out.History = append(out.History, eventJSON{ID: e.ID, Seq: e.Seq, Type: e.Type, ElementID: e.ElementID, ElementType: e.ElementType,
			TokenID: e.TokenID, JobID: e.JobID, IncidentID: e.IncidentID, Time: e.Time, Data: data})
	}
	return out
}
