package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// LockJobs locks due jobs: the due unlocked ones and the expired locks, each read with
// SKIP LOCKED so concurrent lockers on other nodes take different jobs.
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
	var vars *string // a JSON object of name and value; nil: no filter
	if p.Variables != nil {
		m := make(map[string]json.RawMessage, len(p.Variables))
		for _, v := range p.Variables {
			if !json.Valid(v.Value) {
				return nil, fmt.Errorf("lock jobs: variable %q: invalid JSON value", v.Name)
			}
			m[v.Name] = v.Value
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("lock jobs: variables: %w", err)
		}
		s := string(b)
		vars = &s
	}
	jobs, err := queryAll(ctx, t, "lock jobs", true, lockJobsSQL, sqlstore.Postgres.ScanJob, p.Owner, p.LockUntil, p.Now, kinds, types, p.Limit,
		p.DefinitionKey, p.BusinessKey, p.DefinitionID, vars)
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
