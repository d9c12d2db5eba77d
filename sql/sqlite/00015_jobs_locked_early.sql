-- Locked jobs due only after their lock ends (a worker locked one early, through the
-- Camunda lock endpoint say) for NextJobDue. Such a job counts with its due time, not its
-- lock's end, and it is rare: the index holds almost nothing, and a write of any other
-- job only checks the predicate. With it, each part of NextJobDue is one step down an
-- index instead of a read of every locked row, dead ones included.

-- +goose Up
CREATE INDEX jobs_locked_early ON jobs (due_at)
    WHERE locked_until IS NOT NULL AND due_at > locked_until AND NOT suspended AND retries > 0;

-- +goose Down
DROP INDEX jobs_locked_early;
