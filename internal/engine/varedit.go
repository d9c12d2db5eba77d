package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Operators' edits of variables that setting cannot express: deleting one, and renaming
// one (its value kept). Both act on one variable of one scope (scope.go): "" is the
// process, else the id of the token whose scope holds the variable; the same name in
// another scope is not touched. Each is one command on the instance with its history
// event (variables.deleted, variables.renamed), attributed to the scope's token and
// element; conditional events watching the names are checked as after a change.

// DeleteVariable deletes the variable name of scope in an instance that has not ended.
// A variable that is not there is ErrNotFound.
func (e *Engine) DeleteVariable(ctx context.Context, instanceID, scope, name string) error {
	err := e.update(ctx, instanceID, func(r *run) error {
		v, tok, err := r.editable(scope, name)
		if err != nil {
			return err
		}
		r.dropVariable(scope, name)
		r.event(event.VariablesDeleted, tok, r.scopeNode(tok), scopedData(scope, map[string]any{"names": []string{v.Name}}))
		if r.p.conditional {
			r.varsChangedFor([]string{name})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete variable %q of %q: %w", name, instanceID, err)
	}
	return nil
}

// RenameVariable gives the variable name of scope the name to, keeping its value and
// type. A variable that is not there is ErrNotFound; a variable named to in the same
// scope already is ErrInvalidState (delete it first).
func (e *Engine) RenameVariable(ctx context.Context, instanceID, scope, name, to string) error {
	if strings.TrimSpace(to) == "" {
		return fmt.Errorf("rename variable %q of %q: the new name is empty: %w", name, instanceID, ErrInvalidInput)
	}
	if err := checkSize("new variable name", len(to), MaxNameBytes); err != nil {
		return fmt.Errorf("rename variable %q of %q: %w", name, instanceID, err)
	}
	if to == name {
		return fmt.Errorf("rename variable %q of %q: the new name is the same: %w", name, instanceID, ErrInvalidInput)
	}
	err := e.update(ctx, instanceID, func(r *run) error {
		v, tok, err := r.editable(scope, name)
		if err != nil {
			return err
		}
		if r.scopeVar(scope, to) != nil {
			return fmt.Errorf("a variable %q exists in the scope already: %w", to, ErrInvalidState)
		}
		value := r.values[name]
		if scope != "" {
			value = r.locals[scope].values[name]
		}
		r.dropVariable(scope, name)
		nv := &store.Variable{InstanceID: r.inst.ID, Scope: scope, Name: to, Type: v.Type, Value: v.Value, UpdatedAt: r.now}
		k := store.VariableKey{Scope: scope, Name: to}
		r.putVars[k] = nv
		if r.delVars != nil {
			delete(r.delVars, k)
		}
		if scope == "" {
			r.vars[to], r.values[to] = nv, value
		} else {
			l := r.local(scope)
			l.vars[to], l.values[to] = nv, value
		}
		r.event(event.VariablesRenamed, tok, r.scopeNode(tok), scopedData(scope, map[string]any{"from": name, "to": to}))
		if r.p.conditional {
			r.varsChangedFor([]string{name, to})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rename variable %q of %q to %q: %w", name, instanceID, to, err)
	}
	return nil
}

// editable finds the variable name of scope in an instance that has not ended, with the
// scope's token (nil for the process).
func (r *run) editable(scope, name string) (*store.Variable, *store.Token, error) {
	if r.ended() {
		return nil, nil, fmt.Errorf("instance %q has ended (%s): %w", r.inst.ID, r.inst.State, ErrInvalidState)
	}
	v := r.scopeVar(scope, name)
	if v == nil {
		where := "the process"
		if scope != "" {
			where = fmt.Sprintf("scope %q", scope)
		}
		return nil, nil, fmt.Errorf("no variable %q in %s: %w", name, where, ErrNotFound)
	}
	var tok *store.Token
	if scope != "" {
		tok = r.tokens[scope]
	}
	return v, tok, nil
}

// scopeVar is the variable name of scope, or nil.
func (r *run) scopeVar(scope, name string) *store.Variable {
	if scope == "" {
		return r.vars[name]
	}
	if sv := r.locals[scope]; sv != nil {
		return sv.vars[name]
	}
	return nil
}

// dropVariable deletes the variable name of scope, in memory and in the store.
func (r *run) dropVariable(scope, name string) {
	k := store.VariableKey{Scope: scope, Name: name}
	delete(r.putVars, k)
	if r.delVars == nil {
		r.delVars = map[store.VariableKey]bool{}
	}
	r.delVars[k] = true
	if scope == "" {
		delete(r.vars, name)
		delete(r.values, name)
		return
	}
	if sv := r.locals[scope]; sv != nil {
		delete(sv.vars, name)
		delete(sv.values, name)
		if len(sv.vars) == 0 {
			delete(r.locals, scope)
		}
	}
}

// scopeNode is the node a scope's token stands at (nil for the process).
func (r *run) scopeNode(tok *store.Token) *node {
	if tok == nil {
		return nil
	}
	return r.p.nodes[tok.ElementID]
}

// scopedData adds the scope to an event's data, as variables.changed has it (absent
// for the process).
func scopedData(scope string, data map[string]any) map[string]any {
	if scope != "" {
		data[event.FieldScope] = scope
	}
	return data
}
