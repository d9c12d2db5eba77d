package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// OpenID Connect sign-in (coreos/go-oidc for discovery and ID token verification,
// golang.org/x/oauth2 for the code exchange with PKCE): the sign-in page sends the
// browser to the provider; its callback's code is exchanged for an ID token, checked
// (issuer, audience, expiry, signature, the nonce of this sign-in), and the user it names
// signs in: made on the first sign-in (no password), its role set from a claim at every
// sign-in. A local user of the same name (one with a password) is not taken over.

// OIDCOptions configure sign-in through an OpenID Connect provider.
type OIDCOptions struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// <Issuer>/.well-known/openid-configuration).
	Issuer, ClientID, ClientSecret string
	// RedirectURL is this cockpit's callback, as registered with the provider:
	// https://<host>/oidc/callback.
	RedirectURL string
	// RoleClaim names the ID token claim, a string or a list of strings, whose values
	// Roles maps (default "groups").
	RoleClaim string
	// Roles maps claim values to roles; a user with several gets the highest.
	Roles map[string]Role
	// DefaultRole is the role of a user none of whose values maps (0: refused).
	DefaultRole Role
	// HTTPClient talks to the provider (default http.DefaultClient).
	HTTPClient *http.Client
}

// OIDC signs users in through a provider.
type OIDC struct {
	o        OIDCOptions
	svc      *Service
	verifier *oidc.IDTokenVerifier
	conf     oauth2.Config
}

// OIDCStart is what a sign-in through the provider needs to remember until its
// callback (the web UI keeps it in a short-lived cookie).
type OIDCStart struct {
	URL                    string
	State, Nonce, Verifier string
}

// ErrOIDC: the provider's answer does not sign anyone in; the error says why.
var ErrOIDC = errors.New("single sign-on failed")

// NewOIDC reads the provider's discovery document.
func (s *Service) NewOIDC(ctx context.Context, o OIDCOptions) (*OIDC, error) {
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return nil, errors.New("OpenID Connect needs an issuer, a client id and a redirect URL")
	}
	if o.RoleClaim == "" {
		o.RoleClaim = "groups"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, o.HTTPClient), o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OpenID Connect provider %s: %w", o.Issuer, err)
	}
	return &OIDC{o: o, svc: s, verifier: p.Verifier(&oidc.Config{ClientID: o.ClientID}),
		conf: oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: o.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}}, nil
}

// Issuer names the provider.
func (p *OIDC) Issuer() string { return p.o.Issuer }

// Start begins a sign-in: where to send the browser, and what to check at its return.
func (p *OIDC) Start() (*OIDCStart, error) {
	state, err := randomText()
	if err != nil {
		return nil, err
	}
	nonce, err := randomText()
	if err != nil {
		return nil, err
	}
	verifier := oauth2.GenerateVerifier()
	return &OIDCStart{URL: p.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)),
		State: state, Nonce: nonce, Verifier: verifier}, nil
}

// Finish exchanges the callback's code, checks the ID token against the sign-in's
// nonce, and signs its user in: the session's secret and who it is.
func (p *OIDC) Finish(ctx context.Context, code, nonce, verifier, address string) (string, *Identity, error) {
	hctx := oidc.ClientContext(ctx, p.o.HTTPClient)
	tok, err := p.conf.Exchange(hctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", nil, fmt.Errorf("%w: the code exchange: %v", ErrOIDC, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return "", nil, fmt.Errorf("%w: the provider sent no ID token", ErrOIDC)
	}
	idt, err := p.verifier.Verify(hctx, raw)
	if err != nil {
		return "", nil, fmt.Errorf("%w: the ID token: %v", ErrOIDC, err)
	}
	if idt.Nonce != nonce {
		return "", nil, fmt.Errorf("%w: the ID token is not for this sign-in (nonce)", ErrOIDC)
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", nil, fmt.Errorf("%w: the ID token's claims: %v", ErrOIDC, err)
	}
	name := claimString(claims, "preferred_username")
	if name == "" {
		name = claimString(claims, "email")
	}
	if err := CheckName(name); err != nil {
		return "", nil, fmt.Errorf("%w: the ID token names no usable user (preferred_username or email): %v", ErrOIDC, err)
	}
	role := p.o.DefaultRole
	for _, v := range claimStrings(claims, p.o.RoleClaim) {
		if r, ok := p.o.Roles[v]; ok && r > role {
			role = r
		}
	}
	if role == 0 {
		return "", nil, fmt.Errorf("%w: %s has no role here (claim %q maps to none)", ErrOIDC, name, p.o.RoleClaim)
	}
	var u *store.User
	err = p.svc.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.GetUserByName(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			u = &store.User{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Role: role.String(), CreatedAt: p.svc.o.Clock.Now()}
			return tx.InsertUser(ctx, u)
		case err != nil:
			return err
		case u.PasswordHash != "":
			return fmt.Errorf("%w: a local user is called %s; single sign-on does not take it over", ErrOIDC, name)
		case u.DisabledAt != nil:
			return fmt.Errorf("%w: %s is disabled", ErrOIDC, name)
		}
		u.Role = role.String()
		return tx.UpdateUser(ctx, u)
	})
	if err != nil {
		return "", nil, err
	}
	return p.svc.openSession(ctx, u, address)
}

func claimString(c map[string]any, name string) string {
	s, _ := c[name].(string)
	return strings.TrimSpace(s)
}

func claimStrings(c map[string]any, name string) []string {
	switch v := c[name].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func randomText() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
