// Package wire is the job worker protocol's vocabulary (docs/workers.md): subjects, verbs,
// error codes and the activated job, shared by the engine's side (internal/workers) and
// the Go worker client (package worker), so the two cannot drift apart. It imports
// nothing of the engine.
package wire

import "time"

// Verbs: the last token of a request's subject.
const (
	VerbActivate = "activate"
	VerbComplete = "complete"
	VerbFail     = "fail"
	VerbError    = "error"
	VerbExtend   = "extend"
	VerbReturn   = "return"
)

// Subject returns the subject a verb is served on: <prefix>.jobs.<verb>.
func Subject(prefix, verb string) string { return prefix + ".jobs." + verb }

// Error codes of a reply's "error".
const (
	CodeInvalidInput = "invalid_input" // the request breaks a rule; the message names it
	CodeLockLost     = "lock_lost"     // the worker no longer holds the job's lock for this attempt
	CodeBusy         = "busy"          // the node's waiting activations are at their maximum; ask again
	CodeUnavailable  = "unavailable"   // the store or the engine cannot answer now; ask again
	CodeInternal     = "internal"
	// CodeUnauthorized: the engines take only requests with an API token (cockpit serve
	// --auth local) and this one has none, or one they refuse.
	CodeUnauthorized = "unauthorized"
)

// Error is a refused request's "error".
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Job is a job as the activation reply carries it.
type Job struct {
	Key        string         `json:"key"`
	Type       string         `json:"type"`
	InstanceID string         `json:"instanceId"`
	ElementID  string         `json:"elementId"`
	ProcessKey string         `json:"processKey"`
	Attempt    int            `json:"attempt"`
	Retries    int            `json:"retries"`
	Deadline   time.Time      `json:"deadline"`
	Variables  map[string]any `json:"variables"`
	// Headers are the task's static headers (zeebe:taskHeaders); absent when it has none.
	Headers map[string]string `json:"headers,omitempty"`
}
