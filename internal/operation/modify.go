package operation

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// KindModifyInstances modifies each selected instance (its Target) by one stored
// modification: the steps of engine.Modify, the same on every instance.
const KindModifyInstances = "instance.modify"

// ModifyParams are the parameters of a KindModifyInstances operation: an
// engine.ModifyRequest whose DefinitionID names the one definition (version) every
// selected instance runs, since the steps name elements of that model. Steps name
// elements, never tokens or scopes (TokenID, ScopeID): those belong to one instance.
// Actor and Reason are the operation's, not stored here.
type ModifyParams = engine.ModifyRequest

// CheckModifyParams refuses parameters no bulk modification can take: no definition, a
// step naming one instance's token or scope, or what engine.ModifyRequest itself
// refuses (no steps, too many, a step without its element). The elements are checked
// against the model by engine.CheckModify.
func CheckModifyParams(p ModifyParams) error {
	if p.DefinitionID == "" {
		return fmt.Errorf("a bulk modification names the definition its instances run (definitionId): its steps name elements of that model: %w", engine.ErrInvalidInput)
	}
	for i, s := range p.Steps {
		if s.TokenID != "" || s.ScopeID != "" {
			return &engine.ModifyError{Step: i, Err: fmt.Errorf(
				"a bulk modification names elements, not tokens or scopes (tokenId, scopeId belong to one instance: modify that instance on its own): %w",
				engine.ErrInvalidInput)}
		}
	}
	return nil
}

// ModifyInstances modifies each item's instance by the operation's ModifyParams, with
// the operation's actor and reason, in the instance's own transaction (engine.Modify
// takes the item's record). An instance the modification does not fit (no token at an
// element, ended, migrated to another version meanwhile) is a failed item with the
// engine's refusal as its error; the others go on.
func ModifyInstances(e *engine.Engine) Kind {
	return Kind{Name: KindModifyInstances, Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
		var p ModifyParams
		if err := decode(op.Params, &p); err != nil {
			return err
		}
		if err := CheckModifyParams(p); err != nil {
			return err
		}
		p.Actor, p.Reason = op.Actor, op.Reason
		_, err := e.Modify(ctx, it.Target, p)
		return err
	}}
}
