package command_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func newSigner(t *testing.T, v *env) (*command.Signer, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	s, err := command.NewSigner(append([]byte("-----BEGIN USER NKEY SEED-----\n"), seed...))
	if err != nil {
		t.Fatal(err)
	}
	command.SetSignerClock(s, v.clock.Now)
	return s, s.PublicKey()
}

// TestSignedCommands: a command service with a trusted key takes only requests signed
// by it; the audit actor is the signed one, and a forged, unsigned, foreign, altered,
// expired or replayed request is refused as unauthorized with no claimed actor in the
// audit log.
func TestSignedCommands(t *testing.T) {
	t.Parallel()
	var trusted *command.Signer
	var pub string
	v := newEnv(t, withServiceOptions(func(o *command.Options) {
		// The key is made before the service starts (newSigner needs only the clock).
		o.TrustedKeys = []string{pub}
	}), func(c *envConfig) {
		kp, _ := nkeys.CreateUser()
		seed, _ := kp.Seed()
		trusted, _ = command.NewSigner(seed)
		pub = trusted.PublicKey()
	})
	command.SetSignerClock(trusted, v.clock.Now)
	a, b := v.startInstance("usertask", nil), v.startInstance("usertask", nil)

	// Unsigned: refused, nothing done, no claimed actor recorded.
	_, err := v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("mallory"), InstanceID: a.ID})
	cerr := wantCode(t, err, command.CodeUnauthorized)
	if !strings.Contains(cerr.Message, "only signed commands") || v.state(a.ID) != store.InstanceActive {
		t.Fatalf("unsigned: %v, %s", err, v.state(a.ID))
	}
	if row := v.lastAudit(a.ID); row.Actor != command.UnknownActor || row.Result != string(command.CodeUnauthorized) {
		t.Errorf("audit of the unsigned request: %+v", row)
	}

	// Signed by the trusted key: done, under the signed actor.
	signed := v.client.WithSigner(trusted)
	if _, err := signed.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: a.ID}); err != nil {
		t.Fatalf("signed: %v", err)
	}
	if row := v.lastAudit(a.ID); row.Actor != "ann" || row.Result != "ok" || v.state(a.ID) != store.InstanceCancelled {
		t.Errorf("audit of the signed request: %+v, %s", row, v.state(a.ID))
	}

	// Forged by hand: the body's actor is not the signed one; another key; an altered
	// body; an old signature; a replay.
	send := func(body []byte, sig string) error {
		msg := &nats.Msg{Subject: command.Subject(v.prefix, command.VerbCancelInstance), Data: body, Header: nats.Header{}}
		if sig != "" {
			msg.Header.Set(command.SignatureHeader, sig)
		}
		rep, err := v.nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			return err
		}
		var env struct {
			OK    bool
			Error *command.Error
		}
		if err := json.Unmarshal(rep.Data, &env); err != nil {
			return err
		}
		if env.OK {
			return nil
		}
		return env.Error
	}
	body := func(actor string) []byte {
		b, _ := json.Marshal(command.InstanceRequest{Meta: meta(actor), InstanceID: b.ID})
		return b
	}
	other, _ := newSigner(t, v)
	sigAnn, _ := command.Sign(trusted, "ann", command.VerbCancelInstance, body("ann"))
	sigMallory, _ := command.Sign(trusted, "ann", command.VerbCancelInstance, body("mallory"))
	sigOther, _ := command.Sign(other, "ann", command.VerbCancelInstance, body("ann"))
	sigSuspend, _ := command.Sign(trusted, "ann", command.VerbSuspendInstance, body("ann"))
	command.SetSignerClock(trusted, func() time.Time { return v.clock.Now().Add(-5 * time.Minute) })
	sigOld, _ := command.Sign(trusted, "ann", command.VerbCancelInstance, body("ann"))
	command.SetSignerClock(trusted, v.clock.Now)
	for name, c := range map[string]struct {
		body []byte
		sig  string
		want string
	}{
		"forged actor":     {body("mallory"), sigMallory, `names actor "mallory" but its credentials are "ann"'s`},
		"untrusted key":    {body("ann"), sigOther, "does not trust"},
		"altered body":     {append(body("ann")[:len(body("ann"))-1], []byte(`,"reason":"x"}`)...), sigAnn, "not the one signed"},
		"another verb":     {body("ann"), sigSuspend, "not instance.cancel"},
		"expired":          {body("ann"), sigOld, "expired"},
		"garbage":          {body("ann"), "abc", "not claims.signature"},
		"oversized header": {body("ann"), strings.Repeat("x", 5000), "limit"},
	} {
		err := send(c.body, c.sig)
		var ce *command.Error
		if !errors.As(err, &ce) || ce.Code != command.CodeUnauthorized || !strings.Contains(ce.Message, c.want) {
			t.Errorf("%s: %v, want unauthorized %q", name, err, c.want)
		}
	}
	if v.state(b.ID) != store.InstanceActive {
		t.Fatalf("a refused request changed instance %s: %s", b.ID, v.state(b.ID))
	}
	for _, row := range v.audit(store.AuditFilter{Target: b.ID}) {
		if row.Actor != command.UnknownActor {
			t.Errorf("a refused request's audit row names actor %q", row.Actor)
		}
	}
	// A role in the signature: a viewer may not cancel (the verb needs act).
	sigViewer, _ := command.SignAs(trusted, "ann", "viewer", command.VerbCancelInstance, body("ann"))
	var ce *command.Error
	if err := send(body("ann"), sigViewer); !errors.As(err, &ce) || ce.Code != command.CodeUnauthorized ||
		!strings.Contains(ce.Message, "ann is viewer, and instance.cancel needs a role that may act") {
		t.Errorf("a viewer's cancel: %v", err)
	}
	sigBogus, _ := command.SignAs(trusted, "ann", "boss", command.VerbCancelInstance, body("ann"))
	if err := send(body("ann"), sigBogus); !errors.As(err, &ce) || ce.Code != command.CodeUnauthorized {
		t.Errorf("an unknown role: %v", err)
	}
	if err := send(body("ann"), sigAnn); err != nil {
		t.Fatalf("the signed request by hand: %v", err)
	}
	if err := send(body("ann"), sigAnn); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Errorf("a replay: %v", err)
	}
	if v.state(b.ID) != store.InstanceCancelled {
		t.Errorf("instance %s is %s", b.ID, v.state(b.ID))
	}
}

// TestSignerKeys: a seed that is no user seed, and a trusted key that is no public user
// key, are refused with the reason.
func TestSignerKeys(t *testing.T) {
	acct, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := acct.Seed()
	if _, err := command.NewSigner(seed); err == nil || !strings.Contains(err.Error(), "SU") {
		t.Errorf("an account seed: %v", err)
	}
	pub, _ := acct.PublicKey()
	if err := command.CheckTrustedKeys([]string{pub}); err == nil || !strings.Contains(err.Error(), "not an NKey public user key") {
		t.Errorf("an account key as a trusted key: %v", err)
	}
	if _, err := command.NewSigner([]byte("nothing here")); err == nil || !strings.Contains(err.Error(), "SU") {
		t.Errorf("no seed: %v", err)
	}
}

// TestVerbPermissions: every command verb needs a permission; reading operations is
// the viewer's, thresholds the admin's, the rest the operator's.
func TestVerbPermissions(t *testing.T) {
	for _, verb := range command.Verbs {
		p := command.VerbPermission(verb)
		for _, role := range auth.Roles {
			want := role >= auth.Operator
			switch verb {
			case command.VerbGetOperation, command.VerbListOperations:
				want = true
			case command.VerbStallThreshold:
				want = role == auth.Admin
			}
			if role.Can(p) != want {
				t.Errorf("%s as %s: %v", verb, role, role.Can(p))
			}
		}
	}
}

// TestCommandTokens walks every command verb with no credentials and with the API token
// of each role, on a service that requires credentials: without, every verb is refused;
// with a token, exactly the verbs the role may run get past the check (their own
// answer may be another refusal, never unauthorized), and the actor must be the token's.
func TestCommandTokens(t *testing.T) {
	t.Parallel()
	ids := map[string]*auth.Identity{}
	for _, r := range auth.Roles {
		ids["ck_"+r.String()] = &auth.Identity{Name: "u-" + r.String(), Role: r, Via: "token"}
	}
	v := newEnv(t, withServiceOptions(func(o *command.Options) {
		o.RequireCredentials = true
		o.Tokens = func(_ context.Context, token string) (*auth.Identity, error) {
			if id, ok := ids[token]; ok {
				return id, nil
			}
			return nil, auth.ErrUnauthenticated
		}
	}))
	send := func(verb, token, actor string) *command.Error {
		msg := &nats.Msg{Subject: command.Subject(v.prefix, verb), Data: []byte(`{"actor":` + strconv.Quote(actor) + `}`), Header: nats.Header{}}
		if token != "" {
			msg.Header.Set("Authorization", "Bearer "+token)
		}
		rep, err := v.nc.RequestMsg(msg, 20*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		var env struct {
			OK    bool
			Error *command.Error
		}
		if err := json.Unmarshal(rep.Data, &env); err != nil {
			t.Fatalf("%s: %v", verb, err)
		}
		return env.Error
	}
	for _, verb := range command.Verbs {
		if e := send(verb, "", "anyone"); e == nil || e.Code != command.CodeUnauthorized {
			t.Errorf("%s without credentials: %+v", verb, e)
		}
		if e := send(verb, "ck_unknown", "anyone"); e == nil || e.Code != command.CodeUnauthorized {
			t.Errorf("%s with an unknown token: %+v", verb, e)
		}
		for _, r := range auth.Roles {
			e := send(verb, "ck_"+r.String(), "u-"+r.String())
			denied := e != nil && e.Code == command.CodeUnauthorized
			if r.Can(command.VerbPermission(verb)) == denied {
				t.Errorf("%s as %s: %+v", verb, r, e)
			}
		}
		if e := send(verb, "ck_admin", "someone-else"); e == nil || e.Code != command.CodeUnauthorized {
			t.Errorf("%s with another actor than the token's: %+v", verb, e)
		}
	}
}
