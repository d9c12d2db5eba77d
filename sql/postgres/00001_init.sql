-- Cockpit schema for the PostgreSQL store.
--
-- Conventions (shared with the SQLite schema where the dialects allow):
--   * times are timestamptz (microseconds, what the engine keeps); nullable times are NULL
--     when unset;
--   * JSON values are jsonb, so "variable equals" compares meaning, not spelling;
--   * ids are text (UUIDs made by the engine, or caller keys);
--   * "" (not NULL) means "none" for optional text columns, so equality filters stay simple.
-- No foreign keys: the engine writes an instance and its rows in one Change, start jobs and
-- start subscriptions belong to no instance, and an FK check is an index probe per row.
-- Tables and the function live in the schema first on the connection's search_path, so one
-- database can hold several independent stores (one per test, say).

-- +goose Up
CREATE TABLE definitions (
    id          text PRIMARY KEY,
    key         text NOT NULL,
    version     integer NOT NULL,
    name        text NOT NULL DEFAULT '',
    checksum    text NOT NULL DEFAULT '',
    resource    text NOT NULL DEFAULT '',
    xml         bytea NOT NULL,
    deployed_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX definitions_key_version ON definitions (key, version);

CREATE TABLE instances (
    id                 text PRIMARY KEY,
    definition_id      text NOT NULL,
    definition_key     text NOT NULL,
    definition_version integer NOT NULL,
    business_key       text NOT NULL DEFAULT '',
    state              text NOT NULL,
    version            bigint NOT NULL,
    incident_count     integer NOT NULL DEFAULT 0,
    started_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    event_seq          bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 70);
-- fillfactor 70 leaves room on each page so that the update every command makes (version,
-- event_seq) is a HOT update: no indexed column changes, so none of the six indexes below
-- is touched. With full pages each update wrote seven index entries.
-- The instance list is keyset-paginated newest first on (started_at, id).
CREATE INDEX instances_started ON instances (started_at DESC, id DESC);
CREATE INDEX instances_definition_key ON instances (definition_key, started_at DESC, id DESC);
CREATE INDEX instances_definition_id ON instances (definition_id, started_at DESC, id DESC);
CREATE INDEX instances_state ON instances (state, started_at DESC, id DESC);
CREATE INDEX instances_business_key ON instances (business_key, started_at DESC, id DESC);
CREATE INDEX instances_incident ON instances (started_at DESC, id DESC) WHERE incident_count > 0;

CREATE TABLE tokens (
    id          text PRIMARY KEY,
    instance_id text NOT NULL,
    element_id  text NOT NULL,
    scope_id    text NOT NULL DEFAULT '',
    state       text NOT NULL,
    flow        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE INDEX tokens_instance ON tokens (instance_id);
CREATE INDEX tokens_element ON tokens (element_id, instance_id);

CREATE TABLE variables (
    instance_id text NOT NULL,
    name        text NOT NULL,
    type        text NOT NULL,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (instance_id, name)
);
CREATE INDEX variables_value ON variables (name, value);

CREATE TABLE jobs (
    id             text PRIMARY KEY,
    kind           text NOT NULL,
    type           text NOT NULL DEFAULT '',
    instance_id    text NOT NULL DEFAULT '',
    token_id       text NOT NULL DEFAULT '',
    element_id     text NOT NULL DEFAULT '',
    definition_id  text NOT NULL DEFAULT '',
    definition_key text NOT NULL DEFAULT '',
    retries        integer NOT NULL,
    attempt        integer NOT NULL DEFAULT 0,
    due_at         timestamptz NOT NULL,
    suspended      boolean NOT NULL DEFAULT false,
    lock_owner     text NOT NULL DEFAULT '',
    locked_until   timestamptz,
    repeat         text NOT NULL DEFAULT '',
    last_error     text NOT NULL DEFAULT '',
    error_details  text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL
);
-- Runnable jobs in due order (LockJobs, NextJobDue); the predicate must stay the one in
-- those queries (queries.go: runnable) for the planner to use the index.
CREATE INDEX jobs_runnable ON jobs (due_at) WHERE NOT suspended AND retries > 0;
CREATE INDEX jobs_locked ON jobs (locked_until) WHERE locked_until IS NOT NULL;
-- Also finds the start jobs (instance_id '') of a definition on redeploy.
CREATE INDEX jobs_instance ON jobs (instance_id);
-- No index on type: the jobs table holds only pending work (its size follows what is
-- running, not history), so a list by type scans little, and every job insert and lock
-- update would pay for the index.

CREATE TABLE subscriptions (
    id              text PRIMARY KEY,
    instance_id     text NOT NULL DEFAULT '',
    token_id        text NOT NULL DEFAULT '',
    element_id      text NOT NULL DEFAULT '',
    definition_id   text NOT NULL DEFAULT '',
    definition_key  text NOT NULL DEFAULT '',
    message_name    text NOT NULL,
    correlation_key text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);
CREATE INDEX subscriptions_message ON subscriptions (message_name, correlation_key);
CREATE INDEX subscriptions_instance ON subscriptions (instance_id, message_name);

CREATE TABLE user_tasks (
    id               text PRIMARY KEY,
    instance_id      text NOT NULL,
    token_id         text NOT NULL DEFAULT '',
    element_id       text NOT NULL DEFAULT '',
    definition_key   text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    assignee         text NOT NULL DEFAULT '',
    candidate_groups text NOT NULL DEFAULT '',
    form_key         text NOT NULL DEFAULT '',
    state            text NOT NULL,
    created_at       timestamptz NOT NULL,
    due_at           timestamptz,
    completed_at     timestamptz
);
CREATE INDEX user_tasks_state ON user_tasks (state, created_at);
CREATE INDEX user_tasks_assignee ON user_tasks (assignee, state, created_at);
CREATE INDEX user_tasks_instance ON user_tasks (instance_id, state);

CREATE TABLE incidents (
    id             text PRIMARY KEY,
    instance_id    text NOT NULL DEFAULT '',
    token_id       text NOT NULL DEFAULT '',
    element_id     text NOT NULL DEFAULT '',
    definition_key text NOT NULL DEFAULT '',
    job_id         text NOT NULL DEFAULT '',
    type           text NOT NULL,
    message        text NOT NULL DEFAULT '',
    details        text NOT NULL DEFAULT '',
    state          text NOT NULL,
    created_at     timestamptz NOT NULL,
    resolved_at    timestamptz
);
CREATE INDEX incidents_state ON incidents (state, created_at);
CREATE INDEX incidents_definition ON incidents (definition_key, state, created_at);
CREATE INDEX incidents_instance ON incidents (instance_id, state);

-- History. seq is the store-wide commit order: it comes from the identity, and the store
-- takes a transaction-level advisory lock before the first write of every write
-- transaction, so numbers are handed out in commit order (see the package comment). id (a
-- UUIDv7 made by the engine) is never looked up and has no index.
CREATE TABLE events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             text NOT NULL,
    instance_id    text NOT NULL DEFAULT '',
    instance_seq   bigint NOT NULL DEFAULT 0,
    definition_id  text NOT NULL DEFAULT '',
    definition_key text NOT NULL DEFAULT '',
    type           text NOT NULL,
    element_id     text NOT NULL DEFAULT '',
    element_type   text NOT NULL DEFAULT '',
    token_id       text NOT NULL DEFAULT '',
    job_id         text NOT NULL DEFAULT '',
    incident_id    text NOT NULL DEFAULT '',
    time           timestamptz NOT NULL,
    data           jsonb
);
CREATE INDEX events_instance ON events (instance_id, seq);

-- cockpit_conflict fails the statement that calls it with SQLSTATE CK409, which the store
-- maps to store.ErrConflict. Apply's version check calls it when the instance row did not
-- match: the error stops the rest of the pipelined Apply, so nothing else of a stale
-- change is written.
-- +goose StatementBegin
CREATE FUNCTION cockpit_conflict(instance_id text, version bigint) RETURNS integer
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'instance % is not at version %', instance_id, version - 1 USING ERRCODE = 'CK409';
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION cockpit_conflict(text, bigint);
DROP TABLE events;
DROP TABLE incidents;
DROP TABLE user_tasks;
DROP TABLE subscriptions;
DROP TABLE jobs;
DROP TABLE variables;
DROP TABLE tokens;
DROP TABLE instances;
DROP TABLE definitions;
