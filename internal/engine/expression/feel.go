package expression

import (
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// FEEL, the expression language of Camunda 8 models ("=…" in Zeebe documents), is
// compiled by translating the subset those models use into expr, so that one evaluator,
// with its budget, runs both. CompileFEEL applies, after the rewrites of Compile:
//
//   - "if C then A else B" becomes "(C ? A : B)";
//   - a name of several words ("order total") is the variable of that name;
//   - FEEL's functions are provided under their FEEL names, with FEEL's meaning where it
//     differs from expr's builtin of the same name: is defined, string length,
//     substring (1-based), upper case, lower case, contains, starts with, ends with,
//     substring before, substring after, matches, string join, count, list contains,
//     append, concatenate, distinct values, index of, sublist, all, any, mean, number,
//     decimal, modulo, ceiling (and expr's builtins: abs, floor, round, min, max, sum,
//     trim, reverse, flatten, ...);
//   - ranges "[a..b]", "(a..b]", "[a..b)", "(a..b)" are intervals, and "x in r" tests
//     membership in an interval or a list ("x in (1, 2, 3)" is a list), FEEL's way;
//   - "list[i]" indexes from 1, and from the end with a negative i; out of range is null.
//
// Not translated (they fail to compile or to evaluate, naming the text): filters
// ("items[price > 10]"), "for", "some"/"every", "between", "instance of", function
// definitions, contexts with names of several words, and the date and time functions.
// "is defined(x)" is false for a variable that holds null.

// feelFuncs maps FEEL function names (several words joined by one space) to the
// functions that implement them (see feelFunctions).
var feelFuncs = map[string]string{
	"is defined": "$f_is_defined", "string length": "$f_string_length", "substring": "$f_substring",
	"upper case": "$f_upper_case", "lower case": "$f_lower_case", "contains": "$f_contains",
	"starts with": "$f_starts_with", "ends with": "$f_ends_with", "substring before": "$f_substring_before",
	"substring after": "$f_substring_after", "matches": "$f_matches", "string join": "$f_string_join",
	"count": "$f_count", "list contains": "$f_list_contains", "append": "$f_append",
	"concatenate": "$f_concatenate", "distinct values": "$f_distinct_values", "index of": "$f_index_of",
	"sublist": "$f_sublist", "all": "$f_all", "any": "$f_any", "mean": "$f_mean", "number": "$f_number",
	"decimal": "$f_decimal", "modulo": "$f_modulo", "ceiling": "$f_ceiling",
}

// feelKeywords end a name of several words.
var feelKeywords = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "between": true, "instance": true, "of": true,
	"if": true, "then": true, "else": true, "for": true, "return": true, "some": true, "every": true,
	"satisfies": true, "is": true, "true": true, "false": true, "null": true, "nil": true, "let": true,
	"matches": true, "contains": true, "startsWith": true, "endsWith": true, "function": true,
}

// rtext is text being rewritten with, per rune, its offset in the source (for errors).
type rtext struct {
	r    []rune
	orig []int
}

func (t *rtext) emit(s string, from int) {
	for _, r := range s {
		t.r = append(t.r, r)
		t.orig = append(t.orig, from)
	}
}

// translateFEEL applies the FEEL translation to a normalized expression.
func translateFEEL(n normalized) normalized {
	t := rtext{r: []rune(n.text), orig: n.orig[:len(n.orig)-1]}
	end := n.orig[len(n.orig)-1]
	t = feelWords(t)
	t = feelIntervals(t)
	t = feelIfs(t)
	return normalized{text: string(t.r), orig: append(t.orig, end)}
}

func isFEELWord(s []rune, i int) bool { return isWordStart(s, i, 0) }

// wordAt returns the end of the identifier starting at i.
func wordAt(s []rune, i int) int {
	j := i
	for j < len(s) && isIdentRune(s[j]) {
		j++
	}
	return j
}

func skipSpace(s []rune, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// feelWords rewrites names of several words and FEEL function names.
func feelWords(in rtext) rtext {
	s, code := in.r, codeMask(in.r)
	out := rtext{}
	for i := 0; i < len(s); i++ {
		if !code[i] || !isFEELWord(s, i) || afterMemberOrPointer(s, code, 0, i) {
			out.emit(string(s[i]), in.orig[i])
			continue
		}
		// A run of words separated by spaces, none a keyword.
		words := []string{string(s[i:wordAt(s, i)])}
		end := wordAt(s, i)
		// A function of several words may hold keywords ("is defined", "list contains",
		// "index of"): the longest one followed by "(" wins.
		matched := false
		{
			ws, ends := words, []int{end}
			for len(ws) < 3 {
				j := skipSpace(s, ends[len(ends)-1])
				if j == ends[len(ends)-1] || j >= len(s) || !code[j] || !isFEELWord(s, j) {
					break
				}
				ws, ends = append(ws, string(s[j:wordAt(s, j)])), append(ends, wordAt(s, j))
			}
			for k := len(ws); k > 1; k-- {
				name := strings.Join(ws[:k], " ")
				if next := skipSpace(s, ends[k-1]); feelFuncs[name] != "" && next < len(s) && s[next] == '(' {
					words, end, matched = ws[:k], ends[k-1], true
					break
				}
			}
		}
		for !matched && !feelKeywords[words[0]] {
			j := skipSpace(s, end)
			if j == end || j >= len(s) || !code[j] || !isFEELWord(s, j) || feelKeywords[string(s[j:wordAt(s, j)])] {
				break
			}
			words, end = append(words, string(s[j:wordAt(s, j)])), wordAt(s, j)
		}
		name := strings.Join(words, " ")
		next := skipSpace(s, end)
		switch {
		case next < len(s) && s[next] == '(' && feelFuncs[name] != "":
			if name == "is defined" {
				// The argument is a path to look up, not a value to require.
				closeAt := matchParen(s, code, next)
				if closeAt > next {
					out.emit("$f_is_defined($env, "+strconv.Quote(strings.TrimSpace(string(s[next+1:closeAt])))+")", in.orig[i])
					i = closeAt
					continue
				}
			}
			out.emit(feelFuncs[name], in.orig[i])
		case len(words) > 1:
			out.emit("$env["+strconv.Quote(name)+"]", in.orig[i])
		default:
			out.emit(name, in.orig[i])
		}
		i = end - 1
	}
	return out
}

// matchParen returns the index of the ")" closing the "(" at open, or -1.
func matchParen(s []rune, code []bool, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		if !code[i] {
			continue
		}
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// feelIntervals rewrites "[a..b]", "(a..b]", ... as $f_interval(a, b, lowClosed,
// highClosed), and the list "in (a, b)" as "in [a, b]".
func feelIntervals(in rtext) rtext {
	for {
		s, code := in.r, codeMask(in.r)
		done := true
		for i := 0; i < len(s); i++ {
			if !code[i] || (s[i] != '[' && s[i] != '(') || followsOperand(s, code, i) {
				continue // a call's arguments or an index, not a range or list
			}
			closeAt := matchParen(s, code, i)
			if closeAt < 0 {
				continue
			}
			dots := -1
			depth := 0
			for j := i + 1; j < closeAt; j++ {
				if !code[j] {
					continue
				}
				switch s[j] {
				case '(', '[', '{':
					depth++
				case ')', ']', '}':
					depth--
				case '.':
					if depth == 0 && j+1 < closeAt && s[j+1] == '.' && dots < 0 {
						dots = j
					}
				}
			}
			if dots < 0 {
				if s[i] == '(' && afterKeywordIn(s, code, i) && hasTopComma(s, code, i, closeAt) {
					out := rtext{r: slices.Clone(s), orig: slices.Clone(in.orig)}
					out.r[i], out.r[closeAt] = '[', ']'
					in, done = out, false
					break
				}
				continue
			}
			out := rtext{}
			for k := 0; k < i; k++ {
				out.emit(string(s[k]), in.orig[k])
			}
			out.emit("$f_interval(", in.orig[i])
			for k := i + 1; k < dots; k++ {
				out.emit(string(s[k]), in.orig[k])
			}
			out.emit(", ", in.orig[dots])
			for k := dots + 2; k < closeAt; k++ {
				out.emit(string(s[k]), in.orig[k])
			}
			out.emit(", "+strconv.FormatBool(s[i] == '[')+", "+strconv.FormatBool(s[closeAt] == ']')+")", in.orig[closeAt])
			for k := closeAt + 1; k < len(s); k++ {
				out.emit(string(s[k]), in.orig[k])
			}
			in, done = out, false
			break
		}
		if done {
			return in
		}
	}
}

// followsOperand reports whether the bracket at i follows a name, a literal or a closing
// bracket (a keyword such as "in" aside), making it a call or an index.
func followsOperand(s []rune, code []bool, i int) bool {
	j := i - 1
	for j >= 0 && code[j] && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
		j--
	}
	if j < 0 || !code[j] {
		return j >= 0 // after a string literal
	}
	if s[j] == ')' || s[j] == ']' {
		return true
	}
	if !isIdentRune(s[j]) {
		return false
	}
	k := j
	for k > 0 && isIdentRune(s[k-1]) {
		k--
	}
	return !feelKeywords[string(s[k:j+1])]
}

func afterKeywordIn(s []rune, code []bool, i int) bool {
	j := i - 1
	for j >= 0 && code[j] && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n') {
		j--
	}
	return j >= 1 && s[j] == 'n' && s[j-1] == 'i' && (j < 2 || !isIdentRune(s[j-2]))
}

func hasTopComma(s []rune, code []bool, open, closeAt int) bool {
	depth := 0
	for j := open + 1; j < closeAt; j++ {
		if !code[j] {
			continue
		}
		switch s[j] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				return true
			}
		}
	}
	return false
}

// feelIfs rewrites "if C then A else B" as "(C ? A : B)", innermost (last) first.
func feelIfs(in rtext) rtext {
	for {
		s, code := in.r, codeMask(in.r)
		kw := func(i int, w string) bool {
			return code[i] && isFEELWord(s, i) && string(s[i:wordAt(s, i)]) == w
		}
		at := -1
		for i := range s {
			if kw(i, "if") {
				at = i
			}
		}
		if at < 0 {
			return in
		}
		// then and else at the if's bracket depth; the else branch ends at a closing
		// bracket or comma of that depth, or an outer if's then or else.
		find := func(from int, stop func(i, depth int) bool) int {
			depth := 0
			for i := from; i < len(s); i++ {
				if code[i] {
					switch s[i] {
					case '(', '[', '{':
						depth++
					case ')', ']', '}':
						depth--
					}
				}
				if stop(i, depth) {
					return i
				}
			}
			return len(s)
		}
		thenAt := find(at+2, func(i, d int) bool { return d < 0 || d == 0 && kw(i, "then") })
		if thenAt >= len(s) || !kw(thenAt, "then") {
			return in // no then: left for expr to refuse
		}
		elseAt := find(thenAt+4, func(i, d int) bool { return d < 0 || d == 0 && kw(i, "else") })
		if elseAt >= len(s) || !kw(elseAt, "else") {
			return in
		}
		endAt := find(elseAt+4, func(i, d int) bool {
			return d < 0 || d == 0 && (code[i] && s[i] == ',' || kw(i, "then") || kw(i, "else"))
		})
		out := rtext{}
		copyRange := func(a, b int) {
			for k := a; k < b; k++ {
				out.emit(string(s[k]), in.orig[k])
			}
		}
		copyRange(0, at)
		out.emit("(", in.orig[at])
		copyRange(at+2, thenAt)
		out.emit("?", in.orig[thenAt])
		copyRange(thenAt+4, elseAt)
		out.emit(":", in.orig[elseAt])
		copyRange(elseAt+4, endAt)
		out.emit(")", in.orig[min(endAt, len(s)-1)])
		copyRange(endAt, len(s))
		in = out
	}
}

// feelPatch makes FEEL's "in" and 1-based indexing, and passes the budget to the FEEL
// functions.
type feelPatch struct{}

func (feelPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == "in" {
			ast.Patch(node, call("$f_in", budgetIdent(), n.Left, n.Right))
		}
	case *ast.MemberNode:
		if _, isName := n.Property.(*ast.StringNode); !isName && !n.Method {
			ast.Patch(node, call("$f_index", budgetIdent(), n.Node, n.Property))
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && strings.HasPrefix(id.Value, "$f_") && id.Value != "$f_in" && id.Value != "$f_index" {
			if len(n.Arguments) == 0 || !isBudgetIdent(n.Arguments[0]) {
				n.Arguments = append([]ast.Node{budgetIdent()}, n.Arguments...)
			}
		}
	}
}

func isBudgetIdent(n ast.Node) bool {
	id, ok := n.(*ast.IdentifierNode)
	return ok && id.Value == budgetVar
}
