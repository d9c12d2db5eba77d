package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestActionVariableEdits: the instance page offers rename and delete per variable;
// a rename goes through; a delete without script asks on a confirm page first, then
// deletes; refusals come back as error banners; each is audited. An ended instance
// offers no edits.
func TestActionVariableEdits(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("V-1", true)
	a.waitFor("the incident", func() bool { return a.openIncident(in.ID) != nil })

	p := a.get("/instances/" + in.ID)
	if n := len(p.want(t, 200, "variable-edit", 2)); n != 2 {
		t.Fatalf("%d edit menus", n)
	}
	// The process variables carry the elements that set them: fail and amount were set
	// at the start, by no element.
	for _, row := range byTestID(p.doc, "variable-row") {
		if attr(row, "data-elements") != "" {
			t.Errorf("variable %s belongs to %q", attr(row, "data-name"), attr(row, "data-elements"))
		}
	}

	_, flash := a.wantRedirect(a.post("/instances/"+in.ID+"/variables/rename", url.Values{"name": {"amount"}, "newName": {"total"}}), "/instances/"+in.ID)
	if !strings.Contains(flash, "renamed to total") {
		t.Errorf("flash %q", flash)
	}
	if v := a.vars(in.ID); v["total"] != "number:10" || v["amount"] != "" {
		t.Errorf("after the rename: %v", v)
	}
	a.wantAudit(in.ID, "instance.rename-variable", "ann", "ok")

	_, flash = a.wantRedirect(a.post("/instances/"+in.ID+"/variables/rename", url.Values{"name": {"fail"}, "newName": {"total"}}), "/instances/"+in.ID)
	if !strings.HasPrefix(flash, "error: Rename variable was refused") || !strings.Contains(flash, "exists") {
		t.Errorf("rename onto a taken name: flash %q", flash)
	}

	// Without script: a confirm page first, nothing deleted yet.
	conf := a.post("/instances/"+in.ID+"/variables/delete", url.Values{"name": {"total"}, "reason": {"typo"}})
	conf.want(t, 200, "confirm-page", 1)
	if a.vars(in.ID)["total"] == "" {
		t.Fatal("the first post deleted")
	}
	_, flash = a.wantRedirect(a.post("/instances/"+in.ID+"/variables/delete", url.Values{"name": {"total"}, "reason": {"typo"}, "confirm": {"yes"}}), "/instances/"+in.ID)
	if !strings.Contains(flash, "Variable total deleted") || a.vars(in.ID)["total"] != "" {
		t.Errorf("after the delete: flash %q, variables %v", flash, a.vars(in.ID))
	}
	if row := a.lastAudit(in.ID); row.Command != "instance.delete-variable" || row.Reason != "typo" || row.Result != "ok" {
		t.Errorf("audit %+v", row)
	}
	a.post("/instances/"+in.ID+"/variables/delete", url.Values{"name": {"total"}, "confirm": {"yes"}}).want(t, 404, "error-page", 1)
	a.post("/instances/"+in.ID+"/variables/delete", url.Values{}).want(t, 400, "error-page", 1)

	if err := a.e.CancelInstance(t.Context(), in.ID, "done"); err != nil {
		t.Fatal(err)
	}
	a.get("/instances/"+in.ID).want(t, 200, "variable-edit", 0)
}

// TestActionTaskAssignment: the task list offers Claim, the task page Unclaim and
// Assign; an empty name is refused with a banner; a claim of a task someone holds is
// refused; an unknown task is a 404.
func TestActionTaskAssignment(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("T-1", false)
	var task *store.UserTask
	a.waitFor("the user task", func() bool {
		for _, x := range a.detail(in.ID).UserTasks {
			task = x
		}
		return task != nil
	})
	a.get("/tasks").want(t, 200, "task-claim", 1)
	_, flash := a.wantRedirect(a.post("/tasks/"+task.ID+"/claim", url.Values{"back": {"/tasks?state=open"}}), "/tasks?state=open")
	if flash != "ok: Task assigned to ann." {
		t.Errorf("flash %q", flash)
	}
	p := a.get("/tasks/" + task.ID)
	p.want(t, 200, "task-unclaim", 1)
	p.want(t, 200, "task-reassign", 1)
	if got := text(p.want(t, 200, "task-assignee", 1)[0]); got != "ann" {
		t.Errorf("assignee shown %q", got)
	}
	_, flash = a.wantRedirect(a.post("/tasks/"+task.ID+"/assign", url.Values{"assignee": {"  "}}), "/tasks/"+task.ID)
	if !strings.HasPrefix(flash, "error: Reassign task: enter the name") {
		t.Errorf("empty assignee: flash %q", flash)
	}
	_, flash = a.wantRedirect(a.post("/tasks/"+task.ID+"/assign", url.Values{"assignee": {"bob"}}), "/tasks/"+task.ID)
	if flash != "ok: Task assigned to bob." {
		t.Errorf("flash %q", flash)
	}
	a.wantAudit(task.ID, "task.assign", "ann", "ok")
	_, flash = a.wantRedirect(a.post("/tasks/"+task.ID+"/claim", url.Values{}), "/tasks/"+task.ID)
	if !strings.Contains(flash, `assigned to "bob"`) {
		t.Errorf("claim of bob's task: flash %q", flash)
	}
	_, flash = a.wantRedirect(a.post("/tasks/"+task.ID+"/unclaim", url.Values{}), "/tasks/"+task.ID)
	if flash != "ok: Task unclaimed: nobody is assigned." {
		t.Errorf("flash %q", flash)
	}
	a.post("/tasks/no-such-task/claim", url.Values{}).want(t, 404, "error-page", 1)
}

// TestInstanceListBulk: the list shows where each running instance waits and since
// when (an ended one nowhere); the bulk bar retries the incidents of the checked rows
// (a confirm page naming them, then the bulk retry) and cancels the checked rows after
// a confirm page, each by its own audited command; "all matching" cancels the filter's
// running instances; an empty selection and an unknown action are refused.
func TestInstanceListBulk(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	failed := a.startPay("B-1", true)
	waiting := a.startPay("B-2", false)
	other := a.startPay("B-3", false)
	a.waitFor("an incident and two tasks", func() bool {
		return a.openIncident(failed.ID) != nil && len(a.detail(waiting.ID).UserTasks) == 1 && len(a.detail(other.ID).UserTasks) == 1
	})

	p := a.get("/instances")
	p.want(t, 200, "bulk-bar", 1)
	rows := map[string]string{}
	for _, r := range byTestID(p.doc, "instance-row") {
		w := byTestID(r, "waiting-at")
		rows[attr(r, "data-id")] = strings.TrimSpace(text(w[0])) + "|" + attr(w[0], "title")
		if len(byTestID(r, "bulk-item")) != 1 || len(byTestID(r, "waiting-since")) != 1 {
			t.Errorf("row %s lacks its box or since", attr(r, "data-id"))
		}
	}
	if rows[failed.ID] != "Charge card|Charge card (charge)" || rows[waiting.ID] != "Review payment|Review payment (review)" {
		t.Errorf("waiting at: %v", rows)
	}

	// Retry the checked row's incidents: a confirm page with the incident, then the run.
	conf := a.post("/instances/bulk", url.Values{"action": {"retry"}, "instance": {failed.ID, waiting.ID}})
	conf.want(t, 200, "confirm-page", 1)
	if !strings.Contains(text(conf.want(t, 200, "confirm-message", 1)[0]), "Retry these 1 open incident?") {
		t.Errorf("confirm: %s", text(conf.want(t, 200, "confirm-message", 1)[0]))
	}
	a.post("/instances/bulk", url.Values{"action": {"retry"}}).want(t, 303, "", 0)
	a.post("/instances/bulk", url.Values{"action": {"nothing"}, "instance": {failed.ID}}).want(t, 400, "error-page", 1)

	// Cancel two checked rows: asked first, then each cancelled by its own command.
	a.post("/instances/bulk", url.Values{"action": {"cancel"}, "instance": {waiting.ID, failed.ID}}).want(t, 200, "confirm-page", 1)
	if st := a.detail(waiting.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("the first post cancelled: %s", st)
	}
	// Confirmed: an operation cancels them, each with its audit row; its page follows it.
	p = a.post("/instances/bulk", url.Values{"action": {"cancel"}, "confirm": {"yes"}, "reason": {"duplicates"},
		"instance": {waiting.ID, failed.ID}, "businessKey": {""}})
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/operations/") {
		t.Fatalf("bulk cancel: %d to %q", p.status, loc)
	}
	if got := text(byTestID(a.waitProgress(loc).doc, "bulk-succeeded")[0]); got != "2" {
		t.Errorf("cancelled %s, want 2", got)
	}
	for _, id := range []string{waiting.ID, failed.ID} {
		if st := a.detail(id).Instance.State; st != store.InstanceCancelled {
			t.Errorf("instance %s %s", id, st)
		}
		if row := a.lastAudit(id); row.Command != "instance.cancel" || row.Reason != "duplicates" || row.Result != "ok" {
			t.Errorf("audit of %s: %+v", id, row)
		}
	}
	// Again: both have ended, so both are reported as failed items.
	p = a.post("/instances/bulk", url.Values{"action": {"cancel"}, "confirm": {"yes"}, "instance": {waiting.ID, failed.ID}})
	if got := text(byTestID(a.waitProgress(p.header.Get("Location")).doc, "bulk-failed")[0]); got != "2" {
		t.Errorf("failed %s, want 2", got)
	}

	// All matching a filter: the confirm page counts the running ones and carries the
	// filter (not ids: the selection is not cut to a page); the confirmed post makes the
	// instances matching then the operation's items.
	conf = a.post("/instances/bulk", url.Values{"action": {"cancel"}, "all": {"true"}, "businessKey": {"B-3"}})
	if msg := text(conf.want(t, 200, "confirm-message", 1)[0]); !strings.Contains(msg, "Cancel the 1 running instance the filter matches?") {
		t.Errorf("confirm: %s", msg)
	}
	form := conf.want(t, 200, "confirm-form", 1)[0]
	vals := url.Values{}
	for _, in := range findAll(form, "input") {
		vals.Add(attr(in, "name"), attr(in, "value"))
	}
	if vals["instance"] != nil || vals.Get("all") != "true" || vals.Get("businessKey") != "B-3" || vals.Get("confirm") != "yes" {
		t.Fatalf("confirm form fields %v", vals)
	}
	p = a.post("/instances/bulk", vals)
	done := a.waitProgress(p.header.Get("Location")).doc
	if got := text(byTestID(done, "bulk-succeeded")[0]); got != "1" ||
		a.detail(other.ID).Instance.State != store.InstanceCancelled {
		t.Errorf("cancelled %s, state %s", got, a.detail(other.ID).Instance.State)
	}
	if sel := text(byTestID(done, "operation-selection")[0]); !strings.Contains(sel, "business key B-3") {
		t.Errorf("selection %q", sel)
	}
	// Nothing running matches any more: nothing to confirm.
	a.post("/instances/bulk", url.Values{"action": {"cancel"}, "all": {"true"}, "businessKey": {"B-3"}}).want(t, 303, "", 0)
	if rows := byTestID(a.get("/instances?businessKey=B-3").doc, "waiting-at"); len(rows) != 1 || strings.TrimSpace(text(rows[0])) != "–" {
		t.Errorf("a cancelled instance waits nowhere")
	}
}

// findAll returns the elements named tag below n, in document order.
func findAll(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}
