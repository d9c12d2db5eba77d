package observer

import (
	"encoding/json"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/bus"
)

// FoldedPrefix is the subject prefix under which an observing cockpit republishes the
// events it folded, on core NATS (no stream holds them): <prefix>.observed, in subject
// scheme 2 (<prefix>.observed.events.<service>.<process>.<type>). Its live pages follow
// these, so a page renders again once the read model holds the change, not when the
// engine published it.
func FoldedPrefix(prefix string) string { return prefix + ".observed" }

// FoldedPublisher republishes folded events for the live pages.
type FoldedPublisher struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger
}

// NewFoldedPublisher publishes on nc under FoldedPrefix(prefix).
func NewFoldedPublisher(nc *nats.Conn, prefix string, log *slog.Logger) *FoldedPublisher {
	return &FoldedPublisher{nc: nc, prefix: FoldedPrefix(prefix), log: log}
}

// Publish sends each event a fold applied (best effort: a live page that misses one
// renders at the next).
func (p *FoldedPublisher) Publish(res *Result) {
	for _, m := range res.Folded {
		data, err := json.Marshal(m)
		if err != nil {
			continue
		}
		subj := bus.Subjects{Prefix: p.prefix, Service: bus.SafeToken(m.Service), Version: bus.SubjectsV2}.Event(m.DefinitionKey, m.Type)
		if err := p.nc.Publish(subj, data); err != nil {
			p.log.Debug("observer: republish a folded event", "err", err)
			return
		}
	}
}
