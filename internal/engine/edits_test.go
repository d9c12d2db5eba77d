package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// lastEvent returns the data of the instance's last history event of typ (nil if none),
// with the event.
func (v *env) lastEvent(id string, typ event.Type) (*store.Event, map[string]any) {
	v.t.Helper()
	hist := v.detail(id).History
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Type == typ {
			var data map[string]any
			if err := json.Unmarshal(hist[i].Data, &data); err != nil {
				v.t.Fatal(err)
			}
			return hist[i], data
		}
	}
	return nil, nil
}

// TestClaimUnclaimReassign: a task assigned by its model is unclaimed, claimed,
// refused to a second claimant, reassigned; each change is an event at the task's
// element; a suspended instance's task does not change hands; a completed task neither.
func TestClaimUnclaimReassign(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("usertask.bpmn")
		inst := v.startInstance("usertask", nil)
		task := v.openTask(inst.ID, "approve")
		if task.Assignee != "ops" {
			t.Fatalf("assignee %q, want ops (the model's)", task.Assignee)
		}
		ctx := v.ctx
		assignee := func() string { return v.openTask(inst.ID, "approve").Assignee }

		if err := v.e.ClaimUserTask(ctx, task.ID, "ann"); !errors.Is(err, engine.ErrInvalidState) || !strings.Contains(err.Error(), `"ops"`) {
			t.Errorf("claim of a task assigned to ops: %v, want ErrInvalidState naming ops", err)
		}
		if err := v.e.UnclaimUserTask(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
		if a := assignee(); a != "" {
			t.Errorf("after unclaim: assignee %q", a)
		}
		ev, data := v.lastEvent(inst.ID, event.UserTaskUnclaimed)
		if ev == nil || ev.ElementID != "approve" || data["previousAssignee"] != "ops" || data["taskId"] != task.ID {
			t.Errorf("unclaimed event %+v %v", ev, data)
		}
		if err := v.e.UnclaimUserTask(ctx, task.ID); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("second unclaim: %v, want ErrInvalidState", err)
		}
		if err := v.e.ClaimUserTask(ctx, task.ID, "ann"); err != nil {
			t.Fatal(err)
		}
		if a := assignee(); a != "ann" {
			t.Errorf("after claim: assignee %q", a)
		}
		if _, data := v.lastEvent(inst.ID, event.UserTaskClaimed); data["assignee"] != "ann" {
			t.Errorf("claimed event %v", data)
		}
		before := len(v.detail(inst.ID).History)
		if err := v.e.ClaimUserTask(ctx, task.ID, "ann"); err != nil {
			t.Errorf("claim by the assignee again: %v", err)
		}
		if n := len(v.detail(inst.ID).History); n != before {
			t.Errorf("a claim by the assignee wrote %d events", n-before)
		}
		if err := v.e.ClaimUserTask(ctx, task.ID, "bob"); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("claim by bob of ann's task: %v, want ErrInvalidState", err)
		}
		if err := v.e.ReassignUserTask(ctx, task.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		if a := assignee(); a != "bob" {
			t.Errorf("after reassign: assignee %q", a)
		}
		if _, data := v.lastEvent(inst.ID, event.UserTaskAssigned); data["assignee"] != "bob" || data["previousAssignee"] != "ann" {
			t.Errorf("assigned event %v", data)
		}
		// The list filtered by assignee follows.
		tasks, err := v.e.ListUserTasks(ctx, store.UserTaskFilter{Assignee: "bob", State: store.TaskOpen})
		if err != nil || len(tasks) != 1 || tasks[0].ID != task.ID {
			t.Errorf("bob's tasks: %v %v", tasks, err)
		}

		for _, bad := range []string{"", "  ", "a\nb", " ann", "a\u202eb", strings.Repeat("x", engine.MaxNameBytes+1)} {
			if err := v.e.ReassignUserTask(ctx, task.ID, bad); !errors.Is(err, engine.ErrInvalidInput) {
				t.Errorf("reassign to %q: %v, want ErrInvalidInput", bad, err)
			}
		}
		if err := v.e.ClaimUserTask(ctx, "no-such-task", "ann"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("claim of an unknown task: %v, want ErrNotFound", err)
		}

		if err := v.e.SuspendInstance(ctx, inst.ID); err != nil {
			t.Fatal(err)
		}
		if err := v.e.UnclaimUserTask(ctx, task.ID); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("unclaim in a suspended instance: %v, want ErrInvalidState", err)
		}
		if err := v.e.ResumeInstance(ctx, inst.ID); err != nil {
			t.Fatal(err)
		}
		if err := v.e.CompleteUserTask(ctx, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		if err := v.e.ReassignUserTask(ctx, task.ID, "ann"); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("reassign of a completed task: %v, want ErrInvalidState", err)
		}
	})
}

// TestDeleteRenameVariable: process variables and a subprocess's local are deleted and
// renamed in their own scope only (a process variable of the same name stays); each
// edit is an event naming the scope and attributed to the scope's element; missing
// names, taken names and ended instances are refused.
func TestDeleteRenameVariable(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.e.Handle("charge", func(_ context.Context, j *engine.Job) (map[string]any, error) {
			return map[string]any{"receiptNo": "r-1"}, nil
		})
		v.start()
		v.deploy("scopes_c7.bpmn")
		inst := v.startInstance("scopes_c7", map[string]any{"amount": 10, "note": "outer", "attempts": "process"})
		v.waitFor("task in the subprocess", func() bool { return len(v.detail(inst.ID).UserTasks) == 1 })
		var sub string
		for _, tok := range v.detail(inst.ID).Tokens {
			if tok.ElementID == "Activity_fulfil" {
				sub = tok.ID
			}
		}
		if got := v.scopeVars(inst.ID)[sub]["attempts"]; got == nil {
			t.Fatalf("no local attempts in the subprocess: %v", v.scopeVars(inst.ID))
		}
		ctx := v.ctx

		if err := v.e.RenameVariable(ctx, inst.ID, sub, "attempts", "tries"); err != nil {
			t.Fatal(err)
		}
		got := v.scopeVars(inst.ID)
		if _, ok := got[sub]["attempts"]; ok || got[sub]["tries"] == nil || got[""]["attempts"] != "process" {
			t.Errorf("after renaming the local: %v", got)
		}
		ev, data := v.lastEvent(inst.ID, event.VariablesRenamed)
		if ev == nil || ev.ElementID != "Activity_fulfil" || ev.TokenID != sub || data["scope"] != sub ||
			data["from"] != "attempts" || data["to"] != "tries" {
			t.Errorf("renamed event %+v %v", ev, data)
		}
		if err := v.e.RenameVariable(ctx, inst.ID, "", "note", "amount"); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("rename onto a taken name: %v, want ErrInvalidState", err)
		}
		if err := v.e.RenameVariable(ctx, inst.ID, "", "nothing", "x"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("rename of a missing variable: %v, want ErrNotFound", err)
		}
		if err := v.e.RenameVariable(ctx, inst.ID, "", "note", ""); !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("rename to nothing: %v, want ErrInvalidInput", err)
		}
		if err := v.e.RenameVariable(ctx, inst.ID, "", "note", "remark"); err != nil {
			t.Fatal(err)
		}
		if got := v.scopeVars(inst.ID)[""]; got["remark"] == nil || got["note"] != nil {
			t.Errorf("after renaming note: %v", got)
		}

		if err := v.e.DeleteVariable(ctx, inst.ID, "", "attempts"); err != nil {
			t.Fatal(err)
		}
		got = v.scopeVars(inst.ID)
		if _, ok := got[""]["attempts"]; ok || got[sub]["tries"] == nil {
			t.Errorf("after deleting the process's attempts: %v", got)
		}
		ev, data = v.lastEvent(inst.ID, event.VariablesDeleted)
		if ev == nil || ev.ElementID != "" || data["scope"] != nil || len(data["names"].([]any)) != 1 {
			t.Errorf("deleted event %+v %v", ev, data)
		}
		if err := v.e.DeleteVariable(ctx, inst.ID, sub, "tries"); err != nil {
			t.Fatal(err)
		}
		if _, ok := v.scopeVars(inst.ID)[sub]; ok {
			t.Errorf("the subprocess still has locals: %v", v.scopeVars(inst.ID))
		}
		if err := v.e.DeleteVariable(ctx, inst.ID, sub, "tries"); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}

		// The instance goes on without them.
		if err := v.e.CompleteUserTask(ctx, v.openTask(inst.ID, "Activity_check").ID, map[string]any{"attempts": 3}); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		if err := v.e.DeleteVariable(ctx, inst.ID, "", "amount"); !errors.Is(err, engine.ErrInvalidState) {
			t.Errorf("delete in a completed instance: %v, want ErrInvalidState", err)
		}
	})
}
