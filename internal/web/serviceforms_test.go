package web_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/observer"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// routedCommands records the starts, messages and signals an observing cockpit's forms
// send (its Router would send each to the named service).
type routedCommands struct {
	web.CommandClient // nil: any other command fails the test with a panic
	mu                sync.Mutex
	starts            []command.StartInstanceRequest
	messages          []command.CorrelateMessageRequest
	signals           []command.BroadcastSignalRequest
}

func (r *routedCommands) StartInstance(_ context.Context, req command.StartInstanceRequest) (*command.StartInstanceResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, req)
	return &command.StartInstanceResult{InstanceID: "started", DefinitionKey: req.ProcessKey, DefinitionVersion: 1, State: "active"}, nil
}

func (r *routedCommands) CorrelateMessage(_ context.Context, req command.CorrelateMessageRequest) (*command.CorrelateMessageResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, req)
	return &command.CorrelateMessageResult{InstanceID: "correlated"}, nil
}

func (r *routedCommands) ProposeMigration(context.Context, command.ProposeMigrationRequest) (*command.MigrationProposal, error) {
	return nil, &command.Error{Code: command.CodeUnavailable, Message: "no service in this test"}
}

func (r *routedCommands) PreviewMigration(context.Context, command.PreviewMigrationRequest) (*command.MigrationPreview, error) {
	return nil, &command.Error{Code: command.CodeUnavailable, Message: "no service in this test"}
}

func (r *routedCommands) BroadcastSignal(_ context.Context, req command.BroadcastSignalRequest) (*command.BroadcastSignalResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signals = append(r.signals, req)
	return &command.BroadcastSignalResult{}, nil
}

// TestServiceForms: in an observing cockpit of two services that both deploy "pay", the
// start form is one service's (the process page's link names it) and links to the
// other's; the message and signal forms ask for the service; each command carries the
// service chosen. A cockpit of one engine shows no choice and sends none.
func TestServiceForms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	orders, shipping := newFixture(t), newFixture(t)
	rm := testStores()[0].open(t)
	t.Cleanup(func() { _ = rm.Close() })
	// Shipping deploys a second version of pay: only its instances have one to migrate to.
	payDefs, err := shipping.e.ListDefinitions(ctx, store.DefinitionFilter{Key: "pay"})
	if err != nil || len(payDefs) != 1 {
		t.Fatalf("shipping's pay: %v %v", payDefs, err)
	}
	if _, err := shipping.e.Deploy(ctx, "pay-v2.bpmn", []byte(strings.Replace(string(payDefs[0].XML), "<bpmn:process ", "<bpmn:process name=\"Pay v2\" ", 1))); err != nil {
		t.Fatal(err)
	}
	// An instance of it, so that the read model folds the version.
	if _, err := shipping.e.StartInstance(ctx, "pay", engine.StartOptions{Variables: map[string]any{"amount": 1}}); err != nil {
		t.Fatal(err)
	}
	sources := map[string]*fixture{"orders": orders, "shipping": shipping}
	fold, err := observer.NewFolder(rm, func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		return sources[m.Service].e.GetDefinition(ctx, m.DefinitionID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, service := range []string{"orders", "shipping"} {
		evs, err := sources[service].e.History(ctx, store.EventFilter{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*bus.Message
		for _, ev := range evs {
			msgs = append(msgs, bus.NewMessage(service, ev))
		}
		if _, err := fold.Fold(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	e, err := engine.New(engine.Options{Store: rm, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	cmds := &routedCommands{}
	srv := httptest.NewServer(web.Guard(web.New(web.Options{Engine: e, Commands: cmds, Logger: slog.New(slog.DiscardHandler),
		ReadOnly: "observing"}), web.GuardOptions{}))
	t.Cleanup(srv.Close)
	f := &fixture{t: t, e: e, srv: srv}

	proc := f.get("/processes/pay?service=shipping")
	if !strings.Contains(proc.body, `/processes/pay/start?version=2&amp;service=shipping"`) {
		t.Errorf("the process page's start link lacks its service:\n%s", proc.body)
	}
	form := f.get("/processes/pay/start?service=shipping")
	if s := text(form.want(t, 200, "start-service", 1)[0]); !strings.Contains(s, "shipping") || !strings.Contains(s, "start in orders") {
		t.Errorf("start form service line %q", s)
	}
	if !strings.Contains(form.body, `name="service" value="shipping"`) {
		t.Errorf("the start form does not carry its service:\n%s", form.body)
	}
	f.get("/processes/pay/start?service=billing").want(t, 404, "start-form", 0)
	f.post("/processes/pay/start", url.Values{"service": {"shipping"}, "businessKey": {"B-1"}})
	f.post("/processes/pay/start", url.Values{})
	if len(cmds.starts) != 2 || cmds.starts[0].Service != "shipping" || cmds.starts[0].BusinessKey != "B-1" || cmds.starts[1].Service != "orders" {
		t.Errorf("starts %+v", cmds.starts)
	}

	f.get("/messages/correlate").want(t, 200, "message-service", 1)
	f.post("/messages/correlate", url.Values{"name": {"m"}, "service": {"orders"}})
	f.post("/messages/correlate", url.Values{"name": {"m"}})
	if p := f.post("/messages/correlate", url.Values{"name": {"m"}, "service": {"billing"}}); p.status != 400 {
		t.Errorf("a message to an unknown service: %d", p.status)
	}
	if len(cmds.messages) != 2 || cmds.messages[0].Service != "orders" || cmds.messages[1].Service != "" {
		t.Errorf("messages %+v", cmds.messages)
	}
	f.get("/signals/broadcast").want(t, 200, "signal-service", 1)
	f.post("/signals/broadcast", url.Values{"name": {"s"}, "service": {"shipping"}})
	if len(cmds.signals) != 1 || cmds.signals[0].Service != "shipping" {
		t.Errorf("signals %+v", cmds.signals)
	}

	// The migration page is one service's: shipping's has a version 2, orders' has not;
	// an instance's link (no service) is its definition's service's.
	mig := f.get("/processes/pay/migrate?service=shipping")
	if mig.status != 200 || !strings.Contains(mig.body, `name="service" value="shipping"`) {
		t.Errorf("shipping's migration page: %d", mig.status)
	}
	if p := f.get("/processes/pay/migrate?service=orders"); p.status != 200 || strings.Contains(p.body, "target=2") {
		t.Errorf("orders' migration page: %d", p.status)
	}
	if p := f.get("/processes/pay/migrate?service=billing"); p.status != 404 {
		t.Errorf("an unknown service's migration page: %d", p.status)
	}
	if p := f.get("/processes/pay/migrate?version=1&instance=" + shipping.failed.ID); p.status != 200 || !strings.Contains(p.body, `name="service" value="shipping"`) {
		t.Errorf("an instance's migration page: %d", p.status)
	}

	// One engine's cockpit: no choice, nothing named.
	orders.get("/messages/correlate").want(t, 200, "message-service", 0)
	orders.get("/signals/broadcast").want(t, 200, "signal-service", 0)
	orders.get("/processes/pay/start").want(t, 200, "start-service", 0)
}
