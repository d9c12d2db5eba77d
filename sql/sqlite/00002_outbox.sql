-- +goose Up
-- The outbox: the seq of every event not yet published on NATS. Apply queues events in the
-- same transaction that writes them; the relay deletes them once the server acknowledged
-- the publish. The event itself stays in events (history).
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY
);

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
DROP TABLE outbox;
