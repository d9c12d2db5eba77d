package web_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// editsStack is a stack with one process: a failing service task with one retry, then a
// user task. "fail" set makes the job fail into an incident.
func editsStack(t *testing.T) *stack {
	t.Helper()
	return newStack(t, func(e *engine.Engine) error {
		e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
			if job.Variables["fail"] == true {
				return nil, errors.New("card declined")
			}
			return map[string]any{"charged": true}, nil
		})
		defs, err := bpmn.Build("order", bpmn.Name("Order")).
			Start("start", bpmn.Name("Placed")).
			ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
			UserTask("review", bpmn.Name("Review order")).
			End("end", bpmn.Name("Done")).
			Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "order.bpmn", defs)
		return err
	})
}

// TestBrowserElementFilter: a click on a diagram element of the instance page shows
// only the history rows, variables and incidents of that element (with a bar naming it
// and the counts); the filter stays through a live update, a second click and "Show
// all" clear it, and ?element= in the URL keeps it over a reload.
func TestBrowserElementFilter(t *testing.T) {
	browser := newBrowser(t)
	s := editsStack(t)
	ctx := context.Background()
	in, err := s.e.StartInstance(ctx, "order", engine.StartOptions{Variables: map[string]any{"fail": true, "amount": 5}})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the incident", func() bool {
		incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: in.ID, State: store.IncidentOpen})
		return err == nil && len(incs) == 1
	})
	page := tab(t, browser, s.url+"/instances/"+in.ID)
	visible := func(sel string) string {
		return `Array.from(document.querySelectorAll("` + sel + `")).filter(function (e) { return e.offsetParent !== null; })`
	}
	expect(t, page, "all rows shown at first", visible("[data-testid=history-row]")+`.length > 4 && document.querySelector("[data-element-filter-bar]").hidden`)

	click := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`document.querySelector('.diagram svg g[data-element-id="` + id + `"]')
			.dispatchEvent(new MouseEvent("click", {bubbles: true}))`)
	}
	if err := doSteps(page, click("charge")); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "only the charge element's rows",
		visible("[data-testid=history-row]")+`.every(function (e) { return e.getAttribute("data-element-id") === "charge"; }) && `+
			visible("[data-testid=history-row]")+`.length >= 3 && `+
			visible("[data-testid=incident]")+`.length === 1 && `+
			visible("[data-testid=variable-row]")+`.length === 0 && `+
			`!document.querySelector("[data-element-filter-bar]").hidden && `+
			`document.querySelector("[data-element-filter-name]").textContent === "Charge card" && `+
			`document.querySelector("[data-element-filter-counts]").textContent.indexOf("1 incident") >= 0 && `+
			`new URL(location.href).searchParams.get("element") === "charge" && `+
			`document.querySelector('.diagram svg g[data-element-id="charge"]').classList.contains("is-selected")`)
	screenshot(t, page, "element-filter")

	// A live update (a variable set at the incident's retry, at the charge element)
	// swaps fragments in: the filter holds, and the new rows of the element show.
	before, err := chromedp.Run(page, chromedp.Evaluate[float64](visible("[data-testid=history-row]")+`.length`))
	if err != nil {
		t.Fatal(err)
	}
	incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{InstanceID: in.ID, State: store.IncidentOpen})
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v %v", incs, err)
	}
	if err := s.e.RetryIncident(ctx, incs[0].ID, engine.RetryOptions{Variables: map[string]any{"fail": false}}); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "after the live update: still filtered, with the new rows",
		visible("[data-testid=history-row]")+`.length > `+strconv.Itoa(int(before))+` && `+
			visible("[data-testid=history-row]")+`.every(function (e) { return e.getAttribute("data-element-id") === "charge"; }) && `+
			visible("[data-testid=incident]")+`.map(function (e) { return e.getAttribute("data-state"); }).join() === "resolved" && `+
			// fail was set by the retry, charged by the job, both at the charge element;
			// amount (set at the start) is not the element's.
			visible("[data-testid=variable-row]")+`.map(function (e) { return e.getAttribute("data-name"); }).sort().join() === "charged,fail"`)

	// Another element, then the same one again: cleared.
	if err := doSteps(page, click("review")); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "the review task's rows", visible("[data-testid=history-row]")+`.length >= 2 && `+
		visible("[data-testid=history-row]")+`.every(function (e) { return e.getAttribute("data-element-id") === "review"; }) && `+
		visible("[data-testid=task-row]")+`.length === 1`)
	if err := doSteps(page, click("review")); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "a second click clears", `document.querySelector("[data-element-filter-bar]").hidden && `+
		`document.querySelectorAll(".is-filtered-out").length === 0 && new URL(location.href).searchParams.get("element") === null`)

	// The URL keeps a filter over a reload; "Show all" clears it.
	if err := doSteps(page, chromedp.Navigate(s.url+"/instances/"+in.ID+"?element=charge"),
		waitJS(`!document.querySelector("[data-element-filter-bar]").hidden`),
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "filtered after load", visible("[data-testid=history-row]")+`.every(function (e) { return e.getAttribute("data-element-id") === "charge"; })`)
	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-element-filter-clear]").click()`)); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "Show all", `document.querySelectorAll(".is-filtered-out").length === 0 && document.querySelector("[data-element-filter-bar]").hidden`)
}

// listAudit reads the audit rows of a target, newest first.
func listAudit(s *stack, target string) ([]*store.AuditEntry, error) {
	var rows []*store.AuditEntry
	err := s.e.Store().Read(context.Background(), func(tx store.Tx) error {
		var err error
		rows, err = tx.ListAudit(context.Background(), store.AuditFilter{Target: target})
		return err
	})
	return rows, err
}

// TestBrowserClaimUnclaim: the task list's Claim button assigns the task to the
// operator, the instance page (live) shows the new assignee without a reload, the task
// page's Unclaim (after its dialog) gives it back, and "Assign" hands it to a name;
// each is audited.
func TestBrowserClaimUnclaim(t *testing.T) {
	browser := newBrowser(t)
	s := editsStack(t)
	ctx := context.Background()
	in, err := s.e.StartInstance(ctx, "order", engine.StartOptions{BusinessKey: "O-1"})
	if err != nil {
		t.Fatal(err)
	}
	var task *store.UserTask
	waitUntil(t, "the user task", func() bool {
		tasks, err := s.e.ListUserTasks(ctx, store.UserTaskFilter{InstanceID: in.ID, State: store.TaskOpen})
		if err == nil && len(tasks) == 1 {
			task = tasks[0]
		}
		return task != nil
	})
	assignee := func() string {
		d, err := s.e.GetUserTask(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.Task.Assignee
	}

	watch := tab(t, browser, s.url+"/instances/"+in.ID)
	expect(t, watch, "the instance page shows the task unassigned",
		`document.querySelector("[data-testid=instance-tasks] [data-testid=task-row]").textContent.indexOf("unassigned") >= 0`)

	list, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	deferredClick := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector(` + jsString(sel) + `).click(); }, 0)`)
	}
	if err := doSteps(list, chromedp.Navigate(s.url+"/tasks"),
		waitJS(`document.querySelector("[data-testid=task-claim]") !== null`),
		deferredClick("[data-testid=task-claim]")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the claim", func() bool { return assignee() == "web" })
	// The post navigates; a poll running in the page dies with it, so poll from here.
	pollPage(t, list, "the list after the claim", `document.querySelector("[data-testid=flash]") !== null &&
		document.querySelector("[data-testid=flash]").textContent.indexOf("Task assigned to web") >= 0 &&
		document.querySelector("[data-testid=task-unclaim]") !== null && location.pathname === "/tasks"`)
	screenshot(t, list, "tasks-claimed")
	expect(t, watch, "the instance page shows the assignee live",
		`document.querySelector("[data-testid=instance-tasks] [data-testid=task-row]").textContent.indexOf("web") >= 0`)

	// Unclaim on the task page asks first.
	if err := doSteps(list, chromedp.Navigate(s.url+"/tasks/"+task.ID),
		waitJS(`document.querySelector("[data-testid=task-assignee]").textContent.trim() === "web"`),
		deferredClick("[data-testid=task-unclaim]"),
		waitJS(`document.querySelector("dialog.confirm-dialog") !== null && document.querySelector("dialog.confirm-dialog").open`),
		deferredClick("[data-confirm-yes]")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the unclaim", func() bool { return assignee() == "" })
	expect(t, watch, "the instance page shows it unassigned again",
		`document.querySelector("[data-testid=instance-tasks] [data-testid=task-row]").textContent.indexOf("unassigned") >= 0`)

	// Assign to a name.
	pollPage(t, list, "the task page after the unclaim", `document.querySelector("[data-testid=task-claim]") !== null && document.querySelector("[data-testid=task-assignee-input]") !== null`)
	if err := doSteps(list, chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=task-assignee-input]").value = "bob"`),
		deferredClick("[data-testid=task-assign]")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reassignment", func() bool { return assignee() == "bob" })
	pollPage(t, list, "the task page after the assignment", `document.querySelector("[data-testid=task-assignee]") !== null &&
		document.querySelector("[data-testid=task-assignee]").textContent.trim() === "bob"`)
	screenshot(t, list, "task-assigned")

	var rows []*store.AuditEntry
	waitUntil(t, "three audit rows", func() bool {
		rows, err = listAudit(s, task.ID)
		return err == nil && len(rows) == 3
	})
	var got []string
	for _, r := range rows {
		got = append(got, r.Command+":"+r.Actor+":"+r.Result)
	}
	if want := "task.assign:web:ok,task.unclaim:web:ok,task.claim:web:ok"; strings.Join(got, ",") != want {
		t.Errorf("audit %v, want %s", got, want)
	}
}

// pollPage waits for a condition on a page that may be navigating (a form post): each
// check is its own evaluation, so one cut off by the navigation is just tried again.
func pollPage(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		return err == nil && ok
	})
}

// TestBrowserInstanceSelection: rows checked in the instance list stay checked when a
// live update redraws the list, the bar counts them and enables its buttons, and its
// cancel (after the server's confirm page) creates an operation that cancels exactly the
// checked rows.
func TestBrowserInstanceSelection(t *testing.T) {
	browser := newBrowser(t)
	s := editsStack(t)
	ctx := context.Background()
	start := func(bkey string) *store.Instance {
		in, err := s.e.StartInstance(ctx, "order", engine.StartOptions{BusinessKey: bkey})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	a, b := start("S-1"), start("S-2")
	page := tab(t, browser, s.url+"/instances")
	expect(t, page, "two rows, nothing selected", `document.querySelectorAll("[data-testid=bulk-item]").length === 2 &&
		document.querySelector("[data-testid=bulk-count]").textContent === "None selected" && document.querySelector("[data-testid=bulk-cancel]").disabled`)
	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-bulk-item][value="`+a.ID+`"]').click()`)); err != nil {
		t.Fatal(err)
	}
	expect(t, page, "one selected", `document.querySelector("[data-testid=bulk-count]").textContent === "1 selected" && !document.querySelector("[data-testid=bulk-cancel]").disabled`)

	// A third instance: the list is pushed again; the box stays checked.
	c := start("S-3")
	expect(t, page, "after the live update", `document.querySelectorAll("[data-testid=bulk-item]").length === 3 &&
		document.querySelector('[data-bulk-item][value="`+a.ID+`"]').checked && !document.querySelector('[data-bulk-item][value="`+c.ID+`"]').checked &&
		document.querySelector("[data-testid=bulk-count]").textContent === "1 selected" && document.querySelector("[data-bulk-page]").indeterminate`)
	screenshot(t, page, "instances-selection")

	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector("[data-testid=bulk-cancel]").click(); }, 0)`)); err != nil {
		t.Fatal(err)
	}
	pollPage(t, page, "the confirm page", `document.querySelector("[data-testid=confirm-page]") !== null &&
		document.querySelector("[data-testid=confirm-page] h1").textContent === "Cancel 1 instance?"`)
	if err := doSteps(page, chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector("[data-testid=confirm-yes]").click(); }, 0)`)); err != nil {
		t.Fatal(err)
	}
	// Confirmed, the cancel is a stored operation: the browser follows it to its page,
	// and the executor cancels the one checked instance.
	pollPage(t, page, "the operation's page", `location.pathname.indexOf("/operations/") === 0`)
	waitUntil(t, "the checked instance cancelled", func() bool {
		in, err := s.e.GetInstanceRow(ctx, a.ID)
		return err == nil && in.State == store.InstanceCancelled
	})
	for id, want := range map[string]string{a.ID: store.InstanceCancelled, b.ID: store.InstanceActive, c.ID: store.InstanceActive} {
		in, err := s.e.GetInstanceRow(ctx, id)
		if err != nil || in.State != want {
			t.Errorf("instance %s: %v %v, want %s", id, in, err, want)
		}
	}
}
