package components

import "unicode/utf8"

// Display bounds of user values (business keys, variable values, incident messages, job
// types, element and process names, assignees): a page shows a value in full only where
// it is the subject (the instance page's details, the variable editor); everywhere else a
// cell or a heading shows at most so many characters, and the title attribute (the value
// on hover) at most TitleChars. CSS (.clip) ellipsizes what is still wider than its box.
const (
	// CellChars bounds a value in a table cell or a summary line.
	CellChars = 80
	// HeadingChars bounds a value in a page heading.
	HeadingChars = 120
	// MessageChars bounds an incident message shown before its "full message" details.
	MessageChars = 400
	// TitleChars bounds a title attribute: a tooltip is no place for 100,000 characters.
	TitleChars = 2000
)

// Clip returns s cut to at most n characters (runes), with "…" when it was cut. Invalid
// UTF-8 counts byte by byte and is never split inside a valid rune.
func Clip(s string, n int) string {
	if !Clipped(s, n) {
		return s
	}
	i, k := 0, 0
	for k < max(n-1, 0) && i < len(s) {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		k++
	}
	return s[:i] + "…"
}

// Clipped reports whether Clip(s, n) would cut s.
func Clipped(s string, n int) bool { return len(s) > n && utf8.RuneCountInString(s) > n }

// ClipTitle is the title attribute of a value shown clipped to n: the value up to
// TitleChars, or "" when it is shown whole (no tooltip repeating it).
func ClipTitle(s string, n int) string {
	if !Clipped(s, n) {
		return ""
	}
	return Clip(s, TitleChars)
}
