package monitor

// The stall detector. A token has stalled when it has waited at an element longer than
// the element's threshold: an operator's setting for the element (store.StallThreshold,
// per process key), or else the element's own p99 waiting time over the last days, never
// below a floor. Elements with neither are not checked. Incidents do not matter: a token
// with an incident stalls like any other (the stall says so).
//
// Invariants:
//   - One detector per store works at a time: the holder of the store lease "stalls"
//     (package leadership); a pass runs under the lease's term and is cancelled (its
//     write rolled back) when the lease is lost.
//   - A pass opens and clears stalls in one write transaction, so the stall rows always
//     describe one moment: an open stall's token waited past its threshold then.
//   - A stall is cleared when its token moved on (or arrived again), its instance ended or
//     was suspended, or its element's threshold no longer holds.
//   - Publication follows the rows: a row whose state is not yet published goes to NATS on
//     every pass until the stream acknowledges it (Nats-Msg-Id = stall id + type, so a
//     repeat is dropped). NATS being down delays the notices and never loses them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/leadership"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// StallLease is the store lease the detecting node holds.
const StallLease = "stalls"

// Stall detector defaults.
const (
	DefaultStallInterval  = 30 * time.Second
	DefaultStallMin       = time.Minute
	DefaultStallWindow    = 7 * 24 * time.Hour
	DefaultStallRetention = 7 * 24 * time.Hour
)

// ThresholdSource gives each element's learnt waiting threshold (its p99 waiting time)
// from the waiting times observed since a time; (*Monitor).Thresholds implements it.
// Elements without observations are absent.
type ThresholdSource interface {
	Thresholds(ctx context.Context, definitionID string, since time.Time) (map[string]time.Duration, error)
}

// StallPublisher publishes one notice of a stall (typ is event.StallDetected or event.StallCleared)
// and returns once it is stored; *bus.StallPublisher implements it. It must be
// idempotent per (stall, typ): a notice whose acknowledgement was lost goes again.
type StallPublisher interface {
	PublishStall(ctx context.Context, s *store.Stall, typ event.Type) error
}

// StallOptions configure a StallDetector. Zero values take the documented defaults.
type StallOptions struct {
	Store store.Store // required
	// Thresholds gives the learnt thresholds; nil checks only elements with an
	// operator's threshold.
	Thresholds ThresholdSource
	// Publisher publishes notices; nil publishes nothing (the rows stay unpublished, and
	// cleared ones are not pruned until a detector with a publisher has sent them).
	Publisher StallPublisher
	// Owner names this node in the lease (default a random id).
	Owner string
	// Interval is the time between passes (default 30s).
	Interval time.Duration
	// Min is the floor of a learnt threshold (default 1m): an element that is usually
	// quick is not flagged for a few seconds of waiting. An operator's threshold is used
	// as set.
	Min time.Duration
	// Window is how far back the learnt thresholds look (default 7 days).
	Window time.Duration
	// Retention is how long cleared stalls are kept once published (default 7 days).
	Retention time.Duration
	// LeaseTTL is how long the lease is taken for (default leadership.DefaultTTL, 5s),
	// renewed every third of it whatever the Interval; another node takes over within
	// about LeaseTTL after the holder died (package leadership).
	LeaseTTL time.Duration
	Clock    clock.Clock  // default clock.Real
	Logger   *slog.Logger // default slog.Default()
}

// StallDetector finds stalled tokens. Start it, and Stop it; or call Pass directly.
type StallDetector struct {
	opts StallOptions
	log  *slog.Logger
	el   *leadership.Elector
	run  startstop.Runner

	// passMu serialises passes (the loop's and direct calls).
	passMu sync.Mutex
}

// NewStallDetector checks the options and makes a detector.
func NewStallDetector(o StallOptions) (*StallDetector, error) {
	if o.Store == nil {
		return nil, errors.New("new stall detector: Store is required")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultStallInterval
	}
	if o.Min <= 0 {
		o.Min = DefaultStallMin
	}
	if o.Window <= 0 {
		o.Window = DefaultStallWindow
	}
	if o.Retention <= 0 {
		o.Retention = DefaultStallRetention
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	log := o.Logger.With("component", "stall-detector")
	el, err := leadership.New(leadership.Options{Store: o.Store, Name: StallLease, Owner: o.Owner, TTL: o.LeaseTTL,
		Clock: o.Clock, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("new stall detector: %w", err)
	}
	return &StallDetector{opts: o, log: log, el: el, run: startstop.Runner{Name: "stall detector"}}, nil
}

// Start runs a pass every Interval, and one as soon as this node takes the lease, until
// Stop. The detector outlives ctx (only its values are kept).
func (d *StallDetector) Start(ctx context.Context) error {
	if err := d.el.Start(ctx); err != nil {
		return fmt.Errorf("start stall detector: %w", err)
	}
	if err := d.run.Start(ctx, d.loop); err != nil {
		return errors.Join(err, d.el.Stop(ctx))
	}
	d.log.Info("stall detector started", "owner", d.opts.Owner, "interval", d.opts.Interval, "min", d.opts.Min)
	return nil
}

// Stop ends the loop (a pass in flight is cancelled and rolled back) and gives up the
// lease so another node takes over at once (package startstop says what a Stop out of
// time leaves).
func (d *StallDetector) Stop(ctx context.Context) error {
	return errors.Join(d.run.Stop(ctx), d.el.Stop(ctx))
}

func (d *StallDetector) loop(ctx context.Context, _ <-chan struct{}) {
	for {
		changed := d.el.Changed() // before the pass looks at the lease
		if _, err := d.pass(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("stall detector pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.opts.Clock.After(d.opts.Interval):
		case <-changed: // took the lease (or lost it): look at once
		}
	}
}

// PassResult says what one pass did.
type PassResult struct {
	// Leader is true when this detector held the lease and looked.
	Leader bool
	// Opened and Cleared count the stalls the pass opened and cleared.
	Opened, Cleared int
	// Published counts the notices acknowledged in the pass; Unpublished is true when
	// some were left for the next pass (NATS unavailable).
	Published   int
	Unpublished bool
}

// Pass takes or renews the lease now and, holding it, detects, clears, prunes and
// publishes. A started detector passes by itself; Pass is for a pass on demand.
func (d *StallDetector) Pass(ctx context.Context) (PassResult, error) {
	if _, err := d.el.Elect(ctx); err != nil {
		return PassResult{}, err
	}
	return d.pass(ctx)
}

// pass detects, clears, prunes and publishes under the lease's term; without the lease
// it does nothing.
func (d *StallDetector) pass(ctx context.Context) (PassResult, error) {
	d.passMu.Lock()
	defer d.passMu.Unlock()
	ctx, cancel, held := d.el.Lead(ctx)
	defer cancel()
	if !held {
		return PassResult{}, nil
	}
	now := d.opts.Clock.Now()
	res := PassResult{Leader: true}
	plans, err := d.plan(ctx, now)
	if err != nil {
		return res, err
	}
	if res.Opened, res.Cleared, err = d.detect(ctx, now, plans); err != nil {
		return res, err
	}
	if res.Opened > 0 || res.Cleared > 0 {
		d.log.Info("stalls", "opened", res.Opened, "cleared", res.Cleared)
	}
	res.Published, res.Unpublished, err = d.publish(ctx)
	return res, err
}

// definitionPlan is what a pass checks in one definition: the threshold per element.
type definitionPlan struct {
	def        *store.Definition
	thresholds map[string]time.Duration
}

// plan reads the definitions and computes every element's threshold, before the write
// transaction (the learnt thresholds are the monitor's reads, not the detector's).
func (d *StallDetector) plan(ctx context.Context, now time.Time) ([]definitionPlan, error) {
	var defs []*store.Definition
	var settings []*store.StallThreshold
	err := d.opts.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if defs, err = tx.ListDefinitions(ctx, store.DefinitionFilter{}); err != nil {
			return err
		}
		settings, err = tx.ListStallThresholds(ctx, "")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stall detector: read definitions: %w", err)
	}
	byKey := map[string]map[string]time.Duration{}
	for _, s := range settings {
		if byKey[s.DefinitionKey] == nil {
			byKey[s.DefinitionKey] = map[string]time.Duration{}
		}
		byKey[s.DefinitionKey][s.ElementID] = s.Threshold
	}
	plans := make([]definitionPlan, 0, len(defs))
	for _, def := range defs {
		th, err := d.thresholdsFor(ctx, def, byKey[def.Key], now)
		if err != nil {
			return nil, err
		}
		plans = append(plans, definitionPlan{def: def, thresholds: th})
	}
	return plans, nil
}

// thresholdsFor computes one definition's thresholds: the operator's settings (by
// element) where set, else the learnt ones, floored.
func (d *StallDetector) thresholdsFor(ctx context.Context, def *store.Definition, settings map[string]time.Duration, now time.Time) (map[string]time.Duration, error) {
	th := map[string]time.Duration{}
	if d.opts.Thresholds != nil {
		learnt, err := d.opts.Thresholds.Thresholds(ctx, def.ID, now.Add(-d.opts.Window))
		if err != nil {
			return nil, fmt.Errorf("stall detector: thresholds of %s v%d: %w", def.Key, def.Version, err)
		}
		for el, v := range learnt {
			if v > 0 {
				th[el] = max(v, d.opts.Min)
			}
		}
	}
	for el, v := range settings {
		th[el] = v
	}
	return th, nil
}

// EffectiveThresholds returns the thresholds a pass would use for a definition now: the
// operator's where set, else the learnt ones (floored). The process page shows them.
func (d *StallDetector) EffectiveThresholds(ctx context.Context, definitionID string) (map[string]time.Duration, error) {
	var def *store.Definition
	settings := map[string]time.Duration{}
	err := d.opts.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if def, err = tx.GetDefinition(ctx, definitionID); err != nil {
			return err
		}
		set, err := tx.ListStallThresholds(ctx, def.Key)
		for _, s := range set {
			settings[s.ElementID] = s.Threshold
		}
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("thresholds of %q: %w", definitionID, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("stall detector: read definitions: %w", err)
	}
	return d.thresholdsFor(ctx, def, settings, d.opts.Clock.Now())
}

// stallKey identifies where a token stands: a stall belongs to one stay of a token at an
// element (a token that leaves and comes back has a new arrival time).
type stallKey struct {
	token, element string
	since          int64 // unix µs, what both stores keep
}

// detect opens and clears stalls in one write transaction.
func (d *StallDetector) detect(ctx context.Context, now time.Time, plans []definitionPlan) (opened, cleared int, err error) {
	err = d.opts.Store.Write(ctx, func(tx store.Tx) error {
		opened, cleared = 0, 0
		for _, p := range plans {
			cutoffs := make(map[string]time.Time, len(p.thresholds))
			for el, th := range p.thresholds {
				cutoffs[el] = now.Add(-th)
			}
			waiting, err := tx.WaitingTokens(ctx, p.def.ID, cutoffs)
			if err != nil {
				return err
			}
			open, err := tx.ListStalls(ctx, store.StallFilter{DefinitionID: p.def.ID, State: store.StallOpen})
			if err != nil {
				return err
			}
			stalled := make(map[stallKey]*store.WaitingToken, len(waiting))
			for _, w := range waiting {
				stalled[stallKey{w.TokenID, w.ElementID, w.Since.UnixMicro()}] = w
			}
			var gone []string
			for _, s := range open {
				k := stallKey{s.TokenID, s.ElementID, s.Since.UnixMicro()}
				if _, ok := stalled[k]; ok {
					delete(stalled, k) // still stalled: nothing to do
					continue
				}
				gone = append(gone, s.ID)
			}
			// Clear first: a token that moved on and stalled again elsewhere since the last
			// pass has one open stall at a time.
			if err := tx.ClearStalls(ctx, gone, now); err != nil {
				return err
			}
			var fresh []*store.Stall
			for _, w := range waiting {
				if _, ok := stalled[stallKey{w.TokenID, w.ElementID, w.Since.UnixMicro()}]; !ok {
					continue
				}
				fresh = append(fresh, &store.Stall{
					ID: uuid.Must(uuid.NewV7()).String(), TokenID: w.TokenID, InstanceID: w.InstanceID,
					DefinitionID: p.def.ID, DefinitionKey: p.def.Key, ElementID: w.ElementID, Since: w.Since,
					Threshold: p.thresholds[w.ElementID], Incident: w.Incident, DetectedAt: now, State: store.StallOpen,
				})
			}
			if err := tx.InsertStalls(ctx, fresh); err != nil {
				return err
			}
			opened, cleared = opened+len(fresh), cleared+len(gone)
		}
		_, err := tx.PruneStalls(ctx, now.Add(-d.opts.Retention))
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("stall detector: detect: %w", err)
	}
	return opened, cleared, nil
}

// publishBatch is how many unpublished stalls one read takes.
const publishBatch = 256

// publish sends the notices of every stall whose state is not yet published: for a new
// stall its detection, for a cleared one its detection (if that never went) and its
// clearing. The first failure to publish ends the pass's publishing (left is true); the
// rest waits for the next pass.
func (d *StallDetector) publish(ctx context.Context) (published int, left bool, err error) {
	if d.opts.Publisher == nil {
		return 0, false, nil
	}
	for {
		var rows []*store.Stall
		err := d.opts.Store.Read(ctx, func(tx store.Tx) error {
			var err error
			rows, err = tx.UnpublishedStalls(ctx, publishBatch)
			return err
		})
		if err != nil {
			return published, true, fmt.Errorf("stall detector: read unpublished stalls: %w", err)
		}
		if len(rows) == 0 {
			return published, false, nil
		}
		type mark struct{ id, state string }
		var marks []mark
		var perr error
		for _, s := range rows {
			if s.Published == "" {
				if perr = d.opts.Publisher.PublishStall(ctx, s, event.StallDetected); perr != nil {
					break
				}
				published++
				marks = append(marks, mark{s.ID, store.StallOpen})
			}
			if s.State == store.StallCleared {
				if perr = d.opts.Publisher.PublishStall(ctx, s, event.StallCleared); perr != nil {
					break
				}
				published++
				marks = append(marks, mark{s.ID, store.StallCleared})
			}
		}
		if len(marks) > 0 {
			// A row cleared since it was read keeps its new state: MarkStallPublished
			// records what was sent, and the clearing goes in the next pass.
			err := d.opts.Store.Write(ctx, func(tx store.Tx) error {
				for _, m := range marks {
					if err := tx.MarkStallPublished(ctx, m.id, m.state); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return published, true, fmt.Errorf("stall detector: mark published: %w", err)
			}
		}
		if perr != nil {
			// NATS unavailable is not the pass's failure: the rows wait for the next one.
			d.log.Warn("stall detector: notices not published, retrying next pass", "err", perr)
			return published, true, nil
		}
		if len(rows) < publishBatch {
			return published, false, nil
		}
	}
}
