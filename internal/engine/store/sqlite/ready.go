package sqlite

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

var _ store.Checker = (*Store)(nil)

// Ready reports whether the database answers and every embedded migration is applied.
// It reads through the read pool, so a busy writer does not make the store look down.
func (s *Store) Ready(ctx context.Context) error {
	if s.rclosed.Load() {
		return ErrClosed
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite store %s: %w", s.path, err)
	}
	ms, err := MigrationStatus(ctx, s.rdb)
	if err != nil {
		return fmt.Errorf("sqlite store %s: %w", s.path, err)
	}
	var pending []string
	for _, m := range ms {
		if !m.Applied {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("sqlite store %s: migrations not applied: %v", s.path, pending)
	}
	return nil
}
