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
	for _, c := range []struct {
		key  string
		typ  event.Type
		want string
	}{
		{"order", event.InstanceStarted, "cockpit.events.order.instance.started"},
		{"order.v2", event.IncidentOpened, "cockpit.events.order_v2.incident.opened"},
		{"a*b>c d\té", event.JobCreated, "cockpit.events.a_b_c_d__.job.created"},
		{"", "", "cockpit.events._._"},
		{"Pay-Ment_1", "x.*", "cockpit.events.Pay-Ment_1.x._"},
	} {
		if got := EventSubject("cockpit", c.key, c.typ); got != c.want {
			t.Errorf("EventSubject(%q, %q) = %q, want %q", c.key, c.typ, got, c.want)
		}
	}
	if got := IncidentSubject("acme.cockpit", "order.v2"); got != "acme.cockpit.incidents.order_v2" {
		t.Errorf("IncidentSubject = %q", got)
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
	msgs, err := eventMsgs("cockpit", ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Subject != "cockpit.events.order.incident.opened" || msgs[1].Subject != "cockpit.incidents.order" {
		t.Fatalf("messages %v", msgs)
	}
	for _, m := range msgs {
		if m.Header.Get(jetstream.MsgIDHeader) != ev.ID || m.Header.Get(HeaderSchema) != SchemaV1 || m.Header.Get(HeaderInstanceSeq) != "3" {
			t.Errorf("headers %v", m.Header)
		}
	}
	want := `{"schema":"cockpit.event/v1","id":"0195f0c8-0000-7000-8000-000000000001","seq":42,"instanceId":"i1",` +
		`"instanceSeq":3,"definitionId":"d1","definitionKey":"order","type":"incident.opened","elementId":"Task_Charge",` +
		`"elementType":"serviceTask","tokenId":"t1","jobId":"j1","incidentId":"x1","time":"2025-03-01T12:00:00.123456789Z",` +
		`"data":{"message":"boom"}}`
	if string(msgs[0].Data) != want {
		t.Errorf("payload\n got %s\nwant %s", msgs[0].Data, want)
	}
	m, err := DecodeMessage(msgs[0].Data)
	if err != nil || m.InstanceSeq != 3 || !m.Time.Equal(at) {
		t.Fatalf("decode: %+v, %v", m, err)
	}
	// Events without data still carry an object; empty optional fields are left out.
	plain, err := eventMsgs("cockpit", &store.Event{ID: "e", InstanceID: "i", InstanceSeq: 1, DefinitionKey: "order", Type: event.InstanceStarted, Time: at})
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
