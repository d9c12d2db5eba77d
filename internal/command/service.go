// Package command serves the cockpit's operator commands — retry incidents, cancel,
// suspend and resume instances, set variables, correlate messages, start instances,
// complete user tasks — as NATS request/reply, and gives Go callers (the web UI) a
// typed Client for them.
//
// The service is a NATS micro service ("cockpit") whose endpoints listen on
// <prefix>.cmd.<verb> in one queue group, so whichever engine node is free answers and
// each request is answered once; a service with a name (Options.Service) also listens on
// <prefix>.cmd.<service>.<verb>, where an observing cockpit's Router sends the commands
// about that service's instances. Every request is JSON, names the operator (actor) and
// lands in the store's audit log with its result. docs/commands.md is the reference for
// subjects and payloads.
package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// ServiceName and ServiceVersion identify the micro service (`nats micro ls`). The
// version is the version of the command protocol described in docs/commands.md: 1.1.0
// added the service-scoped subjects; every 1.0.0 subject and payload is unchanged.
const (
	ServiceName    = "cockpit"
	ServiceVersion = "1.1.0"
)

// DefaultQueueGroup is the queue group every engine node's command service joins.
const DefaultQueueGroup = "cockpit-engine"

// maxTargetBytes bounds what a command acts on (an id, a process key, a message name): the
// audit log indexes it, and no id, key or name the engine keeps is longer.
const maxTargetBytes = store.MaxKeyBytes

// DefaultMaxRequestBytes is the largest request body accepted (1 MiB, the NATS server's
// default max_payload).
const DefaultMaxRequestBytes = 1 << 20

// UnknownActor is the actor recorded in the audit log for requests that name none
// (or could not be read).
const UnknownActor = "(unknown)"

// Options configure Start. Zero values take the documented defaults.
type Options struct {
	// Conn is the NATS connection to serve on (required). The service does not close it.
	Conn *nats.Conn
	// Engine runs the commands (required).
	Engine *engine.Engine
	// Store receives the audit log (default Engine.Store()).
	Store store.Store
	// Prefix is the first subject token(s) (default "cockpit"): commands are served on
	// <Prefix>.cmd.<verb>.
	Prefix string
	// QueueGroup is shared by every node that serves commands (default "cockpit-engine").
	QueueGroup string
	// Service, when set, is the service this engine runs as (bus.CheckService): every
	// verb is also served on <Prefix>.cmd.<Service>.<verb> (ServiceSubject), where an
	// observing cockpit sends the commands about this service's instances.
	Service string
	// ServiceOnly serves the scoped subjects alone (it needs Service): an engine that
	// shares its NATS with other services' engines, on stores of their own, must not
	// answer the unscoped commands meant for them.
	ServiceOnly bool
	Logger      *slog.Logger // default slog.Default()
	Clock       clock.Clock  // default Engine.Clock()
	// TrustedKeys, when set, are the NKey public user keys (U…) whose signatures this
	// service takes: every request must then carry one (SignatureHeader, made by a Client
	// with a Signer), and its audit actor is the signed one (signed.go).
	TrustedKeys []string
	// Tokens, when set, checks the API token of a request that carries one (header
	// Authorization: Bearer ck_…): the command runs as the token's user if the user's
	// role may run the verb (VerbPermission).
	Tokens func(ctx context.Context, token string) (*auth.Identity, error)
	// RequireCredentials refuses a request that carries neither a trusted signature nor
	// a token (TrustedKeys set requires them anyway).
	RequireCredentials bool
	// KeyLookup, when set, is asked whether a signing key not in TrustedKeys is trusted
	// (the keys the cockpit nodes sharing a store registered there; its answers are kept
	// for 30 s).
	KeyLookup func(ctx context.Context, publicKey string) (bool, error)
	// Authorize, when set, is asked before a command runs; an error refuses the command
	// with code unauthorized and the error's text. The actor is asserted by the caller,
	// so this is policy (who may do what), not authentication.
	Authorize func(ctx context.Context, actor, verb, target string) error
	// MaxRequestBytes bounds a request body (default 1 MiB).
	MaxRequestBytes int
	// Timeout bounds one command (default 30 s); BulkTimeout a bulk command (default 10 min).
	Timeout     time.Duration
	BulkTimeout time.Duration
	// BulkChunkSize is how many items a bulk command does between progress messages
	// (default 100); BulkConcurrency how many of a chunk run at once (default 8: the
	// engine group-commits them).
	BulkChunkSize   int
	BulkConcurrency int
	// MaxConcurrent bounds the requests handled at once (default 64); more wait in the
	// subscription's pending queue.
	MaxConcurrent int
	// ReplayWindow is how long, and ReplayEntries how many, answered request ids are kept
	// to answer a repeated request without running it again (defaults 10 min, 10,000).
	ReplayWindow  time.Duration
	ReplayEntries int
	// WakeOperations, when set, is called after an operation was created (the node's
	// operation executor looks for work at once).
	WakeOperations func()
}

// Service serves commands until Stop.
type Service struct {
	opts    Options
	e       *engine.Engine
	st      store.Store
	nc      *nats.Conn
	log     *slog.Logger
	clock   clock.Clock
	micro   micro.Service
	replays *replayCache
	// verifier checks signatures (nil: requests need none).
	verifier *verifier

	// base is the parent of every command's context; cancel ends it when Stop gives up
	// waiting.
	base   context.Context
	cancel context.CancelFunc
	sem    chan struct{}

	// mu guards closed; wg.Add happens under mu only while !closed, so Stop's wg.Wait
	// never races with a new request.
	mu       sync.Mutex
	closed   bool
	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// Start registers the command endpoints on opts.Conn and serves them until Stop.
// ctx carries values into the commands; its end does not stop the service.
func Start(ctx context.Context, opts Options) (*Service, error) {
	if opts.Conn == nil {
		return nil, fmt.Errorf("command service: Options.Conn is required: %w", engine.ErrInvalidInput)
	}
	if opts.Engine == nil {
		return nil, fmt.Errorf("command service: Options.Engine is required: %w", engine.ErrInvalidInput)
	}
	if opts.Store == nil {
		opts.Store = opts.Engine.Store()
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("command service: %v: %w", err, engine.ErrInvalidInput)
	}
	if opts.QueueGroup == "" {
		opts.QueueGroup = DefaultQueueGroup
	}
	if opts.Service != "" {
		if err := bus.CheckService(opts.Service); err != nil {
			return nil, fmt.Errorf("command service: %v: %w", err, engine.ErrInvalidInput)
		}
	} else if opts.ServiceOnly {
		return nil, fmt.Errorf("command service: Options.ServiceOnly needs Options.Service: %w", engine.ErrInvalidInput)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = opts.Engine.Clock()
	}
	ver, err := newVerifier(opts.TrustedKeys, opts.KeyLookup, opts.RequireCredentials)
	if err != nil {
		return nil, fmt.Errorf("command service: %v: %w", err, engine.ErrInvalidInput)
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.BulkTimeout <= 0 {
		opts.BulkTimeout = 10 * time.Minute
	}
	if opts.BulkChunkSize <= 0 {
		opts.BulkChunkSize = 100
	}
	if opts.BulkConcurrency <= 0 {
		opts.BulkConcurrency = 8
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 64
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = 10 * time.Minute
	}
	if opts.ReplayEntries <= 0 {
		opts.ReplayEntries = 10000
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Service{
		opts: opts, e: opts.Engine, st: opts.Store, nc: opts.Conn, log: opts.Logger.With("component", "command"),
		clock: opts.Clock, replays: newReplayCache(opts.Clock, opts.ReplayWindow, opts.ReplayEntries), verifier: ver,
		base: base, cancel: cancel, sem: make(chan struct{}, opts.MaxConcurrent),
	}
	svc, err := micro.AddService(opts.Conn, micro.Config{
		Name:        ServiceName,
		Version:     ServiceVersion,
		Description: "Cockpit BPMN engine operator commands",
		Metadata:    map[string]string{"prefix": opts.Prefix},
		QueueGroup:  opts.QueueGroup,
		ErrorHandler: func(_ micro.Service, nerr *micro.NATSError) {
			s.log.Error("command service subscription error", "subject", nerr.Subject, "err", nerr.Description)
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("command service: add micro service: %w", err)
	}
	s.micro = svc
	for _, ep := range endpoints() {
		handler := micro.HandlerFunc(func(r micro.Request) { s.dispatch(ep, r) })
		var err error
		if !opts.ServiceOnly {
			err = svc.AddEndpoint(endpointName(ep.verb), handler,
				micro.WithEndpointSubject(Subject(opts.Prefix, ep.verb)),
				micro.WithEndpointMetadata(map[string]string{"verb": ep.verb}))
		}
		if err == nil && opts.Service != "" {
			// Endpoint names are unique within a micro service: the scoped one gets a suffix.
			err = svc.AddEndpoint(endpointName(ep.verb)+"-service", handler,
				micro.WithEndpointSubject(ServiceSubject(opts.Prefix, opts.Service, ep.verb)),
				micro.WithEndpointMetadata(map[string]string{"verb": ep.verb, "service": opts.Service}))
		}
		if err != nil {
			cancel()
			return nil, errors.Join(fmt.Errorf("command service: add endpoint %s: %w", ep.verb, err), svc.Stop())
		}
	}
	// Make sure the server has the endpoint subscriptions before Start returns: a request
	// sent right after it (over another connection, or through a cluster) must find a
	// responder.
	if err := opts.Conn.FlushTimeout(5 * time.Second); err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("command service: flush subscriptions: %w", err), svc.Stop())
	}
	subjects := []string{}
	if !opts.ServiceOnly {
		subjects = append(subjects, Subject(opts.Prefix, "*.*"))
	}
	if opts.Service != "" {
		subjects = append(subjects, ServiceSubject(opts.Prefix, opts.Service, "*.*"))
	}
	s.log.Info("command service started", "subjects", subjects, "queue_group", opts.QueueGroup)
	return s, nil
}

// Stop stops taking requests (the endpoint subscriptions drain) and waits for the
// commands in flight to finish and reply. When ctx ends first, their contexts are
// cancelled (a bulk retry stops between items and reports itself incomplete) and Stop
// waits for them to reply. Requests that reach a stopped service are answered with
// code unavailable, without running or being audited.
func (s *Service) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.micro.Stop()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	})
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stop command service: %w", ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	return errors.Join(s.stopErr, err)
}

// Info describes the micro service (what `nats micro info cockpit` shows).
func (s *Service) Info() micro.Info { return s.micro.Info() }

// Stats returns the micro service's per-endpoint request counts.
func (s *Service) Stats() micro.Stats { return s.micro.Stats() }

// dispatch runs on the endpoint's subscription goroutine: it hands the request to a
// goroutine of its own, so one slow command (a bulk retry) does not hold up the others,
// and blocks while MaxConcurrent requests are in flight.
func (s *Service) dispatch(ep endpoint, r micro.Request) {
	s.sem <- struct{}{}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		rep := failure("", errorf(CodeUnavailable, "the command service is stopping; send the command again"))
		s.respond(r, rep)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		s.handle(ep, r)
	}()
}

// call is one request on its way through the service: what the audit log needs.
type call struct {
	verb      string
	at        time.Time
	requestID string
	actor     string
	reason    string
	target    string
	// request is the body as recorded in the audit log (nil when it is not JSON).
	request json.RawMessage
	// explicitID is true when the caller chose the request id (it may repeat it).
	explicitID bool
}

func (s *Service) handle(ep endpoint, r micro.Request) {
	x := &call{verb: ep.verb, at: s.clock.Now()}
	proven, checked, verr := s.credentials(ep.verb, r)
	req, err := s.decode(ep, r.Data(), x)
	if checked {
		// The actor is the proven one (the signature's, the token's user); a claim they
		// do not back never reaches the audit log as an actor.
		claimed := x.actor
		switch {
		case verr != nil:
			x.actor = UnknownActor
			err = errorf(CodeUnauthorized, "%v; the actor the request names (%q) is not taken", verr, claimed)
		case claimed != UnknownActor && claimed != proven:
			x.actor = UnknownActor
			err = errorf(CodeUnauthorized, "the request names actor %q but its credentials are %q's", claimed, proven)
		default:
			x.actor = proven
		}
	}
	if err != nil {
		rep := s.fail(x, err)
		s.writeAudit(x, rep)
		s.respond(r, rep)
		return
	}
	var f *flight
	if x.explicitID {
		var fresh bool
		if f, fresh = s.replays.begin(x.requestID, x.verb); !fresh && f.verb != x.verb {
			rep := s.fail(x, errorf(CodeInvalidInput, "field \"requestId\": %q was already used for %s", x.requestID, f.verb))
			s.writeAudit(x, rep)
			s.respond(r, rep)
			return
		} else if !fresh {
			s.replay(r, x, f)
			return
		}
	}
	rep := s.execute(ep, req, x)
	if f != nil {
		s.replays.finish(f, rep)
	}
	s.respond(r, rep)
}

// execute authorises and runs a decoded command, then writes its audit row.
func (s *Service) execute(ep endpoint, req commandRequest, x *call) *reply {
	timeout := s.opts.Timeout
	if ep.bulk {
		timeout = s.opts.BulkTimeout
	}
	ctx, cancel := context.WithTimeout(s.base, timeout)
	defer cancel()
	if s.opts.Authorize != nil {
		if aerr := s.opts.Authorize(ctx, x.actor, x.verb, x.target); aerr != nil {
			rep := s.fail(x, errorf(CodeUnauthorized, "%s may not %s %s: %v", x.actor, x.verb, x.target, aerr))
			s.writeAudit(x, rep)
			return rep
		}
	}
	// No audit row, no command (see audit.go).
	a := s.auditEntry(x)
	if err := s.beginAudit(a); err != nil {
		return s.fail(x, err)
	}
	res, err := s.run(ctx, ep, req, x)
	var rep *reply
	if err != nil {
		rep = s.fail(x, err)
	} else if rep, err = success(x.requestID, res); err != nil {
		rep = s.fail(x, err)
	}
	setResult(a, rep)
	if err == nil {
		a.InstanceID = instanceOf(res)
	}
	s.finishAudit(a)
	return rep
}

// instanceOf names the instance a command's result is about (its InstanceID field, as
// a retried incident's, a completed task's or a started instance's result has), so that
// its audit row is listed on that instance's page; "" when it names none.
func instanceOf(res any) string {
	v := reflect.ValueOf(res)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName("InstanceID")
	if !f.IsValid() || f.Kind() != reflect.String {
		return ""
	}
	return f.String()
}

// run runs a command; a panic becomes an internal error instead of ending the process.
func (s *Service) run(ctx context.Context, ep endpoint, req commandRequest, x *call) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", ep.verb, p, debug.Stack())
		}
	}()
	return ep.run(ctx, s, req, x)
}

// replay answers a repeated request id with the first answer, waiting for it when the
// first request is still running. Replays are not audited: the command ran once.
func (s *Service) replay(r micro.Request, x *call, f *flight) {
	select {
	case <-f.done:
	case <-s.base.Done():
		s.respond(r, failure(x.requestID, errorf(CodeUnavailable, "the command service is stopping; send the command again")))
		return
	}
	s.respond(r, f.rep)
}

// decode reads and checks a request body and fills in x.
func (s *Service) decode(ep endpoint, body []byte, x *call) (commandRequest, error) {
	x.actor, x.requestID = UnknownActor, newID()
	if len(body) > s.opts.MaxRequestBytes {
		return nil, errorf(CodeInvalidInput, "request body is %d bytes, more than the limit of %d bytes", len(body), s.opts.MaxRequestBytes)
	}
	// Checked now, refused after the actor (which names its own field when it is at fault).
	textErr := checkRequestText(body)
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, errorf(CodeInvalidInput, "request body is empty: expected a JSON object with at least \"actor\"")
	}
	if trimmed[0] != '{' {
		return nil, errorf(CodeInvalidInput, "request body is not a JSON object (byte offset 0)")
	}
	req := ep.newReq()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		return nil, decodeError(err, dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errorf(CodeInvalidInput, "malformed JSON: unexpected data after the request object at byte offset %d", dec.InputOffset())
	}
	m := req.meta()
	if t := req.target(); len(t) > maxTargetBytes {
		return nil, errorf(CodeInvalidInput, "the command's target (id, key or name) is %d bytes, more than the limit of %d bytes", len(t), maxTargetBytes)
	}
	x.target, x.reason = req.target(), m.Reason
	x.request = json.RawMessage(body)
	if m.RequestID == "" {
		// Record the generated id with the request, so the audit row leads to its progress
		// subject and its reply.
		m.RequestID = x.requestID
		x.request = withField(body, "requestId", x.requestID)
	} else if !requestIDPattern.MatchString(m.RequestID) {
		return nil, errorf(CodeInvalidInput, "field \"requestId\": %q must be 1-64 letters, digits, '-' or '_'", m.RequestID)
	} else {
		x.requestID, x.explicitID = m.RequestID, true
	}
	m.Actor = strings.TrimSpace(m.Actor)
	if err := CheckActor(m.Actor); err != nil {
		return nil, err // the audit row of the refusal names UnknownActor
	}
	if textErr != nil {
		return nil, textErr
	}
	x.actor = m.Actor
	if len(m.Reason) > 4096 {
		return nil, errorf(CodeInvalidInput, "field \"reason\" is %d bytes, more than 4096", len(m.Reason))
	}
	return req, nil
}

// decodeError names the field or byte offset of a JSON decoding error.
func decodeError(err error, offset int64) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errorf(CodeInvalidInput, "malformed JSON at byte offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return errorf(CodeInvalidInput, "malformed request: expected %s, got JSON %s at byte offset %d", jsonKind(typ.Type), typ.Value, typ.Offset)
		}
		return errorf(CodeInvalidInput, "field %q: expected %s, got JSON %s at byte offset %d", typ.Field, jsonKind(typ.Type), typ.Value, typ.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeInvalidInput, "malformed JSON: unexpected end of input at byte offset %d", offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for DisallowUnknownFields.
		return errorf(CodeInvalidInput, "unknown field %s (byte offset %d)", strings.TrimPrefix(err.Error(), "json: unknown field "), offset)
	}
	return errorf(CodeInvalidInput, "malformed JSON at byte offset %d: %v", offset, err)
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return t.String()
}

// withField returns a JSON object with one more field (the body was decoded already).
func withField(body []byte, name, value string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return json.RawMessage(body)
	}
	v, _ := json.Marshal(value)
	m[name] = v
	out, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(body)
	}
	return out
}

// reply is an answer ready to send: the envelope, and for failures the code and message
// for the micro error headers.
type reply struct {
	body []byte
	code Code // "" on success
	msg  string
	// detail is the full error for the audit log (internal errors are not sent out).
	detail string
}

type envelope struct {
	OK        bool            `json:"ok"`
	RequestID string          `json:"requestId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

func success(requestID string, res any) (*reply, error) {
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	body, err := json.Marshal(envelope{OK: true, RequestID: requestID, Result: raw})
	if err != nil {
		return nil, fmt.Errorf("encode reply: %w", err)
	}
	return &reply{body: body}, nil
}

func failure(requestID string, e *Error) *reply {
	body, _ := json.Marshal(envelope{RequestID: requestID, Error: e}) // strings only: cannot fail
	return &reply{body: body, code: e.Code, msg: e.Message, detail: e.Message}
}

// fail turns an error into a reply. Internal errors are logged in full and answered
// with the request id only: their text may name tables, files or hosts.
func (s *Service) fail(x *call, err error) *reply {
	code := codeOf(err)
	var cerr *Error
	msg := err.Error()
	if errors.As(err, &cerr) {
		msg = cerr.Message
	}
	if code == CodeInternal {
		s.log.Error("command failed", "verb", x.verb, "request_id", x.requestID, "actor", x.actor, "target", x.target, "err", err)
		rep := failure(x.requestID, errorf(CodeInternal, "internal error; the cockpit log has the details under request id %s", x.requestID))
		rep.detail = msg
		return rep
	}
	if code == CodeUnavailable && (errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrConflict)) {
		// The driver's text names hosts and statements: log it, answer what it means.
		s.log.Warn("command not carried out: store unavailable", "verb", x.verb, "request_id", x.requestID, "err", err)
		rep := failure(x.requestID, errorf(CodeUnavailable,
			"the engine's database is unavailable or busy, try again later (request id %s)", x.requestID))
		rep.detail = msg
		return rep
	}
	return failure(x.requestID, &Error{Code: code, Message: msg})
}

// respond sends a reply, with the micro error headers on failures.
//
// It publishes on the connection itself instead of calling r.Respond or r.Error: the
// reply leaves from the command's own goroutine (see dispatch), usually after micro's
// handler returned, and micro's request records the outcome of Respond/Error in a field
// that its stats read as soon as the handler returns — a data race. Micro's stats
// therefore count requests, not failed ones; the audit log holds every outcome.
func (s *Service) respond(r micro.Request, rep *reply) {
	if r.Reply() == "" {
		return // a publish, not a request: nobody waits for an answer
	}
	msg := &nats.Msg{Subject: r.Reply(), Data: rep.body}
	if rep.code != "" {
		msg.Header = nats.Header{
			micro.ErrorHeader:     []string{headerText(string(rep.code) + ": " + rep.msg)},
			micro.ErrorCodeHeader: []string{rep.code.status()},
		}
	}
	if err := s.nc.PublishMsg(msg); err != nil {
		s.log.Warn("send command reply", "subject", r.Subject(), "err", err)
	}
}

// headerText makes a message fit a NATS header value: one line, bounded.
func headerText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1024 {
		s = s[:1021] + "..."
	}
	return s
}

// auditTimeout bounds an audit write, which runs even when the command's context ended.
const auditTimeout = 10 * time.Second

// writeAudit records a request that was refused before it ran (malformed, unauthorized),
// with its result. It runs before the reply is sent, so a caller that got an answer finds
// the audit row. Commands that run are recorded by beginAudit and finishAudit.
func (s *Service) writeAudit(x *call, rep *reply) {
	a := s.auditEntry(x)
	setResult(a, rep)
	// A refused request may hold what the store cannot: keep what it can.
	a.Target, a.Reason = store.StorableText(a.Target), store.StorableText(a.Reason)
	if a.Request != nil && checkRequestText(a.Request) != nil {
		a.Request = nil
	}
	s.insertAudit(a)
}

func (s *Service) insertAudit(entries ...*store.AuditEntry) {
	_ = s.writeAuditRows("write audit log", store.Tx.InsertAudit, entries)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// credentials proves who sent a request: an API token (Options.Tokens) or a trusted
// signature (Options.TrustedKeys). checked is false when the service checks neither
// and the request carries none it could check (anyone may send, as before).
func (s *Service) credentials(verb string, r micro.Request) (actor string, checked bool, err error) {
	if h := r.Headers().Get("Authorization"); h != "" && s.opts.Tokens != nil {
		token, ok := auth.Bearer(h)
		if !ok {
			return "", true, errors.New("the Authorization header is not Bearer ck_…")
		}
		id, err := s.opts.Tokens(s.base, token)
		if err != nil {
			return "", true, fmt.Errorf("the API token is refused (%v)", err)
		}
		if err := mayRun(id.Name, id.Role, verb); err != nil {
			return "", true, err
		}
		return id.Name, true, nil
	}
	sig := r.Headers().Get(SignatureHeader)
	if sig == "" && s.opts.RequireCredentials {
		return "", true, errors.New("this command service takes only commands with credentials: an API token (Authorization: Bearer ck_…) or a signature by a trusted key")
	}
	if s.verifier != nil {
		actor, err := s.verifier.verify(sig, verb, r.Data(), s.clock.Now())
		return actor, true, err
	}
	return "", false, nil
}
