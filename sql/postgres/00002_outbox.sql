-- +goose Up
-- The outbox is the tail of events: every event with a seq above the relay's cursor is
-- not yet published on NATS. The relay moves the cursor once the server has acknowledged
-- everything up to it. Seqs are handed out in commit order (one writer on SQLite; a
-- per-schema write lock on PostgreSQL), so nothing can appear below the cursor later.
-- A queue table beside events cost a second B-tree insert for every event (about a tenth
-- of the engine's throughput); the cursor is one row.
CREATE TABLE outbox_cursor (
    name text PRIMARY KEY,
    seq  bigint NOT NULL
);

-- Named leases: one holder at a time (the outbox relay of one node).
CREATE TABLE leases (
    name  text PRIMARY KEY,
    owner text NOT NULL,
    until timestamptz NOT NULL
);

-- Audit log of operator commands.
CREATE TABLE audit (
    id      text PRIMARY KEY,
    time    timestamptz NOT NULL,
    actor   text NOT NULL,
    command text NOT NULL,
    target  text NOT NULL DEFAULT '',
    reason  text NOT NULL DEFAULT '',
    request jsonb,
    result  text NOT NULL,
    error   text NOT NULL DEFAULT ''
);
CREATE INDEX audit_time ON audit (time DESC, id DESC);
CREATE INDEX audit_actor ON audit (actor, time DESC, id DESC);
CREATE INDEX audit_target ON audit (target, time DESC, id DESC);

-- +goose Down
DROP TABLE audit;
DROP TABLE leases;
DROP TABLE outbox_cursor;
