// Package job is what a job handler sees and returns, the same for a handler in a Go
// service that embeds the engine (package flow) and for one in a worker that takes jobs
// over NATS (package worker): the Job, the Handler, typed handlers with JSON mapping
// (JSON), and BPMN errors (Throw).
package job

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Job is one attempt at a service task.
type Job struct {
	// Key is the job's id, stable across attempts and re-runs: make the work idempotent
	// on it (jobs run at least once).
	Key  string
	Type string
	// Attempt counts from 1; Retries is how many attempts are left, this one included.
	Attempt    int
	Retries    int
	InstanceID string
	ElementID  string
	ProcessKey string
	// Variables are the instance's variables when the job was taken (JSON values:
	// numbers are float64).
	Variables map[string]any
	// Headers are the task's static headers as the model sets them (zeebe:taskHeaders),
	// nil when it has none: configuration of the work that is not instance data.
	Headers map[string]string
	// Deadline is when the job's lock ends: the handler's context ends then (unless the
	// lock is extended), and the job may run again elsewhere.
	Deadline time.Time
}

// Handler does the work of a job. It returns the variables to set on completion, or an
// error: a BPMN error (Throw) goes to the task's boundary error events (an incident when
// none catches it); any other error is a failed attempt, retried after the task's
// backoff, and an incident when no retries are left. An error with a `Details() string`
// method gives the incident its details.
type Handler func(ctx context.Context, job *Job) (map[string]any, error)

// JSON adapts a typed handler: the instance's variables are decoded into In as one JSON
// object (struct field tags apply; variables In does not name are ignored), and Out,
// encoded as a JSON object, gives the variables to set (struct{} sets none). Variables
// that do not fit In, or an Out that is not an object, are a failed attempt naming it.
func JSON[In, Out any](h func(ctx context.Context, job *Job, in In) (Out, error)) Handler {
	return func(ctx context.Context, job *Job) (map[string]any, error) {
		var in In
		b, err := json.Marshal(job.Variables)
		if err != nil {
			return nil, fmt.Errorf("job %s: variables: %w", job.Type, err)
		}
		if err := json.Unmarshal(b, &in); err != nil {
			return nil, fmt.Errorf("job %s: variables do not fit %T: %w", job.Type, in, err)
		}
		out, err := h(ctx, job, in)
		if err != nil {
			return nil, err
		}
		if b, err = json.Marshal(out); err != nil {
			return nil, fmt.Errorf("job %s: result: %w", job.Type, err)
		}
		if bytes.Equal(b, []byte("null")) {
			return nil, nil
		}
		var vars map[string]any
		if err := json.Unmarshal(b, &vars); err != nil {
			return nil, fmt.Errorf("job %s: the result %T is not a JSON object: %w", job.Type, out, err)
		}
		return vars, nil
	}
}

// BPMNError is a business error a handler throws: a boundary error event with its Code
// catches it. Inspect one with errors.As.
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

// Throw returns a BPMN error for a handler to return.
func Throw(code, message string) error { return &BPMNError{Code: code, Message: message} }
