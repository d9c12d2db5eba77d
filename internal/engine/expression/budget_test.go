package expression

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// countingBudget is a full budget whose time limit cannot be reached in a test, so
// that the deterministic counts are what refuse an expression.
func countingBudget() *Budget {
	b := NewBudget()
	b.maxDuration = time.Hour
	return b
}

// TestHostileExpressions: each expression would run for seconds or allocate
// gigabytes without the budget. Each is refused with ErrBudget by the limit it names.
func TestHostileExpressions(t *testing.T) {
	t.Parallel()
	vars := map[string]any{"items": func() []any {
		out := make([]any, 1000)
		for i := range out {
			out[i] = float64(i)
		}
		return out
	}(), "s": strings.Repeat("x", 100_000)}
	tests := []struct {
		src   string
		limit string
	}{
		// Nested predicates: 1e9 iterations.
		{"let r = 1..999; count(r, any(r, any(r, # < 0)))", "MaxSteps"},
		{"count(items, any(items, any(items, # < 0)))", "MaxSteps"},
		{"len(map(items, filter(items, all(items, # >= 0))))", "MaxSteps"},
		{"sum(items, sum(items, sum(items, #)))", "MaxSteps"},
		{"len(sortBy(items, sum(items, #)))", "MaxSteps"},
		{"len(groupBy(items, count(items, count(items, true) > 0)))", "MaxSteps"},
		{"reduce(items, reduce(items, reduce(items, #acc + 1, 0), 0), 0)", "MaxSteps"},
		{"find(items, none(items, one(items, # < 0))) ?? 0", "MaxSteps"},
		{"let r = 1..999; count(r, any(r, any(r, upper('x') == 'y')))", "MaxSteps"},
		// Strings and arrays that double.
		{"len(reduce(1..64, #acc + #acc, 'x'))", "MaxBuiltBytes"},
		{"len(reduce(1..64, concat(#acc, #acc), [1]))", "MemoryBudget"},
		{"len(reduce(1..64, flatten([#acc, #acc]), [1]))", "MemoryBudget"},
		{"len(reduce(1..64, concat(#acc, [s]), []))", "MaxBuiltBytes"},
		{"let a = s + s; let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; let g = f + f; let h = g + g; len(h + h)", "MaxBuiltBytes"},
		{"len(upper(s) + lower(s) + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s + s)", "MaxBuiltBytes"},
		// One call that would allocate far more than its arguments hold.
		{"len(repeat(s, 999999))", "MaxBuiltBytes"},
		{"len(repeat(repeat('x', 100000), 999999))", "MaxBuiltBytes"},
		{"len(join(map(items, s)))", "MaxBuiltBytes"},
		{"len(join(map(1..100000, ''), s))", "MaxBuiltBytes"},
		{"len(replace(s, '', s))", "MaxBuiltBytes"},
		{"len(replace(s, 'x', s, 1000))", "MaxBuiltBytes"},
		{"len(toJSON(map(items, s)))", "MaxBuiltBytes"},
		{"len(string(map(items, s)))", "MaxBuiltBytes"},
		{"let m = {'a': s}; len(toJSON(map(items, m)))", "MaxBuiltBytes"},
		{"len(map(items, upper(s)))", "MaxBuiltBytes"},
		{"len(map(items, toBase64(s)))", "MaxBuiltBytes"},
		{"len(map(items, split(s, '')))", "MaxBuiltBytes"},
		// expr's own memory budget.
		{"len(1..1000000000)", "MemoryBudget"},
		{"len(sort(1..999999))", "MemoryBudget"},
		{"let r = 1..300; len(map(r, map(r, map(r, #))))", "MaxSteps"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			out, err := p.EvalIn(countingBudget(), vars)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrBudget) {
				t.Fatalf("Eval = %.40v, %v; want an *Error with ErrBudget", out, err)
			}
			if !strings.Contains(err.Error(), "("+tt.limit+")") {
				t.Errorf("error %q does not name %s", err, tt.limit)
			}
		})
	}
}

// TestBudgetAllowsOrdinaryWork: the instrumentation keeps the meaning of the
// expressions it counts, and the limits leave room for real models.
func TestBudgetAllowsOrdinaryWork(t *testing.T) {
	t.Parallel()
	vars := jsonVars(t, `{"items": [{"price": 5, "tags": ["a"]}, {"price": 20, "tags": ["b", "c"]}], "name": "Ann"}`)
	tests := []struct {
		src  string
		want any
	}{
		{"count(1..50000, # % 2 == 0)", 25000},
		{"len(repeat('ab', 1000))", 2000},
		{"join(map(items, string(.price)), ', ')", "5, 20"},
		{"replace(name, 'n', 'nn')", "Annnn"},
		{"replace(name, 'n', 'N', 1)", "ANn"},
		{"name + ' ' + upper(name)", "Ann ANN"},
		{"toJSON(map(items, .price))", "[\n  5,\n  20\n]"},
		{"len(concat(items, items))", 4},
		{"flatten(map(items, .tags))", []any{"a", "b", "c"}},
		{"sum(items, .price) + 1", 26.0},
		{"reduce(items, #acc + #.price, 0)", 25.0},
		{"len(reduce(1..10, #acc + 'x', ''))", 10},
		{"trim('  x ') + trimPrefix('ax', 'a')", "xx"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.EvalIn(countingBudget(), vars)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if g, w := fmt.Sprint(got), fmt.Sprint(tt.want); g != w {
				t.Errorf("Eval = %s, want %s", g, w)
			}
		})
	}
}

// TestBudgetIsShared: evaluations run within one budget share it (the engine passes
// one per command), and a spent budget refuses the next evaluation.
func TestBudgetIsShared(t *testing.T) {
	t.Parallel()
	p, err := Compile("count(1..40000, true)")
	if err != nil {
		t.Fatal(err)
	}
	b := countingBudget()
	for i := range 2 {
		if _, err := p.EvalIn(b, nil); err != nil {
			t.Fatalf("evaluation %d: %v", i+1, err)
		}
	}
	if steps, _, _ := b.Used(); steps != 80000 {
		t.Errorf("steps used = %d, want 80000", steps)
	}
	if _, err := p.EvalIn(b, nil); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "MaxSteps") {
		t.Fatalf("third evaluation: %v, want ErrBudget naming MaxSteps", err)
	}
	// Eval has a fresh budget of its own each time.
	q, err := Compile("count(1..60, true)")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := q.Eval(nil); err != nil {
			t.Fatalf("Eval: %v", err)
		}
	}
}

// TestBudgetTime: the time limit is the backstop for work the counts do not see.
func TestBudgetTime(t *testing.T) {
	t.Parallel()
	p, err := Compile("count(1..1000, true) + len(upper(name))")
	if err != nil {
		t.Fatal(err)
	}
	b := NewBudget()
	b.maxDuration = 0 // spent before it starts
	if _, err := p.EvalIn(b, map[string]any{"name": "x"}); !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "MaxDuration") {
		t.Fatalf("Eval: %v, want ErrBudget naming MaxDuration", err)
	}
	// An expression without predicates or building has nothing to count but is
	// still refused once the budget's time is spent.
	q, err := Compile("a > 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.EvalIn(b, map[string]any{"a": 2.0}); !errors.Is(err, ErrBudget) {
		t.Fatalf("Eval after the time is spent: %v, want ErrBudget", err)
	}
}

// TestBudgetCompileErrors: the instrumented program is compiled after the program
// as written, so a model's author sees the same compile errors as before.
func TestBudgetCompileErrors(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"repeat('x')", "join(1, 2, 3)", "replace('a', 1)", "upper(1)", "'a' + 1"} {
		if _, err := Compile(src); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", src)
		}
	}
}
