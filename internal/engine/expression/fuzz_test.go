package expression

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"amount > 10", "${amount > 10}", "#{a == null}", "= a = 1", "a ?? b",
	"let x = 1; x + y", "filter(items, .price % 2 == 0)", "$env.x", "foo(1)",
	"'unterminated", "/* open", "${", "${}", "=", "a\n>", "é = ü", "1 % 0",
	"a / 0", "len(items) > 1 ? 'x' : nil", "{a: [1, 2.5, true]}.a[1]",
	// Nesting at and past MaxNesting.
	strings.Repeat("(", 64) + "1" + strings.Repeat(")", 64), strings.Repeat("[", 65) + strings.Repeat("]", 65),
	"'((((' + \"[[[\" + `{{{`",
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error %T, want *Error", src, err)
			}
			if e.Pos >= 0 && (e.Line < 1 || e.Column < 1) {
				t.Fatalf("Compile(%q): Pos %d with Line %d Column %d", src, e.Pos, e.Line, e.Column)
			}
			return
		}
		vars := p.Variables()
		if !slices.IsSorted(vars) {
			t.Fatalf("Variables() not sorted: %q", vars)
		}
		if p.Source() != src {
			t.Fatalf("Source() = %q, want %q", p.Source(), src)
		}
		env := map[string]any{}
		for i, name := range vars {
			env[name] = float64(i)
		}
		_, _ = p.Eval(env)
		_, _ = p.EvalBool(nil)
	})
}

func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s, `{"amount": 100, "a": "x", "b": null, "items": [{"price": 3}], "x": {"y": [1, 2]}}`)
	}
	f.Fuzz(func(t *testing.T, src, varsJSON string) {
		var vars map[string]any
		if json.Unmarshal([]byte(varsJSON), &vars) != nil {
			return
		}
		p, err := Compile(src)
		if err != nil {
			return
		}
		out, err := p.Eval(vars)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Eval(%q) error %T, want *Error", src, err)
			}
			return
		}
		if _, err := p.EvalBool(vars); err == nil {
			if _, ok := out.(bool); !ok {
				t.Fatalf("EvalBool(%q) accepted %T", src, out)
			}
		}
	})
}
