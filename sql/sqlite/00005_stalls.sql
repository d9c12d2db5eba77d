-- +goose Up
-- Stalls: tokens that waited at an element longer than its threshold (the stall detector
-- of internal/monitor writes them). Open stalls are bounded by running work; cleared ones
-- are kept for a while for their NATS publication and then pruned.
CREATE TABLE stalls (
    id             TEXT PRIMARY KEY,
    token_id       TEXT NOT NULL,
    instance_id    TEXT NOT NULL,
    definition_id  TEXT NOT NULL,
    definition_key TEXT NOT NULL,
    element_id     TEXT NOT NULL,
    since          INTEGER NOT NULL, -- the token's arrival at the element (unix µs)
    threshold      INTEGER NOT NULL, -- µs
    incident       INTEGER NOT NULL DEFAULT 0,
    detected_at    INTEGER NOT NULL,
    state          TEXT NOT NULL,    -- open | cleared
    cleared_at     INTEGER,
    published      TEXT NOT NULL DEFAULT '' -- the state last published on NATS
) WITHOUT ROWID;
-- At most one open stall per token; the detector reads a definition's open stalls, the
-- instance list filters on the instances with one.
CREATE UNIQUE INDEX stalls_open_token ON stalls (token_id) WHERE state = 'open';
CREATE INDEX stalls_open_definition ON stalls (definition_id, element_id) WHERE state = 'open';
CREATE INDEX stalls_open_instance ON stalls (instance_id) WHERE state = 'open';
-- What the publisher has left to do: few rows (published differs from state only until
-- the next pass publishes them).
CREATE INDEX stalls_unpublished ON stalls (detected_at) WHERE published <> state;
CREATE INDEX stalls_cleared ON stalls (cleared_at) WHERE state = 'cleared';

-- Operators' waiting limits per element of a process key (every version).
CREATE TABLE stall_thresholds (
    definition_key TEXT NOT NULL,
    element_id     TEXT NOT NULL,
    threshold      INTEGER NOT NULL, -- µs
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (definition_key, element_id)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE stall_thresholds;
DROP TABLE stalls;
