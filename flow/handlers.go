package flow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

// Job is one attempt at a service task, as a handler gets it.
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
	// Deadline is when the job's lock ends (the handler's context ends then too).
	Deadline time.Time
}

// Handler does the work of a job. It returns the variables to set on completion, or an
// error: an error from Throw is a BPMN error (caught by the task's boundary error events,
// else an incident); any other error is a failed attempt, retried after the task's
// backoff, and an incident when no retries are left. An error with a `Details() string`
// method gives the incident its details.
type Handler func(ctx context.Context, job *Job) (map[string]any, error)

// Handle registers the handler of a job type (the service task's zeebe:taskDefinition
// type, camunda:topic or cockpit:type). A later call replaces it.
func (e *Engine) Handle(jobType string, h Handler) {
	e.e.Handle(jobType, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
		return h(ctx, &Job{Key: j.Key, Type: j.Type, Attempt: j.Attempt, Retries: j.Retries, InstanceID: j.InstanceID,
			ElementID: j.ElementID, ProcessKey: j.DefinitionKey, Variables: j.Variables, Deadline: j.Deadline})
	})
}

// HandleJSON registers a typed handler: the instance's variables are decoded into In as
// one JSON object (struct field tags apply; variables In does not name are ignored), and
// Out, encoded as a JSON object, gives the variables to set (struct{} sets none). A
// variable that does not fit In is a failed attempt naming it.
func HandleJSON[In, Out any](e *Engine, jobType string, h func(ctx context.Context, job *Job, in In) (Out, error)) {
	e.Handle(jobType, func(ctx context.Context, job *Job) (map[string]any, error) {
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
		return resultVariables(job.Type, out)
	})
}

// resultVariables encodes a typed handler's result as the variables to set.
func resultVariables(jobType string, out any) (map[string]any, error) {
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("job %s: result: %w", jobType, err)
	}
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	var vars map[string]any
	if err := json.Unmarshal(b, &vars); err != nil {
		return nil, fmt.Errorf("job %s: the result %T is not a JSON object: %w", jobType, out, err)
	}
	return vars, nil
}

// BPMNError is a business error a handler throws (see Throw).
type BPMNError = engine.BPMNError

// Throw returns a BPMN error with the code a boundary error event catches: returned by a
// handler, the token leaves by that event (an incident when none catches it).
func Throw(code, message string) error { return &BPMNError{Code: code, Message: message} }
