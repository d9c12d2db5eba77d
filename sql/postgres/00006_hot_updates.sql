-- Fewer index entries per instance on the hot tables.
--
-- A token moves on every step of an instance (element_id, state, flow and created_at
-- change). With an index on a changed column every such update writes a new entry into
-- every index of the table; without one, and with room on the page (fillfactor), it is a
-- HOT update that touches no index. tokens_element served the "waiting at" instance filter
-- and the stall detector: both now read the tokens table, which holds only the tokens of
-- running instances (its size follows running work, never history).
--
-- Most service jobs are now pushed: inserted already locked by the node that runs them,
-- and deleted when they complete. In jobs_runnable every such job was an entry that each
-- fetch and each NextJobDue had to step over (with the dead entries of completed jobs).
-- jobs_due holds the unlocked runnable jobs only; locked ones (pushed, fetched, or with
-- an expired lock) are found by their expiry in jobs_locked.

-- +goose Up
DROP INDEX tokens_element;
ALTER TABLE tokens SET (fillfactor = 70);
DROP INDEX jobs_runnable;
CREATE INDEX jobs_due ON jobs (due_at) WHERE NOT suspended AND retries > 0 AND locked_until IS NULL;

-- +goose Down
DROP INDEX jobs_due;
CREATE INDEX jobs_runnable ON jobs (due_at) WHERE NOT suspended AND retries > 0;
ALTER TABLE tokens RESET (fillfactor);
CREATE INDEX tokens_element ON tokens (element_id, instance_id);
