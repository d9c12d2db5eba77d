package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Router is the command client of an observing cockpit: its store is a read model of
// several services (internal/observer), so a command cannot go to "the" engine. The
// Router finds the service that owns a command's target in the read model — the
// instance's definition names it; an incident or a user task leads to its instance; a
// start to the one service that deploys the process — and sends the command to that
// service's command services (Client.ForService). The owning service checks, runs and
// audits the command as it does its own cockpit's, under the actor sent; the read model
// learns the outcome from the service's events, as it learns everything else.
//
// A message goes to the one service whose instances wait for it. A start, a message
// or a signal that names its service (the request's Service: the cockpit's form asks
// when the read model holds several) goes there. Commands without one owner (bulk
// operations, the incident queue, stall thresholds, a signal or a message that names no
// service and that nothing or several services wait for) are refused with code
// unavailable and ErrNotRouted, unsent: nothing is half done.
type Router struct {
	client *Client
	st     store.Store
}

// ErrNotRouted: an observing cockpit's Router has no one service to send the command
// to (a command not about one instance, or a target the read model does not place).
var ErrNotRouted = errors.New("command not routed to a service")

// NewRouter returns a Router that looks owners up in st (the read model) and sends
// through client (its prefix and timeouts; each command goes to
// client.ForService(owner)).
func NewRouter(client *Client, st store.Store) *Router {
	return &Router{client: client, st: st}
}

// read reads one row of the read model.
func read[T any](ctx context.Context, st store.Store, get func(store.Tx) (T, error)) (T, error) {
	var out T
	err := st.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = get(tx)
		return err
	})
	return out, err
}

// notRouted refuses a command an observing cockpit cannot send to one service.
func notRouted(format string, args ...any) *Error {
	return &Error{Code: CodeUnavailable, notSent: ErrNotRouted, Message: fmt.Sprintf(format, args...)}
}

// lookupErr turns a read-model lookup failure into a command error.
func lookupErr(what, id string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(CodeNotFound, "%s %q is not in this cockpit's read model", what, id)
	}
	return fmt.Errorf("find the service of %s %q: %w", what, id, err)
}

// definitionService names the service that deployed a definition.
func (r *Router) definitionService(ctx context.Context, id string) (string, error) {
	d, err := read(ctx, r.st, func(tx store.Tx) (*store.Definition, error) { return tx.GetDefinition(ctx, id) })
	if err != nil {
		return "", lookupErr("definition", id, err)
	}
	if d.Service == "" {
		return "", notRouted("definition %s names no service, so this observing cockpit cannot tell where to send the command", id)
	}
	return d.Service, nil
}

// forInstance returns the client of the service that runs an instance.
func (r *Router) forInstance(ctx context.Context, id string) (*Client, error) {
	if id == "" {
		return nil, errorf(CodeInvalidInput, "field \"instanceId\" is required")
	}
	in, err := read(ctx, r.st, func(tx store.Tx) (*store.Instance, error) { return tx.GetInstance(ctx, id) })
	if err != nil {
		return nil, lookupErr("instance", id, err)
	}
	svc, err := r.definitionService(ctx, in.DefinitionID)
	if err != nil {
		return nil, err
	}
	return r.client.ForService(svc), nil
}

func (r *Router) forIncident(ctx context.Context, id string) (*Client, error) {
	inc, err := read(ctx, r.st, func(tx store.Tx) (*store.Incident, error) { return tx.GetIncident(ctx, id) })
	if err != nil {
		return nil, lookupErr("incident", id, err)
	}
	return r.forInstance(ctx, inc.InstanceID)
}

func (r *Router) forTask(ctx context.Context, id string) (*Client, error) {
	t, err := read(ctx, r.st, func(tx store.Tx) (*store.UserTask, error) { return tx.GetUserTask(ctx, id) })
	if err != nil {
		return nil, lookupErr("user task", id, err)
	}
	return r.forInstance(ctx, t.InstanceID)
}

// forDefinitions returns the client of the service that deployed both definitions
// (a migration's source and target).
func (r *Router) forDefinitions(ctx context.Context, source, target string) (*Client, error) {
	a, err := r.definitionService(ctx, source)
	if err != nil {
		return nil, err
	}
	b, err := r.definitionService(ctx, target)
	if err != nil {
		return nil, err
	}
	if a != b {
		return nil, notRouted("definitions %s and %s belong to services %s and %s: a migration stays within one service", source, target, a, b)
	}
	return r.client.ForService(a), nil
}

// routed sends a request to the client route finds (recorded under verb, "" for a
// preview: see send).
func routed[Q, R any](ctx context.Context, r *Router, verb string, route func(context.Context) (*Client, error), do func(*Client, context.Context, Q) (*R, error), req Q) (*R, error) {
	c, err := route(ctx)
	if err != nil {
		return nil, err
	}
	return send(ctx, r, verb, c, do, req)
}

// send sends a request through c and records it in the read model's audit log under
// verb (none for "": previews change nothing): the observing cockpit's operators see
// what they sent, to which service (the request's "service"), and how it ended, beside
// the owning service's own row.
func send[Q, R any](ctx context.Context, r *Router, verb string, c *Client, do func(*Client, context.Context, Q) (*R, error), req Q) (*R, error) {
	res, err := do(c, ctx, req)
	if verb != "" {
		r.record(ctx, verb, c.service, &req, res, err)
	}
	return res, err
}

// record writes the audit row of a routed command into the read model (its audit
// table is the cockpit's own: the fold never writes it). A failure is logged: the
// command was sent regardless.
func (r *Router) record(ctx context.Context, verb, service string, req any, res any, err error) {
	cr, ok := req.(commandRequest)
	if !ok {
		return
	}
	m := cr.meta()
	body, jerr := json.Marshal(req)
	if jerr != nil {
		body = []byte(`{}`)
	}
	a := &store.AuditEntry{ID: newID(), Time: time.Now().UTC(), Actor: strings.TrimSpace(m.Actor), Command: verb,
		Target: cr.target(), Reason: m.Reason, Request: withField(body, "service", service), Result: "ok"}
	if a.Actor == "" {
		a.Actor = UnknownActor
	}
	if err != nil {
		a.Result, a.Error = string(codeOf(err)), store.StorableText(err.Error())
	} else {
		a.InstanceID = instanceOf(res)
	}
	if a.InstanceID == "" && strings.HasPrefix(verb, "instance.") && verb != VerbStartInstance {
		a.InstanceID = a.Target // the instance commands' target is their instance
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if werr := r.st.Write(wctx, func(tx store.Tx) error { return tx.InsertAudit(wctx, a) }); werr != nil {
		slog.Error("observing cockpit: write the audit row of a routed command", "verb", verb, "service", service, "err", werr)
	}
}

func (r *Router) instance(id string) func(context.Context) (*Client, error) {
	return func(ctx context.Context) (*Client, error) { return r.forInstance(ctx, id) }
}

// CancelInstance sends instance.cancel to the instance's service.
func (r *Router) CancelInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return routed(ctx, r, VerbCancelInstance, r.instance(req.InstanceID), (*Client).CancelInstance, req)
}

// SuspendInstance sends instance.suspend to the instance's service.
func (r *Router) SuspendInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return routed(ctx, r, VerbSuspendInstance, r.instance(req.InstanceID), (*Client).SuspendInstance, req)
}

// ResumeInstance sends instance.resume to the instance's service.
func (r *Router) ResumeInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return routed(ctx, r, VerbResumeInstance, r.instance(req.InstanceID), (*Client).ResumeInstance, req)
}

// SetVariables sends instance.set-variables to the instance's service.
func (r *Router) SetVariables(ctx context.Context, req SetVariablesRequest) (*SetVariablesResult, error) {
	return routed(ctx, r, VerbSetVariables, r.instance(req.InstanceID), (*Client).SetVariables, req)
}

// DeleteVariable sends the variable's deletion to the instance's service.
func (r *Router) DeleteVariable(ctx context.Context, req VariableRequest) (*VariableResult, error) {
	return routed(ctx, r, VerbDeleteVariable, r.instance(req.InstanceID), (*Client).DeleteVariable, req)
}

// RenameVariable sends the variable's renaming to the instance's service.
func (r *Router) RenameVariable(ctx context.Context, req VariableRequest) (*VariableResult, error) {
	return routed(ctx, r, VerbRenameVariable, r.instance(req.InstanceID), (*Client).RenameVariable, req)
}

// ModifyInstance sends instance.modify to the instance's service.
func (r *Router) ModifyInstance(ctx context.Context, req ModifyInstanceRequest) (*ModifyInstanceResult, error) {
	return routed(ctx, r, VerbModifyInstance, r.instance(req.InstanceID), (*Client).ModifyInstance, req)
}

// PreviewModify sends instance.modify-preview to the instance's service.
func (r *Router) PreviewModify(ctx context.Context, req ModifyInstanceRequest) (*ModifyInstanceResult, error) {
	return routed(ctx, r, "", r.instance(req.InstanceID), (*Client).PreviewModify, req)
}

// MigrateInstance sends instance.migrate to the instance's service.
func (r *Router) MigrateInstance(ctx context.Context, req MigrateInstanceRequest) (*MigrateInstanceResult, error) {
	return routed(ctx, r, VerbMigrateInstance, r.instance(req.InstanceID), (*Client).MigrateInstance, req)
}

// PreviewMigrateInstance sends instance.migrate-preview to the instance's service.
func (r *Router) PreviewMigrateInstance(ctx context.Context, req MigrateInstanceRequest) (*MigrateInstanceResult, error) {
	return routed(ctx, r, "", r.instance(req.InstanceID), (*Client).PreviewMigrateInstance, req)
}

// RetryIncident sends incident.retry to the service of the incident's instance.
func (r *Router) RetryIncident(ctx context.Context, req RetryIncidentRequest) (*RetryIncidentResult, error) {
	return routed(ctx, r, VerbRetryIncident, func(ctx context.Context) (*Client, error) { return r.forIncident(ctx, req.IncidentID) },
		(*Client).RetryIncident, req)
}

func (r *Router) task(id string) func(context.Context) (*Client, error) {
	return func(ctx context.Context) (*Client, error) { return r.forTask(ctx, id) }
}

// CompleteTask sends task.complete to the service of the task's instance.
func (r *Router) CompleteTask(ctx context.Context, req CompleteTaskRequest) (*CompleteTaskResult, error) {
	return routed(ctx, r, VerbCompleteTask, r.task(req.TaskID), (*Client).CompleteTask, req)
}

// ClaimTask sends the claim to the service of the task's instance.
func (r *Router) ClaimTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return routed(ctx, r, VerbClaimTask, r.task(req.TaskID), (*Client).ClaimTask, req)
}

// UnclaimTask sends the unclaim to the service of the task's instance.
func (r *Router) UnclaimTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return routed(ctx, r, VerbUnclaimTask, r.task(req.TaskID), (*Client).UnclaimTask, req)
}

// AssignTask sends the assignment to the service of the task's instance.
func (r *Router) AssignTask(ctx context.Context, req TaskAssignRequest) (*TaskAssignResult, error) {
	return routed(ctx, r, VerbAssignTask, r.task(req.TaskID), (*Client).AssignTask, req)
}

// StartInstance sends instance.start to the one service that deployed the process (the
// version asked for, or any version for the latest); a process several services deploy
// is refused: the request cannot say which one is meant.
func (r *Router) StartInstance(ctx context.Context, req StartInstanceRequest) (*StartInstanceResult, error) {
	if req.ProcessKey == "" {
		return nil, errorf(CodeInvalidInput, "field \"processKey\" is required")
	}
	defs, err := read(ctx, r.st, func(tx store.Tx) ([]*store.Definition, error) {
		return tx.ListDefinitions(ctx, store.DefinitionFilter{Key: req.ProcessKey})
	})
	if err != nil {
		return nil, fmt.Errorf("find the service of process %q: %w", req.ProcessKey, err)
	}
	var services []string
	for _, d := range defs {
		if (req.Version == 0 || d.Version == req.Version) && d.Service != "" && !slices.Contains(services, d.Service) {
			services = append(services, d.Service)
		}
	}
	if req.Service != "" {
		if !slices.Contains(services, req.Service) {
			if req.Version != 0 {
				return nil, errorf(CodeNotFound, "service %s deploys no version %d of process %q in this cockpit's read model", req.Service, req.Version, req.ProcessKey)
			}
			return nil, errorf(CodeNotFound, "service %s deploys no process %q in this cockpit's read model", req.Service, req.ProcessKey)
		}
		return send(ctx, r, VerbStartInstance, r.client.ForService(req.Service), (*Client).StartInstance, req)
	}
	switch len(services) {
	case 0:
		return nil, errorf(CodeNotFound, "process %q is not in this cockpit's read model", req.ProcessKey)
	case 1:
		return send(ctx, r, VerbStartInstance, r.client.ForService(services[0]), (*Client).StartInstance, req)
	}
	slices.Sort(services)
	return nil, notRouted("process %q is deployed by the services %s; name the one you mean", req.ProcessKey, strings.Join(services, ", "))
}

// ProposeMigration asks the service of both definitions for a plan.
func (r *Router) ProposeMigration(ctx context.Context, req ProposeMigrationRequest) (*MigrationProposal, error) {
	return routed(ctx, r, "", func(ctx context.Context) (*Client, error) {
		return r.forDefinitions(ctx, req.SourceDefinitionID, req.TargetDefinitionID)
	}, (*Client).ProposeMigration, req)
}

// PreviewMigration asks the service of the plan's definitions to check it.
func (r *Router) PreviewMigration(ctx context.Context, req PreviewMigrationRequest) (*MigrationPreview, error) {
	return routed(ctx, r, "", func(ctx context.Context) (*Client, error) {
		return r.forDefinitions(ctx, req.Plan.Source, req.Plan.Target)
	}, (*Client).PreviewMigration, req)
}

// The commands below have no one owner in a read model of several services (or write
// what the observing cockpit's pages would not see): refused, unsent.

// observerNote ends every refusal.
const observerNote = "is not supported from an observing cockpit yet; do it from the cockpit of the service"

// RetryIncidents refuses bulk retries.
func (r *Router) RetryIncidents(context.Context, BulkRetryRequest, func(Progress)) (*BulkRetryResult, error) {
	return nil, notRouted("retrying incidents in bulk %s", observerNote)
}

// CorrelateMessage sends message.correlate to the one service whose instances wait for
// the message (name and correlation key) in the read model. A message nothing waits for
// (it may start a process) or that instances of several services wait for is refused:
// the request cannot say which service is meant.
func (r *Router) CorrelateMessage(ctx context.Context, req CorrelateMessageRequest) (*CorrelateMessageResult, error) {
	if req.Name == "" {
		return nil, errorf(CodeInvalidInput, "field \"name\" is required")
	}
	if req.Service != "" {
		if err := r.knownService(ctx, req.Service); err != nil {
			return nil, err
		}
		return send(ctx, r, VerbCorrelateMessage, r.client.ForService(req.Service), (*Client).CorrelateMessage, req)
	}
	subs, err := read(ctx, r.st, func(tx store.Tx) ([]*store.Subscription, error) {
		return tx.FindSubscriptions(ctx, req.Name, req.CorrelationKey)
	})
	if err != nil {
		return nil, fmt.Errorf("find the service waiting for message %q: %w", req.Name, err)
	}
	var services []string
	for _, sub := range subs {
		if sub.Kind != store.SubMessage || sub.InstanceID == "" {
			continue
		}
		svc, err := r.definitionService(ctx, sub.DefinitionID)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(services, svc) {
			services = append(services, svc)
		}
	}
	switch len(services) {
	case 0:
		return nil, notRouted("no instance in this cockpit's read model waits for message %q (key %q); to start a process with it, name the service",
			req.Name, req.CorrelationKey)
	case 1:
		return send(ctx, r, VerbCorrelateMessage, r.client.ForService(services[0]), (*Client).CorrelateMessage, req)
	}
	slices.Sort(services)
	return nil, notRouted("instances of the services %s wait for message %q (key %q); name the one you mean",
		strings.Join(services, ", "), req.Name, req.CorrelationKey)
}

// BroadcastSignal sends signal.broadcast to the service the request names. Without
// one it is refused: a signal to every service could reach some and not others.
func (r *Router) BroadcastSignal(ctx context.Context, req BroadcastSignalRequest) (*BroadcastSignalResult, error) {
	if req.Name == "" {
		return nil, errorf(CodeInvalidInput, "field \"name\" is required")
	}
	if req.Service == "" {
		return nil, notRouted("from an observing cockpit a signal goes to one service; name the service")
	}
	if err := r.knownService(ctx, req.Service); err != nil {
		return nil, err
	}
	return send(ctx, r, VerbBroadcastSignal, r.client.ForService(req.Service), (*Client).BroadcastSignal, req)
}

// knownService checks that the read model holds definitions of service.
func (r *Router) knownService(ctx context.Context, service string) error {
	defs, err := read(ctx, r.st, func(tx store.Tx) ([]*store.Definition, error) {
		return tx.ListDefinitions(ctx, store.DefinitionFilter{Service: service})
	})
	if err != nil {
		return fmt.Errorf("find service %q: %w", service, err)
	}
	if len(defs) == 0 {
		return errorf(CodeNotFound, "service %q deploys no process in this cockpit's read model", service)
	}
	return nil
}

// SetStallThreshold refuses.
func (r *Router) SetStallThreshold(context.Context, StallThresholdRequest) (*StallThresholdResult, error) {
	return nil, notRouted("setting a stall threshold %s", observerNote)
}

// CreateOperation refuses bulk operations (their progress lives in the service's store).
func (r *Router) CreateOperation(context.Context, CreateOperationRequest) (*OperationInfo, error) {
	return nil, notRouted("a bulk operation (or a migration) %s", observerNote)
}

// CancelOperation refuses.
func (r *Router) CancelOperation(context.Context, OperationRequest) (*OperationInfo, error) {
	return nil, notRouted("cancelling an operation %s", observerNote)
}

// PreviewOperation refuses.
func (r *Router) PreviewOperation(context.Context, PreviewOperationRequest) (*OperationPreview, error) {
	return nil, notRouted("a bulk operation %s", observerNote)
}

// AssignIncidents refuses: the incident queue is the read model's.
func (r *Router) AssignIncidents(context.Context, IncidentGroupRequest) (*IncidentGroupResult, error) {
	return nil, notRouted("assigning incidents %s", observerNote)
}

// UnassignIncidents refuses.
func (r *Router) UnassignIncidents(context.Context, IncidentGroupRequest) (*IncidentGroupResult, error) {
	return nil, notRouted("unassigning incidents %s", observerNote)
}

// NoteIncidents refuses.
func (r *Router) NoteIncidents(context.Context, IncidentGroupRequest) (*IncidentGroupResult, error) {
	return nil, notRouted("noting on incidents %s", observerNote)
}
