package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

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
	return sqlstore.All(ctx, t, fmt.Sprintf("waiting tokens of %q", definitionID),
		sqlstore.Statement{Text: waitingTokensSQL, Args: []any{definitionID, elements, times}}, sqlstore.Postgres.ScanWaitingToken)
}
