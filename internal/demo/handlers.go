package demo

import (
	"context"
	"fmt"
	"github.com/cockpit-engine/cockpit/job"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

// Simulation sets how the demo handlers behave. DefaultSimulation gives the values the
// demo runs with; the zero value is a perfect world (no failures, no delays).
type Simulation struct {
	// FailureRate is the chance (0..1) that one job attempt fails transiently. After the
	// task's retries are used up, the job becomes an incident.
	FailureRate float64
	// FailureRates overrides FailureRate for single job types.
	FailureRates map[string]float64
	// DeclineRate is the chance (0..1) that "Charge payment" throws the BPMN error
	// PAYMENT_DECLINED, which routes the order to "Review declined payment".
	DeclineRate float64
	// MinDelay and MaxDelay bound the random time a handler works.
	MinDelay, MaxDelay time.Duration
	// ShipmentDelay is how long after shipping the "shipment confirmed" message is sent.
	ShipmentDelay time.Duration
	// SagaPaymentFailRate and SagaShipmentFailRate are the chances (0..1) that the
	// saga's payment or shipment fails with a BPMN error, which compensates the steps
	// that completed. CompensationDelay is how long each compensation handler works (on
	// top of the usual delay), so that a compensating saga can be watched live.
	SagaPaymentFailRate  float64
	SagaShipmentFailRate float64
	CompensationDelay    time.Duration
}

// DefaultSimulation is what the demo runs with: about 5% transient failures per attempt
// (so with 3 retries an incident now and then), 3% declined payments, 10-200ms of work
// per job and shipments confirmed 3 seconds after they leave.
func DefaultSimulation() Simulation {
	return Simulation{
		FailureRate:   0.05,
		DeclineRate:   0.03,
		MinDelay:      10 * time.Millisecond,
		MaxDelay:      200 * time.Millisecond,
		ShipmentDelay: 3 * time.Second,

		SagaPaymentFailRate:  0.15,
		SagaShipmentFailRate: 0.25,
		CompensationDelay:    2 * time.Second,
	}
}

func (s *Simulation) failureRate(jobType string) float64 {
	if r, ok := s.FailureRates[jobType]; ok {
		return r
	}
	return s.FailureRate
}

// lockedRand is a seeded random source safe for the handlers' goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// between returns a random duration in [lo, hi].
func (l *lockedRand) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return lo + time.Duration(l.r.Int64N(int64(hi-lo)+1))
}

// chance reports true with probability p.
func (l *lockedRand) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	return l.Float64() < p
}

// serviceError is a transient failure of a (pretend) downstream service. Details become
// the incident's details, as a real handler would attach a response body.
type serviceError struct {
	service string
	status  int
	attempt int
}

func (e *serviceError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d (attempt %d)", e.service, e.status, e.attempt)
}

func (e *serviceError) Details() string {
	return fmt.Sprintf("POST https://%s.internal/api/v1 -> %d\n{\"error\":\"upstream unavailable\",\"retryable\":true}", e.service, e.status)
}

var services = map[string]string{
	JobCheckout:         "checkout-service",
	JobChargePayment:    "payments-gateway",
	JobReserveInventory: "inventory-service",
	JobPrepareInvoice:   "billing-service",
	JobShipOrder:        "shipping-service",
	JobPayInvoice:       "payments-gateway",
	JobSagaReserve:      "inventory-service",
	JobSagaCharge:       "payments-gateway",
	JobSagaShip:         "shipping-service",
	JobSagaRelease:      "inventory-service",
	JobSagaRefund:       "payments-gateway",
}

// handlers builds the job handlers, written against the public package job like any
// service's (flow.Engine.Handle and worker.Worker.Handle take the same job.Handler). confirm is called by the shipment handler with the
// order id whose confirmation message is due later; it must not block.
type handlers struct {
	sim     Simulation
	rnd     *lockedRand
	confirm func(orderID string)
}

func (h *handlers) register(e *engine.Engine) {
	e.Handle(JobCheckout, h.wrap(JobCheckout, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"checkoutId": h.ref("CO")}, nil
	}))
	e.Handle(JobChargePayment, h.wrap(JobChargePayment, func(j *job.Job) (map[string]any, error) {
		if h.rnd.chance(h.sim.DeclineRate) {
			return nil, job.Throw(ErrorPaymentDeclined, "card declined by the issuer")
		}
		return map[string]any{"paymentId": h.ref("PAY")}, nil
	}))
	e.Handle(JobReserveInventory, h.wrap(JobReserveInventory, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"reservationId": h.ref("RES")}, nil
	}))
	e.Handle(JobPrepareInvoice, h.wrap(JobPrepareInvoice, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"invoiceNumber": h.ref("INV")}, nil
	}))
	e.Handle(JobShipOrder, h.wrap(JobShipOrder, func(j *job.Job) (map[string]any, error) {
		orderID, _ := j.Variables["orderId"].(string)
		if orderID == "" {
			return nil, fmt.Errorf("order has no orderId variable")
		}
		// Jobs run at least once: a second run schedules a second message, which finds no
		// waiting instance and is dropped by the driver.
		h.confirm(orderID)
		return map[string]any{"trackingNumber": h.ref("TRK")}, nil
	}))
	e.Handle(JobPayInvoice, h.wrap(JobPayInvoice, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"paymentId": h.ref("PAY")}, nil
	}))

	// The saga. Its steps fail with BPMN errors (never transiently: a saga's undo is
	// what the demo shows); its compensation handlers take their time.
	e.Handle(JobSagaReserve, h.wrap(JobSagaReserve, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"reservationId": h.ref("RES")}, nil
	}))
	e.Handle(JobSagaCharge, h.wrap(JobSagaCharge, func(j *job.Job) (map[string]any, error) {
		if h.rnd.chance(h.sim.SagaPaymentFailRate) {
			return nil, job.Throw(ErrorSagaPaymentFailed, "the payment provider refused the charge")
		}
		return map[string]any{"paymentId": h.ref("PAY")}, nil
	}))
	e.Handle(JobSagaShip, h.wrap(JobSagaShip, func(j *job.Job) (map[string]any, error) {
		if h.rnd.chance(h.sim.SagaShipmentFailRate) {
			return nil, job.Throw(ErrorSagaShipmentFailed, "no carrier can take the parcel")
		}
		return map[string]any{"trackingNumber": h.ref("TRK")}, nil
	}))
	e.Handle(JobSagaRefund, h.undo(JobSagaRefund, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"refundId": h.ref("REF")}, nil
	}))
	e.Handle(JobSagaRelease, h.undo(JobSagaRelease, func(j *job.Job) (map[string]any, error) {
		return map[string]any{"releaseId": h.ref("REL")}, nil
	}))
}

// undo is wrap for a compensation handler: it works CompensationDelay longer.
func (h *handlers) undo(jobType string, fn func(j *job.Job) (map[string]any, error)) job.Handler {
	inner := h.wrap(jobType, fn)
	return func(ctx context.Context, j *job.Job) (map[string]any, error) {
		if d := h.sim.CompensationDelay; d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		return inner(ctx, j)
	}
}

// wrap adds what every demo handler does: work for a while, then fail now and then.
func (h *handlers) wrap(jobType string, fn func(j *job.Job) (map[string]any, error)) job.Handler {
	return func(ctx context.Context, j *job.Job) (map[string]any, error) {
		if d := h.rnd.between(h.sim.MinDelay, h.sim.MaxDelay); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			}
		}
		if h.rnd.chance(h.sim.failureRate(jobType)) {
			statuses := []int{502, 503, 504}
			return nil, &serviceError{service: services[jobType], status: statuses[h.rnd.IntN(len(statuses))], attempt: j.Attempt}
		}
		return fn(j)
	}
}

func (h *handlers) ref(prefix string) string {
	return fmt.Sprintf("%s-%06d", prefix, h.rnd.IntN(1_000_000))
}
