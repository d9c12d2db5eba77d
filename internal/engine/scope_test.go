package engine_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// scopeVars returns an instance's variables by scope ("" the process), decoded.
func (v *env) scopeVars(id string) map[string]map[string]any {
	v.t.Helper()
	out := map[string]map[string]any{}
	for _, x := range v.detail(id).Variables {
		var val any
		if err := json.Unmarshal(x.Value, &val); err != nil {
			v.t.Fatal(err)
		}
		if out[x.Scope] == nil {
			out[x.Scope] = map[string]any{}
		}
		out[x.Scope][x.Name] = val
	}
	return out
}

// TestVariableScopesCamunda7: a task's camunda:inputParameter values are local to it
// (the handler sees them, the process does not keep them, a local shadows the process
// variable of its name); output parameters write into the process; a subprocess's input
// is local to it and updated there by its children; a child sets a process variable
// that exists where it is; the subprocess's locals are deleted when it ends.
func TestVariableScopesCamunda7(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		var seen map[string]any
		v.e.Handle("charge", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			mu.Lock()
			seen = maps.Clone(j.Variables)
			mu.Unlock()
			return map[string]any{"receiptNo": "r-1"}, nil
		})
		v.start()
		v.deploy("scopes_c7.bpmn")
		inst := v.startInstance("scopes_c7", map[string]any{"amount": 10, "note": "outer"})
		v.waitFor("task in the subprocess", func() bool { return len(v.detail(inst.ID).UserTasks) == 1 })

		mu.Lock()
		if seen["amount"] != 20.0 || seen["currency"] != "EUR" || seen["note"] != "outer" {
			t.Errorf("the handler saw %v, want amount 20 (the local input), currency EUR, note outer", seen)
		}
		mu.Unlock()
		d := v.detail(inst.ID)
		var sub *store.Token
		for _, tok := range d.Tokens {
			if tok.ElementID == "Activity_fulfil" {
				sub = tok
			}
		}
		if sub == nil {
			t.Fatalf("no token at the subprocess: %+v", d.Tokens)
		}
		got := v.scopeVars(inst.ID)
		want := map[string]map[string]any{
			"":     {"amount": 10.0, "note": "inner 1", "charged": 20.0, "receipt": "r-1"},
			sub.ID: {"attempts": 1.0},
		}
		if !equalJSON(got, want) {
			t.Errorf("variables by scope\n got %v\nwant %v", got, want)
		}
		// The input mapping's event names the task's scope; the process's events none.
		var local, process int
		for _, ev := range d.History {
			if ev.Type != event.VariablesChanged {
				continue
			}
			var data struct {
				Scope     string         `json:"scope"`
				Variables map[string]any `json:"variables"`
			}
			if err := json.Unmarshal(ev.Data, &data); err != nil {
				t.Fatal(err)
			}
			switch {
			case ev.ElementID == "Activity_charge" && data.Variables["currency"] == "EUR":
				local++
				if data.Scope == "" || data.Scope != ev.TokenID {
					t.Errorf("input mapping event: scope %q, token %q", data.Scope, ev.TokenID)
				}
			case data.Scope == "":
				process++
			}
		}
		if local != 1 || process == 0 {
			t.Errorf("%d local input events, %d process events", local, process)
		}

		if err := v.e.CompleteUserTask(v.ctx, v.openTask(inst.ID, "Activity_check").ID, nil); err != nil {
			t.Fatal(err)
		}
		v.waitState(inst.ID, store.InstanceCompleted)
		got = v.scopeVars(inst.ID)
		want = map[string]map[string]any{
			"": {"amount": 10.0, "note": "inner 1", "charged": 20.0, "receipt": "r-1", "attemptsOut": 1.0},
		}
		if !equalJSON(got, want) {
			t.Errorf("variables after the end\n got %v\nwant %v", got, want)
		}
	})
}

// TestVariableScopesZeebe: zeebe:input mappings are local to the task (they used to
// overwrite process variables); with output mappings the job's variables reach only
// them; the next task sees no leftover of the last one's locals.
func TestVariableScopesZeebe(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		var mu sync.Mutex
		seen := map[string]map[string]any{}
		record := func(name string, out map[string]any) engine.Handler {
			return func(ctx context.Context, j *engine.Job) (map[string]any, error) {
				mu.Lock()
				seen[name] = maps.Clone(j.Variables)
				mu.Unlock()
				return out, nil
			}
		}
		v.e.Handle("ship", record("ship", map[string]any{"trackingId": "T-1", "carrier": "dhl"}))
		v.e.Handle("notify", record("notify", nil))
		v.start()
		v.deploy("scopes_zeebe.bpmn")
		order := map[string]any{"address": "Main St 1"}
		inst := v.startInstance("scopes_zeebe", map[string]any{"order": order, "mode": "standard"})
		v.waitState(inst.ID, store.InstanceCompleted)

		mu.Lock()
		defer mu.Unlock()
		if s := seen["ship"]; s["address"] != "Main St 1" || s["mode"] != "express" {
			t.Errorf("ship saw %v", s)
		}
		if s := seen["notify"]; s["address"] != nil || s["mode"] != "standard" || s["tracking"] != "T-1" {
			t.Errorf("notify saw %v, want no address, mode standard (the process's), tracking T-1", s)
		}
		got := v.scopeVars(inst.ID)
		want := map[string]map[string]any{"": {"order": order, "mode": "standard", "tracking": "T-1"}}
		if !equalJSON(got, want) {
			t.Errorf("variables\n got %v\nwant %v", got, want)
		}
	})
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return strings.EqualFold(string(x), string(y)) && string(x) == string(y)
}
