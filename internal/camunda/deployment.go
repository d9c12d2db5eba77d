package camunda

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Deployments. Cockpit keeps no deployment row: a deployment is the definitions one
// engine.Deploy of one document wrote, which share the document's checksum and their
// deployment time. Its id is the id of its first definition (ids are time-ordered, so the
// smallest of the group), which GET /deployment/{id} finds back through the checksum.

// Bounds of POST /deployment/create.
const (
	// MaxDeployFiles bounds the files of one deployment.
	MaxDeployFiles = 16
	// MaxDeployBodyBytes bounds the whole multipart body: a few documents of the largest
	// size (bpmn.MaxDocumentBytes each) and the form's fields.
	MaxDeployBodyBytes = 3*bpmn.MaxDocumentBytes + 1<<20
	// maxFieldBytes bounds a text field of the form (deployment-name, …).
	maxFieldBytes = 4 << 10
)

// deploymentDTO is Camunda's DeploymentDto.
type deploymentDTO struct {
	ID             string `json:"id"`
	Name           any    `json:"name"`
	Source         any    `json:"source"`
	DeploymentTime any    `json:"deploymentTime"`
	TenantID       any    `json:"tenantId"`
	Links          []any  `json:"links"`
}

// deploymentWithDefinitions is Camunda's DeploymentWithDefinitionsDto.
type deploymentWithDefinitions struct {
	deploymentDTO
	DeployedProcessDefinitions              map[string]definitionDTO `json:"deployedProcessDefinitions"`
	DeployedCaseDefinitions                 any                      `json:"deployedCaseDefinitions"`
	DeployedDecisionDefinitions             any                      `json:"deployedDecisionDefinitions"`
	DeployedDecisionRequirementsDefinitions any                      `json:"deployedDecisionRequirementsDefinitions"`
}

// upload is one file of a deployment.
type upload struct {
	resource string
	data     []byte
}

// deployForm is what POST /deployment/create sends.
type deployForm struct {
	name, source      string
	duplicateFilter   bool
	changedOnly       bool
	files             []upload
	activationTimeSet bool
}

// readDeployForm reads the multipart form as it streams, each part bounded.
func readDeployForm(w http.ResponseWriter, r *http.Request) (*deployForm, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, badRequest("a deployment is sent as multipart/form-data, not %q", r.Header.Get("Content-Type"))
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxDeployBodyBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("the deployment's multipart body cannot be read: %v", err)
	}
	f := &deployForm{}
	tooLarge := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{http.StatusRequestEntityTooLarge, "InvalidRequestException",
				fmt.Sprintf("the deployment is more than the limit of %d bytes in all (MaxDeployBodyBytes)", MaxDeployBodyBytes)}
		}
		return badRequest("the deployment's multipart body cannot be read: %v", err)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, tooLarge(err)
		}
		field := part.FormName()
		switch field {
		case "deployment-name", "deployment-source", "enable-duplicate-filtering", "deploy-changed-only", "tenant-id",
			"deployment-activation-time":
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil {
				return nil, tooLarge(err)
			}
			if len(b) > maxFieldBytes {
				return nil, badRequest("the field %s is more than the limit of %d bytes", field, maxFieldBytes)
			}
			v := strings.TrimSpace(string(b))
			switch field {
			case "deployment-name":
				f.name = v
			case "deployment-source":
				f.source = v
			case "enable-duplicate-filtering", "deploy-changed-only":
				on, err := strconv.ParseBool(v)
				if err != nil && v != "" {
					return nil, badRequest("%s must be true or false, not %q", field, v)
				}
				if field == "enable-duplicate-filtering" {
					f.duplicateFilter = on
				} else {
					f.changedOnly = on
				}
			case "tenant-id":
				if v != "" {
					return nil, badRequest("tenant-id %q: Cockpit has no tenants; deploy without tenant-id", v)
				}
			case "deployment-activation-time":
				f.activationTimeSet = v != ""
			}
			continue
		}
		// Every other part is a resource, named by its file name (else its field name), as
		// Camunda takes them.
		if len(f.files) == MaxDeployFiles {
			return nil, badRequest("a deployment holds at most %d files (MaxDeployFiles)", MaxDeployFiles)
		}
		name := part.FileName()
		if name == "" {
			name = field
		}
		resource := command.ResourceName(name, "upload.bpmn")
		data, err := io.ReadAll(io.LimitReader(part, bpmn.MaxDocumentBytes+1))
		if err != nil {
			return nil, tooLarge(err)
		}
		if len(data) > bpmn.MaxDocumentBytes {
			return nil, &apiError{http.StatusRequestEntityTooLarge, "InvalidRequestException",
				fmt.Sprintf("the file %s is more than the limit of %d bytes of a BPMN document (bpmn.MaxDocumentBytes)", resource, bpmn.MaxDocumentBytes)}
		}
		if len(resource) > command.MaxResourceBytes {
			return nil, badRequest("the file name is %d bytes, more than the limit of %d bytes", len(resource), command.MaxResourceBytes)
		}
		f.files = append(f.files, upload{resource: resource, data: data})
	}
	if len(f.files) == 0 {
		return nil, badRequest("the deployment has no file: send at least one BPMN document as a part of the form")
	}
	if f.activationTimeSet {
		return nil, badRequest("deployment-activation-time is not supported: Cockpit activates a deployment at once")
	}
	return f, nil
}

// parseProblem is one entry of a ParseException's details.
type parseProblem struct {
	Message       string   `json:"message"`
	Line          int      `json:"line"`
	Column        int      `json:"column"`
	MainElementID any      `json:"mainElementId"`
	ElementIDs    []string `json:"elementIds"`
}

type resourceReport struct {
	Errors   []parseProblem `json:"errors"`
	Warnings []parseProblem `json:"warnings"`
}

func toParseProblem(f bpmn.Finding) parseProblem {
	p := parseProblem{Message: f.Message, Line: f.Line, Column: f.Col, ElementIDs: []string{}}
	if f.ElementID != "" {
		p.MainElementID, p.ElementIDs = f.ElementID, []string{f.ElementID}
	}
	return p
}

// deployProblems are the problems of a refused document (engine.DeployError.Problems,
// as the web UI lists them), at least one.
func deployProblems(derr *engine.DeployError) []parseProblem {
	out := []parseProblem{}
	for _, p := range derr.Problems() {
		out = append(out, toParseProblem(p.Finding))
	}
	if len(out) == 0 {
		out = append(out, parseProblem{Message: derr.Error(), ElementIDs: []string{}})
	}
	return out
}

// parseMessage is a ParseException's message: Camunda's, with the first problem.
func parseMessage(resource string, rep resourceReport) string {
	return fmt.Sprintf("ENGINE-09005 Could not parse BPMN process. Errors in '%s': %s", resource, rep.Errors[0].Message)
}

// writeParseException is Camunda's answer to a document it refuses: 400, type
// ParseException, the problems of each resource with line, column and element.
func writeParseException(w http.ResponseWriter, message string, reports map[string]resourceReport) error {
	writeJSON(w, http.StatusBadRequest, map[string]any{"type": "ParseException", "message": message, "code": 0, "details": reports})
	return nil
}

// createDeployment deploys the files of the form, each as engine.Deploy deploys a
// document, audited as the web UI's deployments are (command.Deploy). Every file is
// validated first, so that a refused one deploys none.
func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request) error {
	f, err := readDeployForm(w, r)
	if err != nil {
		return err
	}
	reports := map[string]resourceReport{}
	first := ""
	for _, u := range f.files {
		if _, dup := reports[u.resource]; dup {
			return badRequest("two files are named %s", u.resource)
		}
		rep := resourceReport{Errors: []parseProblem{}, Warnings: []parseProblem{}}
		v, err := engine.Validate(u.data)
		if err == nil {
			err = v.Err()
			for _, wf := range v.Report.Warnings {
				rep.Warnings = append(rep.Warnings, toParseProblem(wf))
			}
		}
		if err != nil {
			rep.Errors = deployProblems(&engine.DeployError{Resource: u.resource, Err: err})
			if first == "" {
				first = parseMessage(u.resource, rep)
			}
		}
		reports[u.resource] = rep
	}
	if first != "" {
		return writeParseException(w, first, reports)
	}
	out := deploymentWithDefinitions{DeployedProcessDefinitions: map[string]definitionDTO{}}
	for _, u := range f.files {
		dep, err := command.Deploy(r.Context(), s.o.Engine, command.DeployRequest{Actor: s.actor(r), Reason: reasonREST,
			Resource: u.resource, Data: u.data, Now: s.o.Engine.Clock().Now(), Log: s.log})
		if errors.Is(err, command.ErrAuditUnavailable) {
			return &apiError{http.StatusServiceUnavailable, "RestException",
				"nothing more was deployed: the audit log could not be written (the database may be unavailable); try again"}
		}
		var derr *engine.DeployError
		if errors.As(err, &derr) {
			// Validated above, refused now (the engine's options compile more strictly):
			// the files before it are deployed.
			rep := resourceReport{Errors: deployProblems(derr), Warnings: []parseProblem{}}
			return writeParseException(w, parseMessage(u.resource, rep), map[string]resourceReport{u.resource: rep})
		}
		if err != nil {
			return err
		}
		if out.ID == "" {
			out.deploymentDTO = s.deploymentOf(dep, f)
		}
		for _, p := range dep.Processes {
			if p.Created || !f.duplicateFilter {
				out.DeployedProcessDefinitions[p.Definition.ID] = newDefinitionDTO(p.Definition, out.ID)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reasonREST is the audit reason of what this API does outside the command service.
const reasonREST = "from the Camunda REST API (/engine-rest)"

// deploymentOf describes what one engine.Deploy wrote (or found unchanged) with the
// form's name and source.
func (s *Server) deploymentOf(dep *engine.Deployment, f *deployForm) deploymentDTO {
	var defs []*store.Definition
	for _, p := range dep.Processes {
		defs = append(defs, p.Definition)
	}
	d := newDeploymentDTO(defs)
	if f.name != "" {
		d.Name = f.name
	}
	if f.source != "" {
		d.Source = f.source
	}
	return d
}

// newDeploymentDTO describes the definitions of one deployment (not empty).
func newDeploymentDTO(defs []*store.Definition) deploymentDTO {
	first := defs[0]
	for _, d := range defs[1:] {
		if d.ID < first.ID {
			first = d
		}
	}
	return deploymentDTO{ID: first.ID, Name: first.Resource, DeploymentTime: formatDate(first.DeployedAt), Links: []any{}}
}

// deploymentGroups groups definitions into deployments, ordered by deployment time.
func deploymentGroups(defs []*store.Definition) [][]*store.Definition {
	type groupKey struct {
		checksum string
		at       int64
	}
	index := map[groupKey]int{}
	var groups [][]*store.Definition
	for _, d := range defs {
		k := groupKey{d.Checksum, d.DeployedAt.UnixMicro()}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], d)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := newDeploymentDTO(groups[i]), newDeploymentDTO(groups[j])
		return a.ID < b.ID
	})
	return groups
}

// deploymentIDs maps each definition's id to its deployment's.
func deploymentIDs(defs []*store.Definition) map[string]string {
	out := make(map[string]string, len(defs))
	for _, g := range deploymentGroups(defs) {
		id := newDeploymentDTO(g).ID
		for _, d := range g {
			out[d.ID] = id
		}
	}
	return out
}

// deploymentQuery is the filter of GET /deployment.
type deploymentQuery struct {
	id, name, nameLike string
	// none: the query selects nothing (a source or tenant: Cockpit keeps neither).
	none          bool
	after, before time.Time
	listing
}

func readDeploymentQuery(r *http.Request) (*deploymentQuery, error) {
	v := r.URL.Query()
	q := &deploymentQuery{id: v.Get("id"), name: v.Get("name"), nameLike: v.Get("nameLike"),
		none: v.Has("source") || v.Get("tenantIdIn") != ""}
	for name, t := range map[string]*time.Time{"after": &q.after, "before": &q.before} {
		if s := v.Get(name); s != "" {
			var err error
			if *t, err = parseDate(s); err != nil {
				return nil, badRequest("%s: %v", name, err)
			}
		}
	}
	var err error
	q.listing, err = readListing(v, "id", "name", "deploymentTime")
	return q, err
}

// deployments lists the deployments the query selects, sorted, not yet paged.
func (s *Server) deployments(r *http.Request, q *deploymentQuery) ([]deploymentDTO, error) {
	defs, err := s.o.Engine.ListDefinitions(r.Context(), store.DefinitionFilter{})
	if err != nil {
		return nil, err
	}
	var out []deploymentDTO
	for _, g := range deploymentGroups(defs) {
		d := newDeploymentDTO(g)
		name, _ := d.Name.(string)
		at := g[0].DeployedAt
		switch {
		case q.id != "" && d.ID != q.id,
			q.name != "" && name != q.name,
			q.nameLike != "" && !like(name, q.nameLike),
			q.none,
			!q.after.IsZero() && !at.After(q.after),
			!q.before.IsZero() && !at.Before(q.before):
			continue
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		var less bool
		switch q.sortBy {
		case "name":
			an, _ := a.Name.(string)
			bn, _ := b.Name.(string)
			less = an < bn
		default: // id and deploymentTime: ids are time-ordered
			less = a.ID < b.ID
		}
		if q.desc {
			return !less && a.ID != b.ID
		}
		return less
	})
	return out, nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	defs, err := s.deploymentDefinitions(r, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newDeploymentDTO(defs))
	return nil
}

// deploymentDefinitions returns the definitions of the deployment with the id.
func (s *Server) deploymentDefinitions(r *http.Request, id string) ([]*store.Definition, error) {
	missing := notFound("Deployment with id '%s' does not exist", id)
	d, err := s.o.Engine.GetDefinition(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return nil, missing
	}
	if err != nil {
		return nil, err
	}
	same, err := s.o.Engine.ListDefinitions(r.Context(), store.DefinitionFilter{Checksum: d.Checksum})
	if err != nil {
		return nil, err
	}
	for _, g := range deploymentGroups(same) {
		if newDeploymentDTO(g).ID == id {
			return g, nil
		}
	}
	return nil, missing // a definition, but not the first of its deployment
}

// paged is one page of a list: from first, at most max (nil: maxResults).
func paged[T any](all []T, first int, max *int) []T {
	n := maxResults
	if max != nil {
		n = *max
	}
	if first >= len(all) {
		return []T{}
	}
	all = all[first:]
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// like matches Camunda's LIKE patterns (% any run, _ any one character), in time
// proportional to the product of the lengths at worst: one star is backtracked at a time.
func like(s, pattern string) bool {
	str, pat := []rune(s), []rune(pattern)
	i, j, star, mark := 0, 0, -1, 0
	for i < len(str) {
		switch {
		case j < len(pat) && (pat[j] == '_' || pat[j] == str[i]):
			i++
			j++
		case j < len(pat) && pat[j] == '%':
			star, mark = j, i
			j++
		case star >= 0:
			mark++
			i, j = mark, star+1
		default:
			return false
		}
	}
	for j < len(pat) && pat[j] == '%' {
		j++
	}
	return j == len(pat)
}
