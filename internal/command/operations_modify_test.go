package command_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestModifyOperationOverNATS: operation.preview runs a bulk modification on a sample
// of the selection and changes nothing; operation.create stores it (the steps checked
// against the selection's one model first) and the executor modifies each instance,
// an ended one failing alone; both commands are audited. A selection of several
// definitions, steps naming tokens or unknown elements are refused before anything is
// stored.
func TestModifyOperationOverNATS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts []envOption
	}{{"sqlite", nil}, {"postgres", []envOption{onPostgres()}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var x *operation.Executor
			v := newEnv(t, append(c.opts, withServiceOptions(func(o *command.Options) { o.WakeOperations = func() { x.Wake() } }))...)
			var err error
			x, err = operation.NewExecutor(operation.ExecutorOptions{Store: v.st, Clock: v.clock, Owner: "node-1",
				Kinds: []operation.Kind{operation.ModifyInstances(v.e)}, Logger: slog.New(slog.DiscardHandler)})
			noErr(t, err)
			noErr(t, x.Start(v.ctx))
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := x.Stop(ctx); err != nil {
					t.Error(err)
				}
			})
			var ids []string
			for range 4 {
				ids = append(ids, v.startInstance("usertask", nil).ID)
			}
			move := []engine.ModifyStep{{Kind: engine.ModifyMove, From: "approve", ElementID: "end"}}

			// The preview: two samples, both would end; nothing changed.
			pre, err := v.client.PreviewOperation(v.ctx, command.PreviewOperationRequest{Sample: 2,
				CreateOperationRequest: command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindModifyInstances,
					InstanceIDs: ids, Steps: move}})
			noErr(t, err)
			if pre.Total != 4 || pre.DefinitionKey != "usertask" || pre.DefinitionVersion != 1 || len(pre.Samples) != 2 {
				t.Fatalf("preview: %+v", pre)
			}
			for i, smp := range pre.Samples {
				if smp.InstanceID != ids[i] || smp.Error != "" || smp.Result == nil || !smp.Result.Ends || len(smp.Result.TasksCancelled) != 1 {
					t.Errorf("sample %d: %+v", i, smp)
				}
			}
			for _, id := range ids {
				if s := v.state(id); s != store.InstanceActive {
					t.Fatalf("the preview changed instance %s: %s", id, s)
				}
			}
			// A sampled instance the steps do not fit is reported, not refused.
			noErr(t, v.e.CancelInstance(v.ctx, ids[1], "by hand"))
			pre, err = v.client.PreviewOperation(v.ctx, command.PreviewOperationRequest{
				CreateOperationRequest: command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindModifyInstances,
					InstanceIDs: ids, Steps: move}})
			noErr(t, err)
			if len(pre.Samples) != command.DefaultPreviewSample || pre.Samples[1].Code != "invalid_state" ||
				!strings.Contains(pre.Samples[1].Error, "has ended") || pre.Samples[0].Result == nil {
				t.Fatalf("preview with an ended instance: %+v", pre.Samples)
			}

			// Refusals, before anything is stored.
			other := v.startInstance("nodefault", map[string]any{"amount": 500})
			refused := []struct {
				req  command.CreateOperationRequest
				want string
			}{
				{command.CreateOperationRequest{InstanceIDs: []string{ids[0], other.ID}, Steps: move}, "2 definitions (nodefault version 1: 1, usertask version 1: 1)"},
				{command.CreateOperationRequest{InstanceIDs: ids, Steps: []engine.ModifyStep{{Kind: engine.ModifyStartBefore, ElementID: "nope"}}}, `usertask version 1: step 1: "nope" is not a flow node`},
				{command.CreateOperationRequest{InstanceIDs: ids, Steps: []engine.ModifyStep{{Kind: engine.ModifyCancel, TokenID: "t1"}}}, "not tokens or scopes"},
				{command.CreateOperationRequest{InstanceIDs: ids, Steps: []engine.ModifyStep{{Kind: engine.ModifyStartAfter, ElementID: "end"}}}, "0 outgoing flows"},
				{command.CreateOperationRequest{InstanceIDs: ids}, `field "steps" is required`},
				{command.CreateOperationRequest{IncidentIDs: []string{"i"}, Steps: move}, "selects instances"},
			}
			for _, r := range refused {
				r.req.Meta, r.req.Kind = meta("ann"), operation.KindModifyInstances
				_, err := v.client.CreateOperation(v.ctx, r.req)
				if cerr := wantCode(t, err, command.CodeInvalidInput); cerr != nil && !strings.Contains(cerr.Message, r.want) {
					t.Errorf("refusal %q: %s", r.want, cerr.Message)
				}
				_, err = v.client.PreviewOperation(v.ctx, command.PreviewOperationRequest{CreateOperationRequest: r.req})
				wantCode(t, err, command.CodeInvalidInput)
			}
			_, err = v.client.PreviewOperation(v.ctx, command.PreviewOperationRequest{CreateOperationRequest: command.CreateOperationRequest{
				Meta: meta("ann"), Kind: operation.KindCancelInstances, InstanceIDs: ids}})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.PreviewOperation(v.ctx, command.PreviewOperationRequest{Sample: command.MaxPreviewSample + 1,
				CreateOperationRequest: command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindModifyInstances, InstanceIDs: ids, Steps: move}})
			wantCode(t, err, command.CodeInvalidInput)
			if n := len(v.audit(store.AuditFilter{Command: command.VerbCreateOperation})); n != len(refused) {
				t.Errorf("%d audit rows of refused creates, want %d", n, len(refused))
			}

			// The operation: by ids, the ended instance fails alone.
			op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindModifyInstances, InstanceIDs: ids, Steps: move})
			noErr(t, err)
			wait.For(t, "operation done", func() bool {
				got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID})
				return err == nil && got.State == store.OperationCompleted
			})
			got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID, Items: true})
			noErr(t, err)
			if got.Succeeded != 3 || got.Failed != 1 || got.Items[1].Code != "invalid_state" || !strings.Contains(got.Items[1].Error, "has ended") {
				t.Fatalf("operation: %+v", got)
			}
			for i, id := range ids {
				want := store.InstanceCompleted
				if i == 1 {
					want = store.InstanceCancelled
				}
				if s := v.state(id); s != want {
					t.Errorf("instance %d: %s, want %s", i, s, want)
				}
			}
			if a := v.audit(store.AuditFilter{Instance: ids[0], Command: operation.KindModifyInstances}); len(a) != 1 || a[0].Result != "ok" || a[0].Actor != "ann" {
				t.Errorf("audit of an item: %+v", a)
			}
			if a := v.audit(store.AuditFilter{Command: command.VerbPreviewOperation}); len(a) < 2 || a[len(a)-1].Result != "ok" {
				t.Errorf("audit of the previews: %+v", a)
			}

			// By filter: the filter names the version; a second version's instance is left alone.
			data, err := os.ReadFile(filepath.Join("testdata", "usertask.bpmn"))
			noErr(t, err)
			dep, err := v.e.Deploy(v.ctx, "usertask.bpmn", append(data, "<!-- v2 -->"...))
			noErr(t, err)
			v2 := v.startInstance("usertask", nil) // runs v2, the latest
			if v2.DefinitionID != dep.Processes[0].Definition.ID {
				t.Fatalf("started %s, want the new version", v2.DefinitionID)
			}
			old, err := v.e.StartInstance(v.ctx, "usertask", engine.StartOptions{Version: 1})
			noErr(t, err)
			_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindModifyInstances, Instances: &command.InstanceSelection{DefinitionKey: "usertask"}, Steps: move})
			if cerr := wantCode(t, err, command.CodeInvalidInput); cerr != nil && !strings.Contains(cerr.Message, "usertask version 1: 1, usertask version 2: 1") {
				t.Errorf("two versions: %s", cerr.Message)
			}
			op, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindModifyInstances, Instances: &command.InstanceSelection{DefinitionID: v2.DefinitionID}, Steps: move})
			noErr(t, err)
			if op.Total != 1 {
				t.Fatalf("by definition: %+v", op)
			}
			wait.For(t, "second operation done", func() bool { return v.state(v2.ID) == store.InstanceCompleted })
			if s := v.state(old.ID); s != store.InstanceActive {
				t.Errorf("the first version's instance: %s", s)
			}
		})
	}
}
