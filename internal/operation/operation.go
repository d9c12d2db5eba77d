// Package operation runs bulk actions as stored operations: an operator confirms a
// selection (incidents to retry, instances to cancel, later instances to modify or
// migrate), Create writes the operation with one item per selected target, and every
// node's Executor works the items off.
//
// Invariants:
//
//   - What runs is what was confirmed: the items are fixed when the operation is created.
//   - Items are locked like jobs (store.ClaimOperationItems: owner + expiry). A node that
//     dies leaves its items to the others when their locks end.
//   - Each item runs in its own engine transaction, and its outcome (with its audit row)
//     is written in that transaction through engine.WithRecord, under the item's lock:
//     a second run of the item (the lock passed to another node meanwhile) finds the
//     outcome written, gets store.ErrLostItem, and its engine change is undone. So an
//     item is done exactly once. A kind whose work is not one engine command (none yet)
//     gets its outcome written after it, and must be idempotent per item.
//   - A failed item's outcome is written in a transaction of its own (nothing of the
//     engine changed), under the same lock check.
//   - The counts of a running operation are counted from its items; no row is updated by
//     every item (that row would serialise the items of all nodes).
package operation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Kind names.
const (
	KindRetryIncidents  = engine.KindRetryIncidents
	KindCancelInstances = "instance.cancel"
)

// MaxItems bounds the items of one operation.
const MaxItems = 100_000

// Kind is what an operation does to each of its items. Run must do the item's work in
// one engine command called with ctx (which carries the item's outcome record,
// engine.WithRecord); it returns the command's error. Modification and migration plug
// in here: register a Kind with the Executor.
type Kind struct {
	Name string
	Run  func(ctx context.Context, op *store.Operation, it *store.OperationItem) error
}

// RetryParams are the parameters of a KindRetryIncidents operation (the kind itself is
// the incident queue's bulk retry, incidents.RetryOperation).
type RetryParams struct {
	Retries   int            `json:"retries,omitempty"`
	Variables map[string]any `json:"variables,omitempty"`
}

// CancelParams are the parameters of a KindCancelInstances operation.
type CancelParams struct {
	// Reason is recorded with each cancelled instance.
	Reason string `json:"reason,omitempty"`
}

// CancelInstances cancels each item's instance (its Target).
func CancelInstances(e *engine.Engine) Kind {
	return Kind{Name: KindCancelInstances, Run: func(ctx context.Context, op *store.Operation, it *store.OperationItem) error {
		var p CancelParams
		if err := decode(op.Params, &p); err != nil {
			return err
		}
		return e.CancelInstance(ctx, it.Target, p.Reason)
	}}
}

// DecodeParams reads an operation's parameters into v (a kind's params type); empty
// parameters leave v as it is.
func DecodeParams(raw json.RawMessage, v any) error { return decode(raw, v) }

func decode(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the operation's parameters: %v: %w", err, engine.ErrInvalidInput)
	}
	return nil
}

// Code is the outcome code of a failed item, as the command service names errors.
func Code(err error) string {
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return "not_found"
	case errors.Is(err, engine.ErrInvalidState):
		return "invalid_state"
	case errors.Is(err, engine.ErrInvalidInput):
		return "invalid_input"
	case errors.Is(err, store.ErrUnavailable):
		return "unavailable"
	}
	return "internal"
}

// Create writes an operation and its items in one transaction. op needs ID, Kind, Actor
// and CreatedAt; State and Total are set here. (The command service audits the command
// that creates it.)
func Create(ctx context.Context, st store.Store, op *store.Operation, items []*store.OperationItem) error {
	if len(items) == 0 {
		return fmt.Errorf("create operation: nothing selected: %w", engine.ErrInvalidInput)
	}
	if len(items) > MaxItems {
		return fmt.Errorf("create operation: %d items, more than the limit of %d (operation.MaxItems): %w",
			len(items), MaxItems, engine.ErrInvalidInput)
	}
	op.State, op.Total = store.OperationRunning, len(items)
	return st.Write(ctx, func(tx store.Tx) error { return tx.InsertOperation(ctx, op, items) })
}

// itemAudit is the audit row of one item: the kind's verb on the item's target, by the
// operation's actor, leading back to the operation.
func itemAudit(op *store.Operation, it *store.OperationItem, result, msg string, at time.Time) *store.AuditEntry {
	req, _ := json.Marshal(map[string]any{"operationId": op.ID, "item": it.Seq})
	return &store.AuditEntry{ID: fmt.Sprintf("%s.%d", op.ID, it.Seq), Time: at, Actor: op.Actor, Command: op.Kind,
		Target: it.Target, InstanceID: it.InstanceID, Reason: op.Reason, Request: req, Result: result,
		Error: store.StorableText(msg)}
}
