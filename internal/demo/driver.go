package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// Options configure a Driver.
type Options struct {
	// Engine runs the demo flows. Required.
	Engine *engine.Engine
	// Rate is how many orders per second the driver starts (0: none by itself;
	// StartOrder still works).
	Rate float64
	// InvoiceEvery starts an invoice approval after every n orders (0: never).
	InvoiceEvery int
	// SagaEvery starts an order saga after every n orders (0: never).
	SagaEvery int
	// Seed seeds the random source of the handlers and the order data, so a test run is
	// repeatable (0: a random seed).
	Seed uint64
	// Simulation sets failure rates and delays (the zero value: no failures, no delays;
	// DefaultSimulation is what the demo runs with).
	Simulation Simulation
	// Clock times the trickle and the shipment confirmations (default: the engine's).
	Clock clock.Clock
	// Logger gets what the driver does (default: discards).
	Logger *slog.Logger
}

// Driver runs the demo: it registers the demo job handlers on the engine, starts orders
// at a steady rate and sends each "shipment confirmed" message some time after the order
// shipped. Create it with NewDriver, then Start and Stop it.
type Driver struct {
	e     *engine.Engine
	opts  Options
	clock clock.Clock
	log   *slog.Logger
	rnd   *lockedRand

	mu      sync.Mutex
	pending []confirmation // sorted by due time
	seq     int            // orders started (names the order ids)

	notify chan struct{} // a confirmation was scheduled

	run startstop.Runner
}

// confirmation is a "shipment confirmed" message waiting to be sent.
type confirmation struct {
	orderID string
	due     time.Time
	tries   int
}

// maxConfirmTries bounds how often the driver sends a confirmation that finds no waiting
// instance (the shipping job's result may not be committed yet when the message is due).
const maxConfirmTries = 5

// NewDriver creates a driver and registers the demo handlers on the engine, so that
// engine jobs of the demo flows run even before Start.
func NewDriver(o Options) (*Driver, error) {
	if o.Engine == nil {
		return nil, errors.New("demo driver: Options.Engine is required")
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		return nil, fmt.Errorf("demo driver: rate %v must be a non-negative number", o.Rate)
	}
	if o.Clock == nil {
		o.Clock = o.Engine.Clock()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	d := &Driver{
		e: o.Engine, opts: o, clock: o.Clock, log: o.Logger, rnd: newLockedRand(o.Seed),
		notify: make(chan struct{}, 1), run: startstop.Runner{Name: "demo driver"},
	}
	h := &handlers{sim: o.Simulation, rnd: d.rnd, confirm: d.scheduleConfirmation}
	h.register(o.Engine)
	return d, nil
}

// Start runs the driver until Stop (ctx only bounds the start itself).
func (d *Driver) Start(ctx context.Context) error {
	if err := d.run.Start(ctx, func(ctx context.Context, _ <-chan struct{}) { d.loop(ctx) }); err != nil {
		return err
	}
	d.log.Info("demo driver started", "rate", d.opts.Rate)
	return nil
}

// Stop ends the driver's goroutine and waits for it (or for ctx; package startstop says
// what a Stop out of time leaves). Confirmations not sent yet are dropped; their orders
// wait at "Shipment confirmed".
func (d *Driver) Stop(ctx context.Context) error { return d.run.Stop(ctx) }

// loop starts orders at the configured rate and sends due confirmations. Everything that
// calls into the engine runs here, never on a handler or the engine's committer.
func (d *Driver) loop(ctx context.Context) {
	var interval time.Duration
	var nextStart <-chan time.Time
	if d.opts.Rate > 0 {
		interval = max(time.Duration(float64(time.Second)/d.opts.Rate), time.Millisecond)
		nextStart = d.clock.After(interval)
	}
	for {
		d.sendDue(ctx)
		var nextConfirm <-chan time.Time
		if due, ok := d.nextDue(); ok {
			nextConfirm = d.clock.After(due.Sub(d.clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-nextStart:
			if _, err := d.StartOrder(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("demo: start order", "err", err)
			}
			if n := d.opts.InvoiceEvery; n > 0 && d.orders()%n == 0 {
				if _, err := d.StartInvoice(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("demo: start invoice", "err", err)
				}
			}
			if n := d.opts.SagaEvery; n > 0 && d.orders()%n == 0 {
				if _, err := d.StartSaga(ctx); err != nil && ctx.Err() == nil {
					d.log.Warn("demo: start saga", "err", err)
				}
			}
			nextStart = d.clock.After(interval)
		case <-nextConfirm:
		case <-d.notify:
		}
	}
}

func (d *Driver) orders() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}

var (
	customers = []string{"Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra",
		"Barbara Liskov", "Donald Knuth", "Margaret Hamilton", "Ken Thompson", "Radia Perlman"}
	products = []struct {
		sku, name string
		price     float64
	}{
		{"SKU-1001", "Espresso beans 1 kg", 18.50},
		{"SKU-1002", "Burr grinder", 129.00},
		{"SKU-1003", "Milk jug", 14.90},
		{"SKU-1004", "Descaler", 9.95},
		{"SKU-1005", "Cup set (6)", 39.00},
		{"SKU-1006", "Tamper", 24.50},
	}
)

// OrderVariables returns the variables of a new demo order: orderId, customer, amount
// and items (a list of {sku, name, qty, price}).
func (d *Driver) OrderVariables() map[string]any {
	d.mu.Lock()
	d.seq++
	n := d.seq
	d.mu.Unlock()
	count := 1 + d.rnd.IntN(3)
	items := make([]any, 0, count)
	var cents int64
	for range count {
		p := products[d.rnd.IntN(len(products))]
		qty := 1 + d.rnd.IntN(3)
		items = append(items, map[string]any{"sku": p.sku, "name": p.name, "qty": qty, "price": p.price})
		cents += int64(math.Round(p.price*100)) * int64(qty)
	}
	return map[string]any{
		"orderId":  fmt.Sprintf("ORD-%06d-%04d", n, d.rnd.IntN(10000)),
		"customer": customers[d.rnd.IntN(len(customers))],
		"amount":   float64(cents) / 100,
		"items":    items,
	}
}

// StartOrder starts one order instance with fresh variables; its business key is the
// order id.
func (d *Driver) StartOrder(ctx context.Context) (*store.Instance, error) {
	vars := d.OrderVariables()
	inst, err := d.e.StartInstance(ctx, OrderProcess, engine.StartOptions{BusinessKey: vars["orderId"].(string), Variables: vars})
	if err != nil {
		return nil, err
	}
	d.log.Debug("demo: order started", "instance", inst.ID, "orderId", vars["orderId"])
	return inst, nil
}

// StartSaga starts one order saga with the variables of a new order; its business key
// is the order id with "-S" appended. Its payment and shipment fail now and then
// (Simulation.SagaPaymentFailRate, SagaShipmentFailRate), and compensation undoes what
// completed.
func (d *Driver) StartSaga(ctx context.Context) (*store.Instance, error) {
	vars := d.OrderVariables()
	return d.e.StartInstance(ctx, SagaProcess, engine.StartOptions{BusinessKey: vars["orderId"].(string) + "-S", Variables: vars})
}

// StartInvoice starts one invoice approval; it waits for a person at "Approve invoice".
func (d *Driver) StartInvoice(ctx context.Context) (*store.Instance, error) {
	num := fmt.Sprintf("INV-IN-%05d", d.rnd.IntN(100000))
	vars := map[string]any{
		"invoiceNumber": num,
		"supplier":      []string{"Bean Brothers", "Steel & Steam", "Porcelain Co."}[d.rnd.IntN(3)],
		"amount":        float64(1000+d.rnd.IntN(99000)) / 100,
	}
	return d.e.StartInstance(ctx, InvoiceProcess, engine.StartOptions{BusinessKey: num, Variables: vars})
}

// scheduleConfirmation queues the "shipment confirmed" message of an order. It is called
// from a job handler and never blocks.
func (d *Driver) scheduleConfirmation(orderID string) {
	d.mu.Lock()
	d.insert(confirmation{orderID: orderID, due: d.clock.Now().Add(d.opts.Simulation.ShipmentDelay)})
	d.mu.Unlock()
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// insert keeps pending sorted by due time (d.mu held).
func (d *Driver) insert(c confirmation) {
	i := sort.Search(len(d.pending), func(i int) bool { return d.pending[i].due.After(c.due) })
	d.pending = append(d.pending, confirmation{})
	copy(d.pending[i+1:], d.pending[i:])
	d.pending[i] = c
}

func (d *Driver) nextDue() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.pending) == 0 {
		return time.Time{}, false
	}
	return d.pending[0].due, true
}

// sendDue correlates every confirmation that is due. One that finds no waiting instance
// is tried again a second later, up to maxConfirmTries times.
func (d *Driver) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		now := d.clock.Now()
		d.mu.Lock()
		if len(d.pending) == 0 || d.pending[0].due.After(now) {
			d.mu.Unlock()
			return
		}
		c := d.pending[0]
		d.pending = d.pending[1:]
		d.mu.Unlock()

		_, err := d.e.CorrelateMessage(ctx, engine.Message{
			Name: MessageShipmentConfirmed, CorrelationKey: c.orderID,
			Variables: map[string]any{"shipmentConfirmedAt": now.Format(time.RFC3339)},
		})
		switch {
		case err == nil:
			d.log.Debug("demo: shipment confirmed", "orderId", c.orderID)
		case errors.Is(err, engine.ErrNotFound) && c.tries+1 < maxConfirmTries:
			c.tries++
			c.due = now.Add(time.Second)
			d.mu.Lock()
			d.insert(c)
			d.mu.Unlock()
		case ctx.Err() != nil:
			return
		default:
			d.log.Warn("demo: shipment confirmation dropped", "orderId", c.orderID, "err", err)
		}
	}
}
