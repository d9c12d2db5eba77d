package engine

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Assignment of user tasks. A task has at most one assignee (store.UserTask.Assignee,
// "" for none). Claiming takes an unassigned task (or one already the claimant's);
// unclaiming gives an assigned task back; reassigning sets the assignee whoever held it.
// Each change is one command on the task's instance, with its history event
// (usertask.claimed, usertask.unclaimed, usertask.assigned); the task must be open and
// its instance active (a suspended instance's tasks do not change hands, as they are
// not completed either).

// ClaimUserTask makes assignee the assignee of an open user task that has none. A task
// assigned to someone else is ErrInvalidState (unclaim or reassign it); one already
// assigned to assignee is left as it is (no event).
func (e *Engine) ClaimUserTask(ctx context.Context, taskID, assignee string) error {
	if err := checkAssignee(assignee); err != nil {
		return fmt.Errorf("claim user task %q: %w", taskID, err)
	}
	return e.changeTask(ctx, "claim user task", taskID, func(r *run, t *store.UserTask) (event.Type, map[string]any, error) {
		switch t.Assignee {
		case assignee:
			return "", nil, nil
		case "":
		default:
			return "", nil, fmt.Errorf("user task %q is assigned to %q: %w", taskID, t.Assignee, ErrInvalidState)
		}
		t.Assignee = assignee
		return event.UserTaskClaimed, map[string]any{"taskId": t.ID, "assignee": assignee}, nil
	})
}

// UnclaimUserTask removes the assignee of an open user task; a task without one is
// ErrInvalidState.
func (e *Engine) UnclaimUserTask(ctx context.Context, taskID string) error {
	return e.changeTask(ctx, "unclaim user task", taskID, func(r *run, t *store.UserTask) (event.Type, map[string]any, error) {
		if t.Assignee == "" {
			return "", nil, fmt.Errorf("user task %q has no assignee: %w", taskID, ErrInvalidState)
		}
		prev := t.Assignee
		t.Assignee = ""
		return event.UserTaskUnclaimed, map[string]any{"taskId": t.ID, "previousAssignee": prev}, nil
	})
}

// ReassignUserTask makes assignee the assignee of an open user task, whoever held it. A
// task already assigned to assignee is left as it is (no event).
func (e *Engine) ReassignUserTask(ctx context.Context, taskID, assignee string) error {
	if err := checkAssignee(assignee); err != nil {
		return fmt.Errorf("reassign user task %q: %w", taskID, err)
	}
	return e.changeTask(ctx, "reassign user task", taskID, func(r *run, t *store.UserTask) (event.Type, map[string]any, error) {
		if t.Assignee == assignee {
			return "", nil, nil
		}
		prev := t.Assignee
		t.Assignee = assignee
		return event.UserTaskAssigned, map[string]any{"taskId": t.ID, "assignee": assignee, "previousAssignee": prev}, nil
	})
}

// checkAssignee refuses an empty assignee, one over MaxNameBytes, and one with control
// or invisible format characters (it is shown on pages and kept in events).
func checkAssignee(a string) error {
	if strings.TrimSpace(a) == "" {
		return fmt.Errorf("assignee is empty: %w", ErrInvalidInput)
	}
	if err := checkSize("assignee", len(a), MaxNameBytes); err != nil {
		return err
	}
	for _, c := range a {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' || c == unicode.ReplacementChar {
			return fmt.Errorf("assignee %q holds a control or invisible character: %w", a, ErrInvalidInput)
		}
	}
	if a != strings.TrimSpace(a) {
		return fmt.Errorf("assignee %q begins or ends with a space: %w", a, ErrInvalidInput)
	}
	return nil
}

// changeTask runs fn on an open user task in its instance's command; fn changes the task
// and returns the event to write ("" for no change).
func (e *Engine) changeTask(ctx context.Context, what, taskID string,
	fn func(r *run, t *store.UserTask) (event.Type, map[string]any, error)) error {
	var task *store.UserTask
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		task, err = tx.GetUserTask(ctx, taskID)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, taskID, err)
	}
	err = e.update(ctx, task.InstanceID, func(r *run) error {
		t := r.tasks[taskID]
		if t == nil || t.State != store.TaskOpen {
			return fmt.Errorf("user task %q is not open: %w", taskID, ErrInvalidState)
		}
		if err := r.mustBeActive(what); err != nil {
			return err
		}
		// A copy: fn's change reaches the run's task only when it succeeds.
		c := *t
		typ, data, err := fn(r, &c)
		if err != nil || typ == "" {
			return err
		}
		r.putTask(&c)
		r.event(typ, r.tokens[c.TokenID], r.p.nodes[c.ElementID], data)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, taskID, err)
	}
	return nil
}
