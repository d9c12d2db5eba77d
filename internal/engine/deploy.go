package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/schedule"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Deployment is the result of deploying one BPMN document.
type Deployment struct {
	Resource  string
	Processes []DeployedProcess
	// Report says, per process, what will execute and what will not.
	Report *bpmn.Report
	// Warnings do not refuse the deployment: they say what will not go as the model
	// expects (a service task whose job type nobody serves, see Engine.Serves).
	Warnings []Problem
}

// DeployedProcess is one executable process of a deployment.
type DeployedProcess struct {
	Definition *store.Definition
	// Created is false when the same bytes were deployed before (no new version).
	Created bool
}

// Validation is what Validate found in a document: the verdict on every process, with
// every problem that makes Deploy refuse the document.
type Validation struct {
	Definitions *bpmn.Definitions
	// Report is bpmn.Check's report, with the problems found when compiling each
	// executable process (expressions, timers, retry policies) added to its Problems.
	Report *bpmn.Report
	// executable lists the processes marked isExecutable="true"; plans holds their
	// compiled plans by process id when the report has no problems.
	executable []*bpmn.Process
	plans      map[string]*plan
}

// Err returns the error Deploy fails with for the document, wrapping ErrInvalidInput, or
// nil when Deploy would deploy it: a *bpmn.CheckError listing every unsupported element
// and problem of the executable processes, or a document without executable process.
func (v *Validation) Err() error {
	if err := v.Report.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if len(v.executable) == 0 {
		return &documentError{msg: `no executable process (isExecutable="true")`, errs: []error{ErrInvalidInput}}
	}
	return nil
}

// Validate checks a BPMN document exactly as Deploy does, without deploying it: the
// import limits, bpmn.Check, and the compilation of each executable process. It fails
// only when the document cannot be imported (too large, not well-formed, not BPMN; the
// error wraps ErrInvalidInput and, but for the size, a *bpmn.ParseError); everything
// else is in the Validation, and Validation.Err is the error Deploy would return.
// `cockpit validate` and Deploy both use it, so neither accepts what the other refuses.
func Validate(data []byte) (*Validation, error) {
	return validate(data, &Options{})
}

func validate(data []byte, o *Options) (*Validation, error) {
	if len(data) > bpmn.MaxDocumentBytes {
		return nil, &documentError{msg: fmt.Sprintf("document is %d bytes, more than the limit of %d (bpmn.MaxDocumentBytes)",
			len(data), bpmn.MaxDocumentBytes), errs: []error{ErrInvalidInput, bpmn.ErrTooLarge}}
	}
	defs, err := bpmn.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	v := &Validation{Definitions: defs, Report: bpmn.Check(defs), plans: map[string]*plan{}}
	for i, p := range defs.Processes {
		if !p.IsExecutable {
			continue
		}
		v.executable = append(v.executable, p)
		// Compile what Check accepts: the compiler's own checks of structure would only
		// repeat Check's findings in other words.
		pr := &v.Report.Processes[i]
		if !pr.OK() {
			continue
		}
		pl, problems := compileProcess(&store.Definition{Key: p.ID}, defs, p, o)
		addCompileProblems(pr, problems)
		if len(problems) == 0 {
			v.plans[p.ID] = pl
		}
	}
	return v, nil
}

// addCompileProblems adds what compiling a process found to its report. An element that
// Check listed as executing but that cannot compile (a script or mapping that does not
// parse, a timer that cannot run) is moved to Unsupported with the reason, so that the
// report never says an element executes when the deployment refuses it; the other
// findings (flows, the process) are Problems.
func addCompileProblems(pr *bpmn.ProcessReport, problems []bpmn.Finding) {
	for _, f := range problems {
		i := -1
		if f.ElementID != "" {
			i = slices.IndexFunc(pr.Executes, func(x bpmn.Finding) bool { return x.ElementID == f.ElementID })
		}
		if i < 0 {
			if j := slices.IndexFunc(pr.Unsupported, func(x bpmn.Finding) bool { return x.ElementID == f.ElementID && f.ElementID != "" }); j >= 0 {
				pr.Unsupported[j].Message += "; " + f.Message
				continue
			}
			pr.Problems = append(pr.Problems, f)
			continue
		}
		pr.Executes = slices.Delete(pr.Executes, i, i+1)
		pr.Unsupported = append(pr.Unsupported, f)
	}
}

// Deploy imports a BPMN document and deploys each executable process in it as a new
// version, unless the latest version has the same bytes. Nothing is stored when any
// executable process cannot run: the error is a *DeployError wrapping the error of
// Validation.Err (see Validate), which lists every problem. Descriptive processes
// (isExecutable="false") are kept in the document, not deployed.
func (e *Engine) Deploy(ctx context.Context, resource string, data []byte) (*Deployment, error) {
	// Compile before writing, so a bad expression stores nothing. The plans are kept and
	// get their definition row once it is written.
	v, err := validate(data, &e.opts)
	if err != nil {
		return nil, &DeployError{Resource: resource, Err: err}
	}
	if err := v.Err(); err != nil {
		return nil, &DeployError{Resource: resource, Err: err}
	}
	procs, compiled, report := v.executable, v.plans, v.Report
	sum := sha256.Sum256(data)
	checksum := hex.EncodeToString(sum[:])
	dep := &Deployment{Resource: resource, Report: report, Warnings: e.jobTypeWarnings(procs, compiled)}
	var plans []*plan
	err = e.exec(ctx, func(b *batch) (bool, error) {
		tx := b.tx
		dep.Processes, plans = nil, nil
		wake := false
		now := e.clock.Now()
		for _, p := range procs {
			latest, err := tx.LatestDefinition(ctx, p.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if latest != nil && latest.Checksum == checksum {
				dep.Processes = append(dep.Processes, DeployedProcess{Definition: latest})
				continue
			}
			def := &store.Definition{
				ID: newID(), Key: p.ID, Version: 1, Name: p.Name, Checksum: checksum,
				Resource: resource, XML: data, DeployedAt: now, VersionTag: p.VersionTag(),
			}
			if latest != nil {
				def.Version = latest.Version + 1
			}
			if err := tx.InsertDefinition(ctx, def); errors.Is(err, store.ErrDuplicate) {
				// Another node deployed this version since we read the latest: run
				// again on fresh state, as the next version.
				return false, fmt.Errorf("insert definition %q: version %d was deployed meanwhile: %w", p.ID, def.Version, store.ErrConflict)
			} else if err != nil {
				return false, fmt.Errorf("insert definition %q: %w", p.ID, err)
			}
			// A copy: a retried command must not see the plan of its failed attempt.
			pl := *compiled[p.ID]
			pl.def = def
			plans = append(plans, &pl)
			// The newest version owns the start timers and message start subscriptions.
			if err := tx.DeleteStartJobs(ctx, p.ID); err != nil {
				return false, err
			}
			if err := tx.DeleteStartSubscriptions(ctx, p.ID); err != nil {
				return false, err
			}
			for _, n := range pl.timerStarts {
				spec, err := schedule.ParseTimer(n.timerKind, strings.TrimSpace(n.timerText))
				if err != nil {
					return false, fmt.Errorf("timer start %q: %w", n.el.ID, err)
				}
				due, ok := spec.First(now)
				if !ok {
					continue
				}
				j := &store.Job{
					ID: newID(), Kind: store.JobTimerStart, Type: n.el.ID, ElementID: n.el.ID,
					DefinitionID: def.ID, DefinitionKey: def.Key, Retries: 1, DueAt: due, CreatedAt: now,
				}
				if n.timerKind == "cycle" {
					j.Repeat = spec.String()
				}
				if err := tx.PutJob(ctx, j); err != nil {
					return false, err
				}
				wake = true // due now, or the executor learns its next deadline
			}
			for _, n := range pl.messageStarts {
				s := &store.Subscription{
					ID: newID(), ElementID: n.el.ID, DefinitionID: def.ID, DefinitionKey: def.Key,
					MessageName: n.messageName, CreatedAt: now,
				}
				if err := tx.PutSubscription(ctx, s); err != nil {
					return false, err
				}
			}
			for _, n := range pl.condStartsTop {
				s := &store.Subscription{
					ID: newID(), Kind: store.SubConditional, ElementID: n.el.ID, DefinitionID: def.ID, DefinitionKey: def.Key,
					CreatedAt: now,
				}
				if err := tx.PutSubscription(ctx, s); err != nil {
					return false, err
				}
			}
			for _, n := range pl.signalStarts {
				s := &store.Subscription{
					ID: newID(), Kind: store.SubSignal, ElementID: n.el.ID, DefinitionID: def.ID, DefinitionKey: def.Key,
					MessageName: n.signalName, CreatedAt: now,
				}
				if err := tx.PutSubscription(ctx, s); err != nil {
					return false, err
				}
			}
			dep.Processes = append(dep.Processes, DeployedProcess{Definition: def, Created: true})
		}
		return wake, nil
	})
	if err != nil {
		return nil, fmt.Errorf("deploy %q: %w", resource, err)
	}
	e.mu.Lock()
	for _, pl := range plans {
		e.plans[pl.def.ID] = pl
		e.rememberLatest(pl)
	}
	e.mu.Unlock()
	var created []*store.Definition
	for _, p := range dep.Processes {
		if p.Created {
			e.log.Info("deployed", "process", p.Definition.Key, "version", p.Definition.Version, "resource", resource)
			created = append(created, p.Definition)
		}
	}
	if len(created) > 0 && e.opts.OnDeploy != nil {
		e.opts.OnDeploy(created)
	}
	for _, w := range dep.Warnings {
		e.log.Warn("deploy warning", "resource", resource, "process", w.Process, "element", w.ElementID,
			"kind", w.Kind, "line", w.Line, "warning", w.Message)
	}
	return dep, nil
}

// DeployModel deploys a model built in Go (or changed after import).
func (e *Engine) DeployModel(ctx context.Context, resource string, defs *bpmn.Definitions) (*Deployment, error) {
	data, err := bpmn.Marshal(defs)
	if err != nil {
		return nil, &DeployError{Resource: resource, Err: err}
	}
	return e.Deploy(ctx, resource, data)
}

// Model returns the parsed model of a deployed definition.
func (e *Engine) Model(ctx context.Context, definitionID string) (*bpmn.Definitions, error) {
	var p *plan
	err := e.store.Read(ctx, func(tx store.Tx) error {
		var err error
		p, err = e.planFor(ctx, tx, definitionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return p.defs, nil
}
