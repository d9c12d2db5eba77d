package command_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestMigrationOverNATS: migration.propose proposes a plan from version 1 to 2 (the
// renamed task left out), the edited plan is previewed over the whole version
// (migration.preview: the suspended instance refused, by reason), one instance is
// migrated by instance.migrate, one refused, and operation.create with kind
// instance.migrate migrates the rest, the suspended one failing alone; every command is
// audited, and a plan that breaks the models is refused before anything is stored.
func TestMigrationOverNATS(t *testing.T) {
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
				Kinds: []operation.Kind{operation.MigrateInstances(v.e)}, Logger: slog.New(slog.DiscardHandler)})
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
			v1 := v.detail(ids[0]).Instance.DefinitionID
			noErr(t, v.e.SuspendInstance(v.ctx, ids[2]))
			data, err := os.ReadFile(filepath.Join("testdata", "usertask.bpmn"))
			noErr(t, err)
			dep, err := v.e.Deploy(v.ctx, "usertask.bpmn", []byte(strings.ReplaceAll(string(data), `"approve"`, `"check"`)))
			noErr(t, err)
			v2 := dep.Processes[0].Definition.ID

			prop, err := v.client.ProposeMigration(v.ctx, command.ProposeMigrationRequest{Meta: meta("ann"),
				SourceDefinitionID: v1, TargetDefinitionID: v2})
			noErr(t, err)
			if len(prop.Unmapped) != 1 || prop.Unmapped[0].ElementID != "approve" || !prop.Unmapped[0].Waits ||
				!slices.Equal(prop.Added, []string{"check"}) {
				t.Fatalf("proposal: %+v", prop)
			}
			plan := prop.Plan
			plan.Mapping = append(plan.Mapping, engine.MigrationMapping{From: "approve", To: "check"})

			// The preview over the whole version: the suspended instance is refused.
			pre, err := v.client.PreviewMigration(v.ctx, command.PreviewMigrationRequest{Meta: meta("ann"), Plan: plan})
			noErr(t, err)
			if pre.Total != 4 || pre.Migratable != 3 || pre.Refused != 1 || len(pre.Reasons) != 1 ||
				pre.Reasons[0].Code != engine.MigrationNotActive || pre.Reasons[0].Examples[0] != ids[2] {
				t.Fatalf("preview: %+v", pre)
			}
			if len(pre.Samples) != 1 || pre.Samples[0].Result == nil || len(pre.Samples[0].Result.Tasks) != 1 ||
				pre.Samples[0].Result.Tasks[0].To != "check" {
				t.Fatalf("preview sample: %+v", pre.Samples)
			}
			if len(pre.Elements) != 1 || pre.Elements[0].ElementID != "approve" || pre.Elements[0].Tokens != 4 || pre.Elements[0].To != "check" {
				t.Fatalf("preview elements: %+v", pre.Elements)
			}

			// A bounded check: two of the four checked, the total still four.
			pre, err = v.client.PreviewMigration(v.ctx, command.PreviewMigrationRequest{Meta: meta("ann"), Plan: plan, Check: 2})
			noErr(t, err)
			if pre.Total != 4 || pre.Selected != 4 || pre.Checked != 2 || pre.Migratable+pre.Refused != 2 {
				t.Fatalf("bounded preview: total %d selected %d checked %d migratable %d refused %d",
					pre.Total, pre.Selected, pre.Checked, pre.Migratable, pre.Refused)
			}
			_, err = v.client.PreviewMigration(v.ctx, command.PreviewMigrationRequest{Meta: meta("ann"), Plan: plan, Check: engine.MaxMigrationPreview + 1})
			wantCode(t, err, command.CodeInvalidInput)

			// One instance: previewed, migrated, audited; the unedited plan is refused.
			one, err := v.client.PreviewMigrateInstance(v.ctx, command.MigrateInstanceRequest{Meta: meta("ann"), InstanceID: ids[0], Plan: plan})
			noErr(t, err)
			if one.Applied || v.detail(ids[0]).Instance.DefinitionID != v1 {
				t.Fatalf("instance preview: %+v", one)
			}
			one, err = v.client.MigrateInstance(v.ctx, command.MigrateInstanceRequest{Meta: meta("ann"), InstanceID: ids[0], Plan: plan})
			noErr(t, err)
			if !one.Applied || v.detail(ids[0]).Instance.DefinitionID != v2 {
				t.Fatalf("instance migration: %+v", one)
			}
			if a := v.lastAudit(ids[0]); a == nil || a.Command != command.VerbMigrateInstance || a.Result != "ok" || a.Actor != "ann" {
				t.Errorf("audit of instance.migrate: %+v", a)
			}
			_, err = v.client.MigrateInstance(v.ctx, command.MigrateInstanceRequest{Meta: meta("ann"), InstanceID: ids[1], Plan: prop.Plan})
			if cerr := wantCode(t, err, command.CodeInvalidState); cerr != nil && !strings.Contains(cerr.Message, `"approve", which has no target`) {
				t.Errorf("refused migration: %s", cerr.Message)
			}

			// Plans that break the models, refused before anything is stored.
			bad := plan
			bad.Mapping = []engine.MigrationMapping{{From: "approve", To: "end"}}
			_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindMigrateInstances, Plan: &bad})
			if cerr := wantCode(t, err, command.CodeInvalidInput); cerr != nil && !strings.Contains(cerr.Message, `"approve" is a userTask, the target "end" a endEvent`) {
				t.Errorf("bad plan: %s", cerr.Message)
			}
			_, err = v.client.PreviewMigration(v.ctx, command.PreviewMigrationRequest{Meta: meta("ann"), Plan: bad})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindMigrateInstances})
			wantCode(t, err, command.CodeInvalidInput)
			_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"), Kind: operation.KindMigrateInstances,
				Plan: &plan, Instances: &command.InstanceSelection{DefinitionID: v2}})
			wantCode(t, err, command.CodeInvalidInput)

			// The operation over the rest of version 1: the suspended instance fails alone.
			op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindMigrateInstances, Plan: &plan})
			noErr(t, err)
			if op.Total != 3 {
				t.Fatalf("operation: %+v", op)
			}
			wait.For(t, "operation done", func() bool {
				got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID})
				return err == nil && got.State == store.OperationCompleted
			})
			got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID, Items: true})
			noErr(t, err)
			if got.Succeeded != 2 || got.Failed != 1 {
				t.Fatalf("operation: %+v", got)
			}
			for _, it := range got.Items {
				if it.Target == ids[2] && (it.Code != "invalid_state" || !strings.Contains(it.Error, "suspended")) {
					t.Errorf("suspended item: %+v", it)
				}
			}
			for i, id := range ids {
				want := v2
				if i == 2 {
					want = v1
				}
				if d := v.detail(id).Instance.DefinitionID; d != want {
					t.Errorf("instance %d runs %s, want %s", i, d, want)
				}
			}
			for _, verb := range []string{command.VerbProposeMigration, command.VerbPreviewMigration, command.VerbPreviewMigrate} {
				if a := v.audit(store.AuditFilter{Command: verb}); len(a) == 0 {
					t.Errorf("no audit row of %s", verb)
				}
			}
		})
	}
}
