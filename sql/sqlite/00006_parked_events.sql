-- Events the outbox relay set aside.
--
-- outbox_parked records the events the outbox relay could not publish for a permanent
-- reason (larger than the NATS server accepts): the relay moves past them so they never
-- stop the events behind them. The event itself stays in the history (events); this row
-- says why it was set aside and whether a placeholder went out in its place.
-- (SQLite indexes values of any size, so variables_value stays as it is.)

-- +goose Up
CREATE TABLE outbox_parked (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    instance_id TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    placeholder INTEGER NOT NULL,
    parked_at   INTEGER NOT NULL
);

-- +goose Down
DROP TABLE outbox_parked;
