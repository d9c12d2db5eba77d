package engine

import (
	"encoding/json"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Variable scopes.
//
// The process is the outermost scope (""). Below it, a token whose element has a scope
// of its own holds one, keyed by the token's id: an embedded subprocess (its children
// carry ScopeID = that id), a multi-instance body and each of its inner instances, and
// a task with input mappings (the mapped inputs are local to the task, as in Camunda 7
// and Zeebe). A token's scope chain is its own id, then its ScopeID, that token's
// ScopeID, … up to the process.
//
//   - Reading walks the chain from the inside out: a local variable shadows one of the
//     same name further out (env).
//   - Setting a variable that exists somewhere along the chain updates it there; a new
//     one goes to the process, unless it is set locally (input mappings, the
//     multi-instance variables). Output mappings start one scope out: they write from
//     the activity into the scope around it (Camunda 7's semantics; setMode).
//   - A scope's variables are deleted when its token leaves its element or is removed
//     (endScope, from leave and dropToken): a token moving on to the next element keeps
//     its id, and must not take the last element's locals along.
//
// An instance without locals (most instances) pays nothing: locals stays nil, env is the
// process's values map itself, and every set goes to the process.

// scopeVars are the variables of one scope below the process.
type scopeVars struct {
	vars   map[string]*store.Variable
	values map[string]any
}

// setMode says where setVariables puts each variable.
type setMode int

const (
	// setNearest: into the innermost scope of the token's chain that holds the name,
	// else the process (a handler's result, a completed task's values, a message).
	setNearest setMode = iota
	// setParent: as setNearest, starting at the scope around the token (output mappings).
	setParent
	// setLocal: into the token's own scope (input mappings, multi-instance variables).
	setLocal
)

// local returns the variables of scope id, creating them.
func (r *run) local(id string) *scopeVars {
	if r.locals == nil {
		r.locals = map[string]*scopeVars{}
	}
	sv := r.locals[id]
	if sv == nil {
		sv = &scopeVars{vars: map[string]*store.Variable{}, values: map[string]any{}}
		r.locals[id] = sv
	}
	return sv
}

// chain calls fn with each scope of tok's chain that has variables, innermost first,
// starting at tok's own scope (or the one around it, when outer), until fn returns false.
func (r *run) chain(tok *store.Token, outer bool, fn func(id string, sv *scopeVars) bool) {
	id := tok.ID
	if outer {
		id = tok.ScopeID
	}
	// Bounded by the nesting of scopes (bpmn.MaxDepth); the guard stops a corrupt cycle.
	for guard := 0; id != "" && guard < 1024; guard++ {
		if sv := r.locals[id]; sv != nil {
			if !fn(id, sv) {
				return
			}
		}
		t := r.tokens[id]
		if t == nil {
			return
		}
		id = t.ScopeID
	}
}

// env is what expressions evaluated at tok see: the process's variables, shadowed by
// those of tok's scopes. Without locals on the chain it is r.values itself (no copy);
// callers must not change it.
func (r *run) env(tok *store.Token) map[string]any {
	env, _ := r.envOf(tok)
	return env
}

// envOf is env, and whether the map is a copy of the run's own (the caller may add to
// it) rather than r.values itself.
func (r *run) envOf(tok *store.Token) (map[string]any, bool) {
	if len(r.locals) == 0 || tok == nil {
		return r.values, false
	}
	var scopes []*scopeVars
	r.chain(tok, false, func(_ string, sv *scopeVars) bool {
		scopes = append(scopes, sv)
		return true
	})
	if len(scopes) == 0 {
		return r.values, false
	}
	n := len(r.values)
	for _, sv := range scopes {
		n += len(sv.values)
	}
	env := make(map[string]any, n)
	for k, v := range r.values {
		env[k] = v
	}
	for i := len(scopes) - 1; i >= 0; i-- {
		for k, v := range scopes[i].values {
			env[k] = v
		}
	}
	return env, true
}

// target is the scope a variable named name set at tok goes to.
func (r *run) target(tok *store.Token, name string, mode setMode) string {
	if tok == nil {
		return ""
	}
	if mode == setLocal {
		return tok.ID
	}
	if len(r.locals) == 0 {
		return ""
	}
	scope := ""
	r.chain(tok, mode == setParent, func(id string, sv *scopeVars) bool {
		if _, ok := sv.vars[name]; ok {
			scope = id
			return false
		}
		return true
	})
	return scope
}

// endScope deletes the variables of scope id (its token left its element or is gone).
func (r *run) endScope(id string) {
	sv := r.locals[id]
	if sv == nil {
		return
	}
	for name := range sv.vars {
		k := store.VariableKey{Scope: id, Name: name}
		if r.delVars == nil {
			r.delVars = map[store.VariableKey]bool{}
		}
		delete(r.putVars, k)
		r.delVars[k] = true
	}
	delete(r.locals, id)
}

// setVariables sets variables at tok (nil: in the process) where each already is,
// else in the process (setNearest).
func (r *run) setVariables(vars map[string]any, tok *store.Token, n *node) error {
	return r.setVariablesIn(vars, tok, n, setNearest)
}

// setVariablesIn validates and stores variables where mode puts them, writing one
// variables.changed event per scope they go to (the process's first). Nothing is
// stored unless every value is valid and the values fit the size limits
// (MaxVariableBytes each, MaxVariablesBytes together), measured as the events publish
// them.
func (r *run) setVariablesIn(vars map[string]any, tok *store.Token, n *node, mode setMode) error {
	if len(vars) == 0 {
		return nil
	}
	type set struct {
		name  string
		scope string
		dv    any
		raw   json.RawMessage
		typ   string
	}
	sets := make([]set, 0, len(vars))
	// The events' data is built here, in the bytes json.Marshal of the map would give
	// (sorted keys, HTML-safe escaping), so the size checked is the size published. The
	// process's variables are in data; those of other scopes in scoped, by scope.
	data := append(make([]byte, 0, 64), `{"variables":{`...)
	// The variables of other scopes: one scope (the usual case: a task's inputs, an
	// instance's counters) in one, more in scoped.
	var one string
	var oneData []byte
	var scoped map[string][]byte
	var scopes []string
	total := 0
	for _, name := range sortedKeys(vars) {
		if name == "" {
			return fmt.Errorf("variable name is empty: %w", ErrInvalidInput)
		}
		if len(name) > MaxNameBytes { // tested first: the label is formatted only for the error
			return checkSize(fmt.Sprintf("variable name %.40q…", name), len(name), MaxNameBytes)
		}
		dv, raw, typ, err := normalise(name, vars[name])
		if err != nil {
			return err
		}
		enc, err := json.Marshal(dv)
		if err != nil {
			return fmt.Errorf("variable %q: %v: %w", name, err, ErrInvalidInput)
		}
		if len(enc) > MaxVariableBytes {
			return checkSize(fmt.Sprintf("variable %q (JSON-encoded)", name), len(enc), MaxVariableBytes)
		}
		qname, _ := json.Marshal(name)
		scope := r.target(tok, name, mode)
		switch {
		case scope == "":
			data = appendVar(data, qname, enc)
		case oneData == nil || scope == one:
			if oneData == nil {
				one, oneData = scope, scopeHead(scope)
			}
			oneData = appendVar(oneData, qname, enc)
		default:
			if scoped == nil {
				scoped = map[string][]byte{}
			}
			b, ok := scoped[scope]
			if !ok {
				b = scopeHead(scope)
				scopes = append(scopes, scope)
			}
			scoped[scope] = appendVar(b, qname, enc)
		}
		// All of them count together, as if they were one process event.
		total += len(qname) + 1 + len(enc) + 1
		if len(`{"variables":{`)+total-1 > MaxVariablesBytes {
			return fmt.Errorf("the variables set at once are more than the limit of %d bytes (JSON-encoded, at %q): %w",
				MaxVariablesBytes, name, ErrInvalidInput)
		}
		sets = append(sets, set{name, scope, dv, raw, typ})
	}
	if r.p != nil && r.p.conditional { // nil: a run without a plan (tests of the values alone)
		names := make([]string, len(sets))
		for i, v := range sets {
			names[i] = v.name
		}
		r.varsChangedFor(names)
	}
	hasProcess := false
	for _, v := range sets {
		sv := &store.Variable{InstanceID: r.inst.ID, Scope: v.scope, Name: v.name, Type: v.typ, Value: v.raw, UpdatedAt: r.now}
		k := store.VariableKey{Scope: v.scope, Name: v.name}
		r.putVars[k] = sv
		if r.delVars != nil {
			delete(r.delVars, k)
		}
		if v.scope == "" {
			hasProcess = true
			r.vars[v.name] = sv
			r.values[v.name] = v.dv
		} else {
			l := r.local(v.scope)
			l.vars[v.name] = sv
			l.values[v.name] = v.dv
		}
	}
	if hasProcess {
		r.eventJSON(event.VariablesChanged, tok, n, append(data, '}', '}'))
	}
	if oneData != nil {
		r.eventJSON(event.VariablesChanged, tok, n, append(oneData, '}', '}'))
	}
	for _, scope := range scopes {
		r.eventJSON(event.VariablesChanged, tok, n, append(scoped[scope], '}', '}'))
	}
	return nil
}

// scopeHead starts the data of a scope's variables.changed: {"scope":"<id>","variables":{
func scopeHead(scope string) []byte {
	b := appendString(append(make([]byte, 0, 64), '{'), event.FieldScope, scope)
	return append(b, `,"variables":{`...)
}

// appendVar appends "name":value to a JSON object under construction.
func appendVar(b, qname, enc []byte) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return append(append(append(b, qname...), ':'), enc...)
}
