package web

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Sign-in (Options.Auth): every route but the sign-in page and the static files needs
// a signed-in user (a session cookie, or an API token as "Authorization: Bearer ck_…")
// whose role has the route's permission (routePermission); a request without one is
// sent to the sign-in page (GET) or refused with 401, one whose role falls short gets a
// 403 page saying which role it needs. Without Options.Auth nobody signs in: every
// request acts as the local operator (Options.Actor), and every page says so.

// SessionCookie is the session cookie's name.
const SessionCookie = auth.SessionCookie

// routePermission is the permission a route (echo's path pattern) needs; public routes
// need none.
func routePermission(method, path string) (perm auth.Permission, public bool) {
	switch {
	case path == "/signin" || strings.HasPrefix(path, "/static/") || strings.HasPrefix(path, "/oidc/"):
		return 0, true
	case path == "/signout" || strings.HasPrefix(path, "/account"):
		// One's own account (tokens up to one's role, password, sessions).
		return auth.Read, false
	case path == "/deploy" || path == "/processes/:key/stall-threshold" || strings.HasPrefix(path, "/users"):
		return auth.Administer, false
	case strings.HasPrefix(path, "/processes/:key/analytics") || path == "/instances.csv" || path == "/audit.csv":
		return auth.Analyze, false
	}
	if method == http.MethodGet || method == http.MethodHead {
		switch path {
		// Forms that only lead to an action (and previews, which run the command without
		// its change): an operator's.
		case "/instances/:id/variables", "/instances/:id/modify", "/instances/modify", "/processes/:key/migrate",
			"/incidents/:id/retry", "/processes/:key/start", "/messages/correlate", "/signals/broadcast":
			return auth.Act, false
		}
		return auth.Read, false
	}
	return auth.Act, false
}

// authenticate finds who a request comes from and checks the route's permission.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		perm, public := routePermission(r.Method, c.Path())
		var id *auth.Identity
		if s.auth == nil {
			id = &auth.Identity{Name: s.actor(r), Role: auth.Admin, Via: "local"}
		} else if !public {
			var err error
			if id, err = s.auth.Request(r); err != nil {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					return err
				}
				if r.Method == http.MethodGet && c.Path() != "/live" {
					return c.Redirect(http.StatusSeeOther, "/signin?next="+url.QueryEscape(r.URL.RequestURI()))
				}
				return &pageError{Status: http.StatusUnauthorized, Title: "Sign in first",
					Message: "This needs a signed-in user: sign in, or send an API token as Authorization: Bearer ck_…", BackHref: "/signin", BackLabel: "Sign in"}
			}
		}
		if id != nil {
			c.SetRequest(r.WithContext(auth.WithIdentity(r.Context(), id)))
		}
		if !public && !id.Role.Can(perm) {
			return &pageError{Status: http.StatusForbidden, Title: "Not allowed",
				Message: "Your role (" + id.Role.String() + ") may not do this: it needs " + perm.Role().String() + ". Ask an admin."}
		}
		return next(c)
	}
}

// signinPage is GET /signin.
func (s *server) signinPage(c echo.Context) error {
	if s.auth == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	return s.render(c, http.StatusOK, page{Title: "Sign in"}, pages.SignIn(s.signInProps(c.QueryParam("next"))))
}

// signin is POST /signin.
func (s *server) signin(c echo.Context) error {
	if s.auth == nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	p := s.signInProps(c.FormValue("next"))
	p.Name = strings.TrimSpace(c.FormValue("name"))
	secret, _, err := s.auth.SignIn(c.Request().Context(), p.Name, c.FormValue("password"), clientAddress(c.Request()))
	switch {
	case errors.Is(err, auth.ErrRateLimited):
		p.Error = "Too many attempts: " + strings.TrimPrefix(err.Error(), auth.ErrRateLimited.Error()+": ") + "."
		return s.render(c, http.StatusTooManyRequests, page{Title: "Sign in"}, pages.SignIn(p))
	case errors.Is(err, auth.ErrBadCredentials):
		p.Error = "The name or the password is wrong."
		return s.render(c, http.StatusUnauthorized, page{Title: "Sign in"}, pages.SignIn(p))
	case err != nil:
		return err
	}
	s.setCookie(c, SessionCookie, "/", secret, int(s.auth.MaxAge()/time.Second))
	return c.Redirect(http.StatusSeeOther, p.Next)
}

// signout is POST /signout.
func (s *server) signout(c echo.Context) error {
	if ck, err := c.Cookie(SessionCookie); err == nil && s.auth != nil {
		if err := s.auth.SignOut(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	s.setCookie(c, SessionCookie, "/", "", -1)
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// safeNext keeps a redirect after sign-in on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || len(next) > 2048 {
		return "/"
	}
	return next
}

// clientAddress is the request's remote host (the sign-in limit's key).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// layoutUser is who the layout names.
func layoutUser(r *http.Request, signIn bool) *layout.User {
	id := auth.FromContext(r.Context())
	if id == nil {
		return nil
	}
	return &layout.User{Name: id.Name, Role: id.Role.String(), Local: !signIn}
}

// signInProps is the sign-in form for a destination.
func (s *server) signInProps(next string) pages.SignInProps {
	p := pages.SignInProps{Next: safeNext(next)}
	if s.oidc != nil {
		p.SSOHref = "/oidc/login?next=" + url.QueryEscape(p.Next)
		p.SSOIssuer = s.oidc.Issuer()
	}
	return p
}

// oidcCookie keeps a sign-in through the provider (state, nonce, PKCE verifier and
// destination) until its callback: HttpOnly, ten minutes, Lax (the callback is a
// top-level navigation from the provider).
const oidcCookie = "cockpit_oidc"

// oidcLogin is GET /oidc/login: to the provider.
func (s *server) oidcLogin(c echo.Context) error {
	if s.auth == nil || s.oidc == nil {
		return notFound("This cockpit has no single sign-on (serve --oidc-issuer).")
	}
	st, err := s.oidc.Start()
	if err != nil {
		return err
	}
	val := strings.Join([]string{st.State, st.Nonce, st.Verifier, url.QueryEscape(safeNext(c.QueryParam("next")))}, "|")
	s.setCookie(c, oidcCookie, "/oidc/", val, 600)
	return c.Redirect(http.StatusSeeOther, st.URL)
}

// oidcCallback is GET /oidc/callback: the provider's answer.
func (s *server) oidcCallback(c echo.Context) error {
	if s.auth == nil || s.oidc == nil {
		return notFound("This cockpit has no single sign-on (serve --oidc-issuer).")
	}
	fail := func(msg string) error {
		p := s.signInProps("/")
		p.Error = msg
		return s.render(c, http.StatusUnauthorized, page{Title: "Sign in"}, pages.SignIn(p))
	}
	ck, err := c.Cookie(oidcCookie)
	if err != nil {
		return fail("The sign-in through " + s.oidc.Issuer() + " has expired or was started elsewhere: try again.")
	}
	s.setCookie(c, oidcCookie, "/oidc/", "", -1)
	parts := strings.Split(ck.Value, "|")
	if len(parts) != 4 || c.QueryParam("state") == "" || c.QueryParam("state") != parts[0] {
		return fail("The provider's answer is not for this sign-in: try again.")
	}
	if e := c.QueryParam("error"); e != "" {
		return fail("The provider refused the sign-in: " + e + ".")
	}
	secret, _, err := s.oidc.Finish(c.Request().Context(), c.QueryParam("code"), parts[1], parts[2], clientAddress(c.Request()))
	if errors.Is(err, auth.ErrOIDC) {
		return fail(err.Error() + ".")
	}
	if err != nil {
		return err
	}
	next, _ := url.QueryUnescape(parts[3])
	s.setCookie(c, SessionCookie, "/", secret, int(s.auth.MaxAge()/time.Second))
	return c.Redirect(http.StatusSeeOther, safeNext(next))
}

// setCookie sets (maxAge > 0) or clears (-1) one of the sign-in's cookies: HttpOnly,
// SameSite=Lax, Secure under TLS.
func (s *server) setCookie(c echo.Context, name, path, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: s.secureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: maxAge})
}
