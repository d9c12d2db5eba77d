package engine

import (
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Transaction subprocesses.
//
// A transaction runs like an embedded subprocess. A token that reaches one of its
// cancel end events cancels it, in Camunda 7's order: every other token of the
// transaction is cancelled; then what completed inside it is compensated, latest first
// (the cancel end event is a compensation throw for its scope: throwCompensation, with
// the handlers' tokens waiting in it); then the transaction itself is cancelled and the
// token leaves by its cancel boundary event (transactionCancelled). The checker makes
// sure the cancel end event sits directly in a transaction that has one.

// cancelTransaction runs cancel end event n, reached by tok.
func (r *run) cancelTransaction(tok *store.Token, n *node) error {
	var others []*store.Token
	for _, t := range r.tokens {
		if t.ScopeID == tok.ScopeID && t.ID != tok.ID {
			others = append(others, t)
		}
	}
	r.cancelTokens(others, event.ReasonTransactionCancelled(n.el.ID))
	return r.throwCompensation(tok, n)
}

// transactionCancelled ends cancel end event n's token tok once the transaction's
// compensation is done, and leaves the transaction by its cancel boundary event.
func (r *run) transactionCancelled(tok *store.Token, n *node) error {
	tx := r.tokens[tok.ScopeID]
	if tx == nil {
		return fmt.Errorf("cancel end event %q: its transaction's token %q is gone", n.el.ID, tok.ScopeID)
	}
	txn, err := r.nodeOf(tx)
	if err != nil {
		return err
	}
	b := txn.cancelBoundary
	if b == nil {
		return fmt.Errorf("transaction %q has no cancel boundary event", txn.el.ID)
	}
	r.left(tok, n)
	r.dropToken(tok)
	return r.fireBoundary(tx, b, event.ReasonTransactionCancelled(n.el.ID), map[string]any{"cancelledBy": n.el.ID})
}
