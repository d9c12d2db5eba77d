package postgres

import (
	"encoding/json"

	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// jsonArg passes a JSON value as text for a jsonb parameter (the server parses it; nil is
// JSON null), after checking it, so a bad value is a clear error rather than a server one.
func jsonArg(v json.RawMessage) (string, error) { return sqlstore.Postgres.JSONValue(v) }

// nullJSONArg stores a nil document as NULL.
func nullJSONArg(v json.RawMessage) *string {
	if v == nil {
		return nil
	}
	s := string(v)
	return &s
}
