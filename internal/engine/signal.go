package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Signals. A signal is broadcast: every signal catch and boundary event waiting for its
// name, in every instance of every process, receives it, and every process whose latest
// version has a signal start event of that name starts an instance.
//
// Waiting is a row: a subscription of kind store.SubSignal (the token that waits, or
// none for a start event). Throwing (a signal throw or end event, or BroadcastSignal) is
// a row too: a store.Signal with a job of kind store.JobSignal and the same id, written
// in the throwing command's transaction. The executor works the broadcast off in steps
// (deliverSignal), each one command that delivers to at most signalBatch subscriptions
// (by id, after the last one delivered, up to the id drawn at the throw) and moves the
// broadcast's cursor in the same transaction. So a broadcast over a million instances
// never holds the committer longer than one step, other commands interleave, and a node
// that dies mid-way leaves the rest to the node that takes the job after its lock.
//
// What a broadcast reaches: the subscriptions that existed when it was thrown (ids are
// UUIDv7, drawn from the clock: a subscription made later, such as a catch event the
// delivery itself leads back to, has a higher id than the broadcast's bound). Suspended
// instances do not receive signals (they are skipped, as Camunda 7 does). A thrown
// signal reaches the throwing instance's own waiting events too.

// signalBatch bounds the subscriptions one step of a broadcast delivers to (one
// command): each may move an instance up to the engine's per-command bounds.
const signalBatch = 64

// subscribeSignal makes tok (standing at a signal catch event, or at the activity that
// boundary signal event n is attached to) wait for n's signal.
func (r *run) subscribeSignal(tok *store.Token, n *node, tokenID string) {
	s := &store.Subscription{
		ID: newID(), Kind: store.SubSignal, InstanceID: r.inst.ID, TokenID: tokenID, ElementID: n.el.ID,
		DefinitionID: r.inst.DefinitionID, DefinitionKey: r.inst.DefinitionKey, MessageName: n.signalName, CreatedAt: r.now,
	}
	r.putSub(s)
	r.event(event.SignalSubscribed, tok, n, map[string]any{"signal": n.signalName})
}

// throwSignal broadcasts the signal of throw or end event n: the broadcast is written
// with the command (flush) and delivered by the executor.
func (r *run) throwSignal(tok *store.Token, n *node) {
	s := &store.Signal{ID: newID(), Name: n.signalName, InstanceID: r.inst.ID, CreatedAt: r.now}
	s.Upto = newID()
	r.signals = append(r.signals, s)
	r.event(event.SignalThrown, tok, n, map[string]any{"signal": s.Name, "signalId": s.ID})
}

// storeSignals writes broadcasts and their jobs, due now, in tx. definitionKey is the
// throwing instance's process ("" for an operator's broadcast).
func (e *Engine) storeSignals(ctx context.Context, tx store.Tx, sigs []*store.Signal, definitionKey string) error {
	for _, s := range sigs {
		if err := tx.InsertSignal(ctx, s); err != nil {
			return err
		}
		j := &store.Job{ID: s.ID, Kind: store.JobSignal, Type: s.Name, DefinitionKey: definitionKey,
			Retries: 1, DueAt: s.CreatedAt, CreatedAt: s.CreatedAt}
		if err := tx.PutJob(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// SignalBroadcast is a signal that was thrown.
type SignalBroadcast struct {
	// ID names the broadcast (signal.thrown's and signal.received's signalId).
	ID   string
	Name string
}

// BroadcastSignal throws the signal name to every event waiting for it and to every
// signal start event of that name, with vars set on each instance it reaches or starts.
// It returns once the broadcast is stored: the engine's executor delivers it (on this
// node or another), in steps, so the instances it reaches move shortly after, not
// within this call.
func (e *Engine) BroadcastSignal(ctx context.Context, name string, vars map[string]any) (*SignalBroadcast, error) {
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("broadcast signal: name is empty: %w", ErrInvalidInput)
	}
	if err := checkSize("signal name", len(name), MaxNameBytes); err != nil {
		return nil, fmt.Errorf("broadcast signal: %w", err)
	}
	enc, err := encodeSignalVariables(vars)
	if err != nil {
		return nil, fmt.Errorf("broadcast signal %q: %w", name, err)
	}
	var out SignalBroadcast
	err = e.exec(ctx, func(b *batch) (bool, error) {
		s := &store.Signal{ID: newID(), Name: name, Variables: enc, CreatedAt: e.clock.Now()}
		s.Upto = newID()
		if err := e.storeSignals(ctx, b.tx, []*store.Signal{s}, ""); err != nil {
			return false, err
		}
		out = SignalBroadcast{ID: s.ID, Name: name}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast signal %q: %w", name, err)
	}
	return &out, nil
}

// encodeSignalVariables checks a broadcast's variables as setVariables will (names,
// values, sizes), so that no delivery fails on them, and encodes them ("" for none).
func encodeSignalVariables(vars map[string]any) (string, error) {
	if len(vars) == 0 {
		return "", nil
	}
	total := 0
	out := make(map[string]json.RawMessage, len(vars))
	for _, name := range sortedKeys(vars) {
		if name == "" {
			return "", fmt.Errorf("variable name is empty: %w", ErrInvalidInput)
		}
		if len(name) > MaxNameBytes {
			return "", checkSize(fmt.Sprintf("variable name %.40q…", name), len(name), MaxNameBytes)
		}
		_, raw, _, err := normalise(name, vars[name])
		if err != nil {
			return "", err
		}
		if len(raw) > MaxVariableBytes {
			return "", checkSize(fmt.Sprintf("variable %q (JSON-encoded)", name), len(raw), MaxVariableBytes)
		}
		total += len(raw) + len(name) + 4
		if total > MaxVariablesBytes {
			return "", fmt.Errorf("the variables are more than the limit of %d bytes (JSON-encoded, at %q): %w",
				MaxVariablesBytes, name, ErrInvalidInput)
		}
		out[name] = raw
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("variables: %v: %w", err, ErrInvalidInput)
	}
	return string(b), nil
}

// runSignal works off the broadcast of job j (locked by this node) step by step until
// it is delivered. When the executor stops, it gives the job back (unlocked) so that a
// node takes it at once rather than after its lock.
func (e *Engine) runSignal(ctx context.Context, j *store.Job) error {
	wctx := context.WithoutCancel(ctx)
	for {
		if ctx.Err() != nil {
			return e.unlockSignal(wctx, j)
		}
		done, err := e.deliverSignal(wctx, j)
		if err != nil || done {
			return err
		}
	}
}

// unlockSignal clears this node's lock of a broadcast's job.
func (e *Engine) unlockSignal(ctx context.Context, j *store.Job) error {
	return e.exec(ctx, func(b *batch) (bool, error) {
		cur, err := b.tx.GetJob(ctx, j.ID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil || cur.LockOwner != e.opts.NodeID {
			return false, err
		}
		cur.LockOwner, cur.LockedUntil = "", nil
		return true, b.tx.PutJob(ctx, cur)
	})
}

// deliverSignal is one step of a broadcast: one command that delivers the signal to the
// next signalBatch subscriptions and moves the cursor, or ends the broadcast (its row
// and job deleted) when fewer are left. It extends the job's lock at every step.
func (e *Engine) deliverSignal(ctx context.Context, j *store.Job) (done bool, err error) {
	err = e.exec(ctx, func(b *batch) (bool, error) {
		done = false
		tx := b.tx
		cur, err := tx.GetJob(ctx, j.ID)
		if errors.Is(err, store.ErrNotFound) {
			done = true // delivered meanwhile (another node, after our lock expired)
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if cur.LockOwner != e.opts.NodeID {
			return false, ErrLostLock
		}
		sig, err := tx.GetSignal(ctx, j.ID)
		if errors.Is(err, store.ErrNotFound) {
			done = true
			return false, tx.DeleteJob(ctx, j.ID)
		}
		if err != nil {
			return false, err
		}
		var vars map[string]any
		if sig.Variables != "" {
			if err := json.Unmarshal([]byte(sig.Variables), &vars); err != nil {
				return false, fmt.Errorf("signal %q: variables: %w", sig.ID, err)
			}
		}
		subs, err := tx.SignalSubscriptions(ctx, sig.Name, sig.LastID, sig.Upto, signalBatch)
		if err != nil {
			return false, err
		}
		wake := false
		// The subscriptions of one instance are delivered in one run (one load, one
		// write); instances in the order of their first subscription.
		var order []string
		byInstance := map[string][]*store.Subscription{}
		for _, s := range subs {
			if s.InstanceID == "" {
				w, err := e.signalStart(ctx, b, s, sig, vars)
				if err != nil {
					return false, err
				}
				wake = wake || w
				continue
			}
			if byInstance[s.InstanceID] == nil {
				order = append(order, s.InstanceID)
			}
			byInstance[s.InstanceID] = append(byInstance[s.InstanceID], s)
		}
		for _, id := range order {
			n, w, err := e.signalInstance(ctx, b, id, byInstance[id], sig, vars)
			if err != nil {
				return false, err
			}
			sig.Delivered += int64(n)
			wake = wake || w
		}
		if len(subs) < signalBatch {
			done = true
			if err := tx.DeleteSignal(ctx, sig.ID); err != nil {
				return false, err
			}
			return wake, tx.DeleteJob(ctx, j.ID)
		}
		sig.LastID = subs[len(subs)-1].ID
		if err := tx.UpdateSignal(ctx, sig); err != nil {
			return false, err
		}
		until := e.clock.Now().Add(e.opts.LockDuration)
		cur.LockedUntil = &until
		return wake, tx.PutJob(ctx, cur)
	})
	return done, err
}

// signalStart starts an instance at the signal start event of subscription s.
func (e *Engine) signalStart(ctx context.Context, b *batch, s *store.Subscription, sig *store.Signal, vars map[string]any) (bool, error) {
	p, err := e.planFor(ctx, b.tx, s.DefinitionID)
	if err != nil {
		return false, err
	}
	n := p.nodes[s.ElementID]
	if n == nil {
		return false, nil // not a node of its definition: nothing to start
	}
	sig.Delivered++
	r, err := e.startRunWith(ctx, b, p, n, "", vars, func(r *run, tok *store.Token) {
		r.event(event.SignalReceived, tok, n, map[string]any{"signal": sig.Name, "signalId": sig.ID})
	})
	if err != nil {
		return false, err
	}
	return r.wake, nil
}

// signalInstance delivers a signal to the subscriptions subs of one instance. It
// reports how many it reached: a suspended or ended instance, or a subscription gone
// meanwhile, takes none.
func (e *Engine) signalInstance(ctx context.Context, b *batch, id string, subs []*store.Subscription, sig *store.Signal,
	vars map[string]any) (int, bool, error) {
	r, err := e.load(ctx, b, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if r.fromCache && !e.exclusive && (r.subs[subs[0].ID] == nil || r.inst.State != store.InstanceActive) {
		b.evict(id) // the subscription is in the store: the cache is behind
		if r, err = e.load(ctx, b, id); err != nil {
			return 0, false, err
		}
	}
	if r.inst.State != store.InstanceActive {
		return 0, false, nil
	}
	reached := 0
	for _, s := range subs {
		sub, n := r.subs[s.ID], r.p.nodes[s.ElementID]
		if sub == nil || n == nil {
			continue // an earlier delivery in this run took it away (an interrupting event)
		}
		if es := n.eventSub(); es != nil {
			reached++
			if err := r.catchSignalStart(sub, n, es, sig, vars); err != nil {
				return 0, false, err
			}
			continue
		}
		tok := r.tokens[s.TokenID]
		if tok == nil {
			continue
		}
		reached++
		if err := r.catchSignal(sub, tok, n, sig, vars); err != nil {
			return 0, false, err
		}
	}
	if reached == 0 {
		return 0, false, nil
	}
	if err := r.drain(); err != nil {
		return 0, false, err
	}
	if err := r.flush(); err != nil {
		return 0, false, err
	}
	return reached, r.wake, nil
}

// catchSignal runs what a signal does at the event of subscription sub (run.catch): a
// catch event's token leaves it; after an event-based gateway the gateway's token takes
// this event's path (the gateway's other events are withdrawn); a boundary event fires
// (an interrupting one cancels its activity, a non-interrupting one keeps its
// subscription and fires again at the next signal).
func (r *run) catchSignal(sub *store.Subscription, tok *store.Token, n *node, sig *store.Signal, vars map[string]any) error {
	r.event(event.SignalReceived, tok, n, map[string]any{"signal": sig.Name, "signalId": sig.ID})
	if err := r.setVariables(vars, tok, n); err != nil {
		return err
	}
	if n.el.Kind != bpmn.KindBoundaryEvent || n.el.CancelActivity {
		r.dropSub(sub)
	}
	return r.catch(tok, n, event.ReasonSignal(sig.Name, n.el.ID))
}

// catchSignalStart runs the event subprocess es whose signal start st (subscription
// sub, owned by the scope sub.TokenID: "" at process level) a broadcast reached: an
// interrupting one takes its scope over (and disarms the scope's starts, this one
// included), a non-interrupting one runs beside the rest and stays subscribed.
func (r *run) catchSignalStart(sub *store.Subscription, st, es *node, sig *store.Signal, vars map[string]any) error {
	scope := r.tokens[sub.TokenID] // nil at process level
	r.event(event.SignalReceived, scope, st, map[string]any{"signal": sig.Name, "signalId": sig.ID})
	if err := r.setVariables(vars, scope, st); err != nil {
		return err
	}
	if st.el.IsInterrupting {
		r.dropSub(sub)
	}
	return r.triggerEventSub(sub.TokenID, es, map[string]any{"signal": sig.Name})
}
