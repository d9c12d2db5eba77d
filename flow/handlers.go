package flow

import (
	"context"

	"github.com/cockpit-engine/cockpit/job"
)

// Job is one attempt at a service task, as a handler gets it.
type Job = job.Job

// Handler does the work of a job (see job.Handler).
type Handler = job.Handler

// Handle registers the handler of a job type (the service task's zeebe:taskDefinition
// type, camunda:topic or cockpit:type). A later call replaces it.
func (e *Engine) Handle(jobType string, h Handler) {
	e.e.Handle(jobType, h)
}

// HandleJSON registers a typed handler: the instance's variables are decoded into In,
// and Out gives the variables to set (see job.JSON).
func HandleJSON[In, Out any](e *Engine, jobType string, h func(ctx context.Context, job *Job, in In) (Out, error)) {
	e.Handle(jobType, job.JSON(h))
}

// BPMNError is a business error a handler throws (see Throw).
type BPMNError = job.BPMNError

// Throw returns a BPMN error with the code a boundary error event catches: returned by a
// handler, the token leaves by that event (an incident when none catches it).
func Throw(code, message string) error { return job.Throw(code, message) }
