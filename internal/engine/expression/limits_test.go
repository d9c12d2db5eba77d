package expression

import (
	"errors"
	"strings"
	"testing"
)

// Expressions shaped to make the parser recurse or work without end: within the limits
// they compile or fail with an error; over them they are refused before parsing, with an
// error naming the limit (a million "(" used to kill the process with a stack overflow).
func TestCompileLimits(t *testing.T) {
	t.Parallel()
	nest := func(open, close string, n int) string {
		return strings.Repeat(open, n) + "1" + strings.Repeat(close, n)
	}
	fill := func(unit string) string { return strings.Repeat(unit, MaxSourceBytes/len(unit)-1) + "1" }
	tests := []struct {
		name, src string
		tooLarge  bool
		msg       string
	}{
		{"parentheses at the limit", nest("(", ")", MaxNesting), false, ""},
		{"parentheses past the limit", nest("(", ")", MaxNesting+1), true, "brackets nest more than 64 levels deep"},
		{"a million parentheses", nest("(", ")", 1_000_000), true, "more than the limit of 65536"},
		{"arrays past the limit", nest("[", "]", MaxNesting+1), true, "brackets nest more than 64 levels deep"},
		{"maps past the limit", strings.Repeat("{a:", MaxNesting+1) + "1" + strings.Repeat("}", MaxNesting+1), true, "nest more than 64"},
		{"calls past the limit", nest("abs(", ")", MaxNesting+1), true, "nest more than 64"},
		{"brackets inside strings do not count", `"` + strings.Repeat("(", 1000) + `" != ''`, false, ""},
		{"too long", strings.Repeat(" ", MaxSourceBytes) + "1", true, "more than the limit of 65536"},
		// Within the limits: long chains without brackets.
		{"sums", fill("1+"), false, ""},
		{"negations", fill("-"), false, ""},
		{"nots", strings.Repeat("!", MaxSourceBytes-10) + "true", false, ""},
		{"ternaries", fill("true ? 1 : "), false, ""},
		{"members", fill("a."), false, ""},
	}
	for _, tt := range tests {
		_, err := Compile(tt.src)
		if errors.Is(err, ErrTooLarge) != tt.tooLarge {
			t.Errorf("%s: %v, want too large %v", tt.name, shortErr(err), tt.tooLarge)
			continue
		}
		var e *Error
		if tt.tooLarge && (!errors.As(err, &e) || !strings.Contains(e.Msg, tt.msg) || len(err.Error()) > 1000) {
			t.Errorf("%s: %v, want an *Error of a few lines saying %q", tt.name, shortErr(err), tt.msg)
		}
	}
}

func shortErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
