package engine

import (
	"context"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A Record is written in the transaction of an instance command, after the command's own
// writes: the command and the record commit together or not at all. An error from the
// Record undoes the command (its savepoint), and the command returns that error.
//
// Bulk operations use it to write an item's outcome with the item's engine change, so an
// item is done exactly once even when two nodes run it (the second finds the outcome
// written and its change is undone: store.ErrLostItem; on a store that defers the
// outcome's write, PostgreSQL, the refusal fails the group commit, whose commands then
// run again one by one, and the command returns it). A Record may run more than once
// for one call (a command re-run after a conflict or a failed batch runs it again, in
// the new transaction); only the committed run counts.
type Record func(ctx context.Context, tx store.Tx) error

type recordKey struct{}

// WithRecord returns a context under which the instance commands (CancelInstance,
// RetryIncident, SetVariables, SuspendInstance, ResumeInstance and every command that
// changes one instance) write rec in their transaction. Use it for one command.
func WithRecord(ctx context.Context, rec Record) context.Context {
	return context.WithValue(ctx, recordKey{}, rec)
}

// writeRecord runs the context's Record, if any, in the command's transaction.
func writeRecord(ctx context.Context, b *batch) error {
	rec, _ := ctx.Value(recordKey{}).(Record)
	if rec == nil {
		return nil
	}
	return rec(ctx, b.tx)
}
