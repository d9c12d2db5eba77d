package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

// Operations are bulk actions stored in the database (package operation): the create
// command fixes the selection as the operation's items and answers at once; every
// engine node's operation executor works the items off, so an operation outlives the
// node that created it. get, list and cancel see and stop them.

// Operation limits.
const (
	// MaxOperationItems bounds the items of one operation created over NATS.
	MaxOperationItems = MaxBulk
	// MaxOperationsListed bounds operation.list; MaxItemsListed the items of operation.get.
	MaxOperationsListed = 500
	MaxItemsListed      = 1000
)

// InstanceSelection selects instances by filter (every field given must match). Only
// active and suspended instances are selected.
type InstanceSelection struct {
	DefinitionKey string     `json:"definitionKey,omitempty"`
	DefinitionID  string     `json:"definitionId,omitempty"`
	BusinessKey   string     `json:"businessKey,omitempty"`
	WaitingAt     string     `json:"waitingAt,omitempty"`
	HasIncident   *bool      `json:"hasIncident,omitempty"`
	Stalled       *bool      `json:"stalled,omitempty"`
	StartedAfter  *time.Time `json:"startedAfter,omitempty"`
	StartedBefore *time.Time `json:"startedBefore,omitempty"`
	// VariableName and VariableValue (JSON) select instances whose variable equals the
	// value; ParentInstanceID the instances a call activity of that instance started.
	VariableName     string          `json:"variableName,omitempty"`
	VariableValue    json.RawMessage `json:"variableValue,omitempty"`
	ParentInstanceID string          `json:"parentInstanceId,omitempty"`
	// States narrows the running instances to "active" or "suspended" ones.
	States []string `json:"states,omitempty"`
	// All selects every running instance when no other field is given.
	All bool `json:"all,omitempty"`
}

// IncidentSelection selects open incidents by filter, as BulkRetryRequest does.
type IncidentSelection struct {
	DefinitionKey   string `json:"definitionKey,omitempty"`
	ElementID       string `json:"elementId,omitempty"`
	Type            string `json:"type,omitempty"`
	MessageContains string `json:"messageContains,omitempty"`
	All             bool   `json:"all,omitempty"`
}

// CreateOperationRequest creates an operation. Kind is "incident.retry" (select with
// IncidentIDs or Incidents), "instance.cancel" or "instance.modify" (InstanceIDs or
// Instances; a modification's instances all run one definition version); the ids or
// the filter's matches at this moment become the operation's items, at most Max of them
// (default DefaultBulkMax, at most MaxOperationItems; a list of ids longer than Max is
// refused, a filter's matches are cut, oldest first).
type CreateOperationRequest struct {
	Meta
	Kind        string             `json:"kind"`
	IncidentIDs []string           `json:"incidentIds,omitempty"`
	Incidents   *IncidentSelection `json:"incidents,omitempty"`
	InstanceIDs []string           `json:"instanceIds,omitempty"`
	Instances   *InstanceSelection `json:"instances,omitempty"`
	Max         int                `json:"max,omitempty"`
	// Retries and Variables are an incident.retry's (as in RetryIncidentRequest).
	// Variables are also an instance.modify's process variables, set before its steps.
	Retries   int            `json:"retries,omitempty"`
	Variables map[string]any `json:"variables,omitempty"`
	// Steps are an instance.modify's (engine.ModifyStep, by element: no tokenId or
	// scopeId), run on each instance as one modification.
	Steps []engine.ModifyStep `json:"steps,omitempty"`
	// Plan is an instance.migrate's (engine.MigrationPlan): it selects InstanceIDs, or
	// Instances (held to the plan's source), or, with neither, every running instance of
	// the plan's source; Max defaults to MaxOperationItems for it.
	Plan *engine.MigrationPlan `json:"plan,omitempty"`
	// Selection describes the selection for people (the filter a list of ids came from),
	// at most MaxSelectionBytes; the service describes it when absent.
	Selection string `json:"selection,omitempty"`
}

// MaxSelectionBytes bounds CreateOperationRequest.Selection.
const MaxSelectionBytes = 1024

// OperationRequest names an operation (get, cancel).
type OperationRequest struct {
	Meta
	OperationID string `json:"operationId"`
	// Items asks operation.get for items: up to ItemLimit (default 100, at most
	// MaxItemsListed) after the item AfterItem (-1 or absent: from the first),
	// of ItemState only when given.
	Items     bool   `json:"items,omitempty"`
	AfterItem *int   `json:"afterItem,omitempty"`
	ItemLimit int    `json:"itemLimit,omitempty"`
	ItemState string `json:"itemState,omitempty"`
}

// ListOperationsRequest lists operations, newest first.
type ListOperationsRequest struct {
	Meta
	State string `json:"state,omitempty"`
	Kind  string `json:"kind,omitempty"`
	// Of lists one operator's operations.
	Of    string `json:"of,omitempty"`
	Limit int    `json:"limit,omitempty"` // default 50, at most MaxOperationsListed
}

// OperationInfo describes an operation. For a running one the counts are counted from
// its items now. FailingAgain (incident.retry) is how many retried incidents have failed
// again since (a new incident at the retried one's instance and element, opened after
// the retry): operation.get counts it when asked (it stops past store.MaxFailingAgain,
// 1,000), operation.list shows the count taken when the operation ended.
type OperationInfo struct {
	ID           string          `json:"id"`
	Kind         string          `json:"kind"`
	Actor        string          `json:"actor"`
	Reason       string          `json:"reason,omitempty"`
	RequestID    string          `json:"requestId,omitempty"`
	Selection    string          `json:"selection,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
	State        string          `json:"state"`
	Total        int             `json:"total"`
	Done         int             `json:"done"`
	Succeeded    int             `json:"succeeded"`
	Failed       int             `json:"failed"`
	Skipped      int             `json:"skipped"`
	FailingAgain int             `json:"failingAgain"`
	CreatedAt    time.Time       `json:"createdAt"`
	FinishedAt   *time.Time      `json:"finishedAt,omitempty"`
	Items        []OperationItem `json:"items,omitempty"`
}

// OperationItem is one item of an operation.
type OperationItem struct {
	Seq           int        `json:"seq"`
	Target        string     `json:"target"`
	InstanceID    string     `json:"instanceId,omitempty"`
	DefinitionKey string     `json:"definitionKey,omitempty"`
	ElementID     string     `json:"elementId,omitempty"`
	State         string     `json:"state"`
	Code          string     `json:"code,omitempty"`
	Error         string     `json:"error,omitempty"`
	DoneAt        *time.Time `json:"doneAt,omitempty"`
}

// ListOperationsResult lists operations.
type ListOperationsResult struct {
	Operations []OperationInfo `json:"operations"`
}

func (r *CreateOperationRequest) target() string { return r.Kind }
func (r *OperationRequest) target() string       { return r.OperationID }
func (r *ListOperationsRequest) target() string  { return "" }

func runCreateOperation(ctx context.Context, s *Service, r *CreateOperationRequest, x *call) (any, error) {
	limit := r.Max
	if limit == 0 {
		limit = DefaultBulkMax
	}
	if limit < 0 || limit > MaxOperationItems {
		return nil, errorf(CodeInvalidInput, "field \"max\": %d is not between 1 and %d", r.Max, MaxOperationItems)
	}
	var (
		items     []*store.OperationItem
		selection string
		params    any
		err       error
	)
	switch r.Kind {
	case operation.KindRetryIncidents:
		if r.InstanceIDs != nil || r.Instances != nil || r.Steps != nil || r.Plan != nil {
			return nil, errorf(CodeInvalidInput, "an incident.retry selects incidents (give \"incidentIds\" or \"incidents\") and takes no steps")
		}
		if r.Retries < 0 {
			return nil, errorf(CodeInvalidInput, "field \"retries\": %d is negative", r.Retries)
		}
		items, selection, err = s.incidentItems(ctx, r, limit)
		params = operation.RetryParams{Retries: r.Retries, Variables: r.Variables}
	case operation.KindModifyInstances:
		items, selection, params, _, err = s.modifyItems(ctx, r, limit)
	case operation.KindMigrateInstances:
		if r.Max == 0 {
			limit = MaxOperationItems
		}
		items, selection, params, err = s.migrateItems(ctx, r, limit)
	case operation.KindCancelInstances:
		if r.IncidentIDs != nil || r.Incidents != nil || r.Retries != 0 || r.Variables != nil || r.Steps != nil || r.Plan != nil {
			return nil, errorf(CodeInvalidInput, "an instance.cancel selects instances (\"instanceIds\" or \"instances\") and takes no retries or variables")
		}
		items, selection, err = s.instanceItems(ctx, r, limit)
		params = operation.CancelParams{Reason: r.Reason}
	default:
		return nil, errorf(CodeInvalidInput, "field \"kind\": %q is not one of %q, %q, %q, %q", r.Kind,
			operation.KindRetryIncidents, operation.KindCancelInstances, operation.KindModifyInstances, operation.KindMigrateInstances)
	}
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errorf(CodeInvalidState, "nothing to do: the selection (%s) matches nothing", selection)
	}
	if r.Selection != "" {
		if len(r.Selection) > MaxSelectionBytes {
			return nil, errorf(CodeInvalidInput, "field \"selection\" is %d bytes, more than %d", len(r.Selection), MaxSelectionBytes)
		}
		selection = r.Selection
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, errorf(CodeInvalidInput, "the operation's parameters: %v", err)
	}
	op := &store.Operation{ID: newID(), Kind: r.Kind, Actor: x.actor, Reason: r.Reason, RequestID: x.requestID,
		Selection: selection, Params: raw, CreatedAt: s.clock.Now()}
	if err := operation.Create(ctx, s.st, op, items); err != nil {
		return nil, err
	}
	if s.opts.WakeOperations != nil {
		s.opts.WakeOperations()
	}
	return operationInfo(op, nil, nil), nil
}

// incidentItems resolves a retry's selection to items (oldest incident first).
func (s *Service) incidentItems(ctx context.Context, r *CreateOperationRequest, limit int) ([]*store.OperationItem, string, error) {
	br := &BulkRetryRequest{IncidentIDs: r.IncidentIDs, Max: limit}
	if sel := r.Incidents; sel != nil {
		br.DefinitionKey, br.ElementID, br.Type, br.MessageContains, br.All = sel.DefinitionKey, sel.ElementID, sel.Type, sel.MessageContains, sel.All
	}
	ids, matched, err := s.selectIncidents(ctx, br)
	if err != nil {
		return nil, "", err
	}
	items := make([]*store.OperationItem, 0, len(ids))
	err = s.st.Read(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			inc, err := tx.GetIncident(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				return errorf(CodeNotFound, "incident %q does not exist", id)
			case err != nil:
				return err
			}
			items = append(items, &store.OperationItem{Target: id, InstanceID: inc.InstanceID,
				DefinitionKey: inc.DefinitionKey, ElementID: inc.ElementID})
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	var desc string
	if len(r.IncidentIDs) > 0 {
		desc = fmt.Sprintf("%d incidents by id", len(ids))
	} else {
		desc = describe("open incidents", map[string]string{"process": br.DefinitionKey, "element": br.ElementID,
			"type": br.Type, "message contains": br.MessageContains}, br.All)
		if matched > len(ids) {
			desc += fmt.Sprintf(" (the oldest %d of %d)", len(ids), matched)
		}
	}
	return items, desc, nil
}

// instanceItems resolves a cancel's selection to items (newest instance first, as the
// instance list shows them).
func (s *Service) instanceItems(ctx context.Context, r *CreateOperationRequest, limit int) ([]*store.OperationItem, string, error) {
	if len(r.InstanceIDs) > 0 {
		if r.Instances != nil {
			return nil, "", errorf(CodeInvalidInput, "give either \"instanceIds\" or \"instances\", not both")
		}
		if len(r.InstanceIDs) > limit {
			return nil, "", errorf(CodeInvalidInput, "field \"instanceIds\" lists %d instances, more than max %d", len(r.InstanceIDs), limit)
		}
		seen := map[string]bool{}
		var items []*store.OperationItem
		err := s.st.Read(ctx, func(tx store.Tx) error {
			for i, id := range r.InstanceIDs {
				if strings.TrimSpace(id) == "" {
					return errorf(CodeInvalidInput, "field \"instanceIds\"[%d] is empty", i)
				}
				if seen[id] {
					continue
				}
				seen[id] = true
				in, err := tx.GetInstance(ctx, id)
				switch {
				case errors.Is(err, store.ErrNotFound):
					return errorf(CodeNotFound, "instance %q does not exist", id)
				case err != nil:
					return err
				}
				items = append(items, &store.OperationItem{Target: id, InstanceID: id, DefinitionKey: in.DefinitionKey})
			}
			return nil
		})
		return items, fmt.Sprintf("%d instances by id", len(items)), err
	}
	sel := r.Instances
	if sel == nil {
		return nil, "", errorf(CodeInvalidInput, "nothing selected: give \"instanceIds\" or \"instances\"")
	}
	f := store.InstanceFilter{DefinitionKey: sel.DefinitionKey, DefinitionID: sel.DefinitionID, BusinessKey: sel.BusinessKey,
		WaitingAt: sel.WaitingAt, HasIncident: sel.HasIncident, Stalled: sel.Stalled,
		VariableName: sel.VariableName, VariableValue: sel.VariableValue, ParentInstanceID: sel.ParentInstanceID,
		States: []string{store.InstanceActive, store.InstanceSuspended}, Limit: min(limit, 1000)}
	if len(sel.States) > 0 {
		f.States = nil
		for _, st := range sel.States {
			if st != store.InstanceActive && st != store.InstanceSuspended {
				return nil, "", errorf(CodeInvalidInput, "field \"instances.states\": %q is not a running state (active or suspended)", st)
			}
			if !slices.Contains(f.States, st) {
				f.States = append(f.States, st)
			}
		}
	}
	if sel.VariableName == "" && len(sel.VariableValue) > 0 {
		return nil, "", errorf(CodeInvalidInput, "field \"instances.variableValue\" needs \"variableName\"")
	}
	if sel.StartedAfter != nil {
		f.StartedAfter = *sel.StartedAfter
	}
	if sel.StartedBefore != nil {
		f.StartedBefore = *sel.StartedBefore
	}
	fields := map[string]string{"process": sel.DefinitionKey, "definition": sel.DefinitionID, "business key": sel.BusinessKey,
		"waiting at": sel.WaitingAt, "called by": sel.ParentInstanceID, "state": strings.Join(sel.States, ",")}
	if sel.VariableName != "" {
		fields["variable "+sel.VariableName] = string(sel.VariableValue)
	}
	if sel.HasIncident != nil {
		fields["with incident"] = fmt.Sprint(*sel.HasIncident)
	}
	if sel.Stalled != nil {
		fields["stalled"] = fmt.Sprint(*sel.Stalled)
	}
	filtered := sel.StartedAfter != nil || sel.StartedBefore != nil
	for _, v := range fields {
		filtered = filtered || v != ""
	}
	if !filtered && !sel.All {
		return nil, "", errorf(CodeInvalidInput, "nothing selected: the \"instances\" filter is empty (give \"all\": true to select every running instance)")
	}
	var items []*store.OperationItem
	for len(items) < limit {
		page, err := s.e.ListInstances(ctx, f)
		if err != nil {
			return nil, "", err
		}
		for _, in := range page.Instances {
			if len(items) < limit {
				items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID, DefinitionKey: in.DefinitionKey})
			}
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	return items, describe("running instances", fields, sel.All), nil
}

// describe says what a filter selected, for the operations list.
func describe(what string, fields map[string]string, all bool) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	}) {
		if v := fields[k]; v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	if len(parts) == 0 {
		if all {
			return "all " + what
		}
		return what
	}
	return what + ": " + strings.Join(parts, ", ")
}

func runGetOperation(ctx context.Context, s *Service, r *OperationRequest, _ *call) (any, error) {
	if err := required("operationId", r.OperationID); err != nil {
		return nil, err
	}
	limit := r.ItemLimit
	if limit == 0 {
		limit = 100
	}
	if limit < 0 || limit > MaxItemsListed {
		return nil, errorf(CodeInvalidInput, "field \"itemLimit\": %d is not between 1 and %d", r.ItemLimit, MaxItemsListed)
	}
	after := -1
	if r.AfterItem != nil {
		after = *r.AfterItem
	}
	var (
		op     *store.Operation
		counts map[string]int
		items  []*store.OperationItem
	)
	err := s.st.Read(ctx, func(tx store.Tx) error {
		var err error
		if op, err = tx.GetOperation(ctx, r.OperationID); err != nil {
			return err
		}
		if op.State == store.OperationRunning {
			if counts, err = tx.CountOperationItems(ctx, op.ID); err != nil {
				return err
			}
			op.Succeeded = counts[store.ItemOK]
		}
		if err := engine.FailingAgain(ctx, tx, op); err != nil {
			return err
		}
		if r.Items {
			items, err = tx.ListOperationItems(ctx, store.OperationItemFilter{OperationID: op.ID, State: r.ItemState,
				AfterSeq: after, Limit: limit})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return operationInfo(op, counts, items), nil
}

func runListOperations(ctx context.Context, s *Service, r *ListOperationsRequest, _ *call) (any, error) {
	limit := r.Limit
	if limit == 0 {
		limit = 50
	}
	if limit < 0 || limit > MaxOperationsListed {
		return nil, errorf(CodeInvalidInput, "field \"limit\": %d is not between 1 and %d", r.Limit, MaxOperationsListed)
	}
	res := &ListOperationsResult{Operations: []OperationInfo{}}
	err := s.st.Read(ctx, func(tx store.Tx) error {
		ops, err := tx.ListOperations(ctx, store.OperationFilter{State: r.State, Kind: r.Kind, Actor: r.Of, Limit: limit})
		if err != nil {
			return err
		}
		for _, op := range ops {
			var counts map[string]int
			if op.State == store.OperationRunning {
				if counts, err = tx.CountOperationItems(ctx, op.ID); err != nil {
					return err
				}
			}
			res.Operations = append(res.Operations, *operationInfo(op, counts, nil))
		}
		return nil
	})
	return res, err
}

func runCancelOperation(ctx context.Context, s *Service, r *OperationRequest, _ *call) (any, error) {
	if err := required("operationId", r.OperationID); err != nil {
		return nil, err
	}
	err := s.st.Write(ctx, func(tx store.Tx) error { return tx.CancelOperation(ctx, r.OperationID, s.clock.Now()) })
	if errors.Is(err, store.ErrConflict) {
		return nil, errorf(CodeInvalidState, "operation %q is not running", r.OperationID)
	}
	if err != nil {
		return nil, err
	}
	return runGetOperation(ctx, s, &OperationRequest{OperationID: r.OperationID}, nil)
}

// operationInfo describes op; counts (of a running operation) win over its stored ones.
func operationInfo(op *store.Operation, counts map[string]int, items []*store.OperationItem) *OperationInfo {
	info := &OperationInfo{ID: op.ID, Kind: op.Kind, Actor: op.Actor, Reason: op.Reason, RequestID: op.RequestID,
		Selection: op.Selection, Params: op.Params, State: op.State, Total: op.Total, Succeeded: op.Succeeded,
		Failed: op.Failed, Skipped: op.Skipped, FailingAgain: op.FailingAgain, CreatedAt: op.CreatedAt, FinishedAt: op.FinishedAt}
	if counts != nil {
		info.Succeeded, info.Failed, info.Skipped = counts[store.ItemOK], counts[store.ItemFailed], counts[store.ItemSkipped]
	}
	info.Done = info.Succeeded + info.Failed + info.Skipped
	for _, it := range items {
		info.Items = append(info.Items, OperationItem{Seq: it.Seq, Target: it.Target, InstanceID: it.InstanceID,
			DefinitionKey: it.DefinitionKey, ElementID: it.ElementID, State: it.State, Code: it.Code, Error: it.Error, DoneAt: it.DoneAt})
	}
	return info
}
