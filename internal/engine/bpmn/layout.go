package bpmn

import (
	"math"
	"sort"
)

// Sizes bpmn.io uses for new shapes, and the spacing of the automatic layout.
const (
	TaskWidth    = 100
	TaskHeight   = 80
	EventSize    = 36
	GatewaySize  = 50
	layerGap     = 60 // horizontal gap between columns
	rowGap       = 40 // vertical gap between rows
	subPadding   = 30 // inside an expanded subprocess
	subLabelArea = 20 // above the content of a subprocess, for its name
	poolHeader   = 30 // the vertical name band of a pool
	sweeps       = 4  // barycenter sweeps (down and up) for crossing reduction
)

// HasDI reports whether every flow node and sequence flow of p, nested ones included, has
// a shape or edge in some diagram of d. It indexes d's DI on each call: for several
// processes, use Index.HasDI.
func HasDI(d *Definitions, p *Process) bool { return NewIndex(d).HasDI(p) }

// HasDI reports whether every flow node and sequence flow of p, nested ones included, has
// a shape or edge in some diagram of the document.
func (x *Index) HasDI(p *Process) bool {
	ok := true
	walk(&p.Container, func(c *Container, _ *Element) {
		for _, e := range c.Elements {
			if e.Kind.IsFlowNode() && x.shapes[e.ID] == nil {
				ok = false
			}
		}
		for _, f := range c.Flows {
			if x.edges[f.ID] == nil {
				ok = false
			}
		}
	})
	return ok
}

// EnsureDI lays d out with Layout when one of its processes lacks DI, and reports whether
// it did. Layout replaces all diagrams: a document is drawn by one hand or the other.
func EnsureDI(d *Definitions) bool {
	x := NewIndex(d)
	for _, p := range d.Processes {
		if !x.HasDI(p) {
			Layout(d)
			return true
		}
	}
	return false
}

// Layout replaces the diagrams of d by one automatic left-to-right layout: every flow
// node of every process (expanded subprocess contents included) gets a shape and every
// sequence flow an edge. It is a layered (Sugiyama-style) layout: cycles are broken at
// the back edges of a depth-first search, nodes are put in columns by longest path,
// crossings are reduced by barycenter sweeps, and rows are aligned across columns so the
// main path is a straight line. Boundary events sit on the bottom edge of their activity.
// Pools of a collaboration are drawn around their process; lanes, data objects and
// artifacts are not placed. Layout sets d.Diagrams and changes nothing else in d, so a
// shallow copy of a shared model can be laid out. Its cost is linear in the size of the
// model (with the nesting depth bounded, as Parse bounds it).
func Layout(d *Definitions) {
	procs := make(map[string]*Process, len(d.Processes))
	for _, p := range d.Processes {
		setOnce(procs, p.ID, p)
	}
	dg := &Diagram{ID: "BPMNDiagram_1", Plane: Plane{ID: "BPMNPlane_1"}}
	pl := &dg.Plane
	var collab *Collaboration
	for _, c := range d.Collaborations {
		if len(c.Participants) > 0 {
			collab = c
			break
		}
	}
	y := 80.0
	const x0 = 160.0
	if collab != nil {
		pl.ElementRef = collab.ID
		laid := map[string]*placed{}
		width := 600.0
		for _, pt := range collab.Participants {
			if p := procs[pt.ProcessRef]; p != nil && laid[p.ID] == nil {
				laid[p.ID] = layoutContainer(&p.Container)
				width = math.Max(width, laid[p.ID].w+poolHeader+2*subPadding)
			}
		}
		done := map[string]bool{}
		for _, pt := range collab.Participants {
			h := 60.0
			lp := laid[pt.ProcessRef]
			if lp != nil && !done[pt.ProcessRef] {
				done[pt.ProcessRef] = true
				h = lp.h + 2*subPadding
				lp.translate(x0+poolHeader+subPadding, y+subPadding)
				pl.Shapes = append(pl.Shapes, lp.shapes...)
				pl.Edges = append(pl.Edges, lp.edges...)
			}
			t := true
			pl.Shapes = append(pl.Shapes, &Shape{ID: pt.ID + "_di", ElementRef: pt.ID, IsHorizontal: &t,
				Bounds: Bounds{X: x0, Y: y, Width: width, Height: h}})
			y += h + rowGap
		}
		for _, p := range d.Processes {
			if !done[p.ID] {
				lp := layoutContainer(&p.Container)
				lp.translate(x0, y)
				pl.Shapes = append(pl.Shapes, lp.shapes...)
				pl.Edges = append(pl.Edges, lp.edges...)
				y += lp.h + rowGap
			}
		}
		messageFlowEdges(pl, collab)
	} else {
		for i, p := range d.Processes {
			if i == 0 {
				pl.ElementRef = p.ID
			}
			lp := layoutContainer(&p.Container)
			lp.translate(x0, y)
			pl.Shapes = append(pl.Shapes, lp.shapes...)
			pl.Edges = append(pl.Edges, lp.edges...)
			y += lp.h + 2*rowGap
		}
	}
	d.Diagrams = []*Diagram{dg}
}

// messageFlowEdges draws message flows as vertical connections between the shapes of
// their ends.
func messageFlowEdges(pl *Plane, c *Collaboration) {
	shapes := map[string]*Shape{}
	for _, s := range pl.Shapes {
		shapes[s.ElementRef] = s
	}
	for _, mf := range c.MessageFlows {
		s, t := shapes[mf.SourceRef], shapes[mf.TargetRef]
		if s == nil || t == nil {
			continue
		}
		sb, tb := s.Bounds, t.Bounds
		sx, tx := sb.X+sb.Width/2, tb.X+tb.Width/2
		var sy, ty float64
		if sb.Y < tb.Y {
			sy, ty = sb.Y+sb.Height, tb.Y
		} else {
			sy, ty = sb.Y, tb.Y+tb.Height
		}
		mid := (sy + ty) / 2
		pl.Edges = append(pl.Edges, &Edge{ID: mf.ID + "_di", ElementRef: mf.ID, SourceElement: s.ID, TargetElement: t.ID,
			Waypoints: clean([]Point{{sx, sy}, {sx, mid}, {tx, mid}, {tx, ty}})})
	}
}

// placed is a laid-out container, relative to its top-left corner.
type placed struct {
	shapes []*Shape
	edges  []*Edge
	w, h   float64
}

func (p *placed) translate(dx, dy float64) {
	for _, s := range p.shapes {
		s.Bounds.X += dx
		s.Bounds.Y += dy
		if s.Label != nil && s.Label.Bounds != nil {
			s.Label.Bounds.X += dx
			s.Label.Bounds.Y += dy
		}
	}
	for _, e := range p.edges {
		for i := range e.Waypoints {
			e.Waypoints[i].X += dx
			e.Waypoints[i].Y += dy
		}
	}
}

type lnode struct {
	el           *Element // nil for a dummy node of a long edge
	w, h         float64
	layer, order int
	index        int // document order, for stable ties
	// up and down are the neighbours in the previous / next layer (after dummies),
	// with the bias that keeps paths leaving boundary events below the main path.
	up, down []link
	inner    *placed // laid-out content of an expanded subprocess
	bounds   Bounds
}

type link struct {
	n    *lnode
	bias float64
}

type ledge struct {
	flow     *SequenceFlow
	src, dst *lnode
	boundary *Element // the boundary event the flow leaves from, if any
	reversed bool
	chain    []*lnode // dummies, in flow direction
}

func nodeSize(e *Element) (float64, float64) {
	switch {
	case e.Kind.IsEvent():
		return EventSize, EventSize
	case e.Kind.IsGateway():
		return GatewaySize, GatewaySize
	}
	return TaskWidth, TaskHeight
}

func layoutContainer(c *Container) *placed {
	out := &placed{}
	var nodes []*lnode
	byID := map[string]*lnode{}
	boundaries := map[string][]*Element{}
	events := map[string]*Element{}
	var eventSubs []*Element
	for _, e := range c.Elements {
		if !e.Kind.IsFlowNode() {
			continue
		}
		if e.Kind == KindBoundaryEvent {
			boundaries[e.AttachedTo] = append(boundaries[e.AttachedTo], e)
			events[e.ID] = e
			continue
		}
		if e.TriggeredByEvent && e.Children != nil {
			eventSubs = append(eventSubs, e) // below the flow, not in it
			continue
		}
		n := &lnode{el: e, index: len(nodes)}
		n.w, n.h = nodeSize(e)
		if e.Children != nil {
			n.inner = layoutContainer(e.Children)
			n.w = math.Max(2*TaskWidth+layerGap, n.inner.w+2*subPadding)
			n.h = math.Max(2*TaskHeight, n.inner.h+2*subPadding+subLabelArea)
		}
		nodes = append(nodes, n)
		byID[e.ID] = n
	}
	// Boundary events whose host is unknown are laid out as ordinary nodes. The others sit
	// on the one node their host id names (where ids repeat, the others get none: every
	// copy of the host carrying all of them would make n*n shapes).
	hosted := map[*lnode][]*Element{}
	for host, bs := range boundaries {
		if h := byID[host]; h != nil {
			hosted[h] = bs
			continue
		}
		for _, b := range bs {
			n := &lnode{el: b, w: EventSize, h: EventSize, index: len(nodes)}
			nodes = append(nodes, n)
			byID[b.ID] = n
			delete(events, b.ID)
		}
	}
	var edges []*ledge
	for _, f := range c.Flows {
		e := &ledge{flow: f, src: byID[f.SourceRef], dst: byID[f.TargetRef]}
		if b := events[f.SourceRef]; b != nil {
			e.boundary, e.src = b, byID[b.AttachedTo]
		}
		if e.src == nil || e.dst == nil {
			continue
		}
		edges = append(edges, e)
	}
	// An association between a compensation boundary event and its handler is laid out
	// like a flow from the event, so the handler sits beside the activity it undoes.
	for _, a := range c.Elements {
		if a.Kind != KindAssociation {
			continue
		}
		b := events[a.SourceRef]
		e := &ledge{flow: &SequenceFlow{ID: a.ID, SourceRef: a.SourceRef, TargetRef: a.TargetRef}, dst: byID[a.TargetRef]}
		if b == nil || !IsCompensationBoundary(b) || e.dst == nil {
			continue
		}
		e.boundary, e.src = b, byID[b.AttachedTo]
		if e.src != nil {
			edges = append(edges, e)
		}
	}
	breakCycles(nodes, edges)
	layers := assignLayers(nodes, edges)
	order(layers, edges)
	g := placeNodes(out, layers, hosted)
	routeEdges(out, g, edges)
	placeEventSubs(out, eventSubs)
	return out
}

// placeEventSubs puts the event subprocesses of a container in a row below its flow (they
// have no sequence flows, so the layers have no place for them), as modellers draw them.
func placeEventSubs(out *placed, subs []*Element) {
	if len(subs) == 0 {
		return
	}
	x, y, h := 0.0, out.h, 0.0
	if out.h > 0 {
		y += rowGap + EventSize // clear of the labels of boundary events on the bottom row
	}
	for _, e := range subs {
		inner := layoutContainer(e.Children)
		w := math.Max(2*TaskWidth+layerGap, inner.w+2*subPadding)
		sh := math.Max(2*TaskHeight, inner.h+2*subPadding+subLabelArea)
		t := true
		out.shapes = append(out.shapes, &Shape{ID: e.ID + "_di", ElementRef: e.ID, Bounds: Bounds{X: x, Y: y, Width: w, Height: sh}, IsExpanded: &t})
		inner.translate(x+subPadding, y+subPadding+subLabelArea)
		out.shapes = append(out.shapes, inner.shapes...)
		out.edges = append(out.edges, inner.edges...)
		x += w + layerGap
		h = math.Max(h, sh)
	}
	out.w = math.Max(out.w, x-layerGap)
	out.h = y + h
}

// breakCycles marks the back edges of a depth-first search, started from start events
// first, as reversed.
func breakCycles(nodes []*lnode, edges []*ledge) {
	out := map[*lnode][]*ledge{}
	for _, e := range edges {
		out[e.src] = append(out[e.src], e)
	}
	const (
		unseen = iota
		active
		done
	)
	state := map[*lnode]int{}
	var visit func(n *lnode)
	visit = func(n *lnode) {
		state[n] = active
		for _, e := range out[n] {
			switch state[e.dst] {
			case active:
				e.reversed = true
			case unseen:
				visit(e.dst)
			}
		}
		state[n] = done
	}
	roots := append([]*lnode(nil), nodes...)
	sort.SliceStable(roots, func(i, j int) bool {
		return roots[i].el.Kind == KindStartEvent && roots[j].el.Kind != KindStartEvent
	})
	for _, n := range roots {
		if state[n] == unseen {
			visit(n)
		}
	}
}

// assignLayers puts each node in the column of its longest path from a source, and adds
// dummy nodes to edges that span several columns.
func assignLayers(nodes []*lnode, edges []*ledge) [][]*lnode {
	indeg := map[*lnode]int{}
	succ := map[*lnode][]*lnode{}
	for _, e := range edges {
		s, t := e.src, e.dst
		if e.reversed {
			s, t = t, s
		}
		if s == t {
			continue
		}
		succ[s] = append(succ[s], t)
		indeg[t]++
	}
	queue := []*lnode{}
	for _, n := range nodes {
		if indeg[n] == 0 {
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, t := range succ[n] {
			t.layer = max(t.layer, n.layer+1)
			if indeg[t]--; indeg[t] == 0 {
				queue = append(queue, t)
			}
		}
	}
	maxLayer := 0
	for _, n := range nodes {
		maxLayer = max(maxLayer, n.layer)
	}
	layers := make([][]*lnode, maxLayer+1)
	for _, n := range nodes {
		layers[n.layer] = append(layers[n.layer], n)
	}
	for _, e := range edges {
		s, t := e.src, e.dst
		if s == t {
			continue
		}
		bias := 0.0
		if e.boundary != nil {
			bias = 0.5
		}
		lo, hi := s, t
		if lo.layer > hi.layer {
			lo, hi = hi, lo
		}
		prev := lo
		for l := lo.layer + 1; l < hi.layer; l++ {
			dn := &lnode{layer: l, index: len(nodes) + l}
			layers[l] = append(layers[l], dn)
			e.chain = append(e.chain, dn)
			prev.down = append(prev.down, link{dn, bias})
			dn.up = append(dn.up, link{prev, bias})
			prev = dn
		}
		if hi.layer > lo.layer {
			prev.down = append(prev.down, link{hi, bias})
			hi.up = append(hi.up, link{prev, bias})
		}
		if lo != s { // the chain was built from the target side: keep it in flow direction
			for i, j := 0, len(e.chain)-1; i < j; i, j = i+1, j-1 {
				e.chain[i], e.chain[j] = e.chain[j], e.chain[i]
			}
		}
	}
	return layers
}

// order reduces crossings by barycenter sweeps, down then up.
func order(layers [][]*lnode, _ []*ledge) {
	for _, l := range layers {
		sort.SliceStable(l, func(i, j int) bool { return l[i].index < l[j].index })
		for i, n := range l {
			n.order = i
		}
	}
	sortBy := func(l []*lnode, nb func(*lnode) []link) {
		bary := map[*lnode]float64{}
		for _, n := range l {
			ls := nb(n)
			if len(ls) == 0 {
				bary[n] = float64(n.order)
				continue
			}
			sum := 0.0
			for _, k := range ls {
				sum += float64(k.n.order) + k.bias
			}
			bary[n] = sum / float64(len(ls))
		}
		sort.SliceStable(l, func(i, j int) bool { return bary[l[i]] < bary[l[j]] })
		for i, n := range l {
			n.order = i
		}
	}
	for s := 0; s < sweeps; s++ {
		for i := 1; i < len(layers); i++ {
			sortBy(layers[i], func(n *lnode) []link { return n.up })
		}
		for i := len(layers) - 2; i >= 0; i-- {
			sortBy(layers[i], func(n *lnode) []link { return n.down })
		}
	}
}

// geometry of the grid, kept for routing.
type grid struct {
	layerX, layerW []float64
	rowY, rowH     []float64
	bottom         float64
}

func placeNodes(out *placed, layers [][]*lnode, hosted map[*lnode][]*Element) *grid {
	g := &grid{}
	rows := 0
	for _, l := range layers {
		rows = max(rows, len(l))
	}
	g.rowH = make([]float64, rows)
	for i := range g.rowH {
		g.rowH[i] = TaskHeight
	}
	x := 0.0
	for _, l := range layers {
		w := 0.0
		for _, n := range l {
			w = math.Max(w, n.w)
			h := n.h
			if len(hosted[n]) > 0 {
				h += EventSize // room under the boundary events
			}
			g.rowH[n.order] = math.Max(g.rowH[n.order], h)
		}
		if w == 0 {
			w = EventSize
		}
		g.layerX = append(g.layerX, x)
		g.layerW = append(g.layerW, w)
		x += w + layerGap
	}
	y := 0.0
	for _, h := range g.rowH {
		g.rowY = append(g.rowY, y)
		y += h + rowGap
	}
	out.w = math.Max(0, x-layerGap)
	out.h = math.Max(0, y-rowGap)
	g.bottom = out.h
	for li, l := range layers {
		for _, n := range l {
			cx := g.layerX[li] + g.layerW[li]/2
			cy := g.rowY[n.order] + g.rowH[n.order]/2
			n.bounds = Bounds{X: cx - n.w/2, Y: cy - n.h/2, Width: n.w, Height: n.h}
			if n.el == nil {
				continue
			}
			s := &Shape{ID: n.el.ID + "_di", ElementRef: n.el.ID, Bounds: n.bounds}
			if n.el.Kind == KindExclusiveGateway {
				t := true
				s.IsMarkerVisible = &t
			}
			if n.el.Kind.IsSubProcess() {
				t := true
				s.IsExpanded = &t
			}
			if n.el.Name != "" && (n.el.Kind.IsEvent() || n.el.Kind.IsGateway()) {
				s.Label = belowLabel(n.bounds)
			}
			out.shapes = append(out.shapes, s)
			if n.inner != nil {
				n.inner.translate(n.bounds.X+subPadding, n.bounds.Y+subPadding+subLabelArea)
				out.shapes = append(out.shapes, n.inner.shapes...)
				out.edges = append(out.edges, n.inner.edges...)
			}
			for i, b := range hosted[n] {
				bb := Bounds{X: n.bounds.X + 14 + float64(i)*(EventSize+10), Y: n.bounds.Y + n.bounds.Height - EventSize/2,
					Width: EventSize, Height: EventSize}
				bs := &Shape{ID: b.ID + "_di", ElementRef: b.ID, Bounds: bb}
				if b.Name != "" {
					bs.Label = belowLabel(bb)
				}
				out.shapes = append(out.shapes, bs)
			}
		}
	}
	return g
}

func belowLabel(b Bounds) *Label {
	return &Label{Bounds: &Bounds{X: b.X + b.Width/2 - 45, Y: b.Y + b.Height + 5, Width: 90, Height: 14}}
}

// routeEdges gives each flow orthogonal waypoints: out of the right side of its source
// (the bottom of a boundary event, the top or bottom of a gateway whose branch goes up or
// down), bending in the gaps between columns along the rows of its dummy nodes, into the
// left side of its target (the top or bottom of a joining gateway).
func routeEdges(out *placed, g *grid, edges []*ledge) {
	boundaryBounds := map[string]Bounds{}
	for _, s := range out.shapes {
		boundaryBounds[s.ElementRef] = s.Bounds
	}
	backY := g.bottom + rowGap/2
	for _, e := range edges {
		s, t := e.src.bounds, e.dst.bounds
		var pts []Point
		switch {
		case e.reversed || e.src.layer >= e.dst.layer:
			// Back edge: leave from below and come back under everything.
			from := s
			if e.boundary != nil {
				from = boundaryBounds[e.boundary.ID]
			}
			pts = []Point{{from.X + from.Width/2, from.Y + from.Height}, {from.X + from.Width/2, backY},
				{t.X + t.Width/2, backY}, {t.X + t.Width/2, t.Y + t.Height}}
			out.h = math.Max(out.h, backY+10)
		default:
			var cy float64
			var start Point
			first := t.Y + t.Height/2
			if len(e.chain) > 0 {
				first = e.chain[0].bounds.Y + e.chain[0].bounds.Height/2
			}
			switch {
			case e.boundary != nil:
				b := boundaryBounds[e.boundary.ID]
				start = Point{b.X + b.Width/2, b.Y + b.Height}
				pts = append(pts, start, Point{start.X, first})
				cy = first
			case e.src.el.Kind.IsGateway() && first != s.Y+s.Height/2:
				start = Point{s.X + s.Width/2, s.Y + s.Height}
				if first < s.Y {
					start.Y = s.Y
				}
				pts = append(pts, start, Point{start.X, first})
				cy = first
			default:
				cy = s.Y + s.Height/2
				pts = append(pts, Point{s.X + s.Width, cy})
			}
			for _, dn := range e.chain {
				gx := g.layerX[dn.layer] - layerGap/2
				dy := dn.bounds.Y + dn.bounds.Height/2
				if dy != cy {
					pts = append(pts, Point{gx, cy}, Point{gx, dy})
					cy = dy
				}
			}
			ty := t.Y + t.Height/2
			if e.dst.el.Kind.IsGateway() && cy != ty {
				tx := t.X + t.Width/2
				end := Point{tx, t.Y + t.Height}
				if cy < t.Y {
					end.Y = t.Y
				}
				pts = append(pts, Point{tx, cy}, end)
			} else {
				if cy != ty {
					gx := g.layerX[e.dst.layer] - layerGap/2
					pts = append(pts, Point{gx, cy}, Point{gx, ty})
				}
				pts = append(pts, Point{t.X, ty})
			}
		}
		src := e.flow.SourceRef
		out.edges = append(out.edges, &Edge{ID: e.flow.ID + "_di", ElementRef: e.flow.ID,
			SourceElement: src + "_di", TargetElement: e.flow.TargetRef + "_di", Waypoints: clean(pts)})
	}
}

// clean drops repeated and collinear middle points.
func clean(pts []Point) []Point {
	var out []Point
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1] == p {
			continue
		}
		if n := len(out); n >= 2 {
			a, b := out[n-2], out[n-1]
			if (a.X == b.X && b.X == p.X) || (a.Y == b.Y && b.Y == p.Y) {
				out[n-1] = p
				continue
			}
		}
		out = append(out, p)
	}
	return out
}
