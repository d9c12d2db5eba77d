package sqlite

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// WaitingTokens runs one index range per element (elements sorted, so the result order
// is stable).
func (t *tx) WaitingTokens(ctx context.Context, definitionID string, cutoffs map[string]time.Time) ([]*store.WaitingToken, error) {
	var out []*store.WaitingToken
	for _, el := range slices.Sorted(maps.Keys(cutoffs)) {
		got, err := sqlstore.All(ctx, t, fmt.Sprintf("waiting tokens of %q at %q", definitionID, el),
			sqlstore.Statement{Text: waitingTokensSQL, Args: []any{el, micros(cutoffs[el]), definitionID}},
			sqlstore.SQLite.ScanWaitingToken)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}
