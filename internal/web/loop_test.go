package web_test

import (
	"context"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestInstanceMultiInstance: the instance page shows a multi-instance body's counts on
// the diagram ("1/3": completed of all), counts only the inner instances as active, and
// lists the variables per scope: the process's, then the body's and each inner
// instance's locals (the element variable and the task's input mapping among them).
func TestInstanceMultiInstance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	defs, err := bpmn.Build("vote", bpmn.Name("Vote")).
		Start("start").
		UserTask("approve", bpmn.Name("Approve"), bpmn.Input("note", `"asked " + approver`),
			bpmn.ParallelMultiInstance(bpmn.LoopSpec{Collection: "approvers", ElementVariable: "approver"})).
		End("end").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.DeployModel(ctx, "vote.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	in, err := f.e.StartInstance(ctx, "vote", engine.StartOptions{Variables: map[string]any{"approvers": []any{"ann", "bob", "cid"}}})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := f.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 3 {
		t.Fatalf("%d open tasks (%v), want 3", len(tasks), err)
	}
	if err := f.e.CompleteUserTask(ctx, tasks[0].ID, nil); err != nil {
		t.Fatal(err)
	}
	p := f.get("/instances/" + in.ID)
	if b := p.want(t, 200, "badge-loop-approve", 1); attr(b[0], "data-text") != "1/3" {
		t.Errorf("loop badge %q, want 1/3", attr(b[0], "data-text"))
	}
	if b := p.want(t, 200, "badge-active-approve", 1); attr(b[0], "data-count") != "2" {
		t.Errorf("active badge %q, want 2 (the inner instances, not the body)", attr(b[0], "data-count"))
	}
	scopes := p.want(t, 200, "variable-scope", 3) // the body and the two open instances
	names := map[string]int{}
	for _, sc := range scopes {
		for _, row := range byTestID(sc, "variable-row") {
			names[attr(row, "data-name")]++
		}
	}
	if names["approver"] != 2 || names["note"] != 2 || names["loopCounter"] != 2 || names["nrOfInstances"] != 1 {
		t.Errorf("local variables by name: %v", names)
	}
	p.want(t, 200, "variable-scope-process", 1)
}
