-- +goose Up
-- Rollups of the metrics projector (internal/monitor): per time bucket (minute, hour, day),
-- definition version and kind of row (the instances, one element, one sequence flow),
-- counters and two duration histograms. The projector folds the history above its cursor
-- into these rows and moves the cursor in the same transaction, so they are exact after
-- a restart; pages read a handful of rows instead of scanning history.
--
-- A histogram is count, sum and max in milliseconds and its non-empty log-scaled buckets
-- in the compact text form of monitor.Histogram ("index:count index:count ...").
-- exited counts element.left (LEFT is an SQL keyword). The rows of the current buckets
-- are rewritten by every batch: fillfactor leaves room for HOT updates.
CREATE TABLE metric_rollups (
    step          text NOT NULL,        -- minute | hour | day
    definition_id text NOT NULL,
    bucket        timestamptz NOT NULL, -- start of the bucket
    kind          text NOT NULL,        -- instance | element | flow
    element_id    text NOT NULL DEFAULT '',
    started       bigint NOT NULL DEFAULT 0,
    completed     bigint NOT NULL DEFAULT 0,
    cancelled     bigint NOT NULL DEFAULT 0,
    incidents     bigint NOT NULL DEFAULT 0,
    entered       bigint NOT NULL DEFAULT 0,
    exited        bigint NOT NULL DEFAULT 0,
    taken         bigint NOT NULL DEFAULT 0,
    d_count       bigint NOT NULL DEFAULT 0,
    d_sum         bigint NOT NULL DEFAULT 0,
    d_max         bigint NOT NULL DEFAULT 0,
    d_buckets     text NOT NULL DEFAULT '',
    w_count       bigint NOT NULL DEFAULT 0,
    w_sum         bigint NOT NULL DEFAULT 0,
    w_max         bigint NOT NULL DEFAULT 0,
    w_buckets     text NOT NULL DEFAULT '',
    PRIMARY KEY (step, definition_id, bucket, kind, element_id)
) WITH (fillfactor = 70);

-- The seq up to which the history is folded into metric_rollups. Seqs are handed out in
-- commit order (the write lock, see 00002_outbox.sql), so nothing can appear below it later.
CREATE TABLE metrics_cursor (
    name text PRIMARY KEY,
    seq  bigint NOT NULL
);
INSERT INTO metrics_cursor (name, seq) VALUES ('metrics', 0);

-- +goose Down
DROP TABLE metrics_cursor;
DROP TABLE metric_rollups;
