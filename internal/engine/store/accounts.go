package store

import (
	"context"
	"time"
)

// Accounts: the people who sign in to the cockpit, their sessions and their API tokens
// (issue "Who may do what"). internal/auth is their only user; it hashes passwords and
// tokens before they reach the store, which never sees a secret.

// Roles, least to most.
const (
	RoleViewer   = "viewer"
	RoleAnalyst  = "analyst"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Account limits.
const (
	// MaxUserNameBytes bounds a user name (and a token's name).
	MaxUserNameBytes = 64
	// MaxUsers bounds ListUsers; MaxSessionsListed and MaxTokensListed bound the lists
	// of one user's sessions and tokens.
	MaxUsers          = 10_000
	MaxSessionsListed = 1_000
	MaxTokensListed   = 1_000
)

// User is a person who signs in.
type User struct {
	ID   string
	Name string // unique
	// PasswordHash is a PHC string (argon2id); "" for a user who cannot sign in with a
	// password (tokens only, or an OpenID Connect user).
	PasswordHash string
	Role         string
	CreatedAt    time.Time
	// DisabledAt, when set, is when the user was disabled: no sign-in, no token.
	DisabledAt *time.Time
}

// Session is a signed-in browser. ID is the SHA-256 (hex) of the cookie's secret.
type Session struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	// LastSeen is the last request's time (idle expiry); ExpiresAt the absolute end.
	LastSeen  time.Time
	ExpiresAt time.Time
	// Address is the client address that signed in.
	Address string
}

// APIToken is a token for scripts and workers. Hash is the SHA-256 (hex) of the secret.
type APIToken struct {
	ID     string
	UserID string
	Name   string
	Hash   string
	// Role is the token's role: at most its user's.
	Role       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// JobTypes, when set, are the only job types a worker with the token may take (none:
	// any); a job type has no comma.
	JobTypes []string
}

// Accounts are the store operations on users, sessions and tokens (part of Tx).
type Accounts interface {
	// InsertUser adds a user; ErrDuplicate when the name is taken.
	InsertUser(ctx context.Context, u *User) error
	// GetUser and GetUserByName return ErrNotFound when there is none.
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByName(ctx context.Context, name string) (*User, error)
	// ListUsers lists users by name, at most MaxUsers.
	ListUsers(ctx context.Context) ([]*User, error)
	// CountUsers counts every user.
	CountUsers(ctx context.Context) (int, error)
	// UpdateUser writes a user's role, password hash and DisabledAt (the name stays);
	// ErrNotFound when there is none.
	UpdateUser(ctx context.Context, u *User) error

	InsertSession(ctx context.Context, s *Session) error
	// GetSession returns ErrNotFound when there is none.
	GetSession(ctx context.Context, id string) (*Session, error)
	// TouchSession sets LastSeen; ErrNotFound when there is none.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSession removes one session (none: no error); DeleteUserSessions all of a
	// user's; DeleteExpiredSessions those whose ExpiresAt is before the time, or whose
	// LastSeen is before idleBefore, returning how many.
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error)
	// ListSessions lists a user's sessions, newest first, at most MaxSessionsListed.
	ListSessions(ctx context.Context, userID string) ([]*Session, error)

	// InsertAPIToken adds a token; ErrDuplicate when its hash exists.
	InsertAPIToken(ctx context.Context, t *APIToken) error
	// GetAPITokenByHash returns ErrNotFound when there is none (revoked ones included).
	GetAPITokenByHash(ctx context.Context, hash string) (*APIToken, error)
	// ListAPITokens lists a user's tokens ("" : everyone's), newest first, at most
	// MaxTokensListed.
	ListAPITokens(ctx context.Context, userID string) ([]*APIToken, error)
	// RevokeAPIToken sets RevokedAt (once: a revoked token stays revoked at its first
	// time); ErrNotFound when there is none.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) error
	// TouchAPIToken sets LastUsedAt; ErrNotFound when there is none.
	TouchAPIToken(ctx context.Context, id string, at time.Time) error
}
