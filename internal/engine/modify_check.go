package engine

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// CheckModify checks a modification against a definition's model without an instance:
// what Modify would refuse on any instance of definitionID (the request's shape, step
// elements that are not flow nodes of the process, a start where no token can start,
// a move from an unknown element). A bulk modification is checked so before its
// operation is created; whether each instance can take it (tokens at the elements, the
// joins) is known only when its item runs. A refusal is a *ModifyError, or ErrNotFound
// for an unknown definition.
func (e *Engine) CheckModify(ctx context.Context, definitionID string, req ModifyRequest) error {
	if err := req.check(); err != nil {
		return err
	}
	var p *plan
	if err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		p, err = e.planFor(ctx, tx, definitionID)
		return err
	}); err != nil {
		return fmt.Errorf("check modification: %w", err)
	}
	for i, s := range req.Steps {
		bad := func(err error) error { return &ModifyError{Step: i, Err: err} }
		node := func(id string) error {
			if id != "" && p.nodes[id] == nil {
				return fmt.Errorf("%q is not a flow node of process %q: %w", id, p.def.Key, ErrInvalidInput)
			}
			return nil
		}
		if err := node(s.ElementID); err != nil {
			return bad(err)
		}
		if err := node(s.From); err != nil {
			return bad(err)
		}
		if s.Kind == ModifyStartBefore || s.Kind == ModifyStartAfter || s.Kind == ModifyMove {
			if err := startable(p.nodes[s.ElementID], s.Kind == ModifyStartAfter); err != nil {
				return bad(err)
			}
		}
	}
	return nil
}
