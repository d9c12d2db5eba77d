// Package diagram draws BPMN diagrams on the server as standalone SVG, in the visual
// language of bpmn.io, with an optional overlay of runtime state (token and incident
// badges, the path an instance took, a heatmap).
//
// The SVG is built for the browser: every element is a group carrying
// data-element-id, a data-testid ("shape-<id>", "edge-<id>") and its DI geometry
// (data-bounds, data-waypoints), and its look comes from CSS classes whose colors are
// CSS custom properties (--bpmn-stroke, --bpmn-fill, ...), so a page can restyle it for a
// light or dark theme. The overlay lives in its own <g id="overlays"> layer, drawn last
// with the same coordinates, so a live update can swap that fragment alone
// (RenderOverlay, Scene.OverlaySVG).
//
// Prepare a Scene once per definition and render overlays from it; Render and
// RenderOverlay are the one-shot forms.
package diagram

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// MaxBytes bounds the static drawing of a Scene. A drawing is linear in its model (labels
// are cut at 40 lines), and a model imported within bpmn's limits draws in a few MiB at
// most; Prepare refuses a larger one with ErrTooLarge instead of holding it in memory.
const MaxBytes = 32 << 20

// Errors Prepare returns; test with errors.Is.
var (
	// ErrNoDefinitions is returned for a nil document.
	ErrNoDefinitions = errors.New("diagram: no definitions")
	// ErrUnknownProcess is returned when Options.ProcessID names no process of the document.
	ErrUnknownProcess = errors.New("diagram: unknown process")
	// ErrTooLarge is returned when the drawing would be larger than MaxBytes.
	ErrTooLarge = errors.New("diagram: too large to draw")
)

// Options choose what to draw and how.
type Options struct {
	// ProcessID selects the diagram whose plane is that process or a collaboration with a
	// pool of it. Empty means the first diagram.
	ProcessID string
	// Overlay is drawn on top of the diagram by Render and is the content of RenderOverlay.
	// Nil draws an empty overlay layer.
	Overlay *Overlay
	// NoStyle leaves the default <style> out of the SVG; the embedding page then supplies
	// all CSS (see DefaultCSS).
	NoStyle bool
	// Padding is the margin around the drawing in diagram units; 0 means 20.
	Padding float64
}

// Render draws the diagram of defs with opts.Overlay as a standalone SVG document. defs is
// not modified: a model without DI is laid out on a copy.
func Render(defs *bpmn.Definitions, opts Options) ([]byte, error) {
	s, err := Prepare(defs, opts)
	if err != nil {
		return nil, err
	}
	return s.SVG(opts.Overlay), nil
}

// RenderOverlay draws only the overlay layer, <g id="overlays" ...>...</g>, in the
// coordinates of Render's SVG, for replacing that fragment in a page.
func RenderOverlay(defs *bpmn.Definitions, opts Options) ([]byte, error) {
	s, err := Prepare(defs, opts)
	if err != nil {
		return nil, err
	}
	return s.OverlaySVG(opts.Overlay), nil
}

// Scene is a prepared diagram: the static drawing is built once, overlays are drawn on
// demand. A Scene is immutable and safe for concurrent use.
type Scene struct {
	head   []byte // <svg ...> and the default style
	body   []byte // the static layers
	view   bpmn.Bounds
	shapes []*shapeItem
	edges  []*edgeItem
	// byID finds the first shape or edge drawn for an element id.
	shapeByID map[string]*shapeItem
	edgeByID  map[string]*edgeItem
	// inside maps the elements within a collapsed activity that this diagram does not
	// draw (Camunda Modeler 5 draws a collapsed subprocess's content on a plane of its
	// own) to that activity's id, where the overlay shows their incidents and stalls.
	inside map[string]string
}

// Prepare builds the static drawing of defs. It reads defs and never modifies it.
func Prepare(defs *bpmn.Definitions, opts Options) (*Scene, error) {
	return PrepareContext(context.Background(), defs, opts)
}

// PrepareContext is Prepare with a budget: it gives up with ctx's error once ctx is done
// (a caller's deadline bounds the time one drawing may take), and with ErrTooLarge when
// the drawing outgrows MaxBytes.
func PrepareContext(ctx context.Context, defs *bpmn.Definitions, opts Options) (*Scene, error) {
	if defs == nil {
		return nil, ErrNoDefinitions
	}
	if opts.ProcessID != "" && defs.Process(opts.ProcessID) == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownProcess, opts.ProcessID)
	}
	d, dg, err := chooseDiagram(defs, opts.ProcessID)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("diagram: %w", err)
	}
	s := build(d, dg)
	pad := opts.Padding
	if pad <= 0 {
		pad = 20
	}
	s.view = s.extent(pad)
	var w bytes.Buffer
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" class="bpmn-diagram" viewBox="%s %s %s %s" width="%s" height="%s" role="img"`,
		num(s.view.X), num(s.view.Y), num(s.view.Width), num(s.view.Height), num(s.view.Width), num(s.view.Height))
	if dg != nil {
		fmt.Fprintf(&w, ` data-diagram-id="%s"`, esc(dg.ID))
	}
	w.WriteString(">")
	if !opts.NoStyle {
		w.WriteString("<style>")
		w.WriteString(DefaultCSS)
		w.WriteString("</style>")
	}
	s.head = w.Bytes()
	body, err := s.drawStatic(ctx)
	if err != nil {
		return nil, err
	}
	s.body = body
	return s, nil
}

// SVG returns the whole SVG document with ov drawn in the overlay layer (nil: empty).
func (s *Scene) SVG(ov *Overlay) []byte {
	var b bytes.Buffer
	b.Grow(len(s.head) + len(s.body) + 1024)
	b.Write(s.head)
	b.Write(s.body)
	s.writeOverlay(&b, ov)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// OverlaySVG returns the overlay layer alone: <g id="overlays" class="overlays">…</g>.
func (s *Scene) OverlaySVG(ov *Overlay) []byte {
	var b bytes.Buffer
	s.writeOverlay(&b, ov)
	return b.Bytes()
}

// ViewBox returns the area the SVG shows, in diagram coordinates.
func (s *Scene) ViewBox() bpmn.Bounds { return s.view }

// Has reports whether the element id is drawn, as a shape or an edge.
func (s *Scene) Has(id string) bool { return s.shapeByID[id] != nil || s.edgeByID[id] != nil }
