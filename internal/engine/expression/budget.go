package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
)

// expr has no loops, but its predicates (map, filter, any, reduce, ...) nest, and
// strings and arrays can double on every "+": a one-line expression can run for a
// minute or allocate gigabytes, and the VM cannot be interrupted from outside. Compile
// therefore instruments the program so that it counts its own work against a [Budget]:
//
//   - every iteration of a predicate body is a step (MaxSteps);
//   - every string, array or map that "+" or a building builtin (join, repeat, upper,
//     toJSON, concat, ...) produces is charged by its length (MaxBuiltBytes); repeat,
//     join and replace are checked before they allocate, and the arguments of toJSON,
//     string, concat and flatten are measured before they are copied;
//   - the wall-clock time of the evaluations is checked with the steps and the
//     charges (MaxDuration), a backstop for work the counts do not see.
//
// expr's own memory budget (MemoryBudget) still bounds ranges and literals. Every
// refusal is an *Error whose cause is ErrBudget and whose message names the limit.
const (
	// MaxSteps is the number of predicate iterations (one element of map, filter,
	// all, any, count, sum, reduce, sortBy, groupBy, find, ...) a budget allows.
	// A few milliseconds of simple predicates: a hostile expression is refused
	// by this count, the same on every machine, well before MaxDuration.
	MaxSteps = 100_000
	// MaxBuiltBytes is the total length (bytes of strings, elements of arrays and
	// maps) of the values that string and array building may produce in a budget.
	MaxBuiltBytes = 16 << 20
	// MaxDuration is the evaluation time a budget allows, whatever the counts say: a
	// backstop for work the counts do not see. It is wall-clock time, which a loaded
	// machine stretches (a goroutine descheduled in the middle of "a + 1"), so it sits
	// far above what any counted expression takes: hostile ones are refused by
	// MaxSteps and MaxBuiltBytes, the same on every machine, long before.
	MaxDuration = time.Second
	// MemoryBudget is expr's own allocation budget for one evaluation (elements of
	// ranges, array and map literals, repeat); the value is expr's default, named
	// here so that the limit is stated in one place.
	MemoryBudget = 1_000_000
	// timeCheckEvery is how many steps pass between two looks at the clock.
	timeCheckEvery = 64
)

// ErrBudget is the cause of an [Error] when an evaluation exceeds its budget: too
// many steps, too many bytes built, too much time or expr's memory budget.
var ErrBudget = errors.New("expression budget exceeded")

// Budget is the work that evaluations may do: MaxSteps, MaxBuiltBytes and MaxDuration
// shared by every evaluation run with it. [Program.Eval] uses a fresh budget per
// call; a caller that evaluates many expressions for one purpose (the engine, for one
// command) passes one budget to [Program.EvalIn] so that their sum is bounded. A
// Budget is not safe for concurrent use.
type Budget struct {
	// The limits: the constants, smaller in tests.
	maxSteps, maxBytes int64
	maxDuration        time.Duration

	steps int64
	bytes int64
	spent time.Duration // evaluation time of the evaluations that finished
	start time.Time     // start of the running evaluation
}

// NewBudget returns a full budget.
func NewBudget() *Budget {
	return &Budget{maxSteps: MaxSteps, maxBytes: MaxBuiltBytes, maxDuration: MaxDuration}
}

// Used reports the steps, built bytes and evaluation time spent so far.
func (b *Budget) Used() (steps, bytes int64, spent time.Duration) {
	return b.steps, b.bytes, b.spent
}

func (b *Budget) begin() { b.start = time.Now() }

func (b *Budget) end() {
	b.spent += time.Since(b.start)
	b.start = time.Time{}
}

func (b *Budget) elapsed() time.Duration {
	if b.start.IsZero() {
		return b.spent
	}
	return b.spent + time.Since(b.start)
}

func (b *Budget) checkTime() error {
	if b.elapsed() > b.maxDuration {
		return fmt.Errorf("%w: evaluation took longer than %v (MaxDuration)", ErrBudget, b.maxDuration)
	}
	return nil
}

func (b *Budget) step() error {
	b.steps++
	if b.steps > b.maxSteps {
		return fmt.Errorf("%w: more than %d steps (MaxSteps)", ErrBudget, b.maxSteps)
	}
	if b.steps%timeCheckEvery == 0 {
		return b.checkTime()
	}
	return nil
}

func (b *Budget) charge(n int64) error {
	if n < 0 || n > b.maxBytes || b.bytes+n > b.maxBytes {
		return fmt.Errorf("%w: builds more than %d bytes of strings and arrays (MaxBuiltBytes)", ErrBudget, b.maxBytes)
	}
	b.bytes += n
	return b.checkTime()
}

// Names the instrumented program uses. The "$" keeps them apart from the names a
// model would use (see moduloFunc).
const (
	budgetVar   = "$budget"
	stepFunc    = "$step"
	growFunc    = "$grow"
	measureFunc = "$measure"
)

// checkedBuiltins are builtins that may allocate far more than their arguments hold:
// they are replaced by a function of the same meaning that checks the size of its
// result before building it.
var checkedBuiltins = map[string]func(args []any) (int64, error){
	"repeat":  repeatSize,
	"join":    joinSize,
	"replace": replaceSize,
}

// measuredBuiltins copy their argument (deeply, for toJSON and string): the argument
// is measured and charged before the call.
var measuredBuiltins = map[string]bool{"toJSON": true, "string": true, "concat": true, "flatten": true}

// grownBuiltins return a new string, array or map that may be as large as their
// input: the result is charged.
var grownBuiltins = map[string]bool{
	"trim": true, "trimPrefix": true, "trimSuffix": true, "upper": true, "lower": true,
	"split": true, "splitAfter": true, "toJSON": true, "fromJSON": true, "toBase64": true,
	"fromBase64": true, "string": true, "keys": true, "values": true, "toPairs": true,
	"fromPairs": true, "reverse": true, "uniq": true, "concat": true, "flatten": true,
	"sort": true, "take": true,
}

// budgetPatch instruments a tree as described at the top of this file.
type budgetPatch struct{}

func budgetIdent() ast.Node { return &ast.IdentifierNode{Value: budgetVar} }

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: &ast.IdentifierNode{Value: name}, Arguments: args}
}

func (budgetPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.PredicateNode:
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{call(stepFunc, budgetIdent()), n.Node}}
	case *ast.BinaryNode:
		if n.Operator == "+" && !isNumber(n) {
			ast.Patch(node, call(growFunc, budgetIdent(), n))
		}
	case *ast.BuiltinNode:
		if _, ok := checkedBuiltins[n.Name]; ok {
			ast.Patch(node, call("$"+n.Name, append([]ast.Node{budgetIdent()}, n.Arguments...)...))
			return
		}
		if measuredBuiltins[n.Name] {
			for i, a := range n.Arguments {
				n.Arguments[i] = call(measureFunc, budgetIdent(), a)
			}
		}
		if grownBuiltins[n.Name] {
			ast.Patch(node, call(growFunc, budgetIdent(), n))
		}
	}
}

// isNumber reports whether the checker knows n to be a number, so that "+" adds and
// builds nothing.
func isNumber(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// budgetOf is the Budget passed as the first argument of an instrumentation call.
func budgetOf(args []any) (*Budget, error) {
	if len(args) > 0 {
		if b, ok := args[0].(*Budget); ok && b != nil {
			return b, nil
		}
	}
	// Only a program compiled by this package calls these functions, always with
	// the budget Eval put in the environment.
	return nil, errors.New("expression budget missing")
}

func stepFn(args ...any) (any, error) {
	b, err := budgetOf(args)
	if err != nil {
		return nil, err
	}
	return nil, b.step()
}

// growFn charges the length of its second argument and returns it.
func growFn(args ...any) (any, error) {
	b, err := budgetOf(args)
	if err != nil || len(args) != 2 {
		return nil, errors.Join(err, errors.New("$grow needs a value"))
	}
	return args[1], b.charge(shallowSize(args[1]))
}

// measureFn charges the deep size of its second argument and returns it.
func measureFn(args ...any) (any, error) {
	b, err := budgetOf(args)
	if err != nil || len(args) != 2 {
		return nil, errors.Join(err, errors.New("$measure needs a value"))
	}
	n, ok := deepSize(args[1], b.maxBytes-b.bytes)
	if !ok {
		n = b.maxBytes + 1
	}
	return args[1], b.charge(n)
}

// checkedFn returns the replacement of a checked builtin: size computes the length
// of the result from the arguments, which is charged before expr's own builtin runs.
func checkedFn(name string, size func([]any) (int64, error)) func(args ...any) (any, error) {
	fn := builtin.Builtins[builtin.Index[name]]
	return func(args ...any) (any, error) {
		b, err := budgetOf(args)
		if err != nil {
			return nil, err
		}
		args = args[1:]
		n, err := size(args)
		if err != nil {
			return nil, err
		}
		if err := b.charge(n); err != nil {
			return nil, err
		}
		if fn.Safe != nil {
			out, _, err := fn.Safe(args...)
			return out, err
		}
		return fn.Func(args...)
	}
}

func repeatSize(args []any) (int64, error) {
	if len(args) != 2 {
		return 0, fmt.Errorf("invalid number of arguments for repeat (expected 2, got %d)", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return 0, fmt.Errorf("invalid argument for repeat (type %T)", args[0])
	}
	n, ok := toFloat(args[1])
	if !ok || n < 0 {
		return 0, fmt.Errorf("invalid argument for repeat (expected positive integer, got %v)", args[1])
	}
	return mulSize(int64(len(s)), n), nil
}

func joinSize(args []any) (int64, error) {
	if len(args) != 1 && len(args) != 2 {
		return 0, fmt.Errorf("invalid number of arguments for join (expected 1 or 2, got %d)", len(args))
	}
	glue := 0
	if len(args) == 2 {
		s, ok := args[1].(string)
		if !ok {
			return 0, fmt.Errorf("invalid argument for join (type %T)", args[1])
		}
		glue = len(s)
	}
	var total int64
	add := func(s string) { total += int64(len(s)) + int64(glue) }
	switch a := args[0].(type) {
	case []string:
		for _, s := range a {
			add(s)
		}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				add(s)
			}
		}
	}
	return total, nil
}

func replaceSize(args []any) (int64, error) {
	if len(args) != 3 && len(args) != 4 {
		return 0, fmt.Errorf("invalid number of arguments for replace (expected 3 or 4, got %d)", len(args))
	}
	s, ok1 := args[0].(string)
	old, ok2 := args[1].(string)
	repl, ok3 := args[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return 0, fmt.Errorf("invalid argument for replace (types %T, %T, %T)", args[0], args[1], args[2])
	}
	count := int64(strings.Count(s, old)) // len(runes)+1 for an empty old, as ReplaceAll
	if len(args) == 4 {
		if limit, ok := toFloat(args[3]); ok && limit >= 0 && float64(count) > limit {
			count = int64(limit)
		}
	}
	grow := int64(len(repl)) - int64(len(old))
	if grow <= 0 {
		return int64(len(s)), nil
	}
	return int64(len(s)) + mulSize(grow, float64(count)), nil
}

// mulSize is size*n, saturated so that it cannot overflow.
func mulSize(size int64, n float64) int64 {
	p := float64(size) * math.Floor(n)
	if p > 1<<62 {
		return 1 << 62
	}
	return int64(p)
}

// shallowSize is the length of a string, array or map (1 for anything else).
func shallowSize(v any) int64 {
	switch x := v.(type) {
	case string:
		return int64(len(x))
	case []any:
		return int64(len(x))
	case map[string]any:
		return int64(len(x))
	case nil, bool, int, float64:
		return 1
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return int64(rv.Len())
	}
	return 1
}

// deepSize is the bytes of the strings and the elements of the arrays and maps in v
// (every reference counted, as a copy would), or false once it exceeds limit.
func deepSize(v any, limit int64) (int64, bool) {
	var total int64
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			total += int64(len(x))
		case []any:
			total += int64(len(x))
			for _, e := range x {
				if total > limit || !walk(e) {
					return false
				}
			}
		case map[string]any:
			total += int64(len(x))
			for k, e := range x {
				total += int64(len(k))
				if total > limit || !walk(e) {
					return false
				}
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.Slice, reflect.Array:
				total += int64(rv.Len())
				for i := 0; i < rv.Len(); i++ {
					if total > limit || !walk(rv.Index(i).Interface()) {
						return false
					}
				}
			case reflect.Map:
				total += int64(rv.Len())
				it := rv.MapRange()
				for it.Next() {
					if total > limit || !walk(it.Key().Interface()) || !walk(it.Value().Interface()) {
						return false
					}
				}
			default:
				total++
			}
		}
		return total <= limit
	}
	ok := walk(v)
	return total, ok
}
