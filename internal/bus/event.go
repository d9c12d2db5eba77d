package bus

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// SchemaV1 names the payload schema of every event message (docs/events.md). A change
// that removes or retypes a field gets a new name; new optional fields do not.
const SchemaV1 = "cockpit.event/v1"

// Headers set on every event message besides Nats-Msg-Id.
const (
	HeaderSchema      = "Cockpit-Schema"       // SchemaV1
	HeaderType        = "Cockpit-Event-Type"   // e.g. instance.started
	HeaderInstance    = "Cockpit-Instance"     // instance id
	HeaderInstanceSeq = "Cockpit-Instance-Seq" // the event's position in its instance
	HeaderService     = "Cockpit-Service"      // the publishing engine's service name
	// HeaderOmitted is set on the placeholder of an event that could not be published
	// (its data is replaced by {"omitted": {...}}); the value says why.
	HeaderOmitted = "Cockpit-Omitted"
)

// Message is the JSON payload of an event message, schema cockpit.event/v1.
type Message struct {
	Schema string `json:"schema"`
	// Service names the engine that published the event (RelayOptions.Service). Events
	// published before services had names lack it.
	Service string `json:"service,omitempty"`
	// ID is the event id (a UUIDv7), also the Nats-Msg-Id.
	ID string `json:"id"`
	// Seq is the store-wide commit order of the event (gaps are possible).
	Seq int64 `json:"seq"`
	// InstanceID and InstanceSeq: the instance and the event's position in it (1, 2, ...).
	InstanceID    string     `json:"instanceId"`
	InstanceSeq   int64      `json:"instanceSeq"`
	DefinitionID  string     `json:"definitionId"`
	DefinitionKey string     `json:"definitionKey"`
	Type          event.Type `json:"type"`
	ElementID     string     `json:"elementId,omitempty"`
	ElementType   string     `json:"elementType,omitempty"`
	TokenID       string     `json:"tokenId,omitempty"`
	JobID         string     `json:"jobId,omitempty"`
	IncidentID    string     `json:"incidentId,omitempty"`
	// Time is when the engine made the change (UTC, RFC 3339 with nanoseconds).
	Time time.Time `json:"time"`
	// Data holds the type's own fields; always an object.
	Data json.RawMessage `json:"data"`
}

// NewMessage turns a history event of service into its payload.
func NewMessage(service string, ev *store.Event) *Message {
	data := ev.Data
	if len(data) == 0 || string(data) == "null" {
		data = json.RawMessage(`{}`)
	}
	return &Message{
		Schema: SchemaV1, Service: service, ID: ev.ID, Seq: ev.Seq,
		InstanceID: ev.InstanceID, InstanceSeq: ev.InstanceSeq,
		DefinitionID: ev.DefinitionID, DefinitionKey: ev.DefinitionKey,
		Type: ev.Type, ElementID: ev.ElementID, ElementType: ev.ElementType,
		TokenID: ev.TokenID, JobID: ev.JobID, IncidentID: ev.IncidentID,
		Time: ev.Time.UTC(), Data: data,
	}
}

// DecodeMessage parses an event payload and checks its schema.
func DecodeMessage(b []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	if m.Schema != SchemaV1 {
		return nil, fmt.Errorf("decode event %q: unknown schema %q", m.ID, m.Schema)
	}
	return &m, nil
}

// Omitted is the data of a placeholder message: what an event that could not be
// published was, instead of its own data (which stays in the history).
type Omitted struct {
	// Bytes is the size of the event's message as it would have been published.
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
}

// placeholderMsgs builds the messages that go out in place of an event that can never
// be published: same subjects, id and headers, with {"omitted": {...}} as data.
func placeholderMsgs(subj Subjects, ev *store.Event, p *store.ParkedEvent) []*nats.Msg {
	data, _ := json.Marshal(map[string]Omitted{"omitted": {Bytes: p.Bytes, Reason: p.Reason}})
	stub := *ev
	stub.Data = data
	msgs, err := eventMsgs(subj, &stub)
	if err != nil { // cannot happen: every field of stub is plain data
		return nil
	}
	for _, m := range msgs {
		m.Header.Set(HeaderOmitted, p.Reason)
	}
	return msgs
}

// eventMsgs builds the messages for one event: the event subject, and for incident
// events the incident subject too. Both carry the event id as Nats-Msg-Id (they land in
// different streams, each deduplicating on its own).
func eventMsgs(subj Subjects, ev *store.Event) ([]*nats.Msg, error) {
	data, err := json.Marshal(NewMessage(subj.Service, ev))
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, ev.ID)
	h.Set(HeaderSchema, SchemaV1)
	h.Set(HeaderType, string(ev.Type))
	h.Set(HeaderInstance, ev.InstanceID)
	h.Set(HeaderInstanceSeq, fmt.Sprint(ev.InstanceSeq))
	h.Set(HeaderService, subj.Service)
	msgs := []*nats.Msg{{Subject: subj.Event(ev.DefinitionKey, ev.Type), Header: h, Data: data}}
	if ev.Type.IsIncident() {
		h2 := nats.Header{}
		for k, v := range h {
			h2[k] = v
		}
		msgs = append(msgs, &nats.Msg{Subject: subj.Incident(ev.DefinitionKey), Header: h2, Data: data})
	}
	return msgs, nil
}
