package engine

import (
	"errors"
	"fmt"
	"github.com/cockpit-engine/cockpit/job"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
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
// incident. Create one with ThrowError and inspect it with errors.As. It is the public
// job.BPMNError, so handlers written against package job (flow, worker) throw it.
type BPMNError = job.BPMNError

// ThrowError returns a BPMNError for a handler to return.
func ThrowError(code, message string) error { return &BPMNError{Code: code, Message: message} }

// DeployError says why a deployment failed. Err is a *bpmn.ParseError when the document
// cannot be imported, a *bpmn.CheckError (every unsupported element and problem, compile
// problems included, each with element id, kind, line and column) when a process cannot
// run, or another error; inspect it with errors.As, or take Problems.
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

// Problem is one finding of a deployment, located in the document where that is known:
// a reason Deploy refused it (DeployError.Problems) or a warning that did not stop it
// (Deployment.Warnings). Show its fields; nothing needs to read its Message back.
type Problem struct {
	// Process is the id of the process the element belongs to; "" for a problem of the
	// whole document (it cannot be parsed, no process is executable).
	Process string
	// Finding is the element (id, kind), where it starts in the document (Line and Col,
	// 1-based; 0 when unknown, as in models built in Go) and what is wrong with it.
	bpmn.Finding
}

// Problems lists why the deployment was refused: the parse error with its line and
// column, or every unsupported element ("cannot be executed: …") and problem of the
// executable processes, or else one problem of the whole document with its message
// (no executable process). Nil when the deployment failed for no reason in the document
// (DeployModel could not write the model).
func (e *DeployError) Problems() []Problem {
	var perr *bpmn.ParseError
	var cerr *bpmn.CheckError
	var derr *documentError
	switch {
	case errors.As(e.Err, &perr):
		return []Problem{{Finding: bpmn.Finding{Line: perr.Line, Col: perr.Col, Message: perr.Msg}}}
	case errors.As(e.Err, &cerr):
		var out []Problem
		for _, pr := range cerr.Processes {
			for _, f := range pr.Unsupported {
				f.Message = "cannot be executed: " + f.Message
				out = append(out, Problem{Process: pr.ID, Finding: f})
			}
			for _, f := range pr.Problems {
				out = append(out, Problem{Process: pr.ID, Finding: f})
			}
		}
		return out
	case errors.As(e.Err, &derr):
		return []Problem{{Finding: bpmn.Finding{Message: derr.msg}}}
	}
	return nil
}

// documentError refuses a whole document rather than one of its elements. Its message
// (without the sentinels it wraps) is the Problem that DeployError.Problems reports.
type documentError struct {
	msg  string
	errs []error // wrapped: ErrInvalidInput, and what else callers may match
}

func (e *documentError) Error() string {
	msg := e.msg
	for _, err := range e.errs {
		msg += ": " + err.Error()
	}
	return msg
}

func (e *documentError) Unwrap() []error { return e.errs }

// detailer lets handler errors carry details (a stack, a response body) for the incident.
type detailer interface{ Details() string }
