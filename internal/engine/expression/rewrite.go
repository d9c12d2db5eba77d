package expression

import (
	"unicode"
)

// normalized is an expression rewritten for expr, with the way back to the
// text the user wrote so that error positions point into the original.
type normalized struct {
	text string
	// orig[i] is the rune offset in the original source of rune i of text;
	// orig[len(runes of text)] is the end of the used part of the source.
	orig []int
}

// origPos maps a rune offset in the rewritten text to the original source.
func (n normalized) origPos(pos int) int {
	if pos < 0 {
		return -1
	}
	if pos >= len(n.orig) {
		return n.orig[len(n.orig)-1]
	}
	return n.orig[pos]
}

// normalize strips the wrappers and applies the rewrites described in the
// package documentation.
func normalize(src string) normalized {
	s := []rune(src)
	code := codeMask(s)
	lo, hi := trim(s, 0, len(s))

	if hi-lo >= 3 && (s[lo] == '$' || s[lo] == '#') && s[lo+1] == '{' && matchBrace(s, code, lo+1, hi) == hi-1 {
		lo, hi = trim(s, lo+2, hi-1)
	}
	if hi-lo >= 1 && s[lo] == '=' && (hi-lo == 1 || s[lo+1] != '=') {
		lo, hi = trim(s, lo+1, hi)
		// "=${a}": a Camunda 7 expression written back in Zeebe's form.
		if hi-lo >= 3 && (s[lo] == '$' || s[lo] == '#') && s[lo+1] == '{' && matchBrace(s, code, lo+1, hi) == hi-1 {
			lo, hi = trim(s, lo+2, hi-1)
		}
	}

	usesLet := false
	forEachWord(s, code, lo, hi, func(start, end int) {
		if string(s[start:end]) == "let" {
			usesLet = true
		}
	})

	out := make([]rune, 0, hi-lo+8)
	orig := make([]int, 0, hi-lo+9)
	emit := func(r rune, from int) {
		out = append(out, r)
		orig = append(orig, from)
	}
	for i := lo; i < hi; i++ {
		r := s[i]
		switch {
		case !code[i]:
		case r == 'n' && isWordStart(s, i, lo) && i+4 <= hi && string(s[i:i+4]) == "null" &&
			(i+4 == hi || !isIdentRune(s[i+4])) && !afterMemberOrPointer(s, code, lo, i):
			emit('n', i)
			emit('i', i+1)
			emit('l', i+2)
			i += 3
			continue
		case r == '=' && !usesLet && (i == lo || !isRuneIn(s[i-1], "=!<>")) && (i+1 == hi || s[i+1] != '='):
			emit('=', i)
			emit('=', i)
			continue
		}
		emit(r, i)
	}
	orig = append(orig, hi)
	return normalized{text: string(out), orig: orig}
}

func trim(s []rune, lo, hi int) (int, int) {
	for lo < hi && unicode.IsSpace(s[lo]) {
		lo++
	}
	for hi > lo && unicode.IsSpace(s[hi-1]) {
		hi--
	}
	return lo, hi
}

// codeMask marks the runes of s that are code, as opposed to the inside of
// string literals ("...", '...', `...`) and comments (// and /* */), which
// the rewrites must not touch.
func codeMask(s []rune) []bool {
	code := make([]bool, len(s))
	for i := 0; i < len(s); i++ {
		switch r := s[i]; {
		case r == '"' || r == '\'' || r == '`':
			j := i + 1
			for j < len(s) && s[j] != r {
				if s[j] == '\\' && r != '`' {
					j++
				}
				j++
			}
			i = j // the closing quote, or past the end if unterminated
		case r == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
			if i < len(s) {
				code[i] = true // the newline
			}
		case r == '/' && i+1 < len(s) && s[i+1] == '*':
			j := i + 2
			for j+1 < len(s) && (s[j] != '*' || s[j+1] != '/') {
				j++
			}
			i = j + 1
		default:
			code[i] = true
		}
	}
	return code
}

// matchBrace returns the index of the "}" closing the "{" at open, or -1.
func matchBrace(s []rune, code []bool, open, hi int) int {
	depth := 0
	for i := open; i < hi; i++ {
		if !code[i] {
			continue
		}
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func forEachWord(s []rune, code []bool, lo, hi int, fn func(start, end int)) {
	for i := lo; i < hi; i++ {
		if !code[i] || !isWordStart(s, i, lo) {
			continue
		}
		j := i
		for j < hi && code[j] && isIdentRune(s[j]) {
			j++
		}
		fn(i, j)
		i = j - 1
	}
}

// isWordStart reports whether an identifier starts at i: a letter, "_" or
// "$" not preceded by an identifier rune (digits before it make it part of
// a number such as 1e5).
func isWordStart(s []rune, i, lo int) bool {
	r := s[i]
	if !(unicode.IsLetter(r) || r == '_' || r == '$') {
		return false
	}
	return i == lo || !isIdentRune(s[i-1])
}

func isIdentRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$'
}

// afterMemberOrPointer reports whether the word at i follows "." or "#"
// (ignoring space), that is, names a field or a predicate pointer.
func afterMemberOrPointer(s []rune, code []bool, lo, i int) bool {
	for j := i - 1; j >= lo; j-- {
		if !code[j] {
			return false
		}
		if unicode.IsSpace(s[j]) {
			continue
		}
		return s[j] == '.' || s[j] == '#'
	}
	return false
}

func isRuneIn(r rune, set string) bool {
	for _, c := range set {
		if r == c {
			return true
		}
	}
	return false
}
