package engine

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// MaxCorrelations bounds the instances one correlation reaches or starts (Message.All):
// they are all written in one transaction, which must stay a size a commit can carry.
const MaxCorrelations = 1000

// Message is a message to correlate.
//
// Subscriptions are found by name and correlation key (a message start event matches any
// key). BusinessKey, InstanceID and VariablesEqual narrow the waiting instances further,
// as Camunda 7's correlation does (its models have no correlation key on catch events, so
// their subscriptions have an empty key and the selection is all that tells instances
// apart); only InstanceID keeps the message from starting an instance.
type Message struct {
	Name           string
	CorrelationKey string
	Variables      map[string]any
	// BusinessKey keeps the instances with this business key; an instance the message
	// starts gets it as its business key (else the correlation key).
	BusinessKey string
	// InstanceID keeps one instance, and starts none.
	InstanceID string
	// VariablesEqual keeps the instances whose process variables (scope "") equal these
	// values, compared as the JSON the engine stores (1 and 1.0 are equal).
	VariablesEqual map[string]any
	// All delivers the message to every instance that matches and starts an instance at
	// every message start event that matches (one per process version), at most
	// MaxCorrelations in all; nothing matching is ErrNotFound.
	All bool
	// Unique refuses a message that more than one instance or message start event
	// matches, with ErrInvalidState (Camunda's correlation without all). Without it the
	// message goes to the first instance waiting, else it starts an instance.
	Unique bool
}

// CorrelationResult tells where a message went.
type CorrelationResult struct {
	// InstanceID and Started are those of the first of Correlations.
	InstanceID string
	// Started is true when the message started a new instance.
	Started bool
	// Correlations lists every instance the message reached or started (one unless
	// Message.All).
	Correlations []Correlation
}

// Correlation is one instance a message reached or started.
type Correlation struct {
	InstanceID   string
	DefinitionID string
	BusinessKey  string
	// Started is true when the message started the instance at a message start event.
	Started bool
}

// CorrelateMessage delivers a message to the instance waiting for it (Message says
// which), or else starts an instance of a process with a matching message start event,
// in one transaction. It fails with ErrNotFound when nothing waits for the message, and
// with ErrInvalidState when Message.Unique is set and more than one thing does.
func (e *Engine) CorrelateMessage(ctx context.Context, m Message) (*CorrelationResult, error) {
	if strings.TrimSpace(m.Name) == "" {
		return nil, fmt.Errorf("correlate message: name is empty: %w", ErrInvalidInput)
	}
	if err := checkSize("message name", len(m.Name), MaxNameBytes); err != nil {
		return nil, fmt.Errorf("correlate message: %w", err)
	}
	if err := checkSize("correlation key", len(m.CorrelationKey), MaxBusinessKeyBytes); err != nil {
		return nil, fmt.Errorf("correlate message %q: %w", m.Name, err)
	}
	if err := checkSize("business key", len(m.BusinessKey), MaxBusinessKeyBytes); err != nil {
		return nil, fmt.Errorf("correlate message %q: %w", m.Name, err)
	}
	// The values to compare, as a reload decodes stored ones.
	equal := make(map[string]any, len(m.VariablesEqual))
	for name, v := range m.VariablesEqual {
		dv, _, _, err := normalise(name, v)
		if err != nil {
			return nil, fmt.Errorf("correlate message %q: variable to match: %w", m.Name, err)
		}
		equal[name] = dv
	}
	var res CorrelationResult
	err := e.exec(ctx, func(b *batch) (bool, error) {
		res = CorrelationResult{}
		c := &correlation{e: e, b: b, m: m, equal: equal, res: &res}
		return c.run(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("correlate message %q: %w", m.Name, err)
	}
	return &res, nil
}

// correlation is one CorrelateMessage in its transaction.
type correlation struct {
	e     *Engine
	b     *batch
	m     Message
	equal map[string]any
	res   *CorrelationResult
}

// match is an instance the message may reach, with the subscriptions of it that match.
type match struct {
	r    *run
	subs []*store.Subscription
}

// run finds what the message matches and delivers it; it reports whether jobs are due.
func (c *correlation) run(ctx context.Context) (bool, error) {
	e, b, m := c.e, c.b, c.m
	subs, err := b.tx.FindSubscriptions(ctx, m.Name, m.CorrelationKey)
	if err != nil {
		return false, err
	}
	// The instances in the order of their first subscription; starts one per version.
	var order []string
	byInstance := map[string][]*store.Subscription{}
	var starts []*store.Subscription
	startOf := map[string]bool{}
	for _, s := range subs {
		switch {
		case s.InstanceID == "":
			if m.InstanceID == "" && !startOf[s.DefinitionID] {
				startOf[s.DefinitionID] = true
				starts = append(starts, s)
			}
		case m.InstanceID == "" || s.InstanceID == m.InstanceID:
			if byInstance[s.InstanceID] == nil {
				order = append(order, s.InstanceID)
			}
			byInstance[s.InstanceID] = append(byInstance[s.InstanceID], s)
		}
	}
	var matches []match
	found := 0 // subscriptions matched
	for _, id := range order {
		if m.BusinessKey != "" {
			// The row alone tells (a business key never changes): the instances of other
			// keys are not loaded whole.
			row, err := b.tx.GetInstance(ctx, id)
			if err != nil {
				return false, err
			}
			if row.BusinessKey != m.BusinessKey {
				continue
			}
		}
		r, err := e.load(ctx, b, id)
		if err != nil {
			return false, err
		}
		if r.fromCache && !e.exclusive && (r.inst.State != store.InstanceActive || !hasSubs(r, byInstance[id])) {
			b.evict(id) // the subscriptions are in the store: the cache is behind
			if r, err = e.load(ctx, b, id); err != nil {
				return false, err
			}
		}
		if r.inst.State != store.InstanceActive || !c.selects(r) {
			continue // suspended instances do not take messages
		}
		var live []*store.Subscription
		for _, s := range byInstance[id] {
			if deliverable(r, s) {
				live = append(live, s)
			}
		}
		if len(live) == 0 {
			continue
		}
		if !m.All {
			live = live[:1+min(1, len(live)-1)] // one to deliver, a second to tell it is not unique
		}
		matches = append(matches, match{r: r, subs: live})
		found += len(live)
		if !m.All && (!m.Unique || found > 1) {
			break // enough to decide
		}
		if found > MaxCorrelations {
			return false, fmt.Errorf("more than %d instances wait for the message (MaxCorrelations): select fewer by business key or variables: %w",
				MaxCorrelations, ErrInvalidInput)
		}
	}
	if m.Unique && !m.All {
		if n := found + len(starts); n > 1 {
			return false, fmt.Errorf("it must match exactly one instance or message start event, and matches %s: %w",
				describeMatches(found, len(starts)), ErrInvalidState)
		}
	}
	if m.All && found+len(starts) > MaxCorrelations {
		return false, fmt.Errorf("it matches %s, more than the limit of %d of one correlation (MaxCorrelations): %w",
			describeMatches(found, len(starts)), MaxCorrelations, ErrInvalidInput)
	}
	if len(matches) == 0 && len(starts) == 0 {
		return false, fmt.Errorf("no instance or process waits for message %q with correlation key %q%s: %w",
			m.Name, m.CorrelationKey, c.selection(), ErrNotFound)
	}
	wake := false
	for _, mt := range matches {
		r := mt.r
		subs := mt.subs
		if !m.All {
			subs = subs[:1]
		}
		for _, s := range subs {
			if !deliverable(r, s) {
				continue // an earlier delivery to the instance closed it (an event gateway)
			}
			if err := r.deliver(s, m); err != nil {
				return false, err
			}
			if err := r.drain(); err != nil {
				return false, err
			}
		}
		if err := r.flush(); err != nil { // sets r.wake (pushJobs)
			return false, err
		}
		wake = wake || r.wake
		c.add(Correlation{InstanceID: r.inst.ID, DefinitionID: r.inst.DefinitionID, BusinessKey: r.inst.BusinessKey})
		if !m.All {
			return wake, nil
		}
	}
	businessKey := m.BusinessKey
	if businessKey == "" {
		businessKey = m.CorrelationKey
	}
	for _, start := range starts {
		p, err := e.planFor(ctx, b.tx, start.DefinitionID)
		if err != nil {
			return false, err
		}
		n := p.nodes[start.ElementID]
		if n == nil {
			return false, fmt.Errorf("message start %q not in definition %q: %w", start.ElementID, start.DefinitionID, ErrNotFound)
		}
		r, err := e.startRun(ctx, b, p, n, businessKey, m.Variables)
		if err != nil {
			return false, err
		}
		wake = wake || r.wake
		c.add(Correlation{InstanceID: r.inst.ID, DefinitionID: p.def.ID, BusinessKey: businessKey, Started: true})
		if !m.All {
			break
		}
	}
	return wake, nil
}

// add records one instance reached or started.
func (c *correlation) add(x Correlation) {
	if len(c.res.Correlations) == 0 {
		c.res.InstanceID, c.res.Started = x.InstanceID, x.Started
	}
	c.res.Correlations = append(c.res.Correlations, x)
}

// selection describes the message's selection for an error (empty when it has none).
func (c *correlation) selection() string {
	var parts []string
	if c.m.BusinessKey != "" {
		parts = append(parts, fmt.Sprintf("business key %q", c.m.BusinessKey))
	}
	if c.m.InstanceID != "" {
		parts = append(parts, fmt.Sprintf("instance %q", c.m.InstanceID))
	}
	if len(c.equal) > 0 {
		parts = append(parts, fmt.Sprintf("%d process variable values", len(c.equal)))
	}
	if len(parts) == 0 {
		return ""
	}
	return " and " + strings.Join(parts, " and ")
}

func describeMatches(subs, starts int) string {
	return fmt.Sprintf("%d waiting subscription%s and %d message start event%s", subs, plural(subs), starts, plural(starts))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// hasSubs reports whether a loaded instance holds every one of the subscriptions.
func hasSubs(r *run, subs []*store.Subscription) bool {
	for _, s := range subs {
		if r.subs[s.ID] == nil {
			return false
		}
	}
	return true
}

// selects reports whether an instance is one the message's selection keeps.
func (c *correlation) selects(r *run) bool {
	if c.m.BusinessKey != "" && r.inst.BusinessKey != c.m.BusinessKey {
		return false
	}
	for name, want := range c.equal {
		got, ok := r.values[name]
		if !ok || !reflect.DeepEqual(got, want) {
			return false
		}
	}
	return true
}

// deliverable reports whether a subscription of a loaded instance can take the message.
func deliverable(r *run, s *store.Subscription) bool {
	sub, n := r.subs[s.ID], r.p.nodes[s.ElementID]
	if sub == nil || n == nil {
		return false
	}
	tok := r.tokens[s.TokenID]
	if n.eventSub() != nil {
		// An armed start of an event subprocess: owned by its scope (no token at process
		// level).
		return sub.TokenID == "" || tok != nil
	}
	return tok != nil
}

// deliver hands the message to one subscription of r (deliverable).
func (r *run) deliver(s *store.Subscription, m Message) error {
	sub, n, tok := r.subs[s.ID], r.p.nodes[s.ElementID], r.tokens[s.TokenID]
	if n.eventSub() != nil {
		return r.correlateEventSub(sub, n, m)
	}
	if n.attachedTo == nil || n.el.CancelActivity {
		r.dropSub(sub) // a non-interrupting boundary event keeps listening
	}
	r.event(event.MessageCorrelated, tok, n, map[string]any{"message": m.Name, "correlationKey": m.CorrelationKey})
	if err := r.setVariables(m.Variables, tok, n); err != nil {
		return err
	}
	return r.catch(tok, n, event.ReasonMessage(n.el.ID))
}
