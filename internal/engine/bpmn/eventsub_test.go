package bpmn

import (
	"reflect"
	"strings"
	"testing"
)

// TestCheckEventSubprocesses: what validate and deploy accept and refuse of event
// subprocesses.
func TestCheckEventSubprocesses(t *testing.T) {
	t.Parallel()
	doc := func(body string) []byte {
		return []byte(`<definitions xmlns="` + NSModel + `"><message id="m" name="m"/><error id="e" errorCode="E"/>` +
			`<process id="p" isExecutable="true"><startEvent id="s"/>` + body + `</process></definitions>`)
	}
	es := func(start string) string {
		return `<subProcess id="es" triggeredByEvent="true">` + start + `<endEvent id="ee"/></subProcess>`
	}
	tests := []struct {
		name, body string
		problem    string // "" when the model is accepted
	}{
		{"message", es(`<startEvent id="st"><messageEventDefinition messageRef="m"/></startEvent>`), ""},
		{"non-interrupting timer", es(`<startEvent id="st" isInterrupting="false"><timerEventDefinition><timeCycle>R/PT1H</timeCycle></timerEventDefinition></startEvent>`), ""},
		{"error", es(`<startEvent id="st"><errorEventDefinition errorRef="e"/></startEvent>`), ""},
		{"catch-all error", es(`<startEvent id="st"><errorEventDefinition/></startEvent>`), ""},
		{"inside a subprocess", `<subProcess id="sp"><startEvent id="ss"/>` + es(`<startEvent id="st"><messageEventDefinition messageRef="m"/></startEvent>`) + `</subProcess>`, ""},
		{"non-interrupting error", es(`<startEvent id="st" isInterrupting="false"><errorEventDefinition errorRef="e"/></startEvent>`),
			"error start events of event subprocesses are always interrupting"},
		{"no trigger", es(`<startEvent id="st"/>`), `the start event of event subprocess "es" has no trigger`},
		{"two starts", es(`<startEvent id="st"><messageEventDefinition messageRef="m"/></startEvent><startEvent id="st2"><errorEventDefinition/></startEvent>`),
			"exactly one start event, this one has 2"},
		{"no start", es(``), "exactly one start event, this one has 0"},
		{"connected", `<sequenceFlow id="f" sourceRef="s" targetRef="es"/>` + es(`<startEvent id="st"><errorEventDefinition/></startEvent>`),
			"no incoming or outgoing sequence flows"},
		{"boundary", es(`<startEvent id="st"><errorEventDefinition/></startEvent>`) + `<boundaryEvent id="b" attachedToRef="es"><timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>`,
			"event subprocesses have no boundary events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := ParseBytes(doc(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			err = Check(d).Err()
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("Err() = %v", err)
			case tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)):
				t.Fatalf("Err() = %v, want %q", err, tt.problem)
			}
		})
	}
}

// TestBuilderEventSubprocess: EventSubProcess adds an unconnected event subprocess to
// the current scope, the flow goes on from where it was, and the starts carry their
// trigger, interruption and correlation key.
func TestBuilderEventSubprocess(t *testing.T) {
	t.Parallel()
	d, err := Build("order").
		Start("start").
		UserTask("pack").
		EventSubProcess("cancel", func(b *Builder) {
			b.MessageStart("cancelled", "order.cancel", CorrelationKey("orderId")).End("cancelEnd")
		}).
		EventSubProcess("remind", func(b *Builder) {
			b.TimerStartAt("hourly", Cycle("R3/PT1H"), NonInterrupting()).End("reminded")
		}).
		End("done").
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	p := d.Processes[0]
	x := NewIndex(d)
	cancel, remind := x.Element("cancel"), x.Element("remind")
	if cancel == nil || !cancel.TriggeredByEvent || len(cancel.Incoming)+len(cancel.Outgoing) != 0 || remind == nil || !remind.TriggeredByEvent {
		t.Fatalf("event subprocesses %+v %+v", cancel, remind)
	}
	if pack := x.Element("pack"); len(pack.Outgoing) != 1 || x.Flow(pack.Outgoing[0]).TargetRef != "done" {
		t.Errorf("the flow does not go on from pack to done: %+v", pack.Outgoing)
	}
	st := x.Element("cancelled")
	if m := x.Message(st.Event.MessageRef); !st.IsInterrupting || m == nil || m.Name != "order.cancel" || m.CorrelationKey != "orderId" {
		t.Errorf("message start %+v, message %+v", st, m)
	}
	if h := x.Element("hourly"); h.IsInterrupting || h.Event.TimeCycle != "R3/PT1H" {
		t.Errorf("timer start %+v", h)
	}
	if len(p.Flows) != 2 {
		t.Errorf("process flows %d, want start→pack→done", len(p.Flows))
	}
	// Written and read again, it says the same to the engine.
	out, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := ParseBytes(out)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := summary(d), summary(d2); !reflect.DeepEqual(a, b) {
		t.Errorf("export changed the model:\n%v\n%v", a, b)
	}
	x2 := NewIndex(d2)
	if !x2.Element("remind").TriggeredByEvent || x2.Element("hourly").IsInterrupting || x2.Message(x2.Element("cancelled").Event.MessageRef).CorrelationKey != "orderId" {
		t.Errorf("export lost the event subprocess, its interruption or its key:\n%s", out)
	}

	_, err = Build("bad").Start("s").End("e").
		EventSubProcess("es", func(b *Builder) { b.ErrorStart("err", "E1", NonInterrupting()).End("x") }).
		Definitions()
	if err == nil || !strings.Contains(err.Error(), "always interrupting") {
		t.Errorf("non-interrupting error start: %v", err)
	}
}

// TestLayoutEventSubprocess: the layout puts an event subprocess below the flow of its
// scope, with its content inside it, and nothing overlaps.
func TestLayoutEventSubprocess(t *testing.T) {
	t.Parallel()
	d, err := Build("order").
		Start("start").
		UserTask("pack").
		SubProcess("sub", func(b *Builder) {
			b.Start("subStart").UserTask("pick").End("subEnd").
				EventSubProcess("inner", func(b *Builder) { b.ErrorStart("caught", "").End("innerEnd") })
		}).
		End("done").
		EventSubProcess("cancel", func(b *Builder) { b.MessageStart("cancelled", "cancel").UserTask("refund").End("refunded") }).
		Definitions()
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string]Bounds{}
	for _, s := range d.Diagrams[0].Plane.Shapes {
		shapes[s.ElementRef] = s.Bounds
	}
	inside := func(in, out string) {
		a, b := shapes[in], shapes[out]
		if a.X < b.X || a.Y < b.Y || a.X+a.Width > b.X+b.Width || a.Y+a.Height > b.Y+b.Height {
			t.Errorf("%s %+v is not inside %s %+v", in, a, out, b)
		}
	}
	below := func(lower, upper string) {
		if a, b := shapes[lower], shapes[upper]; a.Y < b.Y+b.Height {
			t.Errorf("%s %+v is not below %s %+v", lower, a, upper, b)
		}
	}
	for _, id := range []string{"start", "pack", "sub", "done"} {
		below("cancel", id)
	}
	inside("refund", "cancel")
	inside("cancelled", "cancel")
	inside("inner", "sub")
	inside("innerEnd", "inner")
	below("inner", "pick")
}
