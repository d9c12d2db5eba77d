package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents/fingerprint"
)

// The incident queue (see store.IncidentQueueTx). The drivers write an incident's
// fingerprint and error code with the incident (IncidentKeys), and its group's record in
// the same statement batch (InsertIncidentGroup here, a batched form in PostgreSQL).

const (
	// QueueIncidentCols are IncidentCols and the queue's own columns. The engine's reads
	// keep IncidentCols: the aggregate load (SQLite's one UNION) has a fixed width.
	QueueIncidentCols = IncidentCols + `, fingerprint, error_code`
	IncidentGroupCols = `fingerprint, definition_key, element_id, type, error_code, message, first_incident_id, first_seen,
	assignee, assigned_by, assigned_at, assign_note, notify_state, notify_attempts, notify_next_at, notify_error, notified_at`
	IncidentNoteCols = `id, fingerprint, kind, text, actor, created_at`
)

// IncidentKeys computes what the store writes with an incident: its fingerprint, its
// error code, and its masked message (the group record's).
func IncidentKeys(in *store.Incident) (fp, code, masked string) {
	return fingerprint.Of(in.DefinitionKey, in.ElementID, in.Type, in.Message), fingerprint.ErrorCode(in.Type, in.Message),
		fingerprint.Mask(in.Message)
}

var (
	// InsertIncidentGroup writes a group's record unless the fingerprint has one:
	// fingerprint, definition key, element, type, error code, masked message, first
	// incident, first seen, notice state, next attempt.
	InsertIncidentGroup = write(`INSERT INTO incident_groups (fingerprint, definition_key, element_id, type, error_code,
	message, first_incident_id, first_seen, notify_state, notify_next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (fingerprint) DO NOTHING`)
	getIncidentGroup    = read(`SELECT ` + IncidentGroupCols + ` FROM incident_groups WHERE fingerprint = ?`)
	assignIncidentGroup = write(`UPDATE incident_groups SET assignee = ?, assigned_by = ?, assigned_at = ?, assign_note = ?
	WHERE fingerprint = ?`)
	insertIncidentNote = write(`INSERT INTO incident_notes (` + IncidentNoteCols + `) VALUES (?, ?, ?, ?, ?, ?)`)
	listIncidentNotes  = read(`SELECT ` + IncidentNoteCols + ` FROM incident_notes WHERE fingerprint = ?
	ORDER BY created_at DESC, id DESC LIMIT ?`)
	// The partial index incident_groups_pending holds exactly the pending rows.
	dueIncidentNotices = read(`SELECT ` + IncidentGroupCols + ` FROM incident_groups
	WHERE notify_state = 'pending' AND notify_next_at <= ? ORDER BY notify_next_at, fingerprint LIMIT ?`)
	claimIncidentNotice = write(`UPDATE incident_groups SET notify_next_at = ?, notify_attempts = notify_attempts + 1
	WHERE fingerprint = ? AND notify_state = 'pending' AND notify_attempts = ?`)
	updateIncidentNotice = write(`UPDATE incident_groups SET notify_state = ?, notify_next_at = ?, notify_error = ?,
	notified_at = ? WHERE fingerprint = ?`)
	// Open incidents first: the page groups those.
	unfingerprinted = read(`SELECT ` + IncidentCols + ` FROM incidents WHERE fingerprint = ''
	ORDER BY state = 'open' DESC, id LIMIT ?`)
	setIncidentKeys = write(`UPDATE incidents SET fingerprint = ?, error_code = ? WHERE id = ?`)
)

// ScanQueueIncident reads a QueueIncidentCols row.
func (d *Dialect) ScanQueueIncident(s Scanner) (*store.Incident, error) {
	var in store.Incident
	if err := s.Scan(&in.ID, &in.InstanceID, &in.TokenID, &in.ElementID, &in.DefinitionKey, &in.JobID, &in.Type,
		&in.Message, &in.Details, &in.State, d.timeDest(&in.CreatedAt), d.nullTimeDest(&in.ResolvedAt), &in.CauseIncidentID,
		&in.Fingerprint, &in.ErrorCode); err != nil {
		return nil, err
	}
	in.CreatedAt = utc(in.CreatedAt)
	in.ResolvedAt = utcPtr(in.ResolvedAt)
	return &in, nil
}

// ScanIncidentGroupRecord reads an IncidentGroupCols row.
func (d *Dialect) ScanIncidentGroupRecord(s Scanner) (*store.IncidentGroupRecord, error) {
	var g store.IncidentGroupRecord
	if err := s.Scan(d.groupDest(&g)...); err != nil {
		return nil, err
	}
	d.groupUTC(&g)
	return &g, nil
}

func (d *Dialect) groupDest(g *store.IncidentGroupRecord) []any {
	return []any{&g.Fingerprint, &g.DefinitionKey, &g.ElementID, &g.Type, &g.ErrorCode, &g.Message, &g.FirstIncidentID,
		d.timeDest(&g.FirstSeen), &g.Assignee, &g.AssignedBy, d.nullTimeDest(&g.AssignedAt), &g.AssignNote, &g.NotifyState,
		&g.NotifyAttempts, d.timeDest(&g.NotifyNextAt), &g.NotifyError, d.nullTimeDest(&g.NotifiedAt)}
}

func (d *Dialect) groupUTC(g *store.IncidentGroupRecord) {
	g.FirstSeen, g.NotifyNextAt = utc(g.FirstSeen), utc(g.NotifyNextAt)
	g.AssignedAt, g.NotifiedAt = utcPtr(g.AssignedAt), utcPtr(g.NotifiedAt)
}

// ScanIncidentNote reads an IncidentNoteCols row.
func (d *Dialect) ScanIncidentNote(s Scanner) (*store.IncidentNote, error) {
	var n store.IncidentNote
	if err := s.Scan(&n.ID, &n.Fingerprint, &n.Kind, &n.Text, &n.Actor, d.timeDest(&n.CreatedAt)); err != nil {
		return nil, err
	}
	n.CreatedAt = utc(n.CreatedAt)
	return &n, nil
}

// likeEscape escapes a LIKE pattern's wildcards (the queries say ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// incidentWhere adds the conditions of q to b (columns of incidents, unqualified).
//
// byGroup asks for the conditions on what a fingerprint determines (process, element,
// type, error code) to be checked on the groups' records instead of on each incident:
// the grouping then reads the index ranges of the matching fingerprints
// (incidents_fingerprint, covering) and never looks up an incident row for them, where a
// test of the incident's own columns looked up every incident of the state (a hundred
// thousand resolved ones on a large store). A fingerprint's incidents share its process,
// element, type and error code, and its record is written with its first incident; an
// incident not fingerprinted yet (Backfill does it at start) has no record and is left
// out of such a filter.
func incidentWhere(d *Dialect, b *Query, q store.IncidentQuery, byGroup bool) {
	if q.State != "" {
		b.And(`state = ?`, q.State)
	}
	if byGroup && (q.DefinitionKey != "" || q.ElementID != "" || q.Type != "" || q.ErrorCode != "") {
		var conds []string
		var args []any
		for _, c := range []struct{ col, v string }{{"definition_key", q.DefinitionKey}, {"element_id", q.ElementID},
			{"type", q.Type}, {"error_code", q.ErrorCode}} {
			if c.v != "" {
				conds, args = append(conds, c.col+` = ?`), append(args, c.v)
			}
		}
		b.And(`fingerprint IN (SELECT fingerprint FROM incident_groups WHERE `+strings.Join(conds, ` AND `)+`)`, args...)
		q.DefinitionKey, q.ElementID, q.Type, q.ErrorCode = "", "", "", ""
	}
	if q.DefinitionKey != "" {
		b.And(`definition_key = ?`, q.DefinitionKey)
	}
	if q.ElementID != "" {
		b.And(`element_id = ?`, q.ElementID)
	}
	if q.Type != "" {
		b.And(`type = ?`, q.Type)
	}
	if q.ErrorCode != "" {
		b.And(`error_code = ?`, q.ErrorCode)
	}
	if q.Fingerprint != "" {
		b.And(`fingerprint = ?`, q.Fingerprint)
	}
	if q.MessageContains != "" {
		// lower() folds ASCII alike in both databases.
		b.And(`lower(message) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(q.MessageContains))+"%")
	}
	if !q.CreatedAfter.IsZero() {
		b.And(`created_at > ?`, d.Time(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		b.And(`created_at < ?`, d.Time(q.CreatedBefore))
	}
	if q.IDs != nil {
		b.In(`id`, false, q.IDs)
	}
	if q.InstanceIDs != nil {
		b.In(`instance_id`, false, q.InstanceIDs)
	}
	if q.Service != "" {
		// Grouping, the service's keys are checked on the groups' records, as above.
		if byGroup {
			b.And(`fingerprint IN (SELECT fingerprint FROM incident_groups WHERE `+serviceKeyCond+`)`, q.Service)
		} else {
			b.And(serviceKeyCond, q.Service)
		}
		b.And(fmt.Sprintf(serviceInstanceCond, "incidents"), q.Service)
	}
	switch q.Assignee {
	case "":
	case store.IncidentUnassigned:
		b.And(`fingerprint NOT IN (SELECT fingerprint FROM incident_groups WHERE assignee <> '')`)
	default:
		b.And(`fingerprint IN (SELECT fingerprint FROM incident_groups WHERE assignee = ?)`, q.Assignee)
	}
}

// QueueIncidents returns a page of incidents, oldest first.
func (q *Queries) QueueIncidents(ctx context.Context, f store.IncidentQuery, after store.IncidentCursor, limit int) ([]*store.Incident, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("queue incidents: limit %d must be positive", limit)
	}
	return All(ctx, q.C, "queue incidents", built(QueueIncidentsQuery(q.D, f, after, limit)), q.D.ScanQueueIncident)
}

// QueueIncidentsQuery is QueueIncidents's statement.
func QueueIncidentsQuery(d *Dialect, f store.IncidentQuery, after store.IncidentCursor, limit int) *Query {
	b := NewQuery(d, `SELECT `+QueueIncidentCols+` FROM incidents`)
	incidentWhere(d, b, f, false)
	if after.ID != "" {
		at := d.Time(after.CreatedAt)
		b.And(`(created_at > ? OR (created_at = ? AND id > ?))`, at, at, after.ID)
	}
	b.Tail(` ORDER BY created_at, id LIMIT ?`, int64(limit))
	return b
}

// GroupIncidents groups the selected incidents by fingerprint.
func (q *Queries) GroupIncidents(ctx context.Context, f store.IncidentQuery, limit int) ([]*store.IncidentGroup, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("group incidents: limit %d must be positive", limit)
	}
	b := GroupIncidentsQuery(q.D, f, limit)
	return All(ctx, q.C, "group incidents", built(b), func(s Scanner) (*store.IncidentGroup, error) {
		var g store.IncidentGroup
		var rec store.IncidentGroupRecord
		var recFP, defKey, el, typ, code, msg, first, assignee, by, note, state, nerr *string
		var attempts *int64
		var firstSeen, assignedAt, nextAt, notifiedAt *time.Time
		if err := s.Scan(&g.Fingerprint, &g.Count, q.D.timeDest(&g.First), q.D.timeDest(&g.Last), &g.NewestID,
			&recFP, &defKey, &el, &typ, &code, &msg, &first, q.D.nullTimeDest(&firstSeen), &assignee, &by,
			q.D.nullTimeDest(&assignedAt), &note, &state, &attempts, q.D.nullTimeDest(&nextAt), &nerr,
			q.D.nullTimeDest(&notifiedAt)); err != nil {
			return nil, err
		}
		g.First, g.Last = utc(g.First), utc(g.Last)
		if recFP != nil {
			rec = store.IncidentGroupRecord{Fingerprint: *recFP, DefinitionKey: *defKey, ElementID: *el, Type: *typ,
				ErrorCode: *code, Message: *msg, FirstIncidentID: *first, Assignee: *assignee, AssignedBy: *by,
				AssignedAt: assignedAt, AssignNote: *note, NotifyState: *state, NotifyAttempts: int(*attempts),
				NotifyError: *nerr, NotifiedAt: notifiedAt}
			if firstSeen != nil {
				rec.FirstSeen = *firstSeen
			}
			if nextAt != nil {
				rec.NotifyNextAt = *nextAt
			}
			q.D.groupUTC(&rec)
			g.Record = &rec
		}
		return &g, nil
	})
}

// GroupIncidentsQuery is GroupIncidents's statement: the aggregate first, then the
// records of the groups it keeps (the join is by primary key, once per group).
func GroupIncidentsQuery(d *Dialect, f store.IncidentQuery, limit int) *Query {
	b := NewQuery(d, `SELECT a.fp, a.n, a.first_at, a.last_at, a.newest, g.fingerprint, `+prefixed("g.", IncidentGroupCols[len("fingerprint, "):])+`
	FROM (SELECT fingerprint AS fp, count(*) AS n, min(created_at) AS first_at, max(created_at) AS last_at, max(id) AS newest
	FROM incidents`)
	incidentWhere(d, b, f, true)
	b.Tail(` GROUP BY fingerprint ORDER BY max(created_at) DESC, fingerprint LIMIT ?) a
	LEFT JOIN incident_groups g ON g.fingerprint = a.fp ORDER BY a.last_at DESC, a.fp`, int64(limit))
	return b
}

// prefixed qualifies each column of a column list.
func prefixed(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// GetIncidentGroup returns a fingerprint's record.
func (q *Queries) GetIncidentGroup(ctx context.Context, fp string) (*store.IncidentGroupRecord, error) {
	return One(ctx, q.C, "get incident group", "incident group "+fp, q.static(getIncidentGroup, fp), q.D.ScanIncidentGroupRecord)
}

// AssignIncidentGroup sets or clears a group's assignment.
func (q *Queries) AssignIncidentGroup(ctx context.Context, fp, assignee, by, note string, at time.Time) error {
	var atArg any
	if assignee != "" {
		atArg = q.D.Time(at)
	} else {
		by, note = "", ""
	}
	return q.execOne(ctx, fmt.Sprintf("assign incident group %s", fp), q.static(assignIncidentGroup, assignee, by, atArg, note, fp))
}

// InsertIncidentNote appends to a group's log.
func (q *Queries) InsertIncidentNote(ctx context.Context, n *store.IncidentNote) error {
	if n.ID == "" || n.Fingerprint == "" || n.Kind == "" {
		return errors.New("insert incident note: id, fingerprint and kind are required")
	}
	_, err := q.exec(ctx, fmt.Sprintf("insert incident note %q", n.ID), q.static(insertIncidentNote, n.ID, n.Fingerprint,
		n.Kind, n.Text, n.Actor, q.D.Time(n.CreatedAt)))
	return err
}

// ListIncidentNotes returns a group's log, newest first.
func (q *Queries) ListIncidentNotes(ctx context.Context, fp string, limit int) ([]*store.IncidentNote, error) {
	return All(ctx, q.C, "list incident notes", q.static(listIncidentNotes, fp, q.D.Limit(limit)), q.D.ScanIncidentNote)
}

// DueIncidentNotices returns pending notices due at now.
func (q *Queries) DueIncidentNotices(ctx context.Context, now time.Time, limit int) ([]*store.IncidentGroupRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("due incident notices: limit %d must be positive", limit)
	}
	return All(ctx, q.C, "due incident notices", q.static(dueIncidentNotices, q.D.Time(now), int64(limit)), q.D.ScanIncidentGroupRecord)
}

// ClaimIncidentNotice takes a pending notice for one attempt.
func (q *Queries) ClaimIncidentNotice(ctx context.Context, fp string, attempts int, until time.Time) (bool, error) {
	n, err := q.exec(ctx, "claim incident notice "+fp, q.static(claimIncidentNotice, q.D.Time(until), fp, attempts))
	return n == 1, err
}

// UpdateIncidentNotice records an attempt's outcome.
func (q *Queries) UpdateIncidentNotice(ctx context.Context, fp, state string, nextAt time.Time, lastErr string, notifiedAt *time.Time) error {
	return q.execOne(ctx, "update incident notice "+fp, q.static(updateIncidentNotice, state, q.D.Time(nextAt), lastErr,
		q.D.NullTime(notifiedAt), fp))
}

// UnfingerprintedIncidents returns incidents without a fingerprint, open ones first.
func (q *Queries) UnfingerprintedIncidents(ctx context.Context, limit int) ([]*store.Incident, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("unfingerprinted incidents: limit %d must be positive", limit)
	}
	return All(ctx, q.C, "unfingerprinted incidents", q.static(unfingerprinted, int64(limit)), q.D.ScanIncident)
}

// FingerprintIncidents stores the fingerprints of older incidents and their groups.
func (q *Queries) FingerprintIncidents(ctx context.Context, list []*store.Incident) error {
	for _, in := range list {
		fp, code, masked := IncidentKeys(in)
		if _, err := q.exec(ctx, "fingerprint incident "+in.ID, q.static(setIncidentKeys, fp, code, in.ID)); err != nil {
			return err
		}
		if _, err := q.exec(ctx, "insert incident group "+fp, q.static(InsertIncidentGroup, fp, in.DefinitionKey,
			in.ElementID, in.Type, code, masked, in.ID, q.D.Time(in.CreatedAt), store.NoticeSkipped,
			q.D.Time(in.CreatedAt))); err != nil {
			return err
		}
	}
	return nil
}
