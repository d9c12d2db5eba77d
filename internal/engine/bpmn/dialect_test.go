package bpmn

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The Activiti namespace reads as Camunda 7; a shared timer definition and a prefixed
// messageRef resolve; export writes the reference back, not a copy of the definition.
func TestActivitiAndReferences(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../testdata/activiti.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(d)
	charge := x.Element("charge").Task
	if charge.JobType != "class:com.acme.orders.ChargeCard" {
		t.Errorf("job type %q", charge.JobType)
	}
	wantIn := []Mapping{
		{Source: "EUR", Target: "currency", Literal: true},
		{Source: "${amount * 2}", Target: "total"},
		{Target: "nothing", Null: true},
		{Source: `["book", (amount)]`, Target: "lines"},
		{Source: `{"city": "Lyon", "zip": (zip)}`, Target: "address"},
	}
	if !reflect.DeepEqual(charge.Inputs, wantIn) {
		t.Errorf("inputs\n got %+v\nwant %+v", charge.Inputs, wantIn)
	}
	approve := x.Element("approve").Task
	if approve.Assignee != "ops" || approve.CandidateGroups != "managers" || approve.FormKey != "approve-form" ||
		!reflect.DeepEqual(approve.FormFields, []FormField{{ID: "approved", Label: "Approved?", Type: "boolean"}}) {
		t.Errorf("user task %+v", approve)
	}
	if ev := x.Element("paid").Event; ev == nil || ev.MessageRef != "Message_paid" {
		t.Errorf("paid %+v", ev)
	}
	if ev := x.Element("cool").Event; ev == nil || ev.Type != EventTimer || ev.TimeDuration != "PT5M" || !ev.Shared {
		t.Errorf("cool %+v", ev)
	}
	if err := Check(d).Err(); err != nil {
		t.Errorf("check: %v", err)
	}
	out := roundTrip(t, d)
	if n := bytes.Count(out, []byte(`id="SharedTimer"`)); n != 1 {
		t.Errorf("the shared definition is written %d times", n)
	}
	if !bytes.Contains(out, []byte("eventDefinitionRef>")) {
		t.Error("eventDefinitionRef lost")
	}
}

func TestJobTypeOrigin(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ typ, attr, value string }{
		{"class:com.acme.Foo", "camunda:class", "com.acme.Foo"},
		{"expression:${svc.run()}", "camunda:expression", "${svc.run()}"},
		{"delegateExpression:${charge}", "camunda:delegateExpression", "${charge}"},
		{"charge-card", "", ""},
	} {
		attr, value, ok := JobTypeOrigin(tt.typ)
		if attr != tt.attr || value != tt.value || ok != (tt.attr != "") {
			t.Errorf("%q: %q %q %v", tt.typ, attr, value, ok)
		}
	}
}

func TestLanguageSupported(t *testing.T) {
	t.Parallel()
	for lang, want := range map[string]bool{
		"": true, "feel": true, "FEEL": true, "juel": true, "expr": true,
		"http://www.omg.org/spec/FEEL/20140401": true, "https://www.omg.org/spec/DMN/20191111/FEEL/": true,
		"groovy": false, "javascript": false, "JavaScript": false, "python": false, "ecmascript": false,
	} {
		if LanguageSupported(lang) != want {
			t.Errorf("%q: %v", lang, !want)
		}
	}
	r := languageRefusal("scriptFormat", "groovy")
	if !strings.Contains(r, `"groovy"`) || !strings.Contains(r, "Dialects") {
		t.Errorf("refusal %q", r)
	}
}
