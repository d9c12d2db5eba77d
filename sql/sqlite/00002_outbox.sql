-- +goose Up
-- The outbox is the tail of events: every event with a seq above the relay's cursor is
-- not yet published on NATS. The relay moves the cursor once the server has acknowledged
-- everything up to it. Seqs are handed out in commit order (one writer on SQLite; a
-- per-schema write lock on PostgreSQL), so nothing can appear below the cursor later.
-- A queue table beside events cost a second B-tree insert for every event (about a tenth
-- of the engine's throughput); the cursor is one row.
CREATE TABLE outbox_cursor (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Named leases: one holder at a time (the outbox relay of one node).
CREATE TABLE leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
) WITHOUT ROWID;

-- Audit log of operator commands.
CREATE TABLE audit (
    id      TEXT PRIMARY KEY,
    time    INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    command TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    reason  TEXT NOT NULL DEFAULT '',
    request TEXT,
    result  TEXT NOT NULL,
    error   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX audit_time ON audit (time DESC, id DESC);
CREATE INDEX audit_actor ON audit (actor, time DESC, id DESC);
CREATE INDEX audit_target ON audit (target, time DESC, id DESC);

-- +goose Down
DROP TABLE audit;
DROP TABLE leases;
DROP TABLE outbox_cursor;
