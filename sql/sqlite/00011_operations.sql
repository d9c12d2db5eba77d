-- Operations: bulk actions an operator confirmed, stored so that any node can carry
-- them on (see store.OperationTx).
--
-- An operation's items are fixed when it is created: what runs is what was confirmed.
-- A node locks pending items with an owner and an expiry (like jobs) and writes each
-- item's outcome once, in the transaction of the item's engine command where the kind
-- allows it; a node that dies leaves its items to the next node after their locks end.
-- The counts of a running operation are counted from its items (no row that every
-- item's transaction would update); they are written into the operation when it ends.
--
-- audit.instance_id names the instance an entry is about, so the instance page lists
-- the entries of bulk items (whose target is an incident) as well as its own.

-- +goose Up
CREATE TABLE operations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    selection     TEXT NOT NULL DEFAULT '',
    params        TEXT,
    state         TEXT NOT NULL,
    total         INTEGER NOT NULL,
    succeeded     INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    skipped       INTEGER NOT NULL DEFAULT 0,
    failing_again INTEGER NOT NULL DEFAULT 0,
    checked_at    INTEGER,
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX operations_created ON operations (created_at DESC, id DESC);
CREATE INDEX operations_running ON operations (created_at, id) WHERE state = 'running';

CREATE TABLE operation_items (
    operation_id   TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    target         TEXT NOT NULL,
    instance_id    TEXT NOT NULL DEFAULT '',
    definition_key TEXT NOT NULL DEFAULT '',
    element_id     TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,
    code           TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    owner          TEXT NOT NULL DEFAULT '',
    locked_until   INTEGER,
    done_at        INTEGER,
    PRIMARY KEY (operation_id, seq)
) WITHOUT ROWID;
CREATE INDEX operation_items_pending ON operation_items (operation_id, seq) WHERE state = 'pending';
CREATE INDEX operation_items_state ON operation_items (operation_id, state, seq);

ALTER TABLE audit ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_instance ON audit (instance_id, time DESC, id DESC) WHERE instance_id <> '';
CREATE INDEX audit_command ON audit (command, time DESC, id DESC);

-- +goose Down
DROP INDEX audit_command;
DROP INDEX audit_instance;
ALTER TABLE audit DROP COLUMN instance_id;
DROP TABLE operation_items;
DROP TABLE operations;
