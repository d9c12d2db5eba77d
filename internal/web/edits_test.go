package web_test

import (
	"net/url"
	"strings"
	"testing"

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
