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
}

// Compile compiles src after removing the wrappers and applying the
// rewrites described in the package documentation. A syntax or type error,
// or an expression over MaxSourceBytes or MaxNesting (ErrTooLarge), is returned
// as an *Error.
func Compile(src string) (*Program, error) {
	if err := checkSource(src); err != nil {
		return nil, err
	}
	norm := normalize(src)
	if strings.TrimSpace(norm.text) == "" {
		return nil, newError(src, "empty expression", nil)
	}
	// Parse separately from expr.Compile: its optimizer may fold branches
	// away, and the variables a model reads are those it was written with.
	tree, err := parser.Parse(norm.text)
	if err != nil {
		return nil, compileError(src, norm, err)
	}
	prog, err := expr.Compile(norm.text,
		expr.Function(moduloFunc, modulo),
		expr.Patch(moduloPatch{}))
	if err != nil {
		return nil, compileError(src, norm, err)
	}
	n := collectNames(tree.Node)
	return &Program{
		src:       src,
		norm:      norm,
		prog:      prog,
		variables: sorted(n.read, false),
		required:  sorted(n.read, true),
		functions: sorted(n.functions, false),
	}, nil
}

// Source returns the expression as given to Compile.
func (p *Program) Source() string { return p.src }

// Variables returns the names of the variables the expression reads, in
// order, including those it reads without requiring them (left of "??",
// through $env). Names declared with "let" and predicate pointers are not
// variables.
func (p *Program) Variables() []string { return append([]string(nil), p.variables...) }

// Eval runs the expression with vars as its variables. vars is only read,
// but must not be modified while Eval runs. Failures are returned as *Error.
func (p *Program) Eval(vars map[string]any) (result any, err error) {
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
	env := vars
	if env == nil {
		env = map[string]any{}
	}
	// expr.Run uses a fresh VM per call, which keeps Program shareable.
	out, err := expr.Run(p.prog, env)
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
	out, err := p.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, newError(p.src, fmt.Sprintf("condition must be a bool, got %s", typeName(out)), ErrNotBool)
	}
	return b, nil
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
	return e
}
