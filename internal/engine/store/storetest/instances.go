package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// fullChange creates instance id with one row of every kind, with nullable times both set
// and unset, plus rows that LoadInstance must leave out (a completed task, a resolved
// incident).
func fullChange(id string) (*store.Change, *store.Aggregate) {
	in := newInstance(id, "order", at(0))
	in.BusinessKey = "bk-" + id
	in.EventSeq = 2
	tk1 := newToken(id+"-t1", id, "review", at(1))
	tk2 := &store.Token{ID: id + "-t2", InstanceID: id, ElementID: "join", ScopeID: id + "-t0", State: store.TokenJoining,
		Flow: "flow_a", CreatedAt: at(2)}
	vars := []*store.Variable{
		variable(id, "amount", `42.5`),
		variable(id, "approved", `true`),
		variable(id, "customer", `{"name":"Ada","tags":["a","b"]}`),
		variable(id, "items", `[1,2,3]`),
		variable(id, "note", `"hello \"world\""`),
		variable(id, "nothing", `null`),
	}
	job := &store.Job{ID: id + "-j1", Kind: store.JobService, Type: "charge", InstanceID: id, TokenID: tk1.ID,
		ElementID: "charge", DefinitionID: "order:1", DefinitionKey: "order", Retries: 2, Attempt: 1, DueAt: at(10),
		LockOwner: "node-a", LockedUntil: ptr(at(20)), LastError: "boom", ErrorDetails: "stack", CreatedAt: at(1)}
	timer := &store.Job{ID: id + "-j2", Kind: store.JobTimer, Type: "timer1", InstanceID: id, TokenID: tk1.ID,
		ElementID: "timer1", DefinitionID: "order:1", DefinitionKey: "order", Retries: 1, DueAt: at(3600),
		Suspended: true, Repeat: "R3/PT1H", CreatedAt: at(1)}
	sub := &store.Subscription{ID: id + "-s1", InstanceID: id, TokenID: tk1.ID, ElementID: "wait", DefinitionID: "order:1",
		DefinitionKey: "order", MessageName: "paid", CorrelationKey: "bk-" + id, CreatedAt: at(1)}
	task := &store.UserTask{ID: id + "-u1", InstanceID: id, TokenID: tk1.ID, ElementID: "review", DefinitionKey: "order",
		Name: "Review", Assignee: "ada", CandidateGroups: "clerks,managers", FormKey: "review-form", State: store.TaskOpen,
		CreatedAt: at(1), DueAt: ptr(at(86400))}
	doneTask := &store.UserTask{ID: id + "-u0", InstanceID: id, ElementID: "intake", DefinitionKey: "order", Name: "Intake",
		State: store.TaskCompleted, CreatedAt: at(0), CompletedAt: ptr(at(1))}
	inc := &store.Incident{ID: id + "-x1", InstanceID: id, TokenID: tk1.ID, ElementID: "charge", DefinitionKey: "order",
		JobID: job.ID, Type: store.IncidentFailedJob, Message: "card declined", Details: "trace", State: store.IncidentOpen,
		CreatedAt: at(5)}
	resolved := &store.Incident{ID: id + "-x0", InstanceID: id, ElementID: "gw", DefinitionKey: "order",
		Type: store.IncidentNoMatchingFlow, State: store.IncidentResolved, CreatedAt: at(2), ResolvedAt: ptr(at(3))}
	c := &store.Change{
		Instance: in, Created: true,
		PutTokens: []*store.Token{tk1, tk2}, PutVariables: vars, PutJobs: []*store.Job{job, timer},
		PutSubs: []*store.Subscription{sub}, PutTasks: []*store.UserTask{task, doneTask},
		PutIncidents: []*store.Incident{inc, resolved},
		Events: []*store.Event{
			{ID: id + "-e1", InstanceID: id, InstanceSeq: 1, DefinitionID: "order:1", DefinitionKey: "order",
				Type: "instanceStarted", Time: at(0), Data: json.RawMessage(`{"businessKey":"bk"}`)},
			{ID: id + "-e2", InstanceID: id, InstanceSeq: 2, DefinitionID: "order:1", DefinitionKey: "order",
				Type: "jobCreated", ElementID: "charge", ElementType: "serviceTask", TokenID: tk1.ID, JobID: job.ID, Time: at(1)},
		},
	}
	want := &store.Aggregate{
		Instance: in, Tokens: []*store.Token{tk1, tk2}, Variables: vars, Jobs: []*store.Job{job, timer},
		Subscriptions: []*store.Subscription{sub}, Tasks: []*store.UserTask{task}, Incidents: []*store.Incident{inc},
	}
	return c, want
}

func load(t *testing.T, s store.Store, id string) *store.Aggregate {
	t.Helper()
	return sortAggregate(get(t, s, func(ctx context.Context, tx store.Tx) (*store.Aggregate, error) {
		return tx.LoadInstance(ctx, id)
	}))
}

func testApplyCreateAndLoad(t *testing.T, s store.Store) {
	c, want := fullChange("i1")
	other, _ := fullChange("i2")
	apply(t, s, c, other)
	same(t, "LoadInstance", load(t, s, "i1"), sortAggregate(want))
	same(t, "GetInstance", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) {
		return tx.GetInstance(ctx, "i1")
	}), want.Instance)
	// Closed rows are not in the aggregate but can still be read.
	same(t, "GetUserTask completed", get(t, s, func(ctx context.Context, tx store.Tx) (*store.UserTask, error) {
		return tx.GetUserTask(ctx, "i1-u0")
	}), c.PutTasks[1])
	same(t, "GetIncident resolved", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Incident, error) {
		return tx.GetIncident(ctx, "i1-x0")
	}), c.PutIncidents[1])
	same(t, "GetJob", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Job, error) {
		return tx.GetJob(ctx, "i1-j1")
	}), c.PutJobs[0])
	// The write transaction sees its own writes.
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		c3, want3 := fullChange("i3")
		if err := tx.Apply(ctx, c3); err != nil {
			return err
		}
		a, err := tx.LoadInstance(ctx, "i3")
		if err != nil {
			return err
		}
		same(t, "LoadInstance in the writing transaction", sortAggregate(a), sortAggregate(want3))
		return nil
	})
}

func testApplyUpdate(t *testing.T, s store.Store) {
	c, want := fullChange("i1")
	apply(t, s, c)

	in := *want.Instance
	in.Version = 2
	in.State = store.InstanceCompleted
	in.IncidentCount = 1
	in.EndedAt = ptr(at(100))
	in.EventSeq = 3
	tk1 := *want.Tokens[0]
	tk1.ElementID = "ship"
	tk1.State = store.TokenActive
	newTk := newToken("i1-t3", "i1", "end", at(50))
	amount := variable("i1", "amount", `100`)
	added := variable("i1", "shipped", `"yes"`)
	job := *want.Jobs[0]
	job.Retries, job.Attempt, job.LockOwner, job.LockedUntil, job.DueAt = 1, 2, "", nil, at(30)
	task := *want.Tasks[0]
	task.State, task.CompletedAt, task.Assignee = store.TaskCompleted, ptr(at(40)), "bob"
	inc := *want.Incidents[0]
	inc.State, inc.ResolvedAt = store.IncidentResolved, ptr(at(45))
	newInc := &store.Incident{ID: "i1-x2", InstanceID: "i1", ElementID: "ship", DefinitionKey: "order",
		Type: store.IncidentExpression, Message: "bad expression", State: store.IncidentOpen, CreatedAt: at(46)}
	apply(t, s, &store.Change{
		Instance:        &in,
		PutTokens:       []*store.Token{&tk1, newTk},
		DeleteTokens:    []string{"i1-t2", "no-such-token"},
		PutVariables:    []*store.Variable{amount, added},
		DeleteVariables: []store.VariableKey{{Name: "note"}, {Name: "nothing"}, {Name: "no-such-variable"}},
		PutJobs:         []*store.Job{&job},
		DeleteJobs:      []string{"i1-j2"},
		DeleteSubs:      []string{"i1-s1"},
		PutTasks:        []*store.UserTask{&task},
		PutIncidents:    []*store.Incident{&inc, newInc},
	})

	wantAgg := &store.Aggregate{
		Instance:  &in,
		Tokens:    []*store.Token{&tk1, newTk},
		Variables: []*store.Variable{amount, want.Variables[1], want.Variables[2], want.Variables[3], added},
		Jobs:      []*store.Job{&job},
		Incidents: []*store.Incident{newInc},
	}
	same(t, "LoadInstance after update", load(t, s, "i1"), sortAggregate(wantAgg))
	same(t, "GetUserTask after update", get(t, s, func(ctx context.Context, tx store.Tx) (*store.UserTask, error) {
		return tx.GetUserTask(ctx, "i1-u1")
	}), &task)

	// The next change must build on version 2.
	in3 := in
	in3.Version = 3
	in3.State = store.InstanceActive
	in3.EndedAt = nil
	apply(t, s, &store.Change{Instance: &in3})
	same(t, "GetInstance version 3", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) {
		return tx.GetInstance(ctx, "i1")
	}), &in3)
}

func testApplyConflict(t *testing.T, s store.Store) {
	c, want := fullChange("i1")
	apply(t, s, c)
	ctx := t.Context()

	stale := *want.Instance
	stale.Version = 3 // stored is 1, so only version 2 may follow
	stale.State = store.InstanceCancelled
	other, _ := fullChange("i2")
	err := s.Write(ctx, func(tx store.Tx) error {
		// An earlier change in the same transaction is rolled back with it.
		if err := tx.Apply(ctx, other); err != nil {
			return err
		}
		return tx.Apply(ctx, &store.Change{
			Instance:  &stale,
			PutTokens: []*store.Token{newToken("i1-t9", "i1", "x", at(9))},
			Events:    []*store.Event{{ID: "i1-e9", InstanceID: "i1", Type: "cancelled", Time: at(9)}},
		})
	})
	wantErr(t, err, store.ErrConflict, "Apply with a stale version")

	same(t, "instance after conflict", load(t, s, "i1"), sortAggregate(want))
	read(t, s, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.GetInstance(ctx, "i2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("instance of the rolled-back change: got %v, want ErrNotFound", err)
		}
		evs, err := tx.ListEvents(ctx, store.EventFilter{})
		if err != nil {
			return err
		}
		if len(evs) != 2 {
			t.Errorf("events after conflict: got %d, want the 2 of the first change", len(evs))
		}
		return nil
	})

	// Updating an instance that does not exist is a conflict as well.
	ghost := newInstance("ghost", "order", at(0))
	ghost.Version = 2
	err = s.Write(ctx, func(tx store.Tx) error { return tx.Apply(ctx, &store.Change{Instance: ghost}) })
	wantErr(t, err, store.ErrConflict, "Apply update of a missing instance")
}

func testApplyCreateDuplicate(t *testing.T, s store.Store) {
	c, _ := fullChange("i1")
	apply(t, s, c)
	ctx := t.Context()
	err := s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Change{Instance: newInstance("i1", "order", at(5)), Created: true})
	})
	wantErr(t, err, store.ErrDuplicate, "creating an existing instance")
}

func testApplyWithoutInstance(t *testing.T, s store.Store) {
	startJob := &store.Job{ID: "start-timer", Kind: store.JobTimerStart, Type: "start", ElementID: "start",
		DefinitionID: "order:1", DefinitionKey: "order", Retries: 1, DueAt: at(60), Repeat: "R/PT1M", CreatedAt: at(0)}
	startSub := &store.Subscription{ID: "start-msg", ElementID: "start", DefinitionID: "order:1", DefinitionKey: "order",
		MessageName: "order-placed", CreatedAt: at(0)}
	apply(t, s, &store.Change{PutJobs: []*store.Job{startJob}, PutSubs: []*store.Subscription{startSub},
		Events: []*store.Event{{ID: "deployed", DefinitionID: "order:1", DefinitionKey: "order", Type: "deployed", Time: at(0)}}})
	same(t, "start job", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Job, error) {
		return tx.GetJob(ctx, "start-timer")
	}), startJob)
	same(t, "start subscription", get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
		return tx.FindSubscriptions(ctx, "order-placed", "")
	}), []*store.Subscription{startSub})
	apply(t, s, &store.Change{DeleteJobs: []string{"start-timer"}, DeleteSubs: []string{"start-msg"}})
	read(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.GetJob(ctx, "start-timer")
		wantErr(t, err, store.ErrNotFound, "deleted start job")
		subs, err := tx.FindSubscriptions(ctx, "order-placed", "")
		if err != nil {
			return err
		}
		if len(subs) != 0 {
			t.Errorf("start subscription not deleted: %s", show(subs))
		}
		return nil
	})
}

// testApplyVariableJSON: values keep their JSON meaning whatever their formatting, and a
// variable-equals filter matches however the value was spaced when written or asked for.
func testApplyVariableJSON(t *testing.T, s store.Store) {
	in := newInstance("i1", "order", at(0))
	spaced := variable("i1", "customer", "{ \"name\" : \"Ada\",\n  \"age\": 36 }")
	apply(t, s, &store.Change{Instance: in, Created: true, PutVariables: []*store.Variable{spaced}})
	same(t, "variables", load(t, s, "i1").Variables, []*store.Variable{spaced})
	for _, value := range []string{`{"name":"Ada","age":36}`, `{ "name": "Ada", "age": 36 }`} {
		page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
			return tx.ListInstances(ctx, store.InstanceFilter{VariableName: "customer", VariableValue: json.RawMessage(value)})
		})
		same(t, "instances with customer "+value, instanceIDs(page.Instances), []string{"i1"})
	}
}

func testWriteErrorRollsBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	c, _ := fullChange("i1")
	err := s.Write(ctx, func(tx store.Tx) error {
		if err := tx.Apply(ctx, c); err != nil {
			return err
		}
		if err := tx.InsertDefinition(ctx, definition("d:1", "d", 1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write: got %v, want the error of fn", err)
	}
	read(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.GetInstance(ctx, "i1")
		wantErr(t, err, store.ErrNotFound, "instance of a failed write")
		_, err = tx.GetDefinition(ctx, "d:1")
		wantErr(t, err, store.ErrNotFound, "definition of a failed write")
		return nil
	})
}

func testReadOnly(t *testing.T, s store.Store) {
	c, _ := fullChange("i1")
	apply(t, s, c)
	ctx := t.Context()
	writes := map[string]func(tx store.Tx) error{
		"InsertDefinition": func(tx store.Tx) error { return tx.InsertDefinition(ctx, definition("d:1", "d", 1)) },
		"Apply": func(tx store.Tx) error {
			return tx.Apply(ctx, &store.Change{Instance: newInstance("i2", "order", at(0)), Created: true})
		},
		"LockJobs": func(tx store.Tx) error {
			_, err := tx.LockJobs(ctx, store.LockJobsParams{Owner: "n", Now: at(1000), LockUntil: at(2000), Limit: 10})
			return err
		},
		"PutJob":          func(tx store.Tx) error { return tx.PutJob(ctx, newJob("j", store.JobTimer, "t", at(0))) },
		"DeleteJob":       func(tx store.Tx) error { return tx.DeleteJob(ctx, "i1-j1") },
		"DeleteStartJobs": func(tx store.Tx) error { return tx.DeleteStartJobs(ctx, "order") },
		"PutSubscription": func(tx store.Tx) error {
			return tx.PutSubscription(ctx, &store.Subscription{ID: "s", MessageName: "m"})
		},
		"DeleteStartSubscriptions": func(tx store.Tx) error { return tx.DeleteStartSubscriptions(ctx, "order") },
	}
	for name, fn := range writes {
		if err := s.Read(ctx, fn); err == nil {
			t.Errorf("%s in a read transaction: no error", name)
		}
	}
	// Nothing changed.
	_, want := fullChange("i1")
	same(t, "instance after attempted writes", load(t, s, "i1"), sortAggregate(want))
}

func testNotFound(t *testing.T, s store.Store) {
	c, _ := fullChange("i1")
	apply(t, s, c)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.InsertDefinition(ctx, definition("order:1", "order", 1))
	})
	ctx := t.Context()
	lookups := map[string]func(tx store.Tx) error{
		"GetDefinition":       func(tx store.Tx) error { _, err := tx.GetDefinition(ctx, "nope"); return err },
		"LatestDefinition":    func(tx store.Tx) error { _, err := tx.LatestDefinition(ctx, "nope"); return err },
		"DefinitionByVersion": func(tx store.Tx) error { _, err := tx.DefinitionByVersion(ctx, "order", 2); return err },
		"LoadInstance":        func(tx store.Tx) error { _, err := tx.LoadInstance(ctx, "nope"); return err },
		"GetInstance":         func(tx store.Tx) error { _, err := tx.GetInstance(ctx, "nope"); return err },
		"GetJob":              func(tx store.Tx) error { _, err := tx.GetJob(ctx, "nope"); return err },
		"GetIncident":         func(tx store.Tx) error { _, err := tx.GetIncident(ctx, "nope"); return err },
		"GetUserTask":         func(tx store.Tx) error { _, err := tx.GetUserTask(ctx, "nope"); return err },
	}
	for name, fn := range lookups {
		wantErr(t, s.Read(ctx, fn), store.ErrNotFound, name)
		wantErr(t, s.Write(ctx, fn), store.ErrNotFound, name+" in a write transaction")
	}
	wantErr(t, s.Write(ctx, func(tx store.Tx) error { return tx.DeleteJob(ctx, "nope") }), store.ErrNotFound, "DeleteJob")
}

// testSavepoint follows the engine's batching: several commands in one transaction, each
// under the same savepoint name, one of them undone.
func testSavepoint(t *testing.T, s store.Store) {
	ctx := t.Context()
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for i, id := range []string{"a", "b", "c"} {
			if err := tx.Savepoint(ctx, "cmd"); err != nil {
				return err
			}
			c, _ := fullChange(id)
			if err := tx.Apply(ctx, c); err != nil {
				return err
			}
			if i == 1 {
				if err := tx.RollbackTo(ctx, "cmd"); err != nil {
					return err
				}
				// Rolled back inside the transaction already.
				if _, err := tx.GetInstance(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("after RollbackTo: got %v, want ErrNotFound", err)
				}
			}
			if err := tx.Release(ctx, "cmd"); err != nil {
				return err
			}
		}
		return nil
	})
	for id, exists := range map[string]bool{"a": true, "b": false, "c": true} {
		_, err := getErr(ctx, s, id)
		if exists && err != nil {
			t.Errorf("instance %s: %v", id, err)
		}
		if !exists && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("instance %s: got %v, want ErrNotFound", id, err)
		}
	}
	// The events of the undone command are gone too.
	evs := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Event, error) {
		return tx.ListEvents(ctx, store.EventFilter{InstanceID: "b"})
	})
	if len(evs) != 0 {
		t.Errorf("events of the rolled-back command: %s", show(evs))
	}

	for _, name := range []string{"", "1x", "x; DROP TABLE instances", "a-b", `"q"`} {
		err := s.Write(ctx, func(tx store.Tx) error { return tx.Savepoint(ctx, name) })
		if err == nil {
			t.Errorf("Savepoint(%q): no error", name)
		}
	}
}

func getErr(ctx context.Context, s store.Store, id string) (*store.Instance, error) {
	var in *store.Instance
	err := s.Read(ctx, func(tx store.Tx) error {
		var err error
		in, err = tx.GetInstance(ctx, id)
		return err
	})
	return in, err
}

func testListVariables(t *testing.T, s store.Store) {
	var cs []*store.Change
	for _, id := range []string{"i1", "i2", "i3"} {
		cs = append(cs, &store.Change{Instance: newInstance(id, "order", at(0)), Created: true,
			PutVariables: []*store.Variable{variable(id, "x", `1`), variable(id, "y", `{"id":"`+id+`"}`)}})
	}
	apply(t, s, cs...)
	got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Variable, error) {
		return tx.ListVariables(ctx, []string{"i3", "i1", "unknown"})
	})
	key := func(v *store.Variable) string { return v.InstanceID + "/" + v.Name }
	same(t, "ListVariables", byID(got, key), []*store.Variable{
		cs[0].PutVariables[0], cs[0].PutVariables[1], cs[2].PutVariables[0], cs[2].PutVariables[1],
	})
	none := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Variable, error) {
		return tx.ListVariables(ctx, nil)
	})
	if len(none) != 0 {
		t.Errorf("ListVariables(nil): %s", show(none))
	}
}

// testListTokens: the tokens of the instances asked for, by instance and arrival.
func testListTokens(t *testing.T, s store.Store) {
	a1, a2 := newToken("a1", "i1", "review", at(5)), newToken("a2", "i1", "join", at(2))
	c1 := newToken("c1", "i3", "ship", at(1))
	apply(t, s,
		&store.Change{Instance: newInstance("i1", "order", at(0)), Created: true, PutTokens: []*store.Token{a1, a2}},
		&store.Change{Instance: newInstance("i2", "order", at(0)), Created: true, PutTokens: []*store.Token{newToken("b1", "i2", "x", at(1))}},
		&store.Change{Instance: newInstance("i3", "order", at(0)), Created: true, PutTokens: []*store.Token{c1}})
	got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Token, error) {
		return tx.ListTokens(ctx, []string{"i3", "i1", "unknown"})
	})
	same(t, "ListTokens", got, []*store.Token{a2, a1, c1})
	none := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Token, error) {
		return tx.ListTokens(ctx, nil)
	})
	if len(none) != 0 {
		t.Errorf("ListTokens(nil): %s", show(none))
	}
}

// testVariableScopes: one name in several scopes is several variables; a scope's
// variable is put, updated and deleted by (scope, name) alone; and within one
// transaction (merged on PostgreSQL) the last write of each key wins, in command order.
func testVariableScopes(t *testing.T, s store.Store) {
	in := newInstance("i1", "order", at(0))
	local := func(scope, name, value string) *store.Variable {
		v := variable("i1", name, value)
		v.Scope = scope
		return v
	}
	x := variable("i1", "x", `1`)
	xA, yA, xB := local("tA", "x", `2`), local("tA", "y", `"a"`), local("tB", "x", `3`)
	apply(t, s, &store.Change{Instance: in, Created: true, PutVariables: []*store.Variable{x, xA, yA, xB}})
	key := func(v *store.Variable) string { return v.Scope + "/" + v.Name }
	same(t, "LoadInstance", byID(load(t, s, "i1").Variables, key), []*store.Variable{x, xA, yA, xB})
	got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Variable, error) {
		return tx.ListVariables(ctx, []string{"i1"})
	})
	same(t, "ListVariables", got, []*store.Variable{x, xA, yA, xB})

	// Two commands in one transaction: the first ends scope tA and updates x in tB, the
	// second starts scope tA again (a token's next task) with a new x.
	in2 := *in
	in2.Version = 2
	xB2 := local("tB", "x", `4`)
	in3 := in2
	in3.Version = 3
	xA3 := local("tA", "x", `5`)
	apply(t, s,
		&store.Change{Instance: &in2, PutVariables: []*store.Variable{xB2},
			DeleteVariables: []store.VariableKey{{Scope: "tA", Name: "x"}, {Scope: "tA", Name: "y"}}},
		&store.Change{Instance: &in3, PutVariables: []*store.Variable{xA3}},
	)
	same(t, "LoadInstance after the scopes changed", byID(load(t, s, "i1").Variables, key), []*store.Variable{x, xA3, xB2})

	// Deleting a scope's variable leaves the same name elsewhere.
	in4 := in3
	in4.Version = 4
	apply(t, s, &store.Change{Instance: &in4, DeleteVariables: []store.VariableKey{{Scope: "tB", Name: "x"}}})
	same(t, "LoadInstance after a delete", byID(load(t, s, "i1").Variables, key), []*store.Variable{x, xA3})
}

// testApplyMigrated: an update moves the instance to another definition only when the
// change says it is a migration; the instance then counts (and filters) under the new one.
func testApplyMigrated(t *testing.T, s store.Store) {
	c, want := fullChange("i1")
	apply(t, s, c)

	// A plain update that carries other definition fields leaves the stored ones alone.
	in := *want.Instance
	in.Version = 2
	in.DefinitionID, in.DefinitionKey, in.DefinitionVersion = "order:2", "order", 2
	apply(t, s, &store.Change{Instance: &in})
	got := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) { return tx.GetInstance(ctx, "i1") })
	if got.DefinitionID != "order:1" || got.DefinitionVersion != 1 {
		t.Fatalf("after a plain update: definition %q version %d, want order:1 version 1", got.DefinitionID, got.DefinitionVersion)
	}

	in.Version = 3
	in.DefinitionID, in.DefinitionKey, in.DefinitionVersion = "invoice:2", "invoice", 2
	tk := *want.Tokens[0]
	tk.ElementID = "review2"
	apply(t, s, &store.Change{Instance: &in, Migrated: true, PutTokens: []*store.Token{&tk}})
	got = get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) { return tx.GetInstance(ctx, "i1") })
	if got.DefinitionID != "invoice:2" || got.DefinitionKey != "invoice" || got.DefinitionVersion != 2 || got.Version != 3 {
		t.Fatalf("after a migration: %+v, want definition invoice:2 (invoice, version 2), version 3", got)
	}
	counts := get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) {
		return tx.CountTokens(ctx, "invoice:2")
	})
	if counts["review2"] != 1 {
		t.Fatalf("tokens of invoice:2: %v, want review2: 1", counts)
	}
	old := get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) { return tx.CountTokens(ctx, "order:1") })
	if len(old) != 0 {
		t.Fatalf("tokens of order:1 after the migration: %v, want none", old)
	}
	page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
		return tx.ListInstances(ctx, store.InstanceFilter{DefinitionID: "invoice:2"})
	})
	if len(page.Instances) != 1 || page.Instances[0].ID != "i1" {
		t.Fatalf("instances of invoice:2: %+v, want i1", page.Instances)
	}

	// A stale migration conflicts like any update.
	stale := in
	stale.Version = 3
	err := s.Write(t.Context(), func(tx store.Tx) error {
		return tx.Apply(t.Context(), &store.Change{Instance: &stale, Migrated: true})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale migration: %v, want ErrConflict", err)
	}
}
