-- What an instance can still compensate.
--
-- A row is one completion of an activity that a compensation throw could undo: an
-- activity with a compensation handler, or an embedded subprocess inside which such
-- activities completed (inner_scope_id is the id its token had: the scope_id of those
-- rows). A loop that completes an activity twice writes two rows. The engine loads the
-- rows with the instance and deletes them when they are compensated, when their scope is
-- cancelled, and when the instance ends, so the table holds only what running instances
-- could still undo.

-- +goose Up
CREATE TABLE compensations (
    id             text PRIMARY KEY,
    instance_id    text NOT NULL,
    scope_id       text NOT NULL DEFAULT '',
    element_id     text NOT NULL,
    handler_id     text NOT NULL DEFAULT '',
    inner_scope_id text NOT NULL DEFAULT '',
    seq            bigint NOT NULL,
    throw_token_id text NOT NULL DEFAULT '',
    position       integer NOT NULL DEFAULT 0,
    completed_at   timestamptz NOT NULL
);
CREATE INDEX compensations_instance ON compensations (instance_id);

-- +goose Down
DROP TABLE compensations;
