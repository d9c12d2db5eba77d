package command

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

// Bulk modification (operation.KindModifyInstances): one modification, the steps of
// engine.Modify, run on each selected instance by the operation executor. The steps name
// elements of one model, so the selection must hold the instances of one definition
// version; the steps are checked against that model before the operation is created
// (engine.CheckModify), and operation.preview runs them on a sample of the selection
// (engine.PreviewModify, rolled back) so the operator sees what they do first.

// Bulk preview limits.
const (
	// DefaultPreviewSample is how many instances operation.preview previews by default;
	// MaxPreviewSample at most (each preview is a command of the engine, rolled back).
	DefaultPreviewSample = 3
	MaxPreviewSample     = 10
)

// PreviewOperationRequest previews an operation before it is created
// (operation.preview): the selection and parameters as for operation.create, resolved
// the same way (and refused the same way), and Sample instances of the selection (the
// first ones; default DefaultPreviewSample, at most MaxPreviewSample) previewed. Only
// kind instance.modify has a preview.
type PreviewOperationRequest struct {
	CreateOperationRequest
	Sample int `json:"sample,omitempty"`
}

// OperationPreview is what operation.preview found: how many items the operation would
// have, the definition they run, and the preview of each sampled instance.
type OperationPreview struct {
	Kind              string `json:"kind"`
	Total             int    `json:"total"`
	Selection         string `json:"selection"`
	DefinitionID      string `json:"definitionId,omitempty"`
	DefinitionKey     string `json:"definitionKey,omitempty"`
	DefinitionVersion int    `json:"definitionVersion,omitempty"`
	// Samples are the previewed instances, in the selection's order.
	Samples []OperationSample `json:"samples"`
}

// OperationSample is the preview of one instance: what the modification would do
// (Result), or why the engine would refuse it there (Code, Error: the item would fail).
type OperationSample struct {
	InstanceID string                `json:"instanceId"`
	Result     *ModifyInstanceResult `json:"result,omitempty"`
	Code       string                `json:"code,omitempty"`
	Error      string                `json:"error,omitempty"`
}

// PreviewOperation previews an operation on a sample of its selection
// (operation.preview); nothing changes.
func (c *Client) PreviewOperation(ctx context.Context, req PreviewOperationRequest) (*OperationPreview, error) {
	return roundTrip[OperationPreview](ctx, c, VerbPreviewOperation, &req, c.Timeout)
}

// modifyItems resolves an instance.modify's selection to items and its parameters,
// refusing a selection of several definitions and steps that the model cannot take.
func (s *Service) modifyItems(ctx context.Context, r *CreateOperationRequest, limit int) ([]*store.OperationItem, string, operation.ModifyParams, *store.Definition, error) {
	p := operation.ModifyParams{Steps: r.Steps, Variables: r.Variables}
	if r.IncidentIDs != nil || r.Incidents != nil || r.Retries != 0 || r.Plan != nil {
		return nil, "", p, nil, errorf(CodeInvalidInput, "an instance.modify selects instances (\"instanceIds\" or \"instances\") and takes no retries")
	}
	if len(r.Steps) == 0 {
		return nil, "", p, nil, errorf(CodeInvalidInput, "field \"steps\" is required: at least one step (cancel, startBefore, startAfter, move)")
	}
	p.DefinitionID = "-" // checked below, once the selection names it
	if err := operation.CheckModifyParams(p); err != nil {
		return nil, "", p, nil, err
	}
	items, selection, err := s.instanceItems(ctx, r, limit)
	if err != nil || len(items) == 0 {
		return items, selection, p, nil, err
	}
	// The definitions of the selection: exactly one.
	count := map[string]int{}
	defs := map[string]*store.Definition{}
	err = s.st.Read(ctx, func(tx store.Tx) error {
		for _, it := range items {
			in, err := tx.GetInstance(ctx, it.Target)
			if err != nil {
				return fmt.Errorf("instance %q: %w", it.Target, err)
			}
			count[in.DefinitionID]++
			if defs[in.DefinitionID] == nil {
				if defs[in.DefinitionID], err = tx.GetDefinition(ctx, in.DefinitionID); err != nil {
					return fmt.Errorf("definition %q: %w", in.DefinitionID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", p, nil, err
	}
	if len(defs) > 1 {
		list := slices.SortedFunc(maps.Values(defs), func(a, b *store.Definition) int {
			return cmp.Or(strings.Compare(a.Key, b.Key), cmp.Compare(a.Version, b.Version))
		})
		var parts []string
		for _, d := range list {
			parts = append(parts, fmt.Sprintf("%s version %d: %d", d.Key, d.Version, count[d.ID]))
		}
		return nil, "", p, nil, errorf(CodeInvalidInput,
			"the selection holds instances of %d definitions (%s): a modification's steps name elements of one model; select the instances of one process version (\"instances\": {\"definitionId\": …})",
			len(defs), strings.Join(parts, ", "))
	}
	var def *store.Definition
	for _, d := range defs {
		def = d
	}
	p.DefinitionID = def.ID
	if err := s.e.CheckModify(ctx, def.ID, p); err != nil {
		var merr *engine.ModifyError
		if errors.As(err, &merr) {
			return nil, "", p, nil, errorf(codeOf(err), "%s version %d: %v", def.Key, def.Version, err)
		}
		return nil, "", p, nil, err
	}
	return items, selection, p, def, nil
}

func runPreviewOperation(ctx context.Context, s *Service, r *PreviewOperationRequest, x *call) (any, error) {
	if r.Kind != operation.KindModifyInstances {
		return nil, errorf(CodeInvalidInput, "field \"kind\": %q has no preview (only %q)", r.Kind, operation.KindModifyInstances)
	}
	sample := r.Sample
	if sample == 0 {
		sample = DefaultPreviewSample
	}
	if sample < 0 || sample > MaxPreviewSample {
		return nil, errorf(CodeInvalidInput, "field \"sample\": %d is not between 1 and %d", r.Sample, MaxPreviewSample)
	}
	limit, err := operationLimit(&r.CreateOperationRequest)
	if err != nil {
		return nil, err
	}
	items, selection, p, def, err := s.modifyItems(ctx, &r.CreateOperationRequest, limit)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errorf(CodeInvalidState, "nothing to do: the selection (%s) matches nothing", selection)
	}
	res := &OperationPreview{Kind: r.Kind, Total: len(items), Selection: selection, DefinitionID: def.ID,
		DefinitionKey: def.Key, DefinitionVersion: def.Version, Samples: []OperationSample{}}
	p.Actor, p.Reason = x.actor, r.Reason
	for _, it := range items[:min(sample, len(items))] {
		out, err := s.e.PreviewModify(ctx, it.Target, p)
		smp := OperationSample{InstanceID: it.Target, Result: out}
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

// operationLimit is a create's Max, checked (default DefaultBulkMax).
func operationLimit(r *CreateOperationRequest) (int, error) {
	limit := r.Max
	if limit == 0 {
		limit = DefaultBulkMax
	}
	if limit < 0 || limit > MaxOperationItems {
		return 0, errorf(CodeInvalidInput, "field \"max\": %d is not between 1 and %d", r.Max, MaxOperationItems)
	}
	return limit, nil
}
