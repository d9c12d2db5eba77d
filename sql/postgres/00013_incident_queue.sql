-- The incident queue (package internal/incidents).
--
-- fingerprint names an incident's cause (package internal/incidents/fingerprint: process,
-- element, type, error code and the message with ids and numbers masked); the store
-- computes it and error_code when it writes an incident, so the incidents page groups
-- with a GROUP BY. Rows written before this migration have fingerprint '' until the
-- incidents service fills them in (the partial index incidents_unfingerprinted holds
-- exactly those).
--
-- incident_groups has one row per fingerprint ever seen, inserted in the transaction that
-- wrote the fingerprint's first open incident: it carries the group's assignment and its
-- webhook notice, an outbox row (notify_state 'pending' until delivered, 'failed' after
-- the last attempt, 'expired' when too old to send, 'skipped' for groups found by the
-- backfill). incident_notes is the groups' note log (notes, resolution notes,
-- assignments).

-- +goose Up
ALTER TABLE incidents ADD COLUMN fingerprint text NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN error_code text NOT NULL DEFAULT '';
CREATE INDEX incidents_fingerprint ON incidents (state, fingerprint, created_at);
CREATE INDEX incidents_unfingerprinted ON incidents (id) WHERE fingerprint = '';

CREATE TABLE incident_groups (
    fingerprint       text PRIMARY KEY,
    definition_key    text NOT NULL DEFAULT '',
    element_id        text NOT NULL DEFAULT '',
    type              text NOT NULL DEFAULT '',
    error_code        text NOT NULL DEFAULT '',
    message           text NOT NULL DEFAULT '',
    first_incident_id text NOT NULL DEFAULT '',
    first_seen        timestamptz NOT NULL,
    assignee          text NOT NULL DEFAULT '',
    assigned_by       text NOT NULL DEFAULT '',
    assigned_at       timestamptz,
    assign_note       text NOT NULL DEFAULT '',
    notify_state      text NOT NULL DEFAULT 'pending',
    notify_attempts   integer NOT NULL DEFAULT 0,
    notify_next_at    timestamptz NOT NULL,
    notify_error      text NOT NULL DEFAULT '',
    notified_at       timestamptz
);
CREATE INDEX incident_groups_pending ON incident_groups (notify_next_at) WHERE notify_state = 'pending';

CREATE TABLE incident_notes (
    id          text PRIMARY KEY,
    fingerprint text NOT NULL,
    kind        text NOT NULL,
    text        text NOT NULL DEFAULT '',
    actor       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL
);
CREATE INDEX incident_notes_group ON incident_notes (fingerprint, created_at);

-- +goose Down
DROP TABLE incident_notes;
DROP TABLE incident_groups;
DROP INDEX incidents_unfingerprinted;
DROP INDEX incidents_fingerprint;
ALTER TABLE incidents DROP COLUMN error_code;
ALTER TABLE incidents DROP COLUMN fingerprint;
