package expression

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr"
)

// The functions of the FEEL translation (feel.go). Each takes the budget first (the patch
// passes it), charges the lists and strings it builds, and counts a step per element it
// visits, like expr's own builtins under the budget (budget.go).

// interval is a FEEL range such as [1..10] or (0..1].
type interval struct {
	lo, hi                any
	lowClosed, highClosed bool
}

type feelFn func(b *Budget, args []any) (any, error)

var feelFunctions = map[string]feelFn{
	"$f_in":            feelIn,
	"$f_index":         feelIndex,
	"$f_interval":      feelInterval,
	"$f_is_defined":    feelIsDefined,
	"$f_string_length": strFn(1, 1, func(s []string, _ []any) (any, error) { return float64(utf8.RuneCountInString(s[0])), nil }),
	"$f_upper_case":    strFn(1, 1, func(s []string, _ []any) (any, error) { return strings.ToUpper(s[0]), nil }),
	"$f_lower_case":    strFn(1, 1, func(s []string, _ []any) (any, error) { return strings.ToLower(s[0]), nil }),
	"$f_contains":      strFn(2, 2, func(s []string, _ []any) (any, error) { return strings.Contains(s[0], s[1]), nil }),
	"$f_starts_with":   strFn(2, 2, func(s []string, _ []any) (any, error) { return strings.HasPrefix(s[0], s[1]), nil }),
	"$f_ends_with":     strFn(2, 2, func(s []string, _ []any) (any, error) { return strings.HasSuffix(s[0], s[1]), nil }),
	"$f_substring_before": strFn(2, 2, func(s []string, _ []any) (any, error) {
		v, _, _ := strings.Cut(s[0], s[1])
		return cutOr(v, s[0], s[1]), nil
	}),
	"$f_substring_after": strFn(2, 2, func(s []string, _ []any) (any, error) {
		_, v, ok := strings.Cut(s[0], s[1])
		return afterOr(v, ok), nil
	}),
	"$f_matches":       feelMatches,
	"$f_substring":     feelSubstring,
	"$f_string_join":   feelStringJoin,
	"$f_count":         listFn(func(b *Budget, l []any, _ []any) (any, error) { return float64(len(l)), nil }),
	"$f_list_contains": listFn(func(b *Budget, l []any, rest []any) (any, error) { return listHas(b, l, arg(rest, 0)) }),
	"$f_append": listFn(func(b *Budget, l []any, rest []any) (any, error) {
		return built(b, append(append([]any{}, l...), rest...))
	}),
	"$f_concatenate":     feelConcatenate,
	"$f_distinct_values": listFn(feelDistinct),
	"$f_index_of":        listFn(feelIndexOf),
	"$f_sublist":         listFn(feelSublist),
	"$f_all":             boolsFn(true),
	"$f_any":             boolsFn(false),
	"$f_mean":            feelMean,
	"$f_number":          feelNumber,
	"$f_decimal":         feelDecimal,
	"$f_modulo":          feelModulo,
	"$f_ceiling":         feelCeiling,
}

// feelOptions register the functions for expr.
var feelOptions = func() []expr.Option {
	var opts []expr.Option
	for name, fn := range feelFunctions {
		opts = append(opts, expr.Function(name, func(args ...any) (any, error) {
			b, err := budgetOf(args)
			if err != nil {
				return nil, err
			}
			return fn(b, args[1:])
		}))
	}
	return opts
}()

func arg(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

func cutOr(before, s, sep string) string {
	if !strings.Contains(s, sep) {
		return ""
	}
	return before
}

func afterOr(after string, ok bool) string {
	if !ok {
		return ""
	}
	return after
}

func built(b *Budget, v any) (any, error) { return v, b.charge(shallowSize(v)) }

func steps(b *Budget, n int) error {
	for range n {
		if err := b.step(); err != nil {
			return err
		}
	}
	return nil
}

func strFn(minArgs, maxArgs int, fn func(s []string, rest []any) (any, error)) feelFn {
	return func(b *Budget, args []any) (any, error) {
		if len(args) < minArgs || len(args) > maxArgs {
			return nil, fmt.Errorf("want %d to %d arguments, got %d", minArgs, maxArgs, len(args))
		}
		ss := make([]string, 0, len(args))
		for i, a := range args {
			if a == nil {
				return nil, nil // FEEL: null in, null out
			}
			s, ok := a.(string)
			if !ok {
				return nil, fmt.Errorf("argument %d is %T, want a string", i+1, a)
			}
			ss = append(ss, s)
		}
		v, err := fn(ss, args)
		if s, ok := v.(string); ok && err == nil {
			return built(b, s)
		}
		return v, err
	}
}

func toList(v any) ([]any, bool) {
	switch l := v.(type) {
	case []any:
		return l, true
	case []string:
		out := make([]any, len(l))
		for i, s := range l {
			out[i] = s
		}
		return out, true
	case []int:
		out := make([]any, len(l))
		for i, n := range l {
			out[i] = n
		}
		return out, true
	}
	return nil, false
}

func listFn(fn func(b *Budget, l []any, rest []any) (any, error)) feelFn {
	return func(b *Budget, args []any) (any, error) {
		if len(args) == 0 {
			return nil, errors.New("want a list")
		}
		l, ok := toList(args[0])
		if !ok {
			if args[0] == nil {
				return nil, nil
			}
			return nil, fmt.Errorf("argument 1 is %T, want a list", args[0])
		}
		if err := steps(b, len(l)); err != nil {
			return nil, err
		}
		return fn(b, l, args[1:])
	}
}

// feelEqual is FEEL's equality of JSON values: numbers by value.
func feelEqual(a, c any) bool {
	if x, ok := toFloat(a); ok {
		y, ok := toFloat(c)
		return ok && x == y
	}
	switch x := a.(type) {
	case nil, string, bool:
		return a == c
	case []any:
		y, ok := c.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !feelEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := c.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !feelEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func listHas(b *Budget, l []any, x any) (any, error) {
	for _, v := range l {
		if feelEqual(v, x) {
			return true, nil
		}
	}
	return false, nil
}

// compare orders two numbers or two strings.
func compare(a, c any) (int, error) {
	if x, ok := toFloat(a); ok {
		if y, ok := toFloat(c); ok {
			switch {
			case x < y:
				return -1, nil
			case x > y:
				return 1, nil
			}
			return 0, nil
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := c.(string); ok {
			return strings.Compare(x, y), nil
		}
	}
	return 0, fmt.Errorf("cannot compare %s with %s", typeName(a), typeName(c))
}

func feelInterval(b *Budget, args []any) (any, error) {
	if len(args) != 4 {
		return nil, errors.New("interval needs two ends")
	}
	lc, _ := args[2].(bool)
	hc, _ := args[3].(bool)
	return &interval{lo: args[0], hi: args[1], lowClosed: lc, highClosed: hc}, nil
}

func feelIn(b *Budget, args []any) (any, error) {
	x, r := arg(args, 0), arg(args, 1)
	switch v := r.(type) {
	case *interval:
		lo, err := compare(x, v.lo)
		if err != nil {
			return nil, err
		}
		hi, err := compare(x, v.hi)
		if err != nil {
			return nil, err
		}
		return (lo > 0 || lo == 0 && v.lowClosed) && (hi < 0 || hi == 0 && v.highClosed), nil
	case map[string]any:
		s, ok := x.(string)
		if !ok {
			return false, nil
		}
		_, has := v[s]
		return has, nil
	}
	if l, ok := toList(r); ok {
		if err := steps(b, len(l)); err != nil {
			return nil, err
		}
		return listHas(b, l, x)
	}
	return feelEqual(x, r), nil // FEEL: x in 5 is x = 5
}

// feelIndex is FEEL's list[i]: from 1, negative from the end, null out of range; a
// context's entry by name.
func feelIndex(b *Budget, args []any) (any, error) {
	c, i := arg(args, 0), arg(args, 1)
	if m, ok := c.(map[string]any); ok {
		k, ok := i.(string)
		if !ok {
			return nil, fmt.Errorf("a context is indexed by name, not %s", typeName(i))
		}
		return m[k], nil
	}
	if s, ok := c.(string); ok {
		c = []any{s} // FEEL: a single value is a list of one
	}
	l, ok := toList(c)
	if !ok {
		if c == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot index %s", typeName(c))
	}
	if _, isBool := i.(bool); isBool {
		return nil, errors.New("FEEL filters (list[condition]) are not supported: use expr's filter(list, condition)")
	}
	n, ok := toFloat(i)
	if !ok || n != math.Trunc(n) {
		return nil, fmt.Errorf("list index %v is not a whole number", i)
	}
	k := int(n)
	switch {
	case k > 0 && k <= len(l):
		return l[k-1], nil
	case k < 0 && -k <= len(l):
		return l[len(l)+k], nil
	}
	return nil, nil
}

func feelIsDefined(b *Budget, args []any) (any, error) {
	env, _ := arg(args, 0).(map[string]any)
	path, _ := arg(args, 1).(string)
	var cur any = env
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false, nil
		}
		if cur, ok = m[strings.TrimSpace(p)]; !ok {
			return false, nil
		}
	}
	return cur != nil, nil
}

func feelMatches(b *Budget, args []any) (any, error) {
	if len(args) < 2 {
		return nil, errors.New("matches(input, pattern) needs 2 arguments")
	}
	s, ok1 := args[0].(string)
	p, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return nil, errors.New("matches(input, pattern) takes strings")
	}
	if err := b.charge(int64(len(p) + len(s))); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(p) // RE2: linear in the input
	if err != nil {
		return nil, err
	}
	return re.MatchString(s), nil
}

func feelSubstring(b *Budget, args []any) (any, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, errors.New("substring(string, start, length?) needs 2 or 3 arguments")
	}
	s, ok := args[0].(string)
	start, ok2 := toFloat(args[1])
	if !ok || !ok2 {
		return nil, errors.New("substring(string, start, length?): want a string and numbers")
	}
	r := []rune(s)
	i := int(start)
	if i < 0 {
		i = len(r) + i
	} else {
		i--
	}
	i = max(0, min(i, len(r)))
	j := len(r)
	if len(args) == 3 {
		n, ok := toFloat(args[2])
		if !ok || n < 0 {
			return nil, errors.New("substring: the length must be a non-negative number")
		}
		j = min(len(r), i+int(n))
	}
	return built(b, string(r[i:j]))
}

func feelStringJoin(b *Budget, args []any) (any, error) {
	l, ok := toList(arg(args, 0))
	if !ok {
		return nil, errors.New("string join(list, delimiter?) takes a list")
	}
	sep, _ := arg(args, 1).(string)
	var parts []string
	for _, v := range l {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("string join: %s is not a string", typeName(v))
		}
		parts = append(parts, s)
	}
	n, _ := joinSize([]any{parts, sep})
	if err := b.charge(n); err != nil {
		return nil, err
	}
	return strings.Join(parts, sep), nil
}

func feelConcatenate(b *Budget, args []any) (any, error) {
	var out []any
	for _, a := range args {
		l, ok := toList(a)
		if !ok {
			return nil, fmt.Errorf("concatenate: %s is not a list", typeName(a))
		}
		if err := b.charge(int64(len(l))); err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	if out == nil {
		out = []any{}
	}
	return out, nil
}

func feelDistinct(b *Budget, l []any, _ []any) (any, error) {
	out := []any{}
	for _, v := range l {
		if has, _ := listHas(b, out, v); has.(bool) {
			continue
		}
		if err := b.step(); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return built(b, out)
}

func feelIndexOf(b *Budget, l []any, rest []any) (any, error) {
	out := []any{}
	for i, v := range l {
		if feelEqual(v, arg(rest, 0)) {
			out = append(out, float64(i+1))
		}
	}
	return built(b, out)
}

func feelSublist(b *Budget, l []any, rest []any) (any, error) {
	start, ok := toFloat(arg(rest, 0))
	if !ok {
		return nil, errors.New("sublist(list, start, length?): start must be a number")
	}
	i := int(start)
	if i < 0 {
		i = len(l) + i
	} else {
		i--
	}
	i = max(0, min(i, len(l)))
	j := len(l)
	if len(rest) > 1 {
		n, ok := toFloat(rest[1])
		if !ok || n < 0 {
			return nil, errors.New("sublist: the length must be a non-negative number")
		}
		j = min(len(l), i+int(n))
	}
	return built(b, append([]any{}, l[i:j]...))
}

// boolsFn is FEEL's all (every value true) or any (some value true), of a list or of
// the arguments.
func boolsFn(all bool) feelFn {
	return func(b *Budget, args []any) (any, error) {
		l := args
		if len(args) == 1 {
			if ll, ok := toList(args[0]); ok {
				l = ll
			}
		}
		if err := steps(b, len(l)); err != nil {
			return nil, err
		}
		for _, v := range l {
			x, ok := v.(bool)
			if !ok {
				return nil, fmt.Errorf("%s is not a boolean", typeName(v))
			}
			if x != all {
				return !all, nil
			}
		}
		return all, nil
	}
}

func numbers(b *Budget, args []any) ([]float64, error) {
	l := args
	if len(args) == 1 {
		if ll, ok := toList(args[0]); ok {
			l = ll
		}
	}
	if err := steps(b, len(l)); err != nil {
		return nil, err
	}
	out := make([]float64, 0, len(l))
	for _, v := range l {
		x, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", typeName(v))
		}
		out = append(out, x)
	}
	return out, nil
}

func feelMean(b *Budget, args []any) (any, error) {
	ns, err := numbers(b, args)
	if err != nil || len(ns) == 0 {
		return nil, err
	}
	sum := 0.0
	for _, n := range ns {
		sum += n
	}
	return sum / float64(len(ns)), nil
}

func feelNumber(b *Budget, args []any) (any, error) {
	switch v := arg(args, 0).(type) {
	case string:
		var f float64
		if _, err := fmt.Sscan(strings.TrimSpace(v), &f); err != nil {
			return nil, nil // FEEL: not a number is null
		}
		return f, nil
	case nil:
		return nil, nil
	default:
		if f, ok := toFloat(v); ok {
			return f, nil
		}
	}
	return nil, fmt.Errorf("number: %s is not a string", typeName(arg(args, 0)))
}

func feelDecimal(b *Budget, args []any) (any, error) {
	n, ok1 := toFloat(arg(args, 0))
	s, ok2 := toFloat(arg(args, 1))
	if !ok1 || !ok2 || s < 0 || s > 15 {
		return nil, errors.New("decimal(n, scale) takes a number and a scale from 0 to 15")
	}
	p := math.Pow(10, s)
	return math.RoundToEven(n*p) / p, nil // FEEL's decimal rounds half to even
}

func feelModulo(b *Budget, args []any) (any, error) {
	d, ok1 := toFloat(arg(args, 0))
	v, ok2 := toFloat(arg(args, 1))
	if !ok1 || !ok2 {
		return nil, errors.New("modulo(dividend, divisor) takes numbers")
	}
	if v == 0 {
		return nil, errModuloByZero
	}
	return d - v*math.Floor(d/v), nil // FEEL: the sign of the divisor
}

func feelCeiling(b *Budget, args []any) (any, error) {
	n, ok := toFloat(arg(args, 0))
	if !ok {
		return nil, errors.New("ceiling(n) takes a number")
	}
	return math.Ceil(n), nil
}
