package command_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// startExecutor runs an operation executor on the env's engine.
func (v *env) startExecutor() *operation.Executor {
	v.t.Helper()
	x, err := operation.NewExecutor(operation.ExecutorOptions{Store: v.st, Clock: v.clock, Owner: "node-1",
		Kinds: []operation.Kind{incidents.RetryOperation(v.e), operation.CancelInstances(v.e)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		v.t.Fatal(err)
	}
	if err := x.Start(v.ctx); err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := x.Stop(ctx); err != nil {
			v.t.Error(err)
		}
	})
	return x
}

func TestOperationsOverNATS(t *testing.T) {
	t.Parallel()
	var x *operation.Executor
	v := newEnv(t, withServiceOptions(func(o *command.Options) { o.WakeOperations = func() { x.Wake() } }))
	x = v.startExecutor()
	var ids []string
	for range 5 {
		ids = append(ids, v.startInstance("usertask", nil).ID)
	}
	other := v.startInstance("nodefault", map[string]any{"amount": 5})

	// A filter's matches at creation are the items: the instance started after is not one.
	op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
		Kind: operation.KindCancelInstances, Instances: &command.InstanceSelection{DefinitionKey: "usertask"}})
	noErr(t, err)
	late := v.startInstance("usertask", nil)
	if op.Total != 5 || op.State != store.OperationRunning || op.Selection != "running instances: process usertask" {
		t.Fatalf("created: %+v", op)
	}
	wait.For(t, "operation done", func() bool {
		got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID})
		return err == nil && got.State == store.OperationCompleted
	})
	got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID, Items: true, ItemLimit: 2})
	noErr(t, err)
	if got.Succeeded != 5 || got.Done != 5 || len(got.Items) != 2 || got.Items[0].State != store.ItemOK {
		t.Fatalf("got: %+v", got)
	}
	for _, id := range ids {
		if s := v.state(id); s != store.InstanceCancelled {
			t.Errorf("instance %s: %s", id, s)
		}
	}
	if s := v.state(late.ID); s != store.InstanceActive {
		t.Errorf("instance started after the confirmation: %s, want active", s)
	}
	if s := v.state(other.ID); s != store.InstanceActive {
		t.Errorf("instance of another process: %s", s)
	}
	if a := v.audit(store.AuditFilter{Command: command.VerbCreateOperation}); len(a) != 1 || a[0].Result != "ok" || a[0].Actor != "ann" {
		t.Fatalf("audit of the create: %+v", a)
	}
	if a := v.audit(store.AuditFilter{Instance: ids[0]}); len(a) != 1 || a[0].Command != operation.KindCancelInstances {
		t.Fatalf("audit of an item: %+v", a)
	}

	// A retry by ids; the list shows both, newest first.
	inc := v.openIncident(other.ID)
	retry, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("bob"),
		Kind: operation.KindRetryIncidents, IncidentIDs: []string{inc.ID}, Variables: map[string]any{"amount": 500}})
	noErr(t, err)
	wait.For(t, "retry done", func() bool { return v.state(other.ID) == store.InstanceCompleted })
	list, err := v.client.ListOperations(v.ctx, command.ListOperationsRequest{Meta: meta("ann")})
	noErr(t, err)
	if len(list.Operations) != 2 || list.Operations[0].ID != retry.ID || list.Operations[1].ID != op.ID {
		t.Fatalf("list: %+v", list.Operations)
	}

	// Refusals.
	_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"), Kind: "instance.explode",
		InstanceIDs: ids})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
		Kind: operation.KindCancelInstances, Instances: &command.InstanceSelection{}})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
		Kind: operation.KindCancelInstances, Instances: &command.InstanceSelection{DefinitionKey: "nobody"}})
	wantCode(t, err, command.CodeInvalidState)
	_, err = v.client.CancelOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID})
	wantCode(t, err, command.CodeInvalidState)
	_, err = v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: "nope"})
	wantCode(t, err, command.CodeNotFound)
}

// TestCancelOperationOverNATS: a cancelled operation skips what has not run.
func TestCancelOperationOverNATS(t *testing.T) {
	t.Parallel()
	v := newEnv(t) // no executor: nothing runs
	for range 3 {
		v.startInstance("usertask", nil)
	}
	op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
		Kind: operation.KindCancelInstances, Instances: &command.InstanceSelection{All: true}})
	noErr(t, err)
	got, err := v.client.CancelOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID})
	noErr(t, err)
	if got.State != store.OperationCancelled || got.Skipped != 3 {
		t.Fatalf("cancelled: %+v", got)
	}
	if a := v.audit(store.AuditFilter{Command: command.VerbCancelOperation}); len(a) != 1 || a[0].Target != op.ID {
		t.Fatalf("audit: %+v", a)
	}
}

// TestOperationSelectionFilters: the instance list's filters (a variable, a state) select
// an operation's items as they select the list's rows; a malformed one is refused.
func TestOperationSelectionFilters(t *testing.T) {
	t.Parallel()
	v := newEnv(t) // no executor: only the selection is looked at
	a := v.startInstance("usertask", map[string]any{"region": "north"})
	v.startInstance("usertask", map[string]any{"region": "south"})
	op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
		Kind: operation.KindCancelInstances, Instances: &command.InstanceSelection{VariableName: "region",
			VariableValue: []byte(`"north"`), States: []string{store.InstanceActive}}})
	noErr(t, err)
	got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: op.ID, Items: true})
	noErr(t, err)
	if got.Total != 1 || len(got.Items) != 1 || got.Items[0].InstanceID != a.ID {
		t.Fatalf("selected %+v", got)
	}
	if want := `running instances: state active, variable region "north"`; got.Selection != want {
		t.Errorf("selection %q, want %q", got.Selection, want)
	}
	for _, sel := range []*command.InstanceSelection{
		{All: true, States: []string{store.InstanceCompleted}},
		{All: true, VariableValue: []byte(`1`)},
	} {
		_, err = v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
			Kind: operation.KindCancelInstances, Instances: sel})
		wantCode(t, err, command.CodeInvalidInput)
	}
}

// TestFailingAgainOverNATS: operation.get says how many of a bulk retry's incidents have
// failed again since the retry, while it runs and after; a later fix does not undo that
// they did (both stores).
func TestFailingAgainOverNATS(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"sqlite": nil, "postgres": {onPostgres()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var x *operation.Executor
			opts := append(opts, withServiceOptions(func(o *command.Options) { o.WakeOperations = func() { x.Wake() } }))
			v := newEnv(t, opts...)
			x = v.startExecutor()
			var incs, instances []string
			for range 3 {
				in := v.startInstance("nodefault", map[string]any{"amount": 5})
				instances = append(instances, in.ID)
				incs = append(incs, v.openIncident(in.ID).ID)
			}
			get := func(id string) *command.OperationInfo {
				got, err := v.client.GetOperation(v.ctx, command.OperationRequest{Meta: meta("ann"), OperationID: id})
				noErr(t, err)
				return got
			}
			// Nothing fixed: the retried gateway fails again at once.
			op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindRetryIncidents, IncidentIDs: incs[:2]})
			noErr(t, err)
			wait.For(t, "retry done", func() bool { return get(op.ID).State == store.OperationCompleted })
			if got := get(op.ID); got.Succeeded != 2 || got.FailingAgain != 2 {
				t.Fatalf("retry without a fix: %+v", got)
			}
			// The incidents that opened again, retried with a fix (later: "since" is by the
			// time the retry resolved an incident): the new operation has none failing
			// again; the first still says its two failed again since.
			v.clock.Advance(time.Minute)
			var again []string
			for _, id := range instances[:2] {
				again = append(again, v.openIncident(id).ID)
			}
			fix, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindRetryIncidents, IncidentIDs: append(again, incs[2]), Variables: map[string]any{"amount": 500}})
			noErr(t, err)
			wait.For(t, "fix done", func() bool { return get(fix.ID).State == store.OperationCompleted })
			if got := get(fix.ID); got.Succeeded != 3 || got.FailingAgain != 0 {
				t.Fatalf("retry with a fix: %+v", got)
			}
			if got := get(op.ID); got.FailingAgain != 2 {
				t.Fatalf("first retry after the fix: %+v", got)
			}
		})
	}
}

// TestInstanceAuditEntries: an instance's audit entries (AuditFilter.Instance, the
// instance page's card) hold the commands about it whatever their target: its own
// (cancel), an incident's retry, a task's completion, and the items of operations
// (both stores).
func TestInstanceAuditEntries(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"sqlite": nil, "postgres": {onPostgres()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var x *operation.Executor
			opts := append(opts, withServiceOptions(func(o *command.Options) { o.WakeOperations = func() { x.Wake() } }))
			v := newEnv(t, opts...)
			x = v.startExecutor()
			failing := v.startInstance("nodefault", map[string]any{"amount": 5})
			inc := v.openIncident(failing.ID)
			_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: inc.ID})
			noErr(t, err)
			again := v.openIncident(failing.ID)
			op, err := v.client.CreateOperation(v.ctx, command.CreateOperationRequest{Meta: meta("ann"),
				Kind: operation.KindRetryIncidents, IncidentIDs: []string{again.ID}, Variables: map[string]any{"amount": 500}})
			noErr(t, err)
			wait.For(t, "retry operation done", func() bool { return v.state(failing.ID) == store.InstanceCompleted })

			tasked := v.startInstance("usertask", nil)
			task := v.openTask(tasked.ID)
			_, err = v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("bob"), TaskID: task.ID})
			noErr(t, err)

			commands := func(id string) []string {
				var out []string
				for _, a := range v.audit(store.AuditFilter{Instance: id, Limit: 100}) {
					out = append(out, a.Command+":"+a.Result)
				}
				return out
			}
			wait.For(t, "the operation item's entry", func() bool { return len(commands(failing.ID)) == 2 })
			if got, want := commands(failing.ID), []string{operation.KindRetryIncidents + ":ok", command.VerbRetryIncident + ":ok"}; !slices.Equal(got, want) {
				t.Errorf("entries of the retried instance %v, want %v (operation %s)", got, want, op.ID)
			}
			if got, want := commands(tasked.ID), []string{command.VerbCompleteTask + ":ok"}; !slices.Equal(got, want) {
				t.Errorf("entries of the task's instance %v, want %v", got, want)
			}
		})
	}
}
