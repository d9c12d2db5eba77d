-- +goose Up
-- How many times each element of a definition was completed (left by a token). Apply keeps
-- it in the same transaction as the element.left events it counts, so the process page
-- reads a handful of rows instead of counting a history of millions of events.
CREATE TABLE element_stats (
    definition_id TEXT NOT NULL,
    element_id    TEXT NOT NULL,
    completed     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (definition_id, element_id)
) WITHOUT ROWID;

-- The history written before this migration, counted once (a scan of events, so this
-- migration takes as long as reading the history).
INSERT INTO element_stats (definition_id, element_id, completed)
SELECT definition_id, element_id, count(*) FROM events
WHERE type = 'element.left' AND element_id <> ''
GROUP BY definition_id, element_id;

-- +goose Down
DROP TABLE element_stats;
