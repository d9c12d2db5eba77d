package command_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// TestModifyInstance: the preview and the modification over NATS, each audited with
// the actor and reason; the history's instance.modified names them too.
func TestModifyInstance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts []envOption
	}{{"sqlite", nil}, {"postgres", []envOption{onPostgres()}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v := newEnv(t, c.opts...)
			inst := v.startInstance("usertask", nil)
			req := command.ModifyInstanceRequest{Meta: command.Meta{Actor: "ann", Reason: "skip the approval"}, InstanceID: inst.ID,
				Steps: []engine.ModifyStep{{Kind: engine.ModifyMove, From: "approve", ElementID: "end"}}}

			pre, err := v.client.PreviewModify(v.ctx, req)
			noErr(t, err)
			if pre.Applied || !pre.Ends || pre.State != store.InstanceCompleted || len(pre.TasksCancelled) != 1 {
				t.Fatalf("preview %+v", pre)
			}
			if v.state(inst.ID) != store.InstanceActive {
				t.Fatal("the preview changed the instance")
			}
			res, err := v.client.ModifyInstance(v.ctx, req)
			noErr(t, err)
			if !res.Applied || !res.Ends || v.state(inst.ID) != store.InstanceCompleted {
				t.Fatalf("modify %+v, state %s", res, v.state(inst.ID))
			}
			var found bool
			for _, ev := range v.detail(inst.ID).History {
				if ev.Type == event.InstanceModified {
					var data map[string]any
					_ = json.Unmarshal(ev.Data, &data)
					found = data["actor"] == "ann" && data["reason"] == "skip the approval"
				}
			}
			if !found {
				t.Error("no instance.modified with the actor and reason")
			}

			// Refusals carry their code; an unknown field in a step is refused by name.
			_, err = v.client.ModifyInstance(v.ctx, req)
			wantCode(t, err, command.CodeInvalidState)
			other := v.startInstance("usertask", nil)
			_, err = v.client.PreviewModify(v.ctx, command.ModifyInstanceRequest{Meta: meta("ann"), InstanceID: other.ID,
				Steps: []engine.ModifyStep{{Kind: engine.ModifyStartBefore, ElementID: "nope"}}})
			if cerr := wantCode(t, err, command.CodeInvalidInput); !strings.Contains(cerr.Message, "step 1") {
				t.Errorf("message %q does not name the step", cerr.Message)
			}
			_, err = v.client.ModifyInstance(v.ctx, command.ModifyInstanceRequest{Meta: meta("ann"), InstanceID: other.ID})
			wantCode(t, err, command.CodeInvalidInput)

			var verbs []string
			for _, a := range v.audit(store.AuditFilter{Target: inst.ID}) {
				verbs = append(verbs, a.Command+"="+a.Result+"/"+a.Actor+"/"+a.Reason)
			}
			want := []string{"instance.modify=invalid_state/ann/skip the approval", "instance.modify=ok/ann/skip the approval",
				"instance.modify-preview=ok/ann/skip the approval"}
			if strings.Join(verbs, ",") != strings.Join(want, ",") {
				t.Errorf("audit %v, want %v", verbs, want)
			}
		})
	}
}
