package web

// Stalls: tokens waiting at an element longer than its threshold (internal/monitor's
// stall detector writes them). The pages read the open stalls whose token still stands
// where it stalled (engine.CountStalls), a few rows bounded by running work.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// stallCounts counts a definition's stalled tokens per element.
func (s *server) stallCounts(ctx context.Context, definitionID string) (map[string]int, error) {
	return s.eng.CountStalls(ctx, definitionID)
}

// stalledInstances counts the instances with a stalled token, in all and per key.
func (s *server) stalledInstances(ctx context.Context) (int, map[string]int, error) {
	perKey, err := s.eng.CountStalledInstances(ctx)
	total := 0
	for _, n := range perKey {
		total += n
	}
	return total, perKey, err
}

// instanceStalls counts an instance's stalled tokens per element: its open stalls whose
// token still stands where it stalled. A token stalled at a service task whose job type
// nobody serves (no handler, no worker that asked recently) says so: that is why it waits.
func (s *server) instanceStalls(ctx context.Context, instanceID string, tokens []*store.Token, jobs []*store.Job) (map[string]int, map[string]string, error) {
	stalls, err := s.eng.ListStalls(ctx, store.StallFilter{InstanceID: instanceID, State: store.StallOpen})
	if err != nil {
		return nil, nil, err
	}
	counts, titles := map[string]int{}, map[string]string{}
	now := s.now()
	for _, st := range stalls {
		for _, t := range tokens {
			if t.ID == st.TokenID && t.ElementID == st.ElementID && t.CreatedAt.Equal(st.Since) {
				counts[st.ElementID]++
				titles[st.ElementID] = fmt.Sprintf("Stalled: waiting %s, longer than %s", roundDuration(now.Sub(st.Since)), st.Threshold)
				for _, j := range jobs {
					if j.TokenID == t.ID && j.Kind == store.JobService && !s.eng.Serves(j.Type) {
						titles[st.ElementID] += fmt.Sprintf("; no handler or worker serves its job type %q", j.Type)
					}
				}
			}
		}
	}
	return counts, titles, nil
}

// elementThresholds returns each element's stall threshold as text and whether an
// operator set it: the detector's view when the UI has one, else the operators' settings.
func (s *server) elementThresholds(ctx context.Context, def *store.Definition) (map[string]string, map[string]bool, error) {
	set, err := s.eng.ListStallThresholds(ctx, def.Key)
	if err != nil {
		return nil, nil, err
	}
	text, bySet := map[string]string{}, map[string]bool{}
	for _, th := range set {
		text[th.ElementID], bySet[th.ElementID] = roundDuration(th.Threshold), true
	}
	if s.stalls != nil {
		eff, err := s.stalls.EffectiveThresholds(ctx, def.ID)
		if err != nil {
			// The page still shows the operators' thresholds.
			s.log.Warn("web: stall thresholds", "definition", def.ID, "err", err)
			return text, bySet, nil
		}
		for el, d := range eff {
			if !bySet[el] {
				text[el] = roundDuration(d)
			}
		}
	}
	return text, bySet, nil
}

// roundDuration shows a duration to the second (to the minute from an hour on).
func roundDuration(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Second:
		d = d.Round(time.Second)
	}
	out := d.String()
	// "15m0s" reads better as "15m", "2h0m0s" as "2h".
	for _, z := range []string{"h0m0s", "m0s"} {
		if strings.HasSuffix(out, z) {
			out = strings.TrimSuffix(out, z[1:])
		}
	}
	return out
}

// setStallThreshold is POST /processes/:key/stall-threshold: op=set with a threshold, or
// op=clear, for one element. It goes through the command service (audited).
func (s *server) setStallThreshold(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	key := c.Param("key")
	back := processURL(key)
	if v := c.FormValue("version"); v != "" {
		back += "?version=" + v
	}
	back = localPath(back, "/")
	req := command.StallThresholdRequest{Meta: s.meta(c, reasonWeb), DefinitionKey: key,
		ElementID: strings.TrimSpace(c.FormValue("element"))}
	op := c.FormValue("op")
	switch op {
	case "set":
		req.Threshold = strings.TrimSpace(c.FormValue("threshold"))
		if req.Threshold == "" {
			return redirectFlash(c, back, "Set stall threshold: enter a duration such as 15m or 2h.", true)
		}
	case "clear":
	default:
		return badRequest("op %q: use set or clear.", op)
	}
	res, err := cmds.SetStallThreshold(c.Request().Context(), req)
	if err != nil {
		return actionFailed(c, back, "Set stall threshold", err)
	}
	d, _ := time.ParseDuration(res.Threshold)
	msg := fmt.Sprintf("%s stalls after %s (set by you).", res.ElementID, roundDuration(d))
	if res.Threshold == "" {
		msg = res.ElementID + " stalls after its p99 waiting time again."
	}
	return redirectFlash(c, back, msg, false)
}

// processURL is the page of a process key.
func processURL(key string) string { return "/processes/" + url.PathEscape(key) }

// subscribeStalls subscribes the hub to every stall notice. The subscription is kept in
// h.subs (without rooms), so Stop ends it with the others. Called by Start with h.mu held.
func (h *hub) subscribeStalls() error {
	subject := h.prefix + ".stalls.>"
	sub, err := h.nc.Subscribe(subject, func(m *nats.Msg) {
		msg, err := bus.DecodeStallMessage(m.Data)
		if err != nil {
			h.log.Debug("live: skip stall message", "subject", m.Subject, "err", err)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.rooms {
			if r.t.stalls != nil && r.t.stalls(msg) {
				r.markDirty()
			}
		}
	})
	if err != nil {
		return fmt.Errorf("live: subscribe to %s: %w", subject, err)
	}
	h.subs[subject] = &sharedSub{sub: sub, rooms: map[*room]struct{}{}}
	return nil
}
