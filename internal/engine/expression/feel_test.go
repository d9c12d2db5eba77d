package expression

import (
	"errors"
	"reflect"
	"testing"
)

func TestFEEL(t *testing.T) {
	t.Parallel()
	vars := jsonVars(t, `{"amount": 120, "order total": 50, "total order amount": 7, "items": ["a", "b", "c"],
		"name": "Ann", "customer": {"tier": "gold"}, "nothing": null, "flags": [true, false]}`)
	tests := []struct {
		src  string
		want any
	}{
		{`=if amount > 100 then "big" else "small"`, "big"},
		{`=if amount > 1000 then "huge" else if amount > 100 then "big" else "small"`, "big"},
		{`=if amount > 100 then if amount > 110 then 2 else 1 else 0`, 2},
		{`=[if amount < 0 then "neg" else "pos", "x"]`, []any{"pos", "x"}},
		{`=order total > 40 and amount < 200`, true},
		{`=total order amount = 7`, true},
		{`=order total + 1`, float64(51)},
		{`=is defined(customer.tier)`, true},
		{`=is defined(customer.missing)`, false},
		{`=is defined(undeclared)`, false},
		{`=is defined(order total)`, true},
		{`=not(is defined(undeclared))`, true},
		{`=string length(name) = 3`, true},
		{`=upper case(name) + lower case("X")`, "ANNx"},
		{`=substring(name, 2)`, "nn"},
		{`=substring("foobar", 3, 3)`, "oba"},
		{`=substring("foobar", -2)`, "ar"},
		{`=starts with(name, "A") and ends with(name, "n") and contains(name, "n")`, true},
		{`=substring before("foo@bar", "@") + "|" + substring after("foo@bar", "@")`, "foo|bar"},
		{`=matches("A-17", "^[A-Z]-[0-9]+$")`, true},
		{`=items[1]`, "a"},
		{`=items[-1]`, "c"},
		{`=items[4]`, nil},
		{`=customer["tier"]`, "gold"},
		{`=count(items)`, float64(3)},
		{`=list contains(items, "b")`, true},
		{`=index of(items, "c")`, []any{float64(3)}},
		{`=distinct values([1, 2, 1])`, []any{1, 2}},
		{`=append(items, "d")`, []any{"a", "b", "c", "d"}},
		{`=concatenate([1], [2, 3])`, []any{1, 2, 3}},
		{`=sublist(items, 2, 1)`, []any{"b"}},
		{`=string join(items, ",")`, "a,b,c"},
		{`=all(flags)`, false},
		{`=any(flags)`, true},
		{`=mean([1, 2, 3])`, float64(2)},
		{`=number("12.5") + 1`, 13.5},
		{`=decimal(1.125, 2)`, 1.12},
		{`=modulo(-5, 3)`, float64(1)},
		{`=ceiling(1.2)`, float64(2)},
		{`=amount in [100..200]`, true},
		{`=amount in (100..120)`, false},
		{`=amount in (100..120]`, true},
		{`=amount in (1, 2, 120)`, true},
		{`="b" in items`, true},
		{`=nothing = null`, true},
		{`=amount >= 100 or name != "Ann"`, true},
		{`=if is defined(customer.tier) and customer.tier = "gold" then amount * 0.5 else amount`, float64(60)},
	}
	for _, tt := range tests {
		p, err := CompileFEEL(tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		got, err := p.Eval(vars)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %#v, want %#v (as expr: %s)", tt.src, got, tt.want, p.norm.text)
		}
	}
}

func TestFEELErrors(t *testing.T) {
	t.Parallel()
	vars := jsonVars(t, `{"items": [{"price": 5}], "amount": 1}`)
	// A filter is refused when it runs, naming what to use instead.
	p, err := CompileFEEL(`=items[price > 3]`)
	if err == nil {
		if _, err = p.Eval(vars); err == nil {
			t.Error("a filter evaluated")
		}
	}
	// An undefined variable is still an error, also inside an if.
	p, err = CompileFEEL(`=if missing > 1 then 1 else 2`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(vars); !errors.Is(err, ErrUndefined) {
		t.Errorf("undefined: %v", err)
	}
	// The budget holds for FEEL's functions: a list built past MaxBuiltBytes is refused.
	p, err = CompileFEEL(`=count(map(1..200000, string(#)))`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(vars); !errors.Is(err, ErrBudget) {
		t.Errorf("budget: %v", err)
	}
	// Errors point into the text as written.
	if _, err := CompileFEEL(`=if amount then`); err == nil {
		t.Error("if without else compiled")
	}
}
