package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

// Migration (engine.Migrate): migration.propose proposes a plan from one definition
// version to another, migration.preview checks a plan against a selection (which
// instances cannot migrate, and why, grouped by reason) and previews a sample,
// instance.migrate migrates one instance, and operation.create with kind
// instance.migrate stores a bulk migration that the operation executors work off.

// Migration verbs.
const (
	VerbMigrateInstance  = "instance.migrate"
	VerbPreviewMigrate   = "instance.migrate-preview"
	VerbProposeMigration = "migration.propose"
	VerbPreviewMigration = "migration.preview"
)

// Migration preview limits.
const (
	// DefaultMigrationSample is how many instances migration.preview previews in full
	// by default (engine.PreviewMigration, each a command rolled back); at most
	// MaxPreviewSample.
	DefaultMigrationSample = 1
)

// ProposeMigrationRequest asks for a migration plan from one definition to another
// (definition ids, e.g. "order:3").
type ProposeMigrationRequest struct {
	Meta
	SourceDefinitionID string `json:"sourceDefinitionId"`
	TargetDefinitionID string `json:"targetDefinitionId"`
}

// MigrationProposal is migration.propose's answer: the plan (equal ids where the
// elements are compatible), the source elements left out and why, the target elements
// nothing maps to.
type MigrationProposal = engine.MigrationProposal

// MigrateInstanceRequest migrates one instance by a plan (instance.migrate,
// instance.migrate-preview). Actor and reason go into instance.migrated.
type MigrateInstanceRequest struct {
	Meta
	InstanceID string               `json:"instanceId"`
	Plan       engine.MigrationPlan `json:"plan"`
}

// MigrateInstanceResult is what the migration did (or, for a preview, would do).
type MigrateInstanceResult = engine.MigrationResult

// PreviewMigrationRequest checks a plan against a selection (migration.preview): the
// instances selected as operation.create with kind instance.migrate selects them (ids,
// a filter, or neither: every running instance of the plan's source), and Sample of the
// migratable ones previewed in full (default DefaultMigrationSample, 0 with
// NoSample, at most MaxPreviewSample).
type PreviewMigrationRequest struct {
	Meta
	Plan        engine.MigrationPlan `json:"plan"`
	InstanceIDs []string             `json:"instanceIds,omitempty"`
	Instances   *InstanceSelection   `json:"instances,omitempty"`
	Max         int                  `json:"max,omitempty"`
	Sample      int                  `json:"sample,omitempty"`
	NoSample    bool                 `json:"noSample,omitempty"`
	// Check bounds the instances checked (the first ones of the selection; default and
	// at most engine.MaxMigrationPreview): a page checks fewer to answer at once, and
	// says how many were checked (Checked) of how many selected (Total).
	Check int `json:"check,omitempty"`
}

// MigrationPreview is migration.preview's answer: how many instances the selection
// holds (Total, Selection as operation.create would describe it), the refusals grouped
// by reason with counts and example ids, the source's live tokens per element with their
// targets, and the full preview of a sample.
type MigrationPreview struct {
	engine.MigrationSelectionPreview
	Total     int               `json:"total"`
	Selection string            `json:"selection"`
	Samples   []MigrationSample `json:"samples"`
}

// MigrationSample is the preview of one instance: what the migration would do
// (Result), or why it would be refused there (Code, Error).
type MigrationSample struct {
	InstanceID string                  `json:"instanceId"`
	Result     *engine.MigrationResult `json:"result,omitempty"`
	Code       string                  `json:"code,omitempty"`
	Error      string                  `json:"error,omitempty"`
}

func (r *ProposeMigrationRequest) target() string { return r.SourceDefinitionID }
func (r *MigrateInstanceRequest) target() string  { return r.InstanceID }
func (r *PreviewMigrationRequest) target() string { return r.Plan.Source }

// ProposeMigration proposes a migration plan (migration.propose).
func (c *Client) ProposeMigration(ctx context.Context, req ProposeMigrationRequest) (*MigrationProposal, error) {
	return roundTrip[MigrationProposal](ctx, c, VerbProposeMigration, &req, c.Timeout)
}

// PreviewMigration checks a plan against a selection (migration.preview); nothing
// changes.
func (c *Client) PreviewMigration(ctx context.Context, req PreviewMigrationRequest) (*MigrationPreview, error) {
	return roundTrip[MigrationPreview](ctx, c, VerbPreviewMigration, &req, c.Timeout)
}

// MigrateInstance migrates one instance (instance.migrate).
func (c *Client) MigrateInstance(ctx context.Context, req MigrateInstanceRequest) (*MigrateInstanceResult, error) {
	return roundTrip[MigrateInstanceResult](ctx, c, VerbMigrateInstance, &req, c.Timeout)
}

// PreviewMigrateInstance runs one instance's migration and rolls it back
// (instance.migrate-preview).
func (c *Client) PreviewMigrateInstance(ctx context.Context, req MigrateInstanceRequest) (*MigrateInstanceResult, error) {
	return roundTrip[MigrateInstanceResult](ctx, c, VerbPreviewMigrate, &req, c.Timeout)
}

func migrationEndpoints() []endpoint {
	return []endpoint{
		bind(VerbMigrateInstance, runMigrateInstance),
		bind(VerbPreviewMigrate, runPreviewMigrate),
		bind(VerbProposeMigration, runProposeMigration),
		bind(VerbPreviewMigration, runPreviewMigration),
	}
}

func runProposeMigration(ctx context.Context, s *Service, r *ProposeMigrationRequest, _ *call) (any, error) {
	if err := required("sourceDefinitionId", r.SourceDefinitionID); err != nil {
		return nil, err
	}
	if err := required("targetDefinitionId", r.TargetDefinitionID); err != nil {
		return nil, err
	}
	return s.e.ProposeMigration(ctx, r.SourceDefinitionID, r.TargetDefinitionID)
}

func runMigrateInstance(ctx context.Context, s *Service, r *MigrateInstanceRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	return s.e.Migrate(ctx, r.InstanceID, r.Plan, engine.MigrateOptions{Actor: r.Actor, Reason: r.Reason})
}

func runPreviewMigrate(ctx context.Context, s *Service, r *MigrateInstanceRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	return s.e.PreviewMigration(ctx, r.InstanceID, r.Plan)
}

func runPreviewMigration(ctx context.Context, s *Service, r *PreviewMigrationRequest, _ *call) (any, error) {
	sample := r.Sample
	if sample == 0 && !r.NoSample {
		sample = DefaultMigrationSample
	}
	if sample < 0 || sample > MaxPreviewSample {
		return nil, errorf(CodeInvalidInput, "field \"sample\": %d is not between 0 and %d", r.Sample, MaxPreviewSample)
	}
	cr := &CreateOperationRequest{Kind: operation.KindMigrateInstances, InstanceIDs: r.InstanceIDs, Instances: r.Instances,
		Max: r.Max, Plan: &r.Plan}
	limit, err := migrationLimit(cr)
	if err != nil {
		return nil, err
	}
	items, selection, _, err := s.migrateItems(ctx, cr, limit)
	if err != nil {
		return nil, err
	}
	if r.Check < 0 || r.Check > engine.MaxMigrationPreview {
		return nil, errorf(CodeInvalidInput, "field \"check\": %d is not between 0 and %d", r.Check, engine.MaxMigrationPreview)
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.Target
	}
	checked := ids
	if r.Check > 0 && r.Check < len(ids) {
		checked = ids[:r.Check]
	}
	sel, err := s.e.PreviewMigrationSelection(ctx, r.Plan, checked)
	if err != nil {
		return nil, err
	}
	sel.Selected = len(ids)
	res := &MigrationPreview{MigrationSelectionPreview: *sel, Total: len(items), Selection: selection, Samples: []MigrationSample{}}
	refused := map[string]bool{}
	for _, g := range sel.Reasons {
		for _, id := range g.Examples {
			refused[id] = true
		}
	}
	for _, id := range checked {
		if len(res.Samples) >= sample {
			break
		}
		if refused[id] {
			continue
		}
		out, err := s.e.PreviewMigration(ctx, id, r.Plan)
		smp := MigrationSample{InstanceID: id, Result: out}
		if err != nil {
			if codeOf(err) == CodeUnavailable {
				return nil, err
			}
			smp.Code, smp.Error = operation.Code(err), err.Error()
		}
		res.Samples = append(res.Samples, smp)
	}
	return res, nil
}

// migrationLimit is a migration's Max: a migration usually selects a whole version, so
// it defaults to MaxOperationItems rather than DefaultBulkMax.
func migrationLimit(r *CreateOperationRequest) (int, error) {
	if r.Max == 0 {
		return MaxOperationItems, nil
	}
	return operationLimit(r)
}

// migrateItems resolves an instance.migrate's selection to items and its parameters:
// the plan is checked against its models first; ids, a filter (held to the plan's
// source definition), or neither (every running instance of the source).
func (s *Service) migrateItems(ctx context.Context, r *CreateOperationRequest, limit int) ([]*store.OperationItem, string, operation.MigrateParams, error) {
	var p operation.MigrateParams
	if r.IncidentIDs != nil || r.Incidents != nil || r.Retries != 0 || r.Variables != nil || r.Steps != nil {
		return nil, "", p, errorf(CodeInvalidInput, "an instance.migrate selects instances (\"instanceIds\" or \"instances\") and takes a plan, no retries, variables or steps")
	}
	if r.Plan == nil {
		return nil, "", p, errorf(CodeInvalidInput, "field \"plan\" is required: the migration plan (migration.propose proposes one)")
	}
	p.Plan = *r.Plan
	if err := s.e.CheckMigrationPlan(ctx, p.Plan); err != nil {
		var pe *engine.MigrationPlanError
		if errors.As(err, &pe) || errors.Is(err, engine.ErrNotFound) {
			return nil, "", p, errorf(CodeInvalidInput, "%v", err)
		}
		return nil, "", p, err
	}
	sel := *r
	switch {
	case r.InstanceIDs == nil && r.Instances == nil:
		sel.Instances = &InstanceSelection{DefinitionID: p.Plan.Source}
	case r.Instances != nil:
		f := *r.Instances
		if f.DefinitionID != "" && f.DefinitionID != p.Plan.Source {
			return nil, "", p, errorf(CodeInvalidInput, "field \"instances\": definition %q is not the plan's source %q", f.DefinitionID, p.Plan.Source)
		}
		f.DefinitionID = p.Plan.Source
		sel.Instances = &f
	}
	items, selection, err := s.instanceItems(ctx, &sel, limit)
	if err != nil {
		return nil, "", p, err
	}
	return items, fmt.Sprintf("%s, to %s", selection, p.Plan.Target), p, nil
}
