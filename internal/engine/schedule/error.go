package schedule

import (
	"errors"
	"fmt"
)

// SyntaxError reports text that cannot be parsed. Inspect it with
// errors.As.
type SyntaxError struct {
	// What names the notation expected, such as "ISO 8601 duration".
	What string
	// Text is the text as given.
	Text string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying error (a nested *SyntaxError, or an error from
	// the cron parser), or nil.
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("schedule: invalid %s %q: %s", e.What, e.Text, e.Msg)
}

// Unwrap returns the underlying error.
func (e *SyntaxError) Unwrap() error { return e.Err }

func syntaxErr(what, text, format string, args ...any) *SyntaxError {
	return &SyntaxError{What: what, Text: text, Msg: fmt.Sprintf(format, args...)}
}

// nested reports a syntax error in part of text, keeping the inner error's
// detail: invalid timer cycle "R5/P1X": invalid ISO 8601 duration "P1X": ...
func nested(what, text string, inner error) *SyntaxError {
	var se *SyntaxError
	if errors.As(inner, &se) {
		return &SyntaxError{What: what, Text: text, Msg: fmt.Sprintf("invalid %s %q: %s", se.What, se.Text, se.Msg), Err: inner}
	}
	return &SyntaxError{What: what, Text: text, Msg: inner.Error(), Err: inner}
}
