package pages

import (
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// VariableInput is one row of a variable editor (see components.VariableEditor).
type VariableInput = components.VariableInput

// ConfirmPageProps is the confirm step of a destructive action when the browser ran no
// script: the question, and a form that posts the same fields again with confirm=yes.
type ConfirmPageProps struct {
	Title   string
	Message string
	// Details are extra lines (what exactly will be affected).
	Details []string
	Action  string
	Fields  []components.Hidden
	Label   string
	Danger  bool
	// BackHref is where "Don't" leads.
	BackHref string
}

// VariablesProps is the variable editor of an instance.
type VariablesProps struct {
	Instance       *store.Instance
	DefinitionName string
	Rows           []VariableInput
	FormError      string
}

// RetryProps is the retry form of one incident: retries and variables to set first.
type RetryProps struct {
	Now         time.Time
	Incident    *store.Incident
	Instance    *store.Instance
	ElementName string
	Retries     string
	Rows        []VariableInput
	FormError   string
	// RetriesError is shown beside the retries field.
	RetriesError string
}

// StartProps is the form that starts an instance of a process.
type StartProps struct {
	Definition  *store.Definition
	Versions    []*store.Definition
	Version     string
	BusinessKey string
	Rows        []VariableInput
	FormError   string
}

// CorrelateProps is the form that correlates a message.
type CorrelateProps struct {
	Name           string
	CorrelationKey string
	Variables      string
	FormError      string
	NameError      string
	VariablesError string
}

// SignalProps is the form that broadcasts a signal, and after a refused one, why.
type SignalProps struct {
	Name           string
	Variables      string
	FormError      string
	NameError      string
	VariablesError string
}

// DeployProps is the upload form for a BPMN file and, after a failed upload, why.
type DeployProps struct {
	MaxBytes  int
	FormError string
	Resource  string
	Problems  []DeployProblem
}

// DeployProblem is one reason a deployment was refused, located in the file.
type DeployProblem struct {
	Process   string
	ElementID string
	Kind      string
	Line      int
	Col       int
	Message   string
}

// BulkProgress is a bulk retry as it runs and when it is done.
type BulkProgress struct {
	ID    string
	Title string
	// Selection describes what was selected ("process order, element Task_Charge").
	Selection string
	Actor     string
	Started   time.Time
	BackHref  string
	BackLabel string
	// Total is how many incidents are tried; Completed how many are done so far.
	Total, Completed, Succeeded, Failed int
	Matched                             int
	Done                                bool
	Incomplete                          bool
	// Error is why the command as a whole failed (nothing selected, service down), a
	// sentence that names the bulk retry (commandMessage).
	Error           string
	Errors          []BulkItemError
	ErrorsTruncated bool
	// Checked is when the retried incidents were last checked for a new incident at the
	// same place (zero: not yet); StillFailing counts them, StillFailingList names the
	// first ones and StillFailingHref lists their instances. Unchecked counts the retried
	// incidents whose place was not known when the retry started: they are not checked,
	// so they count neither as failing nor as passing. Settled: the page stops checking
	// by itself (a reload checks again).
	Checked          time.Time
	StillFailing     int
	Unchecked        int
	StillFailingList []BulkStillFailing
	StillFailingHref string
	Settled          bool
}

// BulkStillFailing is an incident opened again by a retried step.
type BulkStillFailing struct {
	InstanceID string
	ElementID  string
	Message    string
}

// BulkItemError is one incident a bulk retry could not retry.
type BulkItemError struct {
	ID      string
	Code    string
	Message string
}

// BulkProgressProps is the progress page.
type BulkProgressProps struct {
	Now time.Time
	Job BulkProgress
}
