package postgres

// The SQL only the PostgreSQL store runs: transaction control, the aggregate load, the
// merged writes of Apply, job locking and the waiting-token read. The SQL both stores
// share is in sqlstore. Statements are sent with the extended protocol and cached as
// prepared statements per connection by pgx (keyed by their text), so each is parsed and
// planned once per connection. Multi-row writes pass one array per column and unnest
// them, so a change of any size is one statement per row kind.

import "github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"

// runnable is the condition of a job the executor may run. unlocked adds "not locked": it
// is the predicate of the jobs_due partial index (sql/postgres/00006_hot_updates.sql), so
// the queries that read that index must use it as written. Locked jobs (most are pushed:
// locked by the command that created them) are found by their expiry (jobs_locked).
const (
	runnable = sqlstore.Runnable
	unlocked = sqlstore.Unlocked
	// jobKinds applies LockJobsParams.Kinds ($4), Types ($5), DefinitionKey ($7),
	// BusinessKey ($8), DefinitionID ($9) and Variables ($10: a JSON object of name and
	// value, NULL for none).
	jobKinds = `($4::text[] IS NULL OR kind = ANY($4::text[])) AND ($5::text[] IS NULL OR kind <> 'service' OR type = ANY($5::text[]))
		AND ($7::text = '' OR definition_key = $7::text)
		AND ($8::text = '' OR instance_id IN (SELECT id FROM instances WHERE business_key = $8::text))
		AND ($9::text = '' OR definition_id = $9::text)
		AND ($10::jsonb IS NULL OR NOT EXISTS (SELECT 1 FROM jsonb_each($10::jsonb) f WHERE NOT EXISTS (SELECT 1 FROM variables v
			WHERE v.instance_id = jobs.instance_id AND v.scope = '' AND v.name = f.key AND v.value = f.value)))`
)

// qualifiedJobCols are sqlstore.JobCols with the table name, for a RETURNING next to a join (a
// test checks that the two lists agree).
const qualifiedJobCols = `jobs.id, jobs.kind, jobs.type, jobs.instance_id, jobs.token_id, jobs.element_id,
	jobs.definition_id, jobs.definition_key, jobs.retries, jobs.attempt, jobs.due_at, jobs.suspended, jobs.lock_owner,
	jobs.locked_until, jobs.repeat, jobs.last_error, jobs.error_details, jobs.created_at`

// Transaction control. The write lock serialises the transactions of one schema that insert
// events, from their events insert to their commit (held.go): identity values are handed
// out when a row is inserted, not when it commits, so without it a reader tailing events
// by seq could see seq 11 commit before seq 10 and skip 10 for ever. Its holder waits for
// no row lock (it inserts events and updates element_stats, whose writers all hold it),
// so writers waiting for it while holding row locks cannot deadlock with it. The key is
// per schema, so test schemas do not contend.
const (
	beginWriteSQL = `BEGIN ISOLATION LEVEL READ COMMITTED`
	beginReadSQL  = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	writeLockSQL  = `SELECT pg_advisory_xact_lock(hashtextextended('cockpit.write:' || current_schema(), 0))`
	// noSeqScanSQL goes with the first Apply: the merged writes (merge.go) join arrays to
	// tables by primary key, and a plan made while a table was small (a fresh schema, before
	// autovacuum's first ANALYZE) would scan the whole table on every group commit, for
	// as long as that generic plan is cached. Every statement of these transactions has an
	// index path, so this only ever removes the scan.
	noSeqScanSQL = `SET LOCAL enable_seqscan = off`
	// genericPlanSQL and resetPlanSQL enclose the merged writes and the events insert:
	// statements that find their rows by key in arrays of a group commit's size. Left to
	// choose, the server plans such a statement again at every execution (a custom plan
	// for the few rows of one group commit looks cheaper than the generic plan's guess of
	// ten), and the planning cost more than the execution: 0.3 ms per group commit for
	// a bulk operation's item outcomes (finishItemsSQL). Their generic plans are key
	// lookups too (with noSeqScanSQL). Reads keep the server's choice.
	genericPlanSQL = `SET LOCAL plan_cache_mode = force_generic_plan`
	resetPlanSQL   = `RESET plan_cache_mode`
	commitSQL      = `COMMIT`
	rollbackSQL    = `ROLLBACK`
	notifySQL      = `SELECT pg_notify($1, '')`
)

// Static statements.
const (
	getInstanceSQL = `SELECT ` + sqlstore.InstanceCols + ` FROM instances WHERE id = $1`

	// The aggregate: one pipelined batch of these (one round trip).
	loadTokensSQL        = `SELECT ` + sqlstore.TokenCols + ` FROM tokens WHERE instance_id = $1`
	loadVariablesSQL     = `SELECT ` + sqlstore.VariableCols + ` FROM variables WHERE instance_id = $1`
	loadJobsSQL          = `SELECT ` + sqlstore.JobCols + ` FROM jobs WHERE instance_id = $1`
	loadSubscriptionsSQL = `SELECT ` + sqlstore.SubscriptionCols + ` FROM subscriptions WHERE instance_id = $1`
	loadTasksSQL         = `SELECT ` + sqlstore.UserTaskCols + ` FROM user_tasks WHERE instance_id = $1 AND state = 'open'`
	loadIncidentsSQL     = `SELECT ` + sqlstore.IncidentCols + ` FROM incidents WHERE instance_id = $1 AND state = 'open'`
	loadCompensationsSQL = `SELECT ` + sqlstore.CompensationCols + ` FROM compensations WHERE instance_id = $1`

	// The merged forms (merge.go): many instances per statement. The optimistic lock: when
	// an instance's stored version is not the one its command read, cockpit_conflict raises
	// SQLSTATE CK409 naming it, which aborts the transaction on the server (the rest of the
	// pipeline, COMMIT included, is refused), so nothing of a stale batch is written. A
	// data-modifying WITH runs to completion whatever the outer query reads.
	insertInstancesSQL = `INSERT INTO instances (` + sqlstore.InstanceCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int8[], $8::int[],
		$9::timestamptz[], $10::timestamptz[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::int[])`
	// The definition columns change only in a migration (store.Change.Migrated): the
	// others write the stored values back, which keeps the update HOT.
	updateInstancesSQL = `WITH done AS (UPDATE instances AS i SET business_key = u.bk, state = u.state, version = u.version,
	incident_count = u.incidents, ended_at = u.ended, event_seq = u.event_seq,
	definition_id = CASE WHEN u.migrated THEN u.def_id ELSE i.definition_id END,
	definition_key = CASE WHEN u.migrated THEN u.def_key ELSE i.definition_key END,
	definition_version = CASE WHEN u.migrated THEN u.def_version ELSE i.definition_version END
	FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int[], $7::timestamptz[], $8::int8[],
		$9::bool[], $10::text[], $11::text[], $12::int[])
		AS u(id, base, bk, state, version, incidents, ended, event_seq, migrated, def_id, def_key, def_version)
	WHERE i.id = u.id AND i.version = u.base RETURNING i.id)
	SELECT cockpit_conflict(x.id, x.base + 1) FROM unnest($1::text[], $2::int8[]) AS x(id, base)
	WHERE x.id NOT IN (SELECT id FROM done) LIMIT 1`
	deleteVariablesManySQL = `DELETE FROM variables AS v USING unnest($1::text[], $2::text[], $3::text[]) AS d(i, s, n)
	WHERE v.instance_id = d.i AND v.scope = d.s AND v.name = d.n`

	deleteTokensSQL = `DELETE FROM tokens WHERE id = ANY($1::text[])`
	upsertTokensSQL = `INSERT INTO tokens (` + sqlstore.TokenCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, element_id = excluded.element_id,
	scope_id = excluded.scope_id, state = excluded.state, flow = excluded.flow, created_at = excluded.created_at`

	upsertVariablesSQL = `INSERT INTO variables (` + sqlstore.VariableCols + `)
	SELECT i, n, t, v::jsonb, u, s FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS x(i, n, t, v, u, s)
	ON CONFLICT (instance_id, scope, name) DO UPDATE SET type = excluded.type, value = excluded.value, updated_at = excluded.updated_at`

	deleteJobsSQL = `DELETE FROM jobs WHERE id = ANY($1::text[])`

	upsertJobsSQL = `INSERT INTO jobs (` + sqlstore.JobCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::int[], $10::int[], $11::timestamptz[], $12::bool[], $13::text[], $14::timestamptz[], $15::text[], $16::text[],
		$17::text[], $18::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, type = excluded.type, instance_id = excluded.instance_id,
	token_id = excluded.token_id, element_id = excluded.element_id, definition_id = excluded.definition_id,
	definition_key = excluded.definition_key, retries = excluded.retries, attempt = excluded.attempt,
	due_at = excluded.due_at, suspended = excluded.suspended, lock_owner = excluded.lock_owner,
	locked_until = excluded.locked_until, repeat = excluded.repeat, last_error = excluded.last_error,
	error_details = excluded.error_details, created_at = excluded.created_at`

	deleteSubscriptionsSQL = `DELETE FROM subscriptions WHERE id = ANY($1::text[])`
	upsertSubscriptionsSQL = `INSERT INTO subscriptions (` + sqlstore.SubscriptionCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::timestamptz[], $10::text[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_id = excluded.definition_id, definition_key = excluded.definition_key,
	message_name = excluded.message_name, correlation_key = excluded.correlation_key, created_at = excluded.created_at,
	kind = excluded.kind`

	upsertTasksSQL = `INSERT INTO user_tasks (` + sqlstore.UserTaskCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, name = excluded.name,
	assignee = excluded.assignee, candidate_groups = excluded.candidate_groups, form_key = excluded.form_key,
	state = excluded.state, created_at = excluded.created_at, due_at = excluded.due_at, completed_at = excluded.completed_at`

	upsertIncidentsSQL = `INSERT INTO incidents (` + sqlstore.QueueIncidentCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[], $15::text[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, job_id = excluded.job_id,
	type = excluded.type, message = excluded.message, details = excluded.details, state = excluded.state,
	created_at = excluded.created_at, resolved_at = excluded.resolved_at, cause_incident_id = excluded.cause_incident_id,
	fingerprint = excluded.fingerprint, error_code = excluded.error_code`
	// The records of the groups of new open incidents (sqlstore.InsertIncidentGroup, batched):
	// the webhook notice of a new fingerprint commits with its incident.
	insertIncidentGroupsSQL = `INSERT INTO incident_groups (fingerprint, definition_key, element_id, type, error_code,
	message, first_incident_id, first_seen, notify_state, notify_next_at)
	SELECT fp, dk, el, ty, code, msg, id, at, 'pending', at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
		$5::text[], $6::text[], $7::text[], $8::timestamptz[]) AS u(fp, dk, el, ty, code, msg, id, at)
	ON CONFLICT (fingerprint) DO NOTHING`

	deleteCompensationsSQL = `DELETE FROM compensations WHERE id = ANY($1::text[])`
	upsertCompensationsSQL = `INSERT INTO compensations (` + sqlstore.CompensationCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[],
		$9::int[], $10::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, scope_id = excluded.scope_id,
	element_id = excluded.element_id, handler_id = excluded.handler_id, inner_scope_id = excluded.inner_scope_id,
	seq = excluded.seq, throw_token_id = excluded.throw_token_id, position = excluded.position,
	completed_at = excluded.completed_at`

	// Events in one statement (they are also the outbox: see outbox_cursor). The rows are
	// inserted in array order, so the identity hands out ascending seqs in that order (the
	// caller sorts what RETURNING gives back, which promises no order).
	insertEventsSQL = `INSERT INTO events (` + sqlstore.EventInsertCols + `)
	SELECT a, b, c, d, e, f, g, h, i, j, k, l, m::jsonb FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[],
		$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[])
		AS x(a, b, c, d, e, f, g, h, i, j, k, l, m)
	RETURNING seq`

	// A change's completions per element, summed in Go (an upsert may not touch a row
	// twice).
	upsertElementStatsSQL = `INSERT INTO element_stats (definition_id, element_id, completed)
	SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
	ON CONFLICT (definition_id, element_id) DO UPDATE SET completed = element_stats.completed + excluded.completed`

	// Kinds and types arrive as arrays: NULL kinds means all kinds; NULL types means every
	// service type, an empty array none.
	lockJobsSQL = `WITH due AS (
		SELECT id, due_at FROM jobs WHERE due_at <= $3 AND ` + unlocked + ` AND ` + jobKinds + `
		ORDER BY due_at LIMIT $6 FOR UPDATE SKIP LOCKED),
	expired AS (
		SELECT id, due_at FROM jobs WHERE locked_until <= $3 AND due_at <= $3 AND ` + runnable + ` AND ` + jobKinds + `
		ORDER BY locked_until LIMIT $6 FOR UPDATE SKIP LOCKED),
	pick AS (SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM expired) c ORDER BY due_at LIMIT $6)
	UPDATE jobs SET lock_owner = $1, locked_until = $2 FROM pick WHERE jobs.id = pick.id
	RETURNING ` + qualifiedJobCols
)

// Stalls (stalls.go; see store.StallTx).
const (
	// waitingTokensSQL starts from the (element, cutoff) pairs and reads the tokens at
	// each element, keeping those of the definition's active instances. The tokens table
	// holds running work only; it has no element index (migration 00006: token moves are
	// HOT updates), so this reads it whole, never history.
	waitingTokensSQL = `SELECT t.id, t.instance_id, t.element_id, t.created_at,
	EXISTS (SELECT 1 FROM incidents x WHERE x.instance_id = t.instance_id AND x.state = 'open' AND x.token_id = t.id)
	FROM unnest($2::text[], $3::timestamptz[]) AS c (element_id, cutoff)
	JOIN tokens t ON t.element_id = c.element_id AND t.created_at < c.cutoff
	JOIN instances i ON i.id = t.instance_id
	WHERE i.definition_id = $1 AND i.state = 'active'
	ORDER BY t.element_id, t.id`
)
