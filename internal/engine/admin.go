package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Health probes and the audit rows of what the engine does outside the command service.
// They complete the query API, so that the UI and the JSON API reach the store through
// the engine only.

// pingProbeID is the definition id Ping looks up. It is plain text every store can bind
// (PostgreSQL refuses a NUL byte in text, which once made the probe fail there).
const pingProbeID = "cockpit-health-probe"

// Ping proves the store answers and has its tables: a read transaction with one indexed
// lookup (of pingProbeID; not finding it is the healthy answer).
func (e *Engine) Ping(ctx context.Context) error {
	err := e.store.Read(ctx, func(tx store.Tx) error {
		_, err := tx.GetDefinition(ctx, pingProbeID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Ready tells whether the store is ready to serve: it answers and its migrations are
// applied (store.Checker); a store that cannot tell is ready when it answers an empty
// read transaction.
func (e *Engine) Ready(ctx context.Context) error {
	if c, ok := e.store.(store.Checker); ok {
		return c.Ready(ctx)
	}
	return e.store.Read(ctx, func(tx store.Tx) error { return nil })
}

// BeginAudit writes the audit row of an operator action about to run, with Result
// store.AuditStarted, in a transaction of its own (the audit invariant of
// internal/command: an action whose row cannot be written must not run). The command
// service writes the rows of its commands itself; this is for actions that call the
// engine directly (a deployment from the UI).
func (e *Engine) BeginAudit(ctx context.Context, a *store.AuditEntry) error {
	a.Result = store.AuditStarted
	if err := e.store.Write(ctx, func(tx store.Tx) error { return tx.InsertAudit(ctx, a) }); err != nil {
		return fmt.Errorf("write audit row: %w", err)
	}
	return nil
}

// FinishAudit gives a row written by BeginAudit its Result, Error and Request (a.Error is
// made storable first: store.StorableText). ErrNotFound when there is no such row.
func (e *Engine) FinishAudit(ctx context.Context, a *store.AuditEntry) error {
	a.Error = store.StorableText(a.Error)
	if err := e.store.Write(ctx, func(tx store.Tx) error { return tx.UpdateAudit(ctx, a) }); err != nil {
		return fmt.Errorf("write audit result: %w", err)
	}
	return nil
}
