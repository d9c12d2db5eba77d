package camunda

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// definitionDTO is Camunda's ProcessDefinitionDto. Cockpit's definition id is its id.
type definitionDTO struct {
	ID                  string `json:"id"`
	Key                 string `json:"key"`
	Category            any    `json:"category"`
	Description         any    `json:"description"`
	Name                any    `json:"name"`
	Version             int    `json:"version"`
	Resource            string `json:"resource"`
	DeploymentID        string `json:"deploymentId"`
	Diagram             any    `json:"diagram"`
	Suspended           bool   `json:"suspended"`
	TenantID            any    `json:"tenantId"`
	VersionTag          any    `json:"versionTag"`
	HistoryTimeToLive   any    `json:"historyTimeToLive"`
	StartableInTasklist bool   `json:"startableInTasklist"`
}

func newDefinitionDTO(d *store.Definition, deploymentID string) definitionDTO {
	out := definitionDTO{ID: d.ID, Key: d.Key, Version: d.Version, Resource: d.Resource, DeploymentID: deploymentID,
		StartableInTasklist: true}
	if d.Name != "" {
		out.Name = d.Name
	}
	if d.VersionTag != "" {
		out.VersionTag = d.VersionTag
	}
	return out
}

// definitionQuery is the filter of GET /process-definition.
type definitionQuery struct {
	key, name, nameLike, deploymentID string
	keys                              []string
	latest                            bool
	version                           int
	none                              bool // a filter nothing matches (a tenant, suspended)
	listing
}

func readDefinitionQuery(r *http.Request) (*definitionQuery, error) {
	v := r.URL.Query()
	q := &definitionQuery{key: v.Get("key"), name: v.Get("name"), nameLike: v.Get("nameLike"), deploymentID: v.Get("deploymentId")}
	if k := v.Get("keysIn"); k != "" {
		q.keys = strings.Split(k, ",")
	}
	for name, p := range map[string]*bool{"latestVersion": &q.latest, "suspended": &q.none} {
		if s := v.Get(name); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, badRequest("%s must be true or false, not %q", name, s)
			}
			*p = b
		}
	}
	if s := v.Get("version"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, badRequest("version must be a whole number of at least 1, not %q", s)
		}
		q.version = n
	}
	if v.Get("tenantIdIn") != "" {
		q.none = true
	}
	var err error
	q.listing, err = readListing(v, "id", "key", "name", "version", "deploymentId")
	return q, err
}

// definitions lists the definitions the query selects, sorted, not yet paged. Every
// definition is read: a definition's deployment is found among all of them.
func (s *Server) definitions(r *http.Request, q *definitionQuery) ([]definitionDTO, error) {
	defs, err := s.o.Engine.ListDefinitions(r.Context(), store.DefinitionFilter{})
	if err != nil {
		return nil, err
	}
	deps := deploymentIDs(defs)
	latest := map[string]int{}
	for _, d := range defs {
		latest[d.Key] = max(latest[d.Key], d.Version)
	}
	out := []definitionDTO{}
	for _, d := range defs {
		switch {
		case q.none,
			q.key != "" && d.Key != q.key,
			q.keys != nil && !slices.Contains(q.keys, d.Key),
			q.latest && d.Version != latest[d.Key],
			q.version != 0 && d.Version != q.version,
			q.name != "" && d.Name != q.name,
			q.nameLike != "" && !like(d.Name, q.nameLike),
			q.deploymentID != "" && deps[d.ID] != q.deploymentID:
			continue
		}
		out = append(out, newDefinitionDTO(d, deps[d.ID]))
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		var less bool
		switch q.sortBy {
		case "key":
			less = a.Key < b.Key || a.Key == b.Key && a.Version < b.Version
		case "name":
			an, _ := a.Name.(string)
			bn, _ := b.Name.(string)
			less = an < bn
		case "version":
			less = a.Version < b.Version
		case "deploymentId":
			less = a.DeploymentID < b.DeploymentID
		default:
			less = a.ID < b.ID
		}
		if q.desc {
			return !less && a.ID != b.ID
		}
		return less
	})
	return out, nil
}

// definition finds the definition a path names: /{id} or /key/{key} (the latest).
func (s *Server) definition(r *http.Request) (*store.Definition, error) {
	if key := r.PathValue("key"); key != "" {
		defs, err := s.o.Engine.ListDefinitions(r.Context(), store.DefinitionFilter{Key: key, LatestOnly: true})
		if err != nil {
			return nil, err
		}
		if len(defs) == 0 {
			return nil, notFound("No matching process definition with key: %s and no tenant-id", key)
		}
		return defs[0], nil
	}
	id := r.PathValue("id")
	d, err := s.o.Engine.GetDefinition(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, notFound("No matching definition with id %s", id)
	}
	return d, err
}

func (s *Server) getDefinition(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definition(r)
	if err != nil {
		return err
	}
	same, err := s.o.Engine.ListDefinitions(r.Context(), store.DefinitionFilter{Checksum: d.Checksum})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newDefinitionDTO(d, deploymentIDs(same)[d.ID]))
	return nil
}

func (s *Server) definitionXML(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definition(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": d.ID, "bpmn20Xml": string(d.XML)})
	return nil
}

// definitionOrXML serves /process-definition/key/{key} and /process-definition/{id}/xml.
func (s *Server) definitionOrXML(w http.ResponseWriter, r *http.Request) error {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "key":
		r.SetPathValue("key", b)
		return s.getDefinition(w, r)
	case b == "xml":
		r.SetPathValue("id", a)
		return s.definitionXML(w, r)
	}
	return notFound("no such endpoint: %s %s (docs/camunda.md lists the ones served)", r.Method, r.URL.Path)
}

// startRequest is Camunda's StartProcessInstanceDto.
type startRequest struct {
	Variables             map[string]variable `json:"variables"`
	BusinessKey           string              `json:"businessKey"`
	CaseInstanceID        string              `json:"caseInstanceId"`
	StartInstructions     []json.RawMessage   `json:"startInstructions"`
	WithVariablesInReturn bool                `json:"withVariablesInReturn"`
}

// instanceDTO is Camunda's ProcessInstanceDto (with variables: ProcessInstanceWithVariablesDto).
type instanceDTO struct {
	ID             string               `json:"id"`
	DefinitionID   string               `json:"definitionId"`
	BusinessKey    any                  `json:"businessKey"`
	CaseInstanceID any                  `json:"caseInstanceId"`
	Ended          bool                 `json:"ended"`
	Suspended      bool                 `json:"suspended"`
	TenantID       any                  `json:"tenantId"`
	Links          []link               `json:"links"`
	Variables      *map[string]variable `json:"variables,omitempty"`
}

// link is Camunda's AtomLink.
type link struct {
	Method string `json:"method"`
	Href   string `json:"href"`
	Rel    string `json:"rel"`
}

// newInstanceDTO describes an instance row; links point at it under the request's base.
func newInstanceDTO(r *http.Request, in *store.Instance) instanceDTO {
	d := instanceDTO{ID: in.ID, DefinitionID: in.DefinitionID, Ended: in.State == store.InstanceCompleted || in.State == store.InstanceCancelled,
		Suspended: in.State == store.InstanceSuspended, Links: []link{}}
	if in.BusinessKey != "" {
		d.BusinessKey = in.BusinessKey
	}
	if r != nil {
		d.Links = []link{{Method: http.MethodGet, Href: baseURL(r) + "/process-instance/" + in.ID, Rel: "self"}}
	}
	return d
}

// baseURL is the API's absolute URL as the request reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix
}

// splitTyped turns typed variables into the command service's plain and typed values.
func splitTyped(what string, in map[string]variable) (map[string]any, map[string]command.TypedValue, error) {
	vals, err := toEngine(what, in)
	if err != nil {
		return nil, nil, err
	}
	var plain map[string]any
	var typed map[string]command.TypedValue
	for name, v := range vals {
		t, ok := v.(engine.Typed)
		if !ok {
			if plain == nil {
				plain = map[string]any{}
			}
			plain[name] = v
			continue
		}
		raw, err := json.Marshal(t.Value)
		if err != nil {
			return nil, nil, badRequest("Cannot set variable %q (%s): %v", name, what, err)
		}
		if typed == nil {
			typed = map[string]command.TypedValue{}
		}
		typed[name] = command.TypedValue{Type: t.Type, Value: raw}
	}
	return plain, typed, nil
}

// startInstance starts an instance through the command service (audited, with the
// caller as actor): of the definition /{id}, or of the latest version of /key/{key}.
func (s *Server) startInstance(w http.ResponseWriter, r *http.Request) error {
	var req startRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if len(req.StartInstructions) > 0 {
		return badRequest("startInstructions are not supported: an instance starts at its none start event")
	}
	if req.CaseInstanceID != "" {
		return badRequest("caseInstanceId: Cockpit runs no CMMN cases")
	}
	plain, typed, err := splitTyped("variables", req.Variables)
	if err != nil {
		return err
	}
	cmd := command.StartInstanceRequest{Meta: command.Meta{Actor: s.actor(r), Reason: reasonREST}, BusinessKey: req.BusinessKey,
		Variables: plain, TypedVariables: typed}
	if key := r.PathValue("key"); key != "" {
		cmd.ProcessKey = key
	} else {
		d, err := s.definition(r)
		if err != nil {
			return err
		}
		cmd.ProcessKey, cmd.Version = d.Key, d.Version
	}
	res, err := s.o.Commands.StartInstance(r.Context(), cmd)
	if cerr := (*command.Error)(nil); errors.As(err, &cerr) && cerr.Code == command.CodeNotFound {
		return notFound("No matching process definition with key: %s and no tenant-id (%s)", cmd.ProcessKey, cerr.Message)
	}
	if err != nil {
		return err
	}
	in := &store.Instance{ID: res.InstanceID, DefinitionID: res.DefinitionID, DefinitionKey: res.DefinitionKey,
		BusinessKey: res.BusinessKey, State: res.State}
	out := newInstanceDTO(r, in)
	if req.WithVariablesInReturn {
		vars, err := s.processVariables(r, res.InstanceID, false)
		if err != nil {
			return err
		}
		out.Variables = &vars
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// processVariables are an instance's process variables (scope "") in typed form.
func (s *Server) processVariables(r *http.Request, id string, deserialize bool) (map[string]variable, error) {
	d, err := s.o.Engine.GetInstance(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, notFound("Process instance with id %s does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]variable{}
	for _, row := range d.Variables {
		if row.Scope == "" {
			out[row.Name] = fromRow(row, deserialize)
		}
	}
	return out, nil
}
