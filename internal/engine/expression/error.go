package expression

import (
	"errors"
	"fmt"
)

var (
	// ErrUndefined is the cause of an [Error] when the expression reads a
	// variable or calls a function that the variables do not define.
	ErrUndefined = errors.New("not defined")

	// ErrNotBool is the cause of an [Error] from [Program.EvalBool] when the
	// result is not a bool.
	ErrNotBool = errors.New("result is not a bool")

	// ErrNotFinite is the cause of an [Error] when the result is ±Inf or NaN,
	// typically after a division by zero.
	ErrNotFinite = errors.New("result is not a finite number")
)

// Error reports a failure to compile or evaluate an expression. Inspect it
// with errors.As; errors.Is works against its cause (the sentinel errors of
// this package or the error reported by expr).
type Error struct {
	// Expr is the expression as given to Compile, before any unwrapping.
	Expr string
	// Pos is the 0-based offset in runes into Expr where the problem was
	// found, or -1 if the problem has no single place.
	Pos int
	// Line and Column are the 1-based position of Pos, both 0 if Pos is -1.
	Line, Column int
	// Msg says what is wrong, without the expression.
	Msg string
	// Err is the cause: a sentinel of this package, an error from expr, or
	// nil.
	Err error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("expression %q: %s (%d:%d)", e.Expr, e.Msg, e.Line, e.Column)
	}
	return fmt.Sprintf("expression %q: %s", e.Expr, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// newError builds an Error without a position.
func newError(src, msg string, cause error) *Error {
	return &Error{Expr: src, Pos: -1, Msg: msg, Err: cause}
}

// setPos records the rune offset pos of src and derives line and column.
func (e *Error) setPos(pos int) {
	e.Pos, e.Line, e.Column = -1, 0, 0
	if pos < 0 {
		return
	}
	line, col, i := 1, 1, 0
	for _, r := range e.Expr {
		if i == pos {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i++
	}
	if i < pos {
		// Past the end (expr may point one beyond the last rune at EOF);
		// clamp to the end so the position still lands in the text.
		pos = i
	}
	e.Pos, e.Line, e.Column = pos, line, col
}
