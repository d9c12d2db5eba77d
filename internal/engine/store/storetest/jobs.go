package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func testJobs(t *testing.T, s store.Store) {
	j1 := newJob("j1", store.JobService, "charge", at(10))
	j1.InstanceID = "i1"
	j2 := newJob("j2", store.JobTimer, "t1", at(5))
	j2.InstanceID = "i1"
	j2.LockOwner, j2.LockedUntil = "node", ptr(at(7))
	j3 := newJob("j3", store.JobService, "charge", at(1))
	j3.InstanceID = "i2"
	start1 := &store.Job{ID: "s1", Kind: store.JobTimerStart, Type: "start", ElementID: "start", DefinitionID: "order:1",
		DefinitionKey: "order", Retries: 1, DueAt: at(60), Repeat: "R/PT1M", CreatedAt: at(0)}
	start2 := &store.Job{ID: "s2", Kind: store.JobTimerStart, Type: "start", ElementID: "start", DefinitionID: "invoice:1",
		DefinitionKey: "invoice", Retries: 1, DueAt: at(60), CreatedAt: at(0)}
	// A job of an instance of "order" is not a start job.
	j4 := newJob("j4", store.JobTimer, "t2", at(70))
	j4.DefinitionKey = "order"
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, j := range []*store.Job{j1, j2, j3, start1, start2, j4} {
			if err := tx.PutJob(ctx, j); err != nil {
				return err
			}
		}
		return nil
	})
	same(t, "GetJob", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Job, error) { return tx.GetJob(ctx, "j2") }), j2)

	list := func(f store.JobFilter) []*store.Job {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Job, error) { return tx.ListJobs(ctx, f) })
	}
	// Ordered by due time, then id.
	same(t, "ListJobs all", list(store.JobFilter{}), []*store.Job{j3, j2, j1, start1, start2, j4})
	same(t, "ListJobs instance", list(store.JobFilter{InstanceID: "i1"}), []*store.Job{j2, j1})
	same(t, "ListJobs type", list(store.JobFilter{Type: "charge"}), []*store.Job{j3, j1})
	same(t, "ListJobs instance type", list(store.JobFilter{InstanceID: "i1", Type: "charge"}), []*store.Job{j1})
	same(t, "ListJobs limit", list(store.JobFilter{Limit: 2}), []*store.Job{j3, j2})
	same(t, "ListJobs lock owner", list(store.JobFilter{LockOwner: "node"}), []*store.Job{j2})
	same(t, "ListJobs kind", list(store.JobFilter{Kind: store.JobService}), []*store.Job{j3, j1})
	same(t, "ListJobs id", list(store.JobFilter{ID: "j3"}), []*store.Job{j3})
	same(t, "ListJobs definition", list(store.JobFilter{DefinitionKey: "order"}), []*store.Job{start1, j4})
	same(t, "ListJobs version", list(store.JobFilter{DefinitionID: "invoice:1"}), []*store.Job{start2})
	same(t, "ListJobs element", list(store.JobFilter{ElementID: "start", Kind: store.JobTimerStart}), []*store.Job{start1, start2})
	same(t, "ListJobs locked", list(store.JobFilter{Locked: ptr(true), Now: at(6)}), []*store.Job{j2})
	same(t, "ListJobs lock expired", list(store.JobFilter{Locked: ptr(true), Now: at(7)}), []*store.Job{})
	same(t, "ListJobs not locked", list(store.JobFilter{Locked: ptr(false), Now: at(6), Kind: store.JobService}), []*store.Job{j3, j1})
	same(t, "ListJobs offset", list(store.JobFilter{Offset: 1, Limit: 2}), []*store.Job{j2, j1})
	count := func(f store.JobFilter) int64 {
		return get(t, s, func(ctx context.Context, tx store.Tx) (int64, error) { return tx.CountJobs(ctx, f) })
	}
	same(t, "CountJobs all", count(store.JobFilter{Offset: 1, Limit: 1}), int64(6))
	same(t, "CountJobs kind", count(store.JobFilter{Kind: store.JobService}), int64(2))

	// PutJob is an upsert.
	j1b := *j1
	j1b.Retries, j1b.Attempt, j1b.LastError, j1b.DueAt = 0, 3, "failed", at(11)
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutJob(ctx, &j1b) })
	same(t, "ListJobs with retries", list(store.JobFilter{Kind: store.JobService, HasRetries: ptr(true)}), []*store.Job{j3})
	same(t, "ListJobs without retries", list(store.JobFilter{HasRetries: ptr(false)}), []*store.Job{&j1b})
	same(t, "GetJob after upsert", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Job, error) { return tx.GetJob(ctx, "j1") }), &j1b)

	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeleteJob(ctx, "j3"); err != nil {
			return err
		}
		return tx.DeleteStartJobs(ctx, "order")
	})
	got := jobIDs(list(store.JobFilter{}))
	slices.Sort(got)
	same(t, "jobs after deletes", got, []string{"j1", "j2", "j4", "s2"})
}

// lockFixture writes jobs covering every rule of LockJobs and returns the ids that a
// locker at now (with no kind or type filter) may take, oldest due first.
func lockFixture(t *testing.T, s store.Store, now time.Time) []string {
	jobs := []*store.Job{
		newJob("due-old", store.JobService, "a", now.Add(-time.Hour)),
		newJob("due-now", store.JobService, "b", now),
		newJob("timer", store.JobTimer, "t", now.Add(-30*time.Minute)),
		newJob("start", store.JobTimerStart, "s", now.Add(-10*time.Minute)),
		newJob("future", store.JobService, "a", now.Add(time.Second)),
		newJob("locked", store.JobService, "a", now.Add(-time.Hour)),
		newJob("lock-expired", store.JobService, "b", now.Add(-20*time.Minute)),
		newJob("lock-expires-now", store.JobTimer, "t", now.Add(-5*time.Minute)),
		newJob("suspended", store.JobService, "a", now.Add(-time.Hour)),
		newJob("no-retries", store.JobService, "a", now.Add(-time.Hour)),
	}
	jobs[3].InstanceID = ""
	jobs[5].LockOwner, jobs[5].LockedUntil = "other", ptr(now.Add(time.Microsecond))
	jobs[6].LockOwner, jobs[6].LockedUntil = "dead", ptr(now.Add(-time.Minute))
	jobs[7].LockOwner, jobs[7].LockedUntil = "dead", ptr(now)
	jobs[8].Suspended = true
	jobs[9].Retries = 0
	apply(t, s, &store.Change{PutJobs: jobs})
	return []string{"due-old", "timer", "lock-expired", "start", "lock-expires-now", "due-now"}
}

func lockJobs(t *testing.T, s store.Store, p store.LockJobsParams) []*store.Job {
	t.Helper()
	var jobs []*store.Job
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		var err error
		jobs, err = tx.LockJobs(ctx, p)
		return err
	})
	return jobs
}

func testLockJobs(t *testing.T, s store.Store) {
	now := at(1000)
	want := lockFixture(t, s, now)
	until := now.Add(time.Minute)

	got := lockJobs(t, s, store.LockJobsParams{Owner: "me", Now: now, LockUntil: until, Limit: 2})
	same(t, "LockJobs limit 2: oldest due first", jobIDs(got), want[:2])
	for _, j := range got {
		if j.LockOwner != "me" || j.LockedUntil == nil || !j.LockedUntil.Equal(until) {
			t.Fatalf("locked job %s: owner %q until %v", j.ID, j.LockOwner, j.LockedUntil)
		}
		if j.Attempt != 0 || j.Retries != 3 {
			t.Fatalf("LockJobs changed attempt/retries of %s: %d/%d", j.ID, j.Attempt, j.Retries)
		}
	}
	// The lock is stored.
	stored := get(t, s, func(ctx context.Context, tx store.Tx) (*store.Job, error) { return tx.GetJob(ctx, want[0]) })
	same(t, "stored lock", stored, got[0])

	got = lockJobs(t, s, store.LockJobsParams{Owner: "me", Now: now, LockUntil: until, Limit: 100})
	same(t, "LockJobs the rest", jobIDs(got), want[2:])
	got = lockJobs(t, s, store.LockJobsParams{Owner: "you", Now: now, LockUntil: until, Limit: 100})
	same(t, "LockJobs with everything locked", jobIDs(got), []string{})

	// When the locks expire, another node takes the jobs over, and "future" is due by then.
	later := until
	got = lockJobs(t, s, store.LockJobsParams{Owner: "you", Now: later, LockUntil: later.Add(time.Minute), Limit: 100})
	gotIDs := jobIDs(got)
	same(t, "LockJobs after lock expiry", slices.Sorted(slices.Values(gotIDs)),
		[]string{"due-now", "due-old", "future", "lock-expired", "lock-expires-now", "locked", "start", "timer"})
	for i := 1; i < len(got); i++ {
		if got[i].DueAt.Before(got[i-1].DueAt) {
			t.Fatalf("LockJobs not ordered by due time: %s", show(gotIDs))
		}
	}
}

func testLockJobsFilters(t *testing.T, s store.Store) {
	now := at(1000)
	lockFixture(t, s, now)
	// The instances of "due-old" and "lock-expired" carry business keys.
	for id, bk := range map[string]string{"i-due-old": "order-7", "i-lock-expired": "order-8"} {
		in := newInstance(id, "proc", at(0))
		in.BusinessKey = bk
		apply(t, s, &store.Change{Instance: in, Created: true})
	}
	// Process variables of "due-old" and "lock-expired", and a local one of "due-now"
	// (a scope's variables do not count).
	local := variable("i-due-now", "region", `"eu"`)
	local.Scope = "t-due-now"
	apply(t, s, &store.Change{PutVariables: []*store.Variable{variable("i-due-old", "region", `"eu"`),
		variable("i-due-old", "n", `42`), variable("i-lock-expired", "region", `"us"`), local}})
	// "lock-expired" is of another version.
	apply(t, s, &store.Change{PutJobs: []*store.Job{func() *store.Job {
		j := newJob("lock-expired", store.JobService, "b", now.Add(-20*time.Minute))
		j.LockOwner, j.LockedUntil, j.DefinitionID = "dead", ptr(now.Add(-time.Minute)), "proc:2"
		return j
	}()}})
	eq := func(pairs ...string) []store.VariableMatch {
		var out []store.VariableMatch
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, store.VariableMatch{Name: pairs[i], Value: json.RawMessage(pairs[i+1])})
		}
		return out
	}
	until := now.Add(time.Minute)
	cases := []struct {
		name  string
		kinds []string
		types []string
		want  []string
		key   string
		bk    string
		defID string
		vars  []store.VariableMatch
	}{
		{"version", []string{store.JobService}, nil, []string{"lock-expired"}, "", "", "proc:2", nil},
		{"other version", []string{store.JobService}, nil, []string{"due-old", "due-now"}, "proc", "", "proc:1", nil},
		{"variable", []string{store.JobService}, nil, []string{"due-old"}, "", "", "", eq("region", `"eu"`)},
		{"variables all hold", []string{store.JobService}, nil, []string{"due-old"}, "", "", "", eq("region", `"eu"`, "n", `42`)},
		{"one variable differs", []string{store.JobService}, nil, []string{}, "", "", "", eq("region", `"eu"`, "n", `43`)},
		{"variable of a type", []string{store.JobService}, nil, []string{}, "", "", "", eq("n", `"42"`)},
		{"variable us", nil, nil, []string{"lock-expired"}, "", "", "", eq("region", `"us"`)},
		{"no such variable", nil, nil, []string{}, "", "", "", eq("zone", `"eu"`)},
		{"empty variables filter", []string{store.JobService}, nil, []string{"due-old", "lock-expired", "due-now"}, "", "", "", []store.VariableMatch{}},
		{"kind service", []string{store.JobService}, nil, []string{"due-old", "lock-expired", "due-now"}, "", "", "", nil},
		{"kinds timers", []string{store.JobTimer, store.JobTimerStart}, nil, []string{"timer", "start", "lock-expires-now"}, "", "", "", nil},
		{"empty kind means all", []string{""}, nil, []string{"due-old", "timer", "lock-expired", "start", "lock-expires-now", "due-now"}, "", "", "", nil},
		{"type a", nil, []string{"a"}, []string{"due-old", "timer", "start", "lock-expires-now"}, "", "", "", nil},
		{"types a b", nil, []string{"a", "b"}, []string{"due-old", "timer", "lock-expired", "start", "lock-expires-now", "due-now"}, "", "", "", nil},
		{"no types", nil, []string{}, []string{"timer", "start", "lock-expires-now"}, "", "", "", nil},
		{"kind service type b", []string{store.JobService}, []string{"b"}, []string{"lock-expired", "due-now"}, "", "", "", nil},
		{"unknown type", []string{store.JobService}, []string{"zzz"}, []string{}, "", "", "", nil},
		{"process proc", []string{store.JobService}, nil, []string{"due-old", "lock-expired", "due-now"}, "proc", "", "", nil},
		{"another process", []string{store.JobService}, nil, []string{}, "other", "", "", nil},
		{"business key", []string{store.JobService}, nil, []string{"due-old"}, "", "order-7", "", nil},
		{"business key and process", nil, nil, []string{"lock-expired"}, "proc", "order-8", "", nil},
		{"unknown business key", nil, nil, []string{}, "", "order-9", "", nil},
	}
	for _, c := range cases {
		// Each case locks and then rolls back, so the next case sees the same jobs.
		ctx := t.Context()
		var got []*store.Job
		rollback := errors.New("rollback")
		err := s.Write(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.LockJobs(ctx, store.LockJobsParams{Owner: "me", Now: now, LockUntil: until, Limit: 100,
				Kinds: c.kinds, Types: c.types, DefinitionKey: c.key, BusinessKey: c.bk, DefinitionID: c.defID, Variables: c.vars})
			if err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("%s: %v", c.name, err)
		}
		same(t, "LockJobs "+c.name, jobIDs(got), c.want)
	}
}

// testLockJobsConcurrent: lockers racing for the same jobs never get the same one.
func testLockJobsConcurrent(t *testing.T, s store.Store) {
	const n, lockers = 200, 4
	now := at(1000)
	jobs := make([]*store.Job, n)
	for i := range jobs {
		jobs[i] = newJob(fmt.Sprintf("j%03d", i), store.JobService, "a", now.Add(-time.Duration(i)*time.Second))
	}
	apply(t, s, &store.Change{PutJobs: jobs})
	ctx := t.Context()
	var mu sync.Mutex
	owner := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, lockers)
	for l := range lockers {
		wg.Go(func() {
			me := fmt.Sprintf("locker-%d", l)
			for {
				var got []*store.Job
				err := s.Write(ctx, func(tx store.Tx) error {
					var err error
					got, err = tx.LockJobs(ctx, store.LockJobsParams{Owner: me, Now: now, LockUntil: now.Add(time.Hour), Limit: 7})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, j := range got {
					if prev, ok := owner[j.ID]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("job %s locked by %s and %s", j.ID, prev, me)
						return
					}
					owner[j.ID] = me
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(owner) != n {
		t.Fatalf("locked %d jobs, want %d", len(owner), n)
	}
	// The stored owner is the one that got the job.
	for _, j := range get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Job, error) {
		return tx.ListJobs(ctx, store.JobFilter{})
	}) {
		if j.LockOwner != owner[j.ID] {
			t.Fatalf("job %s stored owner %q, locked by %q", j.ID, j.LockOwner, owner[j.ID])
		}
	}
}

func testNextJobDue(t *testing.T, s store.Store) {
	next := func() (time.Time, bool) {
		var due time.Time
		var ok bool
		read(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			due, ok, err = tx.NextJobDue(ctx)
			return err
		})
		return due, ok
	}
	if due, ok := next(); ok {
		t.Fatalf("NextJobDue of an empty store: %v", due)
	}
	check := func(what string, want time.Time) {
		t.Helper()
		due, ok := next()
		if !ok || !due.Equal(want) {
			t.Fatalf("NextJobDue %s: got %v (ok %v), want %v", what, due, ok, want)
		}
	}

	// Jobs that can never run are ignored.
	suspended := newJob("suspended", store.JobTimer, "t", at(1))
	suspended.Suspended = true
	failed := newJob("failed", store.JobService, "a", at(2))
	failed.Retries = 0
	apply(t, s, &store.Change{PutJobs: []*store.Job{suspended, failed}})
	if due, ok := next(); ok {
		t.Fatalf("NextJobDue with only suspended and failed jobs: %v", due)
	}

	apply(t, s, &store.Change{PutJobs: []*store.Job{newJob("later", store.JobService, "a", at(100))}})
	check("one job", at(100))

	// A locked job counts with its lock expiry, or its due time if that is later.
	locked := newJob("locked", store.JobService, "a", at(10))
	locked.LockOwner, locked.LockedUntil = "n", ptr(at(50))
	apply(t, s, &store.Change{PutJobs: []*store.Job{locked}})
	check("locked job", at(50))
	locked.LockedUntil = ptr(at(5))
	apply(t, s, &store.Change{PutJobs: []*store.Job{locked}})
	check("lock shorter than due", at(10))
	// The least of both kinds of locked job.
	other := newJob("other", store.JobService, "a", at(4))
	other.LockOwner, other.LockedUntil = "n", ptr(at(7))
	apply(t, s, &store.Change{PutJobs: []*store.Job{other}})
	check("lock ending before another's due time", at(7))
	other.LockedUntil = ptr(at(12))
	apply(t, s, &store.Change{PutJobs: []*store.Job{other}})
	check("due time before another's lock end", at(10))

	apply(t, s, &store.Change{PutJobs: []*store.Job{newJob("soon", store.JobTimer, "t", at(3))}})
	check("earlier unlocked job", at(3))
}

func testSubscriptions(t *testing.T, s store.Store) {
	sub := func(id, instance, name, key, defKey string, created float64) *store.Subscription {
		return &store.Subscription{ID: id, InstanceID: instance, TokenID: "t-" + id, ElementID: "catch",
			DefinitionID: defKey + ":1", DefinitionKey: defKey, MessageName: name, CorrelationKey: key, CreatedAt: at(created)}
	}
	a1 := sub("a1", "i1", "paid", "order-1", "order", 1)
	a2 := sub("a2", "i2", "paid", "order-2", "order", 2)
	a3 := sub("a3", "i3", "paid", "order-1", "order", 3)
	b1 := sub("b1", "i1", "shipped", "order-1", "order", 4)
	start := sub("start", "", "paid", "", "refund", 0)
	startKeyed := sub("start-keyed", "", "paid", "order-9", "audit", 5)
	other := sub("other", "", "cancel", "", "order", 6)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, x := range []*store.Subscription{a1, a2, a3, b1, start, startKeyed, other} {
			if err := tx.PutSubscription(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	find := func(name, key string) []*store.Subscription {
		subs := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Subscription, error) {
			return tx.FindSubscriptions(ctx, name, key)
		})
		return byID(subs, func(x *store.Subscription) string { return x.ID })
	}
	same(t, "paid order-1", find("paid", "order-1"), []*store.Subscription{a1, a3, start, startKeyed})
	same(t, "paid order-2", find("paid", "order-2"), []*store.Subscription{a2, start, startKeyed})
	same(t, "paid unknown key", find("paid", "zzz"), []*store.Subscription{start, startKeyed})
	same(t, "shipped", find("shipped", "order-1"), []*store.Subscription{b1})
	same(t, "unknown name", find("nope", "order-1"), []*store.Subscription{})

	// PutSubscription is an upsert.
	a2b := *a2
	a2b.CorrelationKey = "order-1"
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutSubscription(ctx, &a2b) })
	same(t, "paid order-1 after upsert", find("paid", "order-1"), []*store.Subscription{a1, &a2b, a3, start, startKeyed})

	// Only the start subscriptions of the key go.
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteStartSubscriptions(ctx, "refund") })
	same(t, "after DeleteStartSubscriptions", find("paid", "order-1"), []*store.Subscription{a1, &a2b, a3, startKeyed})
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteStartSubscriptions(ctx, "order") })
	same(t, "instance subscriptions of the key stay", find("shipped", "order-1"), []*store.Subscription{b1})
	same(t, "start subscription of the key gone", find("cancel", ""), []*store.Subscription{})
}
