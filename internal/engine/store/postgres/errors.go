package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// SQLSTATEs the store translates.
const (
	codeUniqueViolation  = "23505"
	codeDuplicateSchema  = "42P06"
	codeConflict         = "CK409" // raised by cockpit_conflict (sql/postgres/00001_init.sql)
	codeSerialization    = "40001"
	codeDeadlockDetected = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isDuplicate(err error) bool {
	switch pgCode(err) {
	case codeUniqueViolation, codeDuplicateSchema:
		return true
	}
	return false
}

// wrapErr wraps err with what was being done, translating driver errors into the seam's
// sentinels (the driver error stays in the message for the log): unique violations are
// store.ErrDuplicate; a failed version check, a serialization failure and a deadlock are
// store.ErrConflict (the engine re-runs the command on fresh state); no rows is
// store.ErrNotFound.
func wrapErr(what string, err error) error {
	switch pgCode(err) {
	case codeUniqueViolation:
		return fmt.Errorf("%s: %w (%v)", what, store.ErrDuplicate, err)
	case codeConflict, codeSerialization, codeDeadlockDetected:
		return fmt.Errorf("%s: %w (%v)", what, store.ErrConflict, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
