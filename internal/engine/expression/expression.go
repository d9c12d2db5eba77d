package expression

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Program is a compiled expression. It is immutable and safe for concurrent
// use by many goroutines.
type Program struct {
	src       string
	norm      normalized
	prog      *vm.Program
	variables []string // every variable read, sorted
	required  []string // variables that must be defined, sorted
	functions []string // non-builtin functions called by name, sorted
	// budgeted: prog calls the budget functions and needs budgetVar in its
	// environment (see budget.go).
	budgeted bool
	// literal: the program is the constant value, not code (see Literal).
	literal bool
	value   any
}

// Literal returns a Program whose value is v, whatever the variables: a literal input or
// output value of a model (Camunda 7 text without "${…}", a Zeebe source without "="),
// which is a value, not an expression to parse. v must be a JSON value (string, float64,
// bool, nil, []any, map[string]any); it is returned as it is, so it must not be modified.
func Literal(v any) *Program {
	src := fmt.Sprint(v)
	if s, ok := v.(string); ok {
		src = s
	}
	return &Program{src: src, literal: true, value: v}
}

// Compile compiles src after removing the wrappers and applying the
// rewrites described in the package documentation. A syntax or type error,
// or an expression over MaxSourceBytes or MaxNesting (ErrTooLarge), is returned
// as an *Error.
func Compile(src string) (*Program, error) { return compile(src, false) }

// CompileFEEL compiles src as FEEL, the language of Camunda 8 models: Compile's
// rewrites, then the translation of the FEEL subset described in feel.go (if then
// else, names of several words, FEEL's functions, intervals and "in", 1-based list
// indexes). The program runs within the same budget as any other.
func CompileFEEL(src string) (*Program, error) { return compile(src, true) }

func compile(src string, feel bool) (*Program, error) {
	if err := checkSource(src); err != nil {
		return nil, err
	}
	norm := normalize(src)
	if strings.TrimSpace(norm.text) == "" {
		return nil, newError(src, "empty expression", nil)
	}
	if feel {
		norm = translateFEEL(norm)
		if err := checkSource(norm.text); err != nil {
			return nil, newError(src, "the FEEL translation is too large", ErrTooLarge)
		}
	}
	// Parse separately from expr.Compile: its optimizer may fold branches
	// away, and the variables a model reads are those it was written with.
	tree, err := parser.Parse(norm.text)
	if err != nil {
		return nil, compileError(src, norm, err)
	}
	// Compile once as written, for the errors a model's author should see (the
	// instrumented tree calls functions the checker knows less about), then with
	// the budget instrumentation, which is the program that runs.
	plain := []expr.Option{expr.Function(moduloFunc, modulo), expr.Patch(moduloPatch{})}
	run := budgetOptions
	if feel {
		plain = append(append(plain, feelOptions...), expr.Patch(feelPatch{}))
		run = append(append(append([]expr.Option(nil), budgetOptions...), feelOptions...), expr.Patch(feelPatch{}))
	}
	if _, err := expr.Compile(norm.text, plain...); err != nil {
		return nil, compileError(src, norm, err)
	}
	prog, err := expr.Compile(norm.text, run...)
	if err != nil {
		return nil, compileError(src, norm, err)
	}
	budgeted := false
	for _, c := range prog.Constants {
		if s, ok := c.(string); ok && s == budgetVar {
			budgeted = true
		}
	}
	n := collectNames(tree.Node)
	for f := range n.functions {
		if _, ok := feelFunctions[f]; ok && feel {
			delete(n.functions, f)
		}
	}
	return &Program{
		src:       src,
		norm:      norm,
		prog:      prog,
		variables: sorted(n.read, false),
		required:  sorted(n.read, true),
		functions: sorted(n.functions, false),
		budgeted:  budgeted,
	}, nil
}

// budgetOptions compile the instrumented program.
var budgetOptions = func() []expr.Option {
	opts := []expr.Option{
		expr.Function(moduloFunc, modulo),
		expr.Function(stepFunc, stepFn),
		expr.Function(growFunc, growFn),
		expr.Function(measureFunc, measureFn),
		expr.Patch(moduloPatch{}),
		expr.Patch(budgetPatch{}),
	}
	for name, size := range checkedBuiltins {
		opts = append(opts, expr.Function("$"+name, checkedFn(name, size)))
	}
	return opts
}()

// Source returns the expression as given to Compile.
func (p *Program) Source() string { return p.src }

// Variables returns the names of the variables the expression reads, in
// order, including those it reads without requiring them (left of "??",
// through $env). Names declared with "let" and predicate pointers are not
// variables.
func (p *Program) Variables() []string { return append([]string(nil), p.variables...) }

// Eval runs the expression with vars as its variables, within a fresh [Budget].
// vars is only read, but must not be modified while Eval runs. Failures are
// returned as *Error.
func (p *Program) Eval(vars map[string]any) (any, error) {
	return p.EvalIn(NewBudget(), vars)
}

// EvalIn is Eval within budget b, which it spends: an evaluation that exceeds it
// fails with an *Error whose cause is [ErrBudget].
func (p *Program) EvalIn(b *Budget, vars map[string]any) (result any, err error) {
	if p.literal {
		return p.value, nil
	}
	for _, name := range p.required {
		if _, ok := vars[name]; !ok {
			return nil, newError(p.src, fmt.Sprintf("variable %q is not defined", name), ErrUndefined)
		}
	}
	for _, name := range p.functions {
		if _, ok := vars[name]; !ok {
			return nil, newError(p.src, fmt.Sprintf("function %q is not defined", name), ErrUndefined)
		}
	}
	// expr's VM recovers its own panics; this guards the rest (conversions
	// of user values, future expr versions), because one bad expression in
	// a model must not bring down the engine.
	defer func() {
		if r := recover(); r != nil {
			result = nil
			e := newError(p.src, fmt.Sprintf("panic: %v", r), nil)
			if cause, ok := r.(error); ok {
				e.Err = cause
			}
			err = e
		}
	}()
	if err := b.checkTime(); err != nil {
		return nil, newError(p.src, err.Error(), err)
	}
	env := vars
	if p.budgeted {
		// The budget travels in the environment: the program is shared, the budget
		// belongs to this evaluation.
		env = make(map[string]any, len(vars)+1)
		for k, v := range vars {
			env[k] = v
		}
		env[budgetVar] = b
	} else if env == nil {
		env = map[string]any{}
	}
	b.begin()
	defer b.end()
	// A fresh VM per call keeps Program shareable.
	machine := vm.VM{MemoryBudget: MemoryBudget}
	out, err := machine.Run(p.prog, env)
	if err != nil {
		return nil, p.runError(err)
	}
	if f, ok := out.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return nil, newError(p.src, fmt.Sprintf("result %v is not a finite number (division by zero?)", f), ErrNotFinite)
	}
	return out, nil
}

// EvalBool runs the expression as a condition. A result that is not a bool
// (nil included) is an error naming the type received.
func (p *Program) EvalBool(vars map[string]any) (bool, error) {
	return p.EvalBoolIn(NewBudget(), vars)
}

// EvalBoolIn is EvalBool within budget b (see [Program.EvalIn]).
func (p *Program) EvalBoolIn(b *Budget, vars map[string]any) (bool, error) {
	out, err := p.EvalIn(b, vars)
	if err != nil {
		return false, err
	}
	v, ok := out.(bool)
	if !ok {
		return false, newError(p.src, fmt.Sprintf("condition must be a bool, got %s", typeName(out)), ErrNotBool)
	}
	return v, nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case float64, float32, int, int64, int32, uint, uint64:
		return fmt.Sprintf("number (%T %v)", v, v)
	case string:
		return "string"
	case map[string]any:
		return "map"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// compileError converts an error from expr's parser or compiler.
func compileError(src string, norm normalized, err error) *Error {
	e := newError(src, err.Error(), err)
	var fe *file.Error
	if errors.As(err, &fe) {
		e.Msg = fe.Message
		if fe.Snippet != "" || fe.Line > 0 {
			e.setPos(norm.origPos(fe.From))
		}
	}
	return e
}

// runError converts an error returned by expr's VM.
func (p *Program) runError(err error) *Error {
	e := newError(p.src, err.Error(), err)
	var fe *file.Error
	if errors.As(err, &fe) {
		e.Msg = fe.Message
		if fe.Line > 0 {
			e.setPos(p.norm.origPos(fe.From))
		}
	}
	if !errors.Is(err, ErrBudget) && strings.Contains(e.Msg, "memory budget exceeded") {
		// expr's own budget (ranges, literals, repeat) reports a plain string.
		e.Msg = fmt.Sprintf("%v: allocates more than %d elements (MemoryBudget)", ErrBudget, MemoryBudget)
		e.Err = fmt.Errorf("%w: %w", ErrBudget, err)
	}
	return e
}
