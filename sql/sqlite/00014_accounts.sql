-- Accounts: the people who sign in to the cockpit, their browser sessions and their API
-- tokens (see store.Accounts; internal/auth is their only user).
--
-- The store never holds a secret: password_hash is a PHC string (argon2id), a session's
-- id and a token's hash are the SHA-256 (hex) of the secret the client keeps. A row read
-- by someone else signs no one in.
--
-- Sessions and tokens are listed per user, newest first (sessions_user, api_tokens_user).
-- DeleteExpiredSessions reads every session (no index on the expiry): it is the periodic
-- cleanup that keeps the table to the live sessions.

-- +goose Up
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER
) WITHOUT ROWID;
CREATE UNIQUE INDEX users_name ON users (name);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    address    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC, id DESC);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    role         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    job_types    TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
