package command

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Operators' edits of variables (delete, rename: one variable of one scope) and of user
// tasks' assignees (claim, unclaim, reassign). Each is one engine command with its
// history event; the audit log records the actor and reason like every command.

// Verbs of the edits.
const (
	VerbDeleteVariable = "instance.delete-variable"
	VerbRenameVariable = "instance.rename-variable"
	VerbClaimTask      = "task.claim"
	VerbUnclaimTask    = "task.unclaim"
	VerbAssignTask     = "task.assign"
)

// VariableRequest names one variable of an instance: its scope ("" or absent for the
// process, else the id of the token whose scope holds it, as the instance page and
// store.Variable.Scope show it) and name. Delete removes it; Rename (NewName set) gives
// it a new name in the same scope, keeping its value.
type VariableRequest struct {
	Meta
	InstanceID string `json:"instanceId"`
	Scope      string `json:"scope,omitempty"`
	Name       string `json:"name"`
	// NewName is the rename's new name (instance.rename-variable only).
	NewName string `json:"newName,omitempty"`
}

// VariableResult names the variable a delete or rename acted on (Name the new name after
// a rename).
type VariableResult struct {
	InstanceID string `json:"instanceId"`
	Scope      string `json:"scope,omitempty"`
	Name       string `json:"name"`
}

// TaskAssignRequest names a user task and, for a claim or reassignment, its assignee.
// A claim takes a task that has no assignee (or is the assignee's already); a
// reassignment sets the assignee whoever held it; an unclaim (no Assignee) removes it.
type TaskAssignRequest struct {
	Meta
	TaskID   string `json:"taskId"`
	Assignee string `json:"assignee,omitempty"`
}

// TaskAssignResult is the task's assignee after the command ("" after an unclaim).
type TaskAssignResult struct {
	TaskID     string `json:"taskId"`
	InstanceID string `json:"instanceId"`
	Assignee   string `json:"assignee"`
}

// target of a variable edit is the instance; of a task edit the task.
func (r *VariableRequest) target() string   { return r.InstanceID }
func (r *TaskAssignRequest) target() string { return r.TaskID }

// editEndpoints are the edits' endpoints (wired in endpoints).
func editEndpoints() []endpoint {
	return []endpoint{
		bind(VerbDeleteVariable, runDeleteVariable),
		bind(VerbRenameVariable, runRenameVariable),
		bind(VerbClaimTask, runClaimTask),
		bind(VerbUnclaimTask, runUnclaimTask),
		bind(VerbAssignTask, runAssignTask),
	}
}

func runDeleteVariable(ctx context.Context, s *Service, r *VariableRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if err := required("name", r.Name); err != nil {
		return nil, err
	}
	if r.NewName != "" {
		return nil, errorf(CodeInvalidInput, "field \"newName\" is for %s, not %s", VerbRenameVariable, VerbDeleteVariable)
	}
	if err := s.e.DeleteVariable(ctx, r.InstanceID, r.Scope, r.Name); err != nil {
		return nil, err
	}
	return &VariableResult{InstanceID: r.InstanceID, Scope: r.Scope, Name: r.Name}, nil
}

func runRenameVariable(ctx context.Context, s *Service, r *VariableRequest, _ *call) (any, error) {
	if err := required("instanceId", r.InstanceID); err != nil {
		return nil, err
	}
	if err := required("name", r.Name); err != nil {
		return nil, err
	}
	if err := required("newName", r.NewName); err != nil {
		return nil, err
	}
	if err := s.e.RenameVariable(ctx, r.InstanceID, r.Scope, r.Name, r.NewName); err != nil {
		return nil, err
	}
	return &VariableResult{InstanceID: r.InstanceID, Scope: r.Scope, Name: r.NewName}, nil
}

func runClaimTask(ctx context.Context, s *Service, r *TaskAssignRequest, _ *call) (any, error) {
	if err := required("assignee", r.Assignee); err != nil {
		return nil, err
	}
	return s.assignTask(ctx, r, func(id string) error { return s.e.ClaimUserTask(ctx, id, r.Assignee) })
}

func runUnclaimTask(ctx context.Context, s *Service, r *TaskAssignRequest, _ *call) (any, error) {
	if r.Assignee != "" {
		return nil, errorf(CodeInvalidInput, "field \"assignee\" is for %s and %s, not %s", VerbClaimTask, VerbAssignTask, VerbUnclaimTask)
	}
	return s.assignTask(ctx, r, func(id string) error { return s.e.UnclaimUserTask(ctx, id) })
}

func runAssignTask(ctx context.Context, s *Service, r *TaskAssignRequest, _ *call) (any, error) {
	if err := required("assignee", r.Assignee); err != nil {
		return nil, err
	}
	return s.assignTask(ctx, r, func(id string) error { return s.e.ReassignUserTask(ctx, id, r.Assignee) })
}

// assignTask runs a task edit and answers with the task's instance and assignee.
func (s *Service) assignTask(ctx context.Context, r *TaskAssignRequest, run func(id string) error) (any, error) {
	if err := required("taskId", r.TaskID); err != nil {
		return nil, err
	}
	var task *store.UserTask
	err := s.e.Store().Read(ctx, func(tx store.Tx) error {
		var err error
		task, err = tx.GetUserTask(ctx, r.TaskID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("user task %q: %w", r.TaskID, err)
	}
	if err := run(r.TaskID); err != nil {
		return nil, err
	}
	return &TaskAssignResult{TaskID: task.ID, InstanceID: task.InstanceID, Assignee: r.Assignee}, nil
}

// DeleteVariable deletes one variable of one scope of an instance.
func (c *Client) DeleteVariable(ctx context.Context, req VariableRequest) (*VariableResult, error) {
	return roundTrip[VariableResult](ctx, c, VerbDeleteVariable, &req, c.Timeout)
}

// RenameVariable renames one variable of one scope of an instance (req.NewName).
func (c *Client) RenameVariable(ctx context.Context, req VariableRequest) (*VariableResult, error) {
	return roundTrip[VariableResult](ctx, c, VerbRenameVariable, &req, c.Timeout)
}

// ClaimTask makes req.Assignee the assignee of an unassigned user task.
func (c *Client) ClaimTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return roundTrip[TaskAssignResult](ctx, c, VerbClaimTask, &req, c.Timeout)
}

// UnclaimTask removes a user task's assignee.
func (c *Client) UnclaimTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return roundTrip[TaskAssignResult](ctx, c, VerbUnclaimTask, &req, c.Timeout)
}

// AssignTask makes req.Assignee the assignee of a user task, whoever held it.
func (c *Client) AssignTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return roundTrip[TaskAssignResult](ctx, c, VerbAssignTask, &req, c.Timeout)
}
