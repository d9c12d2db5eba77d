package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

func TestQualifiedJobColsMatchJobCols(t *testing.T) {
	want := "jobs." + strings.ReplaceAll(sqlstore.JobCols, ", ", ", jobs.")
	got := strings.Join(strings.Fields(qualifiedJobCols), " ")
	if got != want {
		t.Fatalf("qualifiedJobCols\n got %s\nwant %s", got, want)
	}
}

// TestSplitSearchPath: schema names as PostgreSQL reads a search_path setting.
func TestSplitSearchPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`public`, []string{"public"}},
		{`"$user", public`, []string{"$user", "public"}},
		{` Cockpit_A ,b`, []string{"cockpit_a", "b"}},
		{`"Mixed Case", x`, []string{"Mixed Case", "x"}},
		{`"say ""hi""",y`, []string{`say "hi"`, "y"}},
		{`"ÄÖ",Ä`, []string{"ÄÖ", "Ä"}},
		{`"unterminated`, nil},
		{`a,,b`, []string{"a", "b"}},
	} {
		got := splitSearchPath(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("splitSearchPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUnavailableErrors: connection failures, timeouts and server shutdowns are
// store.ErrUnavailable (safe to retry); errors about the data are not.
func TestUnavailableErrors(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("begin write: %w", refused), true},
		{io.ErrUnexpectedEOF, true},
		{context.DeadlineExceeded, true},
		{&pgconn.PgError{Code: "08006"}, true},  // connection_failure
		{&pgconn.PgError{Code: "57P01"}, true},  // admin_shutdown
		{&pgconn.PgError{Code: "57014"}, true},  // statement timeout
		{&pgconn.PgError{Code: "53300"}, true},  // too many connections
		{&pgconn.PgError{Code: "22021"}, false}, // NUL byte in text
		{&pgconn.PgError{Code: "23505"}, false}, // unique violation
		{&pgconn.PgError{Code: "40001"}, false}, // serialization: ErrConflict
		{context.Canceled, false},
		{errors.New("boom"), false},
	} {
		err := wrapErr("op", c.err)
		if got := errors.Is(err, store.ErrUnavailable); got != c.want {
			t.Errorf("wrapErr(%v): unavailable %v, want %v", c.err, got, c.want)
		}
		if c.want && !strings.Contains(err.Error(), "op: ") {
			t.Errorf("wrapErr(%v) = %q, lost its context", c.err, err)
		}
	}
	if err := wrapErr("op", &pgconn.PgError{Code: "40001"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("serialization failure: %v, want ErrConflict", err)
	}
}
