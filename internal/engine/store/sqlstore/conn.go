package sqlstore

import (
	"context"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Scanner reads the columns of one row (a *sql.Rows, a pgx.Rows, ...).
type Scanner interface {
	Scan(dest ...any) error
}

// Statement is one statement to run: a static one (Static, prepared by a driver that
// prepares) or one a Query built (Static nil), with its text in the Conn's dialect.
type Statement struct {
	Static *Stmt
	Text   string
	Args   []any
	// Write marks a Rows statement that must run in a write transaction (a RETURNING
	// write, a read the writer bases a write on). Exec always needs one.
	Write bool
}

// Conn runs the statements of one transaction of a driver.
type Conn interface {
	// Rows runs st and calls row for each result row, in order. A Write statement in a
	// read-only transaction fails.
	Rows(ctx context.Context, op string, st Statement, row func(Scanner) error) error
	// Exec runs a writing statement and returns how many rows it affected.
	Exec(ctx context.Context, op string, st Statement) (int64, error)
	// Err wraps err with what was being done, translating the driver's errors into the
	// seam's sentinels (store.ErrDuplicate, store.ErrConflict, store.ErrUnavailable).
	Err(what string, err error) error
}

// Queries implements the methods of store.Tx whose SQL is shared, over one Conn. A
// driver's transaction embeds it.
type Queries struct {
	D *Dialect
	C Conn
}

// static is the Statement of s with args.
func (q *Queries) static(s *Stmt, args ...any) Statement {
	return Statement{Static: s, Text: s.text[q.D.id], Args: args, Write: s.write}
}

// built is the Statement of a built query.
func built(b *Query) Statement { return Statement{Text: b.String(), Args: b.args} }

// All runs st and scans every row.
func All[T any](ctx context.Context, c Conn, op string, st Statement, scan func(Scanner) (*T, error)) ([]*T, error) {
	var out []*T
	err := c.Rows(ctx, op, st, func(s Scanner) error {
		v, err := scan(s)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, c.Err(op, err)
	}
	return out, nil
}

// One runs st and scans its first row; no row is store.ErrNotFound for what.
func One[T any](ctx context.Context, c Conn, op, what string, st Statement, scan func(Scanner) (*T, error)) (*T, error) {
	var v *T
	err := c.Rows(ctx, op, st, func(s Scanner) error {
		if v != nil {
			return nil
		}
		var err error
		v, err = scan(s)
		return err
	})
	if err != nil {
		return nil, c.Err("get "+what, err)
	}
	if v == nil {
		return nil, fmt.Errorf("get %s: %w", what, store.ErrNotFound)
	}
	return v, nil
}

// row runs st and scans its one row into dest; no row is errNoRows.
func (q *Queries) row(ctx context.Context, op string, st Statement, dest ...any) error {
	found := false
	err := q.C.Rows(ctx, op, st, func(s Scanner) error {
		if found {
			return nil
		}
		found = true
		return s.Scan(dest...)
	})
	if err != nil {
		return q.C.Err(op, err)
	}
	if !found {
		return fmt.Errorf("%s: %w", op, errNoRows)
	}
	return nil
}

// exec runs a writing statement and returns the rows it affected.
func (q *Queries) exec(ctx context.Context, op string, st Statement) (int64, error) {
	n, err := q.C.Exec(ctx, op, st)
	if err != nil {
		return 0, q.C.Err(op, err)
	}
	return n, nil
}

// execOne runs a writing statement that must affect a row: none is store.ErrNotFound.
func (q *Queries) execOne(ctx context.Context, op string, st Statement) error {
	n, err := q.exec(ctx, op, st)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// countBy runs a "key, count" query into a map.
func countBy[N int | int64](ctx context.Context, q *Queries, op string, st Statement) (map[string]N, error) {
	out := map[string]N{}
	err := q.C.Rows(ctx, op, st, func(s Scanner) error {
		var k string
		var n int64
		if err := s.Scan(&k, &n); err != nil {
			return err
		}
		out[k] = N(n)
		return nil
	})
	if err != nil {
		return nil, q.C.Err(op, err)
	}
	return out, nil
}

// Rows is a driver's result set (a *sql.Rows, a pgx.Rows).
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// Each calls row for every row of rows and returns the first error, the result set's
// own included. The caller closes rows.
func Each(rows Rows, row func(Scanner) error) error {
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Collect scans every row of rows with scan. The caller closes rows.
func Collect[T any](rows Rows, scan func(Scanner) (*T, error)) ([]*T, error) {
	var out []*T
	err := Each(rows, func(s Scanner) error {
		v, err := scan(s)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}
