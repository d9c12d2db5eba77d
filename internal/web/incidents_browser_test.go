package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestBrowserIncidentQueue: incidents of one cause (messages that differ in numbers and
// ids) are one line of the incidents page; a filter narrows the lines; an operator
// assigns a line to a person with a note, and adds a resolution note on the group's page.
func TestBrowserIncidentQueue(t *testing.T) {
	browser := newBrowser(t)
	s := newStack(t, func(e *engine.Engine) error {
		e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
			n := job.Variables["n"]
			if job.Variables["kind"] == "timeout" {
				return nil, fmt.Errorf("bank timed out after %v ms", n)
			}
			return nil, fmt.Errorf("card of order %v declined (ref 0192f3a4-5b6c-7d8e-9f00-%012v)", n, n)
		})
		defs, err := bpmn.Build("checkout", bpmn.Name("Checkout")).
			Start("start").
			ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
			End("end").
			Definitions()
		if err != nil {
			return err
		}
		_, err = e.DeployModel(context.Background(), "checkout.bpmn", defs)
		return err
	})
	ctx := context.Background()
	for i, kind := range []string{"declined", "declined", "declined", "timeout"} {
		if _, err := s.e.StartInstance(ctx, "checkout", engine.StartOptions{Variables: map[string]any{"n": 100 + i, "kind": kind}}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "four incidents", func() bool {
		incs, err := s.e.ListIncidents(ctx, store.IncidentFilter{State: store.IncidentOpen})
		return err == nil && len(incs) == 4
	})

	page := tab(t, browser, s.url+"/incidents")
	expect(t, page, "two lines: three declined cards, one timeout", `(function () {
		var rows = document.querySelectorAll("[data-testid=incident-group]");
		if (rows.length !== 2) return false;
		var counts = Array.from(rows).map(function (r) { return r.querySelector("td").textContent.trim(); }).sort();
		return counts[0].indexOf("1") === 0 && counts[1].indexOf("3") === 0;
	})()`)
	expect(t, page, "the cause is the masked message",
		`document.body.textContent.indexOf("card of order <n> declined (ref <id>)") >= 0`)
	screenshot(t, page, "incidents-groups")

	// Each step navigates; a poll running in the page dies with it, so poll from here.
	until := func(what, cond string) {
		t.Helper()
		ok := false
		wait.Until(t, 15*time.Second, what, func() error {
			ok, _ = chromedp.Run(page, chromedp.Evaluate[bool](cond))
			if ok {
				return nil
			}
			html, _ := chromedp.Run(page, chromedp.OuterHTML(chromedp.CSS("main")))
			return fmt.Errorf("not yet; page main:\n%.4000s", html)
		})
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := doSteps(page, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	clickLater := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`setTimeout(function () { document.querySelector(` + jsString(sel) + `).click(); }, 0)`)
	}

	// Filter by message (any case): one line of three.
	do("filter", setValue(`[data-testid=filter-message]`, "DECLINED"), clickLater(`[data-testid=incident-filter-apply]`))
	until("the filtered page", `location.search.indexOf("message=DECLINED") >= 0 &&
		document.querySelectorAll("[data-testid=incident-group]").length === 1 &&
		document.querySelector("[data-testid=incident-groups-summary]").textContent.indexOf("3 incidents in 1 group") >= 0`)

	// Assign the line to a person with a note.
	do("assign", chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=group-assign]").open = true`),
		setValue(`[data-testid=assign-person]`, "Ann"), setValue(`[data-testid=assign-note]`, "bank rejects test cards since 9:00"),
		clickLater(`[data-testid=assign-submit]`))
	until("the line assigned, with its note", `location.search.indexOf("message=DECLINED") >= 0 &&
		document.querySelector("[data-testid=group-assignee]").textContent.indexOf("Ann") >= 0 &&
		document.querySelector("[data-testid=group-assign-note]").textContent.indexOf("bank rejects test cards") >= 0`)
	screenshot(t, page, "incidents-assigned")

	// The group's page: the log has the assignment; a resolution note is added.
	do("open the group", clickLater(`[data-testid=group-link]`))
	until("the group page", `location.pathname.indexOf("/incidents/groups/") === 0 &&
		document.querySelectorAll("[data-testid=group-incident]").length === 3`)
	do("resolution note", setValue(`[data-testid=note-text]`, "test cards removed from the load test"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=note-resolution]").checked = true`),
		clickLater(`[data-testid=note-submit]`))
	until("the resolution note in the log", `document.querySelectorAll("[data-testid=group-note]").length === 2 &&
		document.querySelector("[data-testid=group-note]").dataset.kind === "resolution"`)
	text, err := chromedp.Run(page, chromedp.Evaluate[string](`document.querySelector("[data-testid=group-notes]").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "assigned to Ann: bank rejects test cards") || !strings.Contains(text, "Resolution") {
		t.Fatalf("log: %s", text)
	}
	screenshot(t, page, "incidents-group-page")

	// Nobody's lines: the timeout only.
	do("unassigned filter", chromedp.Navigate(s.url+"/incidents?assignee=-"))
	until("the unassigned line", `document.querySelectorAll("[data-testid=incident-group]").length === 1 &&
		document.querySelector("[data-testid=incident-group]").textContent.indexOf("timed out") >= 0`)
}

// setValue sets a form field's value.
func setValue(sel, v string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = %q`, sel, v))
}
