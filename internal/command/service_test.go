package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/nats-io/nats.go/micro"
)

func TestStartInstance(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	res, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{
		Meta: meta("ann"), ProcessKey: "usertask", BusinessKey: "order-7", Variables: map[string]any{"limit": 3},
	})
	noErr(t, err)
	if res.InstanceID == "" || res.DefinitionKey != "usertask" || res.DefinitionVersion != 1 || res.BusinessKey != "order-7" || res.State != store.InstanceActive {
		t.Fatalf("result %+v", res)
	}
	d := v.detail(res.InstanceID)
	if len(d.Tokens) != 1 || d.Tokens[0].ElementID != "approve" {
		t.Errorf("tokens %+v", d.Tokens)
	}
	if len(d.Variables) != 1 || d.Variables[0].Name != "limit" || string(d.Variables[0].Value) != "3" {
		t.Errorf("variables %+v", d.Variables)
	}
	a := v.lastAudit("usertask")
	if a.Actor != "ann" || a.Command != command.VerbStartInstance || a.Result != "ok" || a.Reason != "test" || a.Error != "" || !a.Time.Equal(t0) {
		t.Errorf("audit %+v", a)
	}
	var req map[string]any
	if err := json.Unmarshal(a.Request, &req); err != nil || req["processKey"] != "usertask" || req["requestId"] == "" {
		t.Errorf("audit request %s (%v)", a.Request, err)
	}

	_, err = v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "nope"})
	wantCode(t, err, command.CodeNotFound)
	if !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("errors.Is(%v, engine.ErrNotFound) is false", err)
	}
	if a := v.lastAudit("nope"); a.Result != string(command.CodeNotFound) || !strings.Contains(a.Error, "nope") {
		t.Errorf("audit of failure %+v", a)
	}
	_, err = v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann")})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask", Version: 9})
	wantCode(t, err, command.CodeNotFound)
}

func TestCompleteTask(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("usertask", nil)
	task := v.openTask(inst.ID)

	_, err := v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: task.ID, Variables: map[string]any{"approved": "yes"}})
	cerr := wantCode(t, err, command.CodeInvalidInput)
	if !strings.Contains(cerr.Message, "approved") {
		t.Errorf("message %q does not name the field", cerr.Message)
	}
	res, err := v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: task.ID, Variables: map[string]any{"approved": true, "limit": 10}})
	noErr(t, err)
	if res.TaskID != task.ID || res.InstanceID != inst.ID {
		t.Errorf("result %+v", res)
	}
	if s := v.state(inst.ID); s != store.InstanceCompleted {
		t.Errorf("instance %s, want completed", s)
	}
	_, err = v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: task.ID})
	wantCode(t, err, command.CodeInvalidState)
	_, err = v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: "no-such-task"})
	wantCode(t, err, command.CodeNotFound)
	_, err = v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann")})
	wantCode(t, err, command.CodeInvalidInput)

	rows := v.audit(store.AuditFilter{Target: task.ID})
	var results []string
	for _, a := range rows {
		results = append(results, a.Result)
	}
	slices.Sort(results)
	if want := []string{"invalid_input", "invalid_state", "ok"}; !slices.Equal(results, want) {
		t.Errorf("audit results %v, want %v", results, want)
	}
}

func TestSuspendResumeCancel(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("usertask", nil)
	req := command.InstanceRequest{Meta: meta("ann"), InstanceID: inst.ID}

	res, err := v.client.SuspendInstance(v.ctx, req)
	noErr(t, err)
	if res.State != store.InstanceSuspended || v.state(inst.ID) != store.InstanceSuspended {
		t.Fatalf("after suspend: %+v, %s", res, v.state(inst.ID))
	}
	_, err = v.client.SuspendInstance(v.ctx, req)
	wantCode(t, err, command.CodeInvalidState)

	res, err = v.client.ResumeInstance(v.ctx, req)
	noErr(t, err)
	if res.State != store.InstanceActive || v.state(inst.ID) != store.InstanceActive {
		t.Fatalf("after resume: %+v, %s", res, v.state(inst.ID))
	}
	_, err = v.client.ResumeInstance(v.ctx, req)
	wantCode(t, err, command.CodeInvalidState)

	req.Reason = "customer withdrew"
	res, err = v.client.CancelInstance(v.ctx, req)
	noErr(t, err)
	if res.State != store.InstanceCancelled || v.state(inst.ID) != store.InstanceCancelled {
		t.Fatalf("after cancel: %+v, %s", res, v.state(inst.ID))
	}
	var reasonInHistory bool
	for _, ev := range v.detail(inst.ID).History {
		if ev.Type == event.InstanceCancelled && strings.Contains(string(ev.Data), "customer withdrew") {
			reasonInHistory = true
		}
	}
	if !reasonInHistory {
		t.Error("the cancel reason is not in the instance history")
	}
	_, err = v.client.CancelInstance(v.ctx, req)
	wantCode(t, err, command.CodeInvalidState)
	_, err = v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: "no-such-instance"})
	wantCode(t, err, command.CodeNotFound)
	_, err = v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: "no-such-instance"})
	wantCode(t, err, command.CodeNotFound)
	_, err = v.client.ResumeInstance(v.ctx, command.InstanceRequest{Meta: meta("ann")})
	wantCode(t, err, command.CodeInvalidInput)

	var verbs []string
	for _, a := range v.audit(store.AuditFilter{Target: inst.ID}) {
		verbs = append(verbs, a.Command+"="+a.Result)
	}
	slices.Sort(verbs)
	want := []string{
		"instance.cancel=invalid_state", "instance.cancel=ok", "instance.resume=invalid_state",
		"instance.resume=ok", "instance.suspend=invalid_state", "instance.suspend=ok",
	}
	if !slices.Equal(verbs, want) {
		t.Errorf("audit %v, want %v", verbs, want)
	}
	if a := v.audit(store.AuditFilter{Target: inst.ID, Limit: 1})[0]; a.Reason != "customer withdrew" {
		t.Errorf("audit reason %q", a.Reason)
	}
}

func TestSetVariables(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("usertask", nil)
	res, err := v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID,
		Variables: map[string]any{"limit": 5, "note": map[string]any{"tags": []any{"a", 1.5, nil, true}}}})
	noErr(t, err)
	if !slices.Equal(res.Names, []string{"limit", "note"}) {
		t.Errorf("names %v", res.Names)
	}
	got := map[string]string{}
	for _, vv := range v.detail(inst.ID).Variables {
		got[vv.Name] = vv.Type + " " + string(vv.Value)
	}
	if got["limit"] != "number 5" || got["note"] != `object {"tags":["a",1.5,null,true]}` {
		t.Errorf("variables %v", got)
	}

	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: map[string]any{"": 1}})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: "no-such-instance", Variables: map[string]any{"a": 1}})
	wantCode(t, err, command.CodeNotFound)

	// Values that are not JSON never leave the client.
	before := len(v.audit(store.AuditFilter{Target: inst.ID}))
	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: map[string]any{"x": math.NaN()}})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: map[string]any{"x": make(chan int)}})
	wantCode(t, err, command.CodeInvalidInput)
	if after := len(v.audit(store.AuditFilter{Target: inst.ID})); after != before {
		t.Errorf("audit rows %d -> %d for requests that were never sent", before, after)
	}

	if _, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: inst.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: map[string]any{"a": 1}})
	wantCode(t, err, command.CodeInvalidState)
}

func TestCorrelateMessage(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("message", map[string]any{"orderId": "o-1"})
	res, err := v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{
		Meta: meta("ann"), Name: "payment.received", CorrelationKey: "o-1", Variables: map[string]any{"paid": 12.5},
	})
	noErr(t, err)
	if res.InstanceID != inst.ID || res.Started {
		t.Errorf("result %+v", res)
	}
	if s := v.state(inst.ID); s != store.InstanceCompleted {
		t.Errorf("instance %s, want completed", s)
	}
	_, err = v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "payment.received", CorrelationKey: "o-1"})
	wantCode(t, err, command.CodeNotFound)
	_, err = v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann")})
	wantCode(t, err, command.CodeInvalidInput)
	if rows := v.audit(store.AuditFilter{Target: "payment.received"}); len(rows) != 2 {
		t.Errorf("audit rows %d, want 2", len(rows))
	}
}

func TestRetryIncident(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("nodefault", map[string]any{"amount": 50})
	inc := v.openIncident(inst.ID)

	_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: inc.ID, Retries: -1})
	wantCode(t, err, command.CodeInvalidInput)
	res, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{
		Meta: meta("ann"), IncidentID: inc.ID, Variables: map[string]any{"amount": 500},
	})
	noErr(t, err)
	if res.IncidentID != inc.ID || res.InstanceID != inst.ID {
		t.Errorf("result %+v", res)
	}
	if s := v.state(inst.ID); s != store.InstanceCompleted {
		t.Errorf("instance %s, want completed", s)
	}
	_, err = v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: inc.ID})
	wantCode(t, err, command.CodeInvalidState)
	if !errors.Is(err, engine.ErrInvalidState) {
		t.Errorf("errors.Is(%v, engine.ErrInvalidState) is false", err)
	}
	_, err = v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: "no-such-incident"})
	wantCode(t, err, command.CodeNotFound)

	a := v.audit(store.AuditFilter{Target: inc.ID})
	if len(a) != 3 {
		t.Fatalf("audit rows %d, want 3", len(a))
	}
	for _, row := range a {
		if row.Actor != "ann" || row.Command != command.VerbRetryIncident {
			t.Errorf("audit %+v", row)
		}
	}
}

func TestActorIsRequired(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("usertask", nil)
	_, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: command.Meta{Actor: "  "}, InstanceID: inst.ID})
	cerr := wantCode(t, err, command.CodeUnauthorized)
	if !strings.Contains(cerr.Message, "actor") {
		t.Errorf("message %q", cerr.Message)
	}
	if s := v.state(inst.ID); s != store.InstanceActive {
		t.Errorf("instance %s: a command without actor ran", s)
	}
	a := v.lastAudit(inst.ID)
	if a.Actor != command.UnknownActor || a.Result != string(command.CodeUnauthorized) || a.Command != command.VerbCancelInstance {
		t.Errorf("audit %+v", a)
	}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	v := newEnv(t, withServiceOptions(func(o *command.Options) {
		o.Authorize = func(_ context.Context, actor, verb, _ string) error {
			if actor == "bob" && verb == command.VerbCancelInstance {
				return errors.New("bob is read-only")
			}
			return nil
		}
	}))
	inst := v.startInstance("usertask", nil)
	_, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("bob"), InstanceID: inst.ID})
	cerr := wantCode(t, err, command.CodeUnauthorized)
	if !strings.Contains(cerr.Message, "read-only") {
		t.Errorf("message %q", cerr.Message)
	}
	if s := v.state(inst.ID); s != store.InstanceActive {
		t.Fatalf("instance %s: an unauthorised command ran", s)
	}
	if a := v.lastAudit(inst.ID); a.Actor != "bob" || a.Result != string(command.CodeUnauthorized) {
		t.Errorf("audit %+v", a)
	}
	if _, err := v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: meta("bob"), InstanceID: inst.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: inst.ID}); err != nil {
		t.Fatal(err)
	}
}

// rawReply is a reply read without the Client.
type rawReply struct {
	OK        bool            `json:"ok"`
	RequestID string          `json:"requestId"`
	Result    json.RawMessage `json:"result"`
	Error     *command.Error  `json:"error"`
	header    map[string]string
}

func (v *env) raw(verb string, body []byte) rawReply {
	v.t.Helper()
	msg, err := v.nc.Request(command.Subject(v.prefix, verb), body, 10*time.Second)
	if err != nil {
		v.t.Fatalf("request %s: %v", verb, err)
	}
	var r rawReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		v.t.Fatalf("reply %q: %v", msg.Data, err)
	}
	r.header = map[string]string{}
	for k := range msg.Header {
		r.header[k] = msg.Header.Get(k)
	}
	return r
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	big := `{"actor":"ann","instanceId":"x","reason":"` + strings.Repeat("a", command.DefaultMaxRequestBytes) + `"}`
	cases := []struct {
		name, body string
		code       command.Code
		mentions   []string
	}{
		{"oversized", big, command.CodeInvalidInput, []string{"1048576"}},
		{"empty", "  ", command.CodeInvalidInput, []string{"empty"}},
		{"not an object", `["actor"]`, command.CodeInvalidInput, []string{"not a JSON object"}},
		{"null", `null`, command.CodeInvalidInput, []string{"not a JSON object"}},
		{"syntax", `{"actor":"ann","instanceId":}`, command.CodeInvalidInput, []string{"byte offset 29"}},
		{"truncated", `{"actor":"ann","instanceId":"x"`, command.CodeInvalidInput, []string{"end of input"}},
		{"wrong type", `{"actor":"ann","instanceId":42}`, command.CodeInvalidInput, []string{`"instanceId"`, "a string", "number"}},
		{"unknown field", `{"actor":"ann","instance":"x"}`, command.CodeInvalidInput, []string{`"instance"`}},
		{"trailing data", `{"actor":"ann","instanceId":"x"} {}`, command.CodeInvalidInput, []string{"after the request object"}},
		{"bad request id", `{"actor":"ann","instanceId":"x","requestId":"a.b"}`, command.CodeInvalidInput, []string{"requestId"}},
		{"no actor", `{"instanceId":"x"}`, command.CodeUnauthorized, []string{"actor"}},
	}
	for _, c := range cases {
		r := v.raw(command.VerbCancelInstance, []byte(c.body))
		if r.OK || r.Error == nil || r.Error.Code != c.code {
			t.Errorf("%s: reply %+v, want code %s", c.name, r, c.code)
			continue
		}
		for _, m := range c.mentions {
			if !strings.Contains(r.Error.Message, m) {
				t.Errorf("%s: message %q does not mention %q", c.name, r.Error.Message, m)
			}
		}
		if r.RequestID == "" {
			t.Errorf("%s: reply has no request id", c.name)
		}
		if got := r.header[micro.ErrorCodeHeader]; got != map[command.Code]string{command.CodeInvalidInput: "400", command.CodeUnauthorized: "401"}[c.code] {
			t.Errorf("%s: %s header %q", c.name, micro.ErrorCodeHeader, got)
		}
		if got := r.header[micro.ErrorHeader]; !strings.HasPrefix(got, string(c.code)+": ") {
			t.Errorf("%s: %s header %q", c.name, micro.ErrorHeader, got)
		}
	}
	// Every one of them is in the audit log, none with a request body that is not JSON.
	rows := v.audit(store.AuditFilter{Actor: command.UnknownActor})
	if len(rows) != len(cases) {
		t.Errorf("audit rows %d, want %d", len(rows), len(cases))
	}
	for _, a := range rows {
		if a.Command != command.VerbCancelInstance || a.Result == "ok" || a.Error == "" {
			t.Errorf("audit %+v", a)
		}
		if a.Request != nil && !json.Valid(a.Request) {
			t.Errorf("audit request is not JSON: %.80s", a.Request)
		}
	}
}

func TestErrorHeadersAndEnvelope(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	r := v.raw(command.VerbCancelInstance, []byte(`{"actor":"ann","instanceId":"missing","requestId":"req-1"}`))
	if r.OK || r.RequestID != "req-1" || r.Error.Code != command.CodeNotFound || r.header[micro.ErrorCodeHeader] != "404" {
		t.Errorf("reply %+v", r)
	}
	inst := v.startInstance("usertask", nil)
	r = v.raw(command.VerbSuspendInstance, fmt.Appendf(nil, `{"actor":"ann","instanceId":%q}`, inst.ID))
	if !r.OK || r.Error != nil || r.header[micro.ErrorHeader] != "" || string(r.Result) != fmt.Sprintf(`{"instanceId":%q,"state":"suspended"}`, inst.ID) {
		t.Errorf("reply %+v", r)
	}
}

// failingStore fails reads on demand with an error the engine does not know (or with
// err when set).
type failingStore struct {
	store.Store
	mu   sync.Mutex
	fail bool
	err  error
}

func (f *failingStore) Read(ctx context.Context, fn func(store.Tx) error) error {
	f.mu.Lock()
	fail, err := f.fail, f.err
	f.mu.Unlock()
	if fail {
		if err != nil {
			return err
		}
		return errors.New("disk on fire at /var/lib/secret")
	}
	return f.Store.Read(ctx, fn)
}

// TestTransientStoreErrorIsUnavailable: a store that cannot be reached (a refused
// connection, a conflict that outlasted the engine's retries) answers unavailable, safe to
// send again, without the driver's text; the audit row keeps that text.
func TestTransientStoreErrorIsUnavailable(t *testing.T) {
	t.Parallel()
	var fs *failingStore
	v := newEnv(t, withEngineStore(func(st store.Store) store.Store {
		fs = &failingStore{Store: st}
		return fs
	}))
	inst := v.startInstance("nodefault", map[string]any{"amount": 50})
	inc := v.openIncident(inst.ID)
	for _, storeErr := range []error{
		store.Unavailable(errors.New("begin read: dial tcp 10.1.2.3:5432: connect: connection refused")),
		fmt.Errorf("apply: %w (SQLSTATE 40001)", store.ErrConflict),
	} {
		fs.mu.Lock()
		fs.fail, fs.err = true, storeErr
		fs.mu.Unlock()
		_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: inc.ID})
		cerr := wantCode(t, err, command.CodeUnavailable)
		if strings.Contains(cerr.Message, "10.1.2.3") || strings.Contains(cerr.Message, "SQLSTATE") ||
			!strings.Contains(cerr.Message, "try again later") {
			t.Errorf("message %q", cerr.Message)
		}
		if a := v.lastAudit(inc.ID); a.Result != string(command.CodeUnavailable) || !strings.HasSuffix(a.Error, storeErr.Error()) {
			t.Errorf("audit %+v", a)
		}
	}
}

func TestInternalErrorHidesDetails(t *testing.T) {
	t.Parallel()
	var fs *failingStore
	v := newEnv(t, withEngineStore(func(st store.Store) store.Store {
		fs = &failingStore{Store: st}
		return fs
	}))
	inst := v.startInstance("nodefault", map[string]any{"amount": 50})
	inc := v.openIncident(inst.ID)
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: inc.ID})
	cerr := wantCode(t, err, command.CodeInternal)
	if strings.Contains(cerr.Message, "secret") || !strings.Contains(cerr.Message, "request id") {
		t.Errorf("message %q", cerr.Message)
	}
	if a := v.lastAudit(inc.ID); a.Result != string(command.CodeInternal) || !strings.Contains(a.Error, "disk on fire") {
		t.Errorf("audit %+v", a)
	}
}

func TestRepeatedRequestIDRunsOnce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	req := command.StartInstanceRequest{Meta: command.Meta{Actor: "ann", RequestID: "start-once"}, ProcessKey: "usertask"}
	first, err := v.client.StartInstance(v.ctx, req)
	noErr(t, err)
	second, err := v.client.StartInstance(v.ctx, req)
	noErr(t, err)
	if first.InstanceID != second.InstanceID {
		t.Errorf("repeat started %s after %s", second.InstanceID, first.InstanceID)
	}
	page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: "usertask"})
	noErr(t, err)
	if len(page.Instances) != 1 {
		t.Errorf("%d instances, want 1", len(page.Instances))
	}
	if rows := v.audit(store.AuditFilter{Target: "usertask"}); len(rows) != 1 {
		t.Errorf("%d audit rows, want 1", len(rows))
	}
	_, err = v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: command.Meta{Actor: "ann", RequestID: "start-once"}, InstanceID: first.InstanceID})
	wantCode(t, err, command.CodeInvalidInput)
	if s := v.state(first.InstanceID); s != store.InstanceActive {
		t.Errorf("instance %s: a reused request id ran another command", s)
	}
	if a := v.lastAudit(first.InstanceID); a.Command != command.VerbSuspendInstance || a.Result != string(command.CodeInvalidInput) {
		t.Errorf("audit of the refused reuse %+v", a)
	}
}

func TestQueueGroupAnswersEachRequestOnce(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	second := v.startService(connect(t, v.url), nil)
	const n = 40
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			res, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask"})
			if err == nil {
				ids[i] = res.InstanceID
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Stats count a request after its handler returned, which may be after the reply.
	handled := func() int {
		n := 0
		for _, s := range []*command.Service{v.svc, second} {
			for _, ep := range s.Stats().Endpoints {
				if ep.Subject == command.Subject(v.prefix, command.VerbStartInstance) {
					n += ep.NumRequests
				}
			}
		}
		return n
	}
	v.waitFor("stats to count every request", func() bool { return handled() >= n })
	if got := handled(); got != n {
		t.Errorf("the two services handled %d requests, want %d", got, n)
	}
	for _, s := range []*command.Service{v.svc, second} {
		for _, ep := range s.Info().Endpoints {
			if ep.QueueGroup != command.DefaultQueueGroup {
				t.Errorf("endpoint %s in queue group %q", ep.Subject, ep.QueueGroup)
			}
		}
	}
	// Stopping both services waits for everything they took; a request answered twice
	// would have started a second instance and written a second audit row by then.
	ctx, cancel := context.WithTimeout(v.ctx, 10*time.Second)
	defer cancel()
	for _, s := range []*command.Service{v.svc, second} {
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n {
		t.Errorf("instance ids repeat: %v", ids)
	}
	page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: "usertask", Limit: 1000})
	noErr(t, err)
	if len(page.Instances) != n {
		t.Errorf("%d instances, want %d", len(page.Instances), n)
	}
	if rows := v.audit(store.AuditFilter{Target: "usertask"}); len(rows) != n {
		t.Errorf("%d audit rows, want %d", len(rows), n)
	}
}

func TestServiceInfo(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	// What `nats micro info cockpit` asks.
	msg, err := v.nc.Request("$SRV.INFO."+command.ServiceName, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Name != command.ServiceName || info.Version != command.ServiceVersion {
		t.Errorf("info %+v", info.ServiceIdentity)
	}
	var subjects []string
	for _, ep := range info.Endpoints {
		subjects = append(subjects, ep.Subject)
	}
	for _, verb := range command.Verbs {
		if !slices.Contains(subjects, command.Subject(v.prefix, verb)) {
			t.Errorf("no endpoint for %s in %v", verb, subjects)
		}
	}
}

func TestStoppedServiceIsUnavailable(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	ctx, cancel := context.WithTimeout(v.ctx, 10*time.Second)
	defer cancel()
	if err := v.svc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := v.svc.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	_, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask"})
	wantCode(t, err, command.CodeUnavailable)
}

func TestStartValidatesOptions(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	for _, o := range []command.Options{
		{Engine: v.e},
		{Conn: v.nc},
		{Conn: v.nc, Engine: v.e, Prefix: "bad prefix"},
		{Conn: v.nc, Engine: v.e, Prefix: "a.*"},
	} {
		if svc, err := command.Start(v.ctx, o); err == nil {
			_ = svc.Stop(v.ctx)
			t.Errorf("Start(%+v) succeeded", o)
		}
	}
}
