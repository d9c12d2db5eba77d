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
	Definition *store.Definition
	// Versions are the versions of the service Service deploys; Services the others
	// that deploy the key (an observing cockpit's read model; none in an engine's own).
	Versions    []*store.Definition
	Service     string
	Services    []string
	Version     string
	BusinessKey string
	Rows        []VariableInput
	FormError   string
}

// CorrelateProps is the form that correlates a message.
type CorrelateProps struct {
	Name           string
	CorrelationKey string
	// Service is where the message goes, Services the choices (an observing cockpit's
	// read model with several services; none otherwise).
	Service        string
	Services       []string
	Variables      string
	FormError      string
	NameError      string
	VariablesError string
}

// SignalProps is the form that broadcasts a signal, and after a refused one, why.
type SignalProps struct {
	Name string
	// Service is where the signal goes, Services the choices (an observing cockpit's
	// read model with several services; none otherwise).
	Service        string
	Services       []string
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
