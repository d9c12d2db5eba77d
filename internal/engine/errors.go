package engine

import (
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ErrNotFound is returned (wrapped) when a definition, instance, job, task or incident
// does not exist. It is store.ErrNotFound, so either can be used with errors.Is.
var ErrNotFound = store.ErrNotFound

// ErrInvalidState is returned (wrapped) when an operation does not fit the current state,
// e.g. completing a task of an ended instance or resuming an active instance.
var ErrInvalidState = errors.New("invalid state")

// ErrInvalidInput is returned (wrapped) for bad arguments: an empty process key, a
// variable value that cannot be stored, a form value of the wrong type.
var ErrInvalidInput = errors.New("invalid input")

// ErrStopped is returned by commands submitted after Stop.
var ErrStopped = errors.New("engine stopped")

// ErrLostLock is returned when a job is completed by a worker whose lock expired and was
// taken by another worker; the other worker's result counts.
var ErrLostLock = errors.New("job lock lost")

// BPMNError is a business error thrown by a job handler (or an error end event). A
// boundary error event whose error code matches catches it; otherwise it becomes an
// incident. Create one with ThrowError and inspect it with errors.As.
type BPMNError struct {
	Code    string
	Message string
}

func (e *BPMNError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("bpmn error %q", e.Code)
	}
	return fmt.Sprintf("bpmn error %q: %s", e.Code, e.Message)
}

// ThrowError returns a BPMNError for a handler to return.
func ThrowError(code, message string) error { return &BPMNError{Code: code, Message: message} }

// DeployError says why a deployment failed. Err is a *bpmn.ParseError when the document
// cannot be imported, a *bpmn.CheckError (every unsupported element and problem, compile
// problems included, each with element id, kind and line) when a process cannot run, or
// another error; inspect it with errors.As.
type DeployError struct {
	Resource string
	Err      error
}

func (e *DeployError) Error() string {
	msg := fmt.Sprintf("deploy %q", e.Resource)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *DeployError) Unwrap() error { return e.Err }

// detailer lets handler errors carry details (a stack, a response body) for the incident.
type detailer interface{ Details() string }
