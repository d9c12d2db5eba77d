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

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// CommandClient is what the UI sends through the command service (internal/command's
// *Client implements it). Commands carry the operator's identity and land in the audit log.
type CommandClient interface {
	CompleteTask(ctx context.Context, req command.CompleteTaskRequest) (*command.CompleteTaskResult, error)
}

// Engine is the part of *engine.Engine the pages read (and, without a CommandClient,
// complete user tasks with).
type Engine interface {
	Store() store.Store
	Clock() clock.Clock
	ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error)
	ListInstances(ctx context.Context, f store.InstanceFilter) (*store.InstancePage, error)
	GetInstance(ctx context.Context, id string) (*engine.InstanceDetail, error)
	ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error)
	ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error)
	Model(ctx context.Context, definitionID string) (*bpmn.Definitions, error)
	CompleteUserTask(ctx context.Context, taskID string, vars map[string]any) error
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
	// Actor names the operator of a request for the audit log. Default: "web".
	Actor func(r *http.Request) string
}

type server struct {
	eng   Engine
	cmds  CommandClient
	log   *slog.Logger
	actor func(r *http.Request) string
	// scenes caches drawn diagrams by definition id: a deployed definition never changes,
	// so its static drawing is built once and only overlays are drawn per request.
	scenes sync.Map // string → *diagram.Scene
}

// New returns the UI as an http.Handler. Every route is wired in routes below.
func New(opts Options) http.Handler {
	s := &server{eng: opts.Engine, cmds: opts.Commands, log: opts.Logger, actor: opts.Actor}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.actor == nil {
		s.actor = func(*http.Request) string { return "web" }
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.Recover())
	e.Use(securityHeaders)
	s.routes(e)
	// Refuse cross-site form posts (a page elsewhere posting to a local cockpit): the
	// browser's Sec-Fetch-Site / Origin headers tell, no token needed.
	return http.NewCrossOriginProtection().Handler(e)
}

// routes is the one place that names every page.
func (s *server) routes(e *echo.Echo) {
	e.GET("/", s.dashboard)
	e.GET("/processes/:key", s.process)
	e.GET("/instances", s.instances)
	e.GET("/instances/:id", s.instance)
	e.GET("/incidents", s.incidents)
	e.GET("/tasks", s.tasks)
	e.GET("/tasks/:id", s.task)
	e.POST("/tasks/:id/complete", s.completeTask)
	e.GET("/search", s.search)
	e.GET("/static/diagram.css", s.diagramCSS)
	e.GET("/static/*", s.static)
}

// securityHeaders sets the headers every answer carries. The CSP allows no inline script
// (app.js binds every handler) and no inline style: diagrams are drawn without their
// <style> and styled by /static/diagram.css.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "+
			"form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		return next(c)
	}
}

func (s *server) now() time.Time { return s.eng.Clock().Now() }
