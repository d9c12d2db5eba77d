-- +goose Up
-- Rollups of the metrics projector (internal/monitor): per time bucket (minute, hour, day),
-- definition version and kind of row (the instances, one element, one sequence flow),
-- counters and two duration histograms. The projector folds the history above its cursor
-- into these rows and moves the cursor in the same transaction, so they are exact after
-- a restart; pages read a handful of rows instead of scanning history.
--
-- A histogram is count, sum and max in milliseconds and its non-empty log-scaled buckets
-- in the compact text form of monitor.Histogram ("index:count index:count ...").
-- exited counts element.left (LEFT is an SQL keyword).
CREATE TABLE metric_rollups (
    step          TEXT NOT NULL,    -- minute | hour | day
    definition_id TEXT NOT NULL,
    bucket        INTEGER NOT NULL, -- start of the bucket (unix µs, UTC)
    kind          TEXT NOT NULL,    -- instance | element | flow
    element_id    TEXT NOT NULL DEFAULT '',
    started       INTEGER NOT NULL DEFAULT 0,
    completed     INTEGER NOT NULL DEFAULT 0,
    cancelled     INTEGER NOT NULL DEFAULT 0,
    incidents     INTEGER NOT NULL DEFAULT 0,
    entered       INTEGER NOT NULL DEFAULT 0,
    exited        INTEGER NOT NULL DEFAULT 0,
    taken         INTEGER NOT NULL DEFAULT 0,
    d_count       INTEGER NOT NULL DEFAULT 0,
    d_sum         INTEGER NOT NULL DEFAULT 0,
    d_max         INTEGER NOT NULL DEFAULT 0,
    d_buckets     TEXT NOT NULL DEFAULT '',
    w_count       INTEGER NOT NULL DEFAULT 0,
    w_sum         INTEGER NOT NULL DEFAULT 0,
    w_max         INTEGER NOT NULL DEFAULT 0,
    w_buckets     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (step, definition_id, bucket, kind, element_id)
) WITHOUT ROWID;

-- The seq up to which the history is folded into metric_rollups. Seqs are handed out in
-- commit order (see 00002_outbox.sql), so nothing can appear below it later.
CREATE TABLE metrics_cursor (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO metrics_cursor (name, seq) VALUES ('metrics', 0);

-- +goose Down
DROP TABLE metrics_cursor;
DROP TABLE metric_rollups;
