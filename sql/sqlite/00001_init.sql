-- Cockpit schema for the embedded SQLite store.
--
-- Conventions (shared with the PostgreSQL schema):
--   * times are INTEGER unix microseconds, UTC; nullable times are NULL when unset;
--   * JSON values are TEXT (variable values compacted, so "variable equals" is a text compare);
--   * booleans are INTEGER 0/1 and read with NOT x, which both dialects accept;
--   * "" (not NULL) means "none" for optional text columns, so equality filters stay simple.
-- Row tables keyed by a text id are WITHOUT ROWID: the row lives in the primary-key b-tree,
-- so an upsert touches one b-tree less than a rowid table with a separate key index.
-- No partial index has a predicate of the form column = constant: a statement whose WHERE
-- compares that column with a bound parameter would be re-prepared by SQLite each time the
-- parameter changes (it checks whether the partial index applies to the bound value).
-- No foreign keys: the engine writes an instance and its rows in one Change, start jobs and
-- start subscriptions belong to no instance, and an FK check is an index probe per row.

-- +goose Up
CREATE TABLE definitions (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    version     INTEGER NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    checksum    TEXT NOT NULL DEFAULT '',
    resource    TEXT NOT NULL DEFAULT '',
    xml         BLOB NOT NULL,
    deployed_at INTEGER NOT NULL
);
-- Latest version of a key, one version of a key, and key+version uniqueness.
CREATE UNIQUE INDEX definitions_key_version ON definitions (key, version);

CREATE TABLE instances (
    id                 TEXT PRIMARY KEY,
    definition_id      TEXT NOT NULL,
    definition_key     TEXT NOT NULL,
    definition_version INTEGER NOT NULL,
    business_key       TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL,
    version            INTEGER NOT NULL,
    incident_count     INTEGER NOT NULL DEFAULT 0,
    started_at         INTEGER NOT NULL,
    ended_at           INTEGER,
    event_seq          INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- The instance list is keyset-paginated newest first on (started_at, id); every index that
-- serves a list filter ends in those columns so a page is an index range scan, not a sort.
CREATE INDEX instances_started ON instances (started_at DESC, id DESC);
CREATE INDEX instances_definition_key ON instances (definition_key, started_at DESC, id DESC);
CREATE INDEX instances_definition_id ON instances (definition_id, started_at DESC, id DESC);
CREATE INDEX instances_state ON instances (state, started_at DESC, id DESC);
CREATE INDEX instances_business_key ON instances (business_key, started_at DESC, id DESC);
-- Few instances have incidents; the partial index holds only those.
CREATE INDEX instances_incident ON instances (started_at DESC, id DESC) WHERE incident_count > 0;

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    instance_id TEXT NOT NULL,
    element_id  TEXT NOT NULL,
    scope_id    TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    flow        TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_instance ON tokens (instance_id);
-- "Waiting at": instances with a token at an element.
CREATE INDEX tokens_element ON tokens (element_id, instance_id);

CREATE TABLE variables (
    instance_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, name)
) WITHOUT ROWID;
-- "Variable equals": value is compacted JSON text, compared as text.
CREATE INDEX variables_value ON variables (name, value);

CREATE TABLE jobs (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    type           TEXT NOT NULL DEFAULT '',
    instance_id    TEXT NOT NULL DEFAULT '',
    token_id       TEXT NOT NULL DEFAULT '',
    element_id     TEXT NOT NULL DEFAULT '',
    definition_id  TEXT NOT NULL DEFAULT '',
    definition_key TEXT NOT NULL DEFAULT '',
    retries        INTEGER NOT NULL,
    attempt        INTEGER NOT NULL DEFAULT 0,
    due_at         INTEGER NOT NULL,
    suspended      INTEGER NOT NULL DEFAULT 0,
    lock_owner     TEXT NOT NULL DEFAULT '',
    locked_until   INTEGER,
    repeat         TEXT NOT NULL DEFAULT '',
    last_error     TEXT NOT NULL DEFAULT '',
    error_details  TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;
-- Runnable jobs in due order. The WHERE clause must keep the terms of the one in
-- the LockJobs and NextJobDue queries, or SQLite will not use this partial index.
-- locked_until is in the key so the lock test needs no table lookup.
CREATE INDEX jobs_runnable ON jobs (due_at, locked_until) WHERE NOT suspended AND retries > 0;
-- Locked jobs (in flight or with a lock that has expired), for their lock expiry.
CREATE INDEX jobs_locked ON jobs (locked_until) WHERE locked_until IS NOT NULL;
-- Also finds the start jobs (instance_id '') of a definition on redeploy.
CREATE INDEX jobs_instance ON jobs (instance_id);
-- No index on type: the jobs table holds only pending work (its size follows what is
-- running, not history), so a list by type scans little, and every job insert and lock
-- update would pay for the index.

CREATE TABLE subscriptions (
    id              TEXT PRIMARY KEY,
    instance_id     TEXT NOT NULL DEFAULT '',
    token_id        TEXT NOT NULL DEFAULT '',
    element_id      TEXT NOT NULL DEFAULT '',
    definition_id   TEXT NOT NULL DEFAULT '',
    definition_key  TEXT NOT NULL DEFAULT '',
    message_name    TEXT NOT NULL,
    correlation_key TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
-- Correlation: the instance subscriptions for (name, key) ...
CREATE INDEX subscriptions_message ON subscriptions (message_name, correlation_key);
-- ... and the start subscriptions (instance_id '') for a name, without scanning every
-- waiting instance; also the subscriptions of an instance.
CREATE INDEX subscriptions_instance ON subscriptions (instance_id, message_name);

CREATE TABLE user_tasks (
    id               TEXT PRIMARY KEY,
    instance_id      TEXT NOT NULL,
    token_id         TEXT NOT NULL DEFAULT '',
    element_id       TEXT NOT NULL DEFAULT '',
    definition_key   TEXT NOT NULL DEFAULT '',
    name             TEXT NOT NULL DEFAULT '',
    assignee         TEXT NOT NULL DEFAULT '',
    candidate_groups TEXT NOT NULL DEFAULT '',
    form_key         TEXT NOT NULL DEFAULT '',
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    due_at           INTEGER,
    completed_at     INTEGER
) WITHOUT ROWID;
CREATE INDEX user_tasks_state ON user_tasks (state, created_at);
CREATE INDEX user_tasks_assignee ON user_tasks (assignee, state, created_at);
CREATE INDEX user_tasks_instance ON user_tasks (instance_id, state);

CREATE TABLE incidents (
    id             TEXT PRIMARY KEY,
    instance_id    TEXT NOT NULL DEFAULT '',
    token_id       TEXT NOT NULL DEFAULT '',
    element_id     TEXT NOT NULL DEFAULT '',
    definition_key TEXT NOT NULL DEFAULT '',
    job_id         TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,
    message        TEXT NOT NULL DEFAULT '',
    details        TEXT NOT NULL DEFAULT '',
    state          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX incidents_state ON incidents (state, created_at);
CREATE INDEX incidents_definition ON incidents (definition_key, state, created_at);
CREATE INDEX incidents_instance ON incidents (instance_id, state);

-- History. seq is the store-wide commit order: SQLite has one writer, so the rowid (max+1)
-- hands out numbers in commit order. History rows are never deleted from the top, so no
-- number is reused; AUTOINCREMENT would guard against that at the price of a write to
-- sqlite_sequence per insert. id (a UUIDv7 made by the engine) is unique by construction
-- and never looked up, so it has no index: each index is one more B-tree write per event,
-- and events are most of what the engine writes.
CREATE TABLE events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL,
    instance_id    TEXT NOT NULL DEFAULT '',
    instance_seq   INTEGER NOT NULL DEFAULT 0,
    definition_id  TEXT NOT NULL DEFAULT '',
    definition_key TEXT NOT NULL DEFAULT '',
    type           TEXT NOT NULL,
    element_id     TEXT NOT NULL DEFAULT '',
    element_type   TEXT NOT NULL DEFAULT '',
    token_id       TEXT NOT NULL DEFAULT '',
    job_id         TEXT NOT NULL DEFAULT '',
    incident_id    TEXT NOT NULL DEFAULT '',
    time           INTEGER NOT NULL,
    data           TEXT
);
CREATE INDEX events_instance ON events (instance_id, seq);

-- +goose Down
DROP TABLE events;
DROP TABLE incidents;
DROP TABLE user_tasks;
DROP TABLE subscriptions;
DROP TABLE jobs;
DROP TABLE variables;
DROP TABLE tokens;
DROP TABLE instances;
DROP TABLE definitions;
