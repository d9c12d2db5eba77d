package expression

import (
	"errors"
	"fmt"
	"math"

	"github.com/expr-lang/expr/ast"
)

// expr's "%" accepts integers only, but JSON-decoded variables are always
// float64, so "counter % 2 == 0" would fail for every process variable.
// Compile therefore routes "%" through modulo, which keeps integer
// semantics for integers and uses math.Mod for other numbers.

// moduloFunc is the name the patched tree calls. The "$" keeps it apart
// from names a model would use.
const moduloFunc = "$mod"

// moduloPatch replaces every a % b with $mod(a, b).
type moduloPatch struct{}

func (moduloPatch) Visit(node *ast.Node) {
	b, ok := (*node).(*ast.BinaryNode)
	if !ok || b.Operator != "%" {
		return
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: moduloFunc},
		Arguments: []ast.Node{b.Left, b.Right},
	})
}

var errModuloByZero = errors.New("integer divide by zero")

func modulo(args ...any) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("%% needs 2 operands, got %d", len(args))
	}
	a, b := args[0], args[1]
	if x, ok := toInt(a); ok {
		if y, ok := toInt(b); ok {
			if y == 0 {
				return nil, errModuloByZero
			}
			return x % y, nil
		}
	}
	x, okA := toFloat(a)
	y, okB := toFloat(b)
	if !okA || !okB {
		return nil, fmt.Errorf("invalid operation: %T %% %T", a, b)
	}
	if y == 0 {
		return nil, errModuloByZero
	}
	return math.Mod(x, y), nil
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int8:
		return int(n), true
	case int16:
		return int(n), true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case uint8:
		return int(n), true
	case uint16:
		return int(n), true
	case uint32:
		return int(n), true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	if n, ok := toInt(v); ok {
		return float64(n), true
	}
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}
