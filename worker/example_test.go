package worker_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/job"
	"github.com/cockpit-engine/cockpit/worker"
)

// A worker process: it serves the job type payment.charge for every engine on the NATS
// server, until interrupted (running jobs finish and report first).
func Example() {
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	w, err := worker.New(worker.Options{Conn: nc, Name: "payments-1", Concurrency: 16})
	if err != nil {
		log.Fatal(err)
	}
	type charge struct {
		Amount float64 `json:"amount"`
	}
	type receipt struct {
		PaymentID string `json:"paymentId"`
	}
	worker.HandleJSON(w, "payment.charge", func(ctx context.Context, j *job.Job, in charge) (receipt, error) {
		if in.Amount <= 0 {
			return receipt{}, job.Throw("INVALID_AMOUNT", "nothing to charge")
		}
		return receipt{PaymentID: "pay-" + j.Key}, nil // idempotent on the job's key
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
