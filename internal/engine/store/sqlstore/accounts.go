package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Accounts (see store.Accounts): users, sessions and API tokens. The store keeps hashes
// only; internal/auth hashes every secret before it gets here, and validates names and
// roles.

const (
	UserCols     = `id, name, password_hash, role, created_at, disabled_at`
	SessionCols  = `id, user_id, created_at, last_seen, expires_at, address`
	APITokenCols = `id, user_id, name, hash, role, created_at, expires_at, last_used_at, revoked_at, job_types`
)

var (
	insertUser    = write(`INSERT INTO users (` + UserCols + `) VALUES (?, ?, ?, ?, ?, ?)`)
	getUser       = read(`SELECT ` + UserCols + ` FROM users WHERE id = ?`)
	getUserByName = read(`SELECT ` + UserCols + ` FROM users WHERE name = ?`)
	listUsers     = read(`SELECT ` + UserCols + ` FROM users ORDER BY name LIMIT ` + strconv.Itoa(store.MaxUsers))
	countUsers    = read(`SELECT count(*) FROM users`)
	// updateUser leaves the name alone: it is the user's unique key for signing in.
	updateUser = write(`UPDATE users SET role = ?, password_hash = ?, disabled_at = ? WHERE id = ?`)

	insertSession      = write(`INSERT INTO sessions (` + SessionCols + `) VALUES (?, ?, ?, ?, ?, ?)`)
	getSession         = read(`SELECT ` + SessionCols + ` FROM sessions WHERE id = ?`)
	touchSession       = write(`UPDATE sessions SET last_seen = ? WHERE id = ?`)
	deleteSession      = write(`DELETE FROM sessions WHERE id = ?`)
	deleteUserSessions = write(`DELETE FROM sessions WHERE user_id = ?`)
	// deleteExpiredSessions reads the whole table: it is the periodic cleanup that keeps
	// the table to the live sessions.
	deleteExpiredSessions = write(`DELETE FROM sessions WHERE expires_at < ? OR last_seen < ?`)
	listSessions          = read(`SELECT ` + SessionCols + ` FROM sessions WHERE user_id = ?
	ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(store.MaxSessionsListed))

	insertAPIToken    = write(`INSERT INTO api_tokens (` + APITokenCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	getAPITokenByHash = read(`SELECT ` + APITokenCols + ` FROM api_tokens WHERE hash = ?`)
	listUserAPITokens = read(`SELECT ` + APITokenCols + ` FROM api_tokens WHERE user_id = ?
	ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(store.MaxTokensListed))
	listAPITokens = read(`SELECT ` + APITokenCols + ` FROM api_tokens
	ORDER BY created_at DESC, id DESC LIMIT ` + strconv.Itoa(store.MaxTokensListed))
	// revokeAPIToken keeps the first revocation's time; a revoked token still matches (and
	// counts as a row), so revoking twice is not ErrNotFound.
	revokeAPIToken = write(`UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?`)
	touchAPIToken  = write(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`)
)

// InsertUser adds a user; a taken name (or id) is ErrDuplicate.
func (q *Queries) InsertUser(ctx context.Context, u *store.User) error {
	_, err := q.exec(ctx, fmt.Sprintf("insert user %q", u.Name), q.static(insertUser, u.ID, u.Name, u.PasswordHash,
		u.Role, q.D.Time(u.CreatedAt), q.D.NullTime(u.DisabledAt)))
	return err
}

// GetUser reads a user by id.
func (q *Queries) GetUser(ctx context.Context, id string) (*store.User, error) {
	return One(ctx, q.C, "get user", fmt.Sprintf("user %q", id), q.static(getUser, id), q.D.ScanUser)
}

// GetUserByName reads a user by name.
func (q *Queries) GetUserByName(ctx context.Context, name string) (*store.User, error) {
	return One(ctx, q.C, "get user by name", fmt.Sprintf("user named %q", name), q.static(getUserByName, name), q.D.ScanUser)
}

// ListUsers lists users by name, at most store.MaxUsers.
func (q *Queries) ListUsers(ctx context.Context) ([]*store.User, error) {
	return All(ctx, q.C, "list users", q.static(listUsers), q.D.ScanUser)
}

// CountUsers counts every user.
func (q *Queries) CountUsers(ctx context.Context) (int, error) {
	var n int64
	if err := q.row(ctx, "count users", q.static(countUsers), &n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// UpdateUser writes a user's role, password hash and DisabledAt.
func (q *Queries) UpdateUser(ctx context.Context, u *store.User) error {
	return q.execOne(ctx, fmt.Sprintf("update user %q", u.ID), q.static(updateUser, u.Role, u.PasswordHash,
		q.D.NullTime(u.DisabledAt), u.ID))
}

// InsertSession adds a session.
func (q *Queries) InsertSession(ctx context.Context, s *store.Session) error {
	_, err := q.exec(ctx, fmt.Sprintf("insert session of user %q", s.UserID), q.static(insertSession, s.ID, s.UserID,
		q.D.Time(s.CreatedAt), q.D.Time(s.LastSeen), q.D.Time(s.ExpiresAt), s.Address))
	return err
}

// GetSession reads a session. Its id (a hash) stays out of the error's text.
func (q *Queries) GetSession(ctx context.Context, id string) (*store.Session, error) {
	return One(ctx, q.C, "get session", "session", q.static(getSession, id), q.D.ScanSession)
}

// TouchSession sets a session's LastSeen.
func (q *Queries) TouchSession(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, "touch session", q.static(touchSession, q.D.Time(at), id))
}

// DeleteSession removes a session; one that is not there is no error.
func (q *Queries) DeleteSession(ctx context.Context, id string) error {
	_, err := q.exec(ctx, "delete session", q.static(deleteSession, id))
	return err
}

// DeleteUserSessions removes every session of a user.
func (q *Queries) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := q.exec(ctx, fmt.Sprintf("delete sessions of user %q", userID), q.static(deleteUserSessions, userID))
	return err
}

// DeleteExpiredSessions removes the sessions past their absolute end or idle too long.
func (q *Queries) DeleteExpiredSessions(ctx context.Context, now, idleBefore time.Time) (int, error) {
	n, err := q.exec(ctx, "delete expired sessions", q.static(deleteExpiredSessions, q.D.Time(now), q.D.Time(idleBefore)))
	return int(n), err
}

// ListSessions lists a user's sessions, newest first.
func (q *Queries) ListSessions(ctx context.Context, userID string) ([]*store.Session, error) {
	return All(ctx, q.C, fmt.Sprintf("list sessions of user %q", userID), q.static(listSessions, userID), q.D.ScanSession)
}

// InsertAPIToken adds a token; a hash (or id) that exists is ErrDuplicate.
func (q *Queries) InsertAPIToken(ctx context.Context, t *store.APIToken) error {
	_, err := q.exec(ctx, fmt.Sprintf("insert API token %q of user %q", t.Name, t.UserID), q.static(insertAPIToken,
		t.ID, t.UserID, t.Name, t.Hash, t.Role, q.D.Time(t.CreatedAt), q.D.NullTime(t.ExpiresAt),
		q.D.NullTime(t.LastUsedAt), q.D.NullTime(t.RevokedAt), strings.Join(t.JobTypes, ",")))
	return err
}

// GetAPITokenByHash reads a token, revoked or not. The hash stays out of the error's text.
func (q *Queries) GetAPITokenByHash(ctx context.Context, hash string) (*store.APIToken, error) {
	return One(ctx, q.C, "get API token", "API token", q.static(getAPITokenByHash, hash), q.D.ScanAPIToken)
}

// ListAPITokens lists a user's tokens ("": everyone's), newest first.
func (q *Queries) ListAPITokens(ctx context.Context, userID string) ([]*store.APIToken, error) {
	if userID == "" {
		return All(ctx, q.C, "list API tokens", q.static(listAPITokens), q.D.ScanAPIToken)
	}
	return All(ctx, q.C, fmt.Sprintf("list API tokens of user %q", userID), q.static(listUserAPITokens, userID),
		q.D.ScanAPIToken)
}

// RevokeAPIToken sets a token's RevokedAt, once.
func (q *Queries) RevokeAPIToken(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, fmt.Sprintf("revoke API token %q", id), q.static(revokeAPIToken, q.D.Time(at), id))
}

// TouchAPIToken sets a token's LastUsedAt.
func (q *Queries) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return q.execOne(ctx, fmt.Sprintf("touch API token %q", id), q.static(touchAPIToken, q.D.Time(at), id))
}

// ScanUser reads a UserCols row.
func (d *Dialect) ScanUser(s Scanner) (*store.User, error) {
	var u store.User
	if err := s.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Role, d.timeDest(&u.CreatedAt),
		d.nullTimeDest(&u.DisabledAt)); err != nil {
		return nil, err
	}
	u.CreatedAt, u.DisabledAt = utc(u.CreatedAt), utcPtr(u.DisabledAt)
	return &u, nil
}

// ScanSession reads a SessionCols row.
func (d *Dialect) ScanSession(s Scanner) (*store.Session, error) {
	var x store.Session
	if err := s.Scan(&x.ID, &x.UserID, d.timeDest(&x.CreatedAt), d.timeDest(&x.LastSeen), d.timeDest(&x.ExpiresAt),
		&x.Address); err != nil {
		return nil, err
	}
	x.CreatedAt, x.LastSeen, x.ExpiresAt = utc(x.CreatedAt), utc(x.LastSeen), utc(x.ExpiresAt)
	return &x, nil
}

// ScanAPIToken reads an APITokenCols row.
func (d *Dialect) ScanAPIToken(s Scanner) (*store.APIToken, error) {
	var t store.APIToken
	var types string
	if err := s.Scan(&t.ID, &t.UserID, &t.Name, &t.Hash, &t.Role, d.timeDest(&t.CreatedAt), d.nullTimeDest(&t.ExpiresAt),
		d.nullTimeDest(&t.LastUsedAt), d.nullTimeDest(&t.RevokedAt), &types); err != nil {
		return nil, err
	}
	if types != "" {
		t.JobTypes = strings.Split(types, ",")
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = utcPtr(t.ExpiresAt), utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt)
	return &t, nil
}
