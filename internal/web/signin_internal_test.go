package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/auth/authtest"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// TestRoutePermissions walks every route of the UI with no session and with a session
// of each role: without one, a page sends to the sign-in page and anything else is 401;
// a role without the route's permission gets 403, one with it is let through.
func TestRoutePermissions(t *testing.T) {
	ctx := context.Background()
	e, svc := newSignInEngine(t)
	cookies := map[auth.Role]string{}
	for _, r := range auth.Roles {
		if _, err := svc.CreateUser(ctx, r.String()+"-user", "a long enough password", r); err != nil {
			t.Fatal(err)
		}
		secret, _, err := svc.SignIn(ctx, r.String()+"-user", "a long enough password", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		cookies[r] = secret
	}
	ui := New(Options{Engine: e, Auth: svc, Logger: slog.New(slog.DiscardHandler)})
	fill := strings.NewReplacer(":key", "k", ":id", "i", ":fp", "f", ":chart", "throughput.svg", ":table", "elements.csv", "*", "app.css")
	do := func(method, path, cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader("x=1"))
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		}
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, req)
		return rec
	}
	routes := ui.s.echo.Routes()
	if len(routes) < 50 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		if rt.Path == "/signout" {
			continue // ends the session: checked on its own below
		}
		path := fill.Replace(rt.Path)
		perm, public := routePermission(rt.Method, rt.Path)
		rec := do(rt.Method, path, "")
		switch {
		case public:
			// (POST /signin refuses the test's empty credentials with 401: its own answer.)
			if rt.Path != "/signin" && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden) {
				t.Errorf("%s %s is public but answered %d", rt.Method, rt.Path, rec.Code)
			}
		case rt.Method == http.MethodGet && rt.Path != "/live":
			if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/signin?next=") {
				t.Errorf("%s %s without a session: %d %q", rt.Method, rt.Path, rec.Code, rec.Header().Get("Location"))
			}
		default:
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s %s without a session: %d", rt.Method, rt.Path, rec.Code)
			}
		}
		if public {
			continue
		}
		for _, role := range auth.Roles {
			rec := do(rt.Method, path, cookies[role])
			denied := rec.Code == http.StatusForbidden || rec.Code == http.StatusUnauthorized
			if role.Can(perm) == denied {
				t.Errorf("%s %s as %s: %d", rt.Method, rt.Path, role, rec.Code)
			}
		}
	}
	// The roles' edges, named: a viewer reads but does not act, an analyst exports, an
	// operator acts but does not deploy.
	for _, c := range []struct {
		role         auth.Role
		method, path string
		want         int
	}{
		{auth.Viewer, http.MethodGet, "/instances", http.StatusOK},
		{auth.Viewer, http.MethodGet, "/instances.csv", http.StatusForbidden},
		{auth.Viewer, http.MethodPost, "/instances/i/cancel", http.StatusForbidden},
		{auth.Analyst, http.MethodGet, "/audit.csv", http.StatusOK},
		{auth.Analyst, http.MethodPost, "/instances/i/cancel", http.StatusForbidden},
		{auth.Operator, http.MethodGet, "/deploy", http.StatusForbidden},
		{auth.Admin, http.MethodGet, "/deploy", http.StatusOK},
	} {
		if rec := do(c.method, c.path, cookies[c.role]); rec.Code != c.want {
			t.Errorf("%s %s as %s: %d, want %d", c.method, c.path, c.role, rec.Code, c.want)
		}
	}
	if rec := do(http.MethodGet, "/instances", cookies[auth.Viewer]); !strings.Contains(rec.Body.String(), `data-testid="user-name">viewer-user<`) {
		t.Error("the page does not name the signed-in user")
	}
	// Sign-out ends the session.
	if rec := do(http.MethodPost, "/signout", cookies[auth.Viewer]); rec.Code != http.StatusSeeOther {
		t.Errorf("sign-out: %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/instances", cookies[auth.Viewer]); rec.Code != http.StatusSeeOther {
		t.Errorf("after sign-out: %d", rec.Code)
	}
}

// TestNoSignInSaysSo: a cockpit without sign-in says on its pages that whoever reaches
// it acts under the configured name.
func TestNoSignInSaysSo(t *testing.T) {
	e, _ := newSignInEngine(t)
	ui := New(Options{Engine: e, Actor: "desk", Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="no-signin"`) || !strings.Contains(rec.Body.String(), "acting as desk") {
		t.Errorf("%d: the page does not say nobody signs in", rec.Code)
	}
}

// TestUsersPage: an admin makes a user, changes the role, issues a token (shown once)
// that works as a bearer until revoked, disables the user; each change is in the audit
// log; an admin cannot disable itself.
func TestUsersPage(t *testing.T) {
	ctx := context.Background()
	e, svc := newSignInEngine(t)
	admin, err := svc.CreateUser(ctx, "root", "a long enough password", auth.Admin)
	if err != nil {
		t.Fatal(err)
	}
	cookie, _, err := svc.SignIn(ctx, "root", "a long enough password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ui := New(Options{Engine: e, Auth: svc, Logger: slog.New(slog.DiscardHandler)})
	do := func(method, path string, form url.Values, bearer string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		} else {
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		}
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, req)
		return rec
	}
	rec := do(http.MethodPost, "/users", url.Values{"name": {"bob"}, "password": {"bob's long password"}, "role": {"operator"}}, "")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/users/") {
		t.Fatalf("make bob: %d %s", rec.Code, rec.Body.String())
	}
	bobURL := rec.Header().Get("Location")
	if rec := do(http.MethodPost, "/users", url.Values{"name": {"bob"}, "password": {"another long password"}, "role": {"viewer"}}, ""); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "exists") {
		t.Errorf("a second bob: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/users", url.Values{"name": {"carl"}, "password": {"short"}, "role": {"viewer"}}, ""); rec.Code != http.StatusUnprocessableEntity ||
		!strings.Contains(rec.Body.String(), "at least 12") {
		t.Errorf("a short password: %d", rec.Code)
	}
	if rec := do(http.MethodPost, bobURL+"/role", url.Values{"role": {"analyst"}}, ""); rec.Code != http.StatusSeeOther {
		t.Errorf("bob's role: %d", rec.Code)
	}
	rec = do(http.MethodPost, bobURL+"/tokens", url.Values{"name": {"ci"}, "role": {"analyst"}, "days": {"30"}, "types": {"ship, pack"}}, "")
	m := regexp.MustCompile(`data-testid="new-token-secret">(ck_[A-Za-z0-9_-]+)<`).FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		t.Fatalf("issue a token: %d", rec.Code)
	}
	token := m[1]
	if strings.Contains(do(http.MethodGet, bobURL, nil, "").Body.String(), token) {
		t.Error("the token's secret is shown again")
	}
	if rec := do(http.MethodGet, "/instances.csv", nil, token); rec.Code != http.StatusOK {
		t.Errorf("the analyst token on an export: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/instances/x/cancel", nil, token); rec.Code != http.StatusForbidden {
		t.Errorf("the analyst token acting: %d", rec.Code)
	}
	if rec := do(http.MethodPost, bobURL+"/tokens", url.Values{"name": {"big"}, "role": {"admin"}}, ""); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a token above bob's role: %d", rec.Code)
	}
	toks, err := svc.Users(ctx)
	if err != nil || len(toks) != 2 {
		t.Fatalf("users: %v %v", toks, err)
	}
	_, list, _, err := svc.User(ctx, strings.TrimPrefix(bobURL, "/users/"))
	if err != nil || len(list) != 1 {
		t.Fatalf("bob's tokens: %v %v", list, err)
	}
	if rec := do(http.MethodPost, bobURL+"/tokens/"+list[0].ID+"/revoke", nil, ""); rec.Code != http.StatusSeeOther {
		t.Errorf("revoke: %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/instances.csv", nil, token); rec.Code != http.StatusSeeOther {
		t.Errorf("a revoked token: %d", rec.Code)
	}
	if rec := do(http.MethodPost, bobURL+"/disable", nil, ""); rec.Code != http.StatusSeeOther {
		t.Errorf("disable bob: %d", rec.Code)
	}
	if _, _, err := svc.SignIn(ctx, "bob", "bob's long password", "10.1.1.1"); err == nil {
		t.Error("a disabled bob signs in")
	}
	if rec := do(http.MethodPost, "/users/"+admin.ID+"/disable", nil, ""); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("an admin disabling itself: %d", rec.Code)
	}
	audit, err := e.ListAudit(ctx, store.AuditFilter{Actor: "root", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var verbs []string
	for _, a := range audit {
		verbs = append(verbs, a.Command+":"+a.Result)
	}
	for _, want := range []string{"user.create:ok", "user.role:ok", "user.token:ok", "user.revoke-token:ok", "user.disable:ok", "user.disable:invalid_input"} {
		if !slices.Contains(verbs, want) {
			t.Errorf("audit lacks %s: %v", want, verbs)
		}
	}
	page := do(http.MethodGet, bobURL, nil, "").Body.String()
	if !strings.Contains(page, `data-state="revoked"`) || !strings.Contains(page, "disabled") || !strings.Contains(page, "· ship, pack") {
		t.Errorf("bob's page does not show the revoked token and the disabled state")
	}
}

// TestAccountPage: a signed-in user manages their own tokens (at most their role) and
// password (the current one asked for), and nobody else's.
func TestAccountPage(t *testing.T) {
	ctx := context.Background()
	e, svc := newSignInEngine(t)
	if _, err := svc.CreateUser(ctx, "vic", "vic's long password", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	cookie, _, err := svc.SignIn(ctx, "vic", "vic's long password", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ui := New(Options{Engine: e, Auth: svc, Logger: slog.New(slog.DiscardHandler)})
	do := func(method, path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, req)
		return rec
	}
	if rec := do(http.MethodGet, "/account", nil); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "user-role-submit") {
		t.Fatalf("the account page: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/account/tokens", url.Values{"name": {"mine"}, "role": {"operator"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a token above one's role: %d", rec.Code)
	}
	rec := do(http.MethodPost, "/account/tokens", url.Values{"name": {"mine"}, "role": {"viewer"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="new-token-secret">ck_`) {
		t.Errorf("one's own token: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/account/role", url.Values{"role": {"admin"}}); rec.Code != http.StatusNotFound {
		t.Errorf("one's own role: %d", rec.Code)
	}
	if rec := do(http.MethodGet, "/users", nil); rec.Code != http.StatusForbidden {
		t.Errorf("the users page as a viewer: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/account/password", url.Values{"current": {"a wrong password"}, "password": {"a new long password"}}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a password change with a wrong current one: %d", rec.Code)
	}
	if rec := do(http.MethodPost, "/account/password", url.Values{"current": {"vic's long password"}, "password": {"a new long password"}}); rec.Code != http.StatusSeeOther ||
		rec.Header().Get("Location") != "/signin" {
		t.Errorf("a password change: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if _, _, err := svc.SignIn(ctx, "vic", "a new long password", "127.0.0.1"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// TestOIDCSignIn: the sign-in page offers single sign-on; /oidc/login sends to the
// provider with a state kept in a cookie; the callback with that state and a good code
// signs the user in and goes on to the page first asked for; a callback of another
// sign-in is refused.
func TestOIDCSignIn(t *testing.T) {
	ctx := context.Background()
	e, svc := newSignInEngine(t)
	p := authtest.NewProvider(t)
	sso, err := svc.NewOIDC(ctx, auth.OIDCOptions{Issuer: p.Srv.URL, ClientID: "cockpit", RedirectURL: "http://cockpit.test/oidc/callback",
		Roles: map[string]auth.Role{"ops": auth.Operator}})
	if err != nil {
		t.Fatal(err)
	}
	ui := New(Options{Engine: e, Auth: svc, OIDC: sso, Logger: slog.New(slog.DiscardHandler)})
	get := func(path string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		ui.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("/signin?next=/instances"); !strings.Contains(rec.Body.String(), `data-testid="signin-sso"`) {
		t.Fatal("the sign-in page offers no single sign-on")
	}
	rec := get("/oidc/login?next=/instances")
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), p.Srv.URL) {
		t.Fatalf("login: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	var flow *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == oidcCookie {
			flow = c
		}
	}
	if flow == nil || !flow.HttpOnly {
		t.Fatalf("the sign-in's cookie: %+v", flow)
	}
	q := loc.Query()
	p.Authorize(t, &auth.OIDCStart{URL: loc.String(), State: q.Get("state"), Nonce: q.Get("nonce")},
		map[string]any{"preferred_username": "sam", "groups": []any{"ops"}})
	if rec := get("/oidc/callback?state=another&code="+authtest.GoodCode, flow); rec.Code != http.StatusUnauthorized {
		t.Errorf("a callback of another sign-in: %d", rec.Code)
	}
	rec = get("/oidc/callback?state="+url.QueryEscape(q.Get("state"))+"&code="+authtest.GoodCode, flow)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/instances" {
		t.Fatalf("callback: %d %q %.300s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
	}
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			session = c
		}
	}
	if page := get("/instances", session); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), `data-testid="user-name">sam<`) ||
		!strings.Contains(page.Body.String(), `data-testid="user-role">operator<`) {
		t.Errorf("signed in through the provider: %d", page.Code)
	}
}

// newSignInEngine is an engine (not started) on a fresh SQLite store, with the sign-in
// service on the same store; both end with the test.
func newSignInEngine(t *testing.T) (*engine.Engine, *auth.Service) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	svc, err := auth.New(auth.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return e, svc
}
