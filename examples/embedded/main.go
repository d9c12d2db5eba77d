// Command embedded is a small order service that embeds the Cockpit engine with the
// public package flow: its own HTTP endpoint starts orders, its own Go handlers do the
// work of the order process's service tasks, and the engine keeps every step.
//
//	go run ./examples/embedded -addr 127.0.0.1:8081
//	curl -X POST localhost:8081/orders -d '{"amount": 42}'
//	curl localhost:8081/orders/<id>
//
// With -database-url postgres://… the instances live in PostgreSQL, where a
// `cockpit serve --database-url` on the same database shows and operates them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cockpit-engine/cockpit/flow"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "HTTP listen address")
	dataDir := flag.String("data-dir", "./orders-data", "directory of the embedded store")
	dbURL := flag.String("database-url", os.Getenv("COCKPIT_DATABASE_URL"), "postgres://… to use PostgreSQL instead")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eng, err := openOrders(ctx, flow.Options{DataDir: *dataDir, DatabaseURL: *dbURL})
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: *addr, Handler: newMux(eng), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := eng.Close(sctx); err != nil {
			log.Print(err)
		}
	}()
	log.Printf("order service on http://%s (POST /orders)", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// The order process: charge the payment, then ship, in Go.
func orderProcess() *flow.Builder {
	return flow.Build("order", flow.Name("Order")).
		Start("placed", flow.Name("Order placed")).
		ServiceTask("charge", flow.Name("Charge payment"), flow.JobType("payment.charge"), flow.Retries(3)).
		ServiceTask("ship", flow.Name("Ship"), flow.JobType("shipping.create")).
		End("shipped", flow.Name("Shipped"))
}

type chargeIn struct {
	Amount float64 `json:"amount"`
}

type chargeOut struct {
	PaymentID string `json:"paymentId"`
}

type shipOut struct {
	Tracking string `json:"tracking"`
}

// openOrders opens the engine, registers the handlers, deploys the process and starts.
func openOrders(ctx context.Context, o flow.Options) (*flow.Engine, error) {
	eng, err := flow.Open(ctx, o)
	if err != nil {
		return nil, err
	}
	flow.HandleJSON(eng, "payment.charge", func(ctx context.Context, job *flow.Job, in chargeIn) (chargeOut, error) {
		if in.Amount <= 0 {
			return chargeOut{}, flow.Throw("INVALID_AMOUNT", fmt.Sprintf("amount %v", in.Amount))
		}
		// A real service calls its payment provider here, idempotently on job.Key.
		return chargeOut{PaymentID: "pay-" + job.Key}, nil
	})
	flow.HandleJSON(eng, "shipping.create", func(ctx context.Context, job *flow.Job, in struct{}) (shipOut, error) {
		return shipOut{Tracking: "trk-" + job.InstanceID}, nil
	})
	if _, err := eng.DeployModel(ctx, orderProcess()); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	if err := eng.Start(ctx); err != nil {
		return nil, errors.Join(err, eng.Close(ctx))
	}
	return eng, nil
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// newMux serves POST /orders (start an order) and GET /orders/{id} (its state).
func newMux(eng *flow.Engine) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Amount float64 `json:"amount"`
			Ref    string  `json:"ref"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		in, err := eng.StartInstance(r.Context(), "order", flow.StartOptions{BusinessKey: req.Ref,
			Variables: map[string]any{"amount": req.Amount}})
		if err != nil {
			httpError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		writeJSON(w, map[string]any{"id": in.ID, "state": in.State})
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		d, err := eng.Instance(r.Context(), r.PathValue("id"))
		if err != nil {
			httpError(w, err)
			return
		}
		writeJSON(w, map[string]any{"id": d.ID, "state": d.State, "waitingAt": d.WaitingAt, "variables": d.Variables,
			"incidents": len(d.OpenIncidents)})
	})
	return mux
}

func httpError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, flow.ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
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
