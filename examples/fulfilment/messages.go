// Package fulfilment holds two small services that each embed the Cockpit engine with the
// public package flow and talk to each other by NATS messages, as an order fulfilment
// does. Orders (the program examples/orders) takes an order, reserves the stock, charges
// the payment, asks shipping to ship it and waits until it is shipped. Shipping (the
// program examples/shipping) packs and dispatches the parcel, then tells orders. Each
// service has its own store and names itself on NATS, so one `cockpit serve --observe`
// shows both (README, "Several services and one cockpit").
//
// The messages between the services are NATS requests: the sender learns that the other
// side took the message. A service that is down, or that refuses, fails the sending job,
// which its engine runs again after the task's backoff (an incident the cockpit shows when
// the retries run out). So a message can arrive twice (a reply lost, a job run again
// after a crash): both receivers are idempotent on the order id.
package fulfilment

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects of the requests between the services (core NATS, not the engines' event
// streams). Each receiver subscribes in a queue group named after its service, so the
// nodes of a service share the requests.
const (
	// SubjectShip: orders asks shipping to ship an order (a ShipRequest).
	SubjectShip = "fulfilment.ship"
	// SubjectShipped: shipping tells orders that an order is shipped (a Shipped).
	SubjectShipped = "fulfilment.shipped"
)

// Keys of the processes. Each service deploys its own: a cockpit observing several
// services tells their processes apart by key (and version).
const (
	OrderProcessKey    = "order"
	ShipmentProcessKey = "shipment"
)

// MessageShipped is the BPMN message the order process waits for, correlated by the
// order id.
const MessageShipped = "order.shipped"

// requestTimeout bounds the wait for the other service's reply; a request that times out
// fails its job, which runs again.
const requestTimeout = 10 * time.Second

// ShipRequest asks shipping to ship an order.
type ShipRequest struct {
	OrderID string `json:"orderId"`
	Items   int    `json:"items"`
}

// Shipped tells orders that its order left with the carrier.
type Shipped struct {
	OrderID  string `json:"orderId"`
	Tracking string `json:"tracking"`
}

// Reply answers a request: the instance that took the message, or why it was refused.
type Reply struct {
	InstanceID string `json:"instanceId,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Connect connects to the NATS server at url as the named service, reconnecting forever:
// a service lives through NATS restarts (its engine's events wait in its outbox, the jobs
// that send requests fail and run again).
func Connect(url, service string, log *slog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name(service), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "url", nc.ConnectedUrl()) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// request sends msg to subject and returns the id of the instance that took it. An
// error (no service answering: nats.ErrNoResponders; a timeout; a refusal) fails the
// job that sends it.
func request(ctx context.Context, nc *nats.Conn, subject string, msg any) (string, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return "", fmt.Errorf("request %s: %w", subject, err)
	}
	var r Reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return "", fmt.Errorf("request %s: reply: %w", subject, err)
	}
	if r.Error != "" {
		return "", fmt.Errorf("request %s: refused: %s", subject, r.Error)
	}
	return r.InstanceID, nil
}

// responder answers the requests on a subject with handle, one at a time (nats.go calls
// a subscription's handler from one goroutine), until closed.
type responder struct {
	sub *nats.Subscription
	// cancel ends the context handle gets, once the subscription is drained or the
	// drain gave up.
	cancel context.CancelFunc
}

// respond subscribes handle to subject in the queue group and waits until the server has
// the subscription, so that a request sent after respond returns finds it.
func respond(ctx context.Context, nc *nats.Conn, subject, queue string, log *slog.Logger,
	handle func(ctx context.Context, data []byte) (string, error)) (*responder, error) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub, err := nc.QueueSubscribe(subject, queue, func(m *nats.Msg) {
		var r Reply
		id, err := handle(hctx, m.Data)
		if err != nil {
			log.Warn("refused a request", "subject", subject, "err", err)
			r.Error = err.Error()
		}
		r.InstanceID = id
		b, _ := json.Marshal(r) // a struct of strings
		if err := m.Respond(b); err != nil {
			log.Warn("reply", "subject", subject, "err", err)
		}
	})
	if err == nil {
		fctx, fcancel := context.WithTimeout(ctx, requestTimeout) // FlushWithContext needs a deadline
		err = nc.FlushWithContext(fctx)
		fcancel()
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	return &responder{sub: sub, cancel: cancel}, nil
}

// close stops taking requests and waits, while ctx lasts, for the one being answered.
func (r *responder) close(ctx context.Context) error {
	defer r.cancel()
	closed := r.sub.StatusChanged(nats.SubscriptionClosed)
	if err := r.sub.Drain(); err != nil {
		return fmt.Errorf("drain %s: %w", r.sub.Subject, err)
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain %s: %w", r.sub.Subject, ctx.Err())
	}
}
