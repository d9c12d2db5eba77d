package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// TestBrowserMigration: an operator moves the 40 running instances of version 1 to
// version 2, where the user task they wait at has another id. From the process page,
// the migration page proposes a mapping by id and its preview refuses the 40 (their
// task has no target); the operator maps the task in the table, checks again, applies
// with a reason and follows the operation's progress live to the end.
func TestBrowserMigration(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(e *engine.Engine) error {
		defs, err := bpmn.Build("approve", bpmn.Name("Approve")).Start("start").UserTask("check", bpmn.Name("Check")).End("end").Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "approve.bpmn", defs)
		return err
	})
	ctx := context.Background()
	const n = 40
	var ids []string
	for range n {
		in, err := s.e.StartInstance(ctx, "approve", engine.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	v2, err := bpmn.Build("approve", bpmn.Name("Approve")).Start("start").UserTask("verify", bpmn.Name("Verify")).
		UserTask("archive", bpmn.Name("Archive")).End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.e.DeployModel(ctx, "approve.bpmn", v2); err != nil {
		t.Fatal(err)
	}

	d := newDriver(t, browser)
	tc, run, page := d.ctx, d.run, d.page
	click := clickJS

	run("open version 1", chromedp.Navigate(s.url+"/processes/approve?version=1"),
		waitJS(`document.querySelector("[data-testid=action-migrate]") !== null`))
	run("open the migration", click("[data-testid=action-migrate]"))
	page("the proposal and its preview", `location.pathname === "/processes/approve/migrate"
		&& document.querySelector('[data-testid=migrate-source-diagram] [data-testid="badge-active-check"]').textContent.trim() === "40"
		&& document.querySelector("[data-testid=migrate-refused]").textContent === "40"
		&& document.querySelector("[data-testid=migrate-apply-form]") === null`)
	screenshot(t, tc, "migrate-proposal")

	run("map the task to its new id", chromedp.Evaluate[chromedp.Void](`document.querySelector("#map-check").value = "check=verify"`),
		click("[data-testid=migrate-check]"))
	page("the edited mapping's preview", `document.querySelector("[data-testid=migrate-reset]") !== null
		&& document.querySelector("[data-testid=migrate-migratable]").textContent === "40"
		&& document.querySelector('[data-testid=migrate-target-diagram] [data-testid="badge-active-verify"]').textContent.trim() === "40"
		&& document.querySelector("[data-testid=migrate-effect-tokens]").textContent.indexOf("Check → Verify") >= 0`)
	screenshot(t, tc, "migrate-preview")

	run("apply with a reason", chromedp.Evaluate[chromedp.Void](`document.querySelector("#migrate-reason").value = "v2 renames the check"`),
		click("[data-testid=migrate-apply]"), waitJS(`document.querySelector("dialog.confirm-dialog").open`),
		click("[data-confirm-yes]"))
	page("the operation's page, live", `location.pathname.startsWith("/operations/")
		&& document.querySelector("[data-live-status]").dataset.state === "live"`)
	run("mark the page", chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`))
	// Throttled to 20 items a second: the page follows the progress without a reload.
	expect(t, tc, "operation completed", `document.querySelector("[data-testid=bulk-progress]").dataset.state === "completed"`)
	expect(t, tc, "all migrated", `document.querySelector("[data-testid=bulk-succeeded]").textContent === "40"
		&& document.querySelector("[data-testid=operation-migration]").textContent.indexOf("version 1 → version 2") >= 0`)
	screenshot(t, tc, "migrate-done")
	for _, id := range ids {
		d, err := s.e.GetInstance(ctx, id)
		if err != nil || d.Instance.DefinitionVersion != 2 || len(d.UserTasks) != 1 || d.UserTasks[0].ElementID != "verify" {
			t.Fatalf("instance %s after the migration: %+v %v", id, d, err)
		}
	}
}
