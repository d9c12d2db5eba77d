package expression

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// jsonVars decodes s the way the engine stores variables.
func jsonVars(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func TestEvalBool(t *testing.T) {
	t.Parallel()
	vars := `{"amount": 100, "approved": true, "name": "Ann", "tier": "gold",
		"items": [{"price": 5}, {"price": 20}], "customer": {"age": 42, "tags": ["a","b"]},
		"nothing": null, "zero": 0}`
	tests := []struct {
		src  string
		want bool
	}{
		{"amount > 10", true},
		{"amount == 100", true},
		{"amount >= 100.0", true},
		{"amount < 10.5", false},
		{"amount != 100", false},
		{"approved", true},
		{"!approved", false},
		{"not approved", false},
		{"approved and amount > 50", true},
		{"approved && amount > 500", false},
		{"amount > 500 or name == 'Ann'", true},
		{"name == \"Ann\"", true},
		{"name startsWith 'A'", true},
		{"tier in ['gold', 'silver']", true},
		{"customer.age > 40", true},
		{"customer.tags[1] == 'b'", true},
		{"'a' in customer.tags", true},
		{"len(items) == 2", true},
		{"any(items, .price > 10)", true},
		{"all(items, .price > 10)", false},
		{"nothing == nil", true},
		{"nothing == null", true},
		{"customer.missing == nil", true},
		{"customer?.missing?.deeper == nil", true},
		{"amount / 4 == 25", true},
		{"amount % 3 == 1", true},
		{"let limit = 50; amount > limit", true},
		{"(discount ?? 0) == 0", true},
		{"(customer?.discount ?? 0) == 0", true},
		{"amount % 3.5 == 2", true},
		{"-7 % 2 == -1", true},
		{"$env.discount == nil", true},
		{"'discount' in $env", false},
		{"'amount' in $env", true},
		{"amount > 10 ? true : false", true},
		{"if amount > 10 { true } else { false }", true},
		{"zero / 1 == 0", true},
		// Wrappers and rewrites.
		{"${amount > 10}", true},
		{"  ${ amount > 10 }  ", true},
		{"#{amount > 10}", true},
		{"${ {'k': amount}.k == 100 }", true},
		{"${name != '}'}", true},
		{"= amount > 10", true},
		{"=amount > 10", true},
		{"amount = 100", true},
		{"= tier = \"gold\"", true},
		{"name = 'a=b'", false},
		{"amount <= 100 and amount >= 100", true},
		{"nothing = null", true},
		{"name != null", true},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.EvalBool(jsonVars(t, vars))
			if err != nil {
				t.Fatalf("EvalBool: %v", err)
			}
			if got != tt.want {
				t.Errorf("EvalBool = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	vars := `{"amount": 100, "name": "Ann", "items": [{"price": 5}, {"price": 20}], "null": 1}`
	tests := []struct {
		src  string
		want any
	}{
		{"amount * 2", 200.0},
		{"1 + 2", 3},
		{"7 / 2", 3.5},
		{"name + '!'", "Ann!"},
		{"upper(name)", "ANN"},
		{"sum(items, .price)", 25.0},
		{"map(items, .price)", []any{5.0, 20.0}},
		{"{'total': amount, 'who': name}", map[string]any{"total": 100.0, "who": "Ann"}},
		{"null", nil},
		{"$env.null", 1.0},
		{"'null = x'", "null = x"},
		{"`null` // null = 1", "null"},
		{"/* null */ 1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(jsonVars(t, vars))
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		wantErr string
		line    int
		col     int
	}{
		{"amount >", `expression "amount >": unexpected token EOF (1:8)`, 1, 8},
		{"${amount >}", `expression "${amount >}": unexpected token EOF (1:10)`, 1, 10},
		{"= a > > b", `expression "= a > > b": unexpected token Operator(">") (1:7)`, 1, 7},
		{"a ==\n  )", `expression "a ==\n  )": unexpected token Bracket(")") (2:3)`, 2, 3},
		{`"a" + 1`, `expression "\"a\" + 1": invalid operation: + (mismatched types string and int) (1:5)`, 1, 5},
		{"1 +", `expression "1 +": unexpected token EOF (1:3)`, 1, 3},
		{"", `expression "": empty expression`, 0, 0},
		{"${ }", `expression "${ }": empty expression`, 0, 0},
		{"=", `expression "=": empty expression`, 0, 0},
		{"${a} and ${b}", "", 1, 2},
		{"let x = 1; x = 2", "", 1, 14},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.src)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile error = %v (%T), want *Error", err, err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("error = %q\n       want %q", err.Error(), tt.wantErr)
			}
			if e.Expr != tt.src || e.Line != tt.line || e.Column != tt.col {
				t.Errorf("Error{Expr: %q, Line: %d, Column: %d}, want %q %d:%d", e.Expr, e.Line, e.Column, tt.src, tt.line, tt.col)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src     string
		vars    string
		wantErr string
		is      error
	}{
		{"amount > 10", `{}`, `expression "amount > 10": variable "amount" is not defined`, ErrUndefined},
		{"${amout > 10}", `{"amount": 1}`, `expression "${amout > 10}": variable "amout" is not defined`, ErrUndefined},
		{"ok || missing", `{"ok": true}`, `expression "ok || missing": variable "missing" is not defined`, ErrUndefined},
		{"(x ?? 1) + x", `{}`, `expression "(x ?? 1) + x": variable "x" is not defined`, ErrUndefined},
		{"foo(1)", `{}`, `expression "foo(1)": function "foo" is not defined`, ErrUndefined},
		{"a + 1", `{"a": "s"}`, `expression "a + 1": invalid operation: string + int (1:3)`, nil},
		{"a % b", `{"a": 5, "b": 0}`, `expression "a % b": integer divide by zero (1:3)`, nil},
		{"a % 2", `{"a": "x"}`, `expression "a % 2": invalid operation: string % int (1:3)`, nil},
		{"a.b ?? 1", `{}`, `expression "a.b ?? 1": variable "a" is not defined`, ErrUndefined},
		{"a / b", `{"a": 5, "b": 0}`, `expression "a / b": result +Inf is not a finite number (division by zero?)`, ErrNotFinite},
		{"len(a)", `{"a": 5}`, `expression "len(a)": invalid argument for len (type float64) (1:1)`, nil},
		{"a.b.c", `{"a": {"b": 1}}`, "", nil},
		{"a > 1", `{"a": "x"}`, `expression "a > 1": invalid operation: string > int (1:3)`, nil},
		{"= a", `{"a": 1}`, `expression "= a": condition must be a bool, got number (float64 1)`, ErrNotBool},
		{"a", `{"a": null}`, `expression "a": condition must be a bool, got nil`, ErrNotBool},
		{"a", `{"a": "true"}`, `expression "a": condition must be a bool, got string`, ErrNotBool},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = p.EvalBool(jsonVars(t, tt.vars))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("EvalBool error = %v (%T), want *Error", err, err)
			}
			if tt.wantErr != "" && err.Error() != tt.wantErr {
				t.Errorf("error = %q\n       want %q", err.Error(), tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{"1 + 2", nil},
		{"amount > 10 && customer.age > limit", []string{"amount", "customer", "limit"}},
		{"${b > a and a > c}", []string{"a", "b", "c"}},
		{"let x = y + 1; x * z", []string{"y", "z"}},
		{"let x = x + 1; x", []string{"x"}},
		{"filter(items, .price > low) | map(#.price * rate)", []string{"items", "low", "rate"}},
		{"discount ?? 0", []string{"discount"}},
		{"$env.x + $env['y']", []string{"x", "y"}},
		{"m[key]", []string{"key", "m"}},
		{"f(a)", []string{"a"}},
		{"len(s)", []string{"s"}},
		{"null == x", []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if got := p.Variables(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Variables() = %q, want %q", got, tt.want)
			}
			if p.Source() != tt.src {
				t.Errorf("Source() = %q, want %q", p.Source(), tt.src)
			}
		})
	}
}

func TestOptionalVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		{"discount ?? 0", 0},
		{"customer?.a.b ?? 'basic'", "basic"},
		{"customer?.tier ?? 'basic'", "basic"},
		{"$env.discount ?? 5", 5},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(nil)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	p, err := Compile("let total = sum(items, .price) * qty; total > limit ? 'big' : 'small'")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, runs = 32, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range runs {
				qty := float64(g*runs + i)
				vars := map[string]any{
					"items": []any{map[string]any{"price": 1.5}, map[string]any{"price": 2.5}},
					"qty":   qty,
					"limit": 1000,
				}
				want := "small"
				if 4*qty > 1000 {
					want = "big"
				}
				got, err := p.Eval(vars)
				if err != nil || got != want {
					errs <- fmt.Errorf("qty %v: got %v, %v; want %v", qty, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentSharedVars: many goroutines evaluate programs over one variables map,
// as the engine does for every outgoing flow of a gateway. Each evaluation must give
// what a lone one gives (value or error), and the map must come out as it went in: a
// budgeted program runs over a copy with its budget added, never over the caller's map.
func TestConcurrentSharedVars(t *testing.T) {
	t.Parallel()
	const doc = `{"a": 1, "b": [1, 2, 3], "c": {"d": "x"}}`
	vars, before := jsonVars(t, doc), jsonVars(t, doc)
	type outcome struct {
		value any
		err   string
	}
	eval := func(p *Program) outcome {
		v, err := p.Eval(vars)
		if err != nil {
			return outcome{err: err.Error()}
		}
		return outcome{value: v}
	}
	var progs []*Program
	budgeted := false
	for _, src := range []string{"a + 1", "b[1] * a", "c.d + 'y'", "missing", "a / 0",
		"map(b, # * a)", "filter(b, # > a)", "repeat(c.d, 3)", "b[a] > 1 ? 'big' : 'small'"} {
		p, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		progs = append(progs, p)
		budgeted = budgeted || p.budgeted
	}
	if !budgeted {
		t.Fatal("no program is budgeted: the copy of the variables goes untested")
	}
	want := make([]outcome, len(progs))
	for i, p := range progs {
		want[i] = eval(p)
	}
	const goroutines, rounds = 16, 50
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				for i, p := range progs {
					if got := eval(p); !reflect.DeepEqual(got, want[i]) {
						errs <- fmt.Errorf("%s: got %+v, alone %+v", p.Source(), got, want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !reflect.DeepEqual(vars, before) {
		t.Errorf("the shared variables changed: %v, were %v", vars, before)
	}
}
