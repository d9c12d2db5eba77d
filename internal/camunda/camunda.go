// Package camunda serves the subset of Camunda 7's REST API that external-task workers
// (the JavaScript and Java clients) and Camunda Modeler use, under /engine-rest, so that
// they work unchanged against Cockpit (docs/camunda.md lists every endpoint and every
// deviation from Camunda's behaviour).
//
// It is a thin translation layer: external tasks are the engine's service jobs, locked in
// the store in the worker's name exactly as the NATS worker protocol locks them
// (engine.ActivateTopics, CompleteJob, FailJob, ThrowJobError, ExtendJobLock, LockJob,
// ReturnJob); starting instances, correlating messages and setting retries go through
// the command service (internal/command: audited, with the caller as actor); deployments
// are audited as the web UI's are. Variables travel in Camunda's typed form
// ({value, type, valueInfo}, variables.go) and keep their type through the store
// (engine.Typed).
package camunda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Prefix is where the API is served, as Camunda 7 serves it.
const Prefix = "/engine-rest"

// Bounds of a request.
const (
	// MaxBodyBytes bounds a JSON request body: the variables of one command are bounded
	// by engine.MaxVariablesBytes, and a File or Bytes value grows by a third in base64.
	MaxBodyBytes = 1 << 20
	// DefaultMaxWaiting is how many fetchAndLock requests may wait (long poll) at once
	// on a node by default; past it a request is answered at once with no tasks.
	DefaultMaxWaiting = 1024
	// maxResults bounds a list's page (Camunda's maxResults; absent: this many).
	maxResults = 1000
)

// Options configure New.
type Options struct {
	// Engine runs the external tasks and answers the queries.
	Engine *engine.Engine
	// Commands sends start, message and retry commands to the command service (this
	// node's, over NATS): they are audited there with the caller as actor.
	Commands *command.Client
	// Auth, when set (--auth local), lets in only requests with an API token of a user
	// whose role allows the endpoint: Authorization: Bearer ck_…, or HTTP Basic with the
	// token as password (the clients' BasicAuthInterceptor). Session cookies are not
	// taken: no browser page calls this API, so it cannot be a target of cross-site
	// requests.
	Auth *auth.Service
	// Actor names the caller in the audit log when Auth is nil (default "engine-rest").
	Actor  string
	Logger *slog.Logger
	// MaxWaiting bounds the fetchAndLock requests that wait at once (default
	// DefaultMaxWaiting).
	MaxWaiting int
}

// Server is the /engine-rest handler.
type Server struct {
	o   Options
	log *slog.Logger
	mux *http.ServeMux
	// waits is the context of the fetchAndLock long polls: Stop ends it, so that they
	// are answered (with the tasks found, none) and a server shutdown does not wait for
	// them.
	waits   context.Context
	stop    context.CancelFunc
	waiting chan struct{}
	once    sync.Once
	// locks are the locks this node's fetches handed out (externaltask.go).
	locks lockCache
}

// New returns the handler of the API. Mount it at Prefix; call Stop when the HTTP server
// shuts down.
func New(o Options) (*Server, error) {
	if o.Engine == nil || o.Commands == nil {
		return nil, errors.New("engine-rest: engine and command client are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Actor == "" {
		o.Actor = "engine-rest"
	}
	if o.MaxWaiting <= 0 {
		o.MaxWaiting = DefaultMaxWaiting
	}
	waits, stop := context.WithCancel(context.Background())
	s := &Server{o: o, log: o.Logger.With("component", "engine-rest"), mux: http.NewServeMux(), waits: waits, stop: stop,
		waiting: make(chan struct{}, o.MaxWaiting)}
	s.routes()
	return s, nil
}

// Stop ends the waiting fetchAndLock requests: each answers with what it has (no tasks).
func (s *Server) Stop() { s.once.Do(s.stop) }

// routes wires every endpoint (docs/camunda.md), each with the permission it needs.
func (s *Server) routes() {
	read, act := auth.Read, auth.Act
	handle := func(pattern string, p auth.Permission, h func(w http.ResponseWriter, r *http.Request) error) {
		method, path, _ := strings.Cut(pattern, " ")
		s.mux.Handle(method+" "+Prefix+path, s.endpoint(p, h))
	}
	// External tasks (externaltask.go).
	handle("POST /external-task/fetchAndLock", act, s.fetchAndLock)
	handle("POST /external-task/{id}/complete", act, s.completeTask)
	handle("POST /external-task/{id}/failure", act, s.failTask)
	handle("POST /external-task/{id}/bpmnError", act, s.bpmnError)
	handle("POST /external-task/{id}/extendLock", act, s.extendLock)
	handle("POST /external-task/{id}/lock", act, s.lockTask)
	handle("POST /external-task/{id}/unlock", act, s.unlockTask)
	handle("GET /external-task", read, s.listTasks)
	handle("POST /external-task", read, s.listTasks) // Camunda's query by body
	handle("GET /external-task/count", read, s.countTasks)
	handle("POST /external-task/count", read, s.countTasks)
	handle("GET /external-task/{id}", read, s.getTask)
	handle("GET /execution/{id}/localVariables/{name}/data", read, s.variableData)
	handle("GET /process-instance/{id}/variables/{name}/data", read, s.variableData)
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "RestException", fmt.Sprintf("no such endpoint: %s %s (docs/camunda.md lists the ones served)", r.Method, r.URL.Path))
	})
	s.moreRoutes(handle)
}

// ServeHTTP serves one request of the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// endpoint checks the caller and runs h; an error h returns is answered as Camunda
// answers it (fail).
func (s *Server) endpoint(p auth.Permission, h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.o.Auth != nil {
			id, err := s.identify(r)
			switch {
			case errors.Is(err, auth.ErrUnauthenticated):
				w.Header().Set("WWW-Authenticate", `Basic realm="cockpit engine-rest"`)
				writeError(w, http.StatusUnauthorized, "AuthenticationException",
					"send an API token: Authorization: Bearer ck_…, or HTTP Basic with the token as password")
				return
			case err != nil:
				s.log.Error("engine-rest: check credentials", "err", err)
				writeError(w, http.StatusInternalServerError, "RestException", "could not check the credentials")
				return
			case !id.Role.Can(p):
				writeError(w, http.StatusForbidden, "AuthorizationException",
					fmt.Sprintf("the role %s of %s may not do this: it needs %s", id.Role, id.Name, p.Role()))
				return
			}
			r = r.WithContext(auth.WithIdentity(r.Context(), id))
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// identify reads the API token of a request: a bearer token, or HTTP Basic's password.
func (s *Server) identify(r *http.Request) (*auth.Identity, error) {
	h := r.Header.Get("Authorization")
	if token, ok := auth.Bearer(h); ok {
		return s.o.Auth.Token(r.Context(), token)
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return s.o.Auth.Token(r.Context(), pw)
	}
	return nil, auth.ErrUnauthenticated
}

// actor names the caller for the audit log: the token's user, else Options.Actor.
func (s *Server) actor(r *http.Request) string {
	if id := auth.FromContext(r.Context()); id != nil && id.Name != "" {
		return id.Name
	}
	return s.o.Actor
}

// apiError is an answer other than 200: Camunda's error body {type, message, code}.
type apiError struct {
	status  int
	typ     string
	message string
}

func (e *apiError) Error() string { return e.message }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "InvalidRequestException", fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "RestException", fmt.Sprintf(format, args...)}
}

// fail answers err as Camunda would: an *apiError as it says; the engine's and the
// command service's errors by kind (400 for bad input and a state that does not allow
// it, 404 for what does not exist, 503 when the engine cannot answer now); anything else
// 500, logged, its message hidden.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var cerr *command.Error
	switch {
	case errors.As(err, &ae):
		writeError(w, ae.status, ae.typ, ae.message)
	case errors.As(err, &cerr):
		switch cerr.Code {
		case command.CodeNotFound:
			writeError(w, http.StatusNotFound, "RestException", cerr.Message)
		case command.CodeInvalidInput, command.CodeInvalidState:
			writeError(w, http.StatusBadRequest, "InvalidRequestException", cerr.Message)
		case command.CodeUnauthorized:
			writeError(w, http.StatusForbidden, "AuthorizationException", cerr.Message)
		case command.CodeUnavailable:
			writeError(w, http.StatusServiceUnavailable, "RestException", cerr.Message)
		default:
			s.log.Error("engine-rest", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "RestException", cerr.Message)
		}
	case errors.Is(err, engine.ErrNotFound):
		writeError(w, http.StatusNotFound, "RestException", err.Error())
	case errors.Is(err, engine.ErrInvalidInput), errors.Is(err, engine.ErrInvalidState):
		writeError(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict), errors.Is(err, engine.ErrStopped):
		writeError(w, http.StatusServiceUnavailable, "RestException", err.Error()+"; try again")
	case errors.Is(err, context.Canceled):
		// The client hung up.
	default:
		s.log.Error("engine-rest", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "RestException", "the request failed on the engine; see its log")
	}
}

// contentType is what every JSON answer carries, exactly: the JavaScript client compares
// the header with this string to decide whether to parse the body.
const contentType = "application/json"

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"type":"RestException","message":"answer not encodable","code":0}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away; nothing to do
}

// writeError writes Camunda's error body. code is Camunda's error code: 0, its generic
// one, for every error here.
func writeError(w http.ResponseWriter, status int, typ, message string) {
	writeJSON(w, status, map[string]any{"type": typ, "message": message, "code": 0})
}

// noContent is Camunda's answer to a command without a result.
func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// decode reads a JSON request body of at most MaxBodyBytes into v. Unknown fields are
// ignored, as Camunda ignores them (clients of newer versions send more); an empty body
// leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{http.StatusRequestEntityTooLarge, "InvalidRequestException",
				fmt.Sprintf("the request body is more than the limit of %d bytes", MaxBodyBytes)}
		}
		return badRequest("the request body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return badRequest("the request body is not the JSON expected: %v", err)
	}
	if d.More() {
		return badRequest("the request body has data after its JSON object")
	}
	return nil
}

// dateLayout is how Camunda writes dates: yyyy-MM-dd'T'HH:mm:ss.SSSZ.
const dateLayout = "2006-01-02T15:04:05.000-0700"

// formatDate writes t as Camunda does, in UTC (nil for the zero time).
func formatDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(dateLayout)
}

// parseDate reads a date as Camunda takes it (its own layout, or RFC 3339).
func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{dateLayout, "2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date as yyyy-MM-dd'T'HH:mm:ss.SSSZ", s)
}

// b64 is the base64 of Bytes and File values, as Camunda writes it.
var b64 = base64.StdEncoding
