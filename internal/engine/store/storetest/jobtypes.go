package storetest

import (
	"context"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// testCountJobTypes: waiting service jobs (retries left) per type, in type order, in
// the filter's scope, without the excluded types, at most Limit types.
func testCountJobTypes(t *testing.T, s store.Store) {
	job := func(id, typ, key, instance string, retries int) *store.Job {
		j := newJob(id, store.JobService, typ, at(1))
		j.DefinitionKey, j.InstanceID, j.Retries = key, instance, retries
		return j
	}
	timer := newJob("t1", store.JobTimer, "ship", at(1)) // not a service job
	jobs := []*store.Job{
		job("a1", "ship", "order", "i1", 3),
		job("a2", "ship", "order", "i2", 1),
		job("a3", "charge", "order", "i1", 3),
		job("a4", "charge", "invoice", "i3", 3),
		job("a5", "mail", "invoice", "i3", 0), // an incident: no retries left
		job("a6", "it's \"odd\"", "invoice", "i3", 2),
		timer,
	}
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, j := range jobs {
			if err := tx.PutJob(ctx, j); err != nil {
				return err
			}
		}
		return nil
	})
	count := func(f store.JobTypeFilter) []store.JobTypeCount {
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]store.JobTypeCount, error) { return tx.CountJobTypes(ctx, f) })
	}
	type c = store.JobTypeCount
	jt := func(typ string, n int) c { return c{Type: typ, Jobs: n} }
	same(t, "all", count(store.JobTypeFilter{}), []c{jt("charge", 2), jt("it's \"odd\"", 1), jt("ship", 2)})
	same(t, "definition", count(store.JobTypeFilter{DefinitionKey: "order"}), []c{jt("charge", 1), jt("ship", 2)})
	same(t, "instance", count(store.JobTypeFilter{InstanceID: "i3"}), []c{jt("charge", 1), jt("it's \"odd\"", 1)})
	same(t, "exclude", count(store.JobTypeFilter{ExcludeTypes: []string{"ship", "it's \"odd\""}}), []c{jt("charge", 2)})
	same(t, "exclude all", len(count(store.JobTypeFilter{ExcludeTypes: []string{"ship", "charge", "it's \"odd\""}})), 0)
	same(t, "limit", count(store.JobTypeFilter{Limit: 1}), []c{jt("charge", 2)})
	same(t, "nothing", len(count(store.JobTypeFilter{DefinitionKey: "none"})), 0)
}
