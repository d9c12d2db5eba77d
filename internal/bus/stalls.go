package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// StallSchemaV1 names the payload schema of stall messages (docs/events.md).
const StallSchemaV1 = "cockpit.stall/v1"

// Stream limits of the stalls stream (StreamOptions overrides them).
const (
	DefaultStallsMaxAge   = 30 * 24 * time.Hour
	DefaultStallsMaxBytes = 256 << 20 // 256 MiB
)

// StallsStream is the name of the stalls stream for a prefix (COCKPIT_STALLS).
func StallsStream(prefix string) string { return streamBase(prefix) + "_STALLS" }

// StallStreamConfig returns the configuration of the stalls stream.
func StallStreamConfig(o StreamOptions) (jetstream.StreamConfig, error) {
	o.defaults()
	if err := CheckPrefix(o.Prefix); err != nil {
		return jetstream.StreamConfig{}, err
	}
	return jetstream.StreamConfig{
		Name:        StallsStream(o.Prefix),
		Description: "Cockpit stall.detected / stall.cleared notices (schema cockpit.stall/v1), for alerting; Nats-Msg-Id = stall id + type",
		Subjects:    []string{o.Prefix + ".stalls.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxAge:      o.StallsMaxAge,
		MaxBytes:    o.StallsMaxBytes,
		Duplicates:  o.Duplicates,
	}, nil
}

// StallMessage is the JSON payload of a stall message, schema cockpit.stall/v1.
type StallMessage struct {
	Schema string `json:"schema"`
	// Service names the engine whose detector published the notice (absent in notices
	// published before services had names).
	Service string `json:"service,omitempty"`
	// ID is the stall id: the detected and the cleared message of one stall share it.
	ID            string     `json:"id"`
	Type          event.Type `json:"type"` // event.StallDetected or event.StallCleared
	DefinitionID  string     `json:"definitionId"`
	DefinitionKey string     `json:"definitionKey"`
	ElementID     string     `json:"elementId"`
	InstanceID    string     `json:"instanceId"`
	TokenID       string     `json:"tokenId"`
	// Since is when the token arrived at the element.
	Since time.Time `json:"since"`
	// Threshold is the waiting time the token exceeded (a Go duration, e.g. "15m0s"), and
	// ThresholdMs the same in milliseconds.
	Threshold   string `json:"threshold"`
	ThresholdMs int64  `json:"thresholdMs"`
	// Incident is true when the token had an open incident when the stall was detected.
	Incident   bool       `json:"incident"`
	DetectedAt time.Time  `json:"detectedAt"`
	ClearedAt  *time.Time `json:"clearedAt,omitempty"`
}

// NewStallMessage makes the payload of a stall's detected or cleared message, published
// by service.
func NewStallMessage(service string, s *store.Stall, typ event.Type) *StallMessage {
	m := &StallMessage{
		Schema: StallSchemaV1, Service: service, ID: s.ID, Type: typ, DefinitionID: s.DefinitionID, DefinitionKey: s.DefinitionKey,
		ElementID: s.ElementID, InstanceID: s.InstanceID, TokenID: s.TokenID, Since: s.Since.UTC(),
		Threshold: s.Threshold.String(), ThresholdMs: s.Threshold.Milliseconds(), Incident: s.Incident,
		DetectedAt: s.DetectedAt.UTC(),
	}
	if typ == event.StallCleared && s.ClearedAt != nil {
		c := s.ClearedAt.UTC()
		m.ClearedAt = &c
	}
	return m
}

// DecodeStallMessage parses a stall payload and checks its schema.
func DecodeStallMessage(b []byte) (*StallMessage, error) {
	var m StallMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode stall: %w", err)
	}
	if m.Schema != StallSchemaV1 {
		return nil, fmt.Errorf("decode stall %q: unknown schema %q", m.ID, m.Schema)
	}
	return &m, nil
}

// StallMsgID is the Nats-Msg-Id of a stall message: the stall id and the type, so the
// detected and the cleared message of a stall are two messages, and each published
// again (after a lost acknowledgement) is dropped by the stream.
func StallMsgID(stallID string, typ event.Type) string { return stallID + ":" + string(typ) }

// StallPublisher publishes the stall detector's notices to the stalls stream (it is the
// monitor.StallPublisher of `cockpit serve`).
type StallPublisher struct {
	js   jetstream.JetStream
	subj Subjects
}

// NewStallPublisher returns a publisher on nc for the subjects of subj (an empty Prefix
// is DefaultPrefix, an empty Service DefaultService(), a zero Version DefaultSubjects).
// The stalls stream must exist (EnsureStreams).
func NewStallPublisher(nc *nats.Conn, subj Subjects) (*StallPublisher, error) {
	if nc == nil {
		return nil, errors.New("new stall publisher: a connection is required")
	}
	if subj.Prefix == "" {
		subj.Prefix = DefaultPrefix
	}
	if subj.Service == "" {
		subj.Service = DefaultService()
	}
	if subj.Version == 0 {
		subj.Version = DefaultSubjects
	}
	if err := subj.Check(); err != nil {
		return nil, fmt.Errorf("new stall publisher: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("new stall publisher: %w", err)
	}
	return &StallPublisher{js: js, subj: subj}, nil
}

// PublishStall publishes one message of a stall (typ is event.StallDetected or event.StallCleared)
// and waits for the stream's acknowledgement.
func (p *StallPublisher) PublishStall(ctx context.Context, s *store.Stall, typ event.Type) error {
	data, err := json.Marshal(NewStallMessage(p.subj.Service, s, typ))
	if err != nil {
		return fmt.Errorf("encode stall %s: %w", s.ID, err)
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, StallMsgID(s.ID, typ))
	h.Set(HeaderSchema, StallSchemaV1)
	h.Set(HeaderType, string(typ))
	h.Set(HeaderInstance, s.InstanceID)
	h.Set(HeaderService, p.subj.Service)
	msg := &nats.Msg{Subject: p.subj.Stall(s.DefinitionKey), Header: h, Data: data}
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0)); err != nil {
		return fmt.Errorf("publish %s of stall %s: %w", typ, s.ID, err)
	}
	return nil
}
