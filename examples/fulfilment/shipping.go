package fulfilment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/flow"
)

// ShipmentProcess is the shipping service's process, started by orders' request: pack,
// hand to the carrier, then tell orders (the last job sends order.shipped, again after
// its backoff while orders does not answer).
func ShipmentProcess() *flow.Builder {
	return flow.Build(ShipmentProcessKey, flow.Name("Shipment")).
		Start("requested", flow.Name("Shipment requested")).
		ServiceTask("pack", flow.Name("Pack parcel"), flow.JobType("shipping.pack")).
		ServiceTask("dispatch", flow.Name("Hand to carrier"), flow.JobType("shipping.dispatch")).
		ServiceTask("notifyOrders", flow.Name("Tell orders"), flow.JobType("shipping.notifyOrders"),
			flow.Backoff("R10/PT3S")).
		End("shipped", flow.Name("Shipped"))
}

// ShippingOptions configure OpenShipping.
type ShippingOptions struct {
	// DataDir holds the service's own SQLite store.
	DataDir string
	// Service names the service on NATS (its events' subjects, its models).
	Service string
	// NATS is the connection to publish on and talk to orders over; OpenShipping leaves
	// it open at Close.
	NATS   *nats.Conn
	Logger *slog.Logger
}

// Shipping is the shipping service: its engine, its handlers and its answer to orders.
type Shipping struct {
	eng  *flow.Engine
	ship *responder
}

// OpenShipping opens the shipping service's engine, deploys the shipment process, starts
// the engine and subscribes to orders' requests. Close it when done.
func OpenShipping(ctx context.Context, o ShippingOptions) (*Shipping, error) {
	eng, err := flow.Open(ctx, flow.Options{DataDir: o.DataDir, Service: o.Service, NATS: o.NATS, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	s := &Shipping{eng: eng}
	type shipment struct {
		OrderID  string `json:"orderId"`
		Items    int    `json:"items"`
		Tracking string `json:"tracking"`
	}
	flow.HandleJSON(eng, "shipping.pack", func(ctx context.Context, job *flow.Job, in shipment) (map[string]any, error) {
		return map[string]any{"parcel": fmt.Sprintf("parcel-%s-%d", in.OrderID, in.Items)}, nil
	})
	flow.HandleJSON(eng, "shipping.dispatch", func(ctx context.Context, job *flow.Job, in shipment) (map[string]any, error) {
		// The carrier's tracking number: stable across re-runs of the job.
		return map[string]any{"tracking": "trk-" + job.Key}, nil
	})
	flow.HandleJSON(eng, "shipping.notifyOrders", func(ctx context.Context, job *flow.Job, in shipment) (struct{}, error) {
		_, err := request(ctx, o.NATS, SubjectShipped, Shipped{OrderID: in.OrderID, Tracking: in.Tracking})
		return struct{}{}, err
	})
	if _, err := eng.DeployModel(ctx, ShipmentProcess()); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	if err := eng.Start(ctx); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	s.ship, err = respond(ctx, o.NATS, SubjectShip, o.Service, o.Logger, s.onShip)
	if err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	return s, nil
}

// onShip starts the order's shipment, once: a request that comes again (its reply was
// lost, its job ran twice) gets the shipment already started. Requests are taken one at
// a time, so two of one order cannot both start one.
func (s *Shipping) onShip(ctx context.Context, data []byte) (string, error) {
	var m ShipRequest
	if err := json.Unmarshal(data, &m); err != nil || m.OrderID == "" {
		return "", fmt.Errorf("not a ship request: %q", data)
	}
	in, err := s.Shipment(ctx, m.OrderID)
	if err == nil {
		return in.ID, nil
	}
	if !errors.Is(err, flow.ErrNotFound) {
		return "", err
	}
	in, err = s.eng.StartInstance(ctx, ShipmentProcessKey, flow.StartOptions{BusinessKey: m.OrderID,
		Variables: map[string]any{"orderId": m.OrderID, "items": m.Items}})
	if err != nil {
		return "", err
	}
	return in.ID, nil
}

// Shipment returns the shipment of the order, ErrNotFound when there is none.
func (s *Shipping) Shipment(ctx context.Context, orderID string) (*flow.Instance, error) {
	p, err := s.eng.Instances(ctx, flow.InstanceQuery{ProcessKey: ShipmentProcessKey, BusinessKey: orderID, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(p.Instances) == 0 {
		return nil, fmt.Errorf("shipment of order %q: %w", orderID, flow.ErrNotFound)
	}
	return p.Instances[0], nil
}

// Engine is the service's engine (to await or read its instances).
func (s *Shipping) Engine() *flow.Engine { return s.eng }

// Close stops taking requests, then stops the engine (its running handlers finish within
// ctx).
func (s *Shipping) Close(ctx context.Context) error {
	return errors.Join(s.ship.close(ctx), s.eng.Close(ctx))
}
