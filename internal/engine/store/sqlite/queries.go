package sqlite

// All SQL of the SQLite store lives in this file. Static statements are prepared once per
// connection pool at Open and bound to each transaction on first use; the few queries with
// optional filters are assembled here from fixed fragments (never from caller text: values
// always travel as parameters).

import "strings"

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
)

// denseMatches is where a variable or waiting filter counts as common: below it the
// matching rows are few enough to sort; from it on a walk over the newest instances meets a
// page of matches soon enough (about page size * instances / matches rows).
const (
	denseMatches    = 2000
	denseMatchesSQL = "2000"
)

// Rows of the aggregate query: a kind tag, then the row padded to the width of a job row.
const (
	loadWidth = 1 + 18
	pad5      = `, NULL, NULL, NULL, NULL, NULL`
	pad6      = pad5 + `, NULL`
	pad7      = pad6 + `, NULL`
	pad9      = pad7 + `, NULL, NULL`
	pad11     = pad9 + `, NULL, NULL`
	pad13     = pad11 + `, NULL, NULL`
)

// Row kinds of qLoadInstance.
const (
	kindInstance = iota
	kindToken
	kindVariable
	kindJob
	kindSubscription
	kindTask
	kindIncident
)

// runnable is the condition of a job the executor may run. Its terms must stay those of the
// WHERE clause of the jobs_runnable partial index (sql/sqlite/00001_init.sql), or SQLite
// will not use the index (TestQueryPlans checks).
const runnable = `NOT suspended AND retries > 0`

// stmtID names a static statement.
type stmtID int

const (
	// Reads (prepared on both pools).
	qGetDefinition stmtID = iota
	qLatestDefinition
	qDefinitionByVersion
	qGetInstance
	qLoadInstance
	qGetJob
	qNextJobDue
	qFindSubscriptions
	qGetIncident
	qGetUserTask
	qCountVariableEquals
	qCountWaitingAt
	qListOutbox
	qOutboxStats
	qCountParked
	qListParked
	qGetLease
	qElementCounts

	numReadStmts // the statements below only run on the writer

	qInsertDefinition
	qInsertInstance
	qUpdateInstance
	qUpsertToken
	qDeleteToken
	qUpsertVariable
	qDeleteVariable
	qUpsertJob
	qDeleteJob
	qUpsertSubscription
	qDeleteSubscription
	qUpsertTask
	qUpsertIncident
	qInsertEvent
	qDeleteStartJobs
	qDeleteStartSubscriptions
	qLockJobs
	qOutboxAfter
	qSetOutboxCursor
	qParkOutbox
	qAcquireLease
	qReleaseLease
	qInsertAudit
	qUpdateAudit
	qUpsertElementStatsJSON

	numStmts
)

var stmtSQL = [numStmts]string{
	qListOutbox: `SELECT ` + eventCols + ` FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT ?`,
	qOutboxStats: `SELECT (SELECT count(*) FROM events WHERE seq > ` + outboxCursor + `),
		coalesce((SELECT time FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT 1), 0)`,
	qCountParked: `SELECT count(*) FROM outbox_parked`,
	qListParked: `SELECT seq, id, instance_id, type, bytes, reason, placeholder, parked_at
		FROM outbox_parked ORDER BY seq DESC LIMIT ?`,
	qGetLease: `SELECT owner FROM leases WHERE name = ?`,

	qElementCounts: `SELECT element_id, completed FROM element_stats WHERE definition_id = ?`,
	// The rare change that completes more than statsChunk distinct elements: its rows as a
	// JSON array of [definition_id, element_id, completed]. "WHERE true" is SQLite's way to
	// tell the upsert's ON CONFLICT from a join's ON.
	qUpsertElementStatsJSON: `INSERT INTO element_stats (definition_id, element_id, completed)
	SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?) WHERE true
	` + elementStatsConflict,
	qOutboxAfter:     `SELECT seq FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT ?`,
	qSetOutboxCursor: `INSERT INTO outbox_cursor (name, seq) VALUES ('relay', ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`,
	qParkOutbox: `INSERT INTO outbox_parked (seq, id, instance_id, type, bytes, reason, placeholder, parked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`,
	// Take the lease when it is free, expired or ours already.
	qAcquireLease: `INSERT INTO leases (name, owner, until) VALUES (?1, ?2, ?3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE leases.owner = excluded.owner OR leases.until <= ?4`,
	qReleaseLease: `DELETE FROM leases WHERE name = ? AND owner = ?`,
	qInsertAudit: `INSERT INTO audit (id, time, actor, command, target, reason, request, result, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	qUpdateAudit: `UPDATE audit SET result = ?2, error = ?3, request = ?4 WHERE id = ?1`,

	// Kinds and types arrive as JSON arrays so that one prepared statement serves every
	// filter: ?5 = '' means all kinds; ?7 = 0 means all service types, else only those in
	// ?8 (an empty array: none).
	qLockJobs: `UPDATE jobs SET lock_owner = ?1, locked_until = ?2 WHERE id IN (SELECT id FROM jobs WHERE due_at <= ?3 AND ` +
		runnable + ` AND (locked_until IS NULL OR locked_until <= ?4)
		AND (?5 = '' OR kind IN (SELECT value FROM json_each(?6)))
		AND (?7 = 0 OR kind <> 'service' OR type IN (SELECT value FROM json_each(?8)))
		ORDER BY due_at LIMIT ?9) RETURNING ` + jobCols,

	qGetDefinition:       `SELECT ` + definitionCols + ` FROM definitions WHERE id = ?`,
	qLatestDefinition:    `SELECT ` + definitionCols + ` FROM definitions WHERE key = ? ORDER BY version DESC LIMIT 1`,
	qDefinitionByVersion: `SELECT ` + definitionCols + ` FROM definitions WHERE key = ? AND version = ?`,

	qGetInstance: `SELECT ` + instanceCols + ` FROM instances WHERE id = ?`,
	// The whole aggregate in one statement: the engine loads one before every command, and
	// the fixed cost of a statement (bind, step, result set) is most of the cost of seven
	// small index lookups. Each branch is tagged with its row kind and padded with NULLs to
	// the widest row (a job); branches come out in order.
	qLoadInstance: `SELECT 0, ` + instanceCols + pad7 + ` FROM instances WHERE id = ?1
	UNION ALL SELECT 1, ` + tokenCols + pad11 + ` FROM tokens WHERE instance_id = ?1
	UNION ALL SELECT 2, ` + variableCols + pad13 + ` FROM variables WHERE instance_id = ?1
	UNION ALL SELECT 3, ` + jobCols + ` FROM jobs WHERE instance_id = ?1
	UNION ALL SELECT 4, ` + subscriptionCols + pad9 + ` FROM subscriptions WHERE instance_id = ?1
	UNION ALL SELECT 5, ` + userTaskCols + pad5 + ` FROM user_tasks WHERE instance_id = ?1 AND state = 'open'
	UNION ALL SELECT 6, ` + incidentCols + pad6 + ` FROM incidents WHERE instance_id = ?1 AND state = 'open'`,

	qGetJob: `SELECT ` + jobCols + ` FROM jobs WHERE id = ?`,
	// Two index probes instead of one scan of every runnable job: the earliest unlocked job
	// from jobs_runnable, and the earliest lock expiry among the (few) locked ones from
	// jobs_locked. The caller takes the smaller.
	qNextJobDue: `SELECT
	(SELECT due_at FROM jobs WHERE ` + runnable + ` AND locked_until IS NULL ORDER BY due_at LIMIT 1),
	(SELECT min(max(due_at, locked_until)) FROM jobs WHERE locked_until IS NOT NULL AND ` + runnable + `)`,

	// Instance subscriptions by (name, key), plus the start subscriptions of the name. Two
	// index lookups joined by UNION ALL: an OR would scan every subscription of the name.
	qFindSubscriptions: `SELECT ` + subscriptionCols + ` FROM subscriptions WHERE message_name = ?1 AND correlation_key = ?2 AND instance_id <> ''
	UNION ALL
	SELECT ` + subscriptionCols + ` FROM subscriptions WHERE instance_id = '' AND message_name = ?1
	ORDER BY created_at, id`,

	qGetIncident: `SELECT ` + incidentCols + ` FROM incidents WHERE id = ?`,

	// How common a variable value or a waiting element is, counted up to denseMatches.
	qCountVariableEquals: `SELECT count(*) FROM (SELECT 1 FROM variables WHERE name = ? AND value = ? LIMIT ` + denseMatchesSQL + `)`,
	qCountWaitingAt:      `SELECT count(*) FROM (SELECT 1 FROM tokens WHERE element_id = ? LIMIT ` + denseMatchesSQL + `)`,
	qGetUserTask:         `SELECT ` + userTaskCols + ` FROM user_tasks WHERE id = ?`,

	qInsertDefinition: `INSERT INTO definitions (` + definitionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,

	qInsertInstance: `INSERT INTO instances (` + instanceCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	// Only the columns a command can change are set, so SQLite leaves the indexes on the
	// others alone. The version check is the optimistic lock.
	qUpdateInstance: `UPDATE instances SET business_key = ?, state = ?, version = ?, incident_count = ?, ended_at = ?, event_seq = ?
	WHERE id = ? AND version = ?`,

	qUpsertToken: `INSERT INTO tokens (` + tokenCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, element_id = excluded.element_id,
	scope_id = excluded.scope_id, state = excluded.state, flow = excluded.flow, created_at = excluded.created_at`,
	qDeleteToken: `DELETE FROM tokens WHERE id = ?`,

	qUpsertVariable: `INSERT INTO variables (` + variableCols + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (instance_id, name) DO UPDATE SET type = excluded.type, value = excluded.value, updated_at = excluded.updated_at`,
	qDeleteVariable: `DELETE FROM variables WHERE instance_id = ? AND name = ?`,

	qUpsertJob: `INSERT INTO jobs (` + jobCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, type = excluded.type, instance_id = excluded.instance_id,
	token_id = excluded.token_id, element_id = excluded.element_id, definition_id = excluded.definition_id,
	definition_key = excluded.definition_key, retries = excluded.retries, attempt = excluded.attempt,
	due_at = excluded.due_at, suspended = excluded.suspended, lock_owner = excluded.lock_owner,
	locked_until = excluded.locked_until, repeat = excluded.repeat, last_error = excluded.last_error,
	error_details = excluded.error_details, created_at = excluded.created_at`,
	qDeleteJob: `DELETE FROM jobs WHERE id = ?`,

	qUpsertSubscription: `INSERT INTO subscriptions (` + subscriptionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_id = excluded.definition_id, definition_key = excluded.definition_key,
	message_name = excluded.message_name, correlation_key = excluded.correlation_key, created_at = excluded.created_at`,
	qDeleteSubscription: `DELETE FROM subscriptions WHERE id = ?`,

	qUpsertTask: `INSERT INTO user_tasks (` + userTaskCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, name = excluded.name,
	assignee = excluded.assignee, candidate_groups = excluded.candidate_groups, form_key = excluded.form_key,
	state = excluded.state, created_at = excluded.created_at, due_at = excluded.due_at, completed_at = excluded.completed_at`,

	qUpsertIncident: `INSERT INTO incidents (` + incidentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, job_id = excluded.job_id,
	type = excluded.type, message = excluded.message, details = excluded.details, state = excluded.state,
	created_at = excluded.created_at, resolved_at = excluded.resolved_at`,

	// seq comes back as the last insert rowid (events.seq is the rowid).
	qInsertEvent: `INSERT INTO events (id, instance_id, instance_seq, definition_id, definition_key, type, element_id,
	element_type, token_id, job_id, incident_id, time, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,

	// Start rows are found through the instance_id index ('' holds only them, a few).
	qDeleteStartJobs:          `DELETE FROM jobs WHERE instance_id = '' AND definition_key = ?`,
	qDeleteStartSubscriptions: `DELETE FROM subscriptions WHERE instance_id = '' AND definition_key = ?`,
}

// outboxCursor is the seq up to which the relay has published everything.
const outboxCursor = `coalesce((SELECT seq FROM outbox_cursor WHERE name = 'relay'), 0)`

// insertEventsSQL is the n-row form of qInsertEvent.
func insertEventsSQL(n int) string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT INTO events (id, instance_id, instance_seq, definition_id, definition_key, type, element_id,
	element_type, token_id, job_id, incident_id, time, data) VALUES ` +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// statsChunk is the largest n for which upsertElementStatsSQL(n) is prepared at Open.
const statsChunk = 8

// elementStatsConflict adds to an existing count (in DO UPDATE, a bare column is the
// stored row's).
const elementStatsConflict = `ON CONFLICT (definition_id, element_id) DO UPDATE SET completed = completed + excluded.completed`

// upsertElementStatsSQL adds n (definition_id, element_id, completed) rows to element_stats.
// The rows must name distinct elements (store.CompletedCounts sums them).
func upsertElementStatsSQL(n int) string {
	return `INSERT INTO element_stats (definition_id, element_id, completed) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ") + ` ` + elementStatsConflict
}

// query assembles a statement from fixed fragments: WHERE terms are ANDed, and the
// arguments are collected beside them.
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
	q.sb.WriteString(cond)
	q.args = append(q.args, args...)
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func (q *query) tail(s string, args ...any) {
	q.sb.WriteString(s)
	q.args = append(q.args, args...)
}

func (q *query) String() string { return q.sb.String() }

// limit turns the seam's "0 means no limit" into SQLite's LIMIT -1.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// Queries with optional filters.
const (
	listDefinitionsSQL = `SELECT ` + definitionCols + ` FROM definitions d`
	latestOnlyCond     = `version = (SELECT max(version) FROM definitions d2 WHERE d2.key = d.key)`

	listInstancesSQL = `SELECT ` + instanceCols + ` FROM instances`
	// The variable and token filters come in two forms, chosen by how many rows match (see
	// instanceQuery). IN lets SQLite start from the few matching variables or tokens and
	// sort them; EXISTS makes it walk the instances newest first and probe each one, which
	// finds a page quickly when matches are common, where IN would sort them all.
	variableInCond      = `id IN (SELECT instance_id FROM variables WHERE name = ? AND value = ?)`
	variableExistsCond  = `EXISTS (SELECT 1 FROM variables v WHERE v.instance_id = instances.id AND v.name = ? AND v.value = ?)`
	waitingAtInCond     = `id IN (SELECT instance_id FROM tokens WHERE element_id = ?)`
	waitingAtExistsCond = `EXISTS (SELECT 1 FROM tokens k WHERE k.instance_id = instances.id AND k.element_id = ?)`
	// Keyset pagination, newest first; a row value so SQLite uses it as an index range.
	instanceCursorCond = `(started_at, id) < (?, ?)`
	instanceOrder      = ` ORDER BY started_at DESC, id DESC LIMIT ?`

	listVariablesSQL = `SELECT ` + variableCols + ` FROM variables`
	listJobsSQL      = `SELECT ` + jobCols + ` FROM jobs`
	listIncidentsSQL = `SELECT ` + incidentCols + ` FROM incidents`
	listUserTasksSQL = `SELECT ` + userTaskCols + ` FROM user_tasks`
	listEventsSQL    = `SELECT ` + eventCols + ` FROM events`
	listAuditSQL     = `SELECT id, time, actor, command, target, reason, request, result, error FROM audit`
)

// Stalls (stalls.go; see store.StallTx).
const (
	stallCols = `id, token_id, instance_id, definition_id, definition_key, element_id, since, threshold, incident,
	detected_at, state, cleared_at, published`
	stallThresholdCols = `definition_key, element_id, threshold, updated_at, updated_by`

	// waitingTokensSQL starts from the tokens at one element (tokens_element) and keeps
	// those of the definition's active instances that arrived before the cutoff: it reads
	// running work only. CROSS JOIN fixes that join order (see countTokensSQL).
	waitingTokensSQL = `SELECT t.id, t.instance_id, t.element_id, t.created_at,
	EXISTS (SELECT 1 FROM incidents x WHERE x.instance_id = t.instance_id AND x.state = 'open' AND x.token_id = t.id)
	FROM tokens t CROSS JOIN instances i ON i.id = t.instance_id
	WHERE t.element_id = ? AND t.created_at < ? AND i.definition_id = ? AND i.state = 'active'`

	insertStallSQL = `INSERT INTO stalls (` + stallCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	clearStallSQL  = `UPDATE stalls SET state = 'cleared', cleared_at = ? WHERE id = ? AND state = 'open'`
	listStallsSQL  = `SELECT ` + stallCols + ` FROM stalls`
	// The partial index stalls_unpublished holds exactly these rows.
	unpublishedStallsSQL  = `SELECT ` + stallCols + ` FROM stalls WHERE published <> state ORDER BY detected_at, id LIMIT ?`
	markStallPublishedSQL = `UPDATE stalls SET published = ? WHERE id = ?`
	pruneStallsSQL        = `DELETE FROM stalls WHERE state = 'cleared' AND cleared_at < ? AND published = 'cleared'`

	// stallCurrent keeps the open stalls whose token still stands where it stalled, in an
	// active instance: a stall the next detector pass will clear is not shown meanwhile.
	stallCurrent = `s.state = 'open'
	AND EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id AND t.element_id = s.element_id AND t.created_at = s.since)
	AND EXISTS (SELECT 1 FROM instances i WHERE i.id = s.instance_id AND i.state = 'active')`
	countStallsSQL          = `SELECT s.element_id, count(*) FROM stalls s WHERE ` + stallCurrent
	countStalledInstanceSQL = `SELECT s.definition_key, count(DISTINCT s.instance_id) FROM stalls s WHERE ` + stallCurrent +
		` GROUP BY s.definition_key`
	// stalledCond is the ListInstances filter: the few instances with a current stall.
	stalledCond    = `id IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`
	notStalledCond = `id NOT IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`

	putStallThresholdSQL = `INSERT INTO stall_thresholds (` + stallThresholdCols + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (definition_key, element_id) DO UPDATE SET threshold = excluded.threshold,
	updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	deleteStallThresholdSQL = `DELETE FROM stall_thresholds WHERE definition_key = ? AND element_id = ?`
	listStallThresholdsSQL  = `SELECT ` + stallThresholdCols + ` FROM stall_thresholds`
)
