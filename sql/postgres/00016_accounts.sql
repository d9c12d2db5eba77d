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
    id            text PRIMARY KEY,
    name          text NOT NULL,
    password_hash text NOT NULL DEFAULT '',
    role          text NOT NULL,
    created_at    timestamptz NOT NULL,
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX users_name ON users (name);

CREATE TABLE sessions (
    id         text PRIMARY KEY,
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    address    text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC, id DESC);

CREATE TABLE api_tokens (
    id           text PRIMARY KEY,
    user_id      text NOT NULL,
    name         text NOT NULL,
    hash         text NOT NULL,
    role         text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    job_types    text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX api_tokens_hash ON api_tokens (hash);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
