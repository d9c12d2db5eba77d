package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// The store benchmarks live here, beside the conformance suite, so that every store runs
// the same workload and the numbers of SQLite and PostgreSQL compare. Each store's
// Benchmark functions call them with an open that returns a new, empty store owned by the
// benchmark (it registers its own cleanup).

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// lifecycle is one instance of a process with three service tasks in a row, as the engine
// writes it: created waiting at the first task, then three commands (one per completed
// job), the last of which ends the instance.
type lifecycle struct {
	in    *store.Instance
	token string
	job   string
	seq   int64
}

func (l *lifecycle) events(now time.Time, types ...event.Type) []*store.Event {
	evs := make([]*store.Event, len(types))
	for i, ty := range types {
		l.seq++
		evs[i] = &store.Event{ID: newID(), InstanceID: l.in.ID, InstanceSeq: l.seq, DefinitionID: l.in.DefinitionID,
			DefinitionKey: l.in.DefinitionKey, Type: ty, ElementID: "task", ElementType: "serviceTask", TokenID: l.token,
			JobID: l.job, Time: now, Data: json.RawMessage(`{"variables":{"amount":42}}`)}
	}
	l.in.EventSeq = l.seq
	return evs
}

func (l *lifecycle) wait(now time.Time, element string) ([]*store.Token, []*store.Job) {
	l.token, l.job = newID(), newID()
	return []*store.Token{{ID: l.token, InstanceID: l.in.ID, ElementID: element, State: store.TokenActive, CreatedAt: now}},
		[]*store.Job{{ID: l.job, Kind: store.JobService, Type: element, InstanceID: l.in.ID, TokenID: l.token,
			ElementID: element, DefinitionID: l.in.DefinitionID, DefinitionKey: l.in.DefinitionKey, Retries: 3,
			DueAt: now, CreatedAt: now}}
}

func (l *lifecycle) create(now time.Time) *store.Change {
	l.in = &store.Instance{ID: newID(), DefinitionID: "order:1", DefinitionKey: "order", DefinitionVersion: 1,
		BusinessKey: "bk", State: store.InstanceActive, Version: 1, StartedAt: now}
	tokens, jobs := l.wait(now, "task1")
	return &store.Change{Instance: l.in, Created: true, PutTokens: tokens, PutJobs: jobs,
		PutVariables: []*store.Variable{
			{InstanceID: l.in.ID, Name: "amount", Type: store.TypeNumber, Value: json.RawMessage(`42`), UpdatedAt: now},
			{InstanceID: l.in.ID, Name: "customer", Type: store.TypeObject, Value: json.RawMessage(`{"id":"c-1","name":"Ada"}`), UpdatedAt: now},
		},
		Events: l.events(now, event.InstanceStarted, event.JobCreated)}
}

// step completes the current job; step 3 ends the instance.
func (l *lifecycle) step(now time.Time, n int) *store.Change {
	in := *l.in
	in.Version++
	l.in = &in
	c := &store.Change{Instance: l.in, DeleteTokens: []string{l.token}, DeleteJobs: []string{l.job},
		PutVariables: []*store.Variable{{InstanceID: in.ID, Name: fmt.Sprintf("result%d", n), Type: store.TypeString,
			Value: json.RawMessage(`"ok"`), UpdatedAt: now}}}
	if n == 3 {
		in.State = store.InstanceCompleted
		in.EndedAt = &now
		c.Events = l.events(now, event.JobCompleted, event.InstanceCompleted)
		return c
	}
	c.PutTokens, c.PutJobs = l.wait(now, fmt.Sprintf("task%d", n+1))
	c.Events = l.events(now, event.JobCompleted, event.JobCreated)
	return c
}

// BenchmarkApply measures the store's ceiling: one op is one whole instance (create and
// three updates: 4 changes, 8 events), written in transactions of `batch` changes, as the
// engine group-commits commands. "engine" adds what the engine does around each command
// in a batch: a savepoint, and loading the aggregate before an update.
func BenchmarkApply(b *testing.B, open func(b *testing.B) store.Store) {
	for _, batch := range []int{1, 10, 100, 500} {
		for _, engine := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d", batch)
			if engine {
				name += "/engine"
			}
			b.Run(name, func(b *testing.B) { benchApply(b, open(b), batch, engine) })
		}
	}
}

func benchApply(b *testing.B, s store.Store, batch int, engine bool) {
	ctx := context.Background()
	now := t0 // a fixed instant: the rows do not depend on when the benchmark runs
	ls := make([]lifecycle, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		for step := range 4 {
			err := s.Write(ctx, func(tx store.Tx) error {
				for i := range n {
					l := &ls[i]
					if engine {
						if err := tx.Savepoint(ctx, "cmd"); err != nil {
							return err
						}
						if step > 0 {
							if _, err := tx.LoadInstance(ctx, l.in.ID); err != nil {
								return err
							}
						}
					}
					var c *store.Change
					if step == 0 {
						c = l.create(now)
					} else {
						c = l.step(now, step)
					}
					if err := tx.Apply(ctx, c); err != nil {
						return err
					}
					if engine {
						if err := tx.Release(ctx, "cmd"); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}

// BenchmarkLoadInstance reads the aggregate of an instance waiting at a task, as the engine
// does before every command, in the write transaction.
func BenchmarkLoadInstance(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := context.Background()
	now := t0 // a fixed instant: the rows do not depend on when the benchmark runs
	ls := make([]lifecycle, 1000)
	if err := s.Write(ctx, func(tx store.Tx) error {
		for i := range ls {
			if err := tx.Apply(ctx, ls[i].create(now)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	err := s.Write(ctx, func(tx store.Tx) error {
		for i := range b.N {
			if _, err := tx.LoadInstance(ctx, ls[i%len(ls)].in.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
