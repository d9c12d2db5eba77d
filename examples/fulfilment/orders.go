package fulfilment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/flow"
)

// OrderProcess is the orders service's process: reserve the stock, charge the payment,
// then ask shipping to ship and wait for the order.shipped message, on two branches. The
// wait starts in the transaction that creates the request's job, so shipping's answer
// can never come before the order waits for it (with a catch event after the request, a
// fast shipping could answer between the two and its message would find no one).
func OrderProcess() *flow.Builder {
	return flow.Build(OrderProcessKey, flow.Name("Order")).
		Start("placed", flow.Name("Order placed")).
		ServiceTask("reserve", flow.Name("Reserve stock"), flow.JobType("orders.reserve")).
		ServiceTask("charge", flow.Name("Charge payment"), flow.JobType("orders.charge"), flow.Retries(3)).
		ParallelGateway("ship", flow.Name("Ship")).
		// R10/PT3S: shipping may be down for half a minute before this is an incident.
		ServiceTask("requestShipment", flow.Name("Ask shipping to ship"), flow.JobType("orders.requestShipment"),
			flow.Backoff("R10/PT3S")).
		ParallelGateway("shippedAndAsked").
		End("fulfilled", flow.Name("Order fulfilled")).
		MoveTo("ship").
		MessageCatch("shipped", MessageShipped, "=orderId", flow.Name("Order shipped")).
		Connect("shippedAndAsked")
}

// Order is what a customer orders.
type Order struct {
	// ID is the order id, the instance's business key and the key shipping's answer is
	// correlated by (empty: a new random one).
	ID     string  `json:"id"`
	Items  int     `json:"items"`
	Amount float64 `json:"amount"`
}

// ErrDuplicate: an order with that id exists.
var ErrDuplicate = errors.New("an order with this id exists")

// OrdersOptions configure OpenOrders.
type OrdersOptions struct {
	// DataDir holds the service's own SQLite store.
	DataDir string
	// Service names the service on NATS (its events' subjects, its models).
	Service string
	// NATS is the connection to publish on and talk to shipping over; OpenOrders leaves
	// it open at Close.
	NATS   *nats.Conn
	Logger *slog.Logger
}

// Orders is the orders service: its engine, its handlers and its answer to shipping.
type Orders struct {
	eng     *flow.Engine
	shipped *responder
}

// OpenOrders opens the orders service's engine, deploys the order process, starts the
// engine and subscribes to shipping's answers. Close it when done.
func OpenOrders(ctx context.Context, o OrdersOptions) (*Orders, error) {
	eng, err := flow.Open(ctx, flow.Options{DataDir: o.DataDir, Service: o.Service, NATS: o.NATS, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	s := &Orders{eng: eng}
	type order struct {
		OrderID string  `json:"orderId"`
		Items   int     `json:"items"`
		Amount  float64 `json:"amount"`
	}
	// The handlers stand for the service's own systems; a real one calls them here,
	// idempotently on job.Key (a job can run twice).
	flow.HandleJSON(eng, "orders.reserve", func(ctx context.Context, job *flow.Job, in order) (map[string]any, error) {
		return map[string]any{"reservation": "res-" + in.OrderID}, nil
	})
	flow.HandleJSON(eng, "orders.charge", func(ctx context.Context, job *flow.Job, in order) (map[string]any, error) {
		return map[string]any{"paymentId": "pay-" + job.Key}, nil
	})
	flow.HandleJSON(eng, "orders.requestShipment", func(ctx context.Context, job *flow.Job, in order) (map[string]any, error) {
		id, err := request(ctx, o.NATS, SubjectShip, ShipRequest{OrderID: in.OrderID, Items: in.Items})
		if err != nil {
			return nil, err
		}
		return map[string]any{"shipmentInstance": id}, nil
	})
	if _, err := eng.DeployModel(ctx, OrderProcess()); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	if err := eng.Start(ctx); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	s.shipped, err = respond(ctx, o.NATS, SubjectShipped, o.Service, o.Logger, s.onShipped)
	if err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	return s, nil
}

// onShipped delivers shipping's answer to the order waiting for it.
func (s *Orders) onShipped(ctx context.Context, data []byte) (string, error) {
	var m Shipped
	if err := json.Unmarshal(data, &m); err != nil || m.OrderID == "" {
		return "", fmt.Errorf("not a shipped message: %q", data)
	}
	c, err := s.eng.CorrelateMessage(ctx, MessageShipped, m.OrderID, map[string]any{"tracking": m.Tracking})
	if err == nil {
		return c.InstanceID, nil
	}
	if !errors.Is(err, flow.ErrNotFound) {
		return "", err
	}
	// No order waits: this message came before (its reply was lost), and is taken again.
	// An order waits from the moment its request is sent, so an order that exists and
	// does not wait is past the wait.
	in, ferr := s.orderInstance(ctx, m.OrderID)
	if ferr != nil {
		return "", errors.Join(err, ferr)
	}
	return in.ID, nil
}

// orderInstance returns the instance of the order, ErrNotFound when there is none.
func (s *Orders) orderInstance(ctx context.Context, orderID string) (*flow.Instance, error) {
	p, err := s.eng.Instances(ctx, flow.InstanceQuery{ProcessKey: OrderProcessKey, BusinessKey: orderID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(p.Instances) == 0 {
		return nil, fmt.Errorf("order %q: %w", orderID, flow.ErrNotFound)
	}
	return p.Instances[0], nil
}

// Place starts the order's instance. Two orders with one id would make shipping's answer
// ambiguous: the second is refused with ErrDuplicate (checked, not locked: the example
// trusts its callers not to post one order twice at the same moment).
func (s *Orders) Place(ctx context.Context, o Order) (*flow.Instance, error) {
	if o.ID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		o.ID = "order-" + hex.EncodeToString(b)
	}
	if o.Items <= 0 || o.Amount <= 0 {
		return nil, fmt.Errorf("order %q: items and amount must be positive: %w", o.ID, flow.ErrInvalidInput)
	}
	if _, err := s.orderInstance(ctx, o.ID); err == nil {
		return nil, fmt.Errorf("order %q: %w", o.ID, ErrDuplicate)
	} else if !errors.Is(err, flow.ErrNotFound) {
		return nil, err
	}
	return s.eng.StartInstance(ctx, OrderProcessKey, flow.StartOptions{BusinessKey: o.ID,
		Variables: map[string]any{"orderId": o.ID, "items": o.Items, "amount": o.Amount}})
}

// Engine is the service's engine (to await or read its instances).
func (s *Orders) Engine() *flow.Engine { return s.eng }

// Close stops answering shipping, then stops the engine (its running handlers finish
// within ctx).
func (s *Orders) Close(ctx context.Context) error {
	return errors.Join(s.shipped.close(ctx), s.eng.Close(ctx))
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler serves POST /orders (place an order: {"id", "items", "amount"}; the id may be
// left out) and GET /orders/{id} (its state, by order id).
func (s *Orders) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var o Order
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&o); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		in, err := s.Place(r.Context(), o)
		if err != nil {
			httpError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		writeJSON(w, map[string]any{"id": in.BusinessKey, "instanceId": in.ID, "state": in.State})
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		in, err := s.orderInstance(r.Context(), r.PathValue("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		d, err := s.eng.Instance(r.Context(), in.ID)
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, map[string]any{"id": d.BusinessKey, "instanceId": d.ID, "state": d.State,
			"waitingAt": d.WaitingAt, "variables": d.Variables, "incidents": len(d.OpenIncidents)})
	})
	return mux
}

func httpError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, flow.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrDuplicate):
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, flow.ErrInvalidInput):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, flow.ErrUnavailable), errors.Is(err, flow.ErrStopped):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
