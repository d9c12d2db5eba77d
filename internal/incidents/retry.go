package incidents

import (
	"context"
	"sync"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
)

// The bulk retry. The engine has no bulk retry: a bulk retry is many RetryIncident
// commands, each its own instance transaction, so one incident that cannot be retried
// (resolved meanwhile, instance suspended) fails alone. Two callers run it: the
// operation kind incident.retry (RetryOperation; what the pages and operation.create
// start, stored and worked off by every node's executor) and the command service's
// incident.retry-bulk verb (Retry, answered when done).

// Retrier retries one incident: the engine (*engine.Engine).
type Retrier interface {
	RetryIncident(ctx context.Context, incidentID string, opts engine.RetryOptions) error
}

// RetryOptions are the settings of a bulk retry, the same for every incident.
type RetryOptions = operation.RetryParams

// RetryOne retries one incident of a bulk retry as one engine command called with ctx.
// A ctx that carries an outcome record (engine.WithRecord) has it written in that
// command's transaction, so an operation item's outcome commits with the retry or not
// at all.
func RetryOne(ctx context.Context, r Retrier, incidentID string, o RetryOptions) error {
	return r.RetryIncident(ctx, incidentID, engine.RetryOptions{Retries: o.Retries, Variables: o.Variables})
}

// Retry retries incidents, concurrency at a time (at least one), and returns each one's
// outcome: errs[i] is ids[i]'s. It does not stop at a failure: each incident fails
// alone. Ids not run because ctx ended get ctx's error.
func Retry(ctx context.Context, r Retrier, ids []string, o RetryOptions, concurrency int) []error {
	errs := make([]error, len(ids))
	sem := make(chan struct{}, max(concurrency, 1))
	var wg sync.WaitGroup
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = RetryOne(ctx, r, id, o)
		})
	}
	wg.Wait()
	return errs
}

// RetryOperation is the operation kind incident.retry: each item's target is an
// incident, retried by RetryOne with the operation's RetryOptions (its params). The
// executor's record travels in ctx into the retry's transaction: exactly once.
func RetryOperation(r Retrier) operation.Kind {
	return operation.Kind{Name: operation.KindRetryIncidents, Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
		var o RetryOptions
		if err := operation.DecodeParams(op.Params, &o); err != nil {
			return err
		}
		return RetryOne(ctx, r, it.Target, o)
	}}
}
