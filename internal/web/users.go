package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// The users page (admins; Options.Auth): the users with their roles, a form for a new
// one; a user's page changes the role or the password, disables the user, issues API
// tokens (the secret shown once) and revokes them, ends the sessions, and lists the
// user's audit entries. Every change is written to the audit log (user.*).

// userAuditShown is how many of a user's audit entries the page lists.
const userAuditShown = 50

func (s *server) requireAuth() error {
	if s.auth == nil {
		return notFound("This cockpit has no sign-in (serve --auth local turns it on), so it has no users.")
	}
	return nil
}

// usersPage is GET /users.
func (s *server) usersPage(c echo.Context) error {
	return s.showUsers(c, http.StatusOK, pages.UsersProps{})
}

func (s *server) showUsers(c echo.Context, status int, p pages.UsersProps) error {
	if err := s.requireAuth(); err != nil {
		return err
	}
	users, err := s.auth.Users(c.Request().Context())
	if err != nil {
		return err
	}
	p.Users, p.Now, p.Roles = users, s.now(), roleNames()
	return s.render(c, status, page{Title: "Users", Nav: "users"}, pages.Users(p))
}

// createUser is POST /users.
func (s *server) createUser(c echo.Context) error {
	if err := s.requireAuth(); err != nil {
		return err
	}
	p := pages.UsersProps{Name: strings.TrimSpace(c.FormValue("name")), Role: c.FormValue("role")}
	role, err := auth.ParseRole(p.Role)
	var u *store.User
	if err == nil {
		u, err = s.auth.CreateUser(c.Request().Context(), p.Name, c.FormValue("password"), role)
	}
	s.auditUser(c, "user.create", p.Name, map[string]any{"name": p.Name, "role": p.Role}, err)
	if err != nil && !errors.Is(err, auth.ErrInvalid) {
		return err
	}
	if err != nil {
		p.Error = userError(err)
		return s.showUsers(c, http.StatusUnprocessableEntity, p)
	}
	return redirectFlash(c, "/users/"+u.ID, fmt.Sprintf("User %s (%s) was made.", u.Name, u.Role), false)
}

// userPage is GET /users/:id.
func (s *server) userPage(c echo.Context) error {
	return s.showUser(c, http.StatusOK, pages.UserProps{})
}

// accountPage is GET /account: the signed-in user's own page.
func (s *server) accountPage(c echo.Context) error {
	return s.showUser(c, http.StatusOK, pages.UserProps{Own: true})
}

// pageUserID is the user a users page or the account page is about.
func (s *server) pageUserID(c echo.Context, own bool) string {
	if own {
		if id := auth.FromContext(c.Request().Context()); id != nil {
			return id.UserID
		}
		return ""
	}
	return c.Param("id")
}

func (s *server) showUser(c echo.Context, status int, p pages.UserProps) error {
	if err := s.requireAuth(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	uid := s.pageUserID(c, p.Own)
	u, toks, sess, err := s.auth.User(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("No user %q.", uid)
	}
	if err != nil {
		return err
	}
	audit, err := s.eng.ListAudit(ctx, store.AuditFilter{Actor: u.Name, Limit: userAuditShown})
	if err != nil {
		return err
	}
	p.User, p.Tokens, p.Sessions, p.Audit, p.Now, p.Roles = u, toks, sess, audit, s.now(), roleNames()
	title := u.Name
	if p.Own {
		title = "Your account"
	}
	if id := auth.FromContext(ctx); id != nil {
		p.Self = id.UserID == u.ID
	}
	return s.render(c, status, page{Title: title, Nav: "users"}, pages.User(p))
}

// userAction is POST /users/:id/:action.
func (s *server) userAction(c echo.Context) error { return s.accountAction(c, false) }

// ownAction is POST /account/:action: tokens, password (with the current one) and
// sessions of the signed-in user.
func (s *server) ownAction(c echo.Context) error { return s.accountAction(c, true) }

func (s *server) accountAction(c echo.Context, own bool) error {
	if err := s.requireAuth(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	uid := s.pageUserID(c, own)
	u, _, _, err := s.auth.User(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("No user %q.", uid)
	}
	if err != nil {
		return err
	}
	self := false
	if id := auth.FromContext(ctx); id != nil {
		self = id.UserID == u.ID
	}
	back := "/users/" + u.ID
	if own {
		back = "/account"
		switch c.Param("action") {
		case "password", "tokens", "sessions":
		default:
			return notFound("No account action %q.", c.Param("action"))
		}
	}
	var msg string
	req := map[string]any{"user": u.Name}
	verb := "user." + c.Param("action")
	switch c.Param("action") {
	case "role":
		role, perr := auth.ParseRole(c.FormValue("role"))
		req["role"] = c.FormValue("role")
		switch {
		case perr != nil:
			err = perr
		case self && role != auth.Admin:
			err = fmt.Errorf("you cannot take the admin role from yourself (another admin can): %w", auth.ErrInvalid)
		default:
			err = s.auth.SetRole(ctx, u.ID, role)
		}
		msg = fmt.Sprintf("%s is %s now.", u.Name, c.FormValue("role"))
	case "password":
		if own && (u.PasswordHash == "" || !auth.VerifyPassword(u.PasswordHash, c.FormValue("current"))) {
			err = fmt.Errorf("the current password is wrong: %w", auth.ErrInvalid)
		} else {
			err = s.auth.SetPassword(ctx, u.ID, c.FormValue("password"))
		}
		msg = fmt.Sprintf("%s's password was changed; their sessions ended.", u.Name)
		if own || self {
			back, msg = "/signin", "Your password was changed: sign in with it."
		}
	case "disable", "enable":
		if self && c.Param("action") == "disable" {
			err = fmt.Errorf("you cannot disable yourself: %w", auth.ErrInvalid)
		} else {
			err = s.auth.Disable(ctx, u.ID, c.Param("action") == "disable")
		}
		msg = fmt.Sprintf("%s was %sd.", u.Name, c.Param("action"))
	case "sessions":
		verb = "user.end-sessions"
		err = s.auth.EndSessions(ctx, u.ID)
		msg = fmt.Sprintf("%s's sessions ended.", u.Name)
	case "tokens":
		return s.issueToken(c, u, own)
	default:
		return notFound("No user action %q.", c.Param("action"))
	}
	s.auditUser(c, verb, u.Name, req, err)
	if errors.Is(err, auth.ErrInvalid) {
		return s.showUser(c, http.StatusUnprocessableEntity, pages.UserProps{Error: userError(err), Own: own})
	}
	if err != nil {
		return err
	}
	return redirectFlash(c, back, msg, false)
}

// issueToken makes a token and shows its secret once.
func (s *server) issueToken(c echo.Context, u *store.User, own bool) error {
	ctx := c.Request().Context()
	name := strings.TrimSpace(c.FormValue("name"))
	role, err := auth.ParseRole(c.FormValue("role"))
	var expires *time.Time
	if days := strings.TrimSpace(c.FormValue("days")); err == nil && days != "" {
		n, perr := strconv.Atoi(days)
		if perr != nil || n < 1 || n > 3650 {
			err = fmt.Errorf("days %q: 1 to 3650, or empty for no expiry: %w", days, auth.ErrInvalid)
		} else {
			t := s.now().Add(time.Duration(n) * 24 * time.Hour)
			expires = &t
		}
	}
	var secret string
	if err == nil {
		secret, _, err = s.auth.IssueToken(ctx, u.ID, name, role, expires, strings.Fields(strings.ReplaceAll(c.FormValue("types"), ",", " ")))
	}
	s.auditUser(c, "user.token", u.Name, map[string]any{"user": u.Name, "token": name, "role": c.FormValue("role")}, err)
	if errors.Is(err, auth.ErrInvalid) {
		return s.showUser(c, http.StatusUnprocessableEntity, pages.UserProps{Error: userError(err), Own: own})
	}
	if err != nil {
		return err
	}
	return s.showUser(c, http.StatusOK, pages.UserProps{NewToken: secret, NewTokenName: name, Own: own})
}

// revokeToken is POST /users/:id/tokens/:token/revoke.
func (s *server) revokeToken(c echo.Context) error { return s.revoke(c, false) }

// revokeOwnToken is POST /account/tokens/:token/revoke.
func (s *server) revokeOwnToken(c echo.Context) error { return s.revoke(c, true) }

func (s *server) revoke(c echo.Context, own bool) error {
	if err := s.requireAuth(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	uid := s.pageUserID(c, own)
	u, toks, _, err := s.auth.User(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("No user %q.", uid)
	}
	if err != nil {
		return err
	}
	var tok *store.APIToken
	for _, t := range toks {
		if t.ID == c.Param("token") {
			tok = t
		}
	}
	if tok == nil {
		return notFound("User %s has no token %q.", u.Name, c.Param("token"))
	}
	err = s.auth.RevokeToken(ctx, tok.ID)
	s.auditUser(c, "user.revoke-token", u.Name, map[string]any{"user": u.Name, "token": tok.Name}, err)
	if err != nil {
		return err
	}
	back := "/users/" + u.ID
	if own {
		back = "/account"
	}
	return redirectFlash(c, back, fmt.Sprintf("Token %s of %s was revoked.", tok.Name, u.Name), false)
}

// auditUser records a change to the accounts (the request names no secret).
func (s *server) auditUser(c echo.Context, verb, target string, req map[string]any, err error) {
	body, _ := json.Marshal(req)
	a := &store.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), Time: s.now(), Actor: s.actor(c.Request()),
		Command: verb, Target: target, Reason: reasonWeb, Request: body, Result: store.AuditStarted}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), deployAuditTimeout)
	defer cancel()
	if aerr := s.eng.BeginAudit(ctx, a); aerr != nil {
		s.log.Error("web: write the audit row of an account change", "command", verb, "err", aerr)
		return
	}
	a.Result = "ok"
	if err != nil {
		a.Result, a.Error = "invalid_input", store.StorableText(err.Error())
	}
	if aerr := s.eng.FinishAudit(ctx, a); aerr != nil {
		s.log.Error("web: write the audit result of an account change", "command", verb, "err", aerr)
	}
}

// userError is the message of a refused change.
func userError(err error) string {
	msg := err.Error()
	return strings.TrimSuffix(msg, ": "+auth.ErrInvalid.Error())
}

func roleNames() []string {
	var out []string
	for _, r := range auth.Roles {
		out = append(out, r.String())
	}
	return out
}
