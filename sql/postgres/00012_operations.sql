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
    id            text PRIMARY KEY,
    kind          text NOT NULL,
    actor         text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    request_id    text NOT NULL DEFAULT '',
    selection     text NOT NULL DEFAULT '',
    params        jsonb,
    state         text NOT NULL,
    total         bigint NOT NULL,
    succeeded     bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    skipped       bigint NOT NULL DEFAULT 0,
    failing_again bigint NOT NULL DEFAULT 0,
    checked_at    timestamptz,
    created_at    timestamptz NOT NULL,
    finished_at   timestamptz
);
CREATE INDEX operations_created ON operations (created_at DESC, id DESC);
CREATE INDEX operations_running ON operations (created_at, id) WHERE state = 'running';

CREATE TABLE operation_items (
    operation_id   text NOT NULL,
    seq            integer NOT NULL,
    target         text NOT NULL,
    instance_id    text NOT NULL DEFAULT '',
    definition_key text NOT NULL DEFAULT '',
    element_id     text NOT NULL DEFAULT '',
    state          text NOT NULL,
    code           text NOT NULL DEFAULT '',
    error          text NOT NULL DEFAULT '',
    owner          text NOT NULL DEFAULT '',
    locked_until   timestamptz,
    done_at        timestamptz,
    PRIMARY KEY (operation_id, seq)
);
CREATE INDEX operation_items_pending ON operation_items (operation_id, seq) WHERE state = 'pending';
CREATE INDEX operation_items_state ON operation_items (operation_id, state, seq);

ALTER TABLE audit ADD COLUMN instance_id text NOT NULL DEFAULT '';
CREATE INDEX audit_instance ON audit (instance_id, time DESC, id DESC) WHERE instance_id <> '';
CREATE INDEX audit_command ON audit (command, time DESC, id DESC);

-- +goose Down
DROP INDEX audit_command;
DROP INDEX audit_instance;
ALTER TABLE audit DROP COLUMN instance_id;
DROP TABLE operation_items;
DROP TABLE operations;
