package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/auth/authtest"
)

// TestOIDC: a sign-in through the provider makes the user on its first time with the
// role its groups map to, updates the role later, and refuses a foreign nonce, a user
// without a role, and the name of a local user.
func TestOIDC(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	p := authtest.NewProvider(t)
	o, err := s.NewOIDC(ctx, auth.OIDCOptions{Issuer: p.Srv.URL, ClientID: "cockpit", ClientSecret: "s",
		RedirectURL: "https://cockpit.example/oidc/callback", Roles: map[string]auth.Role{"ops": auth.Operator, "admins": auth.Admin}})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(extra map[string]any, nonce string) (*auth.Identity, error) {
		st, err := o.Start()
		if err != nil {
			t.Fatal(err)
		}
		p.Authorize(t, st, extra)
		if nonce == "" {
			nonce = st.Nonce
		}
		_, id, err := o.Finish(ctx, authtest.GoodCode, nonce, st.Verifier, "10.0.0.5")
		return id, err
	}
	id, err := signIn(map[string]any{"preferred_username": "sam", "groups": []any{"staff", "ops"}}, "")
	if err != nil || id.Name != "sam" || id.Role != auth.Operator {
		t.Fatalf("first sign-in: %+v %v", id, err)
	}
	if id, err = signIn(map[string]any{"preferred_username": "sam", "groups": []any{"admins"}}, ""); err != nil || id.Role != auth.Admin {
		t.Errorf("the role follows the claim: %+v %v", id, err)
	}
	if _, err := signIn(map[string]any{"preferred_username": "sam", "groups": []any{"ops"}}, "another nonce"); !errors.Is(err, auth.ErrOIDC) {
		t.Errorf("a foreign nonce: %v", err)
	}
	if _, err := signIn(map[string]any{"email": "eve@example.com", "groups": "staff"}, ""); !errors.Is(err, auth.ErrOIDC) ||
		!strings.Contains(err.Error(), "no role") {
		t.Errorf("no role: %v", err)
	}
	if _, err := s.CreateUser(ctx, "local", "a long enough secret", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(map[string]any{"preferred_username": "local", "groups": []any{"admins"}}, ""); !errors.Is(err, auth.ErrOIDC) ||
		!strings.Contains(err.Error(), "local user") {
		t.Errorf("a local user's name: %v", err)
	}
	st, _ := o.Start()
	p.Authorize(t, st, map[string]any{"preferred_username": "sam"})
	if _, _, err := o.Finish(ctx, authtest.GoodCode, st.Nonce, "not the verifier", "10.0.0.5"); !errors.Is(err, auth.ErrOIDC) {
		t.Errorf("a wrong PKCE verifier: %v", err)
	}
}
