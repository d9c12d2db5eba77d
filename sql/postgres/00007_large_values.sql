-- Large values and the events the relay sets aside.
--
-- A B-tree entry is at most about 2.7 KB: a variable value above that (after
-- compression) could not be written at all while variables_value indexed the value
-- itself. The "variable equals" filter now finds candidates by an MD5 of the value's
-- canonical text (jsonb prints the same value the same way) and compares the values
-- themselves after, so values of any size (up to the engine's MaxVariableBytes) are
-- stored and found. Business keys, correlation keys and names are bounded by the engine
-- (MaxBusinessKeyBytes, MaxNameBytes) well below the B-tree limit and keep their indexes.
--
-- outbox_parked records the events the outbox relay could not publish for a permanent
-- reason (larger than the NATS server accepts): the relay moves past them so they never
-- stop the events behind them. The event itself stays in the history (events); this row
-- says why it was set aside and whether a placeholder went out in its place.

-- +goose Up
DROP INDEX variables_value;
CREATE INDEX variables_value_md5 ON variables (name, md5(value::text));

CREATE TABLE outbox_parked (
    seq         bigint PRIMARY KEY,
    id          text NOT NULL,
    instance_id text NOT NULL DEFAULT '',
    type        text NOT NULL,
    bytes       bigint NOT NULL,
    reason      text NOT NULL,
    placeholder boolean NOT NULL,
    parked_at   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE outbox_parked;
DROP INDEX variables_value_md5;
CREATE INDEX variables_value ON variables (name, value);
