// Package pages holds one templ component per page of the cockpit. Each takes a Props
// struct that internal/web fills from the engine's query API; the layout is added by the
// web package's renderer (or left off for a fragment request).
package pages

import (
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// DashboardProps is the overview page.
type DashboardProps struct {
	// ReadOnly hides the actions (an observing cockpit).
	ReadOnly      bool
	Now           time.Time
	Running       components.Bounded
	OpenIncidents components.Bounded
	OpenTasks     components.Bounded
	// Stalled counts the running instances with a token waiting past its element's
	// stall threshold; StalledHref lists them.
	Stalled     components.Bounded
	StalledHref string
	// StartedHour and CompletedHour count instances started in the last hour, and those
	// of them that completed; RateNote estimates the start rate when the count is capped.
	StartedHour   components.Bounded
	CompletedHour components.Bounded
	RateNote      string
	// ParkedEvents counts the events the outbox relay set aside because NATS can never
	// take them (shown only when there are any).
	ParkedEvents int64
	// ShowService: the definitions name several services (an observing cockpit), so
	// each process row names its service; rows come by service, then key.
	ShowService bool
	Processes   []ProcessRow
	Incidents   []*store.Incident
	// ProcessNames (by key) and ElementNames (by ElementKey) name the incidents'
	// processes and elements ("" when the model gives none: the id is shown).
	ProcessNames map[string]string
	ElementNames map[string]string
	// Unserved are the job types nobody serves that have waiting jobs.
	Unserved []components.UnservedType
	// Workers are the external job workers (docs/workers.md) that asked this node for
	// jobs within the last minute.
	Workers []WorkerRow
}

// WorkerRow is one external job worker on the dashboard.
type WorkerRow struct {
	Name     string
	Types    []string
	LastSeen time.Time
	// InFlight counts the jobs it holds now; Failures the failed attempts it reported.
	InFlight int
	Failures int
}

// ProcessRow is one process key on the dashboard.
type ProcessRow struct {
	// Service deployed it ("" for the engine's own).
	Service    string
	Key        string
	Name       string
	Latest     int
	Versions   int
	DeployedAt time.Time
	Running    components.Bounded
	Incidents  components.Bounded
	// Stalled counts the instances with a current stall (exact: bounded by running work).
	Stalled components.Bounded
}

// ProcessProps is the page of one process definition version.
type ProcessProps struct {
	Now        time.Time
	Definition *store.Definition
	// Versions are every version of the key (of the definition's service), newest first.
	Versions []*store.Definition
	// OtherServices are the other services that deploy the same key (an observing
	// cockpit), each a link to its own page of the key.
	OtherServices []string
	Running       components.Bounded
	Incidents     components.Bounded
	// Stalled counts this version's stalled tokens; StalledHref lists their instances.
	Stalled     components.Bounded
	StalledHref string
	// StallAction is where the stall threshold form posts.
	StallAction string
	Diagram     components.DiagramProps
	Elements    []ElementRow
	Instances   []*store.Instance
	// AllInstancesHref lists every instance of this version.
	AllInstancesHref string
	// Unserved are the job types nobody serves that this process uses or has jobs of.
	Unserved []components.UnservedType
}

// ElementRow is one flow node with its live counts.
type ElementRow struct {
	ID        string
	Name      string
	Kind      string
	Active    components.Bounded
	Incidents components.Bounded
	// Completed is how many times the element was completed, over the version's history.
	Completed components.Bounded
	// WaitingHref lists the instances waiting here; IncidentsHref those with an incident.
	WaitingHref   string
	IncidentsHref string
	// Stalled counts the tokens waiting here past the threshold; StalledHref lists them.
	Stalled     components.Bounded
	StalledHref string
	// Threshold is the stall threshold ("" when the element is not checked), and
	// ThresholdSet says an operator set it (else it is learnt from waiting times).
	Threshold    string
	ThresholdSet bool
}

// InstanceFilterForm is the filter form as the user typed it (re-shown on the page).
type InstanceFilterForm struct {
	State string
	// Service is the service whose definitions' instances are listed (an observing
	// cockpit's read model; "" for every service).
	Service     string
	Process     string
	Version     string
	BusinessKey string
	VarName     string
	VarValue    string
	From        string
	To          string
	HasIncident string
	WaitingAt   string
	Stalled     string
	// Parent lists the instances one instance's call activities started.
	Parent string
}

// InstancesProps is the instance list.
type InstancesProps struct {
	Now       time.Time
	Form      InstanceFilterForm
	Processes []string
	// Services are the services the definitions name, shown as a filter when there are
	// several (servicefilter.go).
	Services  []string
	Instances []*store.Instance
	// Rows are the instances with where each waits (instances_waiting.go).
	Rows  []InstanceListRow
	Pager components.PagerProps
	// Filtered is true when any filter is set (the empty state then offers to clear them).
	Filtered bool
}

// InstanceProps is the page of one instance.
type InstanceProps struct {
	Now            time.Time
	Instance       *store.Instance
	DefinitionName string
	// Service runs the instance ("" for the engine's own; not shown then).
	Service string
	Diagram components.DiagramProps
	Tokens  []*store.Token
	// Variables are the process's; Scopes the live scopes below it that hold variables
	// (a subprocess, a multi-instance body or inner instance, a task's inputs).
	Variables []VariableRow
	Scopes    []VariableScope
	Jobs      []*store.Job
	Tasks     []*store.UserTask
	Incidents []*store.Incident
	History   []HistoryRow
	// HistoryHidden counts older events left off the timeline.
	HistoryHidden int
	// Names maps element ids to their names in the model.
	Names map[string]string
	// Unserved are the job types nobody serves that this instance's jobs wait for.
	Unserved []components.UnservedType
	// Compensation is what compensation undid in this instance, in the order it did
	// (from the history); Compensating is true while a throw event waits for handlers.
	Compensation []CompensationRow
	Compensating bool
	// Parent is the instance whose call activity started this one (nil when it was not
	// called, or the caller is gone); Called are the instances this one's call
	// activities started, newest first, at most a page (CalledMore: there are more).
	Parent     *store.Instance
	Called     []*store.Instance
	CalledMore bool
	// Audit is what operators did to the instance (its own audit entries).
	Audit AuditCardProps
}

// CompensationRow is one completed activity that compensation undid (or is undoing):
// its handler's run, from compensation.started to element.compensated.
type CompensationRow struct {
	N          int
	ActivityID string
	Activity   string // name (id)
	Handler    string // name (id)
	ThrownBy   string // name (id)
	State      string // "undoing", "undone" or "cancelled"
	StartedAt  time.Time
	EndedAt    *time.Time
}

// VariableScope is the variables of one live scope: the token that holds it and the
// element it stands at.
type VariableScope struct {
	TokenID   string
	ElementID string
	Variables []VariableRow
}

// VariableRow is one variable with its value pretty-printed.
type VariableRow struct {
	Name      string
	Type      string
	Value     string
	Multiline bool
	UpdatedAt time.Time
	// InstanceID and Scope name the variable for its rename and delete forms, offered
	// when Editable (the instance runs).
	InstanceID string
	Scope      string
	Editable   bool
	// Elements are the ids of the elements the variable belongs to, space-separated, for
	// the instance page's element filter: those whose history events set it, or the
	// scope's element for a local.
	Elements string
}

// HistoryRow is one history event.
type HistoryRow struct {
	Time    time.Time
	Type    string
	Element string
	Data    string
	Class   string
	// ElementID is the event's element ("" for none), for the element filter.
	ElementID string
}

// TasksProps is the user task list.
type TasksProps struct {
	Now      time.Time
	State    string
	Assignee string
	// Service is the service filter; Services the services whose definitions the store
	// holds (with more than one, an observing cockpit, the filter and a column show) and
	// TaskServices each listed task's service (by task id).
	Service      string
	Services     []string
	TaskServices map[string]string
	Tasks        []*store.UserTask
	Capped       bool
	Limit        int
	// Back is this list's URL, where its claim and unclaim buttons return.
	Back string
}

// TaskProps is one user task with its form.
type TaskProps struct {
	Now      time.Time
	Task     *store.UserTask
	Instance *store.Instance
	Fields   []FormField
	// FormError is a problem with the whole submission (shown above the form).
	FormError string
	// Completed is set right after this page's form completed the task.
	Completed bool
	// Generic is true when the model declares no form fields.
	Generic bool
}

// FormField is one input of a task form.
type FormField struct {
	ID    string
	Label string
	// Type is the model's type: string, long, double, boolean, date or enum.
	Type    string
	Value   string
	Checked bool
	Error   string
}

// ErrorProps is an error page (404, 400, 500).
type ErrorProps struct {
	Status    int
	Title     string
	Message   string
	BackHref  string
	BackLabel string
}
