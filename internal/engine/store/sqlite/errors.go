package sqlite

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// ErrReadOnly is returned by the write methods of a transaction opened with Store.Read.
var ErrReadOnly = errors.New("write in a read-only transaction")

// ErrLocked is returned by Open and OpenDB when a Store already has the database open.
var ErrLocked = errors.New("database in use by another store")

// ErrClosed is returned by Write and Read after Close.
var ErrClosed = errors.New("store closed")

// isDuplicate reports a primary-key or unique constraint violation.
func isDuplicate(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// writeErr wraps err with what was being written, translating constraint violations into
// store.ErrDuplicate (the driver error stays in the message for the log).
func writeErr(what string, err error) error {
	if isDuplicate(err) {
		return fmt.Errorf("%s: %w (%v)", what, store.ErrDuplicate, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
