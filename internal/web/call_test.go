package web_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestCalledInstancesPage: an order whose call activity started a payment that failed
// shows, on its page, the payment among its called instances with its incident, and the
// incident badge at the call activity on its diagram; the payment's page links back.
func TestCalledInstancesPage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	defs, err := bpmn.Build("order", bpmn.Name("Order")).
		Start("start").
		CallActivity("payIt", "pay", bpmn.Name("Take payment"), bpmn.CallInAll(), bpmn.CallBusinessKey("execution.processBusinessKey")).
		End("end").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.DeployModel(ctx, "order.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	order, err := f.e.StartInstance(ctx, "order", engine.StartOptions{BusinessKey: "ORD-9", Variables: map[string]any{"fail": true}})
	if err != nil {
		t.Fatal(err)
	}
	f.waitFor("the payment's incident at the order's call activity", func() bool {
		in, err := f.e.GetInstanceRow(ctx, order.ID)
		return err == nil && in.IncidentCount == 1
	})
	called, err := f.e.ListInstances(ctx, store.InstanceFilter{ParentInstanceID: order.ID})
	if err != nil || len(called.Instances) != 1 {
		t.Fatalf("called instances: %v %+v", err, called)
	}
	pay := called.Instances[0]

	p := f.get("/instances/" + order.ID)
	if p.status != 200 {
		t.Fatalf("order page: %d", p.status)
	}
	rows := byTestID(p.doc, "called-row")
	if len(rows) != 1 || attr(rows[0], "data-state") != store.InstanceActive || !strings.Contains(text(rows[0]), "pay v1") ||
		!strings.Contains(text(rows[0]), "Take payment") || len(byTestID(rows[0], "called-incidents")) != 1 {
		t.Fatalf("called rows %d: %q", len(rows), textsOf(rows))
	}
	// The card is a live slot: the instance room pushes it again on the order's events
	// (a call starting, its child's incident or end reaches the order as events).
	if slot := strings.Index(p.body, `id="live-called" data-live`); slot < 0 || strings.Index(p.body, `data-testid="called-instances"`) < slot {
		t.Error("the called instances card is not inside the live slot live-called")
	}
	if !strings.Contains(p.body, `href="/instances/`+pay.ID+`"`) {
		t.Error("no link to the called instance")
	}
	if b := byTestID(p.doc, "badge-incidents-payIt"); len(b) != 1 || attr(b[0], "data-count") != "1" {
		t.Errorf("incident badge at the call activity: %d", len(b))
	}
	if incs := byTestID(p.doc, "incident"); len(incs) != 1 || !strings.Contains(text(incs[0]), store.IncidentCalledInstance) ||
		!strings.Contains(text(incs[0]), "card declined") {
		t.Errorf("order's incidents %q", textsOf(incs))
	}

	p = f.get("/instances/" + pay.ID)
	parent := byTestID(p.doc, "instance-parent")
	if len(parent) != 1 || !strings.Contains(text(parent[0]), "order v1") || !strings.Contains(text(parent[0]), "ORD-9") ||
		!strings.Contains(p.body, `href="/instances/`+order.ID+`"`) {
		t.Errorf("payment page's caller: %q", textsOf(parent))
	}
	if !strings.Contains(text(p.doc), "ORD-9") {
		t.Error("the business key was not passed on")
	}

	list := f.get("/instances?parent=" + order.ID)
	if list.status != 200 || !strings.Contains(list.body, pay.ID) || strings.Contains(list.body, f.ok[0].ID) {
		t.Errorf("instance list by parent: %d", list.status)
	}
}

func textsOf(ns []*html.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, text(n))
	}
	return out
}
