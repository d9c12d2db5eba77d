package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// migrateEnv deploys migrate_v1 and migrate_v2 (same process, version 1 and 2) and
// returns their definition ids.
func migrateEnv(t *testing.T, open func(t *testing.T) store.Store) (*env, string, string) {
	v := newEnv(t, open)
	v1 := v.deploy("migrate_v1.bpmn").Processes[0].Definition
	return v, v1.ID, ""
}

func deployV2(v *env) string {
	v.t.Helper()
	d := v.deploy("migrate_v2.bpmn").Processes[0].Definition
	if d.Version != 2 {
		v.t.Fatalf("migrate_v2 deployed as version %d, want 2", d.Version)
	}
	return d.ID
}

func mappingOf(p engine.MigrationPlan) map[string]string {
	m := map[string]string{}
	for _, mm := range p.Mapping {
		m[mm.From] = mm.To
	}
	return m
}

func withMapping(p engine.MigrationPlan, from, to string) engine.MigrationPlan {
	out := p
	out.Mapping = append(slices.Clone(p.Mapping), engine.MigrationMapping{From: from, To: to})
	return out
}

func jobAt(d *engine.InstanceDetail, element string) *store.Job {
	for _, j := range d.Jobs {
		if j.ElementID == element {
			return j
		}
	}
	return nil
}

// TestMigrateWaitStates migrates instances waiting at a user task inside a subprocess, a
// service task's job, a message catch and a timer catch from v1 to v2, and each goes on
// by v2's flows; ids, due dates and subscriptions are kept, v2's boundary timer is armed,
// live token counts move.
func TestMigrateWaitStates(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v, v1, _ := migrateEnv(t, open)
		var charged []string
		v.e.Handle("charge2", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			charged = append(charged, j.ElementID)
			return nil, nil
		})
		v.start()
		sub := v.startInstance("migrate", map[string]any{"at": "sub"})
		charge := v.startInstance("migrate", map[string]any{"at": "charge"})
		wait := v.startInstance("migrate", map[string]any{"at": "wait", "orderId": "o-1"})
		pause := v.startInstance("migrate", map[string]any{"at": "pause"})
		if err := v.e.ClaimUserTask(v.ctx, v.openTask(sub.ID, "review").ID, "ada"); err != nil {
			t.Fatal(err)
		}
		v2 := deployV2(v)

		prop, err := v.e.ProposeMigration(v.ctx, v1, v2)
		if err != nil {
			t.Fatalf("propose: %v", err)
		}
		m := mappingOf(prop.Plan)
		for _, id := range []string{"sub", "review", "charge", "wait", "pause", "gw", "start", "end"} {
			if m[id] != id {
				t.Errorf("proposal maps %q to %q, want itself", id, m[id])
			}
		}
		if _, ok := m["old"]; ok {
			t.Error("proposal maps old, which v2 does not have")
		}
		var unmapped []string
		for _, u := range prop.Unmapped {
			unmapped = append(unmapped, u.ElementID)
		}
		sameList(t, "unmapped", unmapped, "old")
		if !slices.Contains(prop.Added, "reviewTimeout") || !slices.Contains(prop.Added, "newTask") {
			t.Errorf("added %v, want reviewTimeout and newTask among them", prop.Added)
		}
		if prop.SourceVersion != 1 || prop.TargetVersion != 2 {
			t.Errorf("versions %d → %d", prop.SourceVersion, prop.TargetVersion)
		}

		before := v.detail(sub.ID)
		task := v.openTask(sub.ID, "review")
		pauseJob := jobAt(v.detail(pause.ID), "pause")
		chargeJob := jobAt(v.detail(charge.ID), "charge")
		if pauseJob == nil || chargeJob == nil {
			t.Fatal("no pause timer or charge job before the migration")
		}

		// The preview says what happens and writes nothing.
		pre, err := v.e.PreviewMigration(v.ctx, sub.ID, prop.Plan)
		if err != nil {
			t.Fatalf("preview: %v", err)
		}
		if pre.Applied || !slices.Equal(pre.BoundaryEventsArmed, []string{"reviewTimeout"}) || len(pre.Tasks) != 1 {
			t.Fatalf("preview: %+v", pre)
		}
		if d := v.detail(sub.ID); d.Instance.DefinitionID != v1 || len(d.Jobs) != 0 {
			t.Fatalf("the preview wrote: definition %s, jobs %d", d.Instance.DefinitionID, len(d.Jobs))
		}

		opts := engine.MigrateOptions{Actor: "alice", Reason: "v2 fixes the charge"}
		results := map[string]*engine.MigrationResult{}
		for _, in := range []*store.Instance{sub, charge, wait, pause} {
			res, err := v.e.Migrate(v.ctx, in.ID, prop.Plan, opts)
			if err != nil {
				t.Fatalf("migrate %s: %v", in.ID, err)
			}
			if !res.Applied || res.Source != v1 || res.Target != v2 {
				t.Fatalf("migrate %s: %+v", in.ID, res)
			}
			results[in.ID] = res
		}

		// The user task in the subprocess: same token and task ids, assignee kept, the
		// boundary timer of v2 armed on the task's token.
		after := v.detail(sub.ID)
		if after.Instance.DefinitionID != v2 || after.Instance.DefinitionVersion != 2 {
			t.Fatalf("instance after migration: %+v", after.Instance)
		}
		sameTokens := func(a, b []*store.Token) bool {
			ids := func(ts []*store.Token) []string {
				var out []string
				for _, t := range ts {
					out = append(out, t.ID)
				}
				slices.Sort(out)
				return out
			}
			return slices.Equal(ids(a), ids(b))
		}
		if !sameTokens(before.Tokens, after.Tokens) {
			t.Fatalf("token ids changed: %v → %v", before.Tokens, after.Tokens)
		}
		task2 := v.openTask(sub.ID, "review")
		if task2.ID != task.ID || task2.Assignee != "ada" {
			t.Fatalf("task after migration: %+v (before %+v)", task2, task)
		}
		bt := jobAt(after, "reviewTimeout")
		if bt == nil || bt.DefinitionID != v2 || !bt.DueAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("boundary timer of v2: %+v", bt)
		}
		var migrated *store.Event
		for _, ev := range after.History {
			if ev.Type == event.InstanceMigrated {
				migrated = ev
			}
		}
		if migrated == nil || migrated.DefinitionID != v2 {
			t.Fatalf("instance.migrated: %+v", migrated)
		}
		var data map[string]any
		if err := json.Unmarshal(migrated.Data, &data); err != nil {
			t.Fatal(err)
		}
		if data[event.FieldActor] != "alice" || data["sourceDefinitionId"] != v1 || data["targetDefinitionId"] != v2 ||
			data["targetVersion"] != float64(2) {
			t.Fatalf("instance.migrated data: %v", data)
		}
		// Completing the task goes on by v2: the subprocess ends into v2's "done".
		if err := v.e.CompleteUserTask(v.ctx, task.ID, nil); err != nil {
			t.Fatal(err)
		}
		sameList(t, "sub after the task", v.tokensAt(sub.ID), "done")

		// The job keeps its id, takes v2's type (the executor may have run it already),
		// and its completion continues on v2.
		if js := results[charge.ID].Jobs; len(js) != 1 || js[0].ID != chargeJob.ID || js[0].Kind != "charge2" {
			t.Fatalf("charge job after migration: %+v", js)
		}
		v.e.Wake()
		v.waitFor("charge on v2", func() bool { return slices.Equal(v.tokensAt(charge.ID), []string{"charged"}) })

		// The subscription keeps its id; the message moves the instance on v2.
		if _, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "paid", CorrelationKey: "o-1"}); err != nil {
			t.Fatalf("correlate: %v", err)
		}
		sameList(t, "wait after the message", v.tokensAt(wait.ID), "afterWait")

		// The timer keeps its id and due date and fires into v2's flow.
		pj := jobAt(v.detail(pause.ID), "pause")
		if pj == nil || pj.ID != pauseJob.ID || !pj.DueAt.Equal(pauseJob.DueAt) || pj.DefinitionID != v2 {
			t.Fatalf("pause timer after migration: %+v (before %+v)", pj, pauseJob)
		}
		v.advance(61 * time.Minute)
		v.waitFor("pause fired on v2", func() bool { return slices.Equal(v.tokensAt(pause.ID), []string{"afterPause"}) })

		// Live token counts moved with the instances.
		c1, err := v.e.CountTokens(v.ctx, v1)
		if err != nil {
			t.Fatal(err)
		}
		if len(c1) != 0 {
			t.Errorf("tokens left on v1: %v", c1)
		}
		c2, err := v.e.CountTokens(v.ctx, v2)
		if err != nil {
			t.Fatal(err)
		}
		if c2["done"] != 1 || c2["charged"] != 1 || c2["afterWait"] != 1 || c2["afterPause"] != 1 {
			t.Errorf("tokens on v2: %v", c2)
		}
		if len(charged) != 1 {
			t.Errorf("charge2 ran %d times", len(charged))
		}
	})
}

// TestMigrateRefusals: an instance with a token on an element without a target is
// refused with nothing written; mapping the element lets it migrate. A selection
// preview groups the refusals. Plans that break the models are refused by name.
func TestMigrateRefusals(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v, v1, _ := migrateEnv(t, open)
		old := v.startInstance("migrate", map[string]any{"at": "old"})
		old2 := v.startInstance("migrate", map[string]any{"at": "old"})
		ok := v.startInstance("migrate", map[string]any{"at": "sub"})
		v2 := deployV2(v)
		other := v.startInstance("migrate", map[string]any{"at": "sub"}) // already v2
		prop, err := v.e.ProposeMigration(v.ctx, v1, v2)
		if err != nil {
			t.Fatal(err)
		}

		_, err = v.e.Migrate(v.ctx, old.ID, prop.Plan, engine.MigrateOptions{})
		var me *engine.MigrationError
		if !errors.As(err, &me) || !errors.Is(err, engine.ErrInvalidState) {
			t.Fatalf("migrate at old: %v, want a MigrationError", err)
		}
		codes := map[string]string{}
		for _, r := range me.Refusals {
			codes[r.Code] = r.ElementID
		}
		if codes[engine.MigrationUnmappedToken] != "old" || codes[engine.MigrationUnmappedWait] != "old" {
			t.Fatalf("refusals %+v, want the token and the task at old", me.Refusals)
		}
		d := v.detail(old.ID)
		if d.Instance.DefinitionID != v1 || d.Instance.Version != 1 && d.Instance.DefinitionVersion != 1 {
			t.Fatalf("a refused migration wrote: %+v", d.Instance)
		}
		for _, ev := range d.History {
			if ev.Type == event.InstanceMigrated {
				t.Fatal("a refused migration wrote instance.migrated")
			}
		}

		// The selection preview groups by reason.
		sel, err := v.e.PreviewMigrationSelection(v.ctx, prop.Plan, []string{old.ID, old2.ID, ok.ID, other.ID, "nope"})
		if err != nil {
			t.Fatal(err)
		}
		if sel.Selected != 5 || sel.Checked != 4 || sel.Migratable != 1 || sel.Refused != 4 {
			t.Fatalf("selection preview: %+v", sel)
		}
		byCode := map[string]engine.MigrationReasonCount{}
		for _, r := range sel.Reasons {
			byCode[r.Code+"/"+r.ElementID] = r
		}
		if r := byCode[engine.MigrationUnmappedToken+"/old"]; r.Instances != 2 || len(r.Examples) != 2 {
			t.Fatalf("unmapped token reason: %+v (all %+v)", r, sel.Reasons)
		}
		if r := byCode[engine.MigrationOtherDefinition+"/"]; r.Instances != 1 || r.Examples[0] != other.ID {
			t.Fatalf("other definition reason: %+v", r)
		}
		if r := byCode[engine.MigrationNotFound+"/"]; r.Instances != 1 {
			t.Fatalf("not found reason: %+v", r)
		}
		var oldCount engine.MigrationElementCount
		for _, c := range sel.Elements {
			if c.ElementID == "old" {
				oldCount = c
			}
		}
		if oldCount.Tokens != 2 || oldCount.To != "" {
			t.Fatalf("element count of old: %+v", oldCount)
		}

		// Renaming old to newTask (an edited plan) lets it migrate.
		edited := withMapping(prop.Plan, "old", "newTask")
		res, err := v.e.Migrate(v.ctx, old.ID, edited, engine.MigrateOptions{})
		if err != nil {
			t.Fatalf("migrate with old → newTask: %v", err)
		}
		if len(res.Tasks) != 1 || res.Tasks[0].From != "old" || res.Tasks[0].To != "newTask" {
			t.Fatalf("tasks: %+v", res.Tasks)
		}
		sameList(t, "tokens after rename", v.tokensAt(old.ID), "newTask")
		if err := v.e.CompleteUserTask(v.ctx, v.openTask(old.ID, "newTask").ID, nil); err != nil {
			t.Fatal(err)
		}
		if s := v.state(old.ID); s != store.InstanceCompleted {
			t.Fatalf("state after newTask: %s", s)
		}

		// Migrating again from v1 is refused: the instance runs v2 now.
		if _, err := v.e.Migrate(v.ctx, ok.ID, prop.Plan, engine.MigrateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = v.e.Migrate(v.ctx, ok.ID, prop.Plan, engine.MigrateOptions{})
		if !errors.As(err, &me) || me.Refusals[0].Code != engine.MigrationOtherDefinition {
			t.Fatalf("second migration: %v", err)
		}

		// Plans that break the models.
		bad := []struct {
			name string
			plan engine.MigrationPlan
			elem string
		}{
			{"kind", engine.MigrationPlan{Source: v1, Target: v2, Mapping: []engine.MigrationMapping{{From: "old", To: "charge"}}}, "old"},
			{"scope", engine.MigrationPlan{Source: v1, Target: v2, Mapping: []engine.MigrationMapping{{From: "sub", To: "sub"}, {From: "review", To: "done"}}}, "review"},
			{"no scope", engine.MigrationPlan{Source: v1, Target: v2, Mapping: []engine.MigrationMapping{{From: "review", To: "review"}}}, "review"},
			{"missing", engine.MigrationPlan{Source: v1, Target: v2, Mapping: []engine.MigrationMapping{{From: "old", To: "nothing"}}}, "old"},
			{"twice", engine.MigrationPlan{Source: v1, Target: v2, Mapping: []engine.MigrationMapping{{From: "old", To: "newTask"}, {From: "old", To: "done"}}}, "old"},
		}
		for _, b := range bad {
			err := v.e.CheckMigrationPlan(v.ctx, b.plan)
			var pe *engine.MigrationPlanError
			if !errors.As(err, &pe) || !errors.Is(err, engine.ErrInvalidInput) {
				t.Fatalf("%s: %v, want a MigrationPlanError", b.name, err)
			}
			if pe.Problems[0].ElementID != b.elem {
				t.Errorf("%s: problems %+v, want one naming %q", b.name, pe.Problems, b.elem)
			}
			if _, err := v.e.Migrate(v.ctx, old2.ID, b.plan, engine.MigrateOptions{}); !errors.As(err, &pe) {
				t.Errorf("%s: migrate %v, want the plan refused", b.name, err)
			}
		}
		if err := v.e.CheckMigrationPlan(v.ctx, prop.Plan); err != nil {
			t.Fatalf("the proposal does not check: %v", err)
		}
	})
}
