// Package expression compiles and evaluates the expressions found in BPMN
// models: sequence-flow conditions, script tasks and input/output mappings.
//
// Expressions use the language of github.com/expr-lang/expr
// (https://expr-lang.org). A [Program] is compiled once, without a fixed
// environment, and evaluated many times against a map of process variables.
// A Program is immutable after [Compile] and safe for concurrent use.
//
// # Accepted notation
//
// Models written for other engines wrap expressions in delimiters. Compile
// removes, in this order and only around the whole text:
//
//   - surrounding white space;
//   - a Camunda/JUEL wrapper "${...}" or "#{...}", when its closing brace
//     ends the text (so "${a} and ${b}", a JUEL composite, is not unwrapped
//     and fails to compile);
//   - a Zeebe/FEEL leading "=" (but not "==").
//
// Two cheap rewrites are then applied outside string literals and comments.
// Both only touch text that expr itself would reject or that has no other
// sensible meaning, so a valid expr program keeps its meaning:
//
//   - the word null becomes nil (except after "." or "#", where it is a
//     field or pointer name);
//   - a lone "=" becomes "==" (FEEL equality), unless the expression uses
//     "let", where "=" is assignment.
//
// "and", "or" and "not" need no rewrite: expr has them. After a leading "=",
// a whole "${…}" is unwrapped too ("=${a}": a Camunda 7 expression written
// back in Zeebe's form). Compile translates nothing else from FEEL or JUEL:
// not JUEL's eq/ne/lt/gt/le/ge/empty/div/mod operators.
//
// # FEEL
//
// [CompileFEEL] compiles the FEEL of Camunda 8 models: after the rewrites
// above, it translates the subset those models use into expr (if then
// else, names of several words, FEEL's string, list and number functions,
// intervals and "in", 1-based list indexes); feel.go lists what is and is
// not translated. The engine uses it for the "=…" expressions of Camunda 8
// documents.
//
// # Variables
//
// Variables hold JSON-decoded values (float64, string, bool, nil,
// map[string]any, []any). expr compares and adds ints and floats freely, so
// "amount > 10" works when amount is float64(100).
//
// Reading a variable that is not in the map is an error
// (`variable "amount" is not defined`, errors.Is [ErrUndefined]) rather
// than a silent nil, because a misspelt name in a gateway condition would
// otherwise route a token down the wrong flow. Two forms read a variable
// without requiring it: the left operand of "??" when it is a bare name or
// an optional chain ("discount ?? 0", "customer?.tier ?? 'basic'") and access through $env ("$env.x",
// "'x' in $env"). The check covers every variable the expression can read,
// also in branches that short-circuit evaluation would skip.
//
// Calling a function that is neither an expr builtin nor a function value in
// the variables is an error naming it (errors.Is [ErrUndefined]).
//
// # Numbers
//
// "/" always yields a float64: 7 / 2 is 3.5 and x / 0 is ±Inf (NaN for
// 0 / 0) inside an expression. A result of Eval that is not a finite number
// is an error, because it cannot be stored as a JSON variable.
//
// expr's "%" takes integers only, which would reject every JSON number, so
// Compile routes "%" through a function that keeps integer semantics for
// integers and uses math.Mod otherwise ("amount % 3" works on float64);
// "%" by zero is an error at run time.
//
// # Budget
//
// Every evaluation runs within a [Budget]: predicate steps ([MaxSteps]), bytes of
// strings and arrays built ([MaxBuiltBytes]) and time ([MaxDuration]), besides expr's
// own memory budget ([MemoryBudget]). Compile instruments the program to count its
// work (expr cannot be interrupted from outside); an evaluation over its budget fails
// with an [Error] whose cause is [ErrBudget] and whose message names the limit.
// [Program.Eval] has a fresh budget per call; [Program.EvalIn] shares one among many
// evaluations (the engine's per command).
package expression
