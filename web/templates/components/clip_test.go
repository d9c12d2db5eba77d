package components

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Clip cuts by characters, never inside a rune, and marks the cut; invalid UTF-8 is cut
// byte by byte and stays what it was up to the cut.
func TestClip(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"äöüß€", 4, "äöü…"},
		{"äöü", 3, "äöü"},
		{"😀😀😀😀", 2, "😀…"},
		{"a\xffb\xfec", 3, "a\xff…"},
		{"abc", 1, "…"},
		{strings.Repeat("K", 100_000), CellChars, strings.Repeat("K", CellChars-1) + "…"},
	} {
		got := Clip(c.s, c.n)
		if got != c.want {
			t.Errorf("Clip(%.20q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if Clipped(c.s, c.n) != (got != c.s) {
			t.Errorf("Clipped(%.20q, %d) = %v", c.s, c.n, Clipped(c.s, c.n))
		}
		if utf8.ValidString(c.s) && !utf8.ValidString(got) {
			t.Errorf("Clip(%.20q, %d) split a rune", c.s, c.n)
		}
	}
	if ClipTitle("short", CellChars) != "" || utf8.RuneCountInString(ClipTitle(strings.Repeat("x", 5000), CellChars)) != TitleChars {
		t.Error("ClipTitle: no title for a whole value, at most TitleChars for a clipped one")
	}
}
