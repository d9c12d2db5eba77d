package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/static"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// page names a page for the layout.
type page struct {
	Title  string
	Nav    string
	Search string
}

// isFragment tells a request for the page content alone: htmx sends HX-Request, and the
// coming SSE hub renders the same components without the frame.
func isFragment(r *http.Request) bool { return r.Header.Get("HX-Request") == "true" }

// render writes content with status: wrapped in the layout for a normal request, alone
// for a fragment request. It renders into a buffer first, so a failing component turns
// into a clean 500 instead of half a page.
func (s *server) render(c echo.Context, status int, p page, content templ.Component) error {
	r := c.Request()
	var buf bytes.Buffer
	var err error
	if isFragment(r) {
		err = content.Render(r.Context(), &buf)
	} else {
		lp := layout.Props{Title: p.Title, Nav: p.Nav, AssetVersion: static.Version, Search: p.Search, Flash: takeFlash(c),
			Live: s.liveProps(c, status), ReadOnly: s.readOnly,
			Services: s.servicesReport != nil, User: layoutUser(r, s.auth != nil)}
		err = layout.Page(lp).Render(templ.WithChildren(r.Context(), content), &buf)
	}
	if err != nil {
		return fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "HX-Request")
	c.Response().WriteHeader(status)
	_, err = c.Response().Write(buf.Bytes())
	return err
}

// pageError is an error a handler wants shown as a page with its own status and words.
type pageError struct {
	Status    int
	Title     string
	Message   string
	BackHref  string
	BackLabel string
}

func (e *pageError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Message) }

func notFound(format string, args ...any) *pageError {
	return &pageError{Status: http.StatusNotFound, Title: "Not found", Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *pageError {
	return &pageError{Status: http.StatusBadRequest, Title: "Bad request", Message: fmt.Sprintf(format, args...)}
}

// handleError renders every error a handler returns (and echo's own 404/405) as a page.
// Messages of 4xx errors are shown; a 500 is logged and shown without its details.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var pe *pageError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
	case errors.As(err, &he) && he.Code == http.StatusNotFound:
		pe = notFound("There is no page at %s. Check the address, or start from the overview.", c.Request().URL.Path)
	case errors.As(err, &he) && he.Code == http.StatusMethodNotAllowed:
		pe = &pageError{Status: he.Code, Title: "Method not allowed", Message: fmt.Sprintf("%s is not supported here.", c.Request().Method)}
	case errors.As(err, &he):
		pe = &pageError{Status: he.Code, Title: http.StatusText(he.Code), Message: fmt.Sprint(he.Message)}
	case errors.Is(err, store.ErrNotFound):
		pe = notFound("%v", err)
	case errors.Is(err, store.ErrInvalidCursor): // before ErrInvalidInput, which the engine wraps it in
		pe = badRequest("Parameter after: %q is not a page cursor this server made; start again from the first page.", c.QueryParam("after"))
	case errors.Is(err, engine.ErrInvalidInput):
		pe = badRequest("%v", err)
	case errors.Is(err, context.Canceled):
		return // the browser went away
	default:
		s.log.Error("web", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		pe = &pageError{Status: http.StatusInternalServerError, Title: "Something went wrong",
			Message: "The page could not be built. The error is in the server log."}
	}
	if pe.BackHref == "" {
		pe.BackHref, pe.BackLabel = "/", "Go to the overview"
	}
	props := pages.ErrorProps{Status: pe.Status, Title: pe.Title, Message: pe.Message, BackHref: pe.BackHref, BackLabel: pe.BackLabel}
	if rerr := s.render(c, pe.Status, page{Title: pe.Title}, pages.Error(props)); rerr != nil {
		s.log.Error("web: render error page", "err", rerr)
	}
}

// static serves web/static. Files named with the current ?v= may be cached for good.
func (s *server) static(c echo.Context) error {
	name := path.Clean(strings.TrimPrefix(c.Param("*"), "/"))
	b, err := fs.ReadFile(static.FS, name)
	if err != nil {
		return notFound("There is no file %s.", name)
	}
	h := c.Response().Header()
	if c.QueryParam("v") == static.Version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	return c.Blob(http.StatusOK, contentType(name), b)
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// diagramCSS serves the diagram renderer's stylesheet (diagrams are drawn without their
// inline <style>, so the CSP needs no 'unsafe-inline'); app.css sets its colours per theme.
func (s *server) diagramCSS(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, "text/css; charset=utf-8", []byte(diagram.DefaultCSS))
}
