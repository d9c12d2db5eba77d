package command

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// commandRequest is what every request type is: it carries Meta and names its target
// (what the audit log records the command acted on).
type commandRequest interface {
	meta() *Meta
	target() string
}

func (r *RetryIncidentRequest) target() string    { return r.IncidentID }
func (r *InstanceRequest) target() string         { return r.InstanceID }
func (r *SetVariablesRequest) target() string     { return r.InstanceID }
func (r *CorrelateMessageRequest) target() string { return r.Name }
func (r *BroadcastSignalRequest) target() string  { return r.Name }
func (r *StartInstanceRequest) target() string    { return r.ProcessKey }
func (r *CompleteTaskRequest) target() string     { return r.TaskID }
func (r *ModifyInstanceRequest) target() string   { return r.InstanceID }

// target of a condition evaluation is the process key it is limited to ("" for all).
func (r *EvaluateConditionsRequest) target() string { return r.ProcessKey }

// target of a stall threshold is the element, as process key/element id.
func (r *StallThresholdRequest) target() string { return r.DefinitionKey + "/" + r.ElementID }

// target of an incident group command is the group's fingerprint.
func (r *IncidentGroupRequest) target() string { return r.Fingerprint }

// target of a bulk retry is its definition key when it has one; each incident it
// retries gets an audit row of its own with the incident as the target.
func (r *BulkRetryRequest) target() string { return r.DefinitionKey }

// endpoint is one command: its verb and how it runs.
type endpoint struct {
	verb   string
	bulk   bool
	newReq func() commandRequest
	run    func(ctx context.Context, s *Service, req commandRequest, x *call) (any, error)
}

// bind makes an endpoint from a typed run function.
func bind[T any, P interface {
	*T
	commandRequest
}](verb string, run func(ctx context.Context, s *Service, req P, x *call) (any, error)) endpoint {
	return endpoint{
		verb:   verb,
		newReq: func() commandRequest { return P(new(T)) },
		run: func(ctx context.Context, s *Service, req commandRequest, x *call) (any, error) {
			return run(ctx, s, req.(P), x)
		},
	}
}

// endpoints lists the commands; this is the one place they are wired.
func endpoints() []endpoint {
	bulk := bind(VerbRetryIncidents, runRetryIncidents)
	bulk.bulk = true
	return append([]endpoint{
		bind(VerbRetryIncident, runRetryIncident),
		bulk,
		bind(VerbCancelInstance, runCancelInstance),
		bind(VerbSuspendInstance, runSuspendInstance),
		bind(VerbResumeInstance, runResumeInstance),
		bind(VerbSetVariables, runSetVariables),
		bind(VerbStartInstance, runStartInstance),
		bind(VerbCorrelateMessage, runCorrelateMessage),
		bind(VerbBroadcastSignal, runBroadcastSignal),
		bind(VerbCompleteTask, runCompleteTask),
		bind(VerbStallThreshold, runStallThreshold),
		bind(VerbEvaluateConditions, runEvaluateConditions),
		bind(VerbModifyInstance, runModifyInstance),
		bind(VerbPreviewModify, runPreviewModify),
		bind(VerbCreateOperation, runCreateOperation),
		bind(VerbGetOperation, runGetOperation),
		bind(VerbListOperations, runListOperations),
		bind(VerbCancelOperation, runCancelOperation),
		bind(VerbPreviewOperation, runPreviewOperation),
		bind(VerbAssignIncidents, runAssignIncidents),
		bind(VerbUnassignIncidents, runUnassignIncidents),
		bind(VerbNoteIncidents, runNoteIncidents),
	}, append(editEndpoints(), migrationEndpoints()...)...)
}

func required(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return errorf(CodeInvalidInput, "field %q is required", field)
	}
	return nil
}

func runRetryIncident(ctx context.Context, s *Service, r *RetryIncidentRequest, _ *call) (any, error) {
	if err := required("incidentId", r.IncidentID); err != nil {
		return nil, err
	}
	// Read first: the engine's RetryIncident does not say which instance it moved.
	inc, err := s.incident(ctx, r.IncidentID)
	if err != nil {
		return nil, fmt.Errorf("retry incident %q: %w", r.IncidentID, err)
	}
	if err := s.e.RetryIncident(ctx, r.IncidentID, engine.RetryOptions{Variables: r.Variables, Retries: r.Retries}); err != nil {
		return nil, err
	}
	return &RetryIncidentResult{IncidentID: inc.ID, InstanceID: inc.InstanceID}, nil
}

func runCancelInstance(ctx context.Context, s *Service, r *InstanceRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if err := s.e.CancelInstance(ctx, r.InstanceID, r.Reason); err != nil {
		return nil, err
	}
	return &InstanceStateResult{InstanceID: r.InstanceID, State: store.InstanceCancelled}, nil
}

func runSuspendInstance(ctx context.Context, s *Service, r *InstanceRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if err := s.e.SuspendInstance(ctx, r.InstanceID); err != nil {
		return nil, err
	}
	return &InstanceStateResult{InstanceID: r.InstanceID, State: store.InstanceSuspended}, nil
}

func runResumeInstance(ctx context.Context, s *Service, r *InstanceRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if err := s.e.ResumeInstance(ctx, r.InstanceID); err != nil {
		return nil, err
	}
	return &InstanceStateResult{InstanceID: r.InstanceID, State: store.InstanceActive}, nil
}

func runSetVariables(ctx context.Context, s *Service, r *SetVariablesRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if len(r.Variables) == 0 {
		return nil, errorf(CodeInvalidInput, "field \"variables\" is required: an object of at least one name and its JSON value")
	}
	if err := s.e.SetVariables(ctx, r.InstanceID, r.Variables); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(r.Variables))
	for n := range r.Variables {
		names = append(names, n)
	}
	sort.Strings(names)
	return &SetVariablesResult{InstanceID: r.InstanceID, Names: names}, nil
}

func runCorrelateMessage(ctx context.Context, s *Service, r *CorrelateMessageRequest, _ *call) (any, error) {
	if err := required("name", r.Name); err != nil {
		return nil, err
	}
	vars, err := withTyped(r.Variables, r.TypedVariables)
	if err != nil {
		return nil, err
	}
	res, err := s.e.CorrelateMessage(ctx, engine.Message{Name: r.Name, CorrelationKey: r.CorrelationKey, Variables: vars,
		BusinessKey: r.BusinessKey, InstanceID: r.InstanceID, VariablesEqual: r.VariablesEqual, All: r.All, Unique: r.Unique})
	if err != nil {
		return nil, err
	}
	out := &CorrelateMessageResult{InstanceID: res.InstanceID, Started: res.Started}
	for _, c := range res.Correlations {
		out.Correlations = append(out.Correlations, Correlation{InstanceID: c.InstanceID, DefinitionID: c.DefinitionID,
			BusinessKey: c.BusinessKey, Started: c.Started})
	}
	return out, nil
}

func runBroadcastSignal(ctx context.Context, s *Service, r *BroadcastSignalRequest, _ *call) (any, error) {
	if err := required("name", r.Name); err != nil {
		return nil, err
	}
	res, err := s.e.BroadcastSignal(ctx, r.Name, r.Variables)
	if err != nil {
		return nil, err
	}
	return &BroadcastSignalResult{SignalID: res.ID, Name: res.Name}, nil
}

func runEvaluateConditions(ctx context.Context, s *Service, r *EvaluateConditionsRequest, _ *call) (any, error) {
	insts, err := s.e.EvaluateStartConditions(ctx, engine.ConditionOptions{
		ProcessKey: r.ProcessKey, BusinessKey: r.BusinessKey, Variables: r.Variables})
	if err != nil {
		return nil, err
	}
	res := &EvaluateConditionsResult{Started: make([]StartInstanceResult, 0, len(insts))}
	for _, inst := range insts {
		res.Started = append(res.Started, StartInstanceResult{
			InstanceID: inst.ID, DefinitionID: inst.DefinitionID, DefinitionKey: inst.DefinitionKey,
			DefinitionVersion: inst.DefinitionVersion, BusinessKey: inst.BusinessKey, State: inst.State,
		})
	}
	return res, nil
}

func runStartInstance(ctx context.Context, s *Service, r *StartInstanceRequest, _ *call) (any, error) {
	if err := required("processKey", r.ProcessKey); err != nil {
		return nil, err
	}
	if r.Version < 0 {
		return nil, errorf(CodeInvalidInput, "field \"version\": %d is negative (0 starts the latest version)", r.Version)
	}
	vars, err := withTyped(r.Variables, r.TypedVariables)
	if err != nil {
		return nil, err
	}
	inst, err := s.e.StartInstance(ctx, r.ProcessKey, engine.StartOptions{Version: r.Version, BusinessKey: r.BusinessKey, Variables: vars})
	if err != nil {
		return nil, err
	}
	return &StartInstanceResult{
		InstanceID: inst.ID, DefinitionID: inst.DefinitionID, DefinitionKey: inst.DefinitionKey,
		DefinitionVersion: inst.DefinitionVersion, BusinessKey: inst.BusinessKey, State: inst.State,
	}, nil
}

func runCompleteTask(ctx context.Context, s *Service, r *CompleteTaskRequest, _ *call) (any, error) {
	if err := required("taskId", r.TaskID); err != nil {
		return nil, err
	}
	// Read first: CompleteUserTask does not say which instance it moved.
	var task *store.UserTask
	err := s.e.Store().Read(ctx, func(tx store.Tx) error {
		var err error
		task, err = tx.GetUserTask(ctx, r.TaskID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("complete user task %q: %w", r.TaskID, err)
	}
	if err := s.e.CompleteUserTask(ctx, r.TaskID, r.Variables); err != nil {
		return nil, err
	}
	return &CompleteTaskResult{TaskID: task.ID, InstanceID: task.InstanceID}, nil
}

// modifyRequest is the engine's request of a modification: actor and reason are the
// command's own, so that the history names who asked and why, as the audit log does.
func modifyRequest(r *ModifyInstanceRequest) (engine.ModifyRequest, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return engine.ModifyRequest{}, err
	}
	if len(r.Steps) == 0 {
		return engine.ModifyRequest{}, errorf(CodeInvalidInput, "field \"steps\" is required: at least one step (cancel, startBefore, startAfter, move)")
	}
	return engine.ModifyRequest{Steps: r.Steps, Variables: r.Variables, Actor: r.Actor, Reason: r.Reason}, nil
}

func runModifyInstance(ctx context.Context, s *Service, r *ModifyInstanceRequest, _ *call) (any, error) {
	req, err := modifyRequest(r)
	if err != nil {
		return nil, err
	}
	return s.e.Modify(ctx, r.InstanceID, req)
}

func runPreviewModify(ctx context.Context, s *Service, r *ModifyInstanceRequest, _ *call) (any, error) {
	req, err := modifyRequest(r)
	if err != nil {
		return nil, err
	}
	return s.e.PreviewModify(ctx, r.InstanceID, req)
}

// incident reads one incident.
func (s *Service) incident(ctx context.Context, id string) (*store.Incident, error) {
	var inc *store.Incident
	err := s.e.Store().Read(ctx, func(tx store.Tx) error {
		var err error
		inc, err = tx.GetIncident(ctx, id)
		return err
	})
	return inc, err
}

// withTyped adds typed values to a request's plain variables, each as an engine.Typed
// (its raw JSON, its type name): the engine checks the type name and the sizes as for any
// value. A name in both is refused.
func withTyped(vars map[string]any, typed map[string]TypedValue) (map[string]any, error) {
	if len(typed) == 0 {
		return vars, nil
	}
	out := make(map[string]any, len(vars)+len(typed))
	for name, v := range vars {
		out[name] = v
	}
	for name, tv := range typed {
		if _, dup := vars[name]; dup {
			return nil, errorf(CodeInvalidInput, "variable %q is in both \"variables\" and \"typedVariables\"", name)
		}
		if strings.TrimSpace(tv.Type) == "" {
			return nil, errorf(CodeInvalidInput, "field \"typedVariables\": variable %q has no type", name)
		}
		value := tv.Value
		if len(value) == 0 {
			value = json.RawMessage("null")
		}
		out[name] = engine.Typed{Type: tv.Type, Value: value}
	}
	return out, nil
}
