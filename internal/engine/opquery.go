package engine

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Reads of bulk operations and of the audit log, for the cockpit's pages. The operations
// are written by the command service and worked off by package operation; the pages
// read them here, each read bounded by its limit.

// Query bounds of the operation and audit reads.
const (
	// MaxOperationsRead bounds ListOperations; MaxOperationItemsRead a page of items;
	// MaxAuditRead a page of the audit log.
	MaxOperationsRead     = 500
	MaxOperationItemsRead = 1000
	MaxAuditRead          = 1000
)

// OperationDetail is an operation with a page of its items. The counts of a running
// operation are counted from its items when read; FailingAgain is counted when read too
// (for an incident.retry, running or not: retried steps fail again during the operation
// and after it ended).
type OperationDetail struct {
	Operation *store.Operation
	Items     []*store.OperationItem
	// Pending is how many items have not run yet.
	Pending int
}

// ListOperations lists operations, newest first (f.Limit between 1 and
// MaxOperationsRead); a running operation's counts are counted from its items.
func (e *Engine) ListOperations(ctx context.Context, f store.OperationFilter) ([]*store.Operation, error) {
	if f.Limit < 1 || f.Limit > MaxOperationsRead {
		return nil, fmt.Errorf("list operations: limit %d is not between 1 and %d: %w", f.Limit, MaxOperationsRead, ErrInvalidInput)
	}
	return read(ctx, e, "list operations", func(tx store.Tx) ([]*store.Operation, error) {
		ops, err := tx.ListOperations(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, op := range ops {
			if op.State == store.OperationRunning {
				if _, err := liveCounts(ctx, tx, op); err != nil {
					return nil, err
				}
			}
		}
		return ops, nil
	})
}

// GetOperation reads an operation and a page of its items (items.Limit between 0, no
// items, and MaxOperationItemsRead; items.OperationID is set here).
func (e *Engine) GetOperation(ctx context.Context, id string, items store.OperationItemFilter) (*OperationDetail, error) {
	if items.Limit < 0 || items.Limit > MaxOperationItemsRead {
		return nil, fmt.Errorf("get operation %q: item limit %d is not between 0 and %d: %w", id, items.Limit, MaxOperationItemsRead, ErrInvalidInput)
	}
	return read(ctx, e, fmt.Sprintf("get operation %q", id), func(tx store.Tx) (*OperationDetail, error) {
		op, err := tx.GetOperation(ctx, id)
		if err != nil {
			return nil, err
		}
		d := &OperationDetail{Operation: op}
		if op.State == store.OperationRunning {
			if d.Pending, err = liveCounts(ctx, tx, op); err != nil {
				return nil, err
			}
		}
		if err := FailingAgain(ctx, tx, op); err != nil {
			return nil, err
		}
		if items.Limit > 0 {
			items.OperationID = id
			if d.Items, err = tx.ListOperationItems(ctx, items); err != nil {
				return nil, err
			}
		}
		return d, nil
	})
}

// KindRetryIncidents is the kind of a bulk retry (operation.KindRetryIncidents): the
// kind whose items can fail again.
const KindRetryIncidents = "incident.retry"

// FailingAgain counts, into op.FailingAgain, how many of a bulk retry's retried
// incidents have failed again since (store.CountFailingAgain: bounded, indexed). Other
// kinds, and a retry with nothing retried yet, are left as they are.
func FailingAgain(ctx context.Context, tx store.Tx, op *store.Operation) error {
	if op.Kind != KindRetryIncidents || op.Succeeded == 0 {
		return nil
	}
	n, err := tx.CountFailingAgain(ctx, op.ID)
	if err != nil {
		return err
	}
	op.FailingAgain = n
	return nil
}

// liveCounts puts a running operation's counts from its items into op and returns how
// many are pending.
func liveCounts(ctx context.Context, tx store.Tx, op *store.Operation) (int, error) {
	c, err := tx.CountOperationItems(ctx, op.ID)
	if err != nil {
		return 0, err
	}
	op.Succeeded, op.Failed, op.Skipped = c[store.ItemOK], c[store.ItemFailed], c[store.ItemSkipped]
	return c[store.ItemPending], nil
}

// ListAudit lists audit entries, newest first (f.Limit between 1 and MaxAuditRead).
func (e *Engine) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	if f.Limit < 1 || f.Limit > MaxAuditRead {
		return nil, fmt.Errorf("list audit: limit %d is not between 1 and %d: %w", f.Limit, MaxAuditRead, ErrInvalidInput)
	}
	return read(ctx, e, "list audit", func(tx store.Tx) ([]*store.AuditEntry, error) { return tx.ListAudit(ctx, f) })
}
