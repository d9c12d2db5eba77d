package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBrowserOperationsPanel: an operator cancels the running instances of a process in
// bulk from the web UI (a filter, a confirm page with the count, the confirmation); the
// operation's page and the operations panel, open in another tab before it started,
// follow its progress live to the end; the audit page and each instance's page show the
// entries.
func TestBrowserOperationsPanel(t *testing.T) {
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
	panel := tab(t, browser, s.url+"/operations")
	expect(t, panel, "no operations yet", `document.querySelector('[data-testid=operation-row]') === null`)

	// The bulk cancel, as a form on the instance list posts it: the filter, then the
	// confirm page (which carries the ids), then the confirmation.
	opCtx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := doSteps(opCtx,
		chromedp.Navigate(s.url+"/instances?process=approve"),
		chromedp.Evaluate[chromedp.Void](`(function () {
			var f = document.createElement("form");
			f.method = "post"; f.action = "/operations";
			for (const [k, v] of [["kind", "instance.cancel"], ["process", "approve"], ["reason", "cleanup after the test"]]) {
				var i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i);
			}
			document.body.appendChild(f); setTimeout(function () { f.submit(); }, 0);
		})()`),
		chromedp.WaitVisible(`[data-testid=confirm-page]`),
	); err != nil {
		t.Fatalf("post the bulk cancel: %v", err)
	}
	title, err := chromedp.Run(opCtx, chromedp.Evaluate[string](`document.querySelector("h1").textContent`))
	if err != nil || !strings.Contains(title, "Cancel 40 instances?") {
		t.Fatalf("confirm page title %q: %v", title, err)
	}
	screenshot(t, opCtx, "operations-confirm")
	if err := doSteps(opCtx,
		chromedp.Click(`[data-testid=confirm-yes]`),
		chromedp.WaitVisible(`[data-testid=operation-items]`),
		waitJS(`location.pathname.startsWith("/operations/") && document.querySelector("[data-live-status]").dataset.state === "live"`),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`),
	); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	// Throttled to 20 items a second: the page is open while the operation runs, and
	// follows it to the end without a reload.
	expect(t, opCtx, "operation completed", `document.querySelector("[data-testid=bulk-progress]").dataset.state === "completed"`)
	expect(t, opCtx, "all succeeded", `document.querySelector("[data-testid=bulk-succeeded]").textContent === "40"`)
	expect(t, opCtx, "items listed", `document.querySelectorAll("[data-testid=item-row][data-state=ok]").length === 40`)
	screenshot(t, opCtx, "operation-done")
	expect(t, panel, "the panel shows it, completed", `(function () {
		var r = document.querySelector("[data-testid=operation-row]");
		return r !== null && r.dataset.state === "completed" && r.querySelector("[data-testid=operation-progress]").textContent === "40/40";
	})()`)
	screenshot(t, panel, "operations-panel")
	for _, id := range ids {
		in, err := s.e.GetInstanceRow(ctx, id)
		if err != nil || in.State != store.InstanceCancelled {
			t.Fatalf("instance %s: %+v %v", id, in, err)
		}
	}

	// The audit log: the create and one row per instance; filtered to an instance, and on
	// the instance's own page.
	audit, cancelAudit := chromedp.NewContext(browser)
	t.Cleanup(cancelAudit)
	if err := doSteps(audit, chromedp.Navigate(s.url+"/audit?command=instance.cancel"),
		waitJS(`document.querySelectorAll("[data-testid=audit-row][data-command='instance.cancel']").length === 40`)); err != nil {
		t.Fatalf("the audit page lists an entry per instance: %v", err)
	}
	screenshot(t, audit, "audit")
	inst := tab(t, browser, s.url+"/instances/"+ids[0])
	expect(t, inst, "the instance's own entry", `(function () {
		var r = document.querySelectorAll("[data-testid=instance-audit] [data-testid=audit-row]");
		return r.length === 1 && r[0].dataset.command === "instance.cancel" && r[0].dataset.result === "ok";
	})()`)
	screenshot(t, inst, "instance-audit")
}
