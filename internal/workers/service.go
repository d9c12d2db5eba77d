// Package workers serves external job workers over NATS (docs/workers.md): a process in
// any language, with only a NATS client, asks for jobs of the types it serves and reports
// each outcome. The service is a thin protocol layer over the engine's ActivateJobs,
// CompleteJob, FailJob, ThrowJobError, ExtendJobLock and ReturnJob: jobs are locked in the
// store in the worker's name, and NATS never holds a job.
//
// Every engine node runs the service in one queue group, so any node answers; an
// activation that finds nothing waits (a long poll) on the node that took it, and a job
// committed on any node wakes it (on PostgreSQL through the store's notifications).
package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/workers/wire"
)

// Protocol names.
const (
	ServiceName    = "cockpit-jobs"
	ServiceVersion = "1.0.0"
	QueueGroup     = "cockpit-engine"
)

// MaxRequestBytes bounds a request (the command service's bound: the NATS server's
// default max_payload).
const MaxRequestBytes = command.DefaultMaxRequestBytes

// maxOutcomes bounds the outcome requests (complete, fail, …) that run at once on a node;
// past it the endpoint's subscription waits (they are short: one commit each).
const maxOutcomes = 256

// Options configure Start.
type Options struct {
	Engine *engine.Engine
	Conn   *nats.Conn
	Prefix string // default "cockpit"
	Logger *slog.Logger
	// MaxWaiting bounds the activations this node holds at once (default 1024); past it
	// an activation is answered with "busy" at once. Outcomes are not counted: a worker
	// can always report.
	MaxWaiting int
	// Authenticate, when set, checks the API token every request must carry (header
	// Authorization: Bearer ck_…) and returns the job types it may take (none: any); an
	// error refuses the request as unauthorized, and so does an activation of other types.
	Authenticate func(ctx context.Context, token string) (jobTypes []string, err error)
}

// Service is the running worker protocol service.
type Service struct {
	o     Options
	log   *slog.Logger
	micro micro.Service
	// waits is the context of the activations' long polls: Stop ends it, so they are
	// answered (with no jobs) at once. base is the outcomes': Stop lets them finish and
	// ends it only when its own ctx does.
	waits, base             context.Context
	cancelWaits, cancelBase context.CancelFunc
	activations, outcomes   chan struct{}
	mu                      sync.Mutex // guards closed and wg.Add against Stop's wg.Wait
	closed                  bool
	wg                      sync.WaitGroup
	seen                    *sightings
}

// Start serves the protocol on o.Conn until Stop.
func Start(ctx context.Context, o Options) (*Service, error) {
	if o.Engine == nil || o.Conn == nil {
		return nil, errors.New("worker service: engine and NATS connection are required")
	}
	if o.Prefix == "" {
		o.Prefix = "cockpit"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = 1024
	}
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	waits, cancelWaits := context.WithCancel(base)
	s := &Service{o: o, log: o.Logger.With("component", "workers"), waits: waits, base: base,
		cancelWaits: cancelWaits, cancelBase: cancelBase,
		activations: make(chan struct{}, o.MaxWaiting), outcomes: make(chan struct{}, maxOutcomes)}
	svc, err := micro.AddService(o.Conn, micro.Config{
		Name: ServiceName, Version: ServiceVersion, Description: "Cockpit job workers",
		Metadata: map[string]string{"prefix": o.Prefix}, QueueGroup: QueueGroup,
	})
	if err != nil {
		cancelBase()
		return nil, fmt.Errorf("worker service: %w", err)
	}
	s.micro = svc
	for _, verb := range []string{wire.VerbActivate, wire.VerbComplete, wire.VerbFail, wire.VerbError, wire.VerbExtend, wire.VerbReturn} {
		if err := svc.AddEndpoint(verb, micro.HandlerFunc(func(r micro.Request) { s.dispatch(verb, r) }),
			micro.WithEndpointSubject(wire.Subject(o.Prefix, verb))); err != nil {
			cancelBase()
			return nil, errors.Join(fmt.Errorf("worker service: endpoint %s: %w", verb, err), svc.Stop())
		}
	}
	if s.seen, err = startSightings(s); err != nil {
		cancelBase()
		return nil, errors.Join(fmt.Errorf("worker service: sightings: %w", err), svc.Stop())
	}
	if err := o.Conn.FlushTimeout(5 * time.Second); err != nil {
		s.seen.stop()
		cancelBase()
		return nil, errors.Join(fmt.Errorf("worker service: flush subscriptions: %w", err), svc.Stop())
	}
	s.log.Info("worker service started", "subjects", wire.Subject(o.Prefix, "*"))
	return s, nil
}

// Stop stops taking requests, ends the activations that wait (they are answered with no
// jobs) and waits for the outcomes in flight to be recorded and answered; when ctx ends
// first, their contexts are cancelled too.
func (s *Service) Stop(ctx context.Context) error {
	err := s.micro.Stop()
	s.seen.stop()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancelWaits()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("stop worker service: %w", ctx.Err()))
		s.cancelBase()
		<-done
	}
	s.cancelBase()
	return err
}

// dispatch answers a request on its own goroutine: an activation may wait a minute, and
// the endpoint's subscription must not wait with it. Activations beyond MaxWaiting are
// answered busy; outcomes wait for a slot (maxOutcomes). A publish without a reply
// subject is dropped: an activation nobody waits for would lock jobs for nobody.
func (s *Service) dispatch(verb string, r micro.Request) {
	if r.Reply() == "" {
		return
	}
	if s.o.Authenticate != nil {
		token, ok := auth.Bearer(r.Headers().Get("Authorization"))
		if !ok {
			s.respond(r, nil, &replyError{Code: wire.CodeUnauthorized, Message: "the engines take only requests with an API token (Authorization: Bearer ck_…)"})
			return
		}
		types, err := s.o.Authenticate(s.base, token)
		if err != nil {
			s.respond(r, nil, &replyError{Code: wire.CodeUnauthorized, Message: "the API token is refused: " + err.Error()})
			return
		}
		if verb == wire.VerbActivate && len(types) > 0 {
			var req struct {
				Types []string `json:"types"`
			}
			_ = json.Unmarshal(r.Data(), &req)
			for _, t := range req.Types {
				if !slices.Contains(types, t) {
					s.respond(r, nil, &replyError{Code: wire.CodeUnauthorized,
						Message: fmt.Sprintf("the API token may take the job types %s, not %q", strings.Join(types, ", "), t)})
					return
				}
			}
		}
	}
	sem := s.outcomes
	if verb == wire.VerbActivate {
		select {
		case s.activations <- struct{}{}:
		default:
			s.respond(r, nil, &replyError{Code: wire.CodeBusy, Message: fmt.Sprintf("%d activations wait on this node already", s.o.MaxWaiting)})
			return
		}
		sem = s.activations
	} else {
		s.outcomes <- struct{}{}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-sem
		s.respond(r, nil, &replyError{Code: wire.CodeUnavailable, Message: "the worker service is stopping; ask again"})
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-sem }()
		res, rerr := s.handle(verb, r.Data())
		s.respond(r, res, rerr)
	}()
}

type replyError = wire.Error

// respond publishes the reply on the connection rather than through r.Respond: it leaves
// from the request's own goroutine, after micro's handler returned, and micro records the
// outcome of Respond in a field its stats read then (see command.Service.respond).
func (s *Service) respond(r micro.Request, res any, rerr *replyError) {
	var body any = res
	if rerr != nil {
		body = map[string]any{"error": rerr}
	}
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"error":{"code":"internal","message":"reply not encodable"}}`)
	}
	if err := s.o.Conn.Publish(r.Reply(), b); err != nil {
		s.log.Warn("worker reply", "subject", r.Subject(), "err", err)
	}
}

// Requests.

type jobRef struct {
	Worker     string    `json:"worker"`
	Key        string    `json:"key"`
	InstanceID string    `json:"instanceId"`
	Attempt    int       `json:"attempt"`
	Deadline   time.Time `json:"deadline"`
}

func (j jobRef) ref() engine.JobRef {
	return engine.JobRef{Worker: j.Worker, Key: j.Key, InstanceID: j.InstanceID, Attempt: j.Attempt, Deadline: j.Deadline}
}

type activateRequest struct {
	Worker         string   `json:"worker"`
	Types          []string `json:"types"`
	MaxJobs        int      `json:"maxJobs"`
	LockMs         int64    `json:"lockMs"`
	WaitMs         int64    `json:"waitMs"`
	ProcessKey     string   `json:"processKey"`
	BusinessKey    string   `json:"businessKey"`
	FetchVariables []string `json:"fetchVariables"`
}

type completeRequest struct {
	jobRef
	Variables map[string]any `json:"variables"`
}

type failRequest struct {
	jobRef
	Message   string `json:"message"`
	Details   string `json:"details"`
	Retries   *int   `json:"retries"`
	BackoffMs int64  `json:"backoffMs"`
}

type errorRequest struct {
	jobRef
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Variables map[string]any `json:"variables"`
}

type extendRequest struct {
	jobRef
	LockMs int64 `json:"lockMs"`
}

func decode(body []byte, v any) *replyError {
	if len(body) > MaxRequestBytes {
		return &replyError{Code: wire.CodeInvalidInput, Message: fmt.Sprintf("request of %d bytes exceeds %d", len(body), MaxRequestBytes)}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &replyError{Code: wire.CodeInvalidInput, Message: "request: " + err.Error()}
	}
	if d.More() {
		return &replyError{Code: wire.CodeInvalidInput, Message: "request: data after the JSON object"}
	}
	return nil
}

func (s *Service) handle(verb string, body []byte) (any, *replyError) {
	ctx := s.base
	if verb == wire.VerbActivate {
		ctx = s.waits
	}
	e := s.o.Engine
	ok := map[string]any{"ok": true}
	var err error
	switch verb {
	case wire.VerbActivate:
		var req activateRequest
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		if len(req.Types) > 0 && len(req.Types) <= engine.MaxWorkerTypes && req.Worker != "" && len(req.Worker) <= engine.MaxWorkerNameBytes {
			s.seen.relay(req.Worker, req.Types, e.Clock().Now())
		}
		jobs, err := e.ActivateJobs(ctx, engine.ActivateRequest{Worker: req.Worker, Types: req.Types, Max: req.MaxJobs,
			LockFor: time.Duration(req.LockMs) * time.Millisecond, Wait: time.Duration(req.WaitMs) * time.Millisecond,
			ProcessKey: req.ProcessKey, BusinessKey: req.BusinessKey, Variables: req.FetchVariables})
		if err != nil {
			return nil, s.errorReply(verb, err)
		}
		out := make([]wire.Job, len(jobs))
		for i, j := range jobs {
			out[i] = wire.Job{Key: j.Key, Type: j.Type, InstanceID: j.InstanceID, ElementID: j.ElementID,
				ProcessKey: j.ProcessKey, Attempt: j.Attempt, Retries: j.Retries, Deadline: j.Deadline.UTC(), Variables: j.Variables,
				Headers: j.Headers}
		}
		return map[string]any{"jobs": out}, nil
	case wire.VerbComplete:
		var req completeRequest
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		err = e.CompleteJob(ctx, req.ref(), req.Variables)
	case wire.VerbFail:
		var req failRequest
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		err = e.FailJob(ctx, req.ref(), engine.JobFailure{Message: req.Message, Details: req.Details, Retries: req.Retries,
			Backoff: time.Duration(req.BackoffMs) * time.Millisecond})
	case wire.VerbError:
		var req errorRequest
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		err = e.ThrowJobError(ctx, req.ref(), req.Code, req.Message, req.Variables)
	case wire.VerbExtend:
		var req extendRequest
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		until, err := e.ExtendJobLock(ctx, req.ref(), time.Duration(req.LockMs)*time.Millisecond)
		if err != nil {
			return nil, s.errorReply(verb, err)
		}
		return map[string]any{"ok": true, "deadline": until.UTC()}, nil
	case wire.VerbReturn:
		var req jobRef
		if rerr := decode(body, &req); rerr != nil {
			return nil, rerr
		}
		err = e.ReturnJob(ctx, req.ref())
	}
	if errors.Is(err, engine.ErrDuplicateOutcome) {
		return map[string]any{"ok": true, "duplicate": true}, nil
	}
	if err != nil {
		return nil, s.errorReply(verb, err)
	}
	return ok, nil
}

// errorReply classifies an engine error. "The token is gone" (ErrInvalidState) means the
// instance moved on: for the worker, the lock is lost. Internal errors are logged, and the
// worker told only that something failed.
func (s *Service) errorReply(verb string, err error) *replyError {
	switch {
	case errors.Is(err, engine.ErrLostLock), errors.Is(err, engine.ErrInvalidState):
		return &replyError{Code: wire.CodeLockLost, Message: err.Error()}
	case errors.Is(err, engine.ErrInvalidInput):
		return &replyError{Code: wire.CodeInvalidInput, Message: err.Error()}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict), errors.Is(err, engine.ErrStopped),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &replyError{Code: wire.CodeUnavailable, Message: err.Error()}
	}
	s.log.Error("worker request failed", "verb", verb, "err", err)
	return &replyError{Code: wire.CodeInternal, Message: "the request failed on the engine; see its log"}
}
