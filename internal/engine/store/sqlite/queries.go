package sqlite

// The SQL only the SQLite store runs: the aggregate load, the single-row writes of Apply,
// job locking and the multi-row inserts. The SQL both stores share is in sqlstore. Static
// statements of both kinds are prepared once per connection pool at Open and bound to each
// transaction on first use.

import (
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Rows of the aggregate query: a kind tag, then the row padded to the width of a job row.
const (
	loadWidth = 1 + 18
	pad3      = `, NULL, NULL, NULL`
	pad5      = `, NULL, NULL, NULL, NULL, NULL`
	pad6      = pad5 + `, NULL`
	pad7      = pad6 + `, NULL`
	pad8      = pad7 + `, NULL`
	pad9      = pad7 + `, NULL, NULL`
	pad11     = pad9 + `, NULL, NULL`
	pad12     = pad11 + `, NULL`
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
	kindCompensation
)

// runnable is the condition of a job the executor may run. Its terms must stay those of the
// WHERE clause of the jobs_runnable partial index (sql/sqlite/00001_init.sql), or SQLite
// will not use the index (TestQueryPlans checks).
const runnable = sqlstore.Runnable

// stmtID names a static statement.
type stmtID int

const (
	// Reads (prepared on both pools).
	qLoadInstance stmtID = iota

	numReadStmts // the statements below only run on the writer

	qInsertInstance
	qUpdateInstance
	qMigrateInstance
	qUpsertToken
	qDeleteToken
	qUpsertVariable
	qDeleteVariable
	qDeleteSubscription
	qUpsertTask
	qUpsertIncident
	qInsertIncidentGroup
	qUpsertCompensation
	qDeleteCompensation
	qInsertEvent
	qLockJobs
	qUpsertElementStatsJSON

	numStmts
)

var stmtSQL = [numStmts]string{
	// The rare change that completes more than statsChunk distinct elements: its rows as a
	// JSON array of [definition_id, element_id, completed]. "WHERE true" is SQLite's way to
	// tell the upsert's ON CONFLICT from a join's ON.
	qUpsertElementStatsJSON: `INSERT INTO element_stats (definition_id, element_id, completed)
	SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?) WHERE true
	` + elementStatsConflict,

	// Kinds and types arrive as JSON arrays so that one prepared statement serves every
	// filter: ?5 = '' means all kinds; ?7 = 0 means all service types, else only those in
	// ?8 (an empty array: none).
	qLockJobs: `UPDATE jobs SET lock_owner = ?1, locked_until = ?2 WHERE id IN (SELECT id FROM jobs WHERE due_at <= ?3 AND ` +
		runnable + ` AND (locked_until IS NULL OR locked_until <= ?4)
		AND (?5 = '' OR kind IN (SELECT value FROM json_each(?6)))
		AND (?7 = 0 OR kind <> 'service' OR type IN (SELECT value FROM json_each(?8)))
		AND (?10 = '' OR definition_key = ?10)
		AND (?11 = '' OR instance_id IN (SELECT id FROM instances WHERE business_key = ?11))
		AND (?12 = '' OR definition_id = ?12)
		AND (?13 = '' OR NOT EXISTS (SELECT 1 FROM json_each(?13) f WHERE NOT EXISTS (SELECT 1 FROM variables v
			WHERE v.instance_id = jobs.instance_id AND v.scope = '' AND v.name = json_extract(f.value, '$[0]')
			AND v.value = json_extract(f.value, '$[1]'))))
		ORDER BY due_at LIMIT ?9) RETURNING ` + sqlstore.JobCols,

	// The whole aggregate in one statement: the engine loads one before every command, and
	// the fixed cost of a statement (bind, step, result set) is most of the cost of seven
	// small index lookups. Each branch is tagged with its row kind and padded with NULLs to
	// the widest row (a job); branches come out in order.
	qLoadInstance: `SELECT 0, ` + sqlstore.InstanceCols + pad3 + ` FROM instances WHERE id = ?1
	UNION ALL SELECT 1, ` + sqlstore.TokenCols + pad11 + ` FROM tokens WHERE instance_id = ?1
	UNION ALL SELECT 2, ` + sqlstore.VariableCols + pad12 + ` FROM variables WHERE instance_id = ?1
	UNION ALL SELECT 3, ` + sqlstore.JobCols + ` FROM jobs WHERE instance_id = ?1
	UNION ALL SELECT 4, ` + sqlstore.SubscriptionCols + pad8 + ` FROM subscriptions WHERE instance_id = ?1
	UNION ALL SELECT 5, ` + sqlstore.UserTaskCols + pad5 + ` FROM user_tasks WHERE instance_id = ?1 AND state = 'open'
	UNION ALL SELECT 6, ` + sqlstore.IncidentCols + pad5 + ` FROM incidents WHERE instance_id = ?1 AND state = 'open'
	UNION ALL SELECT 7, ` + sqlstore.CompensationCols + pad8 + ` FROM compensations WHERE instance_id = ?1`,

	qInsertInstance: `INSERT INTO instances (` + sqlstore.InstanceCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,

	// Only the columns a command can change are set, so SQLite leaves the indexes on the
	// others alone. The version check is the optimistic lock.
	qUpdateInstance: `UPDATE instances SET business_key = ?, state = ?, version = ?, incident_count = ?, ended_at = ?, event_seq = ?
	WHERE id = ? AND version = ?`,

	// qMigrateInstance is qUpdateInstance for a migration (store.Change.Migrated): the
	// instance's definition changes too.
	qMigrateInstance: `UPDATE instances SET business_key = ?, state = ?, version = ?, incident_count = ?, ended_at = ?, event_seq = ?,
	definition_id = ?, definition_key = ?, definition_version = ?
	WHERE id = ? AND version = ?`,

	qUpsertToken: `INSERT INTO tokens (` + sqlstore.TokenCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, element_id = excluded.element_id,
	scope_id = excluded.scope_id, state = excluded.state, flow = excluded.flow, created_at = excluded.created_at`,

	qDeleteToken: `DELETE FROM tokens WHERE id = ?`,

	qUpsertVariable: `INSERT INTO variables (` + sqlstore.VariableCols + `) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (instance_id, scope, name) DO UPDATE SET type = excluded.type, value = excluded.value, updated_at = excluded.updated_at`,

	qDeleteVariable: `DELETE FROM variables WHERE instance_id = ? AND scope = ? AND name = ?`,

	qDeleteSubscription: `DELETE FROM subscriptions WHERE id = ?`,

	qUpsertTask: `INSERT INTO user_tasks (` + sqlstore.UserTaskCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, name = excluded.name,
	assignee = excluded.assignee, candidate_groups = excluded.candidate_groups, form_key = excluded.form_key,
	state = excluded.state, created_at = excluded.created_at, due_at = excluded.due_at, completed_at = excluded.completed_at`,

	qUpsertIncident: `INSERT INTO incidents (` + sqlstore.QueueIncidentCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_key = excluded.definition_key, job_id = excluded.job_id,
	type = excluded.type, message = excluded.message, details = excluded.details, state = excluded.state,
	created_at = excluded.created_at, resolved_at = excluded.resolved_at, cause_incident_id = excluded.cause_incident_id,
	fingerprint = excluded.fingerprint, error_code = excluded.error_code`,

	qInsertIncidentGroup: sqlstore.InsertIncidentGroup.Text(sqlstore.SQLite),

	qUpsertCompensation: `INSERT INTO compensations (` + sqlstore.CompensationCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, scope_id = excluded.scope_id,
	element_id = excluded.element_id, handler_id = excluded.handler_id, inner_scope_id = excluded.inner_scope_id,
	seq = excluded.seq, throw_token_id = excluded.throw_token_id, position = excluded.position,
	completed_at = excluded.completed_at`,

	qDeleteCompensation: `DELETE FROM compensations WHERE id = ?`,

	// seq comes back as the last insert rowid (events.seq is the rowid).
	qInsertEvent: `INSERT INTO events (` + sqlstore.EventInsertCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
}

// insertEventsSQL is the n-row form of qInsertEvent.
func insertEventsSQL(n int) string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return `INSERT INTO events (` + sqlstore.EventInsertCols + `) VALUES ` +
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

// waitingTokensSQL starts from the tokens at one element (tokens_element) and keeps those
// of the definition's active instances that arrived before the cutoff: it reads running
// work only. CROSS JOIN fixes that join order (see sqlstore's countTokens).
const waitingTokensSQL = `SELECT t.id, t.instance_id, t.element_id, t.created_at,
	EXISTS (SELECT 1 FROM incidents x WHERE x.instance_id = t.instance_id AND x.state = 'open' AND x.token_id = t.id)
	FROM tokens t CROSS JOIN instances i ON i.id = t.instance_id
	WHERE t.element_id = ? AND t.created_at < ? AND i.definition_id = ? AND i.state = 'active'`
