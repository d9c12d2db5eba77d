package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// History requests: every publishing engine node answers, on HistorySubject, for the
// events its store holds — one instance's from a position on, or the whole store's by
// commit order. An observing cockpit asks when an instance's events have a gap the
// stream cannot fill (a message lost, or dropped by the stream's retention) and, in
// `cockpit rebuild --from-engines`, for everything the stream no longer holds. The
// answer is the instance's history as the engine's store holds it now, in the payload of
// the event messages (Message), so the observer folds it as it folds the stream:
// idempotently by instanceSeq. docs/events.md describes the request and the reply.

// HistorySchemaV1 names the reply schema.
const HistorySchemaV1 = "cockpit.history/v1"

// History request bounds.
const (
	// MaxHistoryRequestBytes bounds a request body.
	MaxHistoryRequestBytes = 4 << 10
	// DefaultHistoryLimit and MaxHistoryLimit bound the events of one reply; a reply
	// also stays under the connection's max payload (HistoryReply.More says there is more).
	DefaultHistoryLimit = 256
	MaxHistoryLimit     = 4096
	// historyTimeout bounds the store read behind one request.
	historyTimeout = 10 * time.Second
	// historyEndpoint names the presence service's endpoint.
	historyEndpoint = "history"
)

// History reply codes.
const (
	HistoryBadRequest  = "bad_request"
	HistoryNotFound    = "not_found"
	HistoryUnavailable = "unavailable"
)

// ErrHistoryNotAnswering: no node of the service answered a history request.
var ErrHistoryNotAnswering = errors.New("not answering")

// HistorySubject is where the nodes of service answer history requests.
func HistorySubject(prefix, service string) string {
	return prefix + ".history." + service
}

// HistoryRequest asks for events. With InstanceID: that instance's events after
// instanceSeq AfterInstanceSeq; without: the store's events. Either way in commit
// order, after the commit position AfterSeq (the previous reply's Next; 0 at first).
type HistoryRequest struct {
	InstanceID       string `json:"instanceId,omitempty"`
	AfterInstanceSeq int64  `json:"afterInstanceSeq,omitempty"`
	AfterSeq         int64  `json:"afterSeq,omitempty"`
	// Limit is the most events wanted (default DefaultHistoryLimit, at most
	// MaxHistoryLimit).
	Limit int `json:"limit,omitempty"`
}

// HistoryReply is one page of events.
type HistoryReply struct {
	Schema  string `json:"schema"`
	Service string `json:"service"`
	// Events in commit order; an event too large for a reply comes as its placeholder
	// (data {"omitted": ...}), as the relay publishes it.
	Events []*Message `json:"events"`
	// Next is the commit position to ask after for the next page; More says there may be
	// one.
	Next int64 `json:"next"`
	More bool  `json:"more"`
	// Code and Error say why a request was refused (HistoryBadRequest, HistoryNotFound,
	// HistoryUnavailable); there are no events then.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// serveHistory adds the history endpoint to a node's presence service; its nodes share
// the endpoint's queue group, so one node of the service answers each request.
func serveHistory(svc micro.Service, st store.Store, nc *nats.Conn, prefix, service string, log *slog.Logger) error {
	return svc.AddEndpoint(historyEndpoint, micro.HandlerFunc(func(r micro.Request) {
		rep := answerHistory(st, nc.MaxPayload(), service, r.Data())
		b, err := json.Marshal(rep)
		if err == nil {
			err = r.Respond(b)
		}
		if err != nil {
			log.Warn("answer a history request", "err", err)
		}
	}), micro.WithEndpointSubject(HistorySubject(prefix, service)))
}

// answerHistory reads one page; maxPayload bounds the encoded reply.
func answerHistory(st store.Store, maxPayload int64, service string, body []byte) *HistoryReply {
	rep := &HistoryReply{Schema: HistorySchemaV1, Service: service, Events: []*Message{}}
	refuse := func(code, format string, args ...any) *HistoryReply {
		rep.Code, rep.Error = code, fmt.Sprintf(format, args...)
		return rep
	}
	if len(body) > MaxHistoryRequestBytes {
		return refuse(HistoryBadRequest, "the request is %d bytes; the limit is %d", len(body), MaxHistoryRequestBytes)
	}
	var req HistoryRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return refuse(HistoryBadRequest, "the request is not a history request: %v", err)
	}
	switch {
	case req.Limit == 0:
		req.Limit = DefaultHistoryLimit
	case req.Limit < 0 || req.Limit > MaxHistoryLimit:
		return refuse(HistoryBadRequest, "limit %d is not between 1 and %d", req.Limit, MaxHistoryLimit)
	}
	if req.AfterSeq < 0 || req.AfterInstanceSeq < 0 {
		return refuse(HistoryBadRequest, "afterSeq and afterInstanceSeq cannot be negative")
	}
	if len(req.InstanceID) > store.MaxKeyBytes {
		return refuse(HistoryBadRequest, "the instance id is %d bytes; the limit is %d", len(req.InstanceID), store.MaxKeyBytes)
	}
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	var evs []*store.Event
	err := st.Read(ctx, func(tx store.Tx) error {
		if req.InstanceID != "" {
			if _, err := tx.GetInstance(ctx, req.InstanceID); err != nil {
				return err
			}
		}
		var err error
		// One more than asked: whether there is more.
		evs, err = tx.ListEvents(ctx, store.EventFilter{InstanceID: req.InstanceID, AfterInstanceSeq: req.AfterInstanceSeq,
			AfterSeq: req.AfterSeq, Limit: req.Limit + 1})
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(HistoryNotFound, "service %s holds no instance %q", service, req.InstanceID)
	case err != nil:
		return refuse(HistoryUnavailable, "read the history: %v", err)
	}
	rep.Next = req.AfterSeq
	if len(evs) > req.Limit {
		evs, rep.More = evs[:req.Limit], true
	}
	// What the reply may hold besides its envelope; an event larger than a reply alone
	// goes as its placeholder, and a reply holds at least one event (every page makes
	// progress).
	budget := maxPayload - 1024
	if maxPayload <= 0 {
		budget = 1 << 20
	}
	size := int64(256)
	for _, ev := range evs {
		m := NewMessage(service, ev)
		b, err := json.Marshal(m)
		if err != nil {
			return refuse(HistoryUnavailable, "encode event %s: %v", ev.ID, err)
		}
		if int64(len(b))+1 > budget-256 {
			data, _ := json.Marshal(map[string]Omitted{"omitted": {Bytes: int64(len(b)), Reason: "larger than a history reply may be"}})
			m.Data = data
			b, _ = json.Marshal(m)
		}
		if size+int64(len(b))+1 > budget && len(rep.Events) > 0 {
			rep.More = true
			break
		}
		size += int64(len(b)) + 1
		rep.Events = append(rep.Events, m)
		rep.Next = ev.Seq
	}
	return rep
}

// RequestHistory asks the nodes of service for one page of history, waiting up to
// timeout. No node answering is ErrHistoryNotAnswering; a refusal is an error with the
// reply's code and text.
func RequestHistory(ctx context.Context, nc *nats.Conn, prefix, service string, req HistoryRequest, timeout time.Duration) (*HistoryReply, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, HistorySubject(prefix, service), b)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, fmt.Errorf("history of service %s: %w", service, ErrHistoryNotAnswering)
	case err != nil:
		return nil, fmt.Errorf("history of service %s: %w", service, err)
	}
	var rep HistoryReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return nil, fmt.Errorf("history of service %s: the reply does not decode: %w", service, err)
	}
	if rep.Schema != HistorySchemaV1 {
		return nil, fmt.Errorf("history of service %s: unknown reply schema %q", service, rep.Schema)
	}
	if rep.Code != "" {
		return nil, &HistoryError{Service: service, Code: rep.Code, Message: rep.Error}
	}
	for _, ev := range rep.Events {
		if ev == nil || ev.Schema != SchemaV1 {
			return nil, fmt.Errorf("history of service %s: an event of an unknown schema", service)
		}
	}
	return &rep, nil
}

// HistoryError is a refused history request.
type HistoryError struct {
	Service, Code, Message string
}

func (e *HistoryError) Error() string {
	return fmt.Sprintf("history of service %s: %s (%s)", e.Service, e.Message, e.Code)
}
