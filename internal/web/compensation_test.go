package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestCompensationView: an instance that compensates shows it: while a handler runs, a
// "compensating" card; after, which activities were undone in which order, and a
// compensated badge on each of them in the diagram.
func TestCompensationView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, typ := range []string{"reserve", "release", "ship"} {
		f.e.Handle(typ, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			if j.Type == "ship" {
				return nil, engine.ThrowError("NO_CARRIER", "no carrier")
			}
			return nil, nil
		})
	}
	defs, err := bpmn.Build("saga", bpmn.Name("Saga")).Start("start").
		ServiceTask("reserve", bpmn.Name("Reserve stock"), bpmn.JobType("reserve")).
		CompensatedBy(func(h *bpmn.Builder) { h.ServiceTask("release", bpmn.Name("Release stock"), bpmn.JobType("release")) }).
		UserTask("confirm", bpmn.Name("Confirm order")).
		CompensatedBy(func(h *bpmn.Builder) { h.UserTask("unconfirm", bpmn.Name("Tell the customer")) }).
		ServiceTask("ship", bpmn.JobType("ship")).End("shipped").
		MoveTo("ship").BoundaryError("noCarrier", "NO_CARRIER").End("undone", bpmn.CompensationEnd("")).
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.DeployModel(ctx, "saga.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	in, err := f.e.StartInstance(ctx, "saga", engine.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	task := func(element string) *store.UserTask {
		tasks, err := f.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range tasks {
			if x.ElementID == element {
				return x
			}
		}
		return nil
	}
	f.waitFor("confirm task", func() bool { return task("confirm") != nil })
	if err := f.e.CompleteUserTask(ctx, task("confirm").ID, nil); err != nil {
		t.Fatal(err)
	}
	f.waitFor("unconfirm task", func() bool { return task("unconfirm") != nil })

	p := f.get("/instances/" + in.ID)
	p.want(t, 200, "compensating-pill", 1)
	rows := p.want(t, 200, "compensation-row", 1)
	if attr(rows[0], "data-state") != "undoing" || !strings.Contains(text(rows[0]), "Confirm order") {
		t.Errorf("row while compensating: %s %q", attr(rows[0], "data-state"), text(rows[0]))
	}

	if err := f.e.CompleteUserTask(ctx, task("unconfirm").ID, nil); err != nil {
		t.Fatal(err)
	}
	f.waitFor("instance completed", func() bool {
		d, err := f.e.GetInstance(ctx, in.ID)
		return err == nil && d.Instance.State == store.InstanceCompleted
	})
	p = f.get("/instances/" + in.ID)
	p.want(t, 200, "compensating-pill", 0)
	rows = p.want(t, 200, "compensation-row", 2)
	for i, want := range []string{"Confirm order", "Reserve stock"} {
		if attr(rows[i], "data-state") != "undone" || !strings.Contains(text(rows[i]), want) {
			t.Errorf("row %d: %s %q, want %s undone", i, attr(rows[i], "data-state"), text(rows[i]), want)
		}
	}
	p.want(t, 200, "badge-compensated-confirm", 1)
	p.want(t, 200, "badge-compensated-reserve", 1)
	p.want(t, 200, "badge-compensated-ship", 0)
}
