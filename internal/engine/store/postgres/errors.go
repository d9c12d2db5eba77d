package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// SQLSTATEs the store translates.
const (
	codeUniqueViolation  = "23505"
	codeDuplicateSchema  = "42P06"
	codeConflict         = "CK409" // raised by cockpit_conflict (sql/postgres/00001_init.sql)
	codeLostItem         = "CK410" // raised by cockpit_lost_item (sql/postgres/00015_lost_item.sql)
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

// SQLSTATEs (besides class 08, connection exception) that say the server cannot do the
// work now, though it may later.
var unavailableCodes = map[string]bool{
	"53300": true, // too_many_connections
	"57014": true, // query_canceled (statement_timeout)
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now (starting up, recovering)
	"55P03": true, // lock_not_available (lock_timeout)
}

// isUnavailable reports an error that says the database could not be reached or could
// not do the work now: connection refused, reset or closed, timeouts, and the SQLSTATEs
// above. Errors from the data (constraint, encoding, size) are not.
func isUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if code := pgCode(err); code != "" {
		return strings.HasPrefix(code, "08") || unavailableCodes[code]
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.Timeout(err), pgconn.SafeToRetry(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, pgx.ErrTxClosed):
		return true
	}
	// pgx reports a connection it closed after an earlier failure by message only.
	return strings.Contains(err.Error(), "conn closed")
}

// markUnavailable adds store.ErrUnavailable to err's chain when isUnavailable.
func markUnavailable(err error) error {
	if isUnavailable(err) {
		return store.Unavailable(err)
	}
	return err
}

// wrapErr wraps err with what was being done, translating driver errors into the seam's
// sentinels (the driver error stays in the message for the log): unique violations are
// store.ErrDuplicate; a failed version check, a serialization failure and a deadlock are
// store.ErrConflict (the engine re-runs the command on fresh state); a refused item
// outcome is store.ErrLostItem; no rows is store.ErrNotFound; a connection that failed or
// timed out is store.ErrUnavailable.
func wrapErr(what string, err error) error {
	if isUnavailable(err) {
		return store.Unavailable(fmt.Errorf("%s: %w", what, err))
	}
	switch pgCode(err) {
	case codeUniqueViolation:
		return fmt.Errorf("%s: %w (%v)", what, store.ErrDuplicate, err)
	case codeConflict, codeSerialization, codeDeadlockDetected:
		return fmt.Errorf("%s: %w (%v)", what, store.ErrConflict, err)
	case codeLostItem:
		return fmt.Errorf("%s: %w (%v)", what, store.ErrLostItem, err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
