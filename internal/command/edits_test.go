package command_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestTaskAssignment: claim, unclaim and reassign over NATS, on both stores; refusals
// carry their codes; each request is audited with its actor, reason and result.
func TestTaskAssignment(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"sqlite": nil, "postgres": {onPostgres()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, opts...)
			inst := v.startInstance("usertask", nil)
			task := v.openTask(inst.ID)
			assignee := func() string { return v.openTask(inst.ID).Assignee }
			if task.Assignee != "" {
				_, err := v.client.UnclaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("ann"), TaskID: task.ID})
				noErr(t, err)
			}
			res, err := v.client.ClaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("ann"), TaskID: task.ID, Assignee: "ann"})
			noErr(t, err)
			if res.TaskID != task.ID || res.InstanceID != inst.ID || res.Assignee != "ann" || assignee() != "ann" {
				t.Errorf("claim: result %+v, assignee %q", res, assignee())
			}
			_, err = v.client.ClaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("bob"), TaskID: task.ID, Assignee: "bob"})
			wantCode(t, err, command.CodeInvalidState)
			res, err = v.client.AssignTask(v.ctx, command.TaskAssignRequest{Meta: meta("lead"), TaskID: task.ID, Assignee: "bob"})
			noErr(t, err)
			if res.Assignee != "bob" || assignee() != "bob" {
				t.Errorf("assign: result %+v, assignee %q", res, assignee())
			}
			_, err = v.client.UnclaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("bob"), TaskID: task.ID})
			noErr(t, err)
			if a := assignee(); a != "" {
				t.Errorf("after unclaim: %q", a)
			}
			_, err = v.client.UnclaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("bob"), TaskID: task.ID})
			wantCode(t, err, command.CodeInvalidState)
			_, err = v.client.UnclaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("bob"), TaskID: task.ID, Assignee: "x"})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.ClaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("ann"), TaskID: task.ID})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.AssignTask(v.ctx, command.TaskAssignRequest{Meta: meta("ann"), TaskID: task.ID, Assignee: "a\nb"})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.ClaimTask(v.ctx, command.TaskAssignRequest{Meta: meta("ann"), TaskID: "no-such-task", Assignee: "ann"})
			wantCode(t, err, command.CodeNotFound)

			a := v.lastAudit(task.ID)
			if a == nil || a.Command != command.VerbAssignTask || a.Actor != "ann" || a.Reason != "test" || a.Result != "invalid_input" || !strings.Contains(a.Error, "control") {
				t.Errorf("last audit row %+v", a)
			}
			var oks []string
			for _, row := range v.audit(store.AuditFilter{Target: task.ID}) {
				if row.Result == "ok" {
					oks = append(oks, row.Actor+" "+row.Command)
				}
			}
			if got := strings.Join(oks, ","); !strings.Contains(got, "lead task.assign") || !strings.Contains(got, "bob task.unclaim") {
				t.Errorf("audit rows ok: %s", got)
			}
		})
	}
}

// TestVariableEdits: delete and rename over NATS, on both stores, audited.
func TestVariableEdits(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"sqlite": nil, "postgres": {onPostgres()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, opts...)
			inst := v.startInstance("usertask", map[string]any{"a": 1, "b": "two"})
			vars := func() map[string]string {
				out := map[string]string{}
				for _, x := range v.detail(inst.ID).Variables {
					out[x.Scope+"/"+x.Name] = string(x.Value)
				}
				return out
			}
			res, err := v.client.RenameVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Name: "a", NewName: "amount"})
			noErr(t, err)
			if res.Name != "amount" || res.InstanceID != inst.ID {
				t.Errorf("rename result %+v", res)
			}
			if got := vars(); got["/amount"] != "1" || got["/a"] != "" {
				t.Errorf("after rename: %v", got)
			}
			_, err = v.client.RenameVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Name: "b", NewName: "amount"})
			wantCode(t, err, command.CodeInvalidState)
			_, err = v.client.RenameVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Name: "b"})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.DeleteVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Name: "b", NewName: "c"})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.DeleteVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Scope: "no-such-scope", Name: "b"})
			wantCode(t, err, command.CodeNotFound)
			_, err = v.client.DeleteVariable(v.ctx, command.VariableRequest{Meta: meta("ann"), InstanceID: inst.ID, Name: "b"})
			noErr(t, err)
			if got := vars(); got["/b"] != "" || got["/amount"] != "1" {
				t.Errorf("after delete: %v", got)
			}
			a := v.lastAudit(inst.ID)
			if a == nil || a.Command != command.VerbDeleteVariable || a.Result != "ok" || a.Actor != "ann" {
				t.Fatalf("audit %+v", a)
			}
			var req map[string]any
			if err := json.Unmarshal(a.Request, &req); err != nil || req["name"] != "b" {
				t.Errorf("audit request %s (%v)", a.Request, err)
			}
		})
	}
}
