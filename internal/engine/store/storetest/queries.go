package storetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// filterFixture is 30 instances that differ in every filtered field; two instances share
// each start time, so the id decides their order.
type filterFixture struct {
	instances []*store.Instance
	vars      map[string]map[string]string // instance -> name -> compact JSON
	elements  map[string][]string          // instance -> token elements
}

func writeFilterFixture(t *testing.T, s store.Store) *filterFixture {
	f := &filterFixture{vars: map[string]map[string]string{}, elements: map[string][]string{}}
	keys := []string{"order", "invoice", "refund"}
	states := []string{store.InstanceActive, store.InstanceSuspended, store.InstanceCompleted, store.InstanceCancelled}
	colors := []string{`"red"`, `"green"`, `"blue"`}
	var cs []*store.Change
	for i := range 30 {
		id := fmt.Sprintf("i%02d", i)
		key := keys[i%3]
		in := newInstance(id, key, at(float64(i/2)))
		in.DefinitionVersion = 1 + i%2
		in.DefinitionID = fmt.Sprintf("%s:%d", key, in.DefinitionVersion)
		in.State = states[i%4]
		in.BusinessKey = fmt.Sprintf("bk-%d", i%5)
		if i%7 == 0 {
			in.IncidentCount = 1 + i%2
		}
		f.instances = append(f.instances, in)
		f.vars[id] = map[string]string{
			"color": colors[(i/3)%3],
			"n":     fmt.Sprint(i % 4),
			"obj":   fmt.Sprintf(`{"k":%d}`, i%2),
		}
		f.elements[id] = []string{[]string{"review", "ship"}[i%2]}
		if i%5 == 0 {
			f.elements[id] = append(f.elements[id], "join")
		}
		if i%10 == 0 {
			f.elements[id] = append(f.elements[id], "join") // two tokens at one element
		}
		c := &store.Change{Instance: in, Created: true}
		for name, value := range f.vars[id] {
			c.PutVariables = append(c.PutVariables, variable(id, name, value))
		}
		for j, el := range f.elements[id] {
			c.PutTokens = append(c.PutTokens, newToken(fmt.Sprintf("%s-t%d", id, j), id, el, at(0)))
		}
		cs = append(cs, c)
	}
	// Written in an order unrelated to the list order.
	slices.Reverse(cs[10:20])
	apply(t, s, cs...)
	return f
}

// want filters and orders the fixture as ListInstances must.
func (f *filterFixture) want(keep func(in *store.Instance) bool) []string {
	var out []*store.Instance
	for _, in := range f.instances {
		if keep(in) {
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b *store.Instance) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return instanceIDs(out)
}

// listAll pages through ListInstances with page size n.
func listAll(t *testing.T, s store.Store, f store.InstanceFilter, n int) ([]*store.Instance, int) {
	t.Helper()
	f.Limit = n
	var all []*store.Instance
	pages := 0
	for {
		page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) { return tx.ListInstances(ctx, f) })
		pages++
		if len(page.Instances) > n {
			t.Fatalf("page of %d instances with limit %d", len(page.Instances), n)
		}
		all = append(all, page.Instances...)
		if page.Next == "" {
			return all, pages
		}
		if len(page.Instances) == 0 {
			t.Fatalf("empty page with a next cursor")
		}
		if pages > 1000 {
			t.Fatalf("pagination does not end")
		}
		f.After = page.Next
	}
}

func testInstanceFilters(t *testing.T, s store.Store) {
	fx := writeFilterFixture(t, s)
	waitingAt := func(in *store.Instance, el string) bool { return slices.Contains(fx.elements[in.ID], el) }
	cases := []struct {
		name   string
		filter store.InstanceFilter
		keep   func(in *store.Instance) bool
	}{
		{"none", store.InstanceFilter{}, func(*store.Instance) bool { return true }},
		{"definition key", store.InstanceFilter{DefinitionKey: "order"},
			func(in *store.Instance) bool { return in.DefinitionKey == "order" }},
		{"definition id", store.InstanceFilter{DefinitionID: "invoice:2"},
			func(in *store.Instance) bool { return in.DefinitionID == "invoice:2" }},
		{"one state", store.InstanceFilter{States: []string{store.InstanceActive}},
			func(in *store.Instance) bool { return in.State == store.InstanceActive }},
		{"two states", store.InstanceFilter{States: []string{store.InstanceCompleted, store.InstanceCancelled}},
			func(in *store.Instance) bool {
				return in.State == store.InstanceCompleted || in.State == store.InstanceCancelled
			}},
		{"running states", store.InstanceFilter{States: []string{store.InstanceActive, store.InstanceSuspended}},
			func(in *store.Instance) bool {
				return in.State == store.InstanceActive || in.State == store.InstanceSuspended
			}},
		{"business key", store.InstanceFilter{BusinessKey: "bk-3"},
			func(in *store.Instance) bool { return in.BusinessKey == "bk-3" }},
		{"variable string", store.InstanceFilter{VariableName: "color", VariableValue: json.RawMessage(`"red"`)},
			func(in *store.Instance) bool { return fx.vars[in.ID]["color"] == `"red"` }},
		{"variable number", store.InstanceFilter{VariableName: "n", VariableValue: json.RawMessage(`2`)},
			func(in *store.Instance) bool { return fx.vars[in.ID]["n"] == `2` }},
		{"variable object spaced", store.InstanceFilter{VariableName: "obj", VariableValue: json.RawMessage(`{ "k" : 1 }`)},
			func(in *store.Instance) bool { return fx.vars[in.ID]["obj"] == `{"k":1}` }},
		{"variable other name", store.InstanceFilter{VariableName: "n", VariableValue: json.RawMessage(`"red"`)},
			func(in *store.Instance) bool { return false }},
		{"started after (inclusive)", store.InstanceFilter{StartedAfter: at(5)},
			func(in *store.Instance) bool { return !in.StartedAt.Before(at(5)) }},
		{"started before (exclusive)", store.InstanceFilter{StartedBefore: at(10)},
			func(in *store.Instance) bool { return in.StartedAt.Before(at(10)) }},
		{"started between", store.InstanceFilter{StartedAfter: at(3), StartedBefore: at(7)},
			func(in *store.Instance) bool { return !in.StartedAt.Before(at(3)) && in.StartedAt.Before(at(7)) }},
		{"has incident", store.InstanceFilter{HasIncident: ptr(true)},
			func(in *store.Instance) bool { return in.IncidentCount > 0 }},
		{"has no incident", store.InstanceFilter{HasIncident: ptr(false)},
			func(in *store.Instance) bool { return in.IncidentCount == 0 }},
		{"waiting at", store.InstanceFilter{WaitingAt: "join"},
			func(in *store.Instance) bool { return waitingAt(in, "join") }},
		{"waiting at unknown", store.InstanceFilter{WaitingAt: "nowhere"},
			func(in *store.Instance) bool { return false }},
		{"key state waiting", store.InstanceFilter{DefinitionKey: "order", States: []string{store.InstanceActive, store.InstanceCompleted}, WaitingAt: "review"},
			func(in *store.Instance) bool {
				return in.DefinitionKey == "order" && (in.State == store.InstanceActive || in.State == store.InstanceCompleted) &&
					waitingAt(in, "review")
			}},
		{"variable incident time", store.InstanceFilter{VariableName: "obj", VariableValue: json.RawMessage(`{"k":0}`),
			HasIncident: ptr(false), StartedAfter: at(2)},
			func(in *store.Instance) bool {
				return fx.vars[in.ID]["obj"] == `{"k":0}` && in.IncidentCount == 0 && !in.StartedAt.Before(at(2))
			}},
		{"everything", store.InstanceFilter{DefinitionKey: "order", DefinitionID: "order:1", States: []string{store.InstanceActive},
			BusinessKey: "bk-0", VariableName: "n", VariableValue: json.RawMessage(`0`), StartedAfter: at(0),
			StartedBefore: at(100), HasIncident: ptr(true), WaitingAt: "join"},
			func(in *store.Instance) bool {
				return in.DefinitionID == "order:1" && in.State == store.InstanceActive && in.BusinessKey == "bk-0" &&
					fx.vars[in.ID]["n"] == "0" && in.IncidentCount > 0 && waitingAt(in, "join")
			}},
	}
	for _, c := range cases {
		want := fx.want(c.keep)
		page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
			return tx.ListInstances(ctx, c.filter)
		})
		same(t, c.name, instanceIDs(page.Instances), want)
		if page.Next != "" {
			t.Fatalf("%s: a cursor after the only page", c.name)
		}
		if c.name == "everything" && len(want) != 1 {
			t.Fatalf("fixture: the combined filter should match one instance, matches %v", want)
		}
		// The same, three at a time.
		all, _ := listAll(t, s, c.filter, 3)
		same(t, c.name+" paged", instanceIDs(all), want)
		// Counted, and from an offset.
		n := get(t, s, func(ctx context.Context, tx store.Tx) (int64, error) { return tx.CountInstances(ctx, c.filter) })
		same(t, c.name+" counted", n, int64(len(want)))
		if len(want) > 2 {
			f := c.filter
			f.Offset, f.Limit = 2, 2
			page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) { return tx.ListInstances(ctx, f) })
			same(t, c.name+" from offset 2", instanceIDs(page.Instances), want[2:min(4, len(want))])
		}
	}
	// Rows come back whole.
	page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
		return tx.ListInstances(ctx, store.InstanceFilter{BusinessKey: "bk-0", DefinitionKey: "order"})
	})
	var want []*store.Instance
	for _, id := range fx.want(func(in *store.Instance) bool { return in.BusinessKey == "bk-0" && in.DefinitionKey == "order" }) {
		want = append(want, fx.instances[int(id[1]-'0')*10+int(id[2]-'0')])
	}
	same(t, "listed rows", page.Instances, want)

	// A cursor the store did not make is ErrInvalidCursor (a 400 at the edge), never a
	// driver's error: bad base64, no separator, a time out of range, a NUL or invalid
	// UTF-8 in its id (PostgreSQL refuses both in text).
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{"not a cursor!", cursor("x"), cursor("x:y"), cursor("1:a\x00b"), cursor("1:\xff"),
		cursor("-9223372036854775808:a"), cursor("9223372036854775807:a"),
		cursor("soon:i1"), base64.StdEncoding.EncodeToString([]byte("1:i1"))} {
		err := s.Read(t.Context(), func(tx store.Tx) error {
			_, err := tx.ListInstances(t.Context(), store.InstanceFilter{After: bad})
			return err
		})
		if !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("ListInstances with the malformed cursor %q: %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func testInstancePagination(t *testing.T, s store.Store) {
	var cs []*store.Change
	var want []string
	for i := range 25 {
		// Three instances per start time.
		cs = append(cs, &store.Change{Instance: newInstance(fmt.Sprintf("p%02d", i), "order", at(float64(i/3))), Created: true})
	}
	apply(t, s, cs...)
	for i := 24; i >= 0; i-- {
		want = append(want, fmt.Sprintf("p%02d", i))
	}
	for _, n := range []int{1, 5, 7, 24, 25, 26} {
		all, pages := listAll(t, s, store.InstanceFilter{}, n)
		same(t, fmt.Sprintf("pages of %d", n), instanceIDs(all), want)
		if wantPages := (25 + n - 1) / n; pages != wantPages {
			t.Fatalf("pages of %d: got %d pages, want %d", n, pages, wantPages)
		}
	}

	// Instances started after the first page was read do not shift the later pages.
	first := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
		return tx.ListInstances(ctx, store.InstanceFilter{Limit: 10})
	})
	apply(t, s, &store.Change{Instance: newInstance("newer", "order", at(100)), Created: true},
		&store.Change{Instance: newInstance("p08b", "order", at(2)), Created: true}) // sorts before p08 in the next page
	rest, _ := listAll(t, s, store.InstanceFilter{After: first.Next}, 10)
	got := append(instanceIDs(first.Instances), instanceIDs(rest)...)
	wantAfter := append(slices.Clone(want[:10]), want[10:16]...)
	wantAfter = append(wantAfter, "p08b")
	wantAfter = append(wantAfter, want[16:]...)
	same(t, "pages around a concurrent insert", got, wantAfter)
}

func testInstanceDefaultPage(t *testing.T, s store.Store) {
	var cs []*store.Change
	for i := range 60 {
		cs = append(cs, &store.Change{Instance: newInstance(fmt.Sprintf("d%02d", i), "order", at(float64(i))), Created: true})
	}
	apply(t, s, cs...)
	page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
		return tx.ListInstances(ctx, store.InstanceFilter{})
	})
	if len(page.Instances) != 50 || page.Next == "" {
		t.Fatalf("default page: %d instances, next %q; want 50 and a cursor", len(page.Instances), page.Next)
	}
	if page.Instances[0].ID != "d59" {
		t.Fatalf("default page starts at %s, want the newest d59", page.Instances[0].ID)
	}
}

func testIncidents(t *testing.T, s store.Store) {
	mk := func(id, instance, defKey, state string, created float64) *store.Incident {
		in := &store.Incident{ID: id, InstanceID: instance, TokenID: "t", ElementID: "el", DefinitionKey: defKey, JobID: "j",
			Type: store.IncidentFailedJob, Message: "m " + id, Details: "d", State: state, CreatedAt: at(created)}
		if state == store.IncidentResolved {
			in.ResolvedAt = ptr(at(created + 1))
		}
		return in
	}
	x1 := mk("x1", "i1", "order", store.IncidentOpen, 1)
	x2 := mk("x2", "i1", "order", store.IncidentResolved, 2)
	x3 := mk("x3", "i2", "invoice", store.IncidentOpen, 3)
	x4 := mk("x4", "i3", "order", store.IncidentOpen, 3)
	apply(t, s, &store.Change{PutIncidents: []*store.Incident{x1, x2, x3, x4}})
	list := func(f store.IncidentFilter) []*store.Incident {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Incident, error) { return tx.ListIncidents(ctx, f) })
	}
	// Newest first; equal times by id, descending.
	same(t, "all", list(store.IncidentFilter{}), []*store.Incident{x4, x3, x2, x1})
	same(t, "instance", list(store.IncidentFilter{InstanceID: "i1"}), []*store.Incident{x2, x1})
	same(t, "definition", list(store.IncidentFilter{DefinitionKey: "order"}), []*store.Incident{x4, x2, x1})
	same(t, "state", list(store.IncidentFilter{State: store.IncidentOpen}), []*store.Incident{x4, x3, x1})
	same(t, "definition state", list(store.IncidentFilter{DefinitionKey: "order", State: store.IncidentOpen}), []*store.Incident{x4, x1})
	same(t, "limit", list(store.IncidentFilter{Limit: 2}), []*store.Incident{x4, x3})
	same(t, "GetIncident", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Incident, error) {
		return tx.GetIncident(ctx, "x2")
	}), x2)
}

func testUserTasks(t *testing.T, s store.Store) {
	mk := func(id, instance, assignee, state string, created float64) *store.UserTask {
		u := &store.UserTask{ID: id, InstanceID: instance, TokenID: "t-" + id, ElementID: "approve", DefinitionKey: "order",
			Name: "Approve " + id, Assignee: assignee, CandidateGroups: "managers", FormKey: "f", State: state,
			CreatedAt: at(created)}
		if state != store.TaskOpen {
			u.CompletedAt = ptr(at(created + 10))
		}
		if created > 2 {
			u.DueAt = ptr(at(created + 3600))
		}
		return u
	}
	u1 := mk("u1", "i1", "ada", store.TaskOpen, 1)
	u2 := mk("u2", "i1", "", store.TaskCompleted, 2)
	u3 := mk("u3", "i2", "ada", store.TaskOpen, 3)
	u4 := mk("u4", "i3", "bob", store.TaskCancelled, 3)
	apply(t, s, &store.Change{PutTasks: []*store.UserTask{u4, u3, u2, u1}})
	list := func(f store.UserTaskFilter) []*store.UserTask {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.UserTask, error) { return tx.ListUserTasks(ctx, f) })
	}
	// Oldest first; equal times by id.
	same(t, "all", list(store.UserTaskFilter{}), []*store.UserTask{u1, u2, u3, u4})
	same(t, "instance", list(store.UserTaskFilter{InstanceID: "i1"}), []*store.UserTask{u1, u2})
	same(t, "state", list(store.UserTaskFilter{State: store.TaskOpen}), []*store.UserTask{u1, u3})
	same(t, "assignee", list(store.UserTaskFilter{Assignee: "ada"}), []*store.UserTask{u1, u3})
	same(t, "assignee state", list(store.UserTaskFilter{Assignee: "bob", State: store.TaskOpen}), []*store.UserTask{})
	same(t, "limit", list(store.UserTaskFilter{Limit: 3}), []*store.UserTask{u1, u2, u3})
	same(t, "GetUserTask", get(t, s, func(ctx context.Context, tx store.Tx) (*store.UserTask, error) {
		return tx.GetUserTask(ctx, "u4")
	}), u4)
}

// testCountTokens: tokens per element, for one definition's instances only.
func testCountTokens(t *testing.T, s store.Store) {
	mk := func(id, def string, elements ...string) *store.Change {
		in := newInstance(id, "order", at(1))
		in.DefinitionID = def
		c := &store.Change{Instance: in, Created: true}
		for i, el := range elements {
			c.PutTokens = append(c.PutTokens, newToken(fmt.Sprintf("%s-t%d", id, i), id, el, at(1)))
		}
		return c
	}
	apply(t, s, mk("i1", "order:1", "pay", "ship"), mk("i2", "order:1", "pay"), mk("i3", "order:2", "pay"), mk("i4", "order:1"))
	counts := get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) { return tx.CountTokens(ctx, "order:1") })
	same(t, "CountTokens", counts, map[string]int{"pay": 2, "ship": 1})
	none := get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int, error) { return tx.CountTokens(ctx, "nope") })
	same(t, "CountTokens of an unknown definition", none, map[string]int{})
}

// testElementCounts: Apply counts every event.ElementLeft event per (definition, element),
// in its transaction. Counts accumulate across changes and commits, other event types
// count nothing, and nothing of a change that is rolled back (to a savepoint, with the
// whole write, or by a version conflict) is counted.
func testElementCounts(t *testing.T, s store.Store) {
	const left = event.ElementLeft
	ctx := t.Context()
	seq := map[string]int64{}
	ev := func(inst *store.Instance, typ event.Type, element string) *store.Event {
		seq[inst.ID]++
		return &store.Event{ID: fmt.Sprintf("%s-e%d", inst.ID, seq[inst.ID]), InstanceID: inst.ID, InstanceSeq: seq[inst.ID],
			DefinitionID: inst.DefinitionID, DefinitionKey: inst.DefinitionKey, Type: typ, ElementID: element, Time: at(1)}
	}
	counts := func(def string) map[string]int64 {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (map[string]int64, error) { return tx.ElementCounts(ctx, def) })
	}
	instance := func(id, def string) *store.Instance {
		in := newInstance(id, "order", at(0))
		in.DefinitionID = def
		return in
	}
	next := func(in *store.Instance) *store.Instance {
		c := *in
		c.Version++
		return &c
	}

	same(t, "ElementCounts of an empty store", counts("order:1"), map[string]int64{})

	i1, i2, i3 := instance("i1", "order:1"), instance("i2", "order:1"), instance("i3", "order:2")
	apply(t, s,
		&store.Change{Instance: i1, Created: true, Events: []*store.Event{
			ev(i1, event.InstanceStarted, ""), ev(i1, event.ElementEntered, "start"), ev(i1, left, "start"),
			ev(i1, event.ElementEntered, "pay"), ev(i1, event.JobCreated, "pay")}},
		// Two changes of one instance in one transaction, and a second instance.
		&store.Change{Instance: next(i1), Events: []*store.Event{
			ev(i1, left, "pay"), ev(i1, left, "ship"), ev(i1, left, "ship"), ev(i1, event.ElementCancelled, "timer"),
			ev(i1, left, "end"), ev(i1, event.InstanceCompleted, "")}},
		&store.Change{Instance: i2, Created: true, Events: []*store.Event{ev(i2, left, "start"), ev(i2, event.ElementEntered, "pay")}},
		// Another version of the process: its own counts.
		&store.Change{Instance: i3, Created: true, Events: []*store.Event{ev(i3, left, "start"), ev(i3, left, "pay")}},
	)
	want1 := map[string]int64{"start": 2, "pay": 1, "ship": 2, "end": 1}
	same(t, "ElementCounts after the first write", counts("order:1"), want1)
	same(t, "ElementCounts of the other version", counts("order:2"), map[string]int64{"start": 1, "pay": 1})
	same(t, "ElementCounts of an unknown definition", counts("nope"), map[string]int64{})

	// A later commit adds to the stored counts; a change that completes many distinct
	// elements at once (a long path without wait states) counts each of them.
	i2 = next(i2)
	c := &store.Change{Instance: i2}
	for round := range 3 {
		for k := range 12 {
			if round < 2 || k%2 == 0 {
				c.Events = append(c.Events, ev(i2, left, fmt.Sprintf("step%02d", k)))
			}
		}
	}
	c.Events = append(c.Events, ev(i2, left, "pay"))
	apply(t, s, c)
	want2 := map[string]int64{"start": 2, "pay": 2, "ship": 2, "end": 1}
	for k := range 12 {
		want2[fmt.Sprintf("step%02d", k)] = 2 + int64(1-k%2)
	}
	same(t, "ElementCounts after a second commit", counts("order:1"), want2)

	// Rolled back to a savepoint: the counts inside the transaction and after its commit
	// are those of the changes that stayed.
	i1b := next(next(i1))
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.Savepoint(ctx, "cmd"); err != nil {
			return err
		}
		if err := tx.Apply(ctx, &store.Change{Instance: i1b, Events: []*store.Event{ev(i1, left, "pay"), ev(i1, left, "undone")}}); err != nil {
			return err
		}
		got, err := tx.ElementCounts(ctx, "order:1")
		if err != nil {
			return err
		}
		if got["pay"] != want2["pay"]+1 || got["undone"] != 1 {
			t.Errorf("ElementCounts inside the write: pay %d, undone %d; want %d, 1", got["pay"], got["undone"], want2["pay"]+1)
		}
		if err := tx.RollbackTo(ctx, "cmd"); err != nil {
			return err
		}
		if err := tx.Release(ctx, "cmd"); err != nil {
			return err
		}
		got, err = tx.ElementCounts(ctx, "order:1")
		if err != nil {
			return err
		}
		same(t, "ElementCounts after RollbackTo", got, want2)
		// The next command under the same savepoint name counts.
		if err := tx.Savepoint(ctx, "cmd"); err != nil {
			return err
		}
		if err := tx.Apply(ctx, &store.Change{Instance: i1b, Events: []*store.Event{ev(i1, left, "end")}}); err != nil {
			return err
		}
		return tx.Release(ctx, "cmd")
	})
	want2["end"]++
	same(t, "ElementCounts after a partly rolled-back write", counts("order:1"), want2)

	// A write that fails as a whole.
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx store.Tx) error {
		i4 := instance("i4", "order:1")
		if err := tx.Apply(ctx, &store.Change{Instance: i4, Created: true, Events: []*store.Event{ev(i4, left, "start")}}); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom, "Write returning an error")
	// A stale version: the conflict rolls the change back with its counts.
	err = s.Write(ctx, func(tx store.Tx) error {
		return tx.Apply(ctx, &store.Change{Instance: i1b, Events: []*store.Event{ev(i1, left, "pay")}}) // version already taken
	})
	wantErr(t, err, store.ErrConflict, "Apply with a stale version")
	same(t, "ElementCounts after failed writes", counts("order:1"), want2)
}
