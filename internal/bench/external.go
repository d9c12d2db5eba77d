package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/camunda"
	commandsvc "github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/workers"
	"github.com/cockpit-engine/cockpit/job"
	"github.com/cockpit-engine/cockpit/worker"
)

// External workers: the reference flow's tasks served by a worker in another process
// (the public worker package over NATS) instead of the engines' own handlers.

// WorkerCommand makes the command of an external-worker run's worker process: it must
// call RunWorker(ctx, natsURL, concurrency) there (`cockpit bench` re-executes itself).
type WorkerCommand func(natsURL string, concurrency int) *exec.Cmd

// workerName is the bench worker's name in job locks.
const workerName = "bench-worker"

// startedVar is the variable the worker's first task sets: when its handler started,
// in Unix nanoseconds (the probe compares it with the job's commit on the same host).
const startedVar = "benchStartedNs"

// RunWorker serves the reference flow's job types over the NATS server at url until ctx
// ends: the worker process of an external-worker run.
func RunWorker(ctx context.Context, url string, concurrency int) error {
	nc, err := nats.Connect(url, nats.Name(workerName))
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	defer nc.Close()
	w, err := worker.New(worker.Options{Conn: nc, Name: workerName, Concurrency: concurrency, Wait: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	w.Handle(JobTypes[0], func(context.Context, *job.Job) (map[string]any, error) {
		return map[string]any{startedVar: strconv.FormatInt(time.Now().UnixNano(), 10)}, nil
	})
	noop := func(context.Context, *job.Job) (map[string]any, error) { return nil, nil }
	for _, t := range JobTypes[1:] {
		w.Handle(t, noop)
	}
	return w.Run(ctx)
}

// workerOf picks the worker process of a run: over NATS, or over /engine-rest (rest).
func workerOf(nats, engineREST WorkerCommand) (cmd WorkerCommand, rest bool) {
	if engineREST != nil {
		return engineREST, true
	}
	return nats, false
}

// external is a run's NATS server, the worker service of each engine (or the first
// engine's /engine-rest), and the worker process.
type external struct {
	ns    *server.Server
	conns []*nats.Conn
	svcs  []*workers.Service
	rest  *camunda.Server
	http  *http.Server
	cmd   *exec.Cmd
	exit  chan error
}

// startExternal serves the job protocol for each engine on an embedded NATS server (or,
// with rest, the first engine's /engine-rest on a loopback port) and starts the worker
// process with the URL to serve jobs from.
func startExternal(ctx context.Context, engines []*engine.Engine, concurrency int, command WorkerCommand, rest bool,
	log *slog.Logger) (x *external, err error) {
	x = &external{}
	defer func() {
		if err != nil {
			x.stop()
		}
	}()
	x.ns, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return x, fmt.Errorf("bench: nats: %w", err)
	}
	go x.ns.Start()
	if !x.ns.ReadyForConnections(10 * time.Second) {
		return x, errors.New("bench: nats server not ready")
	}
	url := x.ns.ClientURL()
	for _, e := range engines {
		nc, err := nats.Connect(x.ns.ClientURL())
		if err != nil {
			return x, fmt.Errorf("bench: %w", err)
		}
		x.conns = append(x.conns, nc)
		if rest {
			break // one engine serves the API; the others run what its commits leave
		}
		svc, err := workers.Start(ctx, workers.Options{Engine: e, Conn: nc, Logger: log})
		if err != nil {
			return x, fmt.Errorf("bench: %w", err)
		}
		x.svcs = append(x.svcs, svc)
	}
	if rest {
		if x.rest, err = camunda.New(camunda.Options{Engine: engines[0], Commands: commandsvc.NewClient(x.conns[0], ""), Logger: log}); err != nil {
			return x, fmt.Errorf("bench: %w", err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return x, fmt.Errorf("bench: %w", err)
		}
		x.http = &http.Server{Handler: x.rest, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = x.http.Serve(ln) }()
		url = "http://" + ln.Addr().String() + camunda.Prefix
	}
	x.cmd = command(url, concurrency)
	x.cmd.Stderr = os.Stderr
	if err := x.cmd.Start(); err != nil {
		x.cmd = nil
		return x, fmt.Errorf("bench: start the worker process: %w", err)
	}
	x.exit = make(chan error, 1)
	go func() { x.exit <- x.cmd.Wait() }()
	return x, nil
}

// stop ends the worker process (interrupt, then kill after 10 s), the services and the
// server.
func (x *external) stop() {
	if x.cmd != nil {
		_ = x.cmd.Process.Signal(os.Interrupt)
		select {
		case <-x.exit:
		case <-time.After(10 * time.Second):
			_ = x.cmd.Process.Kill()
			<-x.exit
		}
		x.cmd = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if x.http != nil {
		x.rest.Stop()
		_ = x.http.Shutdown(ctx)
		x.http = nil
	}
	for _, svc := range x.svcs {
		_ = svc.Stop(ctx)
	}
	x.svcs = nil
	for _, nc := range x.conns {
		nc.Close()
	}
	x.conns = nil
	if x.ns != nil {
		x.ns.Shutdown()
		x.ns.WaitForShutdown()
		x.ns = nil
	}
}
