package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"golang.org/x/net/html"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/web"
)

// actions is a fixture whose actions really travel over NATS: an engine on its own
// SQLite file, an embedded NATS server, the command service on it, and the web UI with
// a command client. The "pay" process is the one of newFixture; "message" waits for the
// message payment.received correlated by orderId.
type actions struct {
	*fixture
	st store.Store
	nc *nats.Conn // the web UI's command client's connection
}

type actionsConfig struct {
	trustProxy bool
	// engineStore, when set, wraps the store the engine (and so the command service) uses.
	engineStore func(store.Store) store.Store
	// open, when set, opens the store (one of testStores); default a SQLite file.
	open func(t *testing.T) store.Store
}

func newActions(t *testing.T, cfg actionsConfig) *actions {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	if cfg.open != nil {
		st = cfg.open(t)
	} else {
		sq, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "cockpit.db")})
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		st = sq
	}
	var est store.Store = st
	if cfg.engineStore != nil {
		est = cfg.engineStore(st)
	}
	// The real clock: the executor runs the jobs in real time; no figure here depends on the hour.
	e, err := engine.New(engine.Options{Store: est, Workers: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("new engine: %v", err)
	}
	e.Handle("charge", func(ctx context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fail"] == true {
			return nil, errors.New("card declined by issuer")
		}
		return map[string]any{"charged": true}, nil
	})
	defs, err := bpmn.Build("pay", bpmn.Name("Payment")).
		Start("start").
		ServiceTask("charge", bpmn.Name("Charge card"), bpmn.JobType("charge"), bpmn.Retries(1)).
		UserTask("review", bpmn.Name("Review payment")).
		End("end").
		Definitions()
	if err != nil {
		t.Fatalf("build model: %v", err)
	}
	if _, err := e.DeployModel(ctx, "pay.bpmn", defs); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	msg, err := os.ReadFile(filepath.Join("testdata", "actions", "message.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Deploy(ctx, "message.bpmn", msg); err != nil {
		t.Fatalf("deploy message.bpmn: %v", err)
	}
	// Built with the flow builder (as a library user would): waits for the signal "go".
	sigDefs, err := bpmn.Build("waiter", bpmn.Name("Waiter")).Start("start").SignalCatch("go", "go").UserTask("after").End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "waiter.bpmn", sigDefs); err != nil {
		t.Fatalf("deploy waiter.bpmn: %v", err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("start engine: %v", err)
	}

	ns := natsServer(t)
	prefix := uniquePrefix()
	// Bulk operations run on the executor, as on every serve node.
	opx, err := operation.NewExecutor(operation.ExecutorOptions{Store: st, Clock: e.Clock(), Owner: "web-test",
		Kinds: []operation.Kind{incidents.RetryOperation(e), operation.CancelInstances(e), operation.ModifyInstances(e),
			operation.MigrateInstances(e)}, Batch: 2,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := opx.Start(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := command.Start(ctx, command.Options{Conn: connect(t, ns.ClientURL()), Engine: e, Prefix: prefix,
		Logger: slog.New(slog.DiscardHandler), BulkChunkSize: 2, WakeOperations: opx.Wake})
	if err != nil {
		t.Fatalf("start command service: %v", err)
	}
	// Cleanups run last-in first-out: the service stops before the engine and the store.
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Stop(sctx); err != nil {
			t.Errorf("stop engine: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := opx.Stop(sctx); err != nil {
			t.Errorf("stop operation executor: %v", err)
		}
	})
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.Stop(sctx); err != nil {
			t.Errorf("stop command service: %v", err)
		}
	})
	nc := connect(t, ns.ClientURL())
	ui := web.New(web.Options{Engine: e, Commands: command.NewClient(nc, prefix),
		Logger: slog.New(slog.DiscardHandler), Actor: "ann", TrustProxyUser: cfg.trustProxy})
	srv := httptest.NewServer(web.Guard(ui, web.GuardOptions{}))
	t.Cleanup(srv.Close)
	return &actions{fixture: &fixture{t: t, e: e, srv: srv}, st: st, nc: nc}
}

func natsServer(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats server not ready for connections")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name(t.Name()), nats.MaxReconnects(0))
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test" + hex.EncodeToString(b)
}

// startPay starts a pay instance and waits until it stands at charge with an incident
// (fail) or at review.
func (a *actions) startPay(bkey string, fail bool) *store.Instance {
	a.t.Helper()
	ctx := context.Background()
	in, err := a.e.StartInstance(ctx, "pay", engine.StartOptions{BusinessKey: bkey, Variables: map[string]any{"fail": fail, "amount": 10}})
	if err != nil {
		a.t.Fatalf("start pay: %v", err)
	}
	if fail {
		a.waitFor("an incident on "+bkey, func() bool { return a.openIncident(in.ID) != nil })
	}
	return in
}

func (a *actions) detail(id string) *engine.InstanceDetail {
	a.t.Helper()
	d, err := a.e.GetInstance(context.Background(), id)
	if err != nil {
		a.t.Fatalf("get instance %s: %v", id, err)
	}
	return d
}

func (a *actions) openIncident(instanceID string) *store.Incident {
	for _, i := range a.detail(instanceID).Incidents {
		if i.State == store.IncidentOpen {
			return i
		}
	}
	return nil
}

func (a *actions) vars(id string) map[string]string {
	out := map[string]string{}
	for _, v := range a.detail(id).Variables {
		out[v.Name] = v.Type + ":" + string(v.Value)
	}
	return out
}

// lastAudit is the newest audit row of a target.
func (a *actions) lastAudit(target string) *store.AuditEntry {
	a.t.Helper()
	var rows []*store.AuditEntry
	err := a.st.Read(context.Background(), func(tx store.Tx) error {
		var err error
		rows, err = tx.ListAudit(context.Background(), store.AuditFilter{Target: target, Limit: 1})
		return err
	})
	if err != nil || len(rows) == 0 {
		a.t.Fatalf("no audit row for %q: %v", target, err)
	}
	return rows[0]
}

func (a *actions) wantAudit(target, cmd, actor, result string) {
	a.t.Helper()
	row := a.lastAudit(target)
	if row.Command != cmd || row.Actor != actor || row.Result != result {
		a.t.Errorf("audit of %s: command %q actor %q result %q (%s), want %q %q %q", target, row.Command, row.Actor, row.Result, row.Error, cmd, actor, result)
	}
}

// wantRedirect checks a 303 to a path and follows it with the flash cookie, returning
// the page and its flash banner.
func (a *actions) wantRedirect(p *page, prefix string) (*page, string) {
	a.t.Helper()
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		a.t.Fatalf("status %d to %q, want 303 to %s…\n%s", p.status, loc, prefix, p.body)
	}
	req, _ := http.NewRequest("GET", a.srv.URL+loc, nil)
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		req.AddCookie(c)
	}
	next := a.do(req)
	flash := ""
	if f := byTestID(next.doc, "flash"); len(f) == 1 {
		flash = attr(f[0], "data-kind") + ": " + strings.TrimSuffix(text(f[0]), " ×")
		if (attr(f[0], "data-kind") == "ok") != (attr(f[0], "role") == "status") {
			a.t.Errorf("flash %q has role %q", flash, attr(f[0], "role"))
		}
	}
	return next, flash
}

func TestActionRetryIncident(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("R-1", true)
	inc := a.openIncident(in.ID)

	p := a.get("/instances/" + in.ID)
	form := p.want(t, 200, "action-retry", 1)[0].Parent
	if attr(form, "data-confirm") == "" || attr(form, "action") != "/incidents/"+inc.ID+"/retry" {
		t.Errorf("retry form: action %q, confirm %q", attr(form, "action"), attr(form, "data-confirm"))
	}
	p.want(t, 200, "action-retry-edit", 1)

	// The form shows the instance's variables to fix.
	p = a.get("/incidents/" + inc.ID + "/retry")
	p.want(t, 200, "retry-form", 1)
	rows := p.want(t, 200, "var-row", 4) // amount, fail and two blank rows
	if attr(rows[1], "data-name") != "fail" {
		t.Errorf("second row %q", attr(rows[1], "data-name"))
	}

	// Bad attempts and a bad value: the form again, nothing retried.
	bad := url.Values{"back": {"/instances/" + in.ID}, "retries": {"0"},
		"vname": {"fail", ""}, "vtype": {"boolean", "string"}, "vvalue": {"nope", ""}, "vorig": {"boolean:true", ""}}
	p = a.post("/incidents/"+inc.ID+"/retry", bad)
	p.want(t, 422, "retries-error", 1)
	if msg := text(p.want(t, 422, "var-error", 1)[0]); !strings.Contains(msg, `variable "fail": expected a boolean (true or false), got "nope"`) {
		t.Errorf("variable error %q", msg)
	}
	if a.openIncident(in.ID) == nil {
		t.Fatal("a refused retry retried")
	}

	// Fixed: fail=false is set first, the retry runs the job again, the instance moves on.
	good := url.Values{"back": {"/instances/" + in.ID}, "retries": {"3"},
		"vname": {"amount", "fail", ""}, "vtype": {"number", "boolean", "string"}, "vvalue": {"10", "false", ""}, "vorig": {"number:10", "boolean:true", ""}}
	p, flash := a.wantRedirect(a.post("/incidents/"+inc.ID+"/retry", good), "/instances/"+in.ID)
	if !strings.Contains(flash, "ok: Incident retried: Charge card runs again with 3 attempts, after setting fail.") {
		t.Errorf("flash %q", flash)
	}
	a.waitFor("the instance at review", func() bool {
		d := a.detail(in.ID)
		return len(d.UserTasks) == 1 && a.openIncident(in.ID) == nil
	})
	if v := a.vars(in.ID); v["fail"] != "boolean:false" || v["amount"] != "number:10" {
		t.Errorf("variables after retry: %v", v)
	}
	a.wantAudit(inc.ID, "incident.retry", "ann", "ok")
	if req := string(a.lastAudit(inc.ID).Request); !strings.Contains(req, `"variables":{"fail":false}`) || !strings.Contains(req, `"retries":3`) {
		t.Errorf("audit request %s: only the changed variable and the attempts belong in it", req)
	}

	// Retrying it again: the command refuses (resolved), shown as an error banner.
	_, flash = a.wantRedirect(a.post("/incidents/"+inc.ID+"/retry", url.Values{"back": {"/instances/" + in.ID}}), "/instances/"+in.ID)
	if !strings.HasPrefix(flash, "error: Retry incident was refused:") {
		t.Errorf("flash %q", flash)
	}

	// The quick button: one more attempt, no variables.
	in2 := a.startPay("R-2", true)
	inc2 := a.openIncident(in2.ID)
	_, flash = a.wantRedirect(a.post("/incidents/"+inc2.ID+"/retry", url.Values{"back": {"/incidents"}}), "/incidents")
	if !strings.HasPrefix(flash, "ok: Incident retried") {
		t.Errorf("flash %q", flash)
	}
	a.wantAudit(inc2.ID, "incident.retry", "ann", "ok")

	// Unknown ids are 404, and a foreign redirect target is ignored.
	a.get("/incidents/nope/retry").want(t, 404, "error-page", 1)
	a.post("/incidents/nope/retry", url.Values{}).want(t, 404, "error-page", 1)
	in3 := a.startPay("R-3", true)
	a.wantRedirect(a.post("/incidents/"+a.openIncident(in3.ID).ID+"/retry", url.Values{"back": {"//evil.example/x"}}), "/instances/"+in3.ID)
}

func TestActionInstanceLifecycle(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("L-1", false)
	a.waitFor("the instance at review", func() bool { return len(a.detail(in.ID).UserTasks) == 1 })
	base := "/instances/" + in.ID

	p := a.get(base)
	p.want(t, 200, "action-suspend", 1)
	p.want(t, 200, "action-resume", 0)
	if f := p.want(t, 200, "action-cancel", 1)[0].Parent; attr(f, "data-confirm-danger") != "true" {
		t.Error("cancel is not marked destructive")
	}

	p, flash := a.wantRedirect(a.post(base+"/suspend", url.Values{}), base)
	if flash != "ok: Instance suspended: its jobs and timers wait until it is resumed." {
		t.Errorf("flash %q", flash)
	}
	if st := a.detail(in.ID).Instance.State; st != store.InstanceSuspended {
		t.Fatalf("state %s after suspend", st)
	}
	p.want(t, 200, "action-resume", 1)
	a.wantAudit(in.ID, "instance.suspend", "ann", "ok")

	// Suspending twice is refused by the engine: an error banner, role=alert.
	_, flash = a.wantRedirect(a.post(base+"/suspend", url.Values{}), base)
	if !strings.HasPrefix(flash, "error: Suspend instance was refused: ") {
		t.Errorf("flash %q", flash)
	}

	a.wantRedirect(a.post(base+"/resume", url.Values{}), base)
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("state %s after resume", st)
	}
	a.wantAudit(in.ID, "instance.resume", "ann", "ok")

	// Cancel without script: the first post asks, and changes nothing.
	p = a.post(base+"/cancel", url.Values{"reason": {"duplicate order"}})
	p.want(t, 200, "confirm-page", 1)
	confirmForm := p.want(t, 200, "confirm-form", 1)[0]
	if attr(confirmForm, "action") != base+"/cancel" {
		t.Errorf("confirm form posts to %q", attr(confirmForm, "action"))
	}
	if !strings.Contains(p.body, `name="reason" value="duplicate order"`) || !strings.Contains(p.body, `name="confirm" value="yes"`) {
		t.Error("the confirm form does not repeat the fields with confirm=yes")
	}
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Fatalf("the confirm step cancelled: %s", st)
	}
	p, flash = a.wantRedirect(a.post(base+"/cancel", url.Values{"reason": {"duplicate order"}, "confirm": {"yes"}}), base)
	if flash != "ok: Instance cancelled." {
		t.Errorf("flash %q", flash)
	}
	if st := a.detail(in.ID).Instance.State; st != store.InstanceCancelled {
		t.Fatalf("state %s after cancel", st)
	}
	row := a.lastAudit(in.ID)
	if row.Command != "instance.cancel" || row.Actor != "ann" || row.Reason != "duplicate order" {
		t.Errorf("audit %+v", row)
	}
	p.want(t, 200, "actions-ended", 1)
	p.want(t, 200, "action-cancel", 0)

	// Unknown ids: 404 from the command service (and the confirm step's lookup).
	a.post("/instances/nope/suspend", url.Values{}).want(t, 404, "error-page", 1)
	a.post("/instances/nope/cancel", url.Values{}).want(t, 404, "error-page", 1)
	a.post("/instances/nope/cancel", url.Values{"confirm": {"yes"}}).want(t, 404, "error-page", 1)

	// A cross-site post is refused before it reaches the handler.
	req, _ := http.NewRequest("POST", a.srv.URL+base+"/suspend", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := a.do(req); p.status != http.StatusForbidden {
		t.Errorf("cross-site post: %d", p.status)
	}
}

func TestActionVariables(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("V-1", true)
	base := "/instances/" + in.ID
	a.get(base).want(t, 200, "action-variables", 1)

	p := a.get(base + "/variables")
	p.want(t, 200, "variables-form", 1)
	p.want(t, 200, "var-row", 4)

	post := func(names, types, values, origs []string) *page {
		return a.post(base+"/variables", url.Values{"vname": names, "vtype": types, "vvalue": values, "vorig": origs})
	}
	for _, c := range []struct {
		name, typ, value, want string
	}{
		{"amount", "number", "abc", `variable "amount": expected a number such as 42, -1.5 or 2e3, got "abc"`},
		{"amount", "number", "NaN", `variable "amount": expected a number`},
		{"flag", "boolean", "yes", `variable "flag": expected a boolean (true or false), got "yes"`},
		{"address", "object", "{\n  \"city\": \n}", `variable "address": expected a JSON object, but the JSON is not valid at line 3, column 1`},
		{"address", "object", `[1, 2]`, `variable "address": expected a JSON object (such as {"key": "value"}), got a JSON array`},
		{"items", "array", `[1, 2`, `variable "items": expected a JSON array, but the JSON is not valid at line 1, column 6`},
		{"items", "array", `[1] x`, `unexpected text after the JSON value`},
		{"gone", "null", "5", `variable "gone": type null takes no value`},
		{"", "string", "orphan", "Give this value a variable name"},
	} {
		p := post([]string{c.name}, []string{c.typ}, []string{c.value}, []string{""})
		errs := p.want(t, 422, "var-error", 1)
		if msg := text(errs[0]); !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %q: error %q, want %q", c.name, c.typ, c.value, msg, c.want)
		}
		if attr(errs[0], "role") != "alert" {
			t.Error("a row error is not role=alert")
		}
		// What was typed stays in the form.
		if got := text(byTestID(p.doc, "var-value")[0]); c.value != "" && got != strings.Join(strings.Fields(c.value), " ") {
			t.Errorf("typed value not kept: %q", got)
		}
	}
	p = post([]string{"amount"}, []string{"number"}, []string{"10"}, []string{"number:10"})
	if msg := text(p.want(t, 422, "form-error", 1)[0]); !strings.Contains(msg, "Nothing changed") {
		t.Errorf("form error %q", msg)
	}

	// Every type, in one go: changed rows and new ones; the unchanged row is not sent.
	p, flash := a.wantRedirect(post(
		[]string{"amount", "fail", "note", "address", "items", "gone", "count", ""},
		[]string{"number", "boolean", "string", "object", "array", "null", "number", "string"},
		[]string{"10", "false", "  hello \"world\"  ", "{\"city\": \"Graz\",\n \"zip\": 8010}", "[1, \"two\"]", "", "-2.5e3", ""},
		[]string{"number:10", "boolean:true", "", "", "", "", "", ""}), base)
	if flash != "ok: Variables set: address, count, fail, gone, items, note." {
		t.Errorf("flash %q", flash)
	}
	want := map[string]string{
		"amount": "number:10", "fail": "boolean:false", "note": `string:"  hello \"world\"  "`,
		"address": `object:{"city":"Graz","zip":8010}`, "items": `array:[1,"two"]`, "gone": "null:null", "count": "number:-2.5e3",
	}
	got := a.vars(in.ID)
	for k, v := range want {
		if got[k] != v && !(k == "count" && got[k] == "number:-2500") {
			t.Errorf("variable %s = %s, want %s", k, got[k], v)
		}
	}
	a.wantAudit(in.ID, "instance.set-variables", "ann", "ok")
	var req struct {
		Variables map[string]json.RawMessage `json:"variables"`
	}
	_ = json.Unmarshal(a.lastAudit(in.ID).Request, &req)
	if _, sent := req.Variables["amount"]; sent || len(req.Variables) != 6 {
		t.Errorf("sent variables %v: the unchanged amount should not be sent", req.Variables)
	}
	p.want(t, 200, "variable-row", 7)

	a.get("/instances/nope/variables").want(t, 404, "error-page", 1)
	a.post("/instances/nope/variables", url.Values{"vname": {"x"}, "vtype": {"string"}, "vvalue": {"y"}, "vorig": {""}}).want(t, 404, "error-page", 1)
}

// TestActionBulkRetry: a bulk retry runs exactly the incidents its confirm page named
// (their ids travel in the confirm form), never a filter resolved again later, and its
// result says how many failed again, with a link to them (issue 10, point 18).
func TestActionBulkRetry(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	var failed []*store.Instance
	for i := range 5 {
		failed = append(failed, a.startPay("B-"+string(rune('1'+i)), true))
	}
	a.startPay("B-ok", false)

	p := a.get("/incidents")
	form := p.want(t, 200, "group-retry-bulk", 1)[0].Parent
	if hasAttr(form, "data-confirm") {
		t.Error("the group's bulk retry asks in a dialog, with a count that may be stale by the time it runs")
	}
	fields := formInputs(form)
	// The group is selected by its fingerprint (the incident queue's), with its process.
	if fields.Get("definitionKey") != "pay" || len(fields.Get("fingerprint")) != 32 || fields.Get("messageContains") != "" {
		t.Fatalf("group form fields %v", fields)
	}

	// The first post asks, with the count, and names the incidents in its form.
	p = a.post("/incidents/retry-bulk", fields)
	p.want(t, 200, "confirm-page", 1)
	if msg := text(p.doc); !strings.Contains(msg, "Retry 5 incidents?") || !strings.Contains(msg, "Exactly these 5 are retried") {
		t.Errorf("confirm page: %s", msg)
	}
	for _, in := range failed {
		if a.openIncident(in.ID) == nil {
			t.Fatal("the confirm step retried")
		}
	}
	confirm := formInputs(p.want(t, 200, "confirm-form", 1)[0])
	if got := len(confirm["id"]); got != 5 || confirm.Get("confirm") != "yes" {
		t.Fatalf("the confirm form carries %d ids (want 5), confirm=%q", got, confirm.Get("confirm"))
	}
	for _, in := range failed {
		if !slices.Contains(confirm["id"], a.openIncident(in.ID).ID) {
			t.Errorf("the confirm form leaves out the incident of %s", in.ID)
		}
	}

	// confirm=yes without ids (an old page, a dialog) asks again: a filter never runs
	// unconfirmed.
	old := url.Values{}
	for k, v := range fields {
		old[k] = v
	}
	old.Set("confirm", "yes")
	a.post("/incidents/retry-bulk", old).want(t, 200, "confirm-page", 1)

	// An incident that opens after the confirm page is not part of what was confirmed.
	late := a.startPay("B-late", true)
	lateInc := a.openIncident(late.ID)

	// Confirmed: the bulk command runs (in chunks of 2, so progress arrives several
	// times) and the progress page ends done. The handler waits for small selections,
	// so the first view is usually the result already; poll the fragment until done.
	p = a.post("/incidents/retry-bulk", confirm)
	loc := p.header.Get("Location")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/operations/") {
		t.Fatalf("bulk retry: %d to %q\n%s", p.status, loc, p.body)
	}
	page := a.waitProgress(loc)
	if got := text(byTestID(page.doc, "bulk-succeeded")[0]); got != "5" {
		t.Errorf("retried %s, want 5", got)
	}
	if status := text(byTestID(page.doc, "bulk-status")[0]); !strings.Contains(status, "5 of 5 done: 5 ok") {
		t.Errorf("status %q", status)
	}
	if inc := a.openIncident(late.ID); inc == nil || inc.ID != lateInc.ID {
		t.Errorf("the incident opened after the confirm page was retried: %+v", inc)
	}
	full := a.get(loc)
	full.want(t, 200, "bulk-progress", 1)
	full.want(t, 200, "item-row", 5)
	a.wantAudit(confirm["id"][0], "incident.retry", "ann", "ok") // each item has its row
	for _, in := range failed {
		// The handler still fails (fail=true), so each has a new incident, and the old
		// one is resolved by the retry.
		a.waitFor("a new incident", func() bool { return a.openIncident(in.ID) != nil })
		resolved := 0
		for _, i := range a.detail(in.ID).Incidents {
			if i.State == store.IncidentResolved {
				resolved++
			}
		}
		if resolved != 1 {
			t.Errorf("instance %s: %d resolved incidents, want 1", in.ID, resolved)
		}
	}
	// The outcome that matters: all 5 failed again, and the page says so with a link.
	page = a.waitStillFailing(loc, 5)
	if href := attr(byTestID(page.doc, "bulk-still-failing-link")[0], "href"); href != "/instances?hasIncident=true&process=pay&waitingAt=charge" {
		t.Errorf("still-failing link %q", href)
	}

	// From the instance list's filter: the incidents of the instances it selects (6 now,
	// with the late one), counted on the confirm page; the ids it names are what runs.
	p = a.get("/instances?process=pay&hasIncident=true")
	lf := p.want(t, 200, "bulk-retry-instances", 1)[0].Parent
	if hasAttr(lf, "data-confirm") {
		t.Error("the list's bulk retry asks in a dialog without a count")
	}
	filter := formInputs(lf)
	p = a.post("/instances/retry-incidents", filter)
	p.want(t, 200, "confirm-page", 1)
	if !strings.Contains(text(p.doc), "Retry 6 incidents?") {
		t.Errorf("confirm page: %s", text(p.doc))
	}
	confirm = formInputs(p.want(t, 200, "confirm-form", 1)[0])
	if len(confirm["id"]) != 6 {
		t.Fatalf("the list's confirm form carries %d ids, want 6", len(confirm["id"]))
	}
	p = a.post("/instances/retry-incidents", confirm)
	page = a.waitProgress(p.header.Get("Location"))
	if got := text(byTestID(page.doc, "bulk-succeeded")[0]); got != "6" {
		t.Errorf("retried %s, want 6", got)
	}

	// The stalled filter goes with the form too: a retry of the stalled list retries
	// the incidents of the stalled instances only.
	for i, in := range failed[:2] {
		a.waitFor("a new incident", func() bool { return a.openIncident(in.ID) != nil })
		stall(t, a.e, in, fmt.Sprintf("bulk-stall-%d", i))
	}
	p = a.get("/instances?process=pay&hasIncident=true&stalled=true")
	p.want(t, 200, "instance-row", 2)
	if href := attr(p.want(t, 200, "instances-csv", 1)[0], "href"); !strings.Contains(href, "stalled=true") {
		t.Errorf("the CSV link %q leaves out the stalled filter", href)
	}
	filter = formInputs(p.want(t, 200, "bulk-retry-instances", 1)[0].Parent)
	if filter.Get("stalled") != "true" {
		t.Fatalf("the bulk retry form leaves out the stalled filter: %v", filter)
	}
	p = a.post("/instances/retry-incidents", filter)
	p.want(t, 200, "confirm-page", 1)
	if msg := text(p.doc); !strings.Contains(msg, "Retry 2 incidents?") || !strings.Contains(msg, "stalled = true") {
		t.Errorf("confirm page of the stalled list: %s", msg)
	}

	// Nothing to retry: said so, nothing sent.
	_, flash := a.wantRedirect(a.post("/instances/retry-incidents", url.Values{"process": {"message"}, "confirm": {"yes"}}), "/instances?")
	if !strings.HasPrefix(flash, "error: No open incidents") {
		t.Errorf("flash %q", flash)
	}
	a.post("/incidents/retry-bulk", url.Values{"confirm": {"yes"}}).want(t, 400, "error-page", 1)
	a.get("/operations/nope").want(t, 404, "error-page", 1)
}

// TestActionBulkRetryBadIDs: the ids a bulk confirm form posts are bounded and checked;
// each bad one is a 400 that says what is wrong, and nothing runs.
func TestActionBulkRetryBadIDs(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("X-1", true)
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("inc-%d", i)
	}
	for name, tc := range map[string]struct {
		ids  []string
		want string
	}{
		"empty":          {[]string{""}, "Parameter id #1"},
		"NUL":            {[]string{"a\x00b"}, `parameter "id": contains the control character U+0000`}, // the edge's check
		"control":        {[]string{"ok", "a\nb"}, "Parameter id #2"},
		"too long":       {[]string{strings.Repeat("x", 129)}, "Parameter id #1"},
		"invalid UTF-8":  {[]string{"\xff"}, `parameter "id": not valid UTF-8`}, // the edge's check
		"over the limit": {tooMany, "at most 1000 (maxBulkSelect)"},
	} {
		for _, path := range []string{"/incidents/retry-bulk", "/instances/retry-incidents"} {
			form := url.Values{"definitionKey": {"pay"}, "process": {"pay"}, "confirm": {"yes"}, "id": tc.ids}
			p := a.post(path, form)
			p.want(t, 400, "error-page", 1)
			if !strings.Contains(text(p.doc), tc.want) {
				t.Errorf("%s %s: the error does not say %q: %s", path, name, tc.want, text(p.doc))
			}
		}
	}
	if a.openIncident(in.ID) == nil {
		t.Error("a refused bulk retry retried")
	}
}

// formInputs collects the named inputs of a form, as a browser would post them.
func formInputs(form *html.Node) url.Values {
	out := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			out.Add(attr(n, "name"), attr(n, "value"))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	return out
}

// waitStillFailing polls a finished bulk action's result until it counts want incidents
// that failed again.
func (a *actions) waitStillFailing(loc string, want int) *page {
	a.t.Helper()
	var p *page
	a.waitFor(fmt.Sprintf("%d still failing", want), func() bool {
		p = a.get(loc)
		sf := byTestID(p.doc, "bulk-still-failing")
		return p.status == 200 && len(sf) == 1 && strings.HasPrefix(strings.TrimSpace(text(sf[0])), strconv.Itoa(want)+" ")
	})
	return p
}

// waitProgress polls a progress page's fragment, as app.js does, until it is done.
func (a *actions) waitProgress(loc string) *page {
	a.t.Helper()
	var p *page
	a.waitFor("the bulk retry to finish", func() bool {
		p = a.get(loc)
		cards := byTestID(p.doc, "bulk-progress")
		return p.status == 200 && len(cards) == 1 && attr(cards[0], "data-state") != "running"
	})
	return p
}

func TestActionStartInstance(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	p := a.get("/processes/pay")
	if href := attr(p.want(t, 200, "action-start", 1)[0], "href"); href != "/processes/pay/start?version=1" {
		t.Errorf("start link %q", href)
	}
	a.get("/processes/pay/start").want(t, 200, "start-form", 1)

	p = a.post("/processes/pay/start", url.Values{"businessKey": {"S-1"}, "vname": {"amount"}, "vtype": {"number"}, "vvalue": {"ten"}, "vorig": {""}})
	p.want(t, 422, "var-error", 1)
	if v := attr(p.want(t, 422, "start-bkey", 1)[0], "value"); v != "S-1" {
		t.Errorf("business key not kept: %q", v)
	}

	_, flash := a.wantRedirect(a.post("/processes/pay/start", url.Values{"businessKey": {"S-1"}, "version": {"1"},
		"vname": {"amount", "fail", ""}, "vtype": {"number", "boolean", "string"}, "vvalue": {"7", "false", ""}, "vorig": {"", "", ""}}), "/instances/")
	if !strings.HasPrefix(flash, "ok: Started an instance of pay v1; it is active now.") {
		t.Errorf("flash %q", flash)
	}
	list, err := a.e.ListInstances(context.Background(), store.InstanceFilter{BusinessKey: "S-1"})
	if err != nil || len(list.Instances) != 1 {
		t.Fatalf("instances with S-1: %v %v", list, err)
	}
	in := list.Instances[0]
	if v := a.vars(in.ID); v["amount"] != "number:7" || v["fail"] != "boolean:false" {
		t.Errorf("variables %v", v)
	}
	a.wantAudit("pay", "instance.start", "ann", "ok")

	a.get("/processes/nope/start").want(t, 404, "error-page", 1)
	a.post("/processes/nope/start", url.Values{}).want(t, 404, "error-page", 1)
	p = a.post("/processes/pay/start", url.Values{"version": {"9"}})
	if msg := text(p.want(t, 404, "form-error", 1)[0]); !strings.Contains(msg, "refused") {
		t.Errorf("unknown version: %q", msg)
	}
}

func TestActionCorrelate(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in, err := a.e.StartInstance(context.Background(), "message", engine.StartOptions{Variables: map[string]any{"orderId": "o-7"}})
	if err != nil {
		t.Fatal(err)
	}
	a.get("/").want(t, 200, "action-correlate", 1)
	a.get("/messages/correlate?name=payment.received").want(t, 200, "correlate-form", 1)

	for _, c := range []struct {
		vars, id, want string
	}{
		{`{"paid": tru}`, "vars-error", "Variables: the JSON is not valid at line 1, column 13"},
		{"{\n\"a\": 1,\n}", "vars-error", "line 3, column 1"},
		{`[1]`, "vars-error", "expected a JSON object"},
	} {
		p := a.post("/messages/correlate", url.Values{"name": {"payment.received"}, "correlationKey": {"o-7"}, "variables": {c.vars}})
		if msg := text(p.want(t, 422, c.id, 1)[0]); !strings.Contains(msg, c.want) {
			t.Errorf("%q: %q, want %q", c.vars, msg, c.want)
		}
	}
	a.post("/messages/correlate", url.Values{"name": {""}}).want(t, 422, "name-error", 1)
	p := a.post("/messages/correlate", url.Values{"name": {"payment.received"}, "correlationKey": {"o-unknown"}})
	if msg := text(p.want(t, 404, "form-error", 1)[0]); !strings.Contains(msg, `Nothing waits for message "payment.received" with correlation key "o-unknown"`) {
		t.Errorf("unknown key: %q", msg)
	}

	p, flash := a.wantRedirect(a.post("/messages/correlate", url.Values{"name": {"payment.received"}, "correlationKey": {"o-7"},
		"variables": {`{"paid": true, "amount": 12.5}`}}), "/instances/"+in.ID)
	if flash != `ok: Message "payment.received" delivered to this instance.` {
		t.Errorf("flash %q", flash)
	}
	d := a.detail(in.ID)
	if d.Instance.State != store.InstanceCompleted || a.vars(in.ID)["paid"] != "boolean:true" {
		t.Errorf("after correlation: %s %v", d.Instance.State, a.vars(in.ID))
	}
	a.wantAudit("payment.received", "message.correlate", "ann", "ok")
}

// TestActionSignal: the overview's "Send signal" form broadcasts a signal through the
// command service (audited), and the waiting instance moves on.
func TestActionSignal(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in, err := a.e.StartInstance(context.Background(), "waiter", engine.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.get("/").want(t, 200, "action-signal", 1)
	a.get("/signals/broadcast?name=go").want(t, 200, "signal-form", 1)
	a.post("/signals/broadcast", url.Values{"name": {""}}).want(t, 422, "name-error", 1)
	p := a.post("/signals/broadcast", url.Values{"name": {"go"}, "variables": {`[1]`}})
	if msg := text(p.want(t, 422, "vars-error", 1)[0]); !strings.Contains(msg, "expected a JSON object") {
		t.Errorf("variables: %q", msg)
	}
	_, flash := a.wantRedirect(a.post("/signals/broadcast", url.Values{"name": {"go"}, "variables": {`{"by": "web"}`}}), "/")
	if !strings.HasPrefix(flash, `ok: Signal "go" sent`) {
		t.Errorf("flash %q", flash)
	}
	wait.For(t, "the instance past the signal", func() bool {
		for _, tok := range a.detail(in.ID).Tokens {
			if tok.ElementID == "after" {
				return true
			}
		}
		return false
	})
	if got := a.vars(in.ID)["by"]; got != `string:"web"` && got != "string:web" {
		t.Errorf("variable by = %q", got)
	}
	a.wantAudit("go", "signal.broadcast", "ann", "ok")
}

// upload posts a file to /deploy as a browser does.
func (a *actions) upload(name string, data []byte) *page {
	a.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("file", name)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", a.srv.URL+"/deploy", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return a.do(req)
}

func TestActionDeploy(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	a.get("/").want(t, 200, "action-deploy", 1)
	a.get("/deploy").want(t, 200, "deploy-form", 1)

	good, err := os.ReadFile(filepath.Join("testdata", "actions", "shipping.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	p, flash := a.wantRedirect(a.upload("shipping.bpmn", good), "/processes/shipping?version=1")
	if flash != "ok: Deployed shipping.bpmn: shipping v1 (new version)." {
		t.Errorf("flash %q", flash)
	}
	p.want(t, 200, "process-name", 1)
	a.wantAudit("shipping.bpmn", "deploy", "ann", "ok")
	_, flash = a.wantRedirect(a.upload("shipping.bpmn", good), "/processes/shipping?version=1")
	if !strings.Contains(flash, "unchanged") {
		t.Errorf("second deploy: %q", flash)
	}

	// An executable process with an element the engine does not run: every problem
	// with its element id and line.
	bad, err := os.ReadFile(filepath.Join("testdata", "actions", "unsupported.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	p = a.upload("unsupported.bpmn", bad)
	errBox := p.want(t, 422, "form-error", 1)[0]
	if attr(errBox, "role") != "alert" {
		t.Error("deploy error is not role=alert")
	}
	probs := p.want(t, 422, "deploy-problem", 1)
	if attr(probs[0], "data-element-id") != "Gateway_Split" || attr(probs[0], "data-line") != "6" || attr(probs[0], "data-col") != "5" ||
		!strings.Contains(text(probs[0]), "6:5") || !strings.Contains(text(probs[0]), "complex gateways are not supported") {
		t.Errorf("problem row %q (element %q, line %q, col %q)", text(probs[0]), attr(probs[0], "data-element-id"),
			attr(probs[0], "data-line"), attr(probs[0], "data-col"))
	}
	a.wantAudit("unsupported.bpmn", "deploy", "ann", "invalid_input")

	// Not XML: the parser's line and column.
	p = a.upload("broken.bpmn", []byte("<?xml version=\"1.0\"?>\n<definitions>\n  <process id=\"x\">\n</definitions>"))
	probs = p.want(t, 422, "deploy-problem", 1)
	if attr(probs[0], "data-line") == "0" || attr(probs[0], "data-col") == "0" {
		t.Errorf("parse problem without a line and column: %q", text(probs[0]))
	}

	// Nothing executable: a problem of the whole document, in its own words (not the
	// text of the error that carries it).
	descriptive := bytes.Replace(bad, []byte(`isExecutable="true"`), []byte(`isExecutable="false"`), 1)
	probs = a.upload("descriptive.bpmn", descriptive).want(t, 422, "deploy-problem", 1)
	if msg := text(probs[0]); !strings.Contains(msg, `no executable process (isExecutable="true")`) || strings.Contains(msg, "invalid input") ||
		attr(probs[0], "data-line") != "0" || attr(probs[0], "data-element-id") != "" {
		t.Errorf("descriptive model: problem row %q", msg)
	}

	// Small but nested past bpmn.MaxDepth: a problem naming the limit and its line, not
	// a size refusal.
	deep := `<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="deep" isExecutable="true">` +
		strings.Repeat("<extensionElements>", 100) + strings.Repeat("</extensionElements>", 100) + `</process></definitions>`
	p = a.upload("deep.bpmn", []byte(deep))
	probs = p.want(t, 422, "deploy-problem", 1)
	if !strings.Contains(text(probs[0]), "64 levels") || attr(probs[0], "data-line") != "1" {
		t.Errorf("deep model: %q (line %q)", text(probs[0]), attr(probs[0], "data-line"))
	}

	// Over 10 MiB: 413 with the reason, nothing read further.
	huge := bytes.Repeat([]byte(" "), bpmn.MaxDocumentBytes+1)
	p = a.upload("huge.bpmn", huge)
	if msg := text(p.want(t, 413, "form-error", 1)[0]); !strings.Contains(msg, "larger than 10 MiB") {
		t.Errorf("oversize: %q", msg)
	}
	p = a.upload("huger.bpmn", bytes.Repeat([]byte(" "), bpmn.MaxDocumentBytes+2<<20))
	if msg := text(p.want(t, 413, "form-error", 1)[0]); !strings.Contains(msg, "larger than 10 MiB") {
		t.Errorf("oversize request: %q", msg)
	}

	// A file name past the limit of a stored (and indexed) name: 400 naming the limit,
	// before any audit row or deployment.
	long := strings.Repeat("n", store.MaxKeyBytes) + ".bpmn"
	p = a.upload(long, good)
	if msg := text(p.want(t, 400, "form-error", 1)[0]); !strings.Contains(msg, "more than the limit of 1024 bytes") || !strings.Contains(msg, "Nothing was deployed") {
		t.Errorf("long file name: %q", msg)
	}

	// No file.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.Close()
	req, _ := http.NewRequest("POST", a.srv.URL+"/deploy", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	a.do(req).want(t, 400, "form-error", 1)
}

// TestActionWhileNATSDown: an action whose command cannot be sent says what happened and
// what to do, not the NATS client's error, and changes nothing.
func TestActionWhileNATSDown(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{})
	in := a.startPay("N-1", false)
	a.nc.Close()
	base := "/instances/" + in.ID
	_, flash := a.wantRedirect(a.post(base+"/suspend", url.Values{}), base)
	want := "error: Suspend instance was not carried out: the command service could not be reached (NATS is unavailable). " +
		"Nothing was changed; try again when it is back."
	if flash != want || strings.Contains(flash, "nats:") {
		t.Errorf("flash %q, want %q", flash, want)
	}
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Errorf("state %s", st)
	}
}

// TestActionHostileProxyActor: an X-Forwarded-User that is no valid actor (control
// characters, invisible ones, too long, not UTF-8) refuses the action instead of running
// it under another name or a cut one; deploy checks it too.
func TestActionHostileProxyActor(t *testing.T) {
	t.Parallel()
	a := newActions(t, actionsConfig{trustProxy: true})
	in := a.startPay("H-1", false)
	good, err := os.ReadFile(filepath.Join("testdata", "actions", "shipping.bpmn"))
	if err != nil {
		t.Fatal(err)
	}
	base := "/instances/" + in.ID
	for name, actor := range map[string]string{
		"tab":        "bob\tadmin",
		"bidi":       "\u202ebob",
		"zero width": "b\u200bob",
		"too long":   strings.Repeat("é", command.MaxActorBytes/2+1), // once cut mid-letter
		"not utf8":   "bob\xff",
	} {
		req, _ := http.NewRequest("POST", a.srv.URL+base+"/suspend", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-User", actor)
		if _, flash := a.wantRedirect(a.do(req), base); !strings.HasPrefix(flash, "error: Suspend instance was refused: ") ||
			!strings.Contains(flash, `"actor"`) {
			t.Errorf("%s: flash %q", name, flash)
		}
		if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
			t.Fatalf("%s: suspended by a refused actor", name)
		}
		var body bytes.Buffer
		w := multipart.NewWriter(&body)
		fw, _ := w.CreateFormFile("file", "shipping.bpmn")
		_, _ = fw.Write(good)
		_ = w.Close()
		req, _ = http.NewRequest("POST", a.srv.URL+"/deploy", &body)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-User", actor)
		if msg := text(a.do(req).want(t, 403, "form-error", 1)[0]); !strings.Contains(msg, "Nothing was deployed") {
			t.Errorf("%s: deploy %q", name, msg)
		}
	}
	if defs, err := a.e.ListDefinitions(context.Background(), store.DefinitionFilter{Key: "shipping"}); err != nil || len(defs) != 0 {
		t.Errorf("deployed by a refused actor: %v %v", defs, err)
	}
	// A file name with a NUL byte, control characters and invalid UTF-8 (RFC 2231
	// percent-encoded, as a raw NUL is no valid header) deploys under a clean name.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename*=UTF-8''ship%00ping%01%FF.bpmn`)
	h.Set("Content-Type", "application/octet-stream")
	fw, _ := w.CreatePart(h)
	_, _ = fw.Write(good)
	_ = w.Close()
	req, _ := http.NewRequest("POST", a.srv.URL+"/deploy", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if _, flash := a.wantRedirect(a.do(req), "/processes/shipping"); !strings.Contains(flash, "Deployed shipping.bpmn") {
		t.Errorf("flash %q", flash)
	}
	a.wantAudit("shipping.bpmn", "deploy", "ann", "ok")
}

// downStore fails transactions with a refused connection while down is set.
type downStore struct {
	store.Store
	down atomic.Bool
}

func (d *downStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	if d.down.Load() {
		return store.Unavailable(errors.New("begin write: dial tcp 10.9.8.7:5432: connect: connection refused"))
	}
	return d.Store.Write(ctx, fn)
}

// TestActionWhileDatabaseDown: a command that meets an unreachable database is
// unavailable, and the UI says so without the driver's text.
func TestActionWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	var ds *downStore
	a := newActions(t, actionsConfig{engineStore: func(st store.Store) store.Store {
		ds = &downStore{Store: st}
		return ds
	}})
	in := a.startPay("D-1", false)
	base := "/instances/" + in.ID
	ds.down.Store(true)
	p := a.post(base+"/suspend", url.Values{})
	ds.down.Store(false)
	_, flash := a.wantRedirect(p, base)
	if !strings.HasPrefix(flash, "error: Suspend instance was not carried out: the engine's database is unavailable or busy, try again later") ||
		strings.Contains(flash, "10.9.8.7") || !strings.Contains(flash, "Nothing was changed.") {
		t.Errorf("flash %q", flash)
	}
	if st := a.detail(in.ID).Instance.State; st != store.InstanceActive {
		t.Errorf("state %s", st)
	}
}

func TestActionActor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		trust bool
		want  string
	}{{true, "bob@example.org"}, {false, "ann"}} {
		a := newActions(t, actionsConfig{trustProxy: c.trust})
		in := a.startPay("A-1", false)
		req, _ := http.NewRequest("POST", a.srv.URL+"/instances/"+in.ID+"/suspend", nil)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("X-Forwarded-User", "bob@example.org")
		if _, flash := a.wantRedirect(a.do(req), "/instances/"+in.ID); !strings.HasPrefix(flash, "ok:") {
			t.Fatalf("suspend: %s", flash)
		}
		a.wantAudit(in.ID, "instance.suspend", c.want, "ok")
	}
}
