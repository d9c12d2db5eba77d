package expression

import (
	"errors"
	"fmt"
)

// Limits of Compile, checked before the text is parsed: expr-lang's lexer and parser
// recurse along the nesting, and a condition of a million "(" (2 MB, well inside a
// model's size limit) exhausts the goroutine stack, which kills the process (a fatal
// error, not a panic that could be recovered).
const (
	// MaxSourceBytes is the longest expression (condition, mapping, script) Compile takes.
	// Conditions and mappings are a line; scripts a few hundred lines at most.
	MaxSourceBytes = 64 << 10
	// MaxNesting is how deeply brackets ((), [], {}) may nest in an expression, string
	// literals aside. Hand-written expressions nest a handful of levels.
	MaxNesting = 64
)

// ErrTooLarge is the cause of the *Error Compile returns for an expression over
// MaxSourceBytes or MaxNesting.
var ErrTooLarge = errors.New("expression too large")

// checkSource refuses src over the limits of Compile. It reads the text once, skipping
// string literals ('…', "…", `…`, with backslash escapes in the first two).
func checkSource(src string) error {
	if len(src) > MaxSourceBytes {
		return newError(shorten(src), fmt.Sprintf("expression is %d bytes, more than the limit of %d", len(src), MaxSourceBytes), ErrTooLarge)
	}
	depth := 0
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > MaxNesting {
				e := newError(src, fmt.Sprintf("brackets nest more than %d levels deep", MaxNesting), ErrTooLarge)
				e.setPos(len([]rune(src[:i])))
				return e
			}
		case c == ')' || c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// shorten keeps the start of a long expression for an error message.
func shorten(src string) string {
	if len(src) <= 200 {
		return src
	}
	r := []rune(src[:200])
	return string(r[:len(r)-1]) + "…"
}
