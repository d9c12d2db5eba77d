// Package auth is who may do what in the cockpit (issue "Who may do what"): local users
// with argon2id password hashes, browser sessions with idle and absolute expiry, API
// tokens for scripts, sign-in rate limiting, and the four roles with what each may do.
// The store (store.Accounts) holds hashes only: a session's or token's secret is shown
// once, to its holder, and only its SHA-256 is kept.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Role is what a user may do; each role may do what the ones below it may.
type Role int

// The roles, least to most.
const (
	Viewer Role = iota + 1
	Analyst
	Operator
	Admin
)

// Permission is one kind of access a route or command needs.
type Permission int

// The permissions and the least role that has each.
const (
	// Read: every page and the JSON API's reads (viewer).
	Read Permission = iota + 1
	// Analyze: analytics and exports (analyst).
	Analyze
	// Act: actions on instances, incidents, tasks, operations (operator).
	Act
	// Administer: deploy, stall thresholds, users, tokens (admin).
	Administer
)

// Can reports whether r has p.
func (r Role) Can(p Permission) bool { return int(r) >= int(p) }

// Role is the least role that has p.
func (p Permission) Role() Role { return Role(p) }

// String names the permission: read, analyze, act, administer.
func (p Permission) String() string {
	switch p {
	case Read:
		return "read"
	case Analyze:
		return "analyze"
	case Act:
		return "act"
	case Administer:
		return "administer"
	}
	return fmt.Sprintf("permission(%d)", int(p))
}

// String is the role's name as stored.
func (r Role) String() string {
	switch r {
	case Viewer:
		return store.RoleViewer
	case Analyst:
		return store.RoleAnalyst
	case Operator:
		return store.RoleOperator
	case Admin:
		return store.RoleAdmin
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Roles lists the roles, least first.
var Roles = []Role{Viewer, Analyst, Operator, Admin}

// ParseRole reads a role's name; an unknown one is ErrInvalid.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("role %q: use viewer, analyst, operator or admin: %w", s, ErrInvalid)
}

// valid reports whether r is one of Roles.
func (r Role) valid() bool { return r >= Viewer && r <= Admin }

// Errors.
var (
	// ErrBadCredentials: a sign-in whose name or password is wrong (which one is not
	// said), or whose user is disabled.
	ErrBadCredentials = errors.New("the name or the password is wrong")
	// ErrRateLimited: too many sign-in attempts for the account or from the address.
	ErrRateLimited = errors.New("too many sign-in attempts")
	// ErrUnauthenticated: no valid session or token (expired, revoked, unknown).
	ErrUnauthenticated = errors.New("not signed in")
	// ErrInvalid: a name, password or role that is not acceptable; the error says why.
	ErrInvalid = errors.New("invalid")
)

// Bounds.
const (
	// MinPasswordLen and MaxPasswordBytes bound a password.
	MinPasswordLen   = 12
	MaxPasswordBytes = 1024
	// DefaultIdle and DefaultMaxAge are a session's idle and absolute expiry.
	DefaultIdle   = 30 * time.Minute
	DefaultMaxAge = 12 * time.Hour
	// touchEvery: a session's or token's last use is written at most this often.
	touchEvery = time.Minute
	// secretBytes is the entropy of a session or token secret.
	secretBytes = 32
	// TokenPrefix starts every API token, so that leaked ones are easy to find.
	TokenPrefix = "ck_"
)

// Identity is who a request comes from.
type Identity struct {
	UserID string
	Name   string
	Role   Role
	// Via says how: "session", "token" or "local" (an unauthenticated cockpit's
	// operator, Options.Local).
	Via string
	// SessionID is the session's id (its secret's hash), for sign-out.
	SessionID string
	// JobTypes are the job types a worker with the token may take (none: any).
	JobTypes []string
}

// Options configure a Service.
type Options struct {
	Store store.Store
	Clock clock.Clock // default clock.Real
	// Idle and MaxAge are a session's idle and absolute expiry (defaults DefaultIdle,
	// DefaultMaxAge).
	Idle, MaxAge time.Duration
	// Limits bound sign-in attempts (default DefaultLimits).
	Limits Limits
	Logger *slog.Logger
}

// Service signs people in and tells who a request comes from.
type Service struct {
	o       Options
	limiter *limiter
}

// New checks the options.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("auth: a store is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Idle <= 0 {
		o.Idle = DefaultIdle
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Idle > o.MaxAge {
		return nil, fmt.Errorf("auth: the idle expiry (%s) is longer than the absolute one (%s)", o.Idle, o.MaxAge)
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Service{o: o, limiter: newLimiter(o.Limits)}, nil
}

// MaxAge is a session's absolute expiry (the cookie's Max-Age).
func (s *Service) MaxAge() time.Duration { return s.o.MaxAge }

// CheckName checks a user name: 1 to 64 bytes of letters, digits, '.', '-', '_', '@'.
func CheckName(name string) error {
	if name == "" || len(name) > store.MaxUserNameBytes {
		return fmt.Errorf("a user name is 1 to %d bytes: %w", store.MaxUserNameBytes, ErrInvalid)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_@", c)
		if !ok {
			return fmt.Errorf("user name %q: use letters, digits, '.', '-', '_' and '@': %w", name, ErrInvalid)
		}
	}
	return nil
}

// CheckPassword checks a new password's length.
func CheckPassword(pw string) error {
	switch {
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("a password is at most %d bytes: %w", MaxPasswordBytes, ErrInvalid)
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("a password has at least %d characters: %w", MinPasswordLen, ErrInvalid)
	}
	return nil
}

// CreateUser adds a user with a password ("" for none: the user signs in otherwise).
func (s *Service) CreateUser(ctx context.Context, name, password string, role Role) (*store.User, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if !role.valid() {
		return nil, fmt.Errorf("%s: use viewer, analyst, operator or admin: %w", role, ErrInvalid)
	}
	u := &store.User{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Role: role.String(), CreatedAt: s.o.Clock.Now()}
	if password != "" {
		if err := CheckPassword(password); err != nil {
			return nil, err
		}
		h, err := HashPassword(password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
	}
	err := s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.InsertUser(ctx, u) })
	if errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("user %q exists: %w", name, ErrInvalid)
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Bootstrap makes the first admin when there is no user: named "admin", with password
// (COCKPIT_ADMIN_PASSWORD), or else a one-time random password it returns for the
// caller to print. With users already, it does nothing and returns "".
func (s *Service) Bootstrap(ctx context.Context, password string) (generated string, err error) {
	var n int
	if err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		n, err = tx.CountUsers(ctx)
		return err
	}); err != nil {
		return "", err
	}
	if n > 0 {
		return "", nil
	}
	if password == "" {
		b := make([]byte, 18)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
		generated = password
	}
	if _, err := s.CreateUser(ctx, "admin", password, Admin); err != nil {
		return "", fmt.Errorf("the first admin: %w", err)
	}
	return generated, nil
}

// Disable disables a user (no sign-in, no token; its sessions end) or enables it again.
func (s *Service) Disable(ctx context.Context, userID string, disabled bool) error {
	now := s.o.Clock.Now()
	return s.o.Store.Write(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		u.DisabledAt = nil
		if disabled {
			u.DisabledAt = &now
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if disabled {
			return tx.DeleteUserSessions(ctx, userID)
		}
		return nil
	})
}

// SignIn checks a name and password and opens a session: it returns the cookie's
// secret. Attempts are limited per account and per address (ErrRateLimited).
func (s *Service) SignIn(ctx context.Context, name, password, address string) (string, *Identity, error) {
	now := s.o.Clock.Now()
	if wait := s.limiter.allow(name, address, now); wait > 0 {
		return "", nil, fmt.Errorf("%w: try again in %s", ErrRateLimited, wait.Round(time.Second))
	}
	var u *store.User
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.GetUserByName(ctx, name)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", nil, err
	}
	if u == nil || u.DisabledAt != nil || u.PasswordHash == "" || len(password) > MaxPasswordBytes || !VerifyPassword(u.PasswordHash, password) {
		if u == nil {
			// The same work as a wrong password: the time does not tell names apart.
			VerifyPassword(dummyHash, password)
		}
		s.limiter.fail(name, address, now)
		return "", nil, ErrBadCredentials
	}
	s.limiter.succeed(name)
	return s.openSession(ctx, u, address)
}

// openSession opens a session for a user who signed in, dropping the expired ones.
func (s *Service) openSession(ctx context.Context, u *store.User, address string) (string, *Identity, error) {
	now := s.o.Clock.Now()
	secret, hash, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	sess := &store.Session{ID: hash, UserID: u.ID, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(s.o.MaxAge), Address: address}
	if err := s.o.Store.Write(ctx, func(tx store.Tx) error {
		if _, err := tx.DeleteExpiredSessions(ctx, now, now.Add(-s.o.Idle)); err != nil {
			return err
		}
		return tx.InsertSession(ctx, sess)
	}); err != nil {
		return "", nil, err
	}
	role, err := ParseRole(u.Role)
	if err != nil {
		return "", nil, err
	}
	return secret, &Identity{UserID: u.ID, Name: u.Name, Role: role, Via: "session", SessionID: hash}, nil
}

// Session tells whose session a cookie's secret is; ErrUnauthenticated when it is
// unknown, expired (idle or absolute), or its user is disabled.
func (s *Service) Session(ctx context.Context, secret string) (*Identity, error) {
	if secret == "" || len(secret) > 128 {
		return nil, ErrUnauthenticated
	}
	now := s.o.Clock.Now()
	id := hashSecret(secret)
	var sess *store.Session
	var u *store.User
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if sess, err = tx.GetSession(ctx, id); err != nil {
			return err
		}
		u, err = tx.GetUser(ctx, sess.UserID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= s.o.Idle || u.DisabledAt != nil {
		_ = s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, id) })
		return nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.TouchSession(ctx, id, now) }); err != nil {
			s.o.Logger.Warn("auth: note a session's use", "err", err)
		}
	}
	role, err := ParseRole(u.Role)
	if err != nil {
		return nil, err
	}
	return &Identity{UserID: u.ID, Name: u.Name, Role: role, Via: "session", SessionID: id}, nil
}

// SignOut ends the session of a cookie's secret.
func (s *Service) SignOut(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	return s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.DeleteSession(ctx, hashSecret(secret)) })
}

// Job type bounds of a token.
const (
	MaxTokenJobTypes = 64
	MaxJobTypeBytes  = 128
)

// IssueToken makes an API token for a user, with a role at most the user's, an
// optional expiry and, for a job worker, the job types it may take (none: any); it
// returns the secret (shown once) and the stored row.
func (s *Service) IssueToken(ctx context.Context, userID, name string, role Role, expires *time.Time, jobTypes []string) (string, *store.APIToken, error) {
	if err := CheckName(name); err != nil {
		return "", nil, fmt.Errorf("token name: %w", err)
	}
	if len(jobTypes) > MaxTokenJobTypes {
		return "", nil, fmt.Errorf("a token names at most %d job types: %w", MaxTokenJobTypes, ErrInvalid)
	}
	for _, t := range jobTypes {
		if t == "" || len(t) > MaxJobTypeBytes || strings.ContainsAny(t, ", \t\n") {
			return "", nil, fmt.Errorf("job type %q: 1 to %d bytes, no comma or space: %w", t, MaxJobTypeBytes, ErrInvalid)
		}
	}
	now := s.o.Clock.Now()
	if expires != nil && !expires.After(now) {
		return "", nil, fmt.Errorf("the token would have expired already: %w", ErrInvalid)
	}
	secret, hash, err := newSecret()
	if err != nil {
		return "", nil, err
	}
	t := &store.APIToken{ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, Name: name, Hash: hash, Role: role.String(),
		CreatedAt: now, ExpiresAt: expires, JobTypes: jobTypes}
	err = s.o.Store.Write(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		ur, err := ParseRole(u.Role)
		if err != nil {
			return err
		}
		if role > ur || role < Viewer {
			return fmt.Errorf("a token of %s may have at most the role %s: %w", u.Name, ur, ErrInvalid)
		}
		return tx.InsertAPIToken(ctx, t)
	})
	if err != nil {
		return "", nil, err
	}
	return TokenPrefix + secret, t, nil
}

// Token tells whose an API token is; ErrUnauthenticated when it is unknown, revoked,
// expired, or its user is disabled. The role is the token's, at most its user's now.
func (s *Service) Token(ctx context.Context, secret string) (*Identity, error) {
	raw, ok := strings.CutPrefix(secret, TokenPrefix)
	if !ok || raw == "" || len(raw) > 128 {
		return nil, ErrUnauthenticated
	}
	now := s.o.Clock.Now()
	var t *store.APIToken
	var u *store.User
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if t, err = tx.GetAPITokenByHash(ctx, hashSecret(raw)); err != nil {
			return err
		}
		u, err = tx.GetUser(ctx, t.UserID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	if t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) || u.DisabledAt != nil {
		return nil, ErrUnauthenticated
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
		if err := s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.TouchAPIToken(ctx, t.ID, now) }); err != nil {
			s.o.Logger.Warn("auth: note a token's use", "err", err)
		}
	}
	role, err := ParseRole(t.Role)
	if err != nil {
		return nil, err
	}
	if ur, err := ParseRole(u.Role); err == nil && ur < role {
		role = ur // the user was demoted since
	}
	return &Identity{UserID: u.ID, Name: u.Name, Role: role, Via: "token", JobTypes: t.JobTypes}, nil
}

// RevokeToken revokes a token for good.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	return s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.RevokeAPIToken(ctx, id, s.o.Clock.Now()) })
}

// newSecret makes a random secret and its hash.
func newSecret() (secret, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, hashSecret(secret), nil
}

// hashSecret is what the store keeps of a secret: its SHA-256, hex. The secrets are
// random and long, so no slow hash is needed.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext is the identity ctx carries (nil: none).
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// Users lists the users by name.
func (s *Service) Users(ctx context.Context) ([]*store.User, error) {
	var out []*store.User
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ListUsers(ctx)
		return err
	})
	return out, err
}

// User is one user with its tokens and sessions, newest first.
func (s *Service) User(ctx context.Context, id string) (*store.User, []*store.APIToken, []*store.Session, error) {
	var u *store.User
	var toks []*store.APIToken
	var sess []*store.Session
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		if u, err = tx.GetUser(ctx, id); err != nil {
			return err
		}
		if toks, err = tx.ListAPITokens(ctx, id); err != nil {
			return err
		}
		sess, err = tx.ListSessions(ctx, id)
		return err
	})
	return u, toks, sess, err
}

// SetRole changes a user's role (its tokens keep theirs, capped by the user's when used).
func (s *Service) SetRole(ctx context.Context, userID string, role Role) error {
	if !role.valid() {
		return fmt.Errorf("%s: use viewer, analyst, operator or admin: %w", role, ErrInvalid)
	}
	return s.o.Store.Write(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		u.Role = role.String()
		return tx.UpdateUser(ctx, u)
	})
}

// SetPassword sets a user's password; the user's sessions end.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.o.Store.Write(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		u.PasswordHash = h
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return tx.DeleteUserSessions(ctx, userID)
	})
}

// EndSessions signs a user out everywhere.
func (s *Service) EndSessions(ctx context.Context, userID string) error {
	return s.o.Store.Write(ctx, func(tx store.Tx) error { return tx.DeleteUserSessions(ctx, userID) })
}

// Node keys: the NKey public keys with which the cockpit nodes sharing this store sign
// the commands of their web UIs (internal/command's signed commands). They are kept as
// API token rows of the user NodesUser (hash "nkey:<public key>", never a token's hash),
// so that every node's command service trusts every other's, and an admin can see and
// revoke them on the users page.

// NodesUser owns the node keys.
const NodesUser = "cockpit-nodes"

// RegisterNodeKey records a node's public key; it returns the row's id (RevokeToken
// ends the trust).
func (s *Service) RegisterNodeKey(ctx context.Context, publicKey, node string) (string, error) {
	now := s.o.Clock.Now()
	name := "node"
	if CheckName(node) == nil {
		name = node
	}
	t := &store.APIToken{ID: uuid.Must(uuid.NewV7()).String(), Name: name, Hash: "nkey:" + publicKey, Role: Admin.String(), CreatedAt: now}
	err := s.o.Store.Write(ctx, func(tx store.Tx) error {
		u, err := tx.GetUserByName(ctx, NodesUser)
		if errors.Is(err, store.ErrNotFound) {
			u = &store.User{ID: uuid.Must(uuid.NewV7()).String(), Name: NodesUser, Role: Admin.String(), CreatedAt: now}
			err = tx.InsertUser(ctx, u)
		}
		if err != nil {
			return err
		}
		t.UserID = u.ID
		if old, err := tx.GetAPITokenByHash(ctx, t.Hash); err == nil {
			t.ID = old.ID // the same key again (a restart with --command-key)
			if old.RevokedAt != nil {
				return fmt.Errorf("node key %s was revoked: make another", publicKey)
			}
			return nil
		}
		return tx.InsertAPIToken(ctx, t)
	})
	return t.ID, err
}

// NodeKeyTrusted reports whether a public key is a node key of this store, not revoked.
func (s *Service) NodeKeyTrusted(ctx context.Context, publicKey string) (bool, error) {
	var t *store.APIToken
	err := s.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		t, err = tx.GetAPITokenByHash(ctx, "nkey:"+publicKey)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return t.RevokedAt == nil, nil
}
