-- +goose Up
-- How many times each element of a definition was completed (left by a token). Apply keeps
-- it in the same transaction as the element.left events it counts, so the process page
-- reads a handful of rows instead of counting a history of millions of events.
--
-- The rows are few and updated by nearly every commit. Writers hold the schema's write
-- lock (see writeLockSQL), so they do not queue on these row locks; fillfactor leaves room
-- on each page for the new row versions, which keeps the updates HOT (completed is in no
-- index) and lets page pruning reclaim the old ones without waiting for a vacuum.
CREATE TABLE element_stats (
    definition_id text NOT NULL,
    element_id    text NOT NULL,
    completed     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (definition_id, element_id)
) WITH (fillfactor = 50);

-- The history written before this migration, counted once (a scan of events, so this
-- migration takes as long as reading the history).
INSERT INTO element_stats (definition_id, element_id, completed)
SELECT definition_id, element_id, count(*) FROM events
WHERE type = 'element.left' AND element_id <> ''
GROUP BY definition_id, element_id;

-- +goose Down
DROP TABLE element_stats;
