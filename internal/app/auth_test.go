package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestServeAuthLocal: with --auth local the first start makes user admin with a
// password printed once; pages send to the sign-in page and the JSON API and /metrics
// answer 401 until the admin signs in; the health endpoints stay open.
func TestServeAuthLocal(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--auth", "local", "--demo=false")
	defer s.stop()
	var pw string
	wait.For(t, "the first admin's password in the log", func() bool {
		m := regexp.MustCompile(`user=admin password=(\S+)`).FindStringSubmatch(s.stderr.String())
		if m != nil {
			pw = m[1]
		}
		return pw != ""
	})
	noRedirect := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookie *http.Cookie) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := get("/", nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin") {
		t.Errorf("a page without a session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	// Every route of the JSON API and /metrics: 401 without credentials.
	apiRoutes := []string{"/api/definitions", "/api/instances", "/api/instances/x", "/api/incidents", "/api/tasks",
		"/api/parked-events", "/api/nothing", "/metrics"}
	for _, p := range apiRoutes {
		if res := get(p, nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d", p, res.StatusCode)
		}
	}
	if res := get("/healthz", nil); res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	signIn := func(password string) *http.Response {
		form := url.Values{"name": {"admin"}, "password": {password}, "next": {"/instances"}}
		req, _ := http.NewRequest(http.MethodPost, s.base+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := signIn("not the password"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d", res.StatusCode)
	}
	res := signIn(pw)
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "cockpit_session" {
			session = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/instances" || session == nil || !session.HttpOnly ||
		session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("sign-in: %d %q %+v", res.StatusCode, res.Header.Get("Location"), session)
	}
	if res := get("/instances", session); res.StatusCode != http.StatusOK {
		t.Errorf("a page with the session: %d", res.StatusCode)
	}
	for _, p := range apiRoutes {
		if res := get(p, session); res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			t.Errorf("%s with the admin's session: %d", p, res.StatusCode)
		}
	}
	// Camunda's REST API is served, and takes API tokens only: not even a session.
	for _, c := range []*http.Cookie{nil, session} {
		if res := get("/engine-rest/version", c); res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("/engine-rest/version (session %v): %d %q", c != nil, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	if r := runApp(t, nil, "serve", "--auth", "ldap"); r.code == exitOK || !strings.Contains(r.stderr, "--auth") {
		t.Errorf("--auth ldap: exit %d\n%s", r.code, r.stderr)
	}
	for args, want := range map[string]string{
		"--command-require-credentials":                 "needs --command-key",
		"--oidc-issuer https://id.example":              "needs --auth local",
		"--auth local --oidc-issuer https://id.example": "needs --oidc-client-id",
		"--auth local --oidc-issuer https://id.example --oidc-client-id c --oidc-redirect-url https://c/oidc/callback --oidc-roles ops":         "value=role",
		"--auth local --oidc-issuer https://id.example --oidc-client-id c --oidc-redirect-url https://c/oidc/callback --oidc-default-role boss": "--oidc-default-role",
	} {
		if r := runApp(t, nil, append([]string{"serve"}, strings.Fields(args)...)...); r.code == exitOK || !strings.Contains(r.stderr, want) {
			t.Errorf("serve %s: exit %d, want %q\n%s", args, r.code, want, r.stderr)
		}
	}
}

// TestWorkerToken: a job worker's token must be a user's with a role that may act.
func TestWorkerToken(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := auth.New(auth.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	check := workerToken(svc)
	tokens := map[auth.Role]string{}
	for _, r := range []auth.Role{auth.Viewer, auth.Operator} {
		u, err := svc.CreateUser(ctx, "w-"+r.String(), "", r)
		if err != nil {
			t.Fatal(err)
		}
		if tokens[r], _, err = svc.IssueToken(ctx, u.ID, "worker", r, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := check(ctx, tokens[auth.Operator]); err != nil {
		t.Errorf("an operator's token: %v", err)
	}
	if _, err := check(ctx, tokens[auth.Viewer]); err == nil || !strings.Contains(err.Error(), "need operator") {
		t.Errorf("a viewer's token: %v", err)
	}
	if _, err := check(ctx, "ck_nothing"); err == nil {
		t.Error("an unknown token was taken")
	}
}

// TestServeAuthLocalCommands: with --auth local the command service takes only commands
// with credentials: the web UI's (signed with the node's key, registered in the store)
// go through under the signed-in user; an anonymous one over NATS is refused.
func TestServeAuthLocalCommands(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := embeddedNATS(t)
	s := startServer(t, "--auth", "local", "--demo-rate", "20", "--nats-url", srv.ClientURL())
	defer s.stop()
	var pw string
	wait.For(t, "the first admin's password in the log", func() bool {
		if m := regexp.MustCompile(`user=admin password=(\S+)`).FindStringSubmatch(s.stderr.String()); m != nil {
			pw = m[1]
		}
		return pw != ""
	})
	noRedirect := &http.Client{Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, form url.Values, cookie *http.Cookie) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	var session *http.Cookie
	for _, c := range post("/signin", url.Values{"name": {"admin"}, "password": {pw}}, nil).Cookies() {
		if c.Name == "cockpit_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session")
	}
	apiGet := func(path string, into any) {
		req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
		req.AddCookie(session)
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_ = json.NewDecoder(res.Body).Decode(into)
	}
	var running struct{ Instances []struct{ ID string } }
	wait.For(t, "two running instances", func() bool {
		apiGet("/api/instances?state=active&limit=2", &running)
		return len(running.Instances) == 2
	})
	a, b := running.Instances[0].ID, running.Instances[1].ID
	if res := post("/instances/"+a+"/cancel", url.Values{"reason": {"x"}, "confirm": {"yes"}}, session); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the web UI's cancel: %d", res.StatusCode)
	}
	var detail struct{ Instance struct{ State string } }
	apiGet("/api/instances/"+a, &detail)
	if detail.Instance.State != "cancelled" {
		t.Errorf("after the web UI's cancel: %q", detail.Instance.State)
	}
	nc, err := srv.Connect(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("cockpit.cmd.instance.cancel", []byte(`{"actor":"admin","instanceId":"`+b+`"}`), 10*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), `"unauthorized"`) {
		t.Fatalf("an anonymous command: %v %s", err, msg.Data)
	}
}
