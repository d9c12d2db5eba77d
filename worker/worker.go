// Package worker takes jobs from Cockpit over NATS and runs them on Go handlers: a worker
// in a process of its own, beside any number of engines (`cockpit serve`, or services
// that embed the engine and serve the protocol). It speaks the protocol of
// docs/workers.md, nothing else: jobs are locked in the engine's store in the worker's
// name, a running job's lock is extended while its handler works, and each outcome is
// reported once.
//
//	w, err := worker.New(worker.Options{Conn: nc, Name: "payments-1"})
//	worker.HandleJSON(w, "payment.charge", func(ctx context.Context, j *job.Job, in Charge) (Receipt, error) { … })
//	err = w.Run(ctx) // until ctx ends; running jobs finish and report first
//
// Jobs run at least once: a worker that dies loses its jobs when their locks end, and
// they run again (with the same job.Job.Key).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/workers/wire"
	"github.com/cockpit-engine/cockpit/job"
)

// Options configure New.
type Options struct {
	// Conn is the NATS connection to the engines' server. Required.
	Conn *nats.Conn
	// Prefix is the engines' --nats-prefix (default "cockpit").
	Prefix string
	// Name names the worker (1–128 bytes): its jobs are locked in this name, and the
	// cockpit lists it. Required; give each worker process its own.
	Name string
	// Concurrency bounds the jobs that run at once (default 8).
	Concurrency int
	// LockFor is how long a job is locked for (default 1 minute, at least 1 second); a
	// running job's lock is extended by as much every half of it.
	LockFor time.Duration
	// Wait is how long one activation waits for a job (default 30 s, at most 60 s).
	Wait time.Duration
	// ProcessKey takes only one process's jobs ("": every process's).
	ProcessKey string
	// BusinessKey takes only the jobs of the instances with this business key.
	BusinessKey string
	// FetchVariables names the instance variables each job carries (nil: all of them).
	FetchVariables []string
	// Token is an API token (ck_…) sent with every request, for engines that take only
	// those (cockpit serve --auth local: a token of a user with the operator role).
	Token string
	// Logger receives what the worker cannot report (default slog.Default()).
	Logger *slog.Logger
}

// Worker runs the handlers of the job types it serves.
type Worker struct {
	o        Options
	log      *slog.Logger
	mu       sync.Mutex
	handlers map[string]job.Handler
}

// New returns a worker; register handlers, then Run it.
func New(o Options) (*Worker, error) {
	switch {
	case o.Conn == nil:
		return nil, errors.New("worker: a NATS connection is required")
	case o.Name == "" || len(o.Name) > 128:
		return nil, errors.New("worker: a name of 1 to 128 bytes is required")
	case o.LockFor != 0 && (o.LockFor < time.Second || o.LockFor > time.Hour):
		return nil, fmt.Errorf("worker: lock duration %s is not 1s to 1h", o.LockFor)
	case o.Wait < 0 || o.Wait > time.Minute:
		return nil, fmt.Errorf("worker: wait %s is not 0 to 1m", o.Wait)
	}
	if o.Prefix == "" {
		o.Prefix = "cockpit"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.LockFor == 0 {
		o.LockFor = time.Minute
	}
	if o.Wait == 0 {
		o.Wait = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Worker{o: o, log: o.Logger.With("worker", o.Name), handlers: map[string]job.Handler{}}, nil
}

// Handle registers the handler of a job type. Register before Run: Run asks for the
// types registered when it starts.
func (w *Worker) Handle(jobType string, h job.Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers[jobType] = h
}

// HandleJSON registers a typed handler (see job.JSON).
func HandleJSON[In, Out any](w *Worker, jobType string, h func(ctx context.Context, j *job.Job, in In) (Out, error)) {
	w.Handle(jobType, job.JSON(h))
}

// retryPause is how long Run waits after a failed activation before it asks again.
const retryPause = time.Second

// Run takes and runs jobs until ctx ends. Then it stops asking for jobs, lets the running
// handlers finish and report (their contexts end only when their locks are lost), and
// returns nil. When the engines refuse the worker's token (or want one: Options.Token),
// it stops the same way and returns that error. An activation in flight when ctx ends
// may lock jobs that this worker never gets: they run again when their locks end.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	types := make([]string, 0, len(w.handlers))
	for t := range w.handlers {
		types = append(types, t)
	}
	w.mu.Unlock()
	if len(types) == 0 {
		return errors.New("worker: no handlers registered")
	}
	slices.Sort(types)
	slots := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		// Reserve a free slot (waiting for one), then every other free one: the
		// activation asks for as many jobs as can start now.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		n := 1
	reserve:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break reserve
			}
		}
		jobs, err := w.activate(ctx, types, n)
		for range n - len(jobs) {
			<-slots
		}
		for _, j := range jobs {
			wg.Go(func() {
				defer func() { <-slots }()
				w.run(j)
			})
		}
		if ctx.Err() != nil {
			return nil
		}
		var rerr *wire.Error
		if errors.As(err, &rerr) && rerr.Code == wire.CodeUnauthorized {
			// Asking again would not help: the token is missing or refused.
			return fmt.Errorf("worker: %w", err)
		}
		if err != nil {
			w.log.Warn("activate jobs", "err", err, "retry_in", retryPause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retryPause):
			}
		}
	}
}

// call sends one request and decodes its reply into out; a refusal is a *wire.Error.
func (w *Worker) call(ctx context.Context, verb string, req, out any, timeout time.Duration) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out0 := &nats.Msg{Subject: wire.Subject(w.o.Prefix, verb), Data: body}
	if w.o.Token != "" {
		out0.Header = nats.Header{"Authorization": []string{"Bearer " + w.o.Token}}
	}
	msg, err := w.o.Conn.RequestMsgWithContext(rctx, out0)
	if err != nil {
		return fmt.Errorf("%s: %w", verb, err)
	}
	var rep struct {
		Error *wire.Error `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return fmt.Errorf("%s: reply: %w", verb, err)
	}
	if rep.Error != nil {
		return rep.Error
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			return fmt.Errorf("%s: reply: %w", verb, err)
		}
	}
	return nil
}

func (w *Worker) activate(ctx context.Context, types []string, max int) ([]*wire.Job, error) {
	var rep struct {
		Jobs []*wire.Job `json:"jobs"`
	}
	req := map[string]any{"worker": w.o.Name, "types": types, "maxJobs": max, "lockMs": w.o.LockFor.Milliseconds(),
		"waitMs": w.o.Wait.Milliseconds(), "processKey": w.o.ProcessKey, "businessKey": w.o.BusinessKey}
	if w.o.FetchVariables != nil {
		req["fetchVariables"] = w.o.FetchVariables
	}
	err := w.call(ctx, wire.VerbActivate, req, &rep, w.o.Wait+10*time.Second)
	return rep.Jobs, err
}

// outcomeTimeout bounds one outcome request.
const outcomeTimeout = 10 * time.Second

// run runs one job: its handler, with its lock extended meanwhile, then its outcome.
func (w *Worker) run(wj *wire.Job) {
	w.mu.Lock()
	h := w.handlers[wj.Type]
	w.mu.Unlock()
	ref := &lockRef{Worker: w.o.Name, Key: wj.Key, InstanceID: wj.InstanceID, Attempt: wj.Attempt, Deadline: wj.Deadline}
	hctx, cancel := context.WithCancel(context.Background())
	stopExtend := w.extend(hctx, cancel, ref)
	vars, herr := h(hctx, &job.Job{Key: wj.Key, Type: wj.Type, Attempt: wj.Attempt, Retries: wj.Retries,
		InstanceID: wj.InstanceID, ElementID: wj.ElementID, ProcessKey: wj.ProcessKey, Variables: wj.Variables,
		Headers: wj.Headers, Deadline: wj.Deadline})
	stopExtend()
	lost := hctx.Err() != nil
	cancel()
	if lost {
		return // the lock went elsewhere: the result is not wanted
	}
	verb, req := outcome(ref.snapshot(), vars, herr)
	if err := w.report(verb, req); err != nil {
		w.log.Warn("job outcome not recorded (the job runs again when its lock ends)", "job", wj.Key, "type", wj.Type, "err", err)
	}
}

// lockRef names the lock an outcome is for; extend moves its deadline.
type lockRef struct {
	mu         sync.Mutex
	Worker     string
	Key        string
	InstanceID string
	Attempt    int
	Deadline   time.Time // moved by extend
}

func (r *lockRef) snapshot() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return map[string]any{"worker": r.Worker, "key": r.Key, "instanceId": r.InstanceID, "attempt": r.Attempt,
		"deadline": r.Deadline}
}

// extend extends the job's lock every half of LockFor until stopped; when the lock is
// lost it cancels the handler's context.
func (w *Worker) extend(ctx context.Context, lost context.CancelFunc, ref *lockRef) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.o.LockFor / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			req := ref.snapshot()
			req["lockMs"] = w.o.LockFor.Milliseconds()
			var rep struct {
				Deadline time.Time `json:"deadline"`
			}
			err := w.call(context.Background(), wire.VerbExtend, req, &rep, outcomeTimeout)
			var rerr *wire.Error
			switch {
			case err == nil:
				ref.mu.Lock()
				ref.Deadline = rep.Deadline
				ref.mu.Unlock()
			case errors.As(err, &rerr) && rerr.Code == wire.CodeLockLost:
				w.log.Warn("job lock lost while its handler runs", "job", ref.Key)
				lost()
				return
			default:
				w.log.Warn("extend job lock", "job", ref.Key, "err", err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// outcome is the request that reports a handler's result.
func outcome(req map[string]any, vars map[string]any, herr error) (string, map[string]any) {
	var be *job.BPMNError
	switch {
	case herr == nil:
		req["variables"] = vars
		return wire.VerbComplete, req
	case errors.As(herr, &be):
		req["code"], req["message"] = be.Code, be.Message
		return wire.VerbError, req
	}
	req["message"] = herr.Error()
	var d interface{ Details() string }
	if errors.As(herr, &d) {
		req["details"] = d.Details()
	}
	return wire.VerbFail, req
}

// report sends an outcome, again while the engines are unavailable (a few times): a
// duplicate reply means an earlier try was recorded.
func (w *Worker) report(verb string, req map[string]any) error {
	pause := 100 * time.Millisecond
	var err error
	for range 5 {
		err = w.call(context.Background(), verb, req, nil, outcomeTimeout)
		var rerr *wire.Error
		if err == nil || (errors.As(err, &rerr) && rerr.Code != wire.CodeUnavailable && rerr.Code != wire.CodeBusy) {
			return err
		}
		time.Sleep(pause)
		pause *= 2
	}
	return err
}
