package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Stalls (see store.StallTx). WaitingTokens, which reads every waiting token of a
// definition, is the drivers' own: each database wants that read shaped differently.

const (
	// stallCurrent keeps the open stalls whose token still stands where it stalled, in an
	// active instance: a stall the next detector pass will clear is not shown meanwhile.
	stallCurrent = `s.state = 'open'
	AND EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id AND t.element_id = s.element_id AND t.created_at = s.since)
	AND EXISTS (SELECT 1 FROM instances i WHERE i.id = s.instance_id AND i.state = 'active')`
	// stalledCond is the ListInstances filter: the few instances with a current stall.
	stalledCond    = `id IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`
	notStalledCond = `id NOT IN (SELECT s.instance_id FROM stalls s WHERE ` + stallCurrent + `)`
)

var (
	insertStall = write(`INSERT INTO stalls (` + StallCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// The partial index stalls_unpublished holds exactly these rows.
	unpublishedStalls     = read(`SELECT ` + StallCols + ` FROM stalls WHERE published <> state ORDER BY detected_at, id LIMIT ?`)
	markStallPublished    = write(`UPDATE stalls SET published = ? WHERE id = ?`)
	pruneStalls           = write(`DELETE FROM stalls WHERE state = 'cleared' AND cleared_at < ? AND published = 'cleared'`)
	countStalledInstances = read(`SELECT s.definition_key, count(DISTINCT s.instance_id) FROM stalls s WHERE ` + stallCurrent +
		` GROUP BY s.definition_key`)
	putStallThreshold = write(`INSERT INTO stall_thresholds (` + StallThresholdCols + `) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (definition_key, element_id) DO UPDATE SET threshold = excluded.threshold,
	updated_at = excluded.updated_at, updated_by = excluded.updated_by`)
	deleteStallThreshold = write(`DELETE FROM stall_thresholds WHERE definition_key = ? AND element_id = ?`)
)

// InsertStalls writes new stalls.
func (q *Queries) InsertStalls(ctx context.Context, stalls []*store.Stall) error {
	for _, s := range stalls {
		if s.ID == "" || s.TokenID == "" || s.State == "" {
			return errors.New("insert stall: id, token id and state are required")
		}
		if _, err := q.exec(ctx, fmt.Sprintf("insert stall %q", s.ID), q.static(insertStall, s.ID, s.TokenID,
			s.InstanceID, s.DefinitionID, s.DefinitionKey, s.ElementID, q.D.Time(s.Since), s.Threshold.Microseconds(),
			q.D.Bool(s.Incident), q.D.Time(s.DetectedAt), s.State, q.D.NullTime(s.ClearedAt), s.Published)); err != nil {
			return err
		}
	}
	return nil
}

// ClearStalls marks open stalls cleared.
func (q *Queries) ClearStalls(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := q.exec(ctx, "clear stalls", built(ClearStallsQuery(q.D, ids, at)))
	return err
}

// ClearStallsQuery is ClearStalls's statement: one primary-key probe per id.
func ClearStallsQuery(d *Dialect, ids []string, at time.Time) *Query {
	b := NewQuery(d, `UPDATE stalls SET state = 'cleared'`)
	b.Tail(`, cleared_at = ?`, d.Time(at))
	b.In(`id`, false, ids)
	b.And(`state = 'open'`)
	return b
}

// ListStalls returns stalls, newest detection first.
func (q *Queries) ListStalls(ctx context.Context, f store.StallFilter) ([]*store.Stall, error) {
	return All(ctx, q.C, "list stalls", built(ListStallsQuery(q.D, f)), q.D.ScanStall)
}

// ListStallsQuery is ListStalls's statement. With State open, SQLite's partial indexes
// stalls_open_definition and stalls_open_instance serve the detector's and the instance
// page's reads.
func ListStallsQuery(d *Dialect, f store.StallFilter) *Query {
	b := NewQuery(d, `SELECT `+StallCols+` FROM stalls`)
	if f.State != "" {
		b.And(`state = ?`, f.State)
	}
	if f.DefinitionID != "" {
		b.And(`definition_id = ?`, f.DefinitionID)
	}
	if f.DefinitionKey != "" {
		b.And(`definition_key = ?`, f.DefinitionKey)
	}
	if f.InstanceID != "" {
		b.And(`instance_id = ?`, f.InstanceID)
	}
	b.Tail(` ORDER BY detected_at DESC, id DESC LIMIT ?`, d.Limit(f.Limit))
	return b
}

// UnpublishedStalls returns stalls whose state is not yet published.
func (q *Queries) UnpublishedStalls(ctx context.Context, n int) ([]*store.Stall, error) {
	if n <= 0 {
		return nil, fmt.Errorf("unpublished stalls: limit %d must be positive", n)
	}
	return All(ctx, q.C, "unpublished stalls", q.static(unpublishedStalls, n), q.D.ScanStall)
}

// MarkStallPublished records a published state.
func (q *Queries) MarkStallPublished(ctx context.Context, id, state string) error {
	return q.execOne(ctx, fmt.Sprintf("mark stall %q published", id), q.static(markStallPublished, state, id))
}

// PruneStalls deletes old cleared stalls.
func (q *Queries) PruneStalls(ctx context.Context, clearedBefore time.Time) (int64, error) {
	return q.exec(ctx, "prune stalls", q.static(pruneStalls, q.D.Time(clearedBefore)))
}

// CountStalls counts current open stalls per element, of one definition ("" all).
func (q *Queries) CountStalls(ctx context.Context, definitionID string) (map[string]int, error) {
	return countBy[int](ctx, q, "count stalls", built(CountStallsQuery(q.D, definitionID)))
}

// CountStallsQuery is CountStalls's statement.
func CountStallsQuery(d *Dialect, definitionID string) *Query {
	b := NewQuery(d, `SELECT s.element_id, count(*) FROM stalls s WHERE `+stallCurrent)
	if definitionID != "" {
		b.Tail(` AND s.definition_id = ?`, definitionID)
	}
	b.Tail(` GROUP BY s.element_id`)
	return b
}

// CountStalledInstances counts the instances with a current stall per definition key.
func (q *Queries) CountStalledInstances(ctx context.Context) (map[string]int, error) {
	return countBy[int](ctx, q, "count stalled instances", q.static(countStalledInstances))
}

// PutStallThreshold sets an operator's threshold.
func (q *Queries) PutStallThreshold(ctx context.Context, th *store.StallThreshold) error {
	if th.DefinitionKey == "" || th.ElementID == "" || th.Threshold <= 0 {
		return errors.New("put stall threshold: key, element and a positive threshold are required")
	}
	_, err := q.exec(ctx, fmt.Sprintf("put stall threshold %s/%s", th.DefinitionKey, th.ElementID),
		q.static(putStallThreshold, th.DefinitionKey, th.ElementID, th.Threshold.Microseconds(), q.D.Time(th.UpdatedAt),
			th.UpdatedBy))
	return err
}

// DeleteStallThreshold removes an operator's threshold.
func (q *Queries) DeleteStallThreshold(ctx context.Context, definitionKey, elementID string) error {
	return q.execOne(ctx, fmt.Sprintf("delete stall threshold %s/%s", definitionKey, elementID),
		q.static(deleteStallThreshold, definitionKey, elementID))
}

// ListStallThresholds returns the operators' thresholds by key and element.
func (q *Queries) ListStallThresholds(ctx context.Context, definitionKey string) ([]*store.StallThreshold, error) {
	b := NewQuery(q.D, `SELECT `+StallThresholdCols+` FROM stall_thresholds`)
	if definitionKey != "" {
		b.And(`definition_key = ?`, definitionKey)
	}
	b.Tail(` ORDER BY definition_key, element_id`)
	return All(ctx, q.C, "list stall thresholds", built(b), q.D.ScanStallThreshold)
}
