package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBrowserModifyBulk: from the instance list filtered to a process, the operator
// opens "Modify all matching…", picks an element on the diagram, moves the tokens of
// every instance there, sees the preview (the items, a sample of instances and what the
// steps do to each), applies with a reason, and lands on the operation's page, which
// follows the operation live until every item is done.
func TestBrowserModifyBulk(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(e *engine.Engine) error {
		defs, err := bpmn.Build("approve", bpmn.Name("Approve")).Start("start").
			UserTask("check", bpmn.Name("Check")).UserTask("sign", bpmn.Name("Sign")).End("end").Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "approve.bpmn", defs)
		return err
	})
	const n = 12
	var ids []string
	for range n {
		in, err := s.e.StartInstance(context.Background(), "approve", engine.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	d := newDriver(t, browser)
	ctx, run, page, then := d.ctx, d.run, d.page, d.then
	click := clickJS

	run("open the list filtered to the process", chromedp.Navigate(s.url+"/instances?process=approve"),
		waitJS(`document.querySelector("[data-testid=modify-all-matching]") !== null`))
	then("Modify all matching…", click("[data-testid=modify-all-matching]"),
		`location.pathname === "/instances/modify" && document.querySelector('[data-diagram] [data-testid="badge-active-check"]') !== null
		&& document.querySelector("[data-testid=bulk-modify-running]").textContent === "12"`)
	then("pick Sign on the diagram", clickShape("sign"),
		`document.querySelector("[data-testid=modify-picked]") !== null && document.querySelector("#modify-element").value === "sign"`)
	then("move the tokens at Check there", click("[data-testid=modify-add-move]"),
		`document.querySelectorAll("[data-testid=modify-step]").length === 1 && document.querySelector("[data-testid=bulk-preview-total]") !== null`)
	run("the preview: the items, three samples, what the move does",
		waitJS(`document.querySelector("[data-testid=bulk-preview-total]").textContent.indexOf("12 instances of approve v1") >= 0
			&& document.querySelectorAll("[data-testid=bulk-sample]").length === 3
			&& document.querySelectorAll("[data-testid=bulk-sample] [data-testid=modify-effect-tokens-started]").length === 3
			&& document.querySelector("[data-testid=modify-step]").textContent.indexOf("Move the tokens at Check (check) to Sign (sign)") >= 0`))
	screenshot(t, ctx, "modify-bulk-preview")
	for _, id := range ids[:1] {
		if d, err := s.e.GetInstance(context.Background(), id); err != nil || len(d.Tokens) != 1 || d.Tokens[0].ElementID != "check" {
			t.Fatalf("the preview moved a token: %v", err)
		}
	}

	run("apply with a reason", chromedp.Evaluate[chromedp.Void](`document.querySelector("#modify-reason").value = "skip the check"`),
		click("[data-testid=modify-apply]"), waitJS(`document.querySelector("dialog.confirm-dialog").open`),
		click("[data-confirm-yes]"))
	page("the operation's page", `location.pathname.startsWith("/operations/") && document.querySelector("[data-testid=operation-items]") !== null`)
	page("every item done", `document.querySelector("[data-testid=bulk-progress]").dataset.state === "completed"
		&& document.querySelector("[data-testid=bulk-succeeded]").textContent === "12"`)
	screenshot(t, ctx, "modify-bulk-done")
	for _, id := range ids {
		d, err := s.e.GetInstance(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Tokens) != 1 || d.Tokens[0].ElementID != "sign" || d.Instance.State != store.InstanceActive {
			t.Errorf("instance %s: %d tokens, state %s", id, len(d.Tokens), d.Instance.State)
		}
	}
}
