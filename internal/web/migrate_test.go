package web_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// deployPayV2 deploys version 2 of the actions fixture's "pay": the user task "review"
// became "approve" (another id, so the proposal leaves it without a target) and a task
// "notify" was added after it.
func (a *actions) deployPayV2() {
	a.t.Helper()
	defs, err := bpmn.Build("pay", bpmn.Name("Payment")).
		Start("start").
		ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
		UserTask("approve", bpmn.Name("Approve payment")).
		UserTask("notify", bpmn.Name("Notify customer")).
		End("end").
		Definitions()
	if err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.e.DeployModel(context.Background(), "pay.bpmn", defs); err != nil {
		a.t.Fatalf("deploy pay v2: %v", err)
	}
}

// startPayV1 starts an instance of "pay" version 1 and waits until it stands at review.
func (a *actions) startPayV1(bkey string) *store.Instance {
	a.t.Helper()
	in, err := a.e.StartInstance(context.Background(), "pay", engine.StartOptions{BusinessKey: bkey, Version: 1,
		Variables: map[string]any{"fail": false}})
	if err != nil {
		a.t.Fatalf("start pay v1: %v", err)
	}
	a.waitFor(bkey+" at review", func() bool { return len(a.detail(in.ID).UserTasks) == 1 })
	return in
}

// rowTo is the target a mapping row of the migration page shows for a source element.
func rowTo(t *testing.T, p *page, from string) string {
	t.Helper()
	for _, r := range byTestID(p.doc, "migrate-row") {
		if attr(r, "data-from") == from {
			return attr(r, "data-to")
		}
	}
	t.Fatalf("no mapping row for %q", from)
	return ""
}

func testText(t *testing.T, p *page, id string) string {
	t.Helper()
	n := byTestID(p.doc, id)
	if len(n) != 1 {
		t.Fatalf("%d elements %q (status %d)\n%s", len(n), id, p.status, p.body)
	}
	return strings.TrimSpace(text(n[0]))
}

// TestMigratePage: an operator migrates a version's waiting instances to the next one
// from the web: the page proposes a mapping by id, the preview refuses the instances
// waiting at an element without a target (and says why, with a count), an edited
// mapping makes them migratable, and applying creates an instance.migrate operation
// whose items are the instances selected then; the executor moves each to version 2.
func TestMigratePage(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	ctx := context.Background()
	var ids []string
	for _, k := range []string{"M-1", "M-2", "M-3"} {
		in := a.startPay(k, false)
		ids = append(ids, in.ID)
	}
	for _, id := range ids {
		a.waitFor("at review", func() bool { return len(a.detail(id).UserTasks) == 1 })
	}
	// One version: nothing to migrate to; the process page offers no migration yet.
	a.get("/processes/pay/migrate").want(t, 200, "migrate-one-version", 1)
	a.get("/processes/pay").want(t, 200, "action-migrate", 0)

	a.deployPayV2()
	a.get("/processes/pay").want(t, 200, "action-migrate", 1)
	a.get("/instances/"+ids[0]).want(t, 200, "action-migrate", 1)

	// The proposal: equal ids map, "review" has no target; the three instances waiting
	// there cannot migrate.
	p := a.get("/processes/pay/migrate?version=1")
	p.want(t, 200, "migrate-mapping", 1)
	if got := testText(t, p, "migrate-selection"); !strings.Contains(got, "every running instance of version 1") {
		t.Errorf("selection %q", got)
	}
	if rowTo(t, p, "charge") != "charge" || rowTo(t, p, "review") != "" || rowTo(t, p, "end") != "end" {
		t.Errorf("proposal rows charge→%q review→%q end→%q", rowTo(t, p, "charge"), rowTo(t, p, "review"), rowTo(t, p, "end"))
	}
	if got := testText(t, p, "migrate-added"); !strings.Contains(got, "approve") || !strings.Contains(got, "notify") {
		t.Errorf("added %q", got)
	}
	if testText(t, p, "migrate-total") != "3" || testText(t, p, "migrate-refused") != "3" || testText(t, p, "migrate-migratable") != "0" {
		t.Errorf("preview total %s refused %s migratable %s", testText(t, p, "migrate-total"), testText(t, p, "migrate-refused"), testText(t, p, "migrate-migratable"))
	}
	var token string
	for _, r := range byTestID(p.doc, "migrate-reason") {
		if attr(r, "data-code") == "unmappedToken" {
			token = text(r)
		}
	}
	if !strings.Contains(token, `a token stands at "review", which has no target`) || !strings.Contains(token, "3") {
		t.Errorf("the unmapped token's reason %q", token)
	}
	p.want(t, 200, "migrate-apply-form", 0)

	// The edited mapping: review → approve. The page links the proposal back.
	q := url.Values{"version": {"1"}, "target": {"2"}, "map": {"start=start", "charge=charge", "review=approve", "end=end"}}
	p = a.get("/processes/pay/migrate?" + q.Encode())
	p.want(t, 200, "migrate-reset", 1)
	if rowTo(t, p, "review") != "approve" {
		t.Errorf("edited row review→%q", rowTo(t, p, "review"))
	}
	if testText(t, p, "migrate-migratable") != "3" || testText(t, p, "migrate-refused") != "0" {
		t.Fatalf("edited preview migratable %s refused %s", testText(t, p, "migrate-migratable"), testText(t, p, "migrate-refused"))
	}
	samples := p.want(t, 200, "migrate-sample", 3)
	if got := text(samples[0]); !strings.Contains(got, "Review payment → Approve payment") {
		t.Errorf("sample effects %q", got)
	}
	form := p.want(t, 200, "migrate-apply-form", 1)[0]
	post := formInputs(form)
	post.Set("reason", "v2 fixes the approval")
	if got := post["map"]; !slices.Contains(got, "review=approve") {
		t.Fatalf("the apply form carries mapping %v", got)
	}

	// A fourth instance started on v1 after the page was drawn is still selected when the
	// operator applies: the selection is resolved at the confirming post.
	late := a.startPayV1("M-4")
	op, _ := a.wantRedirect(a.post("/processes/pay/migrate", post), "/operations/")
	op.want(t, 200, "operation-migration", 1)
	if got := testText(t, op, "operation-migration"); got != "version 1 → version 2" {
		t.Errorf("operation migration %q", got)
	}
	if got := testText(t, op, "bulk-total"); got != "4" {
		t.Errorf("items %s, want 4", got)
	}
	for _, id := range append(ids, late.ID) {
		a.waitFor("migrated "+id, func() bool { return a.detail(id).Instance.DefinitionVersion == 2 })
		d := a.detail(id)
		if len(d.UserTasks) != 1 || d.UserTasks[0].ElementID != "approve" {
			t.Errorf("instance %s after migration: tasks %+v", id, d.UserTasks)
		}
		row := a.lastAudit(id)
		if row.Command != "instance.migrate" || row.Actor != "ann" || row.Reason != "v2 fixes the approval" || row.Result != "ok" {
			t.Errorf("audit of %s: %+v", id, row)
		}
	}
	// Nothing left on version 1: the page says there is none to migrate.
	p = a.get("/processes/pay/migrate?version=1&target=2")
	if testText(t, p, "migrate-total") != "0" {
		t.Errorf("after the migration the selection holds %s", testText(t, p, "migrate-total"))
	}
	p.want(t, 200, "migrate-apply-form", 0)
	if in, err := a.e.GetInstanceRow(ctx, ids[0]); err != nil || in.State != store.InstanceActive {
		t.Errorf("migrated instance: %+v %v", in, err)
	}
}

// TestMigratePageSelection: one instance (from its page's link) or a filter of the
// instance list migrates alone; the others stay.
func TestMigratePageSelection(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	one := a.startPay("S-1", false)
	other := a.startPay("S-2", false)
	for _, id := range []string{one.ID, other.ID} {
		a.waitFor("at review", func() bool { return len(a.detail(id).UserTasks) == 1 })
	}
	a.deployPayV2()
	// The instance page links the page with the instance selected.
	inst := a.get("/instances/" + one.ID)
	link := attr(inst.want(t, 200, "action-migrate", 1)[0], "href")
	p := a.get(link + "&map=review%3Dapprove&map=charge%3Dcharge")
	if got := testText(t, p, "migrate-selection"); !strings.Contains(got, "1 selected instance") {
		t.Errorf("selection %q", got)
	}
	if testText(t, p, "migrate-total") != "1" {
		t.Fatalf("total %s", testText(t, p, "migrate-total"))
	}
	post := formInputs(p.want(t, 200, "migrate-apply-form", 1)[0])
	a.wantRedirect(a.post("/processes/pay/migrate", post), "/operations/")
	a.waitFor("one migrated", func() bool { return a.detail(one.ID).Instance.DefinitionVersion == 2 })

	// A filter: the business key, held to the source version.
	three := a.startPayV1("S-3")
	p = a.get("/processes/pay/migrate?version=1&businessKey=S-2&map=review%3Dapprove")
	if got := testText(t, p, "migrate-selection"); !strings.Contains(got, "S-2") {
		t.Errorf("filter selection %q", got)
	}
	if testText(t, p, "migrate-total") != "1" {
		t.Fatalf("filter total %s", testText(t, p, "migrate-total"))
	}
	post = formInputs(p.want(t, 200, "migrate-apply-form", 1)[0])
	a.wantRedirect(a.post("/processes/pay/migrate", post), "/operations/")
	a.waitFor("S-2 migrated", func() bool { return a.detail(other.ID).Instance.DefinitionVersion == 2 })
	if v := a.detail(three.ID).Instance.DefinitionVersion; v != 1 {
		t.Errorf("S-3, outside the filter, is on version %d", v)
	}
}

// TestMigratePageErrors: every bad parameter is a clear 4xx naming it, and nothing is
// created.
func TestMigratePageErrors(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	a.deployPayV2()
	for _, c := range []struct {
		path   string
		status int
		want   string
	}{
		{"/processes/nope/migrate", 404, "No process"},
		{"/processes/pay/migrate?version=x", 400, "not a version number"},
		{"/processes/pay/migrate?version=9", 404, "has no version 9"},
		{"/processes/pay/migrate?version=1&target=1", 400, "target version is the source version"},
		{"/processes/pay/migrate?version=1&map=review", 400, "write source=target"},
		{"/processes/pay/migrate?version=1&map=review%3Dapprove&map=review%3D", 400, "mapped twice"},
		{"/processes/pay/migrate?version=1&instance=a&businessKey=b", 400, "not both"},
		{"/processes/pay/migrate?version=1&from=yesterday", 400, ""},
	} {
		p := a.get(c.path)
		if p.status != c.status || !strings.Contains(p.body, c.want) {
			t.Errorf("GET %s: %d, want %d with %q", c.path, p.status, c.status, c.want)
		}
	}
	// A mapping to an element the target does not have: the preview refuses the plan and
	// names the element; there is no apply form, and a forged post is refused.
	p := a.get("/processes/pay/migrate?version=1&map=review%3Dghost")
	if got := testText(t, p, "migrate-preview-error"); !strings.Contains(got, "ghost") {
		t.Errorf("plan error %q", got)
	}
	p.want(t, 200, "migrate-apply-form", 0)
	bad := a.post("/processes/pay/migrate", url.Values{"version": {"1"}, "target": {"2"}, "map": {"review=ghost"}})
	if bad.status != 400 && bad.status != 422 {
		t.Errorf("forged post: %d", bad.status)
	}
	if ops, err := a.e.ListOperations(context.Background(), store.OperationFilter{Limit: 10}); err != nil || len(ops) != 0 {
		t.Errorf("operations after refusals: %d %v", len(ops), err)
	}
}
