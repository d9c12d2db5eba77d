package sqlite

import (
	"bytes"
	"database/sql"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// Times are stored as INTEGER unix microseconds (UTC): an integer compares and indexes
// faster than text, and microseconds are what PostgreSQL keeps too, so both stores hand
// back the same instant (sqlstore.SQLite encodes and scans them).

func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros maps an unset time to NULL.
func nullMicros(t *time.Time) any { return sqlstore.SQLite.NullTime(t) }

// scanner is *sql.Row, *sql.Rows or a valueRow.
type scanner = sqlstore.Scanner

// valueRow is a row already read into driver values (int64, float64, string, []byte, nil),
// scanned again into typed fields by the same scan functions as a *sql.Rows. It lets one
// statement return rows of several kinds (see qLoadInstance).
type valueRow []any

func (r valueRow) Scan(dest ...any) error {
	if len(dest) > len(r) {
		return fmt.Errorf("scan %d columns from a row of %d", len(dest), len(r))
	}
	for i, d := range dest {
		v := r[i]
		ok := true
		switch d := d.(type) {
		case sql.Scanner:
			if err := d.Scan(v); err != nil {
				return fmt.Errorf("scan column %d: %w", i, err)
			}
		case *bool:
			var n int64
			n, ok = v.(int64)
			*d = n != 0
		case *string:
			switch v := v.(type) {
			case string:
				*d = v
			case []byte:
				*d = string(v)
			case nil:
				*d = ""
			default:
				ok = false
			}
		case *int64:
			*d, ok = v.(int64)
		case *int:
			var n int64
			n, ok = v.(int64)
			*d = int(n)
		case *sql.NullInt64:
			switch v := v.(type) {
			case int64:
				*d = sql.NullInt64{Int64: v, Valid: true}
			case nil:
				*d = sql.NullInt64{}
			default:
				ok = false
			}
		case *[]byte:
			switch v := v.(type) {
			case string:
				*d = []byte(v)
			case []byte:
				*d = bytes.Clone(v)
			case nil:
				*d = nil
			default:
				ok = false
			}
		default:
			return fmt.Errorf("scan column %d: unsupported destination %T", i, d)
		}
		if !ok {
			return fmt.Errorf("scan column %d: unexpected value %T into %T", i, v, d)
		}
	}
	return nil
}
