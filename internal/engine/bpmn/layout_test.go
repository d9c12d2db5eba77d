package bpmn

import (
	"testing"
)

func overlap(a, b Bounds) bool {
	return a.X < b.X+b.Width && b.X < a.X+a.Width && a.Y < b.Y+b.Height && b.Y < a.Y+a.Height
}

func inside(in, out Bounds) bool {
	return in.X >= out.X && in.Y >= out.Y && in.X+in.Width <= out.X+out.Width && in.Y+in.Height <= out.Y+out.Height
}

func near(p Point, b Bounds) bool {
	const e = 0.5
	return p.X >= b.X-e && p.X <= b.X+b.Width+e && p.Y >= b.Y-e && p.Y <= b.Y+b.Height+e
}

// checkLayout asserts the invariants of Layout on every process of d.
func checkLayout(t *testing.T, d *Definitions) {
	t.Helper()
	x := NewIndex(d)
	for _, p := range d.Processes {
		if !HasDI(d, p) {
			t.Errorf("process %s lacks DI after layout", p.ID)
		}
		walk(&p.Container, func(c *Container, owner *Element) {
			var shapes []*Shape
			for _, e := range c.Elements {
				if !e.Kind.IsFlowNode() {
					continue
				}
				s := x.Shape(e.ID)
				if s == nil {
					t.Errorf("%s has no shape", e.ID)
					continue
				}
				if owner != nil && !inside(s.Bounds, x.Shape(owner.ID).Bounds) {
					t.Errorf("%s %+v is outside its subprocess %+v", e.ID, s.Bounds, x.Shape(owner.ID).Bounds)
				}
				if e.Kind == KindBoundaryEvent {
					host := x.Shape(e.AttachedTo).Bounds
					cy := s.Bounds.Y + s.Bounds.Height/2
					if cy != host.Y+host.Height || s.Bounds.X < host.X || s.Bounds.X+s.Bounds.Width > host.X+host.Width {
						t.Errorf("boundary %s %+v is not on the bottom edge of %+v", e.ID, s.Bounds, host)
					}
					continue
				}
				for _, o := range shapes {
					if overlap(s.Bounds, o.Bounds) {
						t.Errorf("%s %+v overlaps %s %+v", s.ElementRef, s.Bounds, o.ElementRef, o.Bounds)
					}
				}
				shapes = append(shapes, s)
			}
			for _, f := range c.Flows {
				e := x.Edge(f.ID)
				if e == nil {
					t.Errorf("flow %s has no edge", f.ID)
					continue
				}
				w := e.Waypoints
				if len(w) < 2 {
					t.Errorf("edge %s has %d waypoints", e.ID, len(w))
					continue
				}
				for i := 1; i < len(w); i++ {
					if w[i].X != w[i-1].X && w[i].Y != w[i-1].Y {
						t.Errorf("edge %s segment %v-%v is not orthogonal", e.ID, w[i-1], w[i])
					}
				}
				if !near(w[0], x.Shape(f.SourceRef).Bounds) || !near(w[len(w)-1], x.Shape(f.TargetRef).Bounds) {
					t.Errorf("edge %s %v does not join %s and %s", e.ID, w, f.SourceRef, f.TargetRef)
				}
				if e.SourceElement != f.SourceRef+"_di" || e.TargetElement != f.TargetRef+"_di" {
					t.Errorf("edge %s ends %s %s", e.ID, e.SourceElement, e.TargetElement)
				}
			}
		})
	}
}

func TestLayoutBuiltModels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    *Builder
	}{
		{"order", equivalentOrder()},
		{"loop", Build("loop").Start("s").Task("try").ExclusiveGateway("again").
			Condition("retry").Connect("try").
			Default().End("e")},
		{"fork join with long branch", Build("fj").Start("s").ParallelGateway("fork").
			Task("a1").Task("a2").Task("a3").ParallelGateway("join").End("e").
			MoveTo("fork").Task("b1").Connect("join")},
		{"nested subprocess", Build("nest").Start("s").
			SubProcess("outer", func(b *Builder) {
				b.Start("os").SubProcess("inner", func(b *Builder) { b.Start("is").Task("it").End("ie") }).
					BoundaryTimer("slow", Duration("PT1M"), NonInterrupting()).End("late").
					MoveTo("inner").End("oe")
			}).BoundaryError("err", "").Task("fix").End("fe").
			MoveTo("outer").End("e")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := tt.b.Definitions()
			if err != nil {
				t.Fatal(err)
			}
			checkLayout(t, d)
		})
	}
}

func TestLayoutStraightMainPath(t *testing.T) {
	t.Parallel()
	d, err := Build("line").Start("s").Task("a").Task("b").End("e").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	x := NewIndex(d)
	prevRight := 0.0
	for _, id := range []string{"s", "a", "b", "e"} {
		b := x.Shape(id).Bounds
		if cy := b.Y + b.Height/2; cy != x.Shape("s").Bounds.Y+EventSize/2 {
			t.Errorf("%s is off the main line", id)
		}
		if b.X <= prevRight {
			t.Errorf("%s is not right of its predecessor", id)
		}
		prevRight = b.X + b.Width
	}
	for _, f := range d.Processes[0].Flows {
		if n := len(x.Edge(f.ID).Waypoints); n != 2 {
			t.Errorf("straight flow %s has %d waypoints", f.ID, n)
		}
	}
	if got := x.Shape("a").Bounds; got.Width != TaskWidth || got.Height != TaskHeight {
		t.Errorf("task size %+v", got)
	}
}

// Imported models without DI (and the MIWG models, re-laid out) get a complete layout.
func TestLayoutImported(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"camunda7.bpmn", "zeebe.bpmn", "unsupported.bpmn", "miwg/A.3.0.bpmn", "miwg/B.1.0.bpmn", "miwg/C.2.0.bpmn"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := parseFixture(t, name)
			had := true
			for _, p := range d.Processes {
				had = had && HasDI(d, p)
			}
			if EnsureDI(d) == had {
				t.Errorf("EnsureDI did not match HasDI (%v)", had)
			}
			Layout(d)
			if name == "unsupported.bpmn" {
				return // dangling flows and duplicate ids: only check it does not panic
			}
			checkLayout(t, d)
			roundTrip(t, d)
		})
	}
}
