// Package web is the cockpit's user interface: server-rendered HTML pages (templ
// components from web/templates) over the engine's query API, served by echo.
//
// Pages read through the query API only and every list query is bounded (a keyset page,
// or a count that stops at a cap), so a page costs the same on a day-old store and a
// year-old one. Live updates (an SSE hub fed by the NATS events) and operator actions
// (through the command service) build on the same components: the renderer already
// answers an htmx-style fragment request with the page content alone.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
)

// CommandClient is what the UI sends through the command service (internal/command's
// *Client implements it). Commands carry the operator's identity and land in the audit log.
type CommandClient interface {
	CompleteTask(ctx context.Context, req command.CompleteTaskRequest) (*command.CompleteTaskResult, error)
	RetryIncident(ctx context.Context, req command.RetryIncidentRequest) (*command.RetryIncidentResult, error)
	RetryIncidents(ctx context.Context, req command.BulkRetryRequest, onProgress func(command.Progress)) (*command.BulkRetryResult, error)
	CancelInstance(ctx context.Context, req command.InstanceRequest) (*command.InstanceStateResult, error)
	SuspendInstance(ctx context.Context, req command.InstanceRequest) (*command.InstanceStateResult, error)
	ResumeInstance(ctx context.Context, req command.InstanceRequest) (*command.InstanceStateResult, error)
	SetVariables(ctx context.Context, req command.SetVariablesRequest) (*command.SetVariablesResult, error)
	CorrelateMessage(ctx context.Context, req command.CorrelateMessageRequest) (*command.CorrelateMessageResult, error)
	BroadcastSignal(ctx context.Context, req command.BroadcastSignalRequest) (*command.BroadcastSignalResult, error)
	StartInstance(ctx context.Context, req command.StartInstanceRequest) (*command.StartInstanceResult, error)
	SetStallThreshold(ctx context.Context, req command.StallThresholdRequest) (*command.StallThresholdResult, error)
	// Edits (actions_edits.go).
	ClaimTask(ctx context.Context, req command.TaskAssignRequest) (*command.TaskAssignResult, error)
	UnclaimTask(ctx context.Context, req command.TaskAssignRequest) (*command.TaskAssignResult, error)
	AssignTask(ctx context.Context, req command.TaskAssignRequest) (*command.TaskAssignResult, error)
	DeleteVariable(ctx context.Context, req command.VariableRequest) (*command.VariableResult, error)
	RenameVariable(ctx context.Context, req command.VariableRequest) (*command.VariableResult, error)
	ModifyInstance(ctx context.Context, req command.ModifyInstanceRequest) (*command.ModifyInstanceResult, error)
	PreviewModify(ctx context.Context, req command.ModifyInstanceRequest) (*command.ModifyInstanceResult, error)
	// Migration (migrate.go).
	ProposeMigration(ctx context.Context, req command.ProposeMigrationRequest) (*command.MigrationProposal, error)
	PreviewMigration(ctx context.Context, req command.PreviewMigrationRequest) (*command.MigrationPreview, error)
	// Operations: bulk actions the engine nodes run (operations.go).
	CreateOperation(ctx context.Context, req command.CreateOperationRequest) (*command.OperationInfo, error)
	CancelOperation(ctx context.Context, req command.OperationRequest) (*command.OperationInfo, error)
	PreviewOperation(ctx context.Context, req command.PreviewOperationRequest) (*command.OperationPreview, error)
	// Incident queue (incidents.go).
	AssignIncidents(ctx context.Context, req command.IncidentGroupRequest) (*command.IncidentGroupResult, error)
	UnassignIncidents(ctx context.Context, req command.IncidentGroupRequest) (*command.IncidentGroupResult, error)
	NoteIncidents(ctx context.Context, req command.IncidentGroupRequest) (*command.IncidentGroupResult, error)
}

var (
	_ CommandClient = (*command.Client)(nil)
	_ CommandClient = (*command.Router)(nil)
)

// Engine is the part of *engine.Engine the pages read (and, without a CommandClient,
// complete user tasks with). It is the query API only: the store itself is not part of
// it, so every read a page makes is one of the engine's documented, bounded queries.
type Engine interface {
	Clock() clock.Clock
	ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error)
	// GetDefinition reads one definition (the instance page names its service).
	GetDefinition(ctx context.Context, id string) (*store.Definition, error)
	ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error)
	GetInstance(ctx context.Context, id string) (*engine.InstanceDetail, error)
	// GetInstanceRow reads an instance's row alone (search, the live hub's room keys).
	GetInstanceRow(ctx context.Context, id string) (*store.Instance, error)
	ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error)
	GetIncident(ctx context.Context, id string) (*store.Incident, error)
	ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error)
	GetUserTask(ctx context.Context, id string) (*engine.UserTaskDetail, error)
	// CountParked counts the events the outbox relay set aside (the overview's warning).
	CountParked(ctx context.Context) (int64, error)
	// Stalls (written by internal/monitor's stall detector; stalls.go).
	CountStalls(ctx context.Context, definitionID string) (map[string]int, error)
	CountStalledInstances(ctx context.Context) (map[string]int, error)
	ListStalls(ctx context.Context, f store.StallFilter) ([]*store.Stall, error)
	ListStallThresholds(ctx context.Context, definitionKey string) ([]*store.StallThreshold, error)
	Model(ctx context.Context, definitionID string) (*bpmn.Definitions, error)
	// ListTokens lists where a page of instances stand (the list's "waiting at").
	ListTokens(ctx context.Context, instanceIDs []string) ([]*store.Token, error)
	// CountTokens counts where a definition's running instances stand, per element.
	CountTokens(ctx context.Context, definitionID string) (map[string]int, error)
	// ElementCounts counts how many times each element of a definition was completed
	// (a summary the store keeps, not a count over the history).
	ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error)
	CompleteUserTask(ctx context.Context, taskID string, vars map[string]any) error
	// Serves tells whether someone runs the jobs of a type; UnservedJobs counts the
	// waiting jobs of the types nobody serves (see engine.Serves).
	Serves(jobType string) bool
	UnservedJobs(ctx context.Context, f store.JobTypeFilter) ([]store.JobTypeCount, error)
	// Workers lists the external job workers that asked this node for jobs recently.
	Workers(ctx context.Context) ([]engine.WorkerInfo, error)
	// Deploy is called directly: there is no deploy command on NATS. The handler writes
	// the audit row around it (BeginAudit before, FinishAudit after).
	Deploy(ctx context.Context, resource string, data []byte) (*engine.Deployment, error)
	BeginAudit(ctx context.Context, a *store.AuditEntry) error
	FinishAudit(ctx context.Context, a *store.AuditEntry) error
	// Operations and the audit log (operations.go).
	ListOperations(ctx context.Context, f store.OperationFilter) ([]*store.Operation, error)
	GetOperation(ctx context.Context, id string, items store.OperationItemFilter) (*engine.OperationDetail, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error)
}

var _ Engine = (*engine.Engine)(nil)

// Options configure the UI.
type Options struct {
	// Engine is required. The brief's type is *engine.Engine; any Engine will do (tests).
	Engine Engine
	// Commands sends operator commands through the command service; nil completes user
	// tasks on the engine directly (no audit entry).
	Commands CommandClient
	Logger   *slog.Logger
	// Actor names the operator in the audit log for every action. Default: "web".
	Actor string
	// TrustProxyUser takes the operator's name from the X-Forwarded-User header (falling
	// back to Actor when it is absent). Set it only behind a proxy that authenticates
	// users, sets the header and removes it from clients' requests: anyone who reaches
	// the server directly could claim any name.
	TrustProxyUser bool
	// NATS feeds live updates: the SSE hub (sse.go) subscribes to the engine's events on
	// it and pushes re-rendered fragments to open pages. Nil serves pages without live
	// updates, and they say so.
	NATS *nats.Conn
	// Prefix is the events' subject prefix (default bus.DefaultPrefix).
	Prefix string
	// Subjects is the subject scheme version the engines publish in (bus.SubjectsV2, the
	// default, or bus.SubjectsV1). The hub listens to every service's events of a key:
	// the pages show the store, whichever engine on it published.
	Subjects int
	// LiveInterval is the least time between two pushes of one page's fragments
	// (default DefaultLiveInterval): a burst of events becomes one render.
	LiveInterval time.Duration
	// Metrics feeds the analytics pages (internal/monitor's *Monitor). Nil serves them
	// as 503 pages that say metrics are off.
	Metrics MetricsReader
	// Incidents reads the incident queue; nil reads it from the Engine's store (an
	// Engine with a Store method, as *engine.Engine has).
	Incidents IncidentQueue
	// Stalls tells the process page the stall threshold of each element (the stall
	// detector's; nil shows the operators' thresholds only).
	Stalls StallThresholds
	// LiveLimits bound the live streams (zero fields: the defaults).
	LiveLimits LiveLimits
	// ReadOnly, when set, says on every page that this cockpit's store is a read model of
	// other services (an observing cockpit): nothing is written to the Engine, the deploy
	// form answers 503 with it, and so does every action unless Commands is set (an
	// observing cockpit's command.Router, which sends each action to the service that
	// owns its instance).
	ReadOnly string
	// Auth, when set, makes everyone sign in (signin.go): each route needs a role, and
	// the audit actor is the signed-in user. Nil: nobody signs in, every request acts as
	// Actor, and the pages say so.
	Auth *auth.Service
	// SecureCookies marks the session cookie Secure (the server answers HTTPS).
	SecureCookies bool
	// OIDC, with Auth, adds sign-in through an OpenID Connect provider (/oidc/login).
	OIDC *auth.OIDC
	// Services feeds the services page (/services) of an observing cockpit; nil: no
	// such page.
	Services ServicesReporter
}

// StallThresholds gives the thresholds the stall detector applies to a definition's
// elements (*monitor.StallDetector implements it).
type StallThresholds interface {
	EffectiveThresholds(ctx context.Context, definitionID string) (map[string]time.Duration, error)
}

type server struct {
	eng  Engine
	cmds CommandClient
	// readOnly is Options.ReadOnly.
	readOnly string
	// servicesReport is Options.Services.
	servicesReport ServicesReporter
	log            *slog.Logger
	actor          func(r *http.Request) string
	// scenes caches drawn diagrams by definition id: a deployed definition never changes,
	// so its static drawing is built once and only overlays are drawn per request.
	scenes sync.Map // string → *sceneEntry
	echo   *echo.Echo
	hub    *hub // nil without NATS
	// metrics reads the rollups for the analytics pages (nil: off).
	metrics MetricsReader
	// stalls gives the stall detector's thresholds (nil: operators' thresholds only).
	stalls StallThresholds
	// trustProxyUser: X-Forwarded-User names the client of a live stream (its limit).
	trustProxyUser bool
	// queue reads the incident queue (incidents.go).
	queue IncidentQueue
	// auth is Options.Auth; secureCookies Options.SecureCookies.
	auth          *auth.Service
	secureCookies bool
	oidc          *auth.OIDC
}

// New returns the UI: an http.Handler with the live-update hub's Start and Stop. Every
// route is wired in routes below. Serve it behind Guard: Guard sets the security headers
// (CSP and the rest) every answer carries.
func New(opts Options) *UI {
	s := &server{eng: opts.Engine, cmds: opts.Commands, readOnly: opts.ReadOnly, servicesReport: opts.Services, metrics: opts.Metrics, log: opts.Logger, actor: actorFunc(opts.Actor, opts.TrustProxyUser),
		stalls: opts.Stalls, trustProxyUser: opts.TrustProxyUser, queue: opts.Incidents, auth: opts.Auth, secureCookies: opts.SecureCookies, oidc: opts.OIDC}
	if base := s.actor; opts.Auth != nil {
		// The audit actor is the signed-in user.
		s.actor = func(r *http.Request) string {
			if id := auth.FromContext(r.Context()); id != nil {
				return id.Name
			}
			return base(r)
		}
	}
	if s.queue == nil {
		// The engine's own store: every page of the incident queue reads through it.
		if e, ok := opts.Engine.(interface{ Store() store.Store }); ok {
			s.queue = incidents.NewQueue(e.Store())
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	e := echo.New()
	s.echo = e
	if opts.NATS != nil {
		s.hub = newHub(opts.NATS, bus.Subjects{Prefix: opts.Prefix, Version: opts.Subjects}, opts.LiveInterval, opts.LiveLimits, s.log, s.renderPage, s.instanceKey)
	}
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover())
	// The security headers are Guard's (guard.go), set once for everything `cockpit
	// serve` answers; whoever mounts the UI elsewhere puts Guard around it too.
	e.Use(s.checkParams)
	e.Use(s.authenticate)
	s.routes(e)
	// Refuse cross-site form posts (a page elsewhere posting to a local cockpit): the
	// browser's Sec-Fetch-Site / Origin headers tell, no token needed. Guard (guard.go)
	// goes around this handler, the API and /metrics alike: `cockpit serve` wraps them.
	return &UI{Handler: http.NewCrossOriginProtection().Handler(e), s: s}
}

// routes is the one place that names every page.
func (s *server) routes(e *echo.Echo) {
	e.GET("/", s.dashboard)
	e.GET("/processes/:key", s.process)
	// Analytics (analytics.go, export.go): the page, each chart and each table take the
	// same query, so every one has a URL that reproduces it.
	e.GET("/processes/:key/analytics", s.analytics)
	e.GET("/processes/:key/analytics/charts/:chart", s.analyticsChart)
	e.GET("/processes/:key/analytics/:table", s.analyticsCSV)
	e.GET("/instances", s.instances)
	e.GET("/instances.csv", s.instancesCSV)
	e.GET("/instances/:id", s.instance)
	e.GET("/incidents", s.incidents)
	e.GET("/incidents/groups/:fp", s.incidentGroup)
	e.POST("/incidents/groups/:fp", s.groupAction)
	e.GET("/tasks", s.tasks)
	e.GET("/tasks/:id", s.task)
	e.POST("/tasks/:id/complete", s.completeTask)
	e.POST("/tasks/:id/claim", s.assignTask(taskClaim))
	e.POST("/tasks/:id/unclaim", s.assignTask(taskUnclaim))
	e.POST("/tasks/:id/assign", s.assignTask(taskAssign))
	// Actions (actions.go): each goes through the command service, but deploy.
	e.POST("/instances/:id/suspend", s.instanceAction(verbSuspend))
	e.POST("/instances/:id/resume", s.instanceAction(verbResume))
	e.POST("/instances/:id/cancel", s.instanceAction(verbCancel))
	e.GET("/instances/:id/variables", s.editVariables)
	e.POST("/instances/:id/variables", s.setVariables)
	e.POST("/instances/:id/variables/delete", s.deleteVariable)
	e.POST("/instances/:id/variables/rename", s.renameVariable)
	// Instance modification (modify.go): composed and previewed by GET, applied by POST.
	e.GET("/instances/:id/modify", s.modifyPage)
	e.POST("/instances/:id/modify", s.applyModify)
	// Migration (migrate.go): a version's instances to another version, as an operation.
	e.GET("/processes/:key/migrate", s.migratePage)
	e.POST("/processes/:key/migrate", s.applyMigrate)
	// Bulk modification (modify_bulk.go): a static path, so echo's router prefers it to
	// /instances/:id.
	e.GET("/instances/modify", s.modifyBulkPage)
	e.POST("/instances/modify", s.applyModifyBulk)
	e.POST("/instances/retry-incidents", s.retryInstances)
	e.POST("/instances/bulk", s.bulkInstances)
	e.GET("/incidents/:id/retry", s.retryForm)
	e.POST("/incidents/:id/retry", s.retryIncident)
	e.POST("/incidents/retry-bulk", s.retryBulk)
	// Operations and the audit log (operations.go).
	e.GET("/operations", s.operations)
	e.POST("/operations", s.createOperation)
	e.GET("/operations/:id", s.operationPage)
	e.POST("/operations/:id/cancel", s.cancelOperation)
	e.GET("/audit", s.audit)
	e.GET("/services", s.services)
	e.GET("/audit.csv", s.auditCSV)
	e.GET("/processes/:key/start", s.startForm)
	e.POST("/processes/:key/start", s.startInstance)
	e.POST("/processes/:key/stall-threshold", s.setStallThreshold)
	e.GET("/messages/correlate", s.correlateForm)
	e.POST("/messages/correlate", s.correlate)
	e.GET("/signals/broadcast", s.signalForm)
	e.POST("/signals/broadcast", s.broadcastSignal)
	e.GET("/deploy", s.deployForm)
	e.POST("/deploy", s.deploy)
	e.GET("/search", s.search)
	e.GET("/live", s.live)
	e.HEAD("/live", s.live)
	e.GET("/users", s.usersPage)
	e.POST("/users", s.createUser)
	e.GET("/users/:id", s.userPage)
	e.POST("/users/:id/:action", s.userAction)
	e.POST("/users/:id/tokens/:token/revoke", s.revokeToken)
	e.GET("/account", s.accountPage)
	e.POST("/account/:action", s.ownAction)
	e.POST("/account/tokens/:token/revoke", s.revokeOwnToken)
	e.GET("/oidc/login", s.oidcLogin)
	e.GET("/oidc/callback", s.oidcCallback)
	e.GET("/signin", s.signinPage)
	e.POST("/signin", s.signin)
	e.POST("/signout", s.signout)
	e.GET("/static/diagram.css", s.diagramCSS)
	e.GET("/static/*", s.static)
}

func (s *server) now() time.Time { return s.eng.Clock().Now() }
