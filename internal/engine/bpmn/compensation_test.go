package bpmn

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestCompensationModelerModel: a saga as Camunda Modeler 5.x draws it executes whole,
// and its compensation links are read from the associations.
func TestCompensationModelerModel(t *testing.T) {
	b, err := os.ReadFile("../testdata/compensation_saga.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	r := Check(d)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	hs := CompensationHandlers(d, d.Processes[0])
	if len(hs) != 2 || hs["Event_ReserveComp"][0].ID != "Activity_Release" || hs["Event_ChargeComp"][0].ID != "Activity_Refund" {
		t.Errorf("handlers %v", hs)
	}
	if n := len(r.Process("saga").Executes); n != 11 {
		t.Errorf("%d elements execute, want 11", n)
	}
}

// TestCompensationBuilder: the builder's compensation handlers and throw events survive
// export and import, and check clean.
func TestCompensationBuilder(t *testing.T) {
	d, err := Build("saga").Start("start").
		ServiceTask("charge", JobType("payment.charge")).
		CompensatedBy(func(h *Builder) { h.ServiceTask("refund", JobType("payment.refund")) }).
		UserTask("confirm").
		CompensatedBy(func(h *Builder) { h.UserTask("unconfirm", Assignee("ops")) }).
		CompensationThrow("undoCharge", "charge").
		End("end", CompensationEnd("")).
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(back).Err(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	x := NewIndex(back)
	if e := x.Element("undoCharge"); e == nil || !IsCompensationThrow(e) || e.Event.ActivityRef != "charge" {
		t.Errorf("throw event %+v", e)
	}
	if e := x.Element("end"); e == nil || !IsCompensationThrow(e) || e.Event.ActivityRef != "" {
		t.Errorf("end event %+v", e)
	}
	hs := CompensationHandlers(back, back.Processes[0])
	if len(hs) != 2 || hs["charge_compensation"][0].ID != "refund" || !hs["confirm_compensation"][0].ForCompensation {
		t.Errorf("handlers %v", hs)
	}
	// The layout draws the handlers and their associations.
	if x.Shape("refund") == nil || !strings.Contains(string(out), `bpmnElement="Association_charge_compensation"`) {
		t.Errorf("no shape or association edge in\n%s", out)
	}
	if _, err := Build("bad").Start("s").CompensatedBy(func(h *Builder) { h.Task("x") }).End("e").Definitions(); err == nil {
		t.Error("a compensation handler on a start event was accepted")
	}
}

// TestCompensationProblems: what Check refuses about compensation.
func TestCompensationProblems(t *testing.T) {
	const head = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
<bpmn:task id="a"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:task>
<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="e"/>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
`
	for _, c := range []struct{ name, body, want string }{
		{"handler without boundary", `<bpmn:task id="h" isForCompensation="true"/>`,
			"compensation handler is associated with no compensation boundary event"},
		{"boundary without handler", `<bpmn:boundaryEvent id="b" attachedToRef="a"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>`,
			"associated with no compensation handler"},
		{"boundary with a flow", `<bpmn:boundaryEvent id="b" attachedToRef="a"><bpmn:outgoing>f3</bpmn:outgoing><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="h"/>
<bpmn:task id="h" isForCompensation="true"><bpmn:incoming>f3</bpmn:incoming></bpmn:task>
<bpmn:association id="as" sourceRef="b" targetRef="h"/>`, "has outgoing sequence flows"},
		{"activityRef elsewhere", `<bpmn:intermediateThrowEvent id="t"><bpmn:compensateEventDefinition activityRef="nothing"/></bpmn:intermediateThrowEvent>`,
			`activityRef "nothing" names no activity`},
		{"compensation start", `<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="cs"><bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess>`,
			"in event subprocesses of embedded subprocesses only"},
		{"compensation start beside a compensation boundary", `<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>
<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="cs"><bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess></bpmn:subProcess>
<bpmn:boundaryEvent id="b" attachedToRef="sub"><bpmn:compensateEventDefinition/></bpmn:boundaryEvent>
<bpmn:task id="h" isForCompensation="true"/><bpmn:association id="as" sourceRef="b" targetRef="h"/>`,
			`subprocess "sub" has both a compensation boundary event and an event subprocess with a compensation start event`},
		{"two compensation starts", `<bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/>
<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="cs"><bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess>
<bpmn:subProcess id="esp2" triggeredByEvent="true"><bpmn:startEvent id="cs2"><bpmn:compensateEventDefinition/></bpmn:startEvent></bpmn:subProcess></bpmn:subProcess>`,
			`subprocess "sub" has 2 event subprocesses with a compensation start event, not one`},
	} {
		d, err := ParseBytes([]byte(head + c.body + "</bpmn:process></bpmn:definitions>"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = Check(d).Err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// TestTransactionProblems: cancel end and cancel boundary events belong to transaction
// subprocesses, and a transaction with a cancel end event has one cancel boundary.
func TestTransactionProblems(t *testing.T) {
	t.Parallel()
	const head = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
<bpmn:process id="p" isExecutable="true">
<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="tx"/>
<bpmn:sequenceFlow id="f2" sourceRef="tx" targetRef="e"/>
<bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
`
	const tx = `<bpmn:transaction id="tx"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
<bpmn:startEvent id="ts"><bpmn:outgoing>t1</bpmn:outgoing></bpmn:startEvent>
<bpmn:sequenceFlow id="t1" sourceRef="ts" targetRef="ce"/>
<bpmn:endEvent id="ce"><bpmn:incoming>t1</bpmn:incoming><bpmn:cancelEventDefinition/></bpmn:endEvent></bpmn:transaction>
`
	const boundary = `<bpmn:boundaryEvent id="cb" attachedToRef="tx"%s><bpmn:outgoing>c1</bpmn:outgoing><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="c1" sourceRef="cb" targetRef="ce2"/><bpmn:endEvent id="ce2"><bpmn:incoming>c1</bpmn:incoming></bpmn:endEvent>
`
	sub := strings.NewReplacer("bpmn:transaction", "bpmn:subProcess").Replace(tx)
	for _, c := range []struct{ name, body, want string }{
		{"ok", tx + fmt.Sprintf(boundary, ""), ""},
		{"no cancel boundary", tx, `transaction has a cancel end event but no cancel boundary event`},
		{"two cancel boundaries", tx + fmt.Sprintf(boundary, "") + strings.NewReplacer(`"cb"`, `"cb2"`, `"c1"`, `"c2"`, `>c1<`, `>c2<`, `"ce2"`, `"ce3"`).Replace(fmt.Sprintf(boundary, "")),
			`transaction has 2 cancel boundary events, not one`},
		{"non-interrupting", tx + fmt.Sprintf(boundary, ` cancelActivity="false"`), `cancel boundary events are always interrupting`},
		{"cancel end outside a transaction", sub, `cancel end events are allowed only directly inside a transaction subprocess`},
		{"cancel boundary on a subprocess", sub + fmt.Sprintf(boundary, ""), `cancel boundary events are allowed only on transaction subprocesses`},
	} {
		d, err := ParseBytes([]byte(head + c.body + "</bpmn:process></bpmn:definitions>"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		err = Check(d).Err()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}
