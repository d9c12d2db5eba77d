// Package demo is what `cockpit serve --demo` runs so that a fresh install shows
// something: the one-click ordering flow (a small invoice approval, and an order saga whose
// failed payments and shipments are compensated), job handlers
// that behave like real services (short random work, occasional failures, declined
// payments), and a Driver that starts a steady trickle of orders and confirms their
// shipments a little later.
package demo

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

//go:embed flows/*.bpmn
var flowFS embed.FS

// Process keys of the demo flows.
const (
	OrderProcess   = "order"
	InvoiceProcess = "invoice-approval"
	// SagaProcess is the order as a saga: a failed payment or shipment is undone by
	// compensation (the refund before the release of the stock).
	SagaProcess = "order-saga"
)

// Job types of the demo flows' service tasks.
const (
	JobCheckout         = "order.checkout"
	JobChargePayment    = "payment.charge"
	JobReserveInventory = "inventory.reserve"
	JobPrepareInvoice   = "invoice.prepare"
	JobShipOrder        = "shipment.ship"
	JobPayInvoice       = "invoice.pay"

	JobSagaReserve = "saga.inventory.reserve"
	JobSagaCharge  = "saga.payment.charge"
	JobSagaShip    = "saga.shipment.ship"
	JobSagaRelease = "saga.inventory.release"
	JobSagaRefund  = "saga.payment.refund"
)

// JobTypes lists every job type the demo handlers serve.
var JobTypes = []string{JobCheckout, JobChargePayment, JobReserveInventory, JobPrepareInvoice, JobShipOrder, JobPayInvoice,
	JobSagaReserve, JobSagaCharge, JobSagaShip, JobSagaRelease, JobSagaRefund}

// MessageShipmentConfirmed is the message the order flow waits for after shipping,
// correlated by the order's orderId variable.
const MessageShipmentConfirmed = "shipment.confirmed"

// ErrorPaymentDeclined is the BPMN error code the payment handler throws; the boundary
// event on "Charge payment" catches it and hands the order to a person.
const ErrorPaymentDeclined = "PAYMENT_DECLINED"

// The BPMN errors of the saga: each leads to a compensation end event.
const (
	ErrorSagaPaymentFailed  = "SAGA_PAYMENT_FAILED"
	ErrorSagaShipmentFailed = "SAGA_SHIPMENT_FAILED"
)

// Flow is one demo BPMN document.
type Flow struct {
	// Name is the file name, used as the deployment's resource name.
	Name string
	XML  []byte
}

// Flows returns the demo BPMN documents, ordered by name.
func Flows() []Flow {
	names, err := fs.Glob(flowFS, "flows/*.bpmn")
	if err != nil {
		panic(err) // the pattern is a constant; it cannot be malformed
	}
	sort.Strings(names)
	out := make([]Flow, 0, len(names))
	for _, n := range names {
		b, err := flowFS.ReadFile(n)
		if err != nil {
			panic(fmt.Sprintf("embedded %s: %v", n, err)) // embedded at build time
		}
		out = append(out, Flow{Name: path.Base(n), XML: b})
	}
	return out
}

// Deploy deploys the demo flows. Deploying unchanged bytes again makes no new version,
// so calling it at every start is cheap.
func Deploy(ctx context.Context, e *engine.Engine) error {
	for _, f := range Flows() {
		if _, err := e.Deploy(ctx, f.Name, f.XML); err != nil {
			return fmt.Errorf("deploy demo flow %s: %w", f.Name, err)
		}
	}
	return nil
}
