package engine_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestConditionalStart: EvaluateStartConditions starts an instance at each process
// conditional start event whose condition holds for the given variables (Camunda 7's
// evaluateStartConditions), all or nothing, on the latest version only.
func TestConditionalStart(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("conditional_start.bpmn")
		v.deployBuilt(bpmn.Build("bulk").ConditionalStart("big", "amount > 1000").UserTask("review").End("done"))
		count := func(key string) int {
			t.Helper()
			page, err := v.e.ListInstances(v.ctx, store.InstanceFilter{DefinitionKey: key})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Instances)
		}
		evaluate := func(key string, vars map[string]any) ([]*store.Instance, error) {
			return v.e.EvaluateStartConditions(v.ctx, engine.ConditionOptions{ProcessKey: key, BusinessKey: "order-7", Variables: vars})
		}
		keys := func(insts []*store.Instance) []string {
			var out []string
			for _, i := range insts {
				out = append(out, i.DefinitionKey)
			}
			return out
		}

		started, err := evaluate("", map[string]any{"stock": 5})
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(started); !slices.Equal(got, []string{"restock"}) {
			t.Fatalf("stock 5 started %v, want [restock] (amount is not given: bulk's condition is false)", got)
		}
		inst := started[0]
		if inst.BusinessKey != "order-7" {
			t.Errorf("business key %q", inst.BusinessKey)
		}
		if got := v.tokensAt(inst.ID); !slices.Equal(got, []string{"Activity_Order"}) {
			t.Errorf("restock waits at %v", got)
		}
		if got := v.varJSON(inst.ID, "stock"); got != "5" {
			t.Errorf("stock = %q", got)
		}
		if !v.hasEvent(inst.ID, "element.entered", "Event_LowStock") {
			t.Error("no element.entered at the conditional start event")
		}

		if started, err = evaluate("", map[string]any{"stock": 50, "amount": 5}); err != nil || len(started) != 0 {
			t.Fatalf("nothing holds: started %v, err %v", keys(started), err)
		}
		if started, err = evaluate("bulk", map[string]any{"stock": 1, "amount": 2000}); err != nil || !slices.Equal(keys(started), []string{"bulk"}) {
			t.Fatalf("bulk only: started %v, err %v", keys(started), err)
		}
		if started, err = evaluate("", map[string]any{"stock": 1, "amount": 2000}); err != nil || !slices.Equal(keys(started), []string{"bulk", "restock"}) {
			t.Fatalf("both: started %v, err %v", keys(started), err)
		}

		// A condition that cannot be evaluated fails the call; bulk's start (evaluated
		// first) is undone with it.
		before := count("bulk")
		if _, err = evaluate("", map[string]any{"stock": "many", "amount": 2000}); !errors.Is(err, engine.ErrInvalidInput) {
			t.Fatalf("stock \"many\": err %v, want ErrInvalidInput", err)
		}
		if n := count("bulk"); n != before {
			t.Errorf("a failed evaluation left %d bulk instances, want %d", n, before)
		}

		if _, err = evaluate("nope", map[string]any{"stock": 1}); !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("unknown key: err %v, want ErrNotFound", err)
		}
		if _, err = v.e.StartInstance(v.ctx, "restock", engine.StartOptions{}); err == nil {
			t.Error("restock (conditional start only) started without a condition")
		}

		// A new version replaces the old one's condition.
		v.deployBuilt(bpmn.Build("restock").ConditionalStart("low", "stock < 100").UserTask("order").End("end"))
		if started, err = evaluate("restock", map[string]any{"stock": 50}); err != nil || len(started) != 1 || started[0].DefinitionVersion != 2 {
			t.Fatalf("version 2: started %v, err %v", started, err)
		}
	})
}
