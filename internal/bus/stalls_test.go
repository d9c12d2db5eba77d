package bus

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

func TestStallStreamConfig(t *testing.T) {
	t.Parallel()
	cfg, err := StallStreamConfig(StreamOptions{Prefix: "acme.cockpit-test"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "ACME_COCKPIT_TEST_STALLS" || cfg.Subjects[0] != "acme.cockpit-test.stalls.>" ||
		cfg.MaxAge != 30*24*time.Hour || cfg.MaxBytes != 256<<20 || cfg.Duplicates != 2*time.Minute {
		t.Errorf("stalls stream %+v", cfg)
	}
	for v, want := range map[int]string{SubjectsV1: "cockpit.stalls.order_v2", SubjectsV2: "cockpit.stalls.orders.order_v2"} {
		if got := (Subjects{Prefix: "cockpit", Service: "orders", Version: v}).Stall("order.v2"); got != want {
			t.Errorf("version %d: subject %q, want %q", v, got, want)
		}
	}
}

// The payload is a contract (docs/events.md): its field names must not change.
func TestStallMessageSchema(t *testing.T) {
	t.Parallel()
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cleared := since.Add(20 * time.Minute)
	s := &store.Stall{ID: "s1", TokenID: "t1", InstanceID: "i1", DefinitionID: "d1", DefinitionKey: "order",
		ElementID: "Task_Charge", Since: since, Threshold: 15 * time.Minute, Incident: true,
		DetectedAt: since.Add(16 * time.Minute), State: store.StallCleared, ClearedAt: &cleared}
	b, err := json.Marshal(NewStallMessage("orders", s, event.StallCleared))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"cockpit.stall/v1","service":"orders","id":"s1","type":"stall.cleared","definitionId":"d1","definitionKey":"order",` +
		`"elementId":"Task_Charge","instanceId":"i1","tokenId":"t1","since":"2025-03-01T12:00:00Z","threshold":"15m0s",` +
		`"thresholdMs":900000,"incident":true,"detectedAt":"2025-03-01T12:16:00Z","clearedAt":"2025-03-01T12:20:00Z"}`
	if string(b) != want {
		t.Fatalf("payload\ngot  %s\nwant %s", b, want)
	}
	// A detected message has no clearedAt, even when the row has cleared since.
	b, _ = json.Marshal(NewStallMessage("orders", s, event.StallDetected))
	m, err := DecodeStallMessage(b)
	if err != nil || m.Type != event.StallDetected || m.ClearedAt != nil {
		t.Fatalf("detected message %s: %+v %v", b, m, err)
	}
	if _, err := DecodeStallMessage([]byte(`{"schema":"cockpit.event/v1"}`)); err == nil {
		t.Fatal("an event payload decoded as a stall")
	}
}

// TestStallPublisher: messages land in the stalls stream on the process's subject; a
// message published again (same stall and type) is dropped by the stream, and the
// detected and cleared messages of one stall are two.
func TestStallPublisher(t *testing.T) {
	t.Parallel()
	tg := embeddedTarget(t)
	nc := tg.connect(t)
	p, err := NewStallPublisher(nc, Subjects{Prefix: tg.prefix, Service: testService})
	if err != nil {
		t.Fatal(err)
	}
	ctx := deadline(t, 30*time.Second)
	since := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &store.Stall{ID: "s1", TokenID: "t1", InstanceID: "i1", DefinitionID: "d1", DefinitionKey: flowKey,
		ElementID: "work", Since: since, Threshold: time.Minute, DetectedAt: since.Add(2 * time.Minute), State: store.StallOpen}
	for range 2 {
		if err := p.PublishStall(ctx, s, event.StallDetected); err != nil {
			t.Fatal(err)
		}
	}
	s.State, s.ClearedAt = store.StallCleared, new(since.Add(3*time.Minute))
	if err := p.PublishStall(ctx, s, event.StallCleared); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, StallsStream(tg.prefix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (the repeat is a duplicate)", info.State.Msgs)
	}
	var types []event.Type
	for seq := uint64(1); seq <= 2; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Subject != tg.prefix+".stalls."+testService+".order_flow" || raw.Header.Get(HeaderService) != testService {
			t.Errorf("subject %q, service header %q", raw.Subject, raw.Header.Get(HeaderService))
		}
		m, err := DecodeStallMessage(raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		if raw.Header.Get(jetstream.MsgIDHeader) != StallMsgID("s1", m.Type) || m.DefinitionKey != flowKey || m.Service != testService {
			t.Errorf("message %d: id %q, %+v", seq, raw.Header.Get(jetstream.MsgIDHeader), m)
		}
		types = append(types, m.Type)
	}
	if types[0] != event.StallDetected || types[1] != event.StallCleared {
		t.Fatalf("types %v", types)
	}
}
