package command_test

import (
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestSharedServer runs a subset against the NATS server of the NATS suites
// (COCKPIT_TEST_NATS_URL), under a prefix of its own so parallel runs do not meet.
func TestSharedServer(t *testing.T) {
	t.Parallel()
	url := sharedNATS(t)

	t.Run("commands", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, onServer(url))
		res, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask"})
		noErr(t, err)
		_, err = v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: res.InstanceID})
		noErr(t, err)
		if s := v.state(res.InstanceID); s != store.InstanceCancelled {
			t.Errorf("instance %s", s)
		}
		_, err = v.client.CancelInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: res.InstanceID})
		wantCode(t, err, command.CodeInvalidState)
		_, err = v.client.CancelInstance(v.ctx, command.InstanceRequest{InstanceID: res.InstanceID})
		wantCode(t, err, command.CodeUnauthorized)
		if rows := v.audit(store.AuditFilter{Target: res.InstanceID}); len(rows) != 3 {
			t.Errorf("%d audit rows, want 3", len(rows))
		}
	})

	t.Run("bulk retry with progress", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, onServer(url))
		v.incidents(25)
		var last command.Progress
		n := 0
		res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{
			Meta: meta("ann"), DefinitionKey: "nodefault", Variables: map[string]any{"amount": 500},
		}, func(p command.Progress) { last, n = p, n+1 })
		noErr(t, err)
		if res.Retried != 25 || !last.Finished || last.Done != 25 || n != 5 {
			t.Errorf("result %+v, %d progress messages, last %+v", res, n, last)
		}
	})

	t.Run("queue group", func(t *testing.T) {
		t.Parallel()
		v := newEnv(t, onServer(url))
		v.startService(connect(t, url), nil)
		for range 10 {
			_, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask"})
			noErr(t, err)
		}
		if rows := v.audit(store.AuditFilter{Target: "usertask"}); len(rows) != 10 {
			t.Errorf("%d audit rows, want 10", len(rows))
		}
	})
}
