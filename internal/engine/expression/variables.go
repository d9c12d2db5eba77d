package expression

import (
	"slices"

	"github.com/expr-lang/expr/ast"
)

// names are the free identifiers of an expression.
type names struct {
	read      map[string]bool // every variable read; value: required
	functions map[string]bool // functions called by bare name, not builtins
}

// collectNames walks the tree the way ast.Walk does, but with the scope of
// "let" declarations, so that a declared name is not taken for a variable.
func collectNames(root ast.Node) names {
	n := names{read: map[string]bool{}, functions: map[string]bool{}}
	n.walk(root, nil, false)
	return n
}

// walk visits node. scope holds the names declared by enclosing "let"s;
// optional is set on the chain left of "??", whose root variable may be
// missing.
func (n *names) walk(node ast.Node, scope []string, optional bool) {
	switch v := node.(type) {
	case nil:
	case *ast.IdentifierNode:
		if v.Value == "$env" || slices.Contains(scope, v.Value) {
			return
		}
		n.read[v.Value] = n.read[v.Value] || !optional
	case *ast.UnaryNode:
		n.walk(v.Node, scope, false)
	case *ast.BinaryNode:
		// Only a bare name or an optional chain may be missing left of
		// "??": in a.b ?? c a missing a still fails to fetch b.
		_, ident := v.Left.(*ast.IdentifierNode)
		_, chain := v.Left.(*ast.ChainNode)
		n.walk(v.Left, scope, v.Operator == "??" && (ident || chain))
		n.walk(v.Right, scope, false)
	case *ast.ChainNode:
		n.walk(v.Node, scope, optional)
	case *ast.MemberNode:
		if id, ok := v.Node.(*ast.IdentifierNode); ok && id.Value == "$env" && !slices.Contains(scope, "$env") {
			// $env.x and $env["x"] read x without requiring it.
			if s, ok := v.Property.(*ast.StringNode); ok && !slices.Contains(scope, s.Value) {
				if _, seen := n.read[s.Value]; !seen {
					n.read[s.Value] = false
				}
			}
		}
		n.walk(v.Node, scope, optional)
		n.walk(v.Property, scope, false)
	case *ast.SliceNode:
		n.walk(v.Node, scope, false)
		n.walk(v.From, scope, false)
		n.walk(v.To, scope, false)
	case *ast.CallNode:
		if id, ok := v.Callee.(*ast.IdentifierNode); ok {
			if !slices.Contains(scope, id.Value) {
				n.functions[id.Value] = true
			}
		} else {
			n.walk(v.Callee, scope, false)
		}
		for _, a := range v.Arguments {
			n.walk(a, scope, false)
		}
	case *ast.BuiltinNode:
		for _, a := range v.Arguments {
			n.walk(a, scope, false)
		}
	case *ast.PredicateNode:
		n.walk(v.Node, scope, false)
	case *ast.VariableDeclaratorNode:
		n.walk(v.Value, scope, false)
		n.walk(v.Expr, append(slices.Clip(scope), v.Name), false)
	case *ast.SequenceNode:
		for _, e := range v.Nodes {
			n.walk(e, scope, false)
		}
	case *ast.ConditionalNode:
		n.walk(v.Cond, scope, false)
		n.walk(v.Exp1, scope, false)
		n.walk(v.Exp2, scope, false)
	case *ast.ArrayNode:
		for _, e := range v.Nodes {
			n.walk(e, scope, false)
		}
	case *ast.MapNode:
		for _, e := range v.Pairs {
			n.walk(e, scope, false)
		}
	case *ast.PairNode:
		n.walk(v.Key, scope, false)
		n.walk(v.Value, scope, false)
	}
	// Literals, pointers (#, #index, .field in predicates) and constants
	// read no variable.
}

// sorted returns the keys of m in order; with onlyTrue, only those whose
// value is true.
func sorted(m map[string]bool, onlyTrue bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v || !onlyTrue {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
