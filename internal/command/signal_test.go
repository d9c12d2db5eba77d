package command_test

import (
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestBroadcastSignal: signal.broadcast throws the signal to every waiting instance,
// is audited with the signal's name as its target, and refuses a request without a name.
func TestBroadcastSignal(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	a := v.startInstance("signal_catch", nil)
	b := v.startInstance("signal_catch", nil)
	res, err := v.client.BroadcastSignal(v.ctx, command.BroadcastSignalRequest{
		Meta: meta("ann"), Name: "go", Variables: map[string]any{"by": "ann"},
	})
	noErr(t, err)
	if res.Name != "go" || res.SignalID == "" {
		t.Errorf("result %+v", res)
	}
	for _, id := range []string{a.ID, b.ID} {
		wait.For(t, "instance past the signal catch event", func() bool {
			for _, tok := range v.detail(id).Tokens {
				if tok.ElementID == "Activity_after" {
					return true
				}
			}
			return false
		})
	}
	_, err = v.client.BroadcastSignal(v.ctx, command.BroadcastSignalRequest{Meta: meta("ann")})
	wantCode(t, err, command.CodeInvalidInput)
	rows := v.audit(store.AuditFilter{Target: "go"})
	if len(rows) != 1 || rows[0].Command != command.VerbBroadcastSignal || rows[0].Actor != "ann" || rows[0].Result != "ok" {
		t.Errorf("audit rows %+v", rows)
	}
}

// TestEvaluateConditions: condition.evaluate starts an instance at each conditional
// start event whose condition holds, is audited with the process key as its target,
// and answers not_found when no process has such an event.
func TestEvaluateConditions(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	res, err := v.client.EvaluateConditions(v.ctx, command.EvaluateConditionsRequest{
		Meta: meta("ann"), ProcessKey: "restock", BusinessKey: "sku-9", Variables: map[string]any{"stock": 3},
	})
	noErr(t, err)
	if len(res.Started) != 1 || res.Started[0].DefinitionKey != "restock" || res.Started[0].BusinessKey != "sku-9" || res.Started[0].State != store.InstanceActive {
		t.Fatalf("result %+v", res)
	}
	res, err = v.client.EvaluateConditions(v.ctx, command.EvaluateConditionsRequest{Meta: meta("ann"), Variables: map[string]any{"stock": 30}})
	noErr(t, err)
	if len(res.Started) != 0 {
		t.Errorf("stock 30 started %+v", res.Started)
	}
	_, err = v.client.EvaluateConditions(v.ctx, command.EvaluateConditionsRequest{Meta: meta("ann"), ProcessKey: "usertask"})
	wantCode(t, err, command.CodeNotFound)
	rows := v.audit(store.AuditFilter{Target: "restock"})
	if len(rows) != 1 || rows[0].Command != command.VerbEvaluateConditions || rows[0].Actor != "ann" || rows[0].Result != "ok" {
		t.Errorf("audit rows %+v", rows)
	}
}
