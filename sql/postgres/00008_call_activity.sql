-- Call activities: instances that other instances started.
--
-- A called instance names its caller: the calling instance, the token that waits at the
-- call activity and the call activity itself, and how deep it is in its chain of calls
-- (a top-level instance is 0; the engine refuses a call deeper than its limit). The link
-- is written once, when the called instance is inserted, so the per-command instance
-- update (a HOT update, see 00006) never touches these columns or their index.
--
-- A definition keeps its process's version tag (camunda:versionTag, zeebe:versionTag),
-- which a call activity bound by version tag looks for.
--
-- An incident opened at a call activity because of an incident in the called instance
-- names that incident (cause_incident_id), so resolving the cause resolves it, and a
-- retry of it retries the cause.

-- +goose Up
ALTER TABLE instances ADD COLUMN parent_instance_id text NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN parent_token_id text NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN parent_element_id text NOT NULL DEFAULT '';
ALTER TABLE instances ADD COLUMN call_depth integer NOT NULL DEFAULT 0;
-- The children of an instance, newest first (the instance list filtered by parent).
CREATE INDEX instances_parent ON instances (parent_instance_id, started_at DESC, id DESC) WHERE parent_instance_id <> '';

ALTER TABLE definitions ADD COLUMN version_tag text NOT NULL DEFAULT '';
CREATE INDEX definitions_version_tag ON definitions (key, version_tag, version DESC) WHERE version_tag <> '';

ALTER TABLE incidents ADD COLUMN cause_incident_id text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE incidents DROP COLUMN cause_incident_id;
DROP INDEX definitions_version_tag;
ALTER TABLE definitions DROP COLUMN version_tag;
DROP INDEX instances_parent;
ALTER TABLE instances DROP COLUMN call_depth;
ALTER TABLE instances DROP COLUMN parent_element_id;
ALTER TABLE instances DROP COLUMN parent_token_id;
ALTER TABLE instances DROP COLUMN parent_instance_id;
