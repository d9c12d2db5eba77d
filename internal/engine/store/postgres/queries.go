package postgres

// All SQL of the PostgreSQL store lives in this file. Statements are sent with the extended
// protocol and cached as prepared statements per connection by pgx (keyed by their text),
// so each is parsed and planned once per connection. The few queries with optional filters
// are assembled here from fixed fragments (never from caller text: values always travel as
// parameters). Multi-row writes pass one array per column and unnest them, so a change of
// any size is one statement per row kind.

import (
	"strconv"
	"strings"
)

// Column lists, in the order the scan functions in rows.go read them.
const (
	definitionCols   = `id, key, version, name, checksum, resource, xml, deployed_at`
	instanceCols     = `id, definition_id, definition_key, definition_version, business_key, state, version, incident_count, started_at, ended_at, event_seq`
	tokenCols        = `id, instance_id, element_id, scope_id, state, flow, created_at`
	variableCols     = `instance_id, name, type, value, updated_at`
	jobCols          = `id, kind, type, instance_id, token_id, element_id, definition_id, definition_key, retries, attempt, due_at, suspended, lock_owner, locked_until, repeat, last_error, error_details, created_at`
	subscriptionCols = `id, instance_id, token_id, element_id, definition_id, definition_key, message_name, correlation_key, created_at`
	userTaskCols     = `id, instance_id, token_id, element_id, definition_key, name, assignee, candidate_groups, form_key, state, created_at, due_at, completed_at`
	incidentCols     = `id, instance_id, token_id, element_id, definition_key, job_id, type, message, details, state, created_at, resolved_at`
	eventCols        = `seq, id, instance_id, instance_seq, definition_id, definition_key, type, element_id, element_type, token_id, job_id, incident_id, time, data`
	auditCols        = `id, time, actor, command, target, reason, request, result, error`
)

// runnable is the condition of a job the executor may run. unlocked adds "not locked": it
// is the predicate of the jobs_due partial index (sql/postgres/00006_hot_updates.sql), so
// the queries that read that index must use it as written. Locked jobs (most are pushed:
// locked by the command that created them) are found by their expiry (jobs_locked).
const (
	runnable = `NOT suspended AND retries > 0`
	unlocked = runnable + ` AND locked_until IS NULL`
	// jobKinds applies LockJobsParams.Kinds ($4) and Types ($5).
	jobKinds = `($4::text[] IS NULL OR kind = ANY($4::text[])) AND ($5::text[] IS NULL OR kind <> 'service' OR type = ANY($5::text[]))`
)

// qualifiedJobCols are jobCols with the table name, for a RETURNING next to a join (a
// test checks that the two lists agree).
const qualifiedJobCols = `jobs.id, jobs.kind, jobs.type, jobs.instance_id, jobs.token_id, jobs.element_id,
	jobs.definition_id, jobs.definition_key, jobs.retries, jobs.attempt, jobs.due_at, jobs.suspended, jobs.lock_owner,
	jobs.locked_until, jobs.repeat, jobs.last_error, jobs.error_details, jobs.created_at`

// Transaction control. The write lock serialises the writers of one schema from their first
// write to their commit: identity values are handed out when a row is inserted, not when
// it commits, so without it a reader tailing events by seq could see seq 11 commit before
// seq 10 and skip 10 for ever. Taking it before any row lock keeps lock order fixed (no
// deadlock between two writers). The key is per schema, so test schemas do not contend.
const (
	beginWriteSQL = `BEGIN ISOLATION LEVEL READ COMMITTED`
	beginReadSQL  = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	writeLockSQL  = `SELECT pg_advisory_xact_lock(hashtextextended('cockpit.write:' || current_schema(), 0))`
	// noSeqScanSQL goes with the write lock: the merged writes (merge.go) join arrays to
	// tables by primary key, and a plan made while a table was small (a fresh schema, before
	// autovacuum's first ANALYZE) would scan the whole table on every group commit, for
	// as long as that generic plan is cached. Every statement of these transactions has an
	// index path, so this only ever removes the scan.
	noSeqScanSQL = `SET LOCAL enable_seqscan = off`
	commitSQL    = `COMMIT`
	rollbackSQL  = `ROLLBACK`
	notifySQL    = `SELECT pg_notify($1, '')`
)

// Static statements.
const (
	getDefinitionSQL       = `SELECT ` + definitionCols + ` FROM definitions WHERE id = $1`
	latestDefinitionSQL    = `SELECT ` + definitionCols + ` FROM definitions WHERE key = $1 ORDER BY version DESC LIMIT 1`
	definitionByVersionSQL = `SELECT ` + definitionCols + ` FROM definitions WHERE key = $1 AND version = $2`
	insertDefinitionSQL    = `INSERT INTO definitions (` + definitionCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

	getInstanceSQL = `SELECT ` + instanceCols + ` FROM instances WHERE id = $1`

	// The aggregate: one pipelined batch of these (one round trip).
	loadTokensSQL        = `SELECT ` + tokenCols + ` FROM tokens WHERE instance_id = $1`
	loadVariablesSQL     = `SELECT ` + variableCols + ` FROM variables WHERE instance_id = $1`
	loadJobsSQL          = `SELECT ` + jobCols + ` FROM jobs WHERE instance_id = $1`
	loadSubscriptionsSQL = `SELECT ` + subscriptionCols + ` FROM subscriptions WHERE instance_id = $1`
	loadTasksSQL         = `SELECT ` + userTaskCols + ` FROM user_tasks WHERE instance_id = $1 AND state = 'open'`
	loadIncidentsSQL     = `SELECT ` + incidentCols + ` FROM incidents WHERE instance_id = $1 AND state = 'open'`

	// The merged forms (merge.go): many instances per statement. The optimistic lock: when
	// an instance's stored version is not the one its command read, cockpit_conflict raises
	// SQLSTATE CK409 naming it, which aborts the transaction on the server (the rest of the
	// pipeline, COMMIT included, is refused), so nothing of a stale batch is written. A
	// data-modifying WITH runs to completion whatever the outer query reads.
	insertInstancesSQL = `INSERT INTO instances (` + instanceCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::int8[], $8::int[],
		$9::timestamptz[], $10::timestamptz[], $11::int8[])`
	updateInstancesSQL = `WITH done AS (UPDATE instances AS i SET business_key = u.bk, state = u.state, version = u.version,
	incident_count = u.incidents, ended_at = u.ended, event_seq = u.event_seq
	FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::int[], $7::timestamptz[], $8::int8[])
		AS u(id, base, bk, state, version, incidents, ended, event_seq)
	WHERE i.id = u.id AND i.version = u.base RETURNING i.id)
	SELECT cockpit_conflict(x.id, x.base + 1) FROM unnest($1::text[], $2::int8[]) AS x(id, base)
	WHERE x.id NOT IN (SELECT id FROM done) LIMIT 1`
	deleteVariablesManySQL = `DELETE FROM variables AS v USING unnest($1::text[], $2::text[]) AS d(i, n)
	WHERE v.instance_id = d.i AND v.name = d.n`

	deleteTokensSQL = `DELETE FROM tokens WHERE id = ANY($1::text[])`
	upsertTokensSQL = `INSERT INTO tokens (` + tokenCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, element_id = excluded.element_id,
	scope_id = excluded.scope_id, state = excluded.state, flow = excluded.flow, created_at = excluded.created_at`

	upsertVariablesSQL = `INSERT INTO variables (` + variableCols + `)
	SELECT i, n, t, v::jsonb, u FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS x(i, n, t, v, u)
	ON CONFLICT (instance_id, name) DO UPDATE SET type = excluded.type, value = excluded.value, updated_at = excluded.updated_at`

	deleteJobsSQL = `DELETE FROM jobs WHERE id = ANY($1::text[])`
	deleteJobSQL  = `DELETE FROM jobs WHERE id = $1`
	upsertJobsSQL = `INSERT INTO jobs (` + jobCols + `)
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
	upsertSubscriptionsSQL = `INSERT INTO subscriptions (` + subscriptionCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_id = excluded.definition_id, definition_key = excluded.definition_key,
	message_name = excluded.message_name, correlation_key = excluded.correlation_key, created_at = excluded.created_at`

	upsertTasksSQL = `INSERT INTO user_tasks (` + userTaskCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, name = excluded.name,
	assignee = excluded.assignee, candidate_groups = excluded.candidate_groups, form_key = excluded.form_key,
	state = excluded.state, created_at = excluded.created_at, due_at = excluded.due_at, completed_at = excluded.completed_at`

	upsertIncidentsSQL = `INSERT INTO incidents (` + incidentCols + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[])
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, job_id = excluded.job_id,
	type = excluded.type, message = excluded.message, details = excluded.details, state = excluded.state,
	created_at = excluded.created_at, resolved_at = excluded.resolved_at`

	// Events in one statement (they are also the outbox: see outbox_cursor). The rows are
	// inserted in array order, so the identity hands out ascending seqs in that order (the
	// caller sorts what RETURNING gives back, which promises no order).
	insertEventsSQL = `INSERT INTO events (id, instance_id, instance_seq, definition_id, definition_key, type,
		element_id, element_type, token_id, job_id, incident_id, time, data)
	SELECT a, b, c, d, e, f, g, h, i, j, k, l, m::jsonb FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[],
		$5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[], $13::text[])
		AS x(a, b, c, d, e, f, g, h, i, j, k, l, m)
	RETURNING seq`

	// A change's completions per element, summed in Go (an upsert may not touch a row
	// twice).
	upsertElementStatsSQL = `INSERT INTO element_stats (definition_id, element_id, completed)
	SELECT * FROM unnest($1::text[], $2::text[], $3::int8[])
	ON CONFLICT (definition_id, element_id) DO UPDATE SET completed = element_stats.completed + excluded.completed`
	elementCountsSQL = `SELECT element_id, completed FROM element_stats WHERE definition_id = $1`

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
	getJobSQL = `SELECT ` + jobCols + ` FROM jobs WHERE id = $1`
	// The earliest unlocked runnable job, and the earliest lock expiry among locked ones
	// (a locked job counts with the later of its due time and its lock expiry).
	nextJobDueSQL = `SELECT
	(SELECT min(due_at) FROM jobs WHERE ` + unlocked + `),
	(SELECT min(greatest(due_at, locked_until)) FROM jobs WHERE locked_until IS NOT NULL AND ` + runnable + `)`
	deleteStartJobsSQL = `DELETE FROM jobs WHERE instance_id = '' AND definition_key = $1`

	// Instance subscriptions by (name, key), plus the start subscriptions of the name.
	findSubscriptionsSQL = `SELECT ` + subscriptionCols + ` FROM subscriptions WHERE message_name = $1 AND correlation_key = $2 AND instance_id <> ''
	UNION ALL
	SELECT ` + subscriptionCols + ` FROM subscriptions WHERE instance_id = '' AND message_name = $1
	ORDER BY created_at, id`
	deleteStartSubscriptionsSQL = `DELETE FROM subscriptions WHERE instance_id = '' AND definition_key = $1`

	getIncidentSQL = `SELECT ` + incidentCols + ` FROM incidents WHERE id = $1`
	getUserTaskSQL = `SELECT ` + userTaskCols + ` FROM user_tasks WHERE id = $1`

	listVariablesSQL = `SELECT ` + variableCols + ` FROM variables WHERE instance_id = ANY($1::text[]) ORDER BY instance_id, name`

	// The outbox is the events above the relay's cursor (outbox_cursor).
	outboxCursor    = `coalesce((SELECT seq FROM outbox_cursor WHERE name = 'relay'), 0)`
	listOutboxSQL   = `SELECT ` + eventCols + ` FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT $1`
	outboxAfterSQL  = `SELECT seq FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT $1`
	setOutboxCursor = `INSERT INTO outbox_cursor (name, seq) VALUES ('relay', $1) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`
	parkOutboxSQL   = `INSERT INTO outbox_parked (seq, id, instance_id, type, bytes, reason, placeholder, parked_at)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::boolean[], $8::timestamptz[])
	ON CONFLICT (seq) DO NOTHING`
	listParkedSQL = `SELECT seq, id, instance_id, type, bytes, reason, placeholder, parked_at
	FROM outbox_parked ORDER BY seq DESC LIMIT $1`
	countParkedSQL = `SELECT count(*) FROM outbox_parked`
	outboxStatsSQL = `SELECT (SELECT count(*) FROM events WHERE seq > ` + outboxCursor + `),
		(SELECT time FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT 1)`

	// Take the lease when it is free, expired or ours already; a row comes back when we
	// hold it.
	acquireLeaseSQL = `INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
	ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
	WHERE leases.owner = excluded.owner OR leases.until <= $4
	RETURNING owner`
	releaseLeaseSQL = `DELETE FROM leases WHERE name = $1 AND owner = $2`
	insertAuditSQL  = `INSERT INTO audit (` + auditCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)`
	updateAuditSQL  = `UPDATE audit SET result = $2, error = $3, request = $4::jsonb WHERE id = $1`
)

// Queries with optional filters.
const (
	listDefinitionsSQL = `SELECT ` + definitionCols + ` FROM definitions d`
	latestOnlyCond     = `version = (SELECT max(version) FROM definitions d2 WHERE d2.key = d.key)`

	listInstancesSQL = `SELECT ` + instanceCols + ` FROM instances`
	// The md5 term is what variables_value_md5 indexes (migration 00007): values of any
	// size can be indexed that way; the value itself is compared after it.
	variableCond  = `id IN (SELECT instance_id FROM variables WHERE name = ? AND md5(value::text) = md5(?::jsonb::text) AND value = ?::jsonb)`
	waitingAtCond = `id IN (SELECT instance_id FROM tokens WHERE element_id = ?)`
	// Keyset pagination, newest first.
	instanceCursorCond = `(started_at, id) < (?, ?)`
	instanceOrder      = ` ORDER BY started_at DESC, id DESC LIMIT ?`

	listJobsSQL      = `SELECT ` + jobCols + ` FROM jobs`
	listIncidentsSQL = `SELECT ` + incidentCols + ` FROM incidents`
	listUserTasksSQL = `SELECT ` + userTaskCols + ` FROM user_tasks`
	listEventsSQL    = `SELECT ` + eventCols + ` FROM events`
	listAuditSQL     = `SELECT ` + auditCols + ` FROM audit`
)

// query assembles a statement from fixed fragments: WHERE terms are ANDed, and each "?"
// in a fragment becomes the next $n.
type query struct {
	sb    strings.Builder
	where int
	args  []any
}

func newQuery(head string) *query {
	q := &query{args: make([]any, 0, 8)}
	q.sb.WriteString(head)
	return q
}

// and adds one condition (a fixed fragment) with its arguments.
func (q *query) and(cond string, args ...any) {
	if q.where == 0 {
		q.sb.WriteString(" WHERE ")
	} else {
		q.sb.WriteString(" AND ")
	}
	q.where++
	q.add(cond, args)
}

func (q *query) tail(s string, args ...any) { q.add(s, args) }

// add writes frag with its "?" numbered after the arguments so far.
func (q *query) add(frag string, args []any) {
	for {
		i := strings.IndexByte(frag, '?')
		if i < 0 {
			break
		}
		q.sb.WriteString(frag[:i])
		q.args = append(q.args, args[0])
		args = args[1:]
		q.sb.WriteString("$" + strconv.Itoa(len(q.args)))
		frag = frag[i+1:]
	}
	q.sb.WriteString(frag)
	if len(args) != 0 {
		panic("postgres: query fragment with more arguments than placeholders")
	}
}

func (q *query) String() string { return q.sb.String() }

// limit turns the seam's "0 means no limit" into LIMIT NULL.
func limit(n int) any {
	if n <= 0 {
		return nil
	}
	return int64(n)
}

// Stalls (stalls.go; see store.StallTx).
const (
	stallCols = `id, token_id, instance_id, definition_id, definition_key, element_id, since, threshold, incident,
	detected_at, state, cleared_at, published`
	stallThresholdCols = `definition_key, element_id, threshold, updated_at, updated_by`

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

	insertStallSQL = `INSERT INTO stalls (` + stallCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`
	clearStallsSQL = `UPDATE stalls SET state = 'cleared', cleared_at = $1 WHERE id = ANY($2::text[]) AND state = 'open'`
	listStallsSQL  = `SELECT ` + stallCols + ` FROM stalls`
	// The partial index stalls_unpublished holds exactly these rows.
	unpublishedStallsSQL  = `SELECT ` + stallCols + ` FROM stalls WHERE published <> state ORDER BY detected_at, id LIMIT $1`
	markStallPublishedSQL = `UPDATE stalls SET published = $1 WHERE id = $2`
	pruneStallsSQL        = `DELETE FROM stalls WHERE state = 'cleared' AND cleared_at < $1 AND published = 'cleared'`

	// stallCurrent keeps the open stalls whose token still stands where it stalled, in an
	// active instance: a stall the next detector pass will clear is not shown meanwhile.
	stallCurrent = `s.state = 'open'
	AND EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id AND t.element_id = s.element_id AND t.created_at = s.since)
	AND EXISTS (SELECT 1 FROM instances i WHERE i.id = s.instance_id AND i.state = 'active')`
	countStallsSQL = `SELECT s.element_id, count(*)::int FROM stalls s WHERE ` + stallCurrent +
		` AND ($1 = '' OR s.definition_id = $1) GROUP BY s.element_id`
	countStalledInstancesSQL = `SELECT s.definition_key, count(DISTINCT s.instance_id)::int FROM stalls s WHERE ` + stallCurrent +
		` GROUP BY s.definition_key`
	// stalledCond is the ListInstances filter: the few instances with a current stall.
	stalledCond    = `id IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`
	notStalledCond = `id NOT IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`

	putStallThresholdSQL = `INSERT INTO stall_thresholds (` + stallThresholdCols + `) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (definition_key, element_id) DO UPDATE SET threshold = excluded.threshold,
	updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	deleteStallThresholdSQL = `DELETE FROM stall_thresholds WHERE definition_key = $1 AND element_id = $2`
	listStallThresholdsSQL  = `SELECT ` + stallThresholdCols + ` FROM stall_thresholds`
)
