package camunda

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// mismatchingCorrelation is the class of the exception Camunda's answer names when a
// message matches nothing, or more than one thing without all.
const mismatchingCorrelation = "org.camunda.bpm.engine.MismatchingMessageCorrelationException"

// messageRequest is Camunda's CorrelationMessageDto.
type messageRequest struct {
	MessageName                      string              `json:"messageName"`
	BusinessKey                      string              `json:"businessKey"`
	TenantID                         string              `json:"tenantId"`
	ProcessInstanceID                string              `json:"processInstanceId"`
	CorrelationKeys                  map[string]variable `json:"correlationKeys"`
	LocalCorrelationKeys             map[string]variable `json:"localCorrelationKeys"`
	ProcessVariables                 map[string]variable `json:"processVariables"`
	ProcessVariablesLocal            map[string]variable `json:"processVariablesLocal"`
	ProcessVariablesToTriggeredScope map[string]variable `json:"processVariablesToTriggeredScope"`
	All                              bool                `json:"all"`
	ResultEnabled                    bool                `json:"resultEnabled"`
	VariablesInResultEnabled         bool                `json:"variablesInResultEnabled"`
}

// correlationResult is Camunda's MessageCorrelationResultWithVariableDto.
type correlationResult struct {
	ResultType      string               `json:"resultType"`
	Execution       *executionDTO        `json:"execution"`
	ProcessInstance *instanceDTO         `json:"processInstance"`
	Variables       *map[string]variable `json:"variables,omitempty"`
}

// executionDTO is Camunda's ExecutionDto. An execution here is its instance (as for
// external tasks' executionId).
type executionDTO struct {
	ID                string `json:"id"`
	ProcessInstanceID string `json:"processInstanceId"`
	Ended             bool   `json:"ended"`
	TenantID          any    `json:"tenantId"`
}

// correlateMessage correlates a message through the command service (audited, with the
// caller as actor), with Camunda's selection: business key, instance id and
// process-variable equality (correlationKeys), exactly one match unless all.
func (s *Server) correlateMessage(w http.ResponseWriter, r *http.Request) error {
	var req messageRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.MessageName == "" {
		return badRequest("No message name supplied")
	}
	switch {
	case req.TenantID != "":
		return badRequest("tenantId %q: Cockpit has no tenants", req.TenantID)
	case len(req.LocalCorrelationKeys) > 0:
		return badRequest("localCorrelationKeys are not supported: correlate by process variables (correlationKeys)")
	case len(req.ProcessVariablesLocal) > 0 || len(req.ProcessVariablesToTriggeredScope) > 0:
		return badRequest("processVariablesLocal and processVariablesToTriggeredScope are not supported: set processVariables")
	}
	plain, typed, err := splitTyped("processVariables", req.ProcessVariables)
	if err != nil {
		return err
	}
	keys, err := toEngine("correlationKeys", req.CorrelationKeys)
	if err != nil {
		return err
	}
	equal := make(map[string]any, len(keys))
	for name, v := range keys {
		// A typed value is compared by its JSON, as it is stored.
		if t, ok := v.(engine.Typed); ok {
			raw, err := json.Marshal(t.Value)
			if err != nil {
				return badRequest("correlationKeys: %q: %v", name, err)
			}
			v = json.RawMessage(raw)
		}
		equal[name] = v
	}
	res, err := s.o.Commands.CorrelateMessage(r.Context(), command.CorrelateMessageRequest{
		Meta: command.Meta{Actor: s.actor(r), Reason: reasonREST}, Name: req.MessageName, Variables: plain, TypedVariables: typed,
		BusinessKey: req.BusinessKey, InstanceID: req.ProcessInstanceID, VariablesEqual: equal, All: req.All, Unique: !req.All})
	var cerr *command.Error
	if errors.As(err, &cerr) && (cerr.Code == command.CodeNotFound || cerr.Code == command.CodeInvalidState) {
		msg := "No process definition or execution matches the parameters"
		if cerr.Code == command.CodeInvalidState {
			msg = "more than one execution or process definition matches the parameters; select one, or correlate to all (" + cerr.Message + ")"
		}
		// Camunda wraps the engine's exception in a RestException, whose message is the
		// exception's class and message.
		return &apiError{http.StatusBadRequest, "RestException",
			fmt.Sprintf("%s: Cannot correlate message '%s': %s", mismatchingCorrelation, req.MessageName, msg)}
	}
	if err != nil {
		return err
	}
	if !req.ResultEnabled {
		noContent(w)
		return nil
	}
	out := make([]correlationResult, 0, len(res.Correlations))
	for _, c := range res.Correlations {
		in, err := s.o.Engine.GetInstanceRow(r.Context(), c.InstanceID)
		if err != nil {
			return err
		}
		var x correlationResult
		if c.Started {
			d := newInstanceDTO(r, in)
			x = correlationResult{ResultType: "ProcessDefinition", ProcessInstance: &d}
		} else {
			x = correlationResult{ResultType: "Execution", Execution: &executionDTO{ID: in.ID, ProcessInstanceID: in.ID,
				Ended: in.State == store.InstanceCompleted || in.State == store.InstanceCancelled}}
		}
		if req.VariablesInResultEnabled {
			vars, err := s.processVariables(r, in.ID, true)
			if err != nil {
				return err
			}
			x.Variables = &vars
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
