package engine_test

import (
	"errors"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A message without correlation key (as Camunda 7 models them) reaches the instances its
// selection keeps: by business key, instance id and process variables; Unique refuses an
// ambiguous one, All reaches every match and starts at every message start event.
func TestCorrelateMessageSelection(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		v := newEnv(t, open)
		v.start()
		v.deploy("message_c7.bpmn")
		start := func(bk string, x int) *store.Instance {
			inst, err := v.e.StartInstance(v.ctx, "message_c7", engine.StartOptions{BusinessKey: bk, Variables: map[string]any{"x": x}})
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			return inst
		}
		a, b2, b3 := start("a", 1), start("b", 2), start("b", 3)

		res, err := v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "a", Unique: true,
			Variables: map[string]any{"got": true}})
		if err != nil {
			t.Fatalf("correlate by business key: %v", err)
		}
		if res.InstanceID != a.ID || res.Started || len(res.Correlations) != 1 || res.Correlations[0].BusinessKey != "a" {
			t.Fatalf("correlated to %+v, want only instance a %s", res, a.ID)
		}
		if got := v.state(a.ID); got != store.InstanceCompleted {
			t.Fatalf("instance a is %s, want completed", got)
		}

		_, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "b", Unique: true})
		if !errors.Is(err, engine.ErrInvalidState) {
			t.Fatalf("two instances with business key b: want ErrInvalidState, got %v", err)
		}
		if v.state(b2.ID) != store.InstanceActive || v.state(b3.ID) != store.InstanceActive {
			t.Fatal("an ambiguous correlation moved an instance")
		}

		// 3.0 equals the stored 3: values compare as JSON numbers.
		res, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "b", Unique: true,
			VariablesEqual: map[string]any{"x": 3.0}})
		if err != nil || res.InstanceID != b3.ID {
			t.Fatalf("correlate by variable: %+v, %v; want instance %s", res, err, b3.ID)
		}

		_, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", InstanceID: a.ID, Unique: true})
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("an ended instance: want ErrNotFound, got %v", err)
		}
		res, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", InstanceID: b2.ID, Unique: true})
		if err != nil || res.InstanceID != b2.ID {
			t.Fatalf("correlate by instance id: %+v, %v", res, err)
		}

		// All: every waiting instance of business key c, and the message start event.
		v.deploy("message_c7_start.bpmn")
		c1, c2 := start("c", 4), start("c", 5)
		other := start("d", 6)
		_, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "c", Unique: true})
		if !errors.Is(err, engine.ErrInvalidState) {
			t.Fatalf("two instances and a start event: want ErrInvalidState, got %v", err)
		}
		res, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "c", All: true})
		if err != nil {
			t.Fatalf("correlate all: %v", err)
		}
		if len(res.Correlations) != 3 {
			t.Fatalf("correlate all reached %+v, want two instances and one started", res.Correlations)
		}
		reached := map[string]bool{}
		var started *engine.Correlation
		for i, c := range res.Correlations {
			reached[c.InstanceID] = true
			if c.Started {
				started = &res.Correlations[i]
			}
		}
		if !reached[c1.ID] || !reached[c2.ID] || reached[other.ID] || started == nil {
			t.Fatalf("correlate all reached %+v", res.Correlations)
		}
		if inst := v.detail(started.InstanceID).Instance; inst.BusinessKey != "c" || inst.DefinitionKey != "message_c7_start" {
			t.Fatalf("started instance %+v, want business key c of message_c7_start", inst)
		}
		if v.state(c1.ID) != store.InstanceCompleted || v.state(c2.ID) != store.InstanceCompleted || v.state(other.ID) != store.InstanceActive {
			t.Fatal("correlate all moved the wrong instances")
		}

		// An instance id never starts an instance; without a match, a start event does.
		if _, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", InstanceID: "nope", All: true}); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("unknown instance: want ErrNotFound, got %v", err)
		}
		res, err = v.e.CorrelateMessage(v.ctx, engine.Message{Name: "c7.ping", BusinessKey: "e", Unique: true})
		if err != nil || !res.Started {
			t.Fatalf("no instance waits with business key e: want a start, got %+v, %v", res, err)
		}
	})
}
