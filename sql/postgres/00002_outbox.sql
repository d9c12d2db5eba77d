-- +goose Up
-- The outbox: the seq of every event not yet published on NATS. Apply queues events in the
-- same statement that writes them; the relay deletes them once the server acknowledged
-- the publish. The event itself stays in events (history).
CREATE TABLE outbox (
    seq bigint PRIMARY KEY
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
DROP TABLE outbox;
