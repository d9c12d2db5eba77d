package bus

import (
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/nats-io/nats.go/jetstream"
)

func TestSubjects(t *testing.T) {
	t.Parallel()
	v1 := Subjects{Prefix: "cockpit", Service: "orders", Version: SubjectsV1}
	v2 := Subjects{Prefix: "cockpit", Service: "orders", Version: SubjectsV2}
	for _, c := range []struct {
		key    string
		typ    event.Type
		v1, v2 string
	}{
		{"order", event.InstanceStarted, "cockpit.events.order.instance.started", "cockpit.events.orders.order.instance.started"},
		{"order.v2", event.IncidentOpened, "cockpit.events.order_v2.incident.opened", "cockpit.events.orders.order_v2.incident.opened"},
		{"a*b>c d\té", event.JobCreated, "cockpit.events.a_b_c_d__.job.created", "cockpit.events.orders.a_b_c_d__.job.created"},
		{"", "", "cockpit.events._._", "cockpit.events.orders._._"},
		{"Pay-Ment_1", "x.*", "cockpit.events.Pay-Ment_1.x._", "cockpit.events.orders.Pay-Ment_1.x._"},
	} {
		if got := v1.Event(c.key, c.typ); got != c.v1 {
			t.Errorf("v1 Event(%q, %q) = %q, want %q", c.key, c.typ, got, c.v1)
		}
		if got := v2.Event(c.key, c.typ); got != c.v2 {
			t.Errorf("v2 Event(%q, %q) = %q, want %q", c.key, c.typ, got, c.v2)
		}
	}
	// The zero version is version 2.
	if got := (Subjects{Prefix: "acme.cockpit", Service: "orders"}).Incident("order.v2"); got != "acme.cockpit.incidents.orders.order_v2" {
		t.Errorf("v2 Incident = %q", got)
	}
	if got := (Subjects{Prefix: "acme.cockpit", Service: "orders", Version: SubjectsV1}).Incident("order.v2"); got != "acme.cockpit.incidents.order_v2" {
		t.Errorf("v1 Incident = %q", got)
	}
	for _, c := range []struct {
		s            Subjects
		service, key string
		want         string
	}{
		{v2, "", "", "cockpit.events.>"},
		{v2, "", "order.v2", "cockpit.events.*.order_v2.>"},
		{v2, "orders", "", "cockpit.events.orders.>"},
		{v2, "orders", "order", "cockpit.events.orders.order.>"},
		{v1, "", "", "cockpit.events.>"},
		{v1, "orders", "order.v2", "cockpit.events.order_v2.>"},
	} {
		if got := c.s.EventFilter(c.service, c.key); got != c.want {
			t.Errorf("v%d EventFilter(%q, %q) = %q, want %q", c.s.Version, c.service, c.key, got, c.want)
		}
	}
	if EventsStream("acme.cockpit-test") != "ACME_COCKPIT_TEST_EVENTS" || IncidentsStream("cockpit") != "COCKPIT_INCIDENTS" {
		t.Error("stream names")
	}
	for _, p := range []string{"", "a..b", "a.*", "a.>", "a b", ".a"} {
		if err := CheckPrefix(p); !errors.Is(err, ErrInvalidPrefix) {
			t.Errorf("CheckPrefix(%q) = %v", p, err)
		}
	}
	if err := CheckPrefix("acme.cockpit_1"); err != nil {
		t.Error(err)
	}
}

// TestServiceNames: a name given is checked, never rewritten; the default from the host
// name is made valid.
func TestServiceNames(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "orders.eu", "a b", "*", ">", "ördern", strings.Repeat("a", MaxServiceBytes+1)} {
		if err := CheckService(s); !errors.Is(err, ErrInvalidService) {
			t.Errorf("CheckService(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"orders", "Pay-Ment_1", strings.Repeat("a", MaxServiceBytes)} {
		if err := CheckService(s); err != nil {
			t.Errorf("CheckService(%q) = %v", s, err)
		}
	}
	for host, want := range map[string]string{
		"web-1.example.com": "web-1", "ORDERS-7": "orders-7", "": "cockpit", "...": "cockpit", "über host": "_ber_host",
		strings.Repeat("h", 100): strings.Repeat("h", MaxServiceBytes),
	} {
		got := ServiceFromHost(host)
		if got != want || CheckService(got) != nil {
			t.Errorf("ServiceFromHost(%q) = %q, want %q", host, got, want)
		}
	}
	if err := CheckService(DefaultService()); err != nil {
		t.Errorf("DefaultService: %v", err)
	}
	for _, v := range []int{0, 3, -1} {
		if err := CheckSubjects(v); !errors.Is(err, ErrInvalidSubjects) {
			t.Errorf("CheckSubjects(%d) = %v", v, err)
		}
	}
	if err := (Subjects{Prefix: "cockpit", Service: "orders", Version: 3}).Check(); !errors.Is(err, ErrInvalidSubjects) {
		t.Errorf("Check of version 3: %v", err)
	}
}

func TestStreamConfigs(t *testing.T) {
	t.Parallel()
	ev, inc, err := StreamConfigs(StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "COCKPIT_EVENTS" || ev.Subjects[0] != "cockpit.events.>" || ev.MaxAge != 7*24*time.Hour ||
		ev.MaxBytes != 1<<30 || ev.Duplicates != 2*time.Minute || ev.Storage != jetstream.FileStorage ||
		ev.Discard != jetstream.DiscardOld {
		t.Errorf("events stream %+v", ev)
	}
	if inc.Name != "COCKPIT_INCIDENTS" || inc.Subjects[0] != "cockpit.incidents.>" || inc.Duplicates != 2*time.Minute {
		t.Errorf("incidents stream %+v", inc)
	}
	if _, _, err := StreamConfigs(StreamOptions{Prefix: "a.>"}); err == nil {
		t.Error("a wildcard prefix was accepted")
	}
}

// The payload is a contract (docs/events.md): its field names must not change.
func TestMessageSchema(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	ev := &store.Event{
		ID: "0195f0c8-0000-7000-8000-000000000001", Seq: 42, InstanceID: "i1", InstanceSeq: 3,
		DefinitionID: "d1", DefinitionKey: "order", Type: event.IncidentOpened, ElementID: "Task_Charge",
		ElementType: "serviceTask", TokenID: "t1", JobID: "j1", IncidentID: "x1", Time: at,
		Data: json.RawMessage(`{"message":"boom"}`),
	}
	// Version 1 subjects carry the service in the payload and the header all the same.
	v1, err := eventMsgs(Subjects{Prefix: "cockpit", Service: "orders", Version: SubjectsV1}, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(v1) != 2 || v1[0].Subject != "cockpit.events.order.incident.opened" || v1[1].Subject != "cockpit.incidents.order" {
		t.Fatalf("version 1 messages %v", v1)
	}
	msgs, err := eventMsgs(Subjects{Prefix: "cockpit", Service: "orders", Version: SubjectsV2}, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Subject != "cockpit.events.orders.order.incident.opened" || msgs[1].Subject != "cockpit.incidents.orders.order" {
		t.Fatalf("messages %v", msgs)
	}
	for _, m := range append(msgs, v1...) {
		if m.Header.Get(jetstream.MsgIDHeader) != ev.ID || m.Header.Get(HeaderSchema) != SchemaV1 || m.Header.Get(HeaderInstanceSeq) != "3" ||
			m.Header.Get(HeaderService) != "orders" {
			t.Errorf("headers %v", m.Header)
		}
		if string(m.Data) != string(msgs[0].Data) {
			t.Errorf("payload of %s differs: %s", m.Subject, m.Data)
		}
	}
	want := `{"schema":"cockpit.event/v1","service":"orders","id":"0195f0c8-0000-7000-8000-000000000001","seq":42,"instanceId":"i1",` +
		`"instanceSeq":3,"definitionId":"d1","definitionKey":"order","type":"incident.opened","elementId":"Task_Charge",` +
		`"elementType":"serviceTask","tokenId":"t1","jobId":"j1","incidentId":"x1","time":"2025-03-01T12:00:00.123456789Z",` +
		`"data":{"message":"boom"}}`
	if string(msgs[0].Data) != want {
		t.Errorf("payload\n got %s\nwant %s", msgs[0].Data, want)
	}
	m, err := DecodeMessage(msgs[0].Data)
	if err != nil || m.InstanceSeq != 3 || !m.Time.Equal(at) || m.Service != "orders" {
		t.Fatalf("decode: %+v, %v", m, err)
	}
	// Events without data still carry an object; empty optional fields are left out.
	plain, err := eventMsgs(Subjects{Prefix: "cockpit", Service: "orders"}, &store.Event{ID: "e", InstanceID: "i", InstanceSeq: 1, DefinitionKey: "order", Type: event.InstanceStarted, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(plain[0].Data); len(plain) != 1 || !strings.HasSuffix(s, `"data":{}}`) || strings.Contains(s, "elementId") {
		t.Errorf("plain event %s", s)
	}
	if _, err := DecodeMessage([]byte(`{"schema":"cockpit.event/v9"}`)); err == nil {
		t.Error("an unknown schema was accepted")
	}
}

// TestDoesNotImportTheEngine: the bus needs the event names (package event) and the
// store's rows, not the engine, which it once imported for two constants.
func TestDoesNotImportTheEngine(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); p == "github.com/cockpit-engine/cockpit/internal/engine" {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}
