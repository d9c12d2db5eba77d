package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/expression"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Conditional start events at process level.
//
// As in Camunda 7 (RuntimeService.createConditionEvaluation), nothing watches for a
// process's start condition to become true: a caller hands variables to
// EvaluateStartConditions, which evaluates the conditional start event of the latest
// version of every process (or of one) against them and starts an instance at each
// start event whose condition holds, with those variables. Deploy writes one start
// subscription (store.SubConditional) per such start event, replaced with the next
// version, so an evaluation reads a few rows, not every model.

// MaxConditionalStarts bounds the conditional start events one EvaluateStartConditions
// evaluates (and so the instances it may start in its one transaction).
const MaxConditionalStarts = 1000

// ConditionOptions configure EvaluateStartConditions.
type ConditionOptions struct {
	// ProcessKey limits the evaluation to one process ("": every process).
	ProcessKey  string
	BusinessKey string
	// Variables are what the conditions read, and become the variables of every
	// instance started.
	Variables map[string]any
}

// EvaluateStartConditions evaluates the conditional start events of the latest process
// versions against opts.Variables and starts an instance at each one whose condition
// holds, all in one transaction. It returns the instances started, none when no
// condition holds (a condition reading a variable that is not given is false). It fails
// with ErrNotFound when no process (of opts.ProcessKey) has a conditional start event,
// and with ErrInvalidInput when a condition cannot be evaluated (nothing is started).
func (e *Engine) EvaluateStartConditions(ctx context.Context, opts ConditionOptions) ([]*store.Instance, error) {
	if err := checkSize("business key", len(opts.BusinessKey), MaxBusinessKeyBytes); err != nil {
		return nil, fmt.Errorf("evaluate start conditions: %w", err)
	}
	if err := checkSize("process key", len(opts.ProcessKey), MaxNameBytes); err != nil {
		return nil, fmt.Errorf("evaluate start conditions: %w", err)
	}
	values := make(map[string]any, len(opts.Variables))
	for name, v := range opts.Variables {
		dv, _, _, err := normalise(name, v)
		if err != nil {
			return nil, fmt.Errorf("evaluate start conditions: %w", err)
		}
		values[name] = dv
	}
	var out []*store.Instance
	err := e.exec(ctx, func(b *batch) (bool, error) {
		out = out[:0]
		subs, err := b.tx.ConditionalStartSubscriptions(ctx, opts.ProcessKey, MaxConditionalStarts+1)
		if err != nil {
			return false, err
		}
		switch {
		case len(subs) == 0 && opts.ProcessKey != "":
			return false, fmt.Errorf("process %q has no conditional start event: %w", opts.ProcessKey, ErrNotFound)
		case len(subs) == 0:
			return false, fmt.Errorf("no process has a conditional start event: %w", ErrNotFound)
		case len(subs) > MaxConditionalStarts:
			return false, fmt.Errorf("more than %d conditional start events to evaluate (MaxConditionalStarts): give a process key: %w",
				MaxConditionalStarts, ErrInvalidInput)
		}
		budget := expression.NewBudget()
		wake := false
		for _, s := range subs {
			p, err := e.planFor(ctx, b.tx, s.DefinitionID)
			if err != nil {
				return false, err
			}
			n := p.nodes[s.ElementID]
			if n == nil || n.condition == nil {
				continue // not a conditional start of its definition: nothing to start
			}
			ok, err := n.condition.EvalBoolIn(budget, values)
			if errors.Is(err, expression.ErrUndefined) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("condition of start event %q of process %q: %v: %w", n.el.ID, p.def.Key, err, ErrInvalidInput)
			}
			if !ok {
				continue
			}
			r, err := e.startRun(ctx, b, p, n, opts.BusinessKey, opts.Variables)
			if err != nil {
				return false, err
			}
			inst := *r.inst
			out = append(out, &inst)
			wake = wake || r.wake
		}
		return wake, nil
	})
	if err != nil {
		return nil, fmt.Errorf("evaluate start conditions: %w", err)
	}
	return out, nil
}
