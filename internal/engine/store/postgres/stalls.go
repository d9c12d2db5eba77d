package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// stalledFilter returns the ListInstances condition for InstanceFilter.Stalled.
func stalledFilter(stalled bool) string {
	if stalled {
		return stalledCond
	}
	return notStalledCond
}

func scanStall(r pgx.Row) (*store.Stall, error) {
	var s store.Stall
	var threshold int64
	if err := r.Scan(&s.ID, &s.TokenID, &s.InstanceID, &s.DefinitionID, &s.DefinitionKey, &s.ElementID,
		&s.Since, &threshold, &s.Incident, &s.DetectedAt, &s.State, &s.ClearedAt, &s.Published); err != nil {
		return nil, err
	}
	s.Since, s.DetectedAt, s.ClearedAt = utc(s.Since), utc(s.DetectedAt), utcPtr(s.ClearedAt)
	s.Threshold = time.Duration(threshold) * time.Microsecond
	return &s, nil
}

func scanStallThreshold(r pgx.Row) (*store.StallThreshold, error) {
	var th store.StallThreshold
	var threshold int64
	if err := r.Scan(&th.DefinitionKey, &th.ElementID, &threshold, &th.UpdatedAt, &th.UpdatedBy); err != nil {
		return nil, err
	}
	th.Threshold = time.Duration(threshold) * time.Microsecond
	th.UpdatedAt = utc(th.UpdatedAt)
	return &th, nil
}

// WaitingTokens reads every element's tokens in one statement: the (element, cutoff)
// pairs travel as two arrays.
func (t *tx) WaitingTokens(ctx context.Context, definitionID string, cutoffs map[string]time.Time) ([]*store.WaitingToken, error) {
	if len(cutoffs) == 0 {
		return nil, nil
	}
	elements := slices.Sorted(maps.Keys(cutoffs))
	times := make([]time.Time, len(elements))
	for i, el := range elements {
		times[i] = cutoffs[el]
	}
	out, err := queryAll(ctx, t, "waiting tokens", false, waitingTokensSQL, func(r pgx.Row) (*store.WaitingToken, error) {
		var w store.WaitingToken
		if err := r.Scan(&w.TokenID, &w.InstanceID, &w.ElementID, &w.Since, &w.Incident); err != nil {
			return nil, err
		}
		w.Since = utc(w.Since)
		return &w, nil
	}, definitionID, elements, times)
	if err != nil {
		return nil, wrapErr(fmt.Sprintf("waiting tokens of %q", definitionID), err)
	}
	return out, nil
}

// InsertStalls writes new stalls.
func (t *tx) InsertStalls(ctx context.Context, stalls []*store.Stall) error {
	for _, s := range stalls {
		if s.ID == "" || s.TokenID == "" || s.State == "" {
			return errors.New("insert stall: id, token id and state are required")
		}
		_, err := t.exec(ctx, "insert stall", insertStallSQL, s.ID, s.TokenID, s.InstanceID, s.DefinitionID,
			s.DefinitionKey, s.ElementID, s.Since, s.Threshold.Microseconds(), s.Incident, s.DetectedAt, s.State,
			s.ClearedAt, s.Published)
		if err != nil {
			return wrapErr(fmt.Sprintf("insert stall %q", s.ID), err)
		}
	}
	return nil
}

// ClearStalls marks open stalls cleared.
func (t *tx) ClearStalls(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, "clear stalls", clearStallsSQL, at, ids); err != nil {
		return wrapErr("clear stalls", err)
	}
	return nil
}

// ListStalls returns stalls, newest detection first.
func (t *tx) ListStalls(ctx context.Context, f store.StallFilter) ([]*store.Stall, error) {
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
	out, err := queryAll(ctx, t, "list stalls", false, q.String(), scanStall, q.args...)
	if err != nil {
		return nil, wrapErr("list stalls", err)
	}
	return out, nil
}

// UnpublishedStalls returns stalls whose state is not yet published.
func (t *tx) UnpublishedStalls(ctx context.Context, n int) ([]*store.Stall, error) {
	if n <= 0 {
		return nil, fmt.Errorf("unpublished stalls: limit %d must be positive", n)
	}
	out, err := queryAll(ctx, t, "unpublished stalls", false, unpublishedStallsSQL, scanStall, n)
	if err != nil {
		return nil, wrapErr("unpublished stalls", err)
	}
	return out, nil
}

// MarkStallPublished records a published state.
func (t *tx) MarkStallPublished(ctx context.Context, id, state string) error {
	n, err := t.exec(ctx, "mark stall published", markStallPublishedSQL, state, id)
	if err != nil {
		return wrapErr(fmt.Sprintf("mark stall %q published", id), err)
	}
	if n == 0 {
		return fmt.Errorf("mark stall %q published: %w", id, store.ErrNotFound)
	}
	return nil
}

// PruneStalls deletes old cleared stalls.
func (t *tx) PruneStalls(ctx context.Context, clearedBefore time.Time) (int64, error) {
	n, err := t.exec(ctx, "prune stalls", pruneStallsSQL, clearedBefore)
	if err != nil {
		return 0, wrapErr("prune stalls", err)
	}
	return n, nil
}

type keyCount struct {
	key string
	n   int
}

func (t *tx) countBy(ctx context.Context, op, sql string, args ...any) (map[string]int, error) {
	rows, err := queryAll(ctx, t, op, false, sql, func(r pgx.Row) (*keyCount, error) {
		var c keyCount
		return &c, r.Scan(&c.key, &c.n)
	}, args...)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	out := make(map[string]int, len(rows))
	for _, c := range rows {
		out[c.key] = c.n
	}
	return out, nil
}

// CountStalls counts current open stalls per element.
func (t *tx) CountStalls(ctx context.Context, definitionID string) (map[string]int, error) {
	return t.countBy(ctx, "count stalls", countStallsSQL, definitionID)
}

// CountStalledInstances counts the instances with a current stall per definition key.
func (t *tx) CountStalledInstances(ctx context.Context) (map[string]int, error) {
	return t.countBy(ctx, "count stalled instances", countStalledInstancesSQL)
}

// PutStallThreshold sets an operator's threshold.
func (t *tx) PutStallThreshold(ctx context.Context, th *store.StallThreshold) error {
	if th.DefinitionKey == "" || th.ElementID == "" || th.Threshold <= 0 {
		return errors.New("put stall threshold: key, element and a positive threshold are required")
	}
	if _, err := t.exec(ctx, "put stall threshold", putStallThresholdSQL, th.DefinitionKey, th.ElementID,
		th.Threshold.Microseconds(), th.UpdatedAt, th.UpdatedBy); err != nil {
		return wrapErr(fmt.Sprintf("put stall threshold %s/%s", th.DefinitionKey, th.ElementID), err)
	}
	return nil
}

// DeleteStallThreshold removes an operator's threshold.
func (t *tx) DeleteStallThreshold(ctx context.Context, definitionKey, elementID string) error {
	n, err := t.exec(ctx, "delete stall threshold", deleteStallThresholdSQL, definitionKey, elementID)
	if err != nil {
		return wrapErr(fmt.Sprintf("delete stall threshold %s/%s", definitionKey, elementID), err)
	}
	if n == 0 {
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
	out, err := queryAll(ctx, t, "list stall thresholds", false, q.String(), scanStallThreshold, q.args...)
	if err != nil {
		return nil, wrapErr("list stall thresholds", err)
	}
	return out, nil
}
