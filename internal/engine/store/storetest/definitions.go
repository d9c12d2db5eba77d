package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func definition(id, key string, version int) *store.Definition {
	return &store.Definition{
		ID: id, Key: key, Version: version, Name: "Process " + key, Checksum: "sha-" + id,
		Resource: key + ".bpmn", XML: []byte(`<definitions id="` + id + `"/>`), DeployedAt: at(float64(version)),
	}
}

func testDefinitions(t *testing.T, s store.Store) {
	order1, order2, invoice1 := definition("order:1", "order", 1), definition("order:2", "order", 2), definition("invoice:1", "invoice", 1)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, d := range []*store.Definition{order1, order2, invoice1} {
			if err := tx.InsertDefinition(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	same(t, "GetDefinition", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.GetDefinition(ctx, "order:1")
	}), order1)
	same(t, "LatestDefinition", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.LatestDefinition(ctx, "order")
	}), order2)
	same(t, "DefinitionByVersion", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.DefinitionByVersion(ctx, "order", 1)
	}), order1)

	list := func(f store.DefinitionFilter) []*store.Definition {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Definition, error) { return tx.ListDefinitions(ctx, f) })
	}
	// Ordered by key, then version.
	same(t, "ListDefinitions all", list(store.DefinitionFilter{}), []*store.Definition{invoice1, order1, order2})
	same(t, "ListDefinitions latest", list(store.DefinitionFilter{LatestOnly: true}), []*store.Definition{invoice1, order2})
	same(t, "ListDefinitions key", list(store.DefinitionFilter{Key: "order"}), []*store.Definition{order1, order2})
	same(t, "ListDefinitions key latest", list(store.DefinitionFilter{Key: "order", LatestOnly: true}), []*store.Definition{order2})
	same(t, "ListDefinitions unknown key", list(store.DefinitionFilter{Key: "nope"}), []*store.Definition{})
	same(t, "ListDefinitions checksum", list(store.DefinitionFilter{Checksum: order2.Checksum}), []*store.Definition{order2})
	same(t, "ListDefinitions checksum latest", list(store.DefinitionFilter{Checksum: order1.Checksum, LatestOnly: true}), []*store.Definition{})

	// A later version deployed in another transaction becomes the latest.
	order3 := definition("order:3", "order", 3)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.InsertDefinition(ctx, order3) })
	same(t, "LatestDefinition after redeploy", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.LatestDefinition(ctx, "order")
	}), order3)
}

func testDefinitionDuplicate(t *testing.T, s store.Store) {
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		return tx.InsertDefinition(ctx, definition("a:1", "a", 1))
	})
	ctx := t.Context()
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, definition("other-id", "a", 1)) })
	wantErr(t, err, store.ErrDuplicate, "same key and version")
	err = s.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, definition("a:1", "a", 2)) })
	wantErr(t, err, store.ErrDuplicate, "same id")
	// The failed writes left nothing behind.
	ds := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Definition, error) {
		return tx.ListDefinitions(ctx, store.DefinitionFilter{})
	})
	if len(ds) != 1 {
		t.Fatalf("definitions after failed inserts: got %d, want 1", len(ds))
	}
}

// testDefinitionServices: an observing cockpit's read model holds the definitions of
// several services (Definition.Service), unique by (service, key, version): two services
// deploying the same key and version are two definitions, listed and filtered by
// service, each with its own latest version; the instances filter by their
// definition's service.
func testDefinitionServices(t *testing.T, s store.Store) {
	own := definition("own:1", "order", 1) // an engine's own definition: service ""
	orders1, orders2 := definition("orders:1", "order", 1), definition("orders:2", "order", 2)
	shipping1 := definition("shipping:1", "order", 1)
	ship := definition("shipping-ship:1", "ship", 1)
	orders1.Service, orders2.Service, shipping1.Service, ship.Service = "orders", "orders", "shipping", "shipping"
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, d := range []*store.Definition{own, orders1, orders2, shipping1, ship} {
			if err := tx.InsertDefinition(ctx, d); err != nil {
				return fmt.Errorf("insert %s: %w", d.ID, err)
			}
		}
		return nil
	})
	same(t, "GetDefinition keeps the service", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.GetDefinition(ctx, "shipping:1")
	}), shipping1)
	ctx := t.Context()
	dup := definition("orders:1-again", "order", 1)
	dup.Service = "orders"
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertDefinition(ctx, dup) })
	wantErr(t, err, store.ErrDuplicate, "same service, key and version")

	list := func(f store.DefinitionFilter) []*store.Definition {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Definition, error) { return tx.ListDefinitions(ctx, f) })
	}
	// Ordered by service, key, version.
	same(t, "ListDefinitions all", list(store.DefinitionFilter{}), []*store.Definition{own, orders1, orders2, shipping1, ship})
	same(t, "ListDefinitions latest of each service's key", list(store.DefinitionFilter{LatestOnly: true}),
		[]*store.Definition{own, orders2, shipping1, ship})
	same(t, "ListDefinitions key", list(store.DefinitionFilter{Key: "order", LatestOnly: true}),
		[]*store.Definition{own, orders2, shipping1})
	same(t, "ListDefinitions service", list(store.DefinitionFilter{Service: "shipping"}), []*store.Definition{shipping1, ship})
	same(t, "ListDefinitions service key latest", list(store.DefinitionFilter{Service: "orders", Key: "order", LatestOnly: true}),
		[]*store.Definition{orders2})
	same(t, "ListDefinitions unknown service", list(store.DefinitionFilter{Service: "nope"}), []*store.Definition{})

	// Instances of each definition, started one second apart, newest first.
	var all []*store.Instance
	var cs []*store.Change
	for i, d := range []*store.Definition{own, orders1, orders2, shipping1, ship, orders2, shipping1, orders1} {
		in := newInstance(fmt.Sprintf("i%d", i), d.Key, at(float64(i)))
		in.DefinitionID, in.DefinitionVersion = d.ID, d.Version
		if i%2 == 1 {
			in.State = store.InstanceSuspended
		}
		all = append(all, in)
		cs = append(cs, &store.Change{Instance: in, Created: true})
	}
	apply(t, s, cs...)
	serviceOf := map[string]string{}
	for _, d := range []*store.Definition{own, orders1, orders2, shipping1, ship} {
		serviceOf[d.ID] = d.Service
	}
	for _, c := range []struct {
		name string
		f    store.InstanceFilter
		keep func(*store.Instance) bool
	}{
		{"service", store.InstanceFilter{Service: "orders"},
			func(in *store.Instance) bool { return serviceOf[in.DefinitionID] == "orders" }},
		{"service and key", store.InstanceFilter{Service: "shipping", DefinitionKey: "order"},
			func(in *store.Instance) bool {
				return serviceOf[in.DefinitionID] == "shipping" && in.DefinitionKey == "order"
			}},
		{"service running", store.InstanceFilter{Service: "orders", States: []string{store.InstanceActive, store.InstanceSuspended}},
			func(in *store.Instance) bool { return serviceOf[in.DefinitionID] == "orders" }},
		{"service suspended", store.InstanceFilter{Service: "shipping", States: []string{store.InstanceSuspended}},
			func(in *store.Instance) bool {
				return serviceOf[in.DefinitionID] == "shipping" && in.State == store.InstanceSuspended
			}},
		{"unknown service", store.InstanceFilter{Service: "nope"}, func(*store.Instance) bool { return false }},
	} {
		var want []string
		for i := len(all) - 1; i >= 0; i-- {
			if c.keep(all[i]) {
				want = append(want, all[i].ID)
			}
		}
		got, _ := listAll(t, s, c.f, 2)
		same(t, "ListInstances "+c.name, instanceIDs(got), want)
	}

	// Incidents and user tasks name their instance and process key, not its definition:
	// the service filters them through their instance's definition. One of each per
	// instance (open for the active ones, resolved or completed for the suspended).
	var put []*store.Change
	for i, in := range all {
		inc := &store.Incident{ID: "inc-" + in.ID, InstanceID: in.ID, TokenID: "t", ElementID: "charge",
			DefinitionKey: in.DefinitionKey, Type: store.IncidentFailedJob, Message: "declined", State: store.IncidentOpen,
			CreatedAt: at(float64(i))}
		task := &store.UserTask{ID: "task-" + in.ID, InstanceID: in.ID, TokenID: "t", ElementID: "review",
			DefinitionKey: in.DefinitionKey, State: store.TaskOpen, CreatedAt: at(float64(i))}
		if in.State == store.InstanceSuspended {
			inc.State, task.State = store.IncidentResolved, store.TaskCompleted
		}
		put = append(put, &store.Change{PutIncidents: []*store.Incident{inc}, PutTasks: []*store.UserTask{task}})
	}
	apply(t, s, put...)
	for _, c := range []struct {
		name    string
		service string
		state   string
		keep    func(*store.Instance) bool
	}{
		{"service", "orders", "", func(in *store.Instance) bool { return serviceOf[in.DefinitionID] == "orders" }},
		{"service open", "shipping", store.IncidentOpen, func(in *store.Instance) bool {
			return serviceOf[in.DefinitionID] == "shipping" && in.State == store.InstanceActive
		}},
		{"unknown service", "nope", "", func(*store.Instance) bool { return false }},
	} {
		var incs, tasks []string
		for _, in := range all {
			if c.keep(in) {
				incs, tasks = append(incs, "inc-"+in.ID), append(tasks, "task-"+in.ID)
			}
		}
		got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Incident, error) {
			return tx.QueueIncidents(ctx, store.IncidentQuery{Service: c.service, State: c.state}, store.IncidentCursor{}, 100)
		})
		var gotIDs []string
		for _, in := range got {
			gotIDs = append(gotIDs, in.ID)
		}
		same(t, "QueueIncidents "+c.name, gotIDs, incs)
		groups := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.IncidentGroup, error) {
			return tx.GroupIncidents(ctx, store.IncidentQuery{Service: c.service, State: c.state}, 10)
		})
		n := 0
		for _, g := range groups {
			n += g.Count
		}
		if n != len(incs) {
			t.Errorf("GroupIncidents %s: %d incidents in %d groups, want %d", c.name, n, len(groups), len(incs))
		}
		taskState := ""
		if c.state != "" {
			taskState = store.TaskOpen
		}
		gotTasks := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.UserTask, error) {
			return tx.ListUserTasks(ctx, store.UserTaskFilter{Service: c.service, State: taskState, Limit: 100})
		})
		gotIDs = nil
		for _, tk := range gotTasks {
			gotIDs = append(gotIDs, tk.ID)
		}
		same(t, "ListUserTasks "+c.name, gotIDs, tasks)
	}
}
