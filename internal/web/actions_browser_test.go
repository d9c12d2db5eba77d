package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
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
		if err := doSteps(ctx, steps...); err != nil {
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
	// Polled from here: a poll in the page dies when a navigation replaces its context.
	rows := func(n int) func() bool {
		return func() bool {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`location.pathname.endsWith("/variables") && document.querySelectorAll("[data-testid=var-row]").length === %d`, n)))
			return err == nil && ok
		}
	}
	run("variable editor", chromedp.Navigate(a.srv.URL+"/instances/"+in.ID+"/variables"))
	a.waitFor("the editor's rows", rows(4))
	run("add a row", click("[data-var-add]"))
	a.waitFor("a row added", rows(5))
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

// TestBrowserDestructiveConfirmFocus: Enter, Enter on "Cancel instance" cancels nothing.
// The dialog of a destructive action gives the focus to "Go back", and so does the
// confirm page that browsers without script get (issue 10, point 21).
func TestBrowserDestructiveConfirmFocus(t *testing.T) {
	browser := newBrowser(t)
	a := newActions(t, actionsConfig{})
	in := a.startPay("E-1", false)

	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := doSteps(ctx, steps...); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").outerHTML`))
			t.Fatalf("%s: %v\n%.3000s", what, err, html)
		}
	}
	enter := chromedp.KeyEvent("\r")
	run("open the instance", chromedp.Navigate(a.srv.URL+"/instances/"+in.ID),
		waitJS(`document.querySelector("[data-testid=action-cancel]") !== null`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=action-cancel]").focus()`))

	run("Enter opens the dialog, with the focus on Go back", enter,
		waitJS(`(function () { var d = document.querySelector("dialog.confirm-dialog");
			return d !== null && d.open && document.activeElement === d.querySelector("[data-confirm-no]"); })()`))
	screenshot(t, ctx, "actions-cancel-dialog-focus")
	run("the second Enter goes back", enter,
		waitJS(`(function () { var d = document.querySelector("dialog.confirm-dialog"); return !d.open && d.returnValue === "no"; })()`))
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("Enter, Enter left the instance %s", st)
	}

	// A non-destructive question still offers its action first.
	run("suspend's dialog focuses Suspend",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=action-suspend]").focus()`), enter,
		waitJS(`(function () { var d = document.querySelector("dialog.confirm-dialog");
			return d.open && document.activeElement === d.querySelector("[data-confirm-yes]"); })()`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-confirm-no]").click()`),
		waitJS(`!document.querySelector("dialog.confirm-dialog").open`))

	// The confirm page (the post without confirm=yes, as a browser without script sends
	// it): "Go back" has the focus, and Enter follows it.
	// The page navigates; a poll running in it dies with it, so poll from here.
	afterNavigation := func(what, cond string) {
		t.Helper()
		a.waitFor(what, func() bool {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			return err == nil && ok
		})
	}
	run("the confirm page", chromedp.Evaluate[chromedp.Void](`(function () {
			var f = document.querySelector("[data-testid=action-cancel]").form;
			f.setAttribute("data-confirmed", "1");
			setTimeout(function () { f.requestSubmit(); }, 0); })()`))
	afterNavigation("the confirm page, with the focus on Go back", `document.querySelector("[data-testid=confirm-page]") !== null &&
		document.activeElement === document.querySelector("[data-testid=confirm-no]")`)
	screenshot(t, ctx, "actions-cancel-page-focus")
	run("Enter on the confirm page", enter)
	afterNavigation("back on the instance", `location.pathname === "/instances/`+in.ID+`" && document.querySelector("[data-testid=action-cancel]") !== null`)
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("Enter on the confirm page left the instance %s", st)
	}
}

// TestBrowserConfirmSurvivesLiveUpdate: a live update while the confirm dialog is open
// does not lose the confirmed action (issue 10, point 17). The swap waits until the
// dialog closes; and should the form be replaced anyway, the dialog posts the form it
// asked about.
func TestBrowserConfirmSurvivesLiveUpdate(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(e *engine.Engine) error {
		e.Handle("work", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
			// One message per instance: each incident is a group of its own, retried
			// one at a time (with a dialog).
			return nil, fmt.Errorf("order %v cannot be worked on", job.Variables["order"])
		})
		defs, err := bpmn.Build("fix", bpmn.Name("Fix me")).
			Start("start").
			ServiceTask("work", bpmn.Name("Do the work"), bpmn.JobType("work"), bpmn.Retries(1)).
			End("end").
			Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "fix.bpmn", defs)
		return err
	})
	ctx := context.Background()
	failing := func(order string) *store.Incident {
		t.Helper()
		in, err := s.e.StartInstance(ctx, "fix", engine.StartOptions{BusinessKey: order, Variables: map[string]any{"order": order}})
		if err != nil {
			t.Fatal(err)
		}
		var inc *store.Incident
		waitUntil(t, "the incident of "+order, func() bool {
			incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: in.ID, State: store.IncidentOpen})
			if err == nil && len(incs) == 1 {
				inc = incs[0]
			}
			return inc != nil
		})
		return inc
	}
	resolved := func(inc *store.Incident) bool {
		incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: inc.InstanceID})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range incs {
			if i.ID == inc.ID {
				return i.State == store.IncidentResolved
			}
		}
		return false
	}
	retryButton := func(order string) string {
		return `Array.from(document.querySelectorAll("[data-testid=incident-group]")).find(function (r) {
			return r.textContent.indexOf("order ` + order + ` ") >= 0; }).querySelector("[data-testid=group-retry]")`
	}
	openDialog := func(p context.Context, order string) {
		t.Helper()
		if err := doSteps(p,
			chromedp.Evaluate[chromedp.Void](`(function () { var b = `+retryButton(order)+`; setTimeout(function () { b.click(); }, 0); })()`),
			waitJS(`document.querySelector("dialog.confirm-dialog") !== null && document.querySelector("dialog.confirm-dialog").open`),
		); err != nil {
			t.Fatalf("open the dialog of %s: %v", order, err)
		}
	}
	confirm := func(p context.Context) {
		t.Helper()
		if err := doSteps(p, chromedp.Evaluate[chromedp.Void](
			`setTimeout(function () { document.querySelector("[data-confirm-yes]").click(); }, 0)`)); err != nil {
			t.Fatalf("confirm: %v", err)
		}
	}

	// A live update arrives while the dialog is open: it is held, the action runs.
	a := failing("A-1")
	page := tab(t, browser, s.url+"/incidents")
	openDialog(page, "A-1")
	failing("B-2") // a new incident group: the table is drawn again
	expect(t, page, "the update is held while the dialog is open",
		`document.querySelector("[data-live-src]").getAttribute("data-held") === "1" && document.querySelectorAll("[data-testid=incident-group]").length === 1`)
	screenshot(t, page, "actions-dialog-held-update")
	confirm(page)
	waitUntil(t, "the confirmed retry of A-1", func() bool { return resolved(a) })

	// Should the form be replaced anyway (a swap by another script), the dialog posts
	// the form it asked about.
	c := failing("C-3")
	page = tab(t, browser, s.url+"/incidents")
	openDialog(page, "C-3")
	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`(function () {
			var g = document.getElementById("live-incident-groups"); g.replaceWith(g.cloneNode(true)); })()`)); err != nil {
		t.Fatal(err)
	}
	confirm(page)
	waitUntil(t, "the confirmed retry of C-3 after its form was replaced", func() bool { return resolved(c) })
}

// TestBrowserBulkRetryOutcome: the group's bulk retry goes to the confirm page that
// counts the incidents, and the operation's page ends showing how many failed again,
// with a link to them (issue 10, point 18).
func TestBrowserBulkRetryOutcome(t *testing.T) {
	browser := newBrowser(t)
	a := newActions(t, actionsConfig{})
	for _, k := range []string{"F-1", "F-2", "F-3"} {
		a.startPay(k, true)
	}
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	// Each step navigates; a poll running in the page dies with it, so poll from here.
	until := func(what, cond string, before ...func()) {
		t.Helper()
		a.waitFor(what, func() bool {
			for _, f := range before {
				f()
			}
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			return err == nil && ok
		})
	}
	clickLater := func(sel string) {
		t.Helper()
		if err := doSteps(ctx, chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector(`+jsString(sel)+`).click(); }, 0)`)); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	if err := doSteps(ctx, chromedp.Navigate(a.srv.URL+"/incidents"),
		waitJS(`document.querySelector("[data-testid=group-retry-bulk]") !== null`)); err != nil {
		t.Fatal(err)
	}
	clickLater("[data-testid=group-retry-bulk]")
	until("the confirm page with the count", `document.querySelector("[data-testid=confirm-page]") !== null &&
		document.querySelector("h1").textContent === "Retry 3 incidents?" &&
		document.querySelectorAll("[data-testid=confirm-form] input[name=id]").length === 3 &&
		document.querySelector("dialog[open]") === null`)
	screenshot(t, ctx, "actions-bulk-confirm")
	clickLater("[data-testid=confirm-yes]")
	until("the operation's page", `location.pathname.indexOf("/operations/") === 0`)
	// This stack has no live updates: reload until the operation ended and its retried
	// steps failed again.
	reload := func() {
		_ = doSteps(ctx, chromedp.Reload())
	}
	until("the result, still failing counted", `(function () {
		var c = document.querySelector("[data-testid=bulk-progress]"), s = document.querySelector("[data-testid=bulk-still-failing]");
		return c !== null && c.dataset.state === "completed" && s !== null && s.textContent.trim().indexOf("3 ") === 0 &&
			document.querySelector("[data-testid=bulk-still-failing-link]") !== null; })()`, reload)
	screenshot(t, ctx, "actions-bulk-result")
}
