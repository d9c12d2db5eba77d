-- Fewer index entries per instance on the hot tables.
--
-- A token moves on every step of an instance (element_id, state, flow and created_at
-- change), and a job is locked when it is fetched or pushed. With an index on a changed
-- column every such update writes a new entry into every index of the table; without
-- one, and with room on the page (fillfactor), it is a HOT update that touches no index.
-- tokens_element served the "waiting at" instance filter and the stall detector: both now
-- read the tokens table, which holds only the tokens of running instances (its size
-- follows running work, never history). jobs_locked served the lock-expiry half of
-- NextJobDue, which now reads the runnable jobs through jobs_runnable.

-- +goose Up
DROP INDEX tokens_element;
ALTER TABLE tokens SET (fillfactor = 70);
DROP INDEX jobs_locked;
ALTER TABLE jobs SET (fillfactor = 70);

-- +goose Down
ALTER TABLE jobs RESET (fillfactor);
CREATE INDEX jobs_locked ON jobs (locked_until) WHERE locked_until IS NOT NULL;
ALTER TABLE tokens RESET (fillfactor);
CREATE INDEX tokens_element ON tokens (element_id, instance_id);
