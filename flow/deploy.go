package flow

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Deployment is what Deploy stored.
type Deployment struct {
	Resource  string
	Processes []DeployedProcess
	// Warnings do not refuse the deployment; they say what will not go as the model
	// expects, e.g. a service task whose job type no handler serves.
	Warnings []Problem
}

// DeployedProcess is one executable process of a deployment.
type DeployedProcess struct {
	Key     string
	Version int
	// New is false when the same document was deployed before (no new version).
	New bool
}

// Problem is one finding of a deployment, located in the document where that is known
// (Line and Col are 1-based; 0 in models built in Go).
type Problem struct {
	Process   string // "" for the whole document
	ElementID string
	Kind      string
	Line, Col int
	Message   string
}

func (p Problem) String() string {
	where := p.ElementID
	if p.Line > 0 {
		where = fmt.Sprintf("%s (line %d, column %d)", p.ElementID, p.Line, p.Col)
	}
	if where == "" {
		return p.Message
	}
	return where + ": " + p.Message
}

// DeployError is the error of a refused deployment: every problem that refused it.
type DeployError struct {
	Resource string
	Problems []Problem
	err      error
}

func (e *DeployError) Error() string { return e.err.Error() }
func (e *DeployError) Unwrap() error { return e.err }

// Deploy stores the processes of a BPMN 2.0 document (Camunda Modeler, bpmn.io) as new
// versions, or refuses it with a *DeployError naming every problem. The same bytes
// deployed again make no new version.
func (e *Engine) Deploy(ctx context.Context, name string, xml []byte) (*Deployment, error) {
	return deployment(e.e.Deploy(ctx, name, xml))
}

// DeployFile deploys the BPMN document at path, under its base name.
func (e *Engine) DeployFile(ctx context.Context, path string) (*Deployment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", path, err)
	}
	return e.Deploy(ctx, filepath.Base(path), b)
}

// DeployFS deploys the BPMN document name of fsys (an embed.FS, say).
func (e *Engine) DeployFS(ctx context.Context, fsys fs.FS, name string) (*Deployment, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", name, err)
	}
	return e.Deploy(ctx, name, b)
}

// DeployModel deploys a process written in Go with Build; it is stored as its BPMN
// document (with a laid-out diagram), as a file would be.
func (e *Engine) DeployModel(ctx context.Context, m *Builder) (*Deployment, error) {
	defs, err := m.Definitions()
	if err != nil {
		return nil, &DeployError{err: fmt.Errorf("deploy model: %w: %w", ErrInvalidInput, err)}
	}
	name := "model.bpmn"
	if len(defs.Processes) > 0 {
		name = defs.Processes[0].ID + ".bpmn"
	}
	return deployment(e.e.DeployModel(ctx, name, defs))
}

func deployment(d *engine.Deployment, err error) (*Deployment, error) {
	var derr *engine.DeployError
	if errors.As(err, &derr) {
		return nil, &DeployError{Resource: derr.Resource, Problems: problems(derr.Problems()), err: err}
	}
	if err != nil {
		return nil, err
	}
	out := &Deployment{Resource: d.Resource, Warnings: problems(d.Warnings)}
	for _, p := range d.Processes {
		out.Processes = append(out.Processes, DeployedProcess{Key: p.Definition.Key, Version: p.Definition.Version, New: p.Created})
	}
	return out, nil
}

func problems(ps []engine.Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		out = append(out, Problem{Process: p.Process, ElementID: p.ElementID, Kind: string(p.Kind), Line: p.Line, Col: p.Col,
			Message: p.Message})
	}
	return out
}

// Building processes in Go.

// Builder writes an executable process in Go. Each method adds a node, connects it from
// the current one and makes it current; Condition, Default and Branch open branches of a
// gateway, MoveTo and Connect draw the rest. Mistakes are returned by DeployModel.
//
//	flow.Build("order", flow.Name("Order")).
//		Start("start").
//		ServiceTask("charge", flow.JobType("payment.charge"), flow.Retries(5)).
//		ExclusiveGateway("paid").
//		Condition("paid == true").End("done").
//		Default().End("failed", flow.ErrorEnd("NOT_PAID"))
//
// EventSubProcess adds an event subprocess to the process or a subprocess: started while
// its scope runs by a message (MessageStart), a timer (TimerStartAt), a signal
// (SignalStart), a condition (ConditionalStart), or an error or escalation thrown inside
// (ErrorStart, EscalationStart), interrupting it unless NonInterrupting is given. In an
// event subprocess of a subprocess, CompensationStart makes it the subprocess's
// compensation handler. At process level, ConditionalStart starts an instance when
// EvaluateStartConditions finds its condition true.
type Builder = bpmn.Builder

// Option configures a process or node of a Builder.
type Option = bpmn.Option

// TimerSpec is when a timer fires: Duration, Date or Cycle.
type TimerSpec = bpmn.TimerSpec

// Build starts a process with the given id (its key) for DeployModel.
func Build(processKey string, opts ...Option) *Builder { return bpmn.Build(processKey, opts...) }

// Name names a process or a node.
func Name(name string) Option { return bpmn.Name(name) }

// JobType sets a service task's job type: the handler (Handle) or worker that runs it.
func JobType(jobType string) Option { return bpmn.JobType(jobType) }

// TaskHeader adds a static header to a service task: every job of the task carries it to
// its handler (Job.Headers) or worker, as Camunda 8's zeebe:taskHeaders do.
func TaskHeader(key, value string) Option { return bpmn.TaskHeader(key, value) }

// Retries sets how many attempts a service task's job gets.
func Retries(n int) Option { return bpmn.Retries(n) }

// Backoff sets a service task's retry delays (ISO 8601, e.g. "PT10S" or "PT5S,PT1M").
func Backoff(policy string) Option { return bpmn.Backoff(policy) }

// Assignee sets a user task's assignee (an expression or a name).
func Assignee(a string) Option { return bpmn.Assignee(a) }

// CandidateGroups sets a user task's candidate groups.
func CandidateGroups(groups ...string) Option { return bpmn.CandidateGroups(groups...) }

// Input maps the expression source to the variable target, local to the activity: its
// handler, its children and its output mappings see it; the process does not keep it.
func Input(target, source string) Option { return bpmn.Input(target, source) }

// Output maps the expression source (over the activity's locals and a task's result) to
// the variable target, in the scope around the activity.
func Output(target, source string) Option { return bpmn.Output(target, source) }

// Script sets a script task's expression; ResultVariable names where its value goes.
func Script(expr string) Option { return bpmn.Script(expr) }

// ResultVariable names the variable a script task's value is stored in.
func ResultVariable(name string) Option { return bpmn.ResultVariable(name) }

// ErrorEnd makes an end event throw the BPMN error code.
func ErrorEnd(code string) Option { return bpmn.ErrorEnd(code) }

// SignalEnd makes an end event broadcast the signal named name.
func SignalEnd(name string) Option { return bpmn.SignalEnd(name) }

// EscalationEnd makes an end event throw the escalation with the given code.
func EscalationEnd(code string) Option { return bpmn.EscalationEnd(code) }

// Terminate makes an end event end the whole instance.
func Terminate() Option { return bpmn.Terminate() }

// CompensationEnd makes an end event compensate activity ("" every completed activity of
// its scope, latest completion first) before it ends. Attach the handlers with
// Builder.CompensatedBy; Builder.CompensationThrow throws compensation mid-path.
func CompensationEnd(activity string) Option { return bpmn.CompensationEnd(activity) }

// NonInterrupting makes a boundary event (timer, message, signal, escalation,
// conditional) leave its activity running, and the start event of an event subprocess
// run it beside the rest of its scope (again at each trigger).
func NonInterrupting() Option { return bpmn.NonInterrupting() }

// CorrelationKey sets the correlation key of the message start of an event subprocess:
// it takes only the messages whose key equals the value of expr on its instance.
func CorrelationKey(expr string) Option { return bpmn.CorrelationKey(expr) }

// VersionTag sets a process's version tag, which call activities bound by CallVersionTag
// look for.
func VersionTag(tag string) Option { return bpmn.VersionTag(tag) }

// CallVersion makes a call activity start version n of its process (not the latest).
func CallVersion(n int) Option { return bpmn.CallVersion(n) }

// CallVersionTag makes a call activity start the newest version with the version tag.
func CallVersionTag(tag string) Option { return bpmn.CallVersionTag(tag) }

// CallDeployment makes a call activity start the version deployed with the caller.
func CallDeployment() Option { return bpmn.CallDeployment() }

// CallInAll passes every variable of the calling instance to the called one.
func CallInAll() Option { return bpmn.CallInAll() }

// CallOutAll passes every variable of the called instance back when it completes.
func CallOutAll() Option { return bpmn.CallOutAll() }

// CallIn sets the called instance's variable target to the value of the expression
// source, evaluated on the calling instance.
func CallIn(target, source string) Option { return bpmn.CallIn(target, source) }

// CallOut sets the calling instance's variable target, when the called instance
// completes, to the value of the expression source evaluated on the called instance.
func CallOut(target, source string) Option { return bpmn.CallOut(target, source) }

// CallBusinessKey gives the called instance the value of the expression as business key
// ("execution.processBusinessKey": the caller's).
func CallBusinessKey(expr string) Option { return bpmn.CallBusinessKey(expr) }

// Duration is a timer that fires after an ISO 8601 duration ("PT1H") or expression.
func Duration(d string) TimerSpec { return bpmn.Duration(d) }

// Date is a timer that fires at an ISO 8601 date-time or expression.
func Date(t string) TimerSpec { return bpmn.Date(t) }

// Cycle is a timer that repeats ("R3/PT10M", or a cron expression).
func Cycle(c string) TimerSpec { return bpmn.Cycle(c) }

// MessageEnd makes an end event send the message named name as a job of jobType (the
// handler or worker sends it) before its token ends.
func MessageEnd(name, jobType string) Option { return bpmn.MessageEnd(name, jobType) }

// LoopSpec configures a multi-instance activity (a collection and element variable, or a
// cardinality; a completion condition; an output collection) or a standard loop (a loop
// condition, testBefore, a maximum). Expressions are the engine's expression language.
// Each instance sees loopCounter (from 0) and the element variable as its own
// variables, the body nrOfInstances, nrOfActiveInstances and nrOfCompletedInstances; at
// most 1,000 instances or runs.
type LoopSpec = bpmn.LoopSpec

// ParallelMultiInstance runs an activity once per item of the collection (or
// cardinality times), all at once.
func ParallelMultiInstance(spec LoopSpec) Option { return bpmn.ParallelMultiInstance(spec) }

// SequentialMultiInstance runs an activity once per item of the collection (or
// cardinality times), one after the other.
func SequentialMultiInstance(spec LoopSpec) Option { return bpmn.SequentialMultiInstance(spec) }

// StandardLoop runs an activity again while the loop condition holds.
func StandardLoop(spec LoopSpec) Option { return bpmn.StandardLoop(spec) }
