package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Runnable is the condition of a job the executor may run. Unlocked adds "not locked".
// Both stores index jobs with exactly these terms (SQLite's jobs_runnable, PostgreSQL's
// jobs_due partial indexes), so queries that read those indexes must use them as written.
const (
	Runnable = `NOT suspended AND retries > 0`
	Unlocked = Runnable + ` AND locked_until IS NULL`
)

// Definitions.

var (
	getDefinition       = read(`SELECT ` + DefinitionCols + ` FROM definitions WHERE id = ?`)
	latestDefinition    = read(`SELECT ` + DefinitionCols + ` FROM definitions WHERE key = ? ORDER BY version DESC LIMIT 1`)
	definitionByVersion = read(`SELECT ` + DefinitionCols + ` FROM definitions WHERE key = ? AND version = ?`)
	insertDefinition    = write(`INSERT INTO definitions (` + DefinitionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// The condition is that of the definitions_version_tag partial index, as written.
	definitionByVersionTag = read(`SELECT ` + DefinitionCols + ` FROM definitions WHERE key = ? AND version_tag <> '' AND version_tag = ?
	ORDER BY version DESC LIMIT 1`)
	definitionByChecksum = read(`SELECT ` + DefinitionCols + ` FROM definitions WHERE key = ? AND checksum = ? ORDER BY version DESC LIMIT 1`)
)

const (
	listDefinitionsSQL = `SELECT ` + DefinitionCols + ` FROM definitions d`
	// The latest version of each service's key: a probe of definitions_service_key_version.
	latestOnlyCond = `version = (SELECT max(version) FROM definitions d2 WHERE d2.service = d.service AND d2.key = d.key)`
)

func (q *Queries) InsertDefinition(ctx context.Context, d *store.Definition) error {
	xml := d.XML
	if xml == nil {
		xml = []byte{}
	}
	_, err := q.exec(ctx, fmt.Sprintf("insert definition %s version %d", d.Key, d.Version), q.static(insertDefinition,
		d.ID, d.Key, d.Version, d.Name, d.Checksum, d.Resource, xml, q.D.Time(d.DeployedAt), d.VersionTag, d.Service))
	return err
}

func (q *Queries) GetDefinition(ctx context.Context, id string) (*store.Definition, error) {
	return One(ctx, q.C, "get definition", "definition "+strconv.Quote(id), q.static(getDefinition, id), q.D.ScanDefinition)
}

func (q *Queries) LatestDefinition(ctx context.Context, key string) (*store.Definition, error) {
	return One(ctx, q.C, "latest definition", "latest definition "+strconv.Quote(key), q.static(latestDefinition, key),
		q.D.ScanDefinition)
}

func (q *Queries) DefinitionByVersion(ctx context.Context, key string, version int) (*store.Definition, error) {
	return One(ctx, q.C, "definition by version", fmt.Sprintf("definition %q version %d", key, version),
		q.static(definitionByVersion, key, version), q.D.ScanDefinition)
}

func (q *Queries) DefinitionByVersionTag(ctx context.Context, key, tag string) (*store.Definition, error) {
	return One(ctx, q.C, "definition by version tag", fmt.Sprintf("definition %q with version tag %q", key, tag),
		q.static(definitionByVersionTag, key, tag), q.D.ScanDefinition)
}

func (q *Queries) DefinitionByChecksum(ctx context.Context, key, checksum string) (*store.Definition, error) {
	return One(ctx, q.C, "definition by checksum", fmt.Sprintf("definition %q deployed from document %.12s", key, checksum),
		q.static(definitionByChecksum, key, checksum), q.D.ScanDefinition)
}

func (q *Queries) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error) {
	b := NewQuery(q.D, listDefinitionsSQL)
	if f.Key != "" {
		b.And(`key = ?`, f.Key)
	}
	if f.Service != "" {
		b.And(`service = ?`, f.Service)
	}
	if f.LatestOnly {
		b.And(latestOnlyCond)
	}
	if f.Checksum != "" {
		b.And(`checksum = ?`, f.Checksum)
	}
	b.Tail(` ORDER BY service, key, version`)
	return All(ctx, q.C, "list definitions", built(b), q.D.ScanDefinition)
}

// Instances and variables.

var getInstance = read(`SELECT ` + InstanceCols + ` FROM instances WHERE id = ?`)

func (q *Queries) GetInstance(ctx context.Context, id string) (*store.Instance, error) {
	return One(ctx, q.C, "get instance", "instance "+strconv.Quote(id), q.static(getInstance, id), q.D.ScanInstance)
}

// ListVariables returns the variables of the given instances (every scope), by instance id, scope and name.
func (q *Queries) ListVariables(ctx context.Context, instanceIDs []string) ([]*store.Variable, error) {
	if len(instanceIDs) == 0 {
		return nil, nil
	}
	b := NewQuery(q.D, `SELECT `+VariableCols+` FROM variables`)
	b.In(`instance_id`, false, instanceIDs)
	b.Tail(` ORDER BY instance_id, scope, name`)
	return All(ctx, q.C, fmt.Sprintf("list variables of %d instances", len(instanceIDs)), built(b), q.D.ScanVariable)
}

// ListTokens returns the tokens of the given instances, by instance id and arrival.
func (q *Queries) ListTokens(ctx context.Context, instanceIDs []string) ([]*store.Token, error) {
	if len(instanceIDs) == 0 {
		return nil, nil
	}
	b := NewQuery(q.D, `SELECT `+TokenCols+` FROM tokens`)
	b.In(`instance_id`, false, instanceIDs)
	b.Tail(` ORDER BY instance_id, created_at, id`)
	return All(ctx, q.C, fmt.Sprintf("list tokens of %d instances", len(instanceIDs)), built(b), q.D.ScanToken)
}

// Jobs.

var (
	getJob = read(`SELECT ` + JobCols + ` FROM jobs WHERE id = ?`)
	// UpsertJob writes one job row (PutJob; SQLite's Apply too).
	UpsertJob = write(`INSERT INTO jobs (` + JobCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, type = excluded.type, instance_id = excluded.instance_id,
	token_id = excluded.token_id, element_id = excluded.element_id, definition_id = excluded.definition_id,
	definition_key = excluded.definition_key, retries = excluded.retries, attempt = excluded.attempt,
	due_at = excluded.due_at, suspended = excluded.suspended, lock_owner = excluded.lock_owner,
	locked_until = excluded.locked_until, repeat = excluded.repeat, last_error = excluded.last_error,
	error_details = excluded.error_details, created_at = excluded.created_at`)
	// DeleteJob deletes one job by id.
	DeleteJob       = write(`DELETE FROM jobs WHERE id = ?`)
	deleteStartJobs = write(`DELETE FROM jobs WHERE instance_id = '' AND definition_key = ?`)
	// nextJobDue probes the earliest unlocked runnable job, the earliest lock expiry of a
	// locked one that was due by then (nearly all: a job is locked once due), and the
	// earliest due time of a locked one due only after its lock ends (a worker locked it
	// early). A locked job counts with the later of its due time and its expiry, and
	// each probe is one step down an index: the jobs table churns (every job is
	// inserted and deleted), and a scan of all locked rows for the least of the two
	// walked its dead tuples too, the whole heap on PostgreSQL between two vacuums.
	nextJobDue = readf(func(d *Dialect) string {
		return `SELECT
	(SELECT due_at FROM jobs WHERE ` + Unlocked + ` ORDER BY due_at LIMIT 1),
	(SELECT locked_until FROM jobs WHERE locked_until IS NOT NULL AND due_at <= locked_until AND ` + Runnable + `
		ORDER BY locked_until LIMIT 1),
	(SELECT due_at FROM jobs` + d.indexedBy("jobs_locked_early") + `
		WHERE locked_until IS NOT NULL AND due_at > locked_until AND ` + Runnable + ` ORDER BY due_at LIMIT 1)`
	})
)

// JobArgs are the arguments of UpsertJob.
func (d *Dialect) JobArgs(j *store.Job) []any {
	return []any{j.ID, j.Kind, j.Type, j.InstanceID, j.TokenID, j.ElementID, j.DefinitionID, j.DefinitionKey,
		j.Retries, j.Attempt, d.Time(j.DueAt), d.Bool(j.Suspended), j.LockOwner, d.NullTime(j.LockedUntil), j.Repeat,
		j.LastError, j.ErrorDetails, d.Time(j.CreatedAt)}
}

func (q *Queries) GetJob(ctx context.Context, id string) (*store.Job, error) {
	return One(ctx, q.C, "get job", "job "+strconv.Quote(id), q.static(getJob, id), q.D.ScanJob)
}

func (q *Queries) PutJob(ctx context.Context, j *store.Job) error {
	_, err := q.exec(ctx, fmt.Sprintf("put job %q", j.ID), q.static(UpsertJob, q.D.JobArgs(j)...))
	return err
}

func (q *Queries) DeleteJob(ctx context.Context, id string) error {
	return q.execOne(ctx, fmt.Sprintf("delete job %q", id), q.static(DeleteJob, id))
}

func (q *Queries) DeleteStartJobs(ctx context.Context, definitionKey string) error {
	_, err := q.exec(ctx, fmt.Sprintf("delete start jobs of %q", definitionKey), q.static(deleteStartJobs, definitionKey))
	return err
}

func (q *Queries) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	b := NewQuery(q.D, `SELECT `+JobCols+` FROM jobs`)
	jobFilter(b, q.D, f)
	b.Tail(` ORDER BY due_at, id LIMIT ?`, q.D.Limit(f.Limit))
	if f.Offset > 0 {
		b.Tail(` OFFSET ?`, f.Offset)
	}
	return All(ctx, q.C, "list jobs", built(b), q.D.ScanJob)
}

func (q *Queries) CountJobs(ctx context.Context, f store.JobFilter) (int64, error) {
	b := NewQuery(q.D, `SELECT count(*) FROM jobs`)
	jobFilter(b, q.D, f)
	var n int64
	err := q.row(ctx, "count jobs", built(b), &n)
	return n, err
}

// jobFilter adds the conditions of f to a query of the jobs table.
func jobFilter(b *Query, d *Dialect, f store.JobFilter) {
	for _, c := range []struct{ col, v string }{{"id", f.ID}, {"instance_id", f.InstanceID}, {"type", f.Type}, {"lock_owner", f.LockOwner},
		{"kind", f.Kind}, {"definition_id", f.DefinitionID}, {"definition_key", f.DefinitionKey}, {"element_id", f.ElementID}} {
		if c.v != "" {
			b.And(c.col+` = ?`, c.v)
		}
	}
	if f.Locked != nil {
		if *f.Locked {
			b.And(`lock_owner <> '' AND locked_until > ?`, d.Time(f.Now))
		} else {
			b.And(`(lock_owner = '' OR locked_until IS NULL OR locked_until <= ?)`, d.Time(f.Now))
		}
	}
	if f.HasRetries != nil {
		if *f.HasRetries {
			b.And(`retries > 0`)
		} else {
			b.And(`retries <= 0`)
		}
	}
}

// NextJobDue returns when the next runnable job is due (a locked one when its lock ends,
// or when it is due if that is later).
func (q *Queries) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var probes [3]*time.Time
	if err := q.row(ctx, "next job due", q.static(nextJobDue), q.D.nullTimeDest(&probes[0]), q.D.nullTimeDest(&probes[1]),
		q.D.nullTimeDest(&probes[2])); err != nil {
		return time.Time{}, false, err
	}
	var next *time.Time
	for _, p := range probes {
		if p != nil && (next == nil || p.Before(*next)) {
			next = p
		}
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}

// CountJobTypes implements store.Tx. The excluded types travel as one parameter, so the
// statement text does not depend on how many there are.
func (q *Queries) CountJobTypes(ctx context.Context, f store.JobTypeFilter) ([]store.JobTypeCount, error) {
	b := NewQuery(q.D, `SELECT type, COUNT(*) FROM jobs`)
	b.And(`kind = 'service' AND retries > 0`)
	if f.DefinitionKey != "" {
		b.And(`definition_key = ?`, f.DefinitionKey)
	}
	if f.InstanceID != "" {
		b.And(`instance_id = ?`, f.InstanceID)
	}
	if len(f.ExcludeTypes) > 0 {
		b.In(`type`, true, f.ExcludeTypes)
	}
	b.Tail(` GROUP BY type ORDER BY type LIMIT ?`, q.D.Limit(f.Limit))
	counts, err := All(ctx, q.C, "count job types", built(b), func(s Scanner) (*store.JobTypeCount, error) {
		var c store.JobTypeCount
		return &c, s.Scan(&c.Type, &c.Jobs)
	})
	out := make([]store.JobTypeCount, len(counts))
	for i, c := range counts {
		out[i] = *c
	}
	return out, err
}

// Subscriptions.

var (
	// findSubscriptions: the instance message subscriptions by (name, key), plus the
	// start subscriptions of the name. Two index lookups joined by UNION ALL: an OR would
	// scan every subscription of the name. Signal subscriptions (kind 'signal') share the
	// table and the name column, never a message's delivery.
	findSubscriptions = read(`SELECT ` + SubscriptionCols + ` FROM subscriptions WHERE message_name = ? AND correlation_key = ? AND instance_id <> '' AND kind = ''
	UNION ALL
	SELECT ` + SubscriptionCols + ` FROM subscriptions WHERE instance_id = '' AND message_name = ? AND kind = ''
	ORDER BY created_at, id`)
	// UpsertSubscription writes one subscription row (PutSubscription; SQLite's Apply too).
	UpsertSubscription = write(`INSERT INTO subscriptions (` + SubscriptionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET instance_id = excluded.instance_id, token_id = excluded.token_id,
	element_id = excluded.element_id, definition_id = excluded.definition_id, definition_key = excluded.definition_key,
	message_name = excluded.message_name, correlation_key = excluded.correlation_key, created_at = excluded.created_at,
	kind = excluded.kind`)
	// signalSubscriptions: one step of a broadcast, on the partial index subscriptions_signal.
	signalSubscriptions = read(`SELECT ` + SubscriptionCols + ` FROM subscriptions WHERE kind = 'signal' AND message_name = ? AND id > ? AND id <= ?
	ORDER BY id LIMIT ?`)
	// conditionalStartSubscriptions: on subscriptions_instance (instance_id = '' holds
	// only the start subscriptions, a few per process).
	conditionalStartSubscriptions = read(`SELECT ` + SubscriptionCols + ` FROM subscriptions WHERE instance_id = '' AND kind = 'conditional'
	AND (? = '' OR definition_key = ?) ORDER BY definition_key, id LIMIT ?`)
	insertSignal             = write(`INSERT INTO signals (` + SignalCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	getSignal                = read(`SELECT ` + SignalCols + ` FROM signals WHERE id = ?`)
	updateSignal             = write(`UPDATE signals SET last_id = ?, delivered = ? WHERE id = ?`)
	deleteSignal             = write(`DELETE FROM signals WHERE id = ?`)
	deleteStartSubscriptions = write(`DELETE FROM subscriptions WHERE instance_id = '' AND definition_key = ?`)
)

// SubscriptionArgs are the arguments of UpsertSubscription.
func (d *Dialect) SubscriptionArgs(s *store.Subscription) []any {
	return []any{s.ID, s.InstanceID, s.TokenID, s.ElementID, s.DefinitionID, s.DefinitionKey, s.MessageName,
		s.CorrelationKey, d.Time(s.CreatedAt), s.Kind}
}

func (q *Queries) SignalSubscriptions(ctx context.Context, name, after, upto string, limit int) ([]*store.Subscription, error) {
	return All(ctx, q.C, fmt.Sprintf("signal subscriptions of %q", name),
		q.static(signalSubscriptions, name, after, upto, q.D.Limit(limit)), q.D.ScanSubscription)
}

func (q *Queries) ConditionalStartSubscriptions(ctx context.Context, definitionKey string, limit int) ([]*store.Subscription, error) {
	return All(ctx, q.C, fmt.Sprintf("conditional start subscriptions of %q", definitionKey),
		q.static(conditionalStartSubscriptions, definitionKey, definitionKey, q.D.Limit(limit)), q.D.ScanSubscription)
}

func (q *Queries) InsertSignal(ctx context.Context, s *store.Signal) error {
	_, err := q.exec(ctx, fmt.Sprintf("insert signal %q", s.ID), q.static(insertSignal,
		s.ID, s.Name, s.Variables, s.Upto, s.LastID, s.InstanceID, s.Delivered, q.D.Time(s.CreatedAt)))
	return err
}

func (q *Queries) GetSignal(ctx context.Context, id string) (*store.Signal, error) {
	return One(ctx, q.C, fmt.Sprintf("get signal %q", id), "signal", q.static(getSignal, id), q.D.ScanSignal)
}

func (q *Queries) UpdateSignal(ctx context.Context, s *store.Signal) error {
	return q.execOne(ctx, fmt.Sprintf("update signal %q", s.ID), q.static(updateSignal, s.LastID, s.Delivered, s.ID))
}

func (q *Queries) DeleteSignal(ctx context.Context, id string) error {
	return q.execOne(ctx, fmt.Sprintf("delete signal %q", id), q.static(deleteSignal, id))
}

func (q *Queries) FindSubscriptions(ctx context.Context, name, key string) ([]*store.Subscription, error) {
	return All(ctx, q.C, fmt.Sprintf("find subscriptions for message %q key %q", name, key),
		q.static(findSubscriptions, name, key, name), q.D.ScanSubscription)
}

func (q *Queries) PutSubscription(ctx context.Context, s *store.Subscription) error {
	_, err := q.exec(ctx, fmt.Sprintf("put subscription %q", s.ID), q.static(UpsertSubscription, q.D.SubscriptionArgs(s)...))
	return err
}

func (q *Queries) DeleteStartSubscriptions(ctx context.Context, definitionKey string) error {
	_, err := q.exec(ctx, fmt.Sprintf("delete start subscriptions of %q", definitionKey),
		q.static(deleteStartSubscriptions, definitionKey))
	return err
}

// Incidents, user tasks and history: what the pages and the API read.

var (
	getIncident = read(`SELECT ` + IncidentCols + ` FROM incidents WHERE id = ?`)
	getUserTask = read(`SELECT ` + UserTaskCols + ` FROM user_tasks WHERE id = ?`)
)

// ListIncidents returns incidents newest first.
func (q *Queries) ListIncidents(ctx context.Context, f store.IncidentFilter) ([]*store.Incident, error) {
	b := NewQuery(q.D, `SELECT `+IncidentCols+` FROM incidents`)
	if f.InstanceID != "" {
		b.And(`instance_id = ?`, f.InstanceID)
	}
	if f.DefinitionKey != "" {
		b.And(`definition_key = ?`, f.DefinitionKey)
	}
	if f.State != "" {
		b.And(`state = ?`, f.State)
	}
	b.Tail(` ORDER BY created_at DESC, id DESC LIMIT ?`, q.D.Limit(f.Limit))
	return All(ctx, q.C, "list incidents", built(b), q.D.ScanIncident)
}

func (q *Queries) GetIncident(ctx context.Context, id string) (*store.Incident, error) {
	return One(ctx, q.C, "get incident", "incident "+strconv.Quote(id), q.static(getIncident, id), q.D.ScanIncident)
}

// ListUserTasks returns tasks oldest first (a work queue).
func (q *Queries) ListUserTasks(ctx context.Context, f store.UserTaskFilter) ([]*store.UserTask, error) {
	b := NewQuery(q.D, `SELECT `+UserTaskCols+` FROM user_tasks`)
	if f.InstanceID != "" {
		b.And(`instance_id = ?`, f.InstanceID)
	}
	if f.State != "" {
		b.And(`state = ?`, f.State)
	}
	if f.Assignee != "" {
		b.And(`assignee = ?`, f.Assignee)
	}
	if f.Service != "" {
		b.And(serviceKeyCond, f.Service)
		b.And(fmt.Sprintf(serviceInstanceCond, "user_tasks"), f.Service)
	}
	b.Tail(` ORDER BY created_at, id LIMIT ?`, q.D.Limit(f.Limit))
	return All(ctx, q.C, "list user tasks", built(b), q.D.ScanUserTask)
}

func (q *Queries) GetUserTask(ctx context.Context, id string) (*store.UserTask, error) {
	return One(ctx, q.C, "get user task", "user task "+strconv.Quote(id), q.static(getUserTask, id), q.D.ScanUserTask)
}

// ListEvents returns history events by seq.
func (q *Queries) ListEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	b := NewQuery(q.D, `SELECT `+EventCols+` FROM events`)
	if f.InstanceID != "" {
		b.And(`instance_id = ?`, f.InstanceID)
		if f.AfterInstanceSeq > 0 {
			b.And(`instance_seq > ?`, f.AfterInstanceSeq)
		}
	}
	if f.JobID != "" {
		b.And(`job_id = ?`, f.JobID)
	}
	if f.AfterSeq > 0 {
		b.And(`seq > ?`, f.AfterSeq)
	}
	b.Tail(` ORDER BY seq LIMIT ?`, q.D.Limit(f.Limit))
	return All(ctx, q.C, "list events", built(b), q.D.ScanEvent)
}

// Counts.

var (
	// countTokens walks the tokens (one per waiting path of a running instance) and keeps
	// those of the definition; it never reads finished instances. CROSS JOIN is SQLite's
	// way to fix that join order: left to itself its planner starts from the definition's
	// instances (the index on definition_id), which reads the whole history.
	countTokens = readf(func(d *Dialect) string {
		join := `CROSS JOIN`
		if d.pg {
			join = `JOIN`
		}
		return `SELECT t.element_id, count(*) FROM tokens t ` + join + ` instances i ON i.id = t.instance_id
	WHERE i.definition_id = ? GROUP BY t.element_id`
	})
	elementCounts = read(`SELECT element_id, completed FROM element_stats WHERE definition_id = ?`)
)

// CountTokens counts a definition's tokens per element.
func (q *Queries) CountTokens(ctx context.Context, definitionID string) (map[string]int, error) {
	return countBy[int](ctx, q, fmt.Sprintf("count tokens of %q", definitionID), q.static(countTokens, definitionID))
}

// ElementCounts reads a definition's stored completion counts: one primary-key range of
// element_stats.
func (q *Queries) ElementCounts(ctx context.Context, definitionID string) (map[string]int64, error) {
	return countBy[int64](ctx, q, fmt.Sprintf("element counts of %q", definitionID), q.static(elementCounts, definitionID))
}

// Outbox, leases and audit.

// outboxCursor is the seq up to which the relay has published everything.
const outboxCursor = `coalesce((SELECT seq FROM outbox_cursor WHERE name = 'relay'), 0)`

var (
	listOutbox  = read(`SELECT ` + EventCols + ` FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT ?`)
	outboxAfter = read(`SELECT seq FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT ?`)
	outboxStats = read(`SELECT (SELECT count(*) FROM events WHERE seq > ` + outboxCursor + `),
	(SELECT time FROM events WHERE seq > ` + outboxCursor + ` ORDER BY seq LIMIT 1)`)
	setOutboxCursor = write(`INSERT INTO outbox_cursor (name, seq) VALUES ('relay', ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`)
	parkOutbox      = write(`INSERT INTO outbox_parked (` + ParkedCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING`)
	listParked      = read(`SELECT ` + ParkedCols + ` FROM outbox_parked ORDER BY seq DESC LIMIT ?`)
	countParked     = read(`SELECT count(*) FROM outbox_parked`)

	// acquireLease takes the lease when it is free, expired or ours already; a row comes
	// back when we hold it.
	acquireLease = write(`INSERT INTO leases (name, owner, until) VALUES (?, ?, ?)
	ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
	WHERE leases.owner = excluded.owner OR leases.until <= ?
	RETURNING owner`)
	releaseLease = write(`DELETE FROM leases WHERE name = ? AND owner = ?`)

	insertAudit = writef(func(d *Dialect) string {
		return `INSERT INTO audit (` + AuditCols + `) VALUES (?, ?, ?, ?, ?, ?, ` + d.jsonParam() + `, ?, ?, ?)`
	})
	updateAudit = writef(func(d *Dialect) string {
		return `UPDATE audit SET result = ?, error = ?, request = ` + d.jsonParam() + `,
		instance_id = CASE WHEN ? = '' THEN instance_id ELSE ? END WHERE id = ?`
	})
)

// ListOutbox returns queued events, lowest seq first.
func (q *Queries) ListOutbox(ctx context.Context, limit int) ([]*store.Event, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list outbox: limit %d must be positive", limit)
	}
	return All(ctx, q.C, "list outbox", q.static(listOutbox, limit), q.D.ScanEvent)
}

// DeleteOutbox records published events: the cursor moves past the unbroken run of
// published events at the head; anything published beyond a gap is handed out again.
func (q *Queries) DeleteOutbox(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	st := q.static(outboxAfter, len(seqs))
	st.Write = true // read on the writer: the cursor moves from what it sees
	var head []int64
	err := q.C.Rows(ctx, "delete outbox", st, func(s Scanner) error {
		var v int64
		if err := s.Scan(&v); err != nil {
			return err
		}
		head = append(head, v)
		return nil
	})
	if err != nil {
		return q.C.Err("delete outbox", err)
	}
	cursor := store.OutboxCursor(seqs, head)
	if cursor < 0 {
		return nil
	}
	_, err = q.exec(ctx, "move the outbox cursor", q.static(setOutboxCursor, cursor))
	return err
}

// OutboxStats returns the queue length and the time of its oldest event.
func (q *Queries) OutboxStats(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest *time.Time
	if err := q.row(ctx, "outbox stats", q.static(outboxStats), &n, q.D.nullTimeDest(&oldest)); err != nil {
		return 0, time.Time{}, err
	}
	if n == 0 || oldest == nil {
		return n, time.Time{}, nil
	}
	return n, oldest.UTC(), nil
}

// ParkOutbox records events the relay set aside (a few, rarely).
func (q *Queries) ParkOutbox(ctx context.Context, evs []*store.ParkedEvent) error {
	for _, p := range evs {
		if _, err := q.exec(ctx, fmt.Sprintf("park event %d", p.Seq), q.static(parkOutbox, p.Seq, p.ID, p.InstanceID,
			string(p.Type), p.Bytes, p.Reason, q.D.Bool(p.Placeholder), q.D.Time(p.ParkedAt))); err != nil {
			return err
		}
	}
	return nil
}

// ListParked returns parked events, newest first.
func (q *Queries) ListParked(ctx context.Context, limit int) ([]*store.ParkedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list parked events: limit %d must be positive", limit)
	}
	return All(ctx, q.C, "list parked events", q.static(listParked, limit), q.D.ScanParked)
}

// CountParked returns how many events were parked.
func (q *Queries) CountParked(ctx context.Context) (int64, error) {
	var n int64
	if err := q.row(ctx, "count parked events", q.static(countParked), &n); err != nil {
		return 0, err
	}
	return n, nil
}

// AcquireLease takes or renews a named lease.
func (q *Queries) AcquireLease(ctx context.Context, name, owner string, now, until time.Time) (bool, error) {
	if name == "" || owner == "" {
		return false, errors.New("acquire lease: name and owner are required")
	}
	op := fmt.Sprintf("acquire lease %q", name)
	held := false
	err := q.C.Rows(ctx, op, q.static(acquireLease, name, owner, q.D.Time(until), q.D.Time(now)), func(s Scanner) error {
		var holder string
		if err := s.Scan(&holder); err != nil {
			return err
		}
		held = holder == owner
		return nil
	})
	if err != nil {
		return false, q.C.Err(op, err)
	}
	return held, nil
}

// ReleaseLease gives a lease up if owner holds it.
func (q *Queries) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := q.exec(ctx, fmt.Sprintf("release lease %q", name), q.static(releaseLease, name, owner))
	return err
}

// InsertAudit records an operator command.
func (q *Queries) InsertAudit(ctx context.Context, a *store.AuditEntry) error {
	if a.ID == "" || a.Actor == "" || a.Command == "" || a.Result == "" {
		return errors.New("insert audit: id, actor, command and result are required")
	}
	req, err := q.D.JSON(a.Request)
	if err != nil {
		return fmt.Errorf("insert audit %q: request: %w", a.ID, err)
	}
	_, err = q.exec(ctx, fmt.Sprintf("insert audit %q", a.ID), q.static(insertAudit, a.ID, q.D.Time(a.Time), a.Actor,
		a.Command, a.Target, a.Reason, req, a.Result, a.Error, a.InstanceID))
	return err
}

// UpdateAudit sets the result, error and request of an audit row.
func (q *Queries) UpdateAudit(ctx context.Context, a *store.AuditEntry) error {
	if a.ID == "" || a.Result == "" {
		return errors.New("update audit: id and result are required")
	}
	req, err := q.D.JSON(a.Request)
	if err != nil {
		return fmt.Errorf("update audit %q: request: %w", a.ID, err)
	}
	return q.execOne(ctx, fmt.Sprintf("update audit %q", a.ID), q.static(updateAudit, a.Result, a.Error, req, a.InstanceID, a.InstanceID, a.ID))
}

// ListAudit lists audit entries, newest first.
func (q *Queries) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	return All(ctx, q.C, "list audit", built(ListAuditQuery(q.D, f)), q.D.ScanAudit)
}

// ListAuditQuery is ListAudit's statement. Each filter has an index that leads with it
// (audit_actor, audit_target, audit_instance, audit_command); an instance's entries are
// those naming it as target or as instance.
func ListAuditQuery(d *Dialect, f store.AuditFilter) *Query {
	b := NewQuery(d, `SELECT `+AuditCols+` FROM audit`)
	if f.Actor != "" {
		b.And(`actor = ?`, f.Actor)
	}
	if f.Target != "" {
		b.And(`target = ?`, f.Target)
	}
	if f.Instance != "" {
		b.And(`(target = ? OR (instance_id = ? AND instance_id <> ''))`, f.Instance, f.Instance)
	}
	if f.Command != "" {
		b.And(`command = ?`, f.Command)
	}
	if f.Result != "" {
		b.And(`result = ?`, f.Result)
	}
	if !f.Since.IsZero() {
		b.And(`time >= ?`, d.Time(f.Since))
	}
	if !f.Until.IsZero() {
		b.And(`time < ?`, d.Time(f.Until))
	}
	if c := f.Before; c != nil {
		b.And(`(time < ? OR (time = ? AND id < ?))`, d.Time(c.Time), d.Time(c.Time), c.ID)
	}
	b.Tail(` ORDER BY time DESC, id DESC LIMIT ?`, d.Limit(f.Limit))
	return b
}
