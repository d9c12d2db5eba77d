package command

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/nats-io/nats.go"
)

// Command verbs. A command's subject is <prefix>.cmd.<verb>, e.g. cockpit.cmd.incident.retry;
// the verb is also what the audit log records as the command.
const (
	VerbRetryIncident    = "incident.retry"
	VerbRetryIncidents   = "incident.retry-bulk"
	VerbCancelInstance   = "instance.cancel"
	VerbSuspendInstance  = "instance.suspend"
	VerbResumeInstance   = "instance.resume"
	VerbSetVariables     = "instance.set-variables"
	VerbStartInstance    = "instance.start"
	VerbCorrelateMessage = "message.correlate"
	VerbBroadcastSignal  = "signal.broadcast"
	VerbCompleteTask     = "task.complete"
	VerbStallThreshold   = "stall.threshold"
	// VerbEvaluateConditions evaluates the processes' conditional start events.
	VerbEvaluateConditions = "condition.evaluate"
	VerbModifyInstance     = "instance.modify"
	VerbPreviewModify      = "instance.modify-preview"
	VerbCreateOperation    = "operation.create"
	VerbGetOperation       = "operation.get"
	VerbListOperations     = "operation.list"
	VerbCancelOperation    = "operation.cancel"
	// VerbPreviewOperation previews a bulk modification on a sample of its selection.
	VerbPreviewOperation = "operation.preview"
	// The incident queue's group verbs (package incidents): assignment and the note log.
	VerbAssignIncidents   = "incident.assign"
	VerbUnassignIncidents = "incident.unassign"
	VerbNoteIncidents     = "incident.note"
)

// Verbs lists every command verb, in the order the service registers them.
var Verbs = []string{
	VerbRetryIncident, VerbRetryIncidents, VerbCancelInstance, VerbSuspendInstance,
	VerbResumeInstance, VerbSetVariables, VerbStartInstance, VerbCorrelateMessage, VerbBroadcastSignal,
	VerbCompleteTask, VerbStallThreshold, VerbEvaluateConditions, VerbModifyInstance, VerbPreviewModify,
	VerbCreateOperation, VerbGetOperation, VerbListOperations, VerbCancelOperation, VerbPreviewOperation,
	VerbAssignIncidents, VerbUnassignIncidents, VerbNoteIncidents,
	VerbDeleteVariable, VerbRenameVariable, VerbClaimTask, VerbUnclaimTask, VerbAssignTask,
	VerbMigrateInstance, VerbPreviewMigrate, VerbProposeMigration, VerbPreviewMigration,
}

// DefaultPrefix is the first subject token of commands and events.
const DefaultPrefix = "cockpit"

// Subject returns the subject a command verb is served on by every command service
// (the unscoped form, for single-engine setups and existing clients).
func Subject(prefix, verb string) string { return prefix + ".cmd." + verb }

// ServiceSubject returns the subject a command verb is served on by the command
// services of one service (bus.CheckService): <prefix>.cmd.<service>.<verb>. Every verb
// is two tokens (verbTokens), so a scoped subject has one token more after "cmd" than
// an unscoped one and the two forms never match each other, whatever the service is
// called; a progress subject (<prefix>.cmd.progress.<id>) has one token fewer.
func ServiceSubject(prefix, service, verb string) string {
	return prefix + ".cmd." + service + "." + verb
}

// verbTokens is how many subject tokens every verb has (see ServiceSubject).
const verbTokens = 2

// ProgressSubject returns the subject a bulk command with the given request id publishes
// its progress on.
func ProgressSubject(prefix, requestID string) string { return prefix + ".cmd.progress." + requestID }

// OperationProgress returns the operation executor's OnProgress that publishes a note on
// the operation's subject (OperationSubject) after each batch of its items and when it
// ends, so the cockpit's operations pages re-render. Best effort: a lost note only
// delays a page.
func OperationProgress(nc *nats.Conn, prefix string, log *slog.Logger) func(id string, finished bool) {
	return func(id string, finished bool) {
		body, _ := json.Marshal(map[string]any{"operationId": id, "finished": finished})
		if err := nc.Publish(OperationSubject(prefix, id), body); err != nil {
			log.Debug("publish operation progress", "operation", id, "err", err)
		}
	}
}

// OperationSubject returns the subject an operation's progress notes are published on
// (best effort, core NATS): the cockpit's operations pages re-render when one comes.
func OperationSubject(prefix, operationID string) string {
	return prefix + ".operations." + operationID
}

// endpointName turns a verb into a micro endpoint name (letters, digits, '-', '_').
func endpointName(verb string) string { return strings.ReplaceAll(verb, ".", "-") }

var (
	// prefixToken is one token of a prefix: no wildcards, separators or spaces.
	prefixToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// requestIDPattern keeps request ids usable as one subject token.
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// checkPrefix refuses prefixes that would not make plain subjects.
func checkPrefix(prefix string) error {
	for _, tok := range strings.Split(prefix, ".") {
		if !prefixToken.MatchString(tok) {
			return fmt.Errorf("subject prefix %q: each dot-separated token must be letters, digits, '-' or '_'", prefix)
		}
	}
	return nil
}
