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
    id             TEXT PRIMARY KEY,
    instance_id    TEXT NOT NULL,
    scope_id       TEXT NOT NULL DEFAULT '',
    element_id     TEXT NOT NULL,
    handler_id     TEXT NOT NULL DEFAULT '',
    inner_scope_id TEXT NOT NULL DEFAULT '',
    seq            INTEGER NOT NULL,
    throw_token_id TEXT NOT NULL DEFAULT '',
    position       INTEGER NOT NULL DEFAULT 0,
    completed_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX compensations_instance ON compensations (instance_id);

-- +goose Down
DROP TABLE compensations;
