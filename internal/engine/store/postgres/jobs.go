package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Jobs and message subscriptions: the wait states an executor or a correlation takes.

func (t *tx) LockJobs(ctx context.Context, p store.LockJobsParams) ([]*store.Job, error) {
	if !t.write {
		return nil, fmt.Errorf("lock jobs: %w", ErrReadOnly)
	}
	if p.Limit <= 0 {
		return nil, fmt.Errorf("lock jobs: limit %d must be positive", p.Limit)
	}
	if p.Owner == "" {
		return nil, errors.New("lock jobs: owner required")
	}
	var kinds []string
	for _, k := range p.Kinds {
		if k == "" {
			kinds = nil // "" means all kinds
			break
		}
		kinds = append(kinds, k)
	}
	var types []string // nil: every service type
	if p.Types != nil {
		types = append(make([]string, 0, len(p.Types)), p.Types...)
	}
	jobs, err := queryAll(ctx, t, "lock jobs", true, lockJobsSQL, scanJob, p.Owner, p.LockUntil, p.Now, kinds, types, p.Limit)
	if err != nil {
		return nil, wrapErr("lock jobs", err)
	}
	// RETURNING yields rows in no particular order.
	slices.SortFunc(jobs, func(a, b *store.Job) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

func (t *tx) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return queryOne(ctx, t, "get job", "job "+strconv.Quote(id), getJobSQL, scanJob, id)
}

func (t *tx) PutJob(ctx context.Context, j *store.Job) error {
	if _, err := t.exec(ctx, "put job", upsertJobsSQL, jobArgs([]*store.Job{j})...); err != nil {
		return wrapErr(fmt.Sprintf("put job %q", j.ID), err)
	}
	return nil
}

func (t *tx) DeleteJob(ctx context.Context, id string) error {
	n, err := t.exec(ctx, "delete job", deleteJobSQL, id)
	if err != nil {
		return wrapErr(fmt.Sprintf("delete job %q", id), err)
	}
	if n == 0 {
		return fmt.Errorf("delete job %q: %w", id, store.ErrNotFound)
	}
	return nil
}

func (t *tx) DeleteStartJobs(ctx context.Context, definitionKey string) error {
	if _, err := t.exec(ctx, "delete start jobs", deleteStartJobsSQL, definitionKey); err != nil {
		return wrapErr(fmt.Sprintf("delete start jobs of %q", definitionKey), err)
	}
	return nil
}

func (t *tx) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	q := newQuery(listJobsSQL)
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	if f.Type != "" {
		q.and(`type = ?`, f.Type)
	}
	q.tail(` ORDER BY due_at, id LIMIT ?`, limit(f.Limit))
	jobs, err := queryAll(ctx, t, "list jobs", false, q.String(), scanJob, q.args...)
	if err != nil {
		return nil, wrapErr("list jobs", err)
	}
	return jobs, nil
}

func (t *tx) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var unlocked, locked *time.Time
	err := t.do(ctx, "next job due", false, func(b *pgx.Batch) { b.Queue(nextJobDueSQL) }, func(br pgx.BatchResults) error {
		return br.QueryRow().Scan(&unlocked, &locked)
	})
	if err != nil {
		return time.Time{}, false, wrapErr("next job due", err)
	}
	switch {
	case unlocked != nil && locked != nil:
		if locked.Before(*unlocked) {
			return locked.UTC(), true, nil
		}
		return unlocked.UTC(), true, nil
	case unlocked != nil:
		return unlocked.UTC(), true, nil
	case locked != nil:
		return locked.UTC(), true, nil
	}
	return time.Time{}, false, nil
}

// Subscriptions.

func (t *tx) FindSubscriptions(ctx context.Context, name, key string) ([]*store.Subscription, error) {
	subs, err := queryAll(ctx, t, "find subscriptions", false, findSubscriptionsSQL, scanSubscription, name, key)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("find subscriptions for message %q key %q", name, key), err)
	}
	return subs, nil
}

func (t *tx) PutSubscription(ctx context.Context, s *store.Subscription) error {
	if _, err := t.exec(ctx, "put subscription", upsertSubscriptionsSQL, subscriptionArgs([]*store.Subscription{s})...); err != nil {
		return wrapErr(fmt.Sprintf("put subscription %q", s.ID), err)
	}
	return nil
}

func (t *tx) DeleteStartSubscriptions(ctx context.Context, definitionKey string) error {
	if _, err := t.exec(ctx, "delete start subscriptions", deleteStartSubscriptionsSQL, definitionKey); err != nil {
		return wrapErr(fmt.Sprintf("delete start subscriptions of %q", definitionKey), err)
	}
	return nil
}

// Queries for the cockpit.
