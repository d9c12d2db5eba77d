package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestBrowserActions drives chromium through the script side of the actions: the confirm
// <dialog> (going back changes nothing; confirming posts with confirm=yes and lands on
// the page with the flash banner), and the variable editor's "Add variable".
func TestBrowserActions(t *testing.T) {
	browser := newBrowser(t)
	a := newActions(t, actionsConfig{})
	in := a.startPay("D-1", true)

	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
			t.Fatalf("%s: %v\n%.3000s", what, err, html)
		}
	}
	click := func(sel string) chromedp.Action[chromedp.Void] {
		// Deferred, so a click that navigates does not cut off the evaluation.
		return chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector(` + jsString(sel) + `).click(); }, 0)`)
	}

	run("open the instance", chromedp.Navigate(a.srv.URL+"/instances/"+in.ID),
		waitJS(`document.querySelector("[data-testid=action-suspend]") !== null`))

	// Asking: the dialog opens with the form's question; "Go back" posts nothing.
	run("the dialog opens", click("[data-testid=action-suspend]"),
		waitJS(`(function () { var d = document.querySelector("dialog.confirm-dialog");
			return d !== null && d.open && d.querySelector(".confirm-message").textContent.indexOf("Suspend this instance?") === 0; })()`))
	screenshot(t, ctx, "actions-confirm-dialog")
	run("go back", click("[data-confirm-no]"), waitJS(`!document.querySelector("dialog.confirm-dialog").open`))
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("going back suspended: %s", st)
	}

	// Confirming: the post goes through, the page comes back with the banner.
	run("confirm", click("[data-testid=action-suspend]"), waitJS(`document.querySelector("dialog.confirm-dialog").open`),
		click("[data-confirm-yes]"))
	// The post navigates; a poll running in the page dies with it, so poll from here.
	a.waitFor("the page after the post, with its banner", func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () { var f = document.querySelector("[data-testid=flash]");
			return f !== null && f.getAttribute("role") === "status" && f.textContent.indexOf("Instance suspended") >= 0 &&
				document.querySelector("[data-testid=action-resume]") !== null; })()`))
		return err == nil && ok
	})
	if st := a.detail(in.ID).Instance.State; st != store.InstanceSuspended {
		t.Fatalf("state after the confirmed suspend: %s", st)
	}
	screenshot(t, ctx, "actions-flash")

	// The variable editor adds rows on demand.
	run("variable editor", chromedp.Navigate(a.srv.URL+"/instances/"+in.ID+"/variables"),
		waitJS(`document.querySelectorAll("[data-testid=var-row]").length === 4`),
		click("[data-var-add]"),
		waitJS(`document.querySelectorAll("[data-testid=var-row]").length === 5`))
	if name, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id + "/" + document.querySelectorAll("[data-var-template]").length + "/" + document.querySelectorAll("[data-testid=var-row]").length`)); err != nil || name != "var-add1-name/1/5" {
		t.Errorf("focus after adding a row: %q %v", name, err)
	}
	screenshot(t, ctx, "actions-variables")
}

func jsString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		if r == '"' || r == '\\' {
			b = append(b, '\\')
		}
		b = append(b, string(r)...)
	}
	return string(append(b, '"'))
}
