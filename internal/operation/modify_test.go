package operation_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// deployTwoTasks deploys testdata/twotasks.bpmn (approve → ship), with extra appended to
// make another version, and returns the definition id.
func (v *env) deployTwoTasks(extra string) string {
	v.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "twotasks.bpmn"))
	if err != nil {
		v.t.Fatal(err)
	}
	data = append(data, extra...)
	d, err := v.e.Deploy(v.t.Context(), "twotasks.bpmn", data)
	if err != nil {
		v.t.Fatal(err)
	}
	return d.Processes[0].Definition.ID
}

// tokensAt lists the elements an instance's tokens stand at.
func (v *env) tokensAt(id string) []string {
	v.t.Helper()
	d, err := v.e.GetInstance(v.t.Context(), id)
	if err != nil {
		v.t.Fatal(err)
	}
	var out []string
	for _, t := range d.Tokens {
		out = append(out, t.ElementID)
	}
	return out
}

// TestModifyOperation: a bulk modification moves each selected instance's token once,
// in its own transaction, with its audit row and its instance.modified event naming
// the operation's actor and reason; an instance it does not fit (its token moved on by
// hand, or it runs another version by the time its turn comes) fails alone with the
// engine's refusal, and the others go on.
func TestModifyOperation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		v := newEnv(t, st)
		def := v.deployTwoTasks("")
		var items []*store.OperationItem
		var ids []string
		for range 12 {
			in, err := v.e.StartInstance(t.Context(), "twotasks", engine.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, in.ID)
			items = append(items, &store.OperationItem{Target: in.ID, InstanceID: in.ID, DefinitionKey: "twotasks"})
		}
		// Instance 3 is already at ship: no token stands at approve.
		if _, err := v.e.Modify(t.Context(), ids[3], engine.ModifyRequest{Steps: []engine.ModifyStep{
			{Kind: engine.ModifyMove, From: "approve", ElementID: "ship"}}}); err != nil {
			t.Fatal(err)
		}
		// Instance 12 runs version 2 (as if migrated after the confirmation).
		v.deployTwoTasks("<!-- v2 -->")
		in2, err := v.e.StartInstance(t.Context(), "twotasks", engine.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, in2.ID)
		items = append(items, &store.OperationItem{Target: in2.ID, InstanceID: in2.ID, DefinitionKey: "twotasks"})

		params := operation.ModifyParams{DefinitionID: def, Variables: map[string]any{"skipped": true},
			Steps: []engine.ModifyStep{{Kind: engine.ModifyMove, From: "approve", ElementID: "ship",
				Variables: map[string]any{"by": "bulk"}}}}
		op := v.create(operation.KindModifyInstances, params, items)
		v.startX(v.executor("node-a", operation.ModifyInstances(v.e)))
		wait.For(t, "operation completed", func() bool { return v.op(op.ID).State == store.OperationCompleted })
		got := v.op(op.ID)
		if got.Succeeded != 11 || got.Failed != 2 || got.Total != 13 {
			t.Fatalf("operation: %+v", got)
		}
		for i, it := range v.items(op.ID) {
			switch i {
			case 3:
				if it.State != store.ItemFailed || it.Code != "invalid_state" || !strings.Contains(it.Error, `no token stands at "approve"`) {
					t.Errorf("item 3 (already moved): %+v", it)
				}
			case 12:
				if it.State != store.ItemFailed || it.Code != "invalid_state" || !strings.Contains(it.Error, "runs definition") {
					t.Errorf("item 12 (another version): %+v", it)
				}
			default:
				if it.State != store.ItemOK {
					t.Errorf("item %d: %+v", i, it)
				}
			}
		}
		for i, id := range ids {
			want := "ship"
			if i == 12 {
				want = "approve"
			}
			if at := v.tokensAt(id); len(at) != 1 || at[0] != want {
				t.Errorf("instance %d: tokens at %v, want %s", i, at, want)
			}
			n := v.count(event.InstanceModified, id)
			if (i == 12 && n != 0) || (i != 12 && n != 1) {
				t.Errorf("instance %d: modified %d times", i, n)
			}
		}
		d, err := v.e.GetInstance(t.Context(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, vr := range d.Variables {
			vars[vr.Name] = string(vr.Value)
		}
		if vars["skipped"] != "true" || vars["by"] != `"bulk"` {
			t.Errorf("variables of a modified instance: %v", vars)
		}
		for _, ev := range d.History {
			if ev.Type != event.InstanceModified {
				continue
			}
			var data map[string]any
			if err := json.Unmarshal(ev.Data, &data); err != nil || data["actor"] != "ann" || data["reason"] != "cleanup" {
				t.Errorf("instance.modified without the operation's actor and reason: %s", ev.Data)
			}
		}
		if a := v.audit(store.AuditFilter{Command: operation.KindModifyInstances, Result: "ok"}); len(a) != 11 {
			t.Errorf("%d ok audit rows, want 11", len(a))
		}
		// (The hand-made move above called the engine directly: no audit row.)
		if a := v.audit(store.AuditFilter{Instance: ids[3], Command: operation.KindModifyInstances}); len(a) != 1 || a[0].Result != "invalid_state" {
			t.Errorf("audit of the failed item: %+v", a)
		}

		// A late second run of a done item (its lock passed to another node) is undone.
		done := v.items(op.ID)[0]
		rec := func(ctx context.Context, tx store.Tx) error {
			return tx.FinishOperationItem(ctx, store.ItemOutcome{OperationID: op.ID, Seq: done.Seq, Owner: "node-b",
				State: store.ItemOK, At: v.clock.Now()})
		}
		back := operation.ModifyParams{DefinitionID: def, Steps: []engine.ModifyStep{{Kind: engine.ModifyMove, From: "ship", ElementID: "approve"}}}
		if _, err := v.e.Modify(engine.WithRecord(t.Context(), rec), done.Target, back); !errors.Is(err, store.ErrLostItem) {
			t.Fatalf("late run: %v, want ErrLostItem", err)
		}
		if at := v.tokensAt(done.Target); len(at) != 1 || at[0] != "ship" {
			t.Errorf("the late run changed the instance: tokens at %v", at)
		}
	})
}

// TestModifyParams: a bulk modification names its definition and elements, never one
// instance's tokens or scopes; a stored operation with such parameters fails its items.
func TestModifyParams(t *testing.T) {
	for _, c := range []struct {
		p    operation.ModifyParams
		want string
	}{
		{operation.ModifyParams{Steps: []engine.ModifyStep{{Kind: engine.ModifyCancel, ElementID: "a"}}}, "definitionId"},
		{operation.ModifyParams{DefinitionID: "d", Steps: []engine.ModifyStep{{Kind: engine.ModifyCancel, ElementID: "a"}, {Kind: engine.ModifyCancel, TokenID: "t"}}}, "step 2: a bulk modification names elements, not tokens"},
		{operation.ModifyParams{DefinitionID: "d", Steps: []engine.ModifyStep{{Kind: engine.ModifyStartBefore, ElementID: "a", ScopeID: "s"}}}, "step 1:"},
	} {
		err := operation.CheckModifyParams(c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, engine.ErrInvalidInput) {
			t.Errorf("%+v: %v, want %q", c.p, err, c.want)
		}
	}
	if err := operation.CheckModifyParams(operation.ModifyParams{DefinitionID: "d",
		Steps: []engine.ModifyStep{{Kind: engine.ModifyMove, From: "a", ElementID: "b"}}}); err != nil {
		t.Fatal(err)
	}
}
