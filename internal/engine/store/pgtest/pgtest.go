// Package pgtest opens PostgreSQL stores for tests, each on a schema of its own in the
// database that COCKPIT_TEST_DATABASE_URL names, dropped when the test ends: tests share
// the database with other work and never touch a schema they did not make.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
)

// URL returns the test database (COCKPIT_TEST_DATABASE_URL), "" when none is set.
func URL() string { return os.Getenv("COCKPIT_TEST_DATABASE_URL") }

// SchemaName returns a new schema name ("cockpit_test_" and 12 random hex digits); the
// caller drops the schema.
func SchemaName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "cockpit_test_" + hex.EncodeToString(b)
}

// Schema returns a new schema name in url, dropped when the test ends (the cleanup is
// registered now, so it runs after the cleanups registered later, such as a store's
// Close).
func Schema(t testing.TB, url string) string {
	t.Helper()
	schema := SchemaName()
	t.Cleanup(func() {
		if err := postgres.DropSchema(context.Background(), url, schema); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open opens a store with o on a new schema (Schema) of o.URL, or of URL() when o.URL is
// empty; it skips the test when there is no test database.
func Open(t testing.TB, o postgres.Options) *postgres.Store {
	t.Helper()
	if o.URL == "" {
		o.URL = URL()
	}
	if o.URL == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: PostgreSQL test skipped")
	}
	if o.Schema == "" {
		o.Schema = Schema(t, o.URL)
	}
	st, err := postgres.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	return st
}
