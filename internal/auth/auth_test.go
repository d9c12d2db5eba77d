package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func newService(t *testing.T) (*auth.Service, *clock.Fake) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "auth.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fc := clock.NewFake(t0)
	s, err := auth.New(auth.Options{Store: st, Clock: fc, Idle: 30 * time.Minute, MaxAge: 8 * time.Hour,
		Limits: auth.Limits{AccountFailures: 3, AddressFailures: 5, Window: 10 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	return s, fc
}

// TestPasswords: argon2id hashes verify their password only, differ for the same one
// (salt), and a tampered or foreign hash verifies nothing.
func TestPasswords(t *testing.T) {
	h1, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := auth.HashPassword("correct horse battery")
	if !strings.HasPrefix(h1, "$argon2id$v=19$m=19456,t=2,p=1$") || h1 == h2 {
		t.Fatalf("hashes %q %q", h1, h2)
	}
	if !auth.VerifyPassword(h1, "correct horse battery") || auth.VerifyPassword(h1, "correct horse batterY") {
		t.Error("verification is wrong")
	}
	for _, bad := range []string{"", "plain", "$2a$10$abcdefghijklmnopqrstuv", strings.Replace(h1, "m=19456", "m=99999999", 1),
		strings.Replace(h1, "argon2id", "argon2i", 1), h1[:len(h1)-4]} {
		if auth.VerifyPassword(bad, "correct horse battery") {
			t.Errorf("hash %q verified", bad)
		}
	}
	if err := auth.CheckPassword("short"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a short password: %v", err)
	}
	if _, err := auth.HashPassword(strings.Repeat("x", auth.MaxPasswordBytes+1)); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a long password: %v", err)
	}
}

// TestSessions: a sign-in opens a session that names the user and role; it ends when
// idle for too long, at its absolute end, at sign-out, or when its user is disabled;
// wrong passwords and unknown names are the same refusal.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	s, fc := newService(t)
	if _, err := s.CreateUser(ctx, "ann", "a long enough secret", auth.Operator); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ann", "another long secret", auth.Viewer); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a second ann: %v", err)
	}
	if _, err := s.CreateUser(ctx, "bad name!", "a long enough secret", auth.Viewer); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a bad name: %v", err)
	}
	for _, c := range [][2]string{{"ann", "wrong password!!"}, {"nobody", "a long enough secret"}} {
		if _, _, err := s.SignIn(ctx, c[0], c[1], "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("sign-in %s: %v", c[0], err)
		}
	}
	secret, id, err := s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.2")
	if err != nil || id.Name != "ann" || id.Role != auth.Operator || len(secret) < 40 {
		t.Fatalf("sign-in: %+v %v", id, err)
	}
	got, err := s.Session(ctx, secret)
	if err != nil || got.Name != "ann" || got.Role != auth.Operator {
		t.Fatalf("session: %+v %v", got, err)
	}
	if _, err := s.Session(ctx, secret+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a wrong secret: %v", err)
	}
	// Used every 20 minutes, it lives until its absolute end.
	for i := 0; i < 23; i++ {
		fc.Advance(20 * time.Minute)
		if _, err := s.Session(ctx, secret); err != nil {
			t.Fatalf("after %v: %v", time.Duration(i+1)*20*time.Minute, err)
		}
	}
	fc.Advance(20 * time.Minute) // 8 h since sign-in
	if _, err := s.Session(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("past the absolute end: %v", err)
	}
	// Idle for 30 minutes: gone.
	secret, _, _ = s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.2")
	fc.Advance(30 * time.Minute)
	if _, err := s.Session(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("idle: %v", err)
	}
	// Disabled: the session ends, and so does signing in.
	secret, id, _ = s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.2")
	if err := s.Disable(ctx, id.UserID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("disabled: %v", err)
	}
	if _, _, err := s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.2"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Errorf("a disabled user signs in: %v", err)
	}
	if err := s.Disable(ctx, id.UserID, false); err != nil {
		t.Fatal(err)
	}
	// Sign-out.
	secret, _, _ = s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.2")
	if err := s.SignOut(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("after sign-out: %v", err)
	}
}

// TestSignInLimits: after the account's failures within the window its sign-ins are
// refused, even with the right password, until the window has passed; an address that
// guesses many accounts is limited too.
func TestSignInLimits(t *testing.T) {
	ctx := context.Background()
	s, fc := newService(t)
	if _, err := s.CreateUser(ctx, "ann", "a long enough secret", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := s.SignIn(ctx, "ann", "wrong password!!", "10.0.0.1"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.9"); !errors.Is(err, auth.ErrRateLimited) {
		t.Fatalf("the fourth attempt: %v", err)
	}
	fc.Advance(10 * time.Minute)
	if _, _, err := s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	for i := 0; i < 5; i++ {
		_, _, _ = s.SignIn(ctx, "guess"+string(rune('a'+i)), "wrong password!!", "10.0.0.66")
	}
	if _, _, err := s.SignIn(ctx, "ann", "a long enough secret", "10.0.0.66"); !errors.Is(err, auth.ErrRateLimited) {
		t.Errorf("a guessing address: %v", err)
	}
}

// TestTokens: a token is shown once (only its hash is stored), names its user with at
// most the user's role, and stops working when revoked, expired or its user disabled.
func TestTokens(t *testing.T) {
	ctx := context.Background()
	s, fc := newService(t)
	u, err := s.CreateUser(ctx, "bot", "", auth.Operator)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.IssueToken(ctx, u.ID, "ci", auth.Admin, nil, nil); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a token above its user's role: %v", err)
	}
	exp := t0.Add(time.Hour)
	secret, tok, err := s.IssueToken(ctx, u.ID, "ci", auth.Viewer, &exp, nil)
	if err != nil || !strings.HasPrefix(secret, auth.TokenPrefix) || strings.Contains(tok.Hash, strings.TrimPrefix(secret, auth.TokenPrefix)) {
		t.Fatalf("issue: %q %+v %v", secret, tok, err)
	}
	id, err := s.Token(ctx, secret)
	if err != nil || id.Name != "bot" || id.Role != auth.Viewer || id.Via != "token" {
		t.Fatalf("token: %+v %v", id, err)
	}
	for _, bad := range []string{"", "ck_", "ck_nope", strings.TrimPrefix(secret, auth.TokenPrefix)} {
		if _, err := s.Token(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	fc.Advance(time.Hour)
	if _, err := s.Token(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("expired: %v", err)
	}
	if _, _, err := s.IssueToken(ctx, u.ID, "bad", auth.Operator, nil, []string{"a,b"}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("a job type with a comma: %v", err)
	}
	wsecret, _, err := s.IssueToken(ctx, u.ID, "worker", auth.Operator, nil, []string{"ship", "pack"})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.Token(ctx, wsecret); err != nil || len(id.JobTypes) != 2 || id.JobTypes[0] != "ship" || id.JobTypes[1] != "pack" {
		t.Errorf("a worker's token: %+v %v", id, err)
	}
	secret, tok, _ = s.IssueToken(ctx, u.ID, "ci2", auth.Operator, nil, nil)
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked: %v", err)
	}
}

// TestBootstrap: the first start makes an admin with the given password, or a random
// one it returns; later starts do nothing.
func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	pw, err := s.Bootstrap(ctx, "")
	if err != nil || len(pw) < 20 {
		t.Fatalf("bootstrap: %q %v", pw, err)
	}
	if _, id, err := s.SignIn(ctx, "admin", pw, "127.0.0.1"); err != nil || id.Role != auth.Admin {
		t.Fatalf("the first admin: %+v %v", id, err)
	}
	if again, err := s.Bootstrap(ctx, ""); err != nil || again != "" {
		t.Errorf("a second bootstrap: %q %v", again, err)
	}
	s2, _ := newService(t)
	if pw, err := s2.Bootstrap(ctx, "set from the environment"); err != nil || pw != "" {
		t.Fatalf("bootstrap with a password: %q %v", pw, err)
	}
	if _, _, err := s2.SignIn(ctx, "admin", "set from the environment", "127.0.0.1"); err != nil {
		t.Errorf("the admin of the environment's password: %v", err)
	}
}
