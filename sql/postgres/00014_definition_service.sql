-- The service that deployed a definition (issue "One cockpit for many services").
--
-- An engine writes '' (its definitions are its own, whatever its service is called); a
-- cockpit that observes other services (package internal/observer) writes the service
-- named in the events, so two services that deploy the same process key and version are
-- two definitions. Rows written before this migration keep ''.
--
-- Uniqueness moves from (key, version) to (service, key, version). The engine's lookups
-- by key (latest version, one version, by checksum or version tag) read a store that
-- holds one service only, and keep an index on (key, version) of their own; the
-- observer's per-service reads and the service filter of the instance list
-- (definition_id IN (SELECT id FROM definitions WHERE service = ?)) use the unique one.

-- +goose Up
ALTER TABLE definitions ADD COLUMN service text NOT NULL DEFAULT '';
DROP INDEX definitions_key_version;
CREATE UNIQUE INDEX definitions_service_key_version ON definitions (service, key, version);
CREATE INDEX definitions_key_version ON definitions (key, version);

-- +goose Down
-- Fails when two services hold the same key and version: the old schema cannot hold
-- them.
DROP INDEX definitions_key_version;
DROP INDEX definitions_service_key_version;
CREATE UNIQUE INDEX definitions_key_version ON definitions (key, version);
ALTER TABLE definitions DROP COLUMN service;
