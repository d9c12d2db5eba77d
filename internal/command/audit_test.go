package command_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/nats-io/nats.go/micro"
)

// TestHostileActorsAreRefused: an actor the audit log could not hold, or that could pass
// for another operator, is refused with invalid_input naming the field, before the
// command runs; the refusal itself is audited. So are request bodies with text no store
// can hold (NUL, invalid UTF-8, half a surrogate pair) in any field.
func TestHostileActorsAreRefused(t *testing.T) {
	for name, opt := range map[string]envOption{"sqlite": nil, "postgres": onPostgres()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opts []envOption
			if opt != nil {
				opts = append(opts, opt)
			}
			testHostileActors(t, newEnv(t, opts...))
		})
	}
}

func testHostileActors(t *testing.T, v *env) {
	inst := v.startInstance("usertask", nil)
	for _, c := range []struct {
		name, actor string
	}{
		{"nul", "ann\x00"},
		{"nul inside", "an\x00n"},
		{"newline", "ann\nbob"},
		{"carriage return", "ann\rroot"},
		{"escape sequence", "\x1b[31mann"},
		{"delete", "ann\x7f"},
		{"c1 control", "an\u0085n"}, // at the end it is trimmed as a space
		{"bidi override", "\u202enna"},
		{"zero width", "a\u200bnn"},
		{"byte order mark", "\ufeffann"},
		{"line separator", "ann\u2028bob"},
		{"invalid utf8", "ann\xff"}, // the client's JSON encoder turns it into U+FFFD
		{"too long", strings.Repeat("a", command.MaxActorBytes+1)},
		{"too long multibyte", strings.Repeat("é", command.MaxActorBytes/2+1)},
	} {
		_, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta(c.actor), InstanceID: inst.ID})
		var cerr *command.Error
		if !errors.As(err, &cerr) || cerr.Code != command.CodeInvalidInput || !strings.Contains(cerr.Message, `"actor"`) {
			t.Errorf("%s: %v, want invalid_input naming \"actor\"", c.name, err)
			continue
		}
		if a := v.lastAudit(inst.ID); a.Actor != command.UnknownActor || a.Result != string(command.CodeInvalidInput) {
			t.Errorf("%s: audit %+v, want the refusal recorded", c.name, a)
		}
	}
	for _, c := range []struct{ name, body, mentions string }{
		{"nul in reason", `{"actor":"ann","instanceId":"` + inst.ID + `","reason":"x\u0000y"}`, "NUL"},
		{"nul in id", `{"actor":"ann","instanceId":"` + inst.ID + `\u0000"}`, "NUL"},
		{"lone high surrogate", `{"actor":"ann","instanceId":"` + inst.ID + `","reason":"\ud800"}`, "surrogate"},
		{"lone low surrogate", `{"actor":"ann","instanceId":"` + inst.ID + `","reason":"\udc00x"}`, "surrogate"},
		{"high then not low", `{"actor":"ann","instanceId":"` + inst.ID + `","reason":"\ud800\u0041"}`, "surrogate"},
		{"invalid utf8", "{\"actor\":\"ann\",\"instanceId\":\"" + inst.ID + "\",\"reason\":\"\xff\"}", "UTF-8"},
	} {
		before := len(v.audit(store.AuditFilter{Target: inst.ID, Limit: 1000}))
		r := v.raw(command.VerbCancelInstance, []byte(c.body))
		if r.OK || r.Error == nil || r.Error.Code != command.CodeInvalidInput || !strings.Contains(r.Error.Message, c.mentions) {
			t.Errorf("%s: %+v, want invalid_input mentioning %q", c.name, r.Error, c.mentions)
		}
		// The refusal is audited with what the store can hold (the body is left out).
		if c.name != "nul in id" {
			rows := v.audit(store.AuditFilter{Target: inst.ID, Limit: 1000})
			if a := rows[0]; len(rows) != before+1 || a.Result != string(command.CodeInvalidInput) || a.Request != nil ||
				strings.ContainsRune(a.Reason, 0) {
				t.Errorf("%s: %d rows, newest %+v", c.name, len(rows)-before, a)
			}
		}
	}
	// Escapes that only look alike pass: an escaped backslash before "u0000", a proper pair.
	for _, reason := range []string{`x\\u0000`, `\ud83d\ude00`} {
		body := `{"actor":"ann","instanceId":"` + inst.ID + `","reason":"` + reason + `"}`
		if r := v.raw(command.VerbSuspendInstance, []byte(body)); !r.OK {
			t.Errorf("reason %s: %+v", reason, r.Error)
		}
		if r := v.raw(command.VerbResumeInstance, []byte(body)); !r.OK {
			t.Errorf("reason %s: %+v", reason, r.Error)
		}
	}
	if got := v.state(inst.ID); got != store.InstanceActive {
		t.Fatalf("instance %s after refused commands, want active", got)
	}
	// A good actor with spaces, letters of any script and punctuation is fine.
	for _, actor := range []string{"ann", "Ann O'Neil <ann@example.com>", "山田 太郎", strings.Repeat("a", command.MaxActorBytes)} {
		if _, err := v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: meta(actor), InstanceID: inst.ID}); err != nil {
			t.Errorf("actor %q: %v", actor, err)
		}
		if a := v.lastAudit(inst.ID); a.Actor != actor || a.Result != "ok" {
			t.Errorf("actor %q: audit %+v", actor, a)
		}
		if _, err := v.client.ResumeInstance(v.ctx, command.InstanceRequest{Meta: meta(actor), InstanceID: inst.ID}); err != nil {
			t.Errorf("actor %q: %v", actor, err)
		}
	}
}

// auditFailingStore refuses audit rows on demand.
type auditFailingStore struct {
	store.Store
	mu  sync.Mutex
	err error
}

func (f *auditFailingStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	return f.Store.Write(ctx, func(tx store.Tx) error { return fn(&auditFailingTx{Tx: tx, err: err}) })
}

type auditFailingTx struct {
	store.Tx
	err error
}

func (t *auditFailingTx) InsertAudit(ctx context.Context, a *store.AuditEntry) error {
	if t.err != nil {
		return t.err
	}
	return t.Tx.InsertAudit(ctx, a)
}

// TestNoAuditRowNoCommand: a command whose audit row cannot be written does not run
// (single and bulk); it answers unavailable when the store is down, internal otherwise.
func TestNoAuditRowNoCommand(t *testing.T) {
	t.Parallel()
	var fs *auditFailingStore
	v := newEnv(t)
	v.startService(v.nc, func(o *command.Options) {
		fs = &auditFailingStore{Store: v.st}
		o.Store = fs
		o.Prefix = v.prefix + "b"
	})
	client := command.NewClient(v.nc, v.prefix+"b")
	inst := v.startInstance("usertask", nil)
	bad := v.startInstance("nodefault", map[string]any{"amount": 50})
	inc := v.openIncident(bad.ID)
	for _, c := range []struct {
		err  error
		code command.Code
	}{
		{store.Unavailable(errors.New("connection refused")), command.CodeUnavailable},
		{fmt.Errorf("insert audit: value too long"), command.CodeInternal},
	} {
		fs.mu.Lock()
		fs.err = c.err
		fs.mu.Unlock()
		_, err := client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: inst.ID})
		wantCode(t, err, c.code)
		if got := v.state(inst.ID); got != store.InstanceActive {
			t.Fatalf("cancel ran without its audit row: instance %s", got)
		}
		_, err = client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), IncidentIDs: []string{inc.ID}}, nil)
		wantCode(t, err, c.code)
		if len(v.detail(bad.ID).Incidents) != 1 || v.openIncident(bad.ID).ID != inc.ID {
			t.Fatal("bulk retry ran without its audit row")
		}
	}
	if rows := v.audit(store.AuditFilter{Target: inst.ID}); len(rows) != 0 {
		t.Errorf("audit rows %+v", rows)
	}
	// The store recovers: the command runs, its row written first and given its result.
	fs.mu.Lock()
	fs.err = nil
	fs.mu.Unlock()
	if _, err := client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: inst.ID}); err != nil {
		t.Fatal(err)
	}
	if a := v.lastAudit(inst.ID); a.Result != "ok" || a.Actor != "ann" {
		t.Errorf("audit %+v", a)
	}
}

// TestConcurrentRefusals: many requests refused at once, each answered with its own
// error, and a raw request sees micro's error headers, which respond now sets itself
// (replies are published on the connection, not through micro's request: see respond).
func TestConcurrentRefusals(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: fmt.Sprintf("missing-%d", i)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		var cerr *command.Error
		if !errors.As(err, &cerr) || cerr.Code != command.CodeNotFound {
			t.Errorf("request %d: %v, want not_found", i, err)
		}
	}
	// A raw request sees micro's error headers.
	msg, err := v.nc.Request(command.Subject(v.prefix, command.VerbCancelInstance), []byte(`{"actor":"ann","instanceId":"missing"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "404" || !strings.Contains(msg.Header.Get(micro.ErrorHeader), "not_found") {
		t.Errorf("error headers %v", msg.Header)
	}
}
