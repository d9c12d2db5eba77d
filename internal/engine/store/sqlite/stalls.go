package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// stalledFilter returns the ListInstances condition for InstanceFilter.Stalled.
func stalledFilter(stalled bool) string {
	if stalled {
		return stalledCond
	}
	return notStalledCond
}

func scanStall(s scanner) (*store.Stall, error) {
	var st store.Stall
	var since, threshold, detected, incident int64
	var cleared sql.NullInt64
	if err := s.Scan(&st.ID, &st.TokenID, &st.InstanceID, &st.DefinitionID, &st.DefinitionKey, &st.ElementID,
		&since, &threshold, &incident, &detected, &st.State, &cleared, &st.Published); err != nil {
		return nil, err
	}
	st.Since, st.DetectedAt, st.ClearedAt = fromMicros(since), fromMicros(detected), fromNullMicros(cleared)
	st.Threshold = time.Duration(threshold) * time.Microsecond
	st.Incident = incident != 0
	return &st, nil
}

func scanStallThreshold(s scanner) (*store.StallThreshold, error) {
	var th store.StallThreshold
	var threshold, updated int64
	if err := s.Scan(&th.DefinitionKey, &th.ElementID, &threshold, &updated, &th.UpdatedBy); err != nil {
		return nil, err
	}
	th.Threshold = time.Duration(threshold) * time.Microsecond
	th.UpdatedAt = fromMicros(updated)
	return &th, nil
}

func (t *tx) queryText(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, text, args...)
}

// WaitingTokens runs one index range per element (elements sorted, so the result order
// is stable).
func (t *tx) WaitingTokens(ctx context.Context, definitionID string, cutoffs map[string]time.Time) ([]*store.WaitingToken, error) {
	var out []*store.WaitingToken
	for _, el := range slices.Sorted(maps.Keys(cutoffs)) {
		rows, err := t.queryText(ctx, waitingTokensSQL, el, micros(cutoffs[el]), definitionID)
		if err != nil {
			return nil, fmt.Errorf("waiting tokens of %q at %q: %w", definitionID, el, err)
		}
		got, err := collect(rows, func(s scanner) (*store.WaitingToken, error) {
			var w store.WaitingToken
			var since, incident int64
			if err := s.Scan(&w.TokenID, &w.InstanceID, &w.ElementID, &since, &incident); err != nil {
				return nil, err
			}
			w.Since, w.Incident = fromMicros(since), incident != 0
			return &w, nil
		})
		if err != nil {
			return nil, fmt.Errorf("waiting tokens of %q at %q: %w", definitionID, el, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// InsertStalls writes new stalls.
func (t *tx) InsertStalls(ctx context.Context, stalls []*store.Stall) error {
	if err := t.writable("insert stalls"); err != nil {
		return err
	}
	for _, s := range stalls {
		if s.ID == "" || s.TokenID == "" || s.State == "" {
			return errors.New("insert stall: id, token id and state are required")
		}
		_, err := t.tx.ExecContext(ctx, insertStallSQL, s.ID, s.TokenID, s.InstanceID, s.DefinitionID, s.DefinitionKey,
			s.ElementID, micros(s.Since), s.Threshold.Microseconds(), boolInt(s.Incident), micros(s.DetectedAt), s.State,
			nullMicros(s.ClearedAt), s.Published)
		if err != nil {
			return writeErr(fmt.Sprintf("insert stall %q", s.ID), err)
		}
	}
	return nil
}

// ClearStalls marks open stalls cleared.
func (t *tx) ClearStalls(ctx context.Context, ids []string, at time.Time) error {
	if err := t.writable("clear stalls"); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := t.tx.ExecContext(ctx, clearStallSQL, micros(at), id); err != nil {
			return writeErr(fmt.Sprintf("clear stall %q", id), err)
		}
	}
	return nil
}

// ListStalls returns stalls, newest detection first.
func (t *tx) ListStalls(ctx context.Context, f store.StallFilter) ([]*store.Stall, error) {
	q := listStallsQuery(f)
	rows, err := t.queryText(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list stalls: %w", err)
	}
	out, err := collect(rows, scanStall)
	if err != nil {
		return nil, fmt.Errorf("list stalls: %w", err)
	}
	return out, nil
}

// listStallsQuery is ListStalls's statement. With State open the partial indexes
// stalls_open_definition and stalls_open_instance serve the detector's and the instance
// page's reads (plan_test.go).
func listStallsQuery(f store.StallFilter) *query {
	q := newQuery(listStallsSQL)
	if f.State != "" {
		q.and(`state = ?`, f.State)
	}
	if f.DefinitionID != "" {
		q.and(`definition_id = ?`, f.DefinitionID)
	}
	if f.DefinitionKey != "" {
		q.and(`definition_key = ?`, f.DefinitionKey)
	}
	if f.InstanceID != "" {
		q.and(`instance_id = ?`, f.InstanceID)
	}
	q.tail(` ORDER BY detected_at DESC, id DESC LIMIT ?`, limit(f.Limit))
	return q
}

// UnpublishedStalls returns stalls whose state is not yet published.
func (t *tx) UnpublishedStalls(ctx context.Context, n int) ([]*store.Stall, error) {
	if n <= 0 {
		return nil, fmt.Errorf("unpublished stalls: limit %d must be positive", n)
	}
	rows, err := t.queryText(ctx, unpublishedStallsSQL, n)
	if err != nil {
		return nil, fmt.Errorf("unpublished stalls: %w", err)
	}
	out, err := collect(rows, scanStall)
	if err != nil {
		return nil, fmt.Errorf("unpublished stalls: %w", err)
	}
	return out, nil
}

// MarkStallPublished records a published state.
func (t *tx) MarkStallPublished(ctx context.Context, id, state string) error {
	if err := t.writable("mark stall published"); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, markStallPublishedSQL, state, id)
	if err != nil {
		return writeErr(fmt.Sprintf("mark stall %q published", id), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mark stall %q published: %w", id, store.ErrNotFound)
	}
	return nil
}

// PruneStalls deletes old cleared stalls.
func (t *tx) PruneStalls(ctx context.Context, clearedBefore time.Time) (int64, error) {
	if err := t.writable("prune stalls"); err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(ctx, pruneStallsSQL, micros(clearedBefore))
	if err != nil {
		return 0, writeErr("prune stalls", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// CountStalls counts current open stalls per element.
func (t *tx) CountStalls(ctx context.Context, definitionID string) (map[string]int, error) {
	q := countStallsQuery(definitionID)
	return t.countBy(ctx, "count stalls", q.String(), q.args...)
}

func countStallsQuery(definitionID string) *query {
	q := newQuery(countStallsSQL)
	if definitionID != "" {
		q.tail(` AND s.definition_id = ?`, definitionID)
	}
	q.tail(` GROUP BY s.element_id`)
	return q
}

// CountStalledInstances counts the instances with a current stall per definition key.
func (t *tx) CountStalledInstances(ctx context.Context) (map[string]int, error) {
	return t.countBy(ctx, "count stalled instances", countStalledInstanceSQL)
}

func (t *tx) countBy(ctx context.Context, op, text string, args ...any) (map[string]int, error) {
	rows, err := t.queryText(ctx, text, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// PutStallThreshold sets an operator's threshold.
func (t *tx) PutStallThreshold(ctx context.Context, th *store.StallThreshold) error {
	if err := t.writable("put stall threshold"); err != nil {
		return err
	}
	if th.DefinitionKey == "" || th.ElementID == "" || th.Threshold <= 0 {
		return errors.New("put stall threshold: key, element and a positive threshold are required")
	}
	_, err := t.tx.ExecContext(ctx, putStallThresholdSQL, th.DefinitionKey, th.ElementID, th.Threshold.Microseconds(),
		micros(th.UpdatedAt), th.UpdatedBy)
	if err != nil {
		return writeErr(fmt.Sprintf("put stall threshold %s/%s", th.DefinitionKey, th.ElementID), err)
	}
	return nil
}

// DeleteStallThreshold removes an operator's threshold.
func (t *tx) DeleteStallThreshold(ctx context.Context, definitionKey, elementID string) error {
	if err := t.writable("delete stall threshold"); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, deleteStallThresholdSQL, definitionKey, elementID)
	if err != nil {
		return writeErr(fmt.Sprintf("delete stall threshold %s/%s", definitionKey, elementID), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete stall threshold %s/%s: %w", definitionKey, elementID, store.ErrNotFound)
	}
	return nil
}

// ListStallThresholds returns the operators' thresholds by key and element.
func (t *tx) ListStallThresholds(ctx context.Context, definitionKey string) ([]*store.StallThreshold, error) {
	q := newQuery(listStallThresholdsSQL)
	if definitionKey != "" {
		q.and(`definition_key = ?`, definitionKey)
	}
	q.tail(` ORDER BY definition_key, element_id`)
	rows, err := t.queryText(ctx, q.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list stall thresholds: %w", err)
	}
	out, err := collect(rows, scanStallThreshold)
	if err != nil {
		return nil, fmt.Errorf("list stall thresholds: %w", err)
	}
	return out, nil
}
