package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestModifyBulkPages drives the bulk modification page over HTTP on both stores: the
// instance list leads there with its checked rows or its filter; a filter without a
// version gets the only version with running instances; adding a step redirects; the
// preview counts the items and shows the sampled instances, a refusal among them; the
// apply post makes the instances running then the items of an operation that completes;
// a selection of two versions and the bounds are refused with what to do.
func TestModifyBulkPages(t *testing.T) {
	t.Parallel()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			testModifyBulkPages(t, newActions(t, actionsConfig{open: st.open}))
		})
	}
}

func testModifyBulkPages(t *testing.T, a *actions) {
	ctx := context.Background()
	w1, w2 := a.startPay("M-1", false), a.startPay("M-2", false)
	failed := a.startPay("M-3", true)
	a.waitFor("two instances at review", func() bool {
		return len(a.detail(w1.ID).UserTasks) == 1 && len(a.detail(w2.ID).UserTasks) == 1
	})

	// The list leads there: a link with the filter, the bulk bar's button with the rows.
	list := a.get("/instances?process=pay")
	if l := list.want(t, 200, "modify-all-matching", 1)[0]; attr(l, "href") != "/instances/modify?process=pay" {
		t.Errorf("modify all matching: %q", attr(l, "href"))
	}
	list.want(t, 200, "bulk-modify", 1)
	a.get("/instances").want(t, 200, "modify-all-matching", 0)
	p := a.post("/instances/bulk", url.Values{"action": {"modify"}, "instance": {w1.ID, w2.ID}, "process": {"pay"}})
	selected := url.Values{"id": {w1.ID, w2.ID}}
	if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || loc != "/instances/modify?"+selected.Encode() {
		t.Errorf("modify selected: %d to %q", p.status, loc)
	}
	p = a.post("/instances/bulk", url.Values{"action": {"modify"}, "all": {"true"}, "process": {"pay"}})
	if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || loc != "/instances/modify?process=pay" {
		t.Errorf("modify all: %d to %q", p.status, loc)
	}
	a.post("/instances/bulk", url.Values{"action": {"modify"}, "all": {"true"}}).want(t, 303, "", 0)

	// The whole process: its only version, where its three instances stand.
	p = a.get("/instances/modify?process=pay")
	if note := text(p.want(t, 200, "bulk-modify-version-note", 1)[0]); !strings.Contains(note, "version 1 is the only one") {
		t.Errorf("version note %q", note)
	}
	if got := text(p.want(t, 200, "bulk-modify-running", 1)[0]); got != "3" {
		t.Errorf("running %q", got)
	}
	for _, el := range []string{"review", "charge"} {
		p.want(t, 200, "badge-active-"+el, 1)
	}
	p = a.get("/instances/modify?process=pay&version=1&element=end")
	p.want(t, 200, "modify-picked", 1)
	p.want(t, 200, "modify-add-move", 1)
	if opts := findAll(p.want(t, 200, "modify-from", 1)[0], "option"); len(opts) != 2 {
		t.Errorf("move sources: %d", len(opts))
	}
	// Adding a step redirects to the page with it; the preview samples the three.
	p = a.get("/instances/modify?process=pay&version=1&element=end&source=review&add=move")
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.Contains(loc, "step=") || !strings.HasPrefix(loc, "/instances/modify?") {
		t.Fatalf("add: %d %q", p.status, loc)
	}
	p = a.get(loc)
	if got := text(p.want(t, 200, "bulk-preview-total", 1)[0]); !strings.Contains(got, "3 instances of pay v1 would be modified") {
		t.Errorf("total %q", got)
	}
	samples := p.want(t, 200, "bulk-sample", 3)
	errs := byTestID(p.doc, "bulk-sample-error")
	if len(errs) != 1 || !strings.Contains(text(errs[0]), "review") {
		t.Fatalf("refused sample: %d %v", len(errs), errs)
	}
	for _, smp := range samples {
		if id := attr(smp, "data-instance"); id != failed.ID && len(byTestID(smp, "modify-effect-tokens-cancelled")) != 1 {
			t.Errorf("sample %s lacks its effects", id)
		}
	}
	p.want(t, 200, "bulk-preview-refused", 1)
	narrow := attr(p.want(t, 200, "bulk-preview-narrow", 1)[0], "href")
	if !strings.Contains(narrow, "waitingAt=review") || !strings.Contains(narrow, "step=") {
		t.Errorf("narrow link %q", narrow)
	}
	if got := text(p.want(t, 200, "modify-step", 1)[0]); !strings.Contains(got, "Move the tokens at Review payment (review) to end") {
		t.Errorf("step %q", got)
	}
	if d := a.detail(w1.ID); len(d.UserTasks) != 1 || d.Instance.State != store.InstanceActive {
		t.Fatal("the preview changed an instance")
	}

	// Narrowed to the instances waiting at review (their tokens read by id): apply.
	p = a.get(narrow)
	if got := text(p.want(t, 200, "bulk-preview-total", 1)[0]); !strings.Contains(got, "2 instances") {
		t.Errorf("total %q", got)
	}
	p.want(t, 200, "bulk-sample-error", 0)
	p.want(t, 200, "badge-active-review", 1)
	p.want(t, 200, "badge-active-charge", 0)
	form := formInputs(p.want(t, 200, "modify-apply-form", 1)[0])
	form.Set("reason", "close the reviews")
	p = a.post("/instances/modify", form)
	loc = p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/operations/") {
		t.Fatalf("apply: %d %q\n%.2000s", p.status, loc, mainText(p))
	}
	done := a.waitProgress(loc).doc
	if got := text(byTestID(done, "bulk-succeeded")[0]); got != "2" {
		t.Errorf("succeeded %s, want 2", got)
	}
	if sel := text(byTestID(done, "operation-selection")[0]); !strings.Contains(sel, "waitingAt = review") {
		t.Errorf("selection %q", sel)
	}
	op, err := a.e.GetOperation(ctx, strings.TrimPrefix(loc, "/operations/"), store.OperationItemFilter{AfterSeq: -1, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, it := range op.Items {
		targets = append(targets, it.Target)
	}
	if want := []string{w1.ID, w2.ID}; op.Operation.Kind != "instance.modify" || !sameSet(targets, want) {
		t.Errorf("operation %s items %v, want %v", op.Operation.Kind, targets, want)
	}
	for _, in := range []*store.Instance{w1, w2} {
		if st := a.detail(in.ID).Instance.State; st != store.InstanceCompleted {
			t.Errorf("instance %s %s", in.ID, st)
		}
		if row := a.lastAudit(in.ID); row.Command != "instance.modify" || row.Reason != "close the reviews" {
			t.Errorf("audit of %s: %+v", in.ID, row)
		}
	}
	if st := a.detail(failed.ID).Instance.State; st != store.InstanceActive {
		t.Errorf("the failed instance, outside the selection: %s", st)
	}

	// A second version: a selection of both is refused, each part offered; the filter
	// without a version asks which.
	defs, err := bpmn.Build("pay", bpmn.Name("Payment")).Start("start").UserTask("review", bpmn.Name("Review payment")).End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.DeployModel(ctx, "pay.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	v2, err := a.e.StartInstance(ctx, "pay", engine.StartOptions{BusinessKey: "M-4"})
	if err != nil {
		t.Fatal(err)
	}
	a.get("/instances/modify?process=pay").want(t, 200, "bulk-modify-pick-version", 2)
	both := url.Values{"id": {failed.ID, v2.ID}}
	p = a.get("/instances/modify?" + both.Encode())
	if msg := text(p.want(t, 200, "bulk-modify-selection-error", 1)[0]); !strings.Contains(msg, "2 process versions") {
		t.Errorf("selection error %q", msg)
	}
	p.want(t, 200, "bulk-modify-part", 2)
	step := `{"kind":"cancel","elementId":"review"}`
	both.Set("step", step)
	p = a.get("/instances/modify?" + both.Encode())
	if msg := text(p.want(t, 200, "modify-preview-error", 1)[0]); !strings.Contains(msg, "2 definitions") {
		t.Errorf("preview error %q", msg)
	}
	p.want(t, 200, "modify-apply-form", 0)
	both.Set("reason", "both")
	p = a.post("/instances/modify", both)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(text(p.want(t, 422, "form-error", 1)[0]), "pay version 1: 1, pay version 2: 1") {
		t.Errorf("apply to two versions: %d\n%.1000s", p.status, mainText(p))
	}

	// Bounds and bad input, each said.
	many := url.Values{}
	for i := range 201 {
		many.Add("id", "i-"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	if p = a.get("/instances/modify?" + many.Encode()); p.status != 400 || !strings.Contains(p.body, "maxModifyIDs") {
		t.Errorf("201 ids: %d", p.status)
	}
	for q, want := range map[string]string{
		"":                      "Choose the instances",
		"state=active":          "filter the instance list to a process",
		"process=pay&step=%7Bx": "steps could not be read",
		"process=pay&step=" + url.QueryEscape(`{"kind":"move","nope":1}`): "steps could not be read",
	} {
		if p = a.get("/instances/modify?" + q); p.status != 400 || !strings.Contains(p.body, want) {
			t.Errorf("%q: %d, want 400 saying %q\n%.500s", q, p.status, want, mainText(p))
		}
	}
	if p = a.get("/instances/modify?process=pay&version=2&element=review&add=bogus"); p.status != 422 ||
		!strings.Contains(text(p.want(t, 422, "modify-add-error", 1)[0]), `Unknown step "bogus"`) {
		t.Errorf("unknown step: %d", p.status)
	}
	p = a.get("/instances/modify?process=pay&version=2&step=" + url.QueryEscape(`{"kind":"jump","elementId":"review"}`))
	if msg := text(p.want(t, 200, "modify-preview-error", 1)[0]); !strings.Contains(msg, "jump") {
		t.Errorf("unknown step kind: %q", msg)
	}
}

// sameSet tells whether a and b hold the same strings.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
