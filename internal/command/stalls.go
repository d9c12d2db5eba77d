package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Bounds of an operator's stall threshold.
const (
	MinStallThreshold = time.Second
	MaxStallThreshold = 365 * 24 * time.Hour
)

// runStallThreshold sets or removes an operator's stall threshold. The element must be a
// flow node of the latest version of the process, so a typo does not set a threshold
// that never applies.
func runStallThreshold(ctx context.Context, s *Service, r *StallThresholdRequest, x *call) (any, error) {
	if err := required("definitionKey", r.DefinitionKey); err != nil {
		return nil, err
	}
	if err := required("elementId", r.ElementID); err != nil {
		return nil, err
	}
	var d time.Duration
	if t := strings.TrimSpace(r.Threshold); t != "" {
		var err error
		if d, err = time.ParseDuration(t); err != nil {
			return nil, errorf(CodeInvalidInput, "field \"threshold\": %q is not a duration (use e.g. 90s, 15m, 2h30m)", r.Threshold)
		}
		if d < MinStallThreshold || d > MaxStallThreshold {
			return nil, errorf(CodeInvalidInput, "field \"threshold\": %s is outside 1s to 365 days", d)
		}
	}
	var def *store.Definition
	err := s.e.Store().Read(ctx, func(tx store.Tx) error {
		var err error
		def, err = tx.LatestDefinition(ctx, r.DefinitionKey)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stall threshold of %q: process %w", r.DefinitionKey, err)
	}
	model, err := s.e.Model(ctx, def.ID)
	if err != nil {
		return nil, fmt.Errorf("stall threshold of %q: %w", r.DefinitionKey, err)
	}
	if el := findFlowNode(model.Process(def.Key), r.ElementID); el == nil {
		return nil, errorf(CodeNotFound, "process %q (version %d) has no element %q", def.Key, def.Version, r.ElementID)
	}
	res := &StallThresholdResult{DefinitionKey: def.Key, ElementID: r.ElementID}
	// The engine's store, like the other commands' reads and writes (Options.Store only
	// receives the audit log).
	err = s.e.Store().Write(ctx, func(tx store.Tx) error {
		if d == 0 {
			if err := tx.DeleteStallThreshold(ctx, def.Key, r.ElementID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return nil
		}
		return tx.PutStallThreshold(ctx, &store.StallThreshold{DefinitionKey: def.Key, ElementID: r.ElementID,
			Threshold: d, UpdatedAt: x.at, UpdatedBy: x.actor})
	})
	if err != nil {
		return nil, fmt.Errorf("stall threshold of %s/%s: %w", def.Key, r.ElementID, err)
	}
	if d > 0 {
		res.Threshold, res.ThresholdMs = d.String(), d.Milliseconds()
	}
	return res, nil
}

// findFlowNode finds a flow node of a process, inside subprocesses too.
func findFlowNode(p *bpmn.Process, id string) *bpmn.Element {
	if p == nil {
		return nil
	}
	var walk func(c *bpmn.Container) *bpmn.Element
	walk = func(c *bpmn.Container) *bpmn.Element {
		for _, el := range c.Elements {
			if !el.Kind.IsFlowNode() {
				continue
			}
			if el.ID == id {
				return el
			}
			if el.Children != nil {
				if found := walk(el.Children); found != nil {
					return found
				}
			}
		}
		return nil
	}
	return walk(&p.Container)
}
