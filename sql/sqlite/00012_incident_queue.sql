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
ALTER TABLE incidents ADD COLUMN fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
CREATE INDEX incidents_fingerprint ON incidents (state, fingerprint, created_at);
CREATE INDEX incidents_unfingerprinted ON incidents (id) WHERE fingerprint = '';

CREATE TABLE incident_groups (
    fingerprint       TEXT PRIMARY KEY,
    definition_key    TEXT NOT NULL DEFAULT '',
    element_id        TEXT NOT NULL DEFAULT '',
    type              TEXT NOT NULL DEFAULT '',
    error_code        TEXT NOT NULL DEFAULT '',
    message           TEXT NOT NULL DEFAULT '',
    first_incident_id TEXT NOT NULL DEFAULT '',
    first_seen        INTEGER NOT NULL,
    assignee          TEXT NOT NULL DEFAULT '',
    assigned_by       TEXT NOT NULL DEFAULT '',
    assigned_at       INTEGER,
    assign_note       TEXT NOT NULL DEFAULT '',
    notify_state      TEXT NOT NULL DEFAULT 'pending',
    notify_attempts   INTEGER NOT NULL DEFAULT 0,
    notify_next_at    INTEGER NOT NULL,
    notify_error      TEXT NOT NULL DEFAULT '',
    notified_at       INTEGER
) WITHOUT ROWID;
CREATE INDEX incident_groups_pending ON incident_groups (notify_next_at) WHERE notify_state = 'pending';

CREATE TABLE incident_notes (
    id          TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX incident_notes_group ON incident_notes (fingerprint, created_at);

-- +goose Down
DROP TABLE incident_notes;
DROP TABLE incident_groups;
DROP INDEX incidents_unfingerprinted;
DROP INDEX incidents_fingerprint;
ALTER TABLE incidents DROP COLUMN error_code;
ALTER TABLE incidents DROP COLUMN fingerprint;
