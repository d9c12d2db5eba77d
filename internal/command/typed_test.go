package command_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Typed values cross the command service with their type name and every digit: a Long
// beyond a float64's precision stays exact.
func TestStartWithTypedVariables(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	res, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask",
		Variables: map[string]any{"plain": "x"},
		TypedVariables: map[string]command.TypedValue{
			"big":  {Type: "Long", Value: json.RawMessage("9007199254740993")},
			"when": {Type: "Date", Value: json.RawMessage(`"2026-11-26T09:00:00.000+0000"`)},
		}})
	noErr(t, err)
	got := map[string]*store.Variable{}
	for _, row := range v.detail(res.InstanceID).Variables {
		got[row.Name] = row
	}
	if r := got["big"]; r == nil || r.Type != "Long" || string(r.Value) != "9007199254740993" {
		t.Fatalf("big = %+v, want Long 9007199254740993", r)
	}
	if r := got["when"]; r == nil || r.Type != "Date" || string(r.Value) != `"2026-11-26T09:00:00.000+0000"` {
		t.Fatalf("when = %+v, want the Date", r)
	}
	if r := got["plain"]; r == nil || string(r.Value) != `"x"` {
		t.Fatalf("plain = %+v", r)
	}
	if e := v.lastAudit("usertask"); e.Actor != "ann" || e.Result != "ok" {
		t.Fatalf("audit row %+v", e)
	}

	_, err = v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask",
		Variables:      map[string]any{"a": 1},
		TypedVariables: map[string]command.TypedValue{"a": {Type: "Short", Value: json.RawMessage("1")}}})
	wantCode(t, err, command.CodeInvalidInput)
	_, err = v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "usertask",
		TypedVariables: map[string]command.TypedValue{"a": {Value: json.RawMessage("1")}}})
	wantCode(t, err, command.CodeInvalidInput)
}

// message.correlate takes Camunda's selection: business key, instance id, process
// variables, unique and all.
func TestCorrelateMessageSelection(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	data, err := os.ReadFile(filepath.Join("testdata", "message_c7.bpmn"))
	noErr(t, err)
	_, err = v.e.Deploy(v.ctx, "message_c7.bpmn", data)
	noErr(t, err)
	start := func(bk string, x int) string {
		res, err := v.client.StartInstance(v.ctx, command.StartInstanceRequest{Meta: meta("ann"), ProcessKey: "message_c7",
			BusinessKey: bk, Variables: map[string]any{"x": x}})
		noErr(t, err)
		return res.InstanceID
	}
	a1, a2, b := start("a", 1), start("a", 2), start("b", 3)

	_, err = v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "c7.ping", BusinessKey: "a", Unique: true})
	wantCode(t, err, command.CodeInvalidState)

	res, err := v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("ann"), Name: "c7.ping",
		BusinessKey: "a", VariablesEqual: map[string]any{"x": 2}, Unique: true,
		TypedVariables: map[string]command.TypedValue{"n": {Type: "Short", Value: json.RawMessage("7")}}})
	noErr(t, err)
	if res.InstanceID != a2 || len(res.Correlations) != 1 || res.Correlations[0].BusinessKey != "a" {
		t.Fatalf("correlated %+v, want instance %s", res, a2)
	}
	for _, row := range v.detail(a2).Variables {
		if row.Name == "n" && row.Type != "Short" {
			t.Fatalf("n stored as %q, want Short", row.Type)
		}
	}

	res, err = v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("bob"), Name: "c7.ping", All: true})
	noErr(t, err)
	if len(res.Correlations) != 2 {
		t.Fatalf("correlate all: %+v, want instances %s and %s", res.Correlations, a1, b)
	}
	if v.state(a1) != store.InstanceCompleted || v.state(b) != store.InstanceCompleted {
		t.Fatal("correlate all left an instance waiting")
	}
	if e := v.lastAudit("c7.ping"); e.Actor != "bob" || e.Result != "ok" {
		t.Fatalf("audit row %+v", e)
	}
	_, err = v.client.CorrelateMessage(v.ctx, command.CorrelateMessageRequest{Meta: meta("bob"), Name: "c7.ping", InstanceID: b, Unique: true})
	wantCode(t, err, command.CodeNotFound)
}
