-- Signals: signal subscriptions beside message subscriptions, and signal broadcasts.
--
-- A subscription's kind tells a message subscription ('') from a signal subscription
-- ('signal': a signal catch or boundary event of an instance, or a signal start event
-- of a process when instance_id is ''). Message correlation reads only kind ''.
--
-- A thrown signal is a row of signals and a job of kind 'signal' with the same id: the
-- executor works the broadcast off in commands of a bounded number of subscriptions
-- each (the ones of the name with ids in (last_id, upto], in id order), moving last_id in
-- the same transaction as the deliveries, so a broadcast over many instances never
-- holds the committer and a node that dies mid-way leaves it to the next (job lock).
-- upto is an id drawn when the signal was thrown: subscription ids are UUIDv7, so the
-- subscriptions made after the throw (a catch reached again by the delivery itself)
-- are not part of it.

-- +goose Up
ALTER TABLE subscriptions ADD COLUMN kind TEXT NOT NULL DEFAULT '';
CREATE INDEX subscriptions_signal ON subscriptions (message_name, id) WHERE kind = 'signal';

CREATE TABLE signals (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    variables   TEXT NOT NULL DEFAULT '',
    upto        TEXT NOT NULL,
    last_id     TEXT NOT NULL DEFAULT '',
    instance_id TEXT NOT NULL DEFAULT '',
    delivered   INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- +goose Down
DROP TABLE signals;
DROP INDEX subscriptions_signal;
ALTER TABLE subscriptions DROP COLUMN kind;
