package web

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Concurrent requests for one definition share one drawing, and a drawing that failed
// is not tried again on every request: a deployed definition never changes.
func TestDiagramDrawnOncePerDefinition(t *testing.T) {
	t.Parallel()
	s := &server{log: slog.New(slog.DiscardHandler)}
	model, err := bpmn.ParseBytes([]byte(`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">` +
		`<process id="p"><startEvent id="s"/></process></definitions>`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	scenes := make([]*diagram.Scene, 8)
	for i := range scenes {
		wg.Go(func() {
			sc, err := s.scene(context.Background(), "def-1", model, "p")
			if err != nil {
				t.Error(err)
			}
			scenes[i] = sc
		})
	}
	wg.Wait()
	for _, sc := range scenes[1:] {
		if sc != scenes[0] {
			t.Fatal("concurrent requests drew the diagram more than once")
		}
	}
	// A failure is remembered and shown in place of the diagram.
	d := s.drawDiagram(context.Background(), "def-2", model, "nope", nil, nil)
	if d.SVG != nil || !strings.Contains(d.Placeholder, "could not be drawn") {
		t.Errorf("unknown process: %+v", d)
	}
	if _, err := s.scene(context.Background(), "def-2", model, "p"); !errors.Is(err, diagram.ErrUnknownProcess) {
		t.Errorf("second request: %v, want the remembered failure", err)
	}
	// A request that gives up does not wait for another's drawing.
	s.scenes.Store("def-3", &sceneEntry{done: make(chan struct{})})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.scene(ctx, "def-3", model, "p"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
}
