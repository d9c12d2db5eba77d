package command_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/nats-io/nats.go"
)

// Values over the engine's size limits are refused as invalid_input naming the limit,
// whichever command carries them; a request larger than the NATS server takes is refused
// by the client naming the server's max_payload, not with a NATS error.
func TestSizeLimitsAreInvalidInput(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	inst := v.startInstance("usertask", nil)
	task := v.openTask(inst.ID)
	inc := v.startInstance("nodefault", map[string]any{"amount": 50})
	incident := v.openIncident(inc.ID)
	waiting := v.startInstance("message", map[string]any{"orderId": "A-1"})
	// 50,000 '<' is 300 KB in the request (JSON escapes it): under the request limit,
	// over the variable limit.
	lt := map[string]any{"v": strings.Repeat("<", 50_000)}
	key := strings.Repeat("k", engine.MaxBusinessKeyBytes+1)
	n := strconv.Itoa
	cases := []struct {
		name, limit string
		run         func() error
	}{
		{"start: variable", n(engine.MaxVariableBytes), func() error {
			_, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask", Variables: lt})
			return err
		}},
		{"start: business key", n(engine.MaxBusinessKeyBytes), func() error {
			_, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask", BusinessKey: key})
			return err
		}},
		{"set variables", n(engine.MaxVariableBytes), func() error {
			_, err := v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: lt})
			return err
		}},
		{"complete task", n(engine.MaxVariableBytes), func() error {
			_, err := v.client.CompleteTask(v.ctx, command.CompleteTaskRequest{Meta: meta("ann"), TaskID: task.ID, Variables: lt})
			return err
		}},
		{"retry incident", n(engine.MaxVariableBytes), func() error {
			_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: incident.ID, Variables: lt})
			return err
		}},
		{"correlate: key", n(engine.MaxBusinessKeyBytes), func() error {
			_, err := v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "payment.received", CorrelationKey: key})
			return err
		}},
		{"correlate: variables", n(engine.MaxVariableBytes), func() error {
			_, err := v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "payment.received", CorrelationKey: "A-1", Variables: lt})
			return err
		}},
		{"target id", "1024", func() error {
			_, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: strings.Repeat("i", 2000)})
			return err
		}},
		{"request over the server's max_payload", n(maxPayload), func() error {
			huge := map[string]any{"v": strings.Repeat("x", maxPayload)}
			_, err := v.client.SetVariables(v.ctx, command.SetVariablesRequest{Meta: meta("ann"), InstanceID: inst.ID, Variables: huge})
			return err
		}},
	}
	for _, c := range cases {
		err := c.run()
		cerr := wantCode(t, err, command.CodeInvalidInput)
		if cerr != nil && (!strings.Contains(cerr.Message, c.limit) || strings.Contains(cerr.Message, nats.ErrMaxPayload.Error())) {
			t.Errorf("%s: %q does not name the limit %s", c.name, cerr.Message, c.limit)
		}
	}
	if v.state(inst.ID) != "active" || v.state(waiting.ID) != "active" || v.openTask(inst.ID).ID != task.ID || v.openIncident(inc.ID).ID != incident.ID {
		t.Error("a refused command changed an instance")
	}
}
