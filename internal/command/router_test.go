package command_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestServiceSubjects: a command service with a service name answers on
// <prefix>.cmd.<service>.<verb> as well as on the unscoped subjects (ServiceOnly: the
// scoped ones alone); a client for another service gets "service X is not answering",
// unavailable and unsent. Every verb is two tokens, so the two forms never collide.
func TestServiceSubjects(t *testing.T) {
	t.Parallel()
	for _, verb := range command.Verbs {
		if strings.Count(verb, ".") != 1 {
			t.Errorf("verb %q is not two subject tokens: scoped and unscoped subjects could collide", verb)
		}
	}
	v := newEnv(t, withServiceOptions(func(o *command.Options) { o.Service = "orders" }))
	a, b := v.startInstance("usertask", nil), v.startInstance("usertask", nil)
	if _, err := v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: a.ID}); err != nil {
		t.Fatalf("unscoped: %v", err)
	}
	orders := v.client.ForService("orders")
	if orders.Service() != "orders" || v.client.Service() != "" {
		t.Errorf("services %q, %q", orders.Service(), v.client.Service())
	}
	res, err := orders.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: b.ID})
	if err != nil || res.State != store.InstanceCancelled || v.state(b.ID) != store.InstanceCancelled {
		t.Fatalf("scoped cancel: %+v, %v", res, err)
	}
	if got := v.lastAudit(b.ID); got.Actor != "ann" || got.Command != command.VerbCancelInstance {
		t.Errorf("audit %+v", got)
	}
	_, err = v.client.ForService("billing").CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: a.ID})
	cerr := wantCode(t, err, command.CodeUnavailable)
	if !errors.Is(err, command.ErrServiceNotAnswering) || !errors.Is(err, command.ErrNoService) || cerr.Service != "billing" ||
		!strings.Contains(cerr.Message, "service billing is not answering") || !strings.Contains(cerr.Message, "not sent") {
		t.Errorf("billing: %v (service %q)", err, cerr.Service)
	}
	if v.state(a.ID) != store.InstanceSuspended {
		t.Errorf("instance %s is %s after a command nobody answered", a.ID, v.state(a.ID))
	}

	only := newEnv(t, withServiceOptions(func(o *command.Options) { o.Service, o.ServiceOnly = "orders", true }))
	c := only.startInstance("usertask", nil)
	_, err = only.client.CancelInstance(only.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: c.ID})
	if !errors.Is(err, command.ErrNoService) || errors.Is(err, command.ErrServiceNotAnswering) {
		t.Errorf("unscoped on a ServiceOnly service: %v", err)
	}
	if _, err := only.client.ForService("orders").CancelInstance(only.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: c.ID}); err != nil {
		t.Errorf("scoped on a ServiceOnly service: %v", err)
	}
	if _, err := command.Start(only.ctx, command.Options{Conn: only.nc, Engine: only.e, ServiceOnly: true}); err == nil {
		t.Error("ServiceOnly without Service was accepted")
	}
	if _, err := command.Start(only.ctx, command.Options{Conn: only.nc, Engine: only.e, Service: "a.b"}); err == nil {
		t.Error("service a.b was accepted")
	}
}

// readModel is a read model of two services for the Router: the env's instances, of a
// definition of "orders" (or of "billing" for those in billing), and its tasks and
// incidents.
type readModel struct {
	store.Store
	tx     readTx
	audits *auditRows
}

func (m readModel) Read(_ context.Context, fn func(store.Tx) error) error { return fn(m.tx) }

// Write takes the Router's audit rows (the only thing it writes).
func (m readModel) Write(_ context.Context, fn func(store.Tx) error) error {
	return fn(auditTx{rows: m.audits})
}

type auditRows struct {
	mu   sync.Mutex
	rows []*store.AuditEntry
}

func (r *auditRows) last() *store.AuditEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rows) == 0 {
		return nil
	}
	return r.rows[len(r.rows)-1]
}

type auditTx struct {
	store.Tx
	rows *auditRows
}

func (x auditTx) InsertAudit(_ context.Context, a *store.AuditEntry) error {
	x.rows.mu.Lock()
	defer x.rows.mu.Unlock()
	x.rows.rows = append(x.rows.rows, a)
	return nil
}

type readTx struct {
	store.Tx
	v       *env
	billing map[string]bool
	defs    []*store.Definition
}

func (x readTx) GetInstance(ctx context.Context, id string) (*store.Instance, error) {
	d, err := x.v.e.GetInstance(ctx, id)
	if err != nil {
		return nil, store.ErrNotFound
	}
	in := *d.Instance
	in.DefinitionID = "def-orders"
	if x.billing[id] {
		in.DefinitionID = "def-billing"
	}
	return &in, nil
}

func (x readTx) GetDefinition(_ context.Context, id string) (*store.Definition, error) {
	for _, d := range x.defs {
		if d.ID == id {
			return d, nil
		}
	}
	return nil, store.ErrNotFound
}

func (x readTx) GetUserTask(ctx context.Context, id string) (*store.UserTask, error) {
	d, err := x.v.e.GetUserTask(ctx, id)
	if err != nil {
		return nil, store.ErrNotFound
	}
	return d.Task, nil
}

func (x readTx) FindSubscriptions(ctx context.Context, name, key string) ([]*store.Subscription, error) {
	var subs []*store.Subscription
	err := x.v.st.Read(ctx, func(tx store.Tx) error {
		var err error
		subs, err = tx.FindSubscriptions(ctx, name, key)
		return err
	})
	for _, sub := range subs {
		sub.DefinitionID = "def-orders"
		if x.billing[sub.InstanceID] {
			sub.DefinitionID = "def-billing"
		}
	}
	return subs, err
}

func (x readTx) ListDefinitions(_ context.Context, f store.DefinitionFilter) ([]*store.Definition, error) {
	var out []*store.Definition
	for _, d := range x.defs {
		if (f.Key == "" || d.Key == f.Key) && (f.Service == "" || d.Service == f.Service) {
			out = append(out, d)
		}
	}
	return out, nil
}

// TestRouter: an observing cockpit's Router sends a command to the service that owns
// its instance (a task's instance, the instance waiting for a message), under the actor
// given; an instance of a service
// that is down is "service billing is not answering" and changes nothing; what has no
// one owner is refused unsent (ErrNotRouted).
func TestRouter(t *testing.T) {
	t.Parallel()
	v := newEnv(t, withServiceOptions(func(o *command.Options) { o.Service, o.ServiceOnly = "orders", true }))
	a, b, c := v.startInstance("usertask", nil), v.startInstance("usertask", nil), v.startInstance("usertask", nil)
	rm := readModel{audits: &auditRows{}, tx: readTx{v: v, billing: map[string]bool{b.ID: true}, defs: []*store.Definition{
		{ID: "def-orders", Key: "usertask", Version: 1, Service: "orders"},
		{ID: "def-billing", Key: "invoice", Version: 1, Service: "billing"},
		{ID: "def-billing-2", Key: "shared", Version: 1, Service: "billing"},
		{ID: "def-orders-2", Key: "shared", Version: 1, Service: "orders"},
	}}}
	r := command.NewRouter(v.client, rm)

	if _, err := r.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("observer-ann"), InstanceID: a.ID}); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if v.state(a.ID) != store.InstanceCancelled || v.lastAudit(a.ID).Actor != "observer-ann" {
		t.Errorf("after the routed cancel: %s, audit %+v", v.state(a.ID), v.lastAudit(a.ID))
	}
	// The observing cockpit keeps its own row: what was sent, to which service, how it ended.
	if row := rm.audits.last(); row == nil || row.Command != command.VerbCancelInstance || row.Actor != "observer-ann" ||
		row.InstanceID != a.ID || row.Result != "ok" || !strings.Contains(string(row.Request), `"service":"orders"`) {
		t.Errorf("the observer's audit row of the cancel: %+v", row)
	}
	task := v.openTask(c.ID)
	if _, err := r.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: task.ID}); err != nil {
		t.Fatalf("complete task: %v", err)
	}
	if v.state(c.ID) != store.InstanceCompleted {
		t.Errorf("after the routed task completion: %s", v.state(c.ID))
	}
	paid := v.startInstance("message", map[string]any{"orderId": "o-1"})
	if _, err := r.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "payment.received", CorrelationKey: "o-1"}); err != nil {
		t.Fatalf("correlate: %v", err)
	}
	if v.state(paid.ID) != store.InstanceCompleted {
		t.Errorf("instance %s is %s after the routed message", paid.ID, v.state(paid.ID))
	}
	if len(v.audit(store.AuditFilter{Command: command.VerbCorrelateMessage})) != 1 {
		t.Error("the routed correlation left no audit row")
	}
	started, err := r.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask"})
	if err != nil || v.state(started.InstanceID) != store.InstanceActive {
		t.Fatalf("start: %+v, %v", started, err)
	}

	// Named services: a start, a message and a signal go where they are told.
	named, err := r.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask", Service: "orders"})
	if err != nil || v.state(named.InstanceID) != store.InstanceActive {
		t.Fatalf("start in orders: %+v, %v", named, err)
	}
	_, err = r.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask", Service: "billing"})
	if cerr := wantCode(t, err, command.CodeNotFound); !strings.Contains(cerr.Message, "service billing deploys no process") {
		t.Errorf("start in a service without the process: %v", err)
	}
	_, err = r.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "shared", Service: "billing"})
	if cerr := wantCode(t, err, command.CodeUnavailable); !errors.Is(err, command.ErrServiceNotAnswering) || cerr.Service != "billing" {
		t.Errorf("start of a process of two services, in billing: %v", err)
	}
	if _, err := r.BroadcastSignal(v.ctx, command.BroadcastSignalRequest{Meta: meta("ann"), Name: "s", Service: "orders"}); err != nil {
		t.Errorf("signal to orders: %v", err)
	}
	if len(v.audit(store.AuditFilter{Command: command.VerbBroadcastSignal})) != 1 {
		t.Error("the signal sent to orders left no audit row there")
	}
	_, err = r.BroadcastSignal(v.ctx, command.BroadcastSignalRequest{Meta: meta("ann"), Name: "s", Service: "billing"})
	if !errors.Is(err, command.ErrServiceNotAnswering) {
		t.Errorf("signal to billing: %v", err)
	}
	_, err = r.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "nothing.waits", Service: "orders"})
	if cerr := wantCode(t, err, command.CodeNotFound); cerr.Service != "" && cerr.Service != "orders" {
		t.Errorf("a message to orders that nothing waits for: %v", err)
	}
	if len(v.audit(store.AuditFilter{Command: command.VerbCorrelateMessage})) != 2 {
		t.Error("the message sent to orders left no audit row there")
	}
	_, err = r.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "m", Service: "nosuch"})
	if cerr := wantCode(t, err, command.CodeNotFound); !strings.Contains(cerr.Message, `service "nosuch" deploys no process`) {
		t.Errorf("a message to an unknown service: %v", err)
	}

	_, err = r.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: b.ID})
	if cerr := wantCode(t, err, command.CodeUnavailable); !errors.Is(err, command.ErrServiceNotAnswering) || cerr.Service != "billing" {
		t.Errorf("cancel in billing: %v", err)
	}
	if v.state(b.ID) != store.InstanceActive {
		t.Errorf("instance %s is %s after a command nobody answered", b.ID, v.state(b.ID))
	}
	if row := rm.audits.last(); row == nil || row.InstanceID != b.ID || row.Result != string(command.CodeUnavailable) ||
		!strings.Contains(row.Error, "not answering") || !strings.Contains(string(row.Request), `"service":"billing"`) {
		t.Errorf("the observer's audit row of the unanswered cancel: %+v", row)
	}
	_, err = r.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: "nope"})
	wantCode(t, err, command.CodeNotFound)

	for name, err := range map[string]error{
		"start of a process of two services": second(r.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "shared"})),
		"correlate":                          second(r.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "m"})),
		"signal":                             second(r.BroadcastSignal(v.ctx, command.BroadcastSignalRequest{Meta: meta("ann"), Name: "s"})),
		"operation":                          second(r.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann")})),
	} {
		cerr := wantCode(t, err, command.CodeUnavailable)
		if !errors.Is(err, command.ErrNotRouted) || !strings.Contains(cerr.Message, "observing cockpit") && !strings.Contains(cerr.Message, "name the") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
