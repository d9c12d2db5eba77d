package bpmn

import (
	"fmt"
	"strings"
	"testing"
)

// TestCheckFanOut: a flow node with more than MaxFlowsPerElement outgoing or incoming
// flows is a problem, in a process and in a subprocess, so validate refuses what deploy
// refuses.
func TestCheckFanOut(t *testing.T) {
	t.Parallel()
	flows := func(prefix, from, to string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `<sequenceFlow id="%s%d" sourceRef=%q targetRef=%q/>`, prefix, i, from, to)
		}
		return b.String()
	}
	doc := func(body string) string {
		return `<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process id="p" isExecutable="true">` +
			body + `</process></definitions>`
	}
	const over = MaxFlowsPerElement + 1
	tests := []struct {
		name, xml, id string
	}{
		{"fork", doc(`<startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="g"/><parallelGateway id="g"/>` +
			flows("o", "g", "e", over) + `<endEvent id="e"/>`), "g"},
		{"join", doc(`<startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="g"/><parallelGateway id="g"/>` +
			flows("o", "g", "j", over) + `<parallelGateway id="j"/><sequenceFlow id="x" sourceRef="j" targetRef="e"/><endEvent id="e"/>`), "j"},
		{"subprocess", doc(`<startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="sub"/><subProcess id="sub">` +
			`<startEvent id="ss"/><sequenceFlow id="sf" sourceRef="ss" targetRef="task"/><task id="task"/>` +
			flows("o", "task", "e2", over) + `<endEvent id="e2"/></subProcess>`), "task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse(strings.NewReader(tt.xml))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(d).Err()
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("element %q", tt.id)) || !strings.Contains(err.Error(), "MaxFlowsPerElement") {
				t.Fatalf("Check: %v, want a problem of %q naming MaxFlowsPerElement", err, tt.id)
			}
		})
	}
	d, err := Parse(strings.NewReader(doc(`<startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="g"/><parallelGateway id="g"/>` +
		flows("o", "g", "e", MaxFlowsPerElement) + `<endEvent id="e"/>`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(d).Err(); err != nil {
		t.Fatalf("a fork at the limit: %v", err)
	}
}
