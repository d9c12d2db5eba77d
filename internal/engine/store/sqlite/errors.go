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

// isUnavailable reports an error that passes: the database stayed busy or locked past the
// busy timeout, or the disk was full or failing for a moment (SQLITE_BUSY, SQLITE_LOCKED,
// SQLITE_FULL, SQLITE_IOERR and their extended codes).
func isUnavailable(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
		return true
	}
	return false
}

// markUnavailable adds store.ErrUnavailable to err's chain when isUnavailable.
func markUnavailable(err error) error {
	if isUnavailable(err) {
		return store.Unavailable(err)
	}
	return err
}

// writeErr wraps err with what was being written, translating constraint violations into
// store.ErrDuplicate and a busy or failing database into store.ErrUnavailable (the driver
// error stays in the message for the log).
func writeErr(what string, err error) error {
	if isUnavailable(err) {
		return store.Unavailable(fmt.Errorf("%s: %w", what, err))
	}
	if isDuplicate(err) {
		return fmt.Errorf("%s: %w (%v)", what, store.ErrDuplicate, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
