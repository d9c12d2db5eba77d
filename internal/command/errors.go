package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Code classifies a failed command. It is the "code" of an error reply and of *Error.
type Code string

// Error codes.
const (
	// CodeNotFound: the instance, incident, task, process or message target does not exist.
	CodeNotFound Code = "not_found"
	// CodeInvalidState: the command does not fit the current state (cancel an ended
	// instance, retry a resolved incident, resume an active instance).
	CodeInvalidState Code = "invalid_state"
	// CodeInvalidInput: the request is malformed, too large, misses a field or carries a
	// value the engine refuses.
	CodeInvalidInput Code = "invalid_input"
	// CodeUnauthorized: the request carries no actor, or Options.Authorize refused it.
	CodeUnauthorized Code = "unauthorized"
	// CodeUnavailable: the command was not carried out because the service or engine is
	// stopping, no service answered, the store could not be reached or timed out
	// (store.ErrUnavailable), or the instance kept changing under the command
	// (store.ErrConflict after the engine's own retries); it is safe to send again.
	CodeUnavailable Code = "unavailable"
	// CodeInternal: anything else; the reply names the request id to look up in the log.
	CodeInternal Code = "internal"
)

// status is the numeric code put into the Nats-Service-Error-Code header, following the
// HTTP-like convention that `nats micro` tools and other micro clients expect.
func (c Code) status() string {
	switch c {
	case CodeNotFound:
		return "404"
	case CodeInvalidState:
		return "409"
	case CodeInvalidInput:
		return "400"
	case CodeUnauthorized:
		return "401"
	case CodeUnavailable:
		return "503"
	}
	return "500"
}

// Error is a failed command as the Client returns it. Inspect it with errors.As:
//
//	var cerr *command.Error
//	if errors.As(err, &cerr) && cerr.Code == command.CodeNotFound { ... }
//
// errors.Is(err, engine.ErrNotFound) (and ErrInvalidState, ErrInvalidInput) also hold
// for the matching codes, so code written against the engine API keeps working.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Service names the service a scoped client (Client.ForService) found not answering;
	// it is never sent (ErrServiceNotAnswering).
	Service string `json:"-"`
	// notSent is why a Client request never reached a command service (ErrNATSUnavailable,
	// ErrNoService), for errors.Is; nil otherwise.
	notSent error
}

// Client errors with code unavailable for a request that was never sent, so nothing was
// changed. Match them with errors.Is.
var (
	// ErrNATSUnavailable: the client's NATS connection is down (reconnecting with a full
	// reconnect buffer, closed or draining).
	ErrNATSUnavailable = errors.New("NATS is unavailable")
	// ErrNoService: NATS answered that no command service listens (no engine node runs).
	ErrNoService = errors.New("no command service")
	// ErrServiceNotAnswering: a client for one service (Client.ForService) found no node
	// of that service listening: the service is down, or runs without a command service.
	// The *Error's Service names it. errors.Is(err, ErrNoService) holds too.
	ErrServiceNotAnswering = errors.New("service is not answering")
)

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is lets errors.Is match an *Error against the engine's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case engine.ErrNotFound:
		return e.Code == CodeNotFound
	case engine.ErrInvalidState:
		return e.Code == CodeInvalidState
	case engine.ErrInvalidInput:
		return e.Code == CodeInvalidInput
	case ErrNoService:
		return e.notSent == ErrNoService || e.notSent == ErrServiceNotAnswering
	case ErrNATSUnavailable, ErrServiceNotAnswering, ErrNotRouted:
		return e.notSent == target
	}
	return false
}

// errorf builds an *Error.
func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// codeOf classifies an error returned by the engine (or by this package).
func codeOf(err error) Code {
	var cerr *Error
	var derr *engine.DeployError
	switch {
	case errors.As(err, &cerr):
		return cerr.Code
	case errors.As(err, &derr):
		return CodeInvalidInput
	case errors.Is(err, engine.ErrNotFound):
		return CodeNotFound
	case errors.Is(err, engine.ErrInvalidState):
		return CodeInvalidState
	case errors.Is(err, engine.ErrInvalidInput):
		return CodeInvalidInput
	case errors.Is(err, engine.ErrStopped), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrConflict):
		return CodeUnavailable
	}
	return CodeInternal
}
