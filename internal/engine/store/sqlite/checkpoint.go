package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"
)

// checkpointer moves committed pages from the WAL into the database file on its own
// connection, so that the writer never does it inside a commit. SQLite's automatic
// checkpoint runs in the committing connection and costs the engine's single writer
// about a sixth of its throughput; a PASSIVE checkpoint never blocks the writer or
// readers. The writer signals every checkpointEvery commits; a timer catches the rest.
type checkpointer struct {
	db     *sql.DB
	signal chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

const (
	checkpointEvery    = 64
	checkpointInterval = time.Second
)

func startCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, signal: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.signal:
		case <-t.C:
		}
		if _, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			slog.Warn("sqlite checkpoint failed", "err", err)
		}
	}
}

// poke asks for a checkpoint without waiting.
func (c *checkpointer) poke() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// close stops the loop and runs a last full checkpoint so the WAL is small on disk.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	if cerr := c.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	return nil
}
