// Package authtest is a fake OpenID Connect provider for tests of the sign-in through
// one: discovery, keys, and a token endpoint that answers GoodCode with an ID token of
// the claims Authorize set, checking PKCE.
package authtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cockpit-engine/cockpit/internal/auth"
)

// GoodCode is the authorization code the token endpoint takes.
const GoodCode = "good-code"

// Provider is a fake OpenID Connect provider: discovery, keys, and a token endpoint
// that answers a code with an ID token of the claims the test set, checking PKCE.
type Provider struct {
	t   *testing.T
	Srv *httptest.Server
	key *rsa.PrivateKey

	mu        sync.Mutex
	challenge string         // of the last authorization request
	claims    map[string]any // of the next ID token
}

func NewProvider(t *testing.T) *Provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{t: t, key: key}
	mux := http.NewServeMux()
	p.Srv = httptest.NewServer(mux)
	t.Cleanup(p.Srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.Srv.URL, "authorization_endpoint": p.Srv.URL + "/auth",
			"token_endpoint": p.Srv.URL + "/token", "jwks_uri": p.Srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		p.mu.Lock()
		claims, challenge := p.claims, p.challenge
		p.mu.Unlock()
		if r.PostForm.Get("code") != GoodCode || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
			return
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Error(err)
			return
		}
		raw, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": raw})
	})
	return p
}

// Authorize records the challenge of a sign-in's URL and returns its state and nonce's
// claims to be.
func (p *Provider) Authorize(t *testing.T, start *auth.OIDCStart, extra map[string]any) {
	u, err := url.Parse(start.URL)
	if err != nil || !strings.HasPrefix(start.URL, p.Srv.URL+"/auth") {
		t.Fatalf("authorization URL %q", start.URL)
	}
	q := u.Query()
	if q.Get("state") != start.State || q.Get("nonce") != start.Nonce || q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "cockpit" {
		t.Fatalf("authorization query %v", q)
	}
	now := time.Now()
	claims := map[string]any{"iss": p.Srv.URL, "aud": "cockpit", "sub": "u-1", "nonce": start.Nonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	p.mu.Lock()
	p.challenge, p.claims = q.Get("code_challenge"), claims
	p.mu.Unlock()
}
