package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// TestUnservedJobTypes: a model whose service task has a job type no handler serves
// deploys with a warning; the process page names the type before any job waits, then
// with its waiting jobs, and the instance page and the overview name it too. Once a
// handler serves the type, the notices go.
func TestUnservedJobTypes(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	ctx := context.Background()
	a.get("/").want(t, 200, "unserved", 0)
	defs, err := bpmn.Build("ship", bpmn.Name("Shipping")).
		Start("start").
		ServiceTask("label", bpmn.Name("Print label"), bpmn.JobType("print <label>")).
		End("end").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	data, err := bpmn.Marshal(defs)
	if err != nil {
		t.Fatal(err)
	}
	p, flash := a.wantRedirect(a.upload("ship.bpmn", data), "/processes/ship?version=1")
	if !strings.Contains(flash, "ship v1 (new version)") || !strings.Contains(flash, "Warning: 1 service task uses a job type that no handler serves") {
		t.Errorf("flash %q", flash)
	}
	types := p.want(t, 200, "unserved-type", 1)
	if attr(types[0], "data-type") != "print <label>" || !strings.Contains(text(types[0]), "no job waits yet") {
		t.Errorf("process page before a job: %q (%q)", text(types[0]), attr(types[0], "data-type"))
	}

	in, err := a.e.StartInstance(ctx, "ship", engine.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.StartInstance(ctx, "ship", engine.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{"/processes/ship", "2 jobs wait"},
		{"/instances/" + in.ID, "1 job waits"},
		{"/", "2 jobs wait"},
	} {
		pg := a.get(c.path)
		types := pg.want(t, 200, "unserved-type", 1)
		if attr(types[0], "data-type") != "print <label>" || !strings.Contains(text(types[0]), c.want) {
			t.Errorf("%s: %q, want %q", c.path, text(types[0]), c.want)
		}
		// The notice is a live fragment: live re-renders (which query it) send it.
		if slot := pg.want(t, 200, "unserved", 1)[0].Parent; slot == nil || attr(slot, "id") != "live-unserved" || !hasAttr(slot, "data-live") {
			t.Errorf("%s: the notice is not in the live-unserved fragment", c.path)
		}
	}
	// The pay process's "charge" has a handler: no page names it.
	a.get("/processes/pay").want(t, 200, "unserved", 0)

	a.e.Handle("print <label>", func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil })
	for _, path := range []string{"/processes/ship", "/instances/" + in.ID, "/"} {
		a.get(path).want(t, 200, "unserved", 0)
	}
}

// TestWorkersOnOverview: an external worker that asked for jobs is listed on the overview
// with its types and the jobs it holds, and the job type it serves is no longer flagged.
func TestWorkersOnOverview(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	ctx := context.Background()
	defs, err := bpmn.Build("ship").Start("start").ServiceTask("label", bpmn.JobType("print <label>")).End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.DeployModel(ctx, "ship.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.StartInstance(ctx, "ship", engine.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	a.get("/").want(t, 200, "workers", 0)
	a.get("/").want(t, 200, "unserved-type", 1)
	jobs, err := a.e.ActivateJobs(ctx, engine.ActivateRequest{Worker: "printer <1>", Types: []string{"print <label>"}, Max: 5,
		LockFor: time.Minute})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("activate: %v, %v", jobs, err)
	}
	pg := a.get("/")
	rows := pg.want(t, 200, "worker-row", 1)
	if attr(rows[0], "data-name") != "printer <1>" || !strings.Contains(text(rows[0]), "print <label>") {
		t.Errorf("worker row %q", text(rows[0]))
	}
	if n, f := text(pg.want(t, 200, "worker-inflight", 1)[0]), text(pg.want(t, 200, "worker-failures", 1)[0]); n != "1" || f != "0" {
		t.Errorf("worker in flight %q, failures %q; want 1 and 0", n, f)
	}
	pg.want(t, 200, "unserved", 0)
}
