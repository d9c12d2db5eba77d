package operation

import (
	"context"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// KindMigrateInstances migrates each selected instance (its Target) to another
// definition by one stored plan (engine.Migrate).
const KindMigrateInstances = "instance.migrate"

// MigrateParams are the parameters of a KindMigrateInstances operation: the migration
// plan, the same for every item. Actor and Reason are the operation's.
type MigrateParams struct {
	Plan engine.MigrationPlan `json:"plan"`
}

// MigrateInstances migrates each item's instance by the operation's plan, with the
// operation's actor and reason, in the instance's own transaction (engine.Migrate takes
// the item's record, so the outcome commits with the migration). An instance the plan
// does not fit (a token on an element without a target, ended, not of the plan's
// source) is a failed item with the engine's refusal as its error; the others go on.
func MigrateInstances(e *engine.Engine) Kind {
	return Kind{Name: KindMigrateInstances, Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
		var p MigrateParams
		if err := decode(op.Params, &p); err != nil {
			return err
		}
		_, err := e.Migrate(ctx, it.Target, p.Plan, engine.MigrateOptions{Actor: op.Actor, Reason: op.Reason})
		return err
	}}
}
