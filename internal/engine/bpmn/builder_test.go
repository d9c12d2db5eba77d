package bpmn

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// equivalentOrder builds the process of testdata/builder_equiv.bpmn.
func equivalentOrder() *Builder {
	return Build("order", Name("Order")).
		Start("start").
		ServiceTask("reserve", JobType("inventory.reserve"), Backoff("R5/PT10S"), Input("items", "=order.items")).
		BoundaryTimer("late", Duration("PT1H"), NonInterrupting()).End("chased").
		MoveTo("reserve").
		MessageCatch("paid", "payment", "=orderId").
		ExclusiveGateway("ok").
		Condition("paid == true").UserTask("approve", Assignee("ops")).End("done", Terminate()).
		Default().ScriptTask("calc", Script("a + 1"), ResultVariable("b")).End("failed", ErrorEnd("E42"))
}

// summary describes a process by what the engine reads, independent of generated ids.
func summary(d *Definitions) []string {
	x := NewIndex(d)
	var out []string
	ref := func(ed *EventDefinition) string {
		if ed == nil {
			return "none"
		}
		s := fmt.Sprintf("%s dur=%s date=%s cycle=%s", ed.Type, ed.TimeDuration, ed.TimeDate, ed.TimeCycle)
		if m := x.Message(ed.MessageRef); m != nil {
			s += fmt.Sprintf(" message=%s key=%s", m.Name, m.CorrelationKey)
		}
		if e := x.Error(ed.ErrorRef); e != nil {
			s += " error=" + e.Code
		}
		return s
	}
	for _, p := range d.Processes {
		walk(&p.Container, func(c *Container, owner *Element) {
			for _, e := range c.Elements {
				def := ""
				if f := x.Flow(e.Default); f != nil {
					def = f.TargetRef
				}
				out = append(out, fmt.Sprintf("%s %s event=[%s] attached=%s cancel=%v default=%s in=%d out=%d task=%+v",
					e.ID, e.Kind, ref(e.Event), e.AttachedTo, e.CancelActivity, def, len(e.Incoming), len(e.Outgoing), e.Task))
			}
			for _, f := range c.Flows {
				out = append(out, fmt.Sprintf("flow %s->%s [%s]", f.SourceRef, f.TargetRef, f.Condition))
			}
		})
	}
	sort.Strings(out)
	return out
}

func TestBuilderMatchesXML(t *testing.T) {
	t.Parallel()
	built, err := equivalentOrder().Definitions()
	if err != nil {
		t.Fatal(err)
	}
	imported := parseFixture(t, "builder_equiv.bpmn")
	got, want := summary(built), summary(imported)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("built model differs from XML:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if err := Check(built).Err(); err != nil {
		t.Errorf("built model does not execute: %v", err)
	}
}

func TestBuilderExport(t *testing.T) {
	t.Parallel()
	built, err := equivalentOrder().Definitions()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(built)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseBytes(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, want := summary(back), summary(built); !reflect.DeepEqual(got, want) {
		t.Errorf("export of built model reads back differently:\n got %v\nwant %v", got, want)
	}
	if !HasDI(back, back.Processes[0]) {
		t.Error("export lost the layout")
	}
}

func TestBuilderStructure(t *testing.T) {
	t.Parallel()
	d, err := Build("fulfil").
		Start("s").
		ParallelGateway("fork").
		ServiceTask("pack", JobType("pack"), Retries(3), Output("box", "=result.box")).
		ParallelGateway("join").
		SubProcess("ship", func(b *Builder) {
			b.Start("ss").ServiceTask("label", JobType("label")).TimerCatch("cool", Date("2030-01-01T00:00:00Z")).End("se")
		}).
		BoundaryError("lost", "LOST").UserTask("investigate", CandidateGroups("ops", "support")).End("e2").
		MoveTo("ship").End("e").
		Branch().MoveTo("fork").ServiceTask("bill", JobType("bill")).Connect("join").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(d)
	join := x.Element("join")
	if join == nil || len(join.Incoming) != 2 || len(join.Outgoing) != 1 {
		t.Fatalf("join = %+v", join)
	}
	if got := x.Element("pack").Task; got.Retries != "3" || got.Outputs[0] != (Mapping{Source: "=result.box", Target: "box"}) {
		t.Errorf("pack task = %+v", got)
	}
	if x.Parent("label") != x.Element("ship") || x.Element("cool").Event.TimeDate != "2030-01-01T00:00:00Z" {
		t.Error("subprocess content")
	}
	lost := x.Element("lost")
	if lost.AttachedTo != "ship" || !lost.CancelActivity || x.Error(lost.Event.ErrorRef).Code != "LOST" {
		t.Errorf("boundary = %+v", lost)
	}
	if got := x.Element("investigate").Task.CandidateGroups; got != "ops,support" {
		t.Errorf("candidate groups = %q", got)
	}
	if len(x.Element("lost").Incoming) != 0 || len(x.Element("ship").Outgoing) != 1 {
		t.Error("boundary event must not be connected from its host")
	}
	if sh := x.Shape("ship"); sh == nil || sh.IsExpanded == nil || !*sh.IsExpanded {
		t.Errorf("subprocess shape = %+v", sh)
	}
}

func TestBuilderTimerAndMessageStart(t *testing.T) {
	t.Parallel()
	for _, b := range []*Builder{
		Build("cron").TimerStart("tick", "0 */5 * * * *").Task("work").End("e"),
		Build("inbox").MessageStart("got", "order.placed").Task("work").End("e"),
	} {
		d, err := b.Definitions()
		if err != nil {
			t.Fatal(err)
		}
		s := d.Processes[0].Elements[0]
		if s.Event == nil || (s.Event.TimeCycle == "" && s.Event.MessageRef == "") {
			t.Errorf("start = %+v", s.Event)
		}
		if s.Event.Type == EventMessage && (len(d.Messages) != 1 || d.Messages[0].Name != "order.placed") {
			t.Errorf("messages = %+v", d.Messages)
		}
	}
}

func TestBuilderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    *Builder
		want string
	}{
		{"duplicate id", Build("p").Start("a").Task("a").End("e"), `duplicate id "a"`},
		{"unknown connect target", Build("p").Start("s").Task("t").Connect("nowhere"), `connect "t" to "nowhere": unknown target`},
		{"unknown move target", Build("p").Start("s").MoveTo("nowhere").End("e"), `move to "nowhere"`},
		{"option on wrong kind", Build("p").Start("s").UserTask("u", JobType("x")).End("e"), `option JobType does not apply to a userTask`},
		{"boundary on event", Build("p").Start("s").BoundaryTimer("b", Duration("PT1S")).End("e"), `current node "s" is not an activity`},
		{"condition without gateway", Build("p").Start("s").Condition("x").End("e"), "Condition without a gateway"},
		{"no job type", Build("p").Start("s").ServiceTask("t").End("e"), "has no job type"},
		{"missing condition", Build("p").Start("s").ExclusiveGateway("g").Branch().End("a").Branch().End("b"), "without a condition"},
		{"cross scope connect", Build("p").Start("s").SubProcess("sp", func(b *Builder) { b.Start("in").Connect("e") }).End("e"), "another scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.b.Definitions()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestBuilderCallActivity: a call activity built in Go exports Camunda 7's extensions and
// imports back to the same settings; a version tag is the process's.
func TestBuilderCallActivity(t *testing.T) {
	t.Parallel()
	d, err := Build("order", VersionTag("v3")).
		Start("s").
		CallActivity("call", "invoice", CallVersion(2), CallInAll(), CallIn("total", "amount * 2"),
			CallOut("no", "invoiceNo"), CallOutAll(), CallBusinessKey("execution.processBusinessKey")).
		End("e").
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
	want := CallDefinition{Binding: BindingVersion, Version: "2", InAll: true, OutAll: true,
		In:  []CallMapping{{SourceExpression: "amount * 2", Target: "total"}},
		Out: []CallMapping{{SourceExpression: "invoiceNo", Target: "no"}}, BusinessKey: "execution.processBusinessKey"}
	el := NewIndex(back).Element("call")
	if el.CalledElement != "invoice" || !reflect.DeepEqual(el.Call, want) {
		t.Errorf("call activity after export and import: %q %+v\n%s", el.CalledElement, el.Call, out)
	}
	if tag := back.Process("order").VersionTag(); tag != "v3" {
		t.Errorf("version tag %q", tag)
	}
	if r := Check(back).Process("order"); !r.OK() {
		t.Errorf("check: %+v", r)
	}
	if _, err := Build("p").Start("s").ServiceTask("t", JobType("x"), CallVersion(1)).Definitions(); err == nil {
		t.Error("CallVersion on a service task was accepted")
	}
}
