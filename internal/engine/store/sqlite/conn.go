package sqlite

import (
	"context"
	"database/sql"

	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlstore"
)

// The sqlstore.Conn of a transaction: the shared statements run here, prepared once per
// pool at Open (prepareShared) and bound to the transaction on first use; the queries
// sqlstore builds at run time are prepared per call.

// prepareShared prepares the sqlstore statements on one pool: all on the writer, the
// reads only on the readers.
func prepareShared(ctx context.Context, db *sql.DB, writer bool) ([]*sql.Stmt, error) {
	all := sqlstore.Statements()
	out := make([]*sql.Stmt, len(all))
	for _, s := range all {
		if s.Write() && !writer {
			continue
		}
		st, err := db.PrepareContext(ctx, s.Text(sqlstore.SQLite))
		if err != nil {
			closeStmts(out)
			return nil, &prepareError{text: s.Text(sqlstore.SQLite), err: err}
		}
		out[s.ID()] = st
	}
	return out, nil
}

type prepareError struct {
	text string
	err  error
}

func (e *prepareError) Error() string { return "prepare " + e.text + ": " + e.err.Error() }
func (e *prepareError) Unwrap() error { return e.err }

func closeStmts(sts []*sql.Stmt) error {
	var first error
	for i, st := range sts {
		if st != nil {
			if err := st.Close(); err != nil && first == nil {
				first = err
			}
			sts[i] = nil
		}
	}
	return first
}

// sharedStmt returns the prepared statement s bound to this transaction, or nil when this
// pool has none (a write on a reader).
func (t *tx) sharedStmt(ctx context.Context, s *sqlstore.Stmt) *sql.Stmt {
	id := s.ID()
	if id >= len(t.shared) || t.shared[id] == nil {
		return nil
	}
	if t.sharedBound == nil {
		if len(t.shared) <= len(t.sharedBuf) {
			t.sharedBound = t.sharedBuf[:len(t.shared)]
		} else {
			t.sharedBound = make([]*sql.Stmt, len(t.shared))
		}
	}
	if st := t.sharedBound[id]; st != nil {
		return st
	}
	st := t.tx.StmtContext(ctx, t.shared[id])
	t.sharedBound[id] = st
	return st
}

// execShared runs a shared writing statement (Apply's job and subscription writes too).
func (t *tx) execShared(ctx context.Context, s *sqlstore.Stmt, args ...any) (sql.Result, error) {
	if st := t.sharedStmt(ctx, s); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, s.Text(sqlstore.SQLite), args...)
}

// Rows implements sqlstore.Conn.
func (t *tx) Rows(ctx context.Context, op string, st sqlstore.Statement, row func(sqlstore.Scanner) error) error {
	if st.Write && !t.write {
		return ErrReadOnly
	}
	var rows *sql.Rows
	var err error
	switch {
	case st.Static != nil:
		if ps := t.sharedStmt(ctx, st.Static); ps != nil {
			rows, err = ps.QueryContext(ctx, st.Args...)
		} else {
			rows, err = t.tx.QueryContext(ctx, st.Text, st.Args...)
		}
	default: // a query sqlstore built at run time: prepared per call
		rows, err = t.tx.QueryContext(ctx, st.Text, st.Args...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := sqlstore.Each(rows, row); err != nil {
		return err
	}
	return rows.Close()
}

// Exec implements sqlstore.Conn.
func (t *tx) Exec(ctx context.Context, op string, st sqlstore.Statement) (int64, error) {
	if !t.write {
		return 0, ErrReadOnly
	}
	var res sql.Result
	var err error
	if st.Static != nil {
		res, err = t.execShared(ctx, st.Static, st.Args...)
	} else {
		res, err = t.tx.ExecContext(ctx, st.Text, st.Args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Err implements sqlstore.Conn.
func (t *tx) Err(what string, err error) error { return writeErr(what, err) }
