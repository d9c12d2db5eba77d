package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// stall writes an open stall for the instance's one token, as the detector would.
func stall(t *testing.T, e *engine.Engine, in *store.Instance, id string) *store.Stall {
	t.Helper()
	ctx := context.Background()
	d, err := e.GetInstance(ctx, in.ID)
	if err != nil || len(d.Tokens) != 1 {
		t.Fatalf("tokens of %s: %v %v", in.ID, d, err)
	}
	tok := d.Tokens[0]
	s := &store.Stall{ID: id, TokenID: tok.ID, InstanceID: in.ID, DefinitionID: in.DefinitionID,
		DefinitionKey: in.DefinitionKey, ElementID: tok.ElementID, Since: tok.CreatedAt, Threshold: 15 * time.Minute,
		DetectedAt: tok.CreatedAt.Add(16 * time.Minute), State: store.StallOpen}
	if err := e.Store().Write(ctx, func(tx store.Tx) error { return tx.InsertStalls(ctx, []*store.Stall{s}) }); err != nil {
		t.Fatal(err)
	}
	return s
}

func rowIDs(p *page) []string {
	var out []string
	for _, r := range byTestID(p.doc, "instance-row") {
		out = append(out, attr(r, "data-id"))
	}
	return out
}

// TestStallPages: the stalled filter of the instance list (with paging), the dashboard
// count and its link, and the stall badges of the process and instance diagrams; a token
// that moved on is not shown as stalled even before the detector clears its stall.
func TestStallPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stalled := f.ok[0]
	stall(t, f.e, stalled, "s1")
	stall(t, f.e, f.failed, "s2") // at charge, with an incident

	p := f.get("/instances?stalled=true")
	p.want(t, 200, "instance-row", 2)
	if ids := rowIDs(p); !(ids[0] == f.failed.ID && ids[1] == stalled.ID) {
		t.Errorf("stalled instances %v", ids)
	}
	if sel := byTestID(p.doc, "filter-stalled"); len(sel) != 1 || !strings.Contains(renderNode(sel[0]), `value="true" selected`) {
		t.Errorf("the stalled filter does not show its value")
	}
	p = f.get("/instances?stalled=true&limit=1")
	p.want(t, 200, "instance-row", 1)
	next := byTestID(p.doc, "pager-next")
	if len(next) != 1 {
		t.Fatal("no next page link")
	}
	href := attr(next[0], "href")
	if !strings.Contains(href, "stalled=true") {
		t.Fatalf("next page %q loses the filter", href)
	}
	p = f.get(href)
	if ids := rowIDs(p); len(ids) != 1 || ids[0] != stalled.ID {
		t.Errorf("second page %v", ids)
	}
	p = f.get("/instances?stalled=false")
	if ids := rowIDs(p); len(ids) != 1 || ids[0] != f.ok[1].ID {
		t.Errorf("not stalled %v", ids)
	}
	f.get("/instances?stalled=maybe").want(t, 400, "instance-row", 0)

	dash := f.get("/")
	st := dash.want(t, 200, "stat-stalled", 1)[0]
	if !strings.Contains(text(st), "2") || !strings.Contains(renderNode(st), `href="/instances?stalled=true"`) {
		t.Errorf("dashboard stalled stat: %s", renderNode(st))
	}
	row := dash.want(t, 200, "process-row", 1)[0]
	if a := byTestID(row, "process-stalled"); len(a) != 1 || text(a[0]) != "2" ||
		attr(a[0], "href") != "/instances?process=pay&stalled=true" {
		t.Errorf("dashboard process row: %s", renderNode(row))
	} else {
		f.get(attr(a[0], "href")).want(t, 200, "instance-row", 2)
	}

	proc := f.get("/processes/pay")
	for el, n := range map[string]string{"review": "1", "charge": "1"} {
		b := proc.want(t, 200, "badge-stalled-"+el, 1)[0]
		if attr(b, "data-count") != n || !strings.Contains(text(b), "waiting longer than") {
			t.Errorf("badge at %s: %s", el, renderNode(b))
		}
	}
	if st := proc.want(t, 200, "stat-stalled", 1)[0]; !strings.Contains(text(st), "2") {
		t.Errorf("process stalled stat: %s", text(st))
	}
	inst := f.get("/instances/" + stalled.ID)
	if b := inst.want(t, 200, "badge-stalled-review", 1)[0]; !strings.Contains(text(b), "longer than 15m0s") {
		t.Errorf("instance badge tooltip: %q", text(b))
	}
	f.get("/instances/"+f.ok[1].ID).want(t, 200, "badge-stalled-review", 0)

	// The stalled instance moves on: nothing shows it as stalled any more.
	tasks, err := f.e.ListUserTasks(context.Background(), store.UserTaskFilter{InstanceID: stalled.ID, State: store.TaskOpen})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v %v", tasks, err)
	}
	if err := f.e.CompleteUserTask(context.Background(), tasks[0].ID, map[string]any{"approved": true, "limit": 1}); err != nil {
		t.Fatal(err)
	}
	f.get("/processes/pay").want(t, 200, "badge-stalled-review", 0)
	if ids := rowIDs(f.get("/instances?stalled=true")); len(ids) != 1 || ids[0] != f.failed.ID {
		t.Errorf("stalled after the move %v", ids)
	}
}

// TestActionStallThreshold: the process page's form sets and clears an element's
// threshold through the command service; the element table shows it.
func TestActionStallThreshold(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	p := a.get("/processes/pay")
	p.want(t, 200, "stall-threshold", 1)
	for _, r := range byTestID(p.doc, "element-threshold") {
		if strings.TrimSpace(text(r)) != "–" {
			t.Errorf("threshold before any is set: %q", text(r))
		}
	}
	next, flash := a.wantRedirect(a.post("/processes/pay/stall-threshold?version=1",
		url.Values{"element": {"review"}, "threshold": {"90m"}, "op": {"set"}}), "/processes/pay")
	if flash != "ok: review stalls after 1h30m (set by you)." {
		t.Errorf("flash %q", flash)
	}
	found := false
	for _, r := range byTestID(next.doc, "element-row") {
		if attr(r, "data-element-id") == "review" {
			found = true
			if th := byTestID(r, "element-threshold"); len(th) != 1 || strings.TrimSpace(text(th[0])) != "1h30m · set" {
				t.Errorf("review's threshold cell: %q", text(th[0]))
			}
		}
	}
	if !found {
		t.Fatal("no row for review")
	}
	a.wantAudit("pay/review", "stall.threshold", "ann", "ok")

	_, flash = a.wantRedirect(a.post("/processes/pay/stall-threshold",
		url.Values{"element": {"review"}, "threshold": {"soon"}, "op": {"set"}}), "/processes/pay")
	if !strings.HasPrefix(flash, "error: ") || !strings.Contains(flash, "not a duration") {
		t.Errorf("flash for a bad duration %q", flash)
	}
	_, flash = a.wantRedirect(a.post("/processes/pay/stall-threshold",
		url.Values{"element": {"review"}, "op": {"clear"}}), "/processes/pay")
	if !strings.Contains(flash, "p99") {
		t.Errorf("flash for clear %q", flash)
	}
	var left []*store.StallThreshold
	if err := a.st.Read(context.Background(), func(tx store.Tx) error {
		var err error
		left, err = tx.ListStallThresholds(context.Background(), "pay")
		return err
	}); err != nil || len(left) != 0 {
		t.Fatalf("thresholds after clear: %v %v", left, err)
	}
}

// TestLiveStalls: a stall notice on NATS re-renders the pages that show stalls.
func TestLiveStalls(t *testing.T) {
	t.Parallel()
	f := newLiveFixture(t)
	in, _ := f.startFailing()
	dash := f.open("dashboard")
	inst := f.open("instance:" + in.ID)
	dash.waitFragment("live-stats", "no stalled instance", func(h string) bool { return statValue(h, "stat-stalled") == "0" })
	inst.waitFragment("overlays", "no stall badge", notContains("badge-stalled"))

	s := stall(t, f.e, in, "s1")
	b, _ := json.Marshal(bus.NewStallMessage(liveTestService, s, event.StallDetected))
	if err := f.pubConn.Publish(bus.Subjects{Prefix: liveTestPrefix, Service: liveTestService}.Stall(s.DefinitionKey), b); err != nil {
		t.Fatal(err)
	}
	dash.waitFragment("live-stats", "one stalled instance", func(h string) bool { return statValue(h, "stat-stalled") == "1" })
	inst.waitFragment("overlays", "the stall badge", contains(`data-testid="badge-stalled-work"`))
}

// renderNode returns the HTML of a node.
func renderNode(n *html.Node) string {
	var b strings.Builder
	_ = html.Render(&b, n)
	return b.String()
}

// TestStallReasonUnservedJobType: a token stalled at a service task whose job type nobody
// serves says so on the instance's diagram; once a worker asks for the type, it does not.
func TestStallReasonUnservedJobType(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	ctx := context.Background()
	defs, err := bpmn.Build("ship").Start("start").ServiceTask("label", bpmn.JobType("print")).End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.DeployModel(ctx, "ship.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	in, err := a.e.StartInstance(ctx, "ship", engine.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stall(t, a.e, in, "s-print")
	b := a.get("/instances/"+in.ID).want(t, 200, "badge-stalled-label", 1)[0]
	if !strings.Contains(text(b), `no handler or worker serves its job type "print"`) {
		t.Errorf("stall badge %q does not name the unserved job type", text(b))
	}
	if _, err := a.e.ActivateJobs(ctx, engine.ActivateRequest{Worker: "w", Types: []string{"print"}, Max: 1, LockFor: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if b := a.get("/instances/"+in.ID).want(t, 200, "badge-stalled-label", 1)[0]; strings.Contains(text(b), "no handler") {
		t.Errorf("stall badge %q still says nobody serves the type", text(b))
	}
}
