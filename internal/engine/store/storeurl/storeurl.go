// Package storeurl resolves where a store lives (a data directory and a database URL:
// empty for <data-dir>/cockpit.db, sqlite:PATH, postgres://…) and opens it, for the
// cockpit commands and the public embedding package alike.
package storeurl

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// RedactURL drops a password from a URL before it is logged.
func RedactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s, "@"); at > i {
			if colon := strings.Index(s[i+3:at], ":"); colon >= 0 {
				return s[:i+3+colon] + ":xxxxx" + s[at:]
			}
		}
	}
	return s
}

// Database is where a store lives, resolved from a data directory and a database URL.
type Database struct {
	Dialect string // "sqlite" or "postgres"
	Path    string // the SQLite file; for PostgreSQL the URL without its password (for logs)
	URL     string // the PostgreSQL connection URL
	// PostgreSQL only: pool size (0: the store's default) and where slow statements go.
	MaxConns int32
	Log      *slog.Logger
}

// Resolve reads a database URL: empty means <dataDir>/cockpit.db; sqlite:PATH
// (or sqlite://PATH, file:PATH) another SQLite file; postgres:// (or postgresql://) the
// PostgreSQL store, in the URL's search_path (default public).
func Resolve(dataDir, url string) (*Database, error) {
	url = strings.TrimSpace(url)
	lower := strings.ToLower(url)
	switch {
	case url == "":
		return &Database{Dialect: "sqlite", Path: filepath.Join(dataDir, "cockpit.db")}, nil
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return &Database{Dialect: "postgres", Path: RedactURL(url), URL: url}, nil
	}
	for _, prefix := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(lower, prefix) {
			p := url[len(prefix):]
			if p == "" {
				break
			}
			return &Database{Dialect: "sqlite", Path: p}, nil
		}
	}
	return nil, fmt.Errorf("database URL %q: unsupported (use sqlite:PATH, or leave it empty for <data-dir>/cockpit.db)", RedactURL(url))
}

// Open opens the store (applying migrations), creating the SQLite file's directory when
// missing.
func (d *Database) Open(ctx context.Context) (store.Store, error) {
	if d.Dialect == "postgres" {
		st, err := postgres.Open(ctx, postgres.Options{URL: d.URL, MaxConns: d.MaxConns, Logger: d.Log})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: d.Path})
	if err != nil {
		return nil, err
	}
	return st, nil
}
