package diagram

import (
	"encoding/xml"
	"math"
	"sort"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// Kinds a DI shape can reference besides flow nodes and artifacts.
const (
	kindParticipant bpmn.Kind = "participant"
	kindLane        bpmn.Kind = "lane"
	kindUnknown     bpmn.Kind = "unknown"
	// The data inputs and outputs of a process's ioSpecification: the model keeps them as
	// raw XML, the diagram draws them as data objects with an arrow.
	kindDataInput  bpmn.Kind = "dataInput"
	kindDataOutput bpmn.Kind = "dataOutput"
)

// geom is the outline of a shape, used for overlays (halos, highlights).
type geom int

const (
	geomRect geom = iota
	geomRound
	geomCircle
	geomDiamond
)

// shapeItem is one DI shape with what is needed to draw it.
type shapeItem struct {
	id         string
	kind       bpmn.Kind
	el         *bpmn.Element // nil for pools, lanes and unknown references
	di         *bpmn.Shape
	b          bpmn.Bounds
	name       string
	geom       geom
	expanded   bool // an activity drawn with its content
	horizontal bool // pools and lanes
	throw      bool // events: throwing (filled markers)
	rank       int
	seq        int
	label      *labelItem // external label, if any
	// Resolved facts for drawing.
	collection bool // data objects
	subMarker  bool // collapsed subprocess or call activity to a process: [+]
	parallelMI bool // parallel multiple event
	blackBox   bool // a pool without a process: no name band, the name in the middle
	// boundaryRoom is how far boundary events attached to the bottom edge of a collapsed
	// activity reach into it (its name stays above them).
	boundaryRoom float64
	// trigger is the start event of a collapsed event subprocess, whose marker the
	// subprocess shows at its top-left.
	trigger *bpmn.Element
	// globalKind is the task kind a call activity's called global task stands for (its
	// type icon is drawn), "" otherwise.
	globalKind bpmn.Kind
}

// edgeItem is one DI edge.
type edgeItem struct {
	id          string
	kind        bpmn.Kind
	di          *bpmn.Edge
	pts         []bpmn.Point
	name        string
	isDefault   bool
	conditional bool
	direction   string // associations: None, One, Both
	label       *labelItem
	// message is the messageVisibleKind of a message flow's DI edge: "initiating" or
	// "non_initiating" draw the message envelope, "" draws none.
	message string
	// diID is the DI id of an edge that references no element (its testid).
	diID string
}

// labelItem is a text block drawn in the label layer.
type labelItem struct {
	id     string
	lines  []string
	cx     float64 // horizontal center
	top    float64
	size   float64
	height float64
	width  float64
}

// chooseDiagram returns the document and diagram to draw: the caller's when the diagram
// exists and covers the process(es) drawn, else a laid-out copy.
func chooseDiagram(defs *bpmn.Definitions, pid string) (*bpmn.Definitions, *bpmn.Diagram, error) {
	idx := bpmn.NewIndex(defs)
	dg := pickDiagram(defs, idx, pid)
	if dg != nil && covered(defs, idx, dg, pid) {
		return defs, dg, nil
	}
	if len(defs.Processes) == 0 {
		return defs, dg, nil
	}
	// Layout replaces the diagrams of the document it is given and changes nothing else:
	// a shallow copy keeps the caller's model (often a deployed definition shared by the
	// engine) as it is. (Exporting and parsing a copy cost time and memory with every
	// page view, and failed for models whose export exceeds the import limits.)
	cp := *defs
	cp.Diagrams = nil
	bpmn.Layout(&cp)
	return &cp, pickDiagram(&cp, bpmn.NewIndex(&cp), pid), nil
}

// pickDiagram finds the diagram of process pid (its own plane, the plane of a
// collaboration with a pool of it, or a plane drawing some of its elements), or the first
// diagram when pid is empty. idx indexes defs.
func pickDiagram(defs *bpmn.Definitions, idx *bpmn.Index, pid string) *bpmn.Diagram {
	if pid == "" {
		if len(defs.Diagrams) > 0 {
			return defs.Diagrams[0]
		}
		return nil
	}
	planes := make(map[string]*bpmn.Diagram, len(defs.Diagrams))
	for _, dg := range defs.Diagrams {
		if _, ok := planes[dg.Plane.ElementRef]; !ok {
			planes[dg.Plane.ElementRef] = dg
		}
	}
	if dg := planes[pid]; dg != nil {
		return dg
	}
	for _, c := range defs.Collaborations {
		for _, pt := range c.Participants {
			if pt.ProcessRef == pid && planes[c.ID] != nil {
				return planes[c.ID]
			}
		}
	}
	for _, dg := range defs.Diagrams {
		for _, s := range dg.Plane.Shapes {
			if p := idx.ProcessOf(s.ElementRef); p != nil && p.ID == pid {
				return dg
			}
		}
	}
	return nil
}

// covered reports whether the processes dg shows (or pid) have DI for every flow node and
// sequence flow. idx indexes defs.
func covered(defs *bpmn.Definitions, idx *bpmn.Index, dg *bpmn.Diagram, pid string) bool {
	var procs []*bpmn.Process
	switch {
	case pid != "":
		procs = append(procs, idx.Process(pid))
	case idx.Process(dg.Plane.ElementRef) != nil:
		procs = append(procs, idx.Process(dg.Plane.ElementRef))
	default:
		for _, c := range defs.Collaborations {
			if c.ID != dg.Plane.ElementRef {
				continue
			}
			for _, pt := range c.Participants {
				if p := idx.Process(pt.ProcessRef); p != nil {
					procs = append(procs, p)
				}
			}
		}
		if len(procs) == 0 {
			procs = defs.Processes
		}
	}
	for _, p := range procs {
		if p != nil && !idx.HasDI(p) {
			return false
		}
	}
	return true
}

// Draw order ranks: containers first (outer before inner), then the shapes on top of
// them, boundary events above their hosts, (then edges,) groups (unfilled) above all.
const (
	rankPool     = 0
	rankLane     = 1
	rankExpanded = 10 // + nesting depth
	rankShape    = 100
	rankBoundary = 101
	rankGroup    = 102
)

// build resolves the shapes and edges of dg against the model.
func build(d *bpmn.Definitions, dg *bpmn.Diagram) *Scene {
	s := &Scene{shapeByID: map[string]*shapeItem{}, edgeByID: map[string]*edgeItem{}}
	if dg == nil {
		return s
	}
	idx := bpmn.NewIndex(d)
	lanes := map[string]*bpmn.Lane{}
	var addLanes func(ls *bpmn.LaneSet)
	addLanes = func(ls *bpmn.LaneSet) {
		for _, l := range ls.Lanes {
			if _, ok := lanes[l.ID]; !ok {
				lanes[l.ID] = l
			}
			if l.ChildLaneSet != nil {
				addLanes(l.ChildLaneSet)
			}
		}
	}
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, ls := range c.LaneSets {
			addLanes(ls)
		}
		for _, e := range c.Elements {
			if e.Children != nil {
				walk(e.Children)
			}
		}
	}
	for _, p := range d.Processes {
		walk(&p.Container)
	}
	messageFlows := map[string]*bpmn.MessageFlow{}
	for _, c := range d.Collaborations {
		for _, mf := range c.MessageFlows {
			if _, ok := messageFlows[mf.ID]; !ok {
				messageFlows[mf.ID] = mf
			}
		}
	}
	roots := map[string]*bpmn.Node{}
	for _, n := range d.Extra.Children {
		if id := attrOf(n.Attrs, "id"); id != "" {
			roots[id] = n
		}
	}
	ios := dataIOs(d)
	drawn := &drawnSet{ids: map[string]bool{}, content: map[*bpmn.Element]bool{}}
	for _, sh := range dg.Plane.Shapes {
		drawn.ids[sh.ElementRef] = true
	}

	for i, sh := range dg.Plane.Shapes {
		it := &shapeItem{id: sh.ElementRef, di: sh, b: sh.Bounds, seq: i, kind: kindUnknown, rank: rankShape, geom: geomRect}
		switch el := idx.Element(sh.ElementRef); {
		case el != nil:
			it.el, it.kind, it.name = el, el.Kind, el.Name
			resolveElement(it, idx, roots, drawn)
		case idx.Participant(sh.ElementRef) != nil:
			pt := idx.Participant(sh.ElementRef)
			it.kind, it.name, it.rank = kindParticipant, pt.Name, rankPool
			if it.name == "" {
				if p := idx.Process(pt.ProcessRef); p != nil {
					it.name = p.Name
				}
			}
			it.horizontal = sh.IsHorizontal == nil || *sh.IsHorizontal
			it.blackBox = idx.Process(pt.ProcessRef) == nil
		case lanes[sh.ElementRef] != nil:
			it.kind, it.name, it.rank = kindLane, lanes[sh.ElementRef].Name, rankLane
			it.horizontal = sh.IsHorizontal == nil || *sh.IsHorizontal
		case ios[sh.ElementRef] != nil:
			n := ios[sh.ElementRef]
			it.kind, it.name = bpmn.Kind(n.Name.Local), attrOf(n.Attrs, "name")
			it.collection = attrOf(n.Attrs, "isCollection") == "true"
		}
		if it.label == nil && it.name != "" && externalLabel(it.kind) {
			it.label = shapeLabel(it)
		}
		s.shapes = append(s.shapes, it)
		if _, ok := s.shapeByID[it.id]; !ok && it.id != "" {
			s.shapeByID[it.id] = it
		}
	}
	for _, it := range s.shapes {
		if it.kind != bpmn.KindBoundaryEvent || it.el == nil {
			continue
		}
		host := s.shapeByID[it.el.AttachedTo]
		if host == nil || !host.kind.IsActivity() || host.expanded {
			continue
		}
		// On the bottom edge: the event's center near it, the event within the width.
		hb := host.b.Y + host.b.Height
		if cy := it.b.Y + it.b.Height/2; math.Abs(cy-hb) <= it.b.Height/2 &&
			it.b.X < host.b.X+host.b.Width && it.b.X+it.b.Width > host.b.X {
			host.boundaryRoom = math.Max(host.boundaryRoom, hb-it.b.Y+2)
		}
	}
	sort.SliceStable(s.shapes, func(i, j int) bool { return s.shapes[i].rank < s.shapes[j].rank })
	s.inside = hiddenInside(s.shapes, drawn)

	for _, ed := range dg.Plane.Edges {
		it := &edgeItem{id: ed.ElementRef, di: ed, pts: ed.Waypoints, kind: kindUnknown}
		switch {
		case ed.ElementRef == "":
			// An edge of no element (tools draw annotation links so) connects two shapes
			// without meaning a flow: it is drawn as an undirected association.
			it.kind, it.diID = bpmn.KindAssociation, ed.ID
		case idx.Flow(ed.ElementRef) != nil:
			f := idx.Flow(ed.ElementRef)
			it.kind, it.name = bpmn.KindSequenceFlow, f.Name
			if src := idx.Element(f.SourceRef); src != nil {
				it.isDefault = src.Default == f.ID
				// An empty conditionExpression still makes the flow conditional; the model
				// keeps of it only its language, where it has one.
				it.conditional = !it.isDefault && (f.Condition != "" || f.ConditionLanguage != "") && src.Kind.IsActivity()
			}
		case messageFlows[ed.ElementRef] != nil:
			it.kind, it.name = bpmn.KindMessageFlow, messageFlows[ed.ElementRef].Name
			switch v := attrOf(ed.Extra.Attrs, "messageVisibleKind"); v {
			case "initiating", "non_initiating":
				it.message = v
			}
		case idx.Element(ed.ElementRef) != nil:
			el := idx.Element(ed.ElementRef)
			it.kind, it.name, it.direction = el.Kind, el.Name, el.AssociationDir
		}
		if it.name != "" {
			it.label = edgeLabel(it)
		}
		s.edges = append(s.edges, it)
		if _, ok := s.edgeByID[it.id]; !ok && it.id != "" {
			s.edgeByID[it.id] = it
		}
	}
	return s
}

// resolveElement fills the drawing facts of a shape of a model element.
func resolveElement(it *shapeItem, idx *bpmn.Index, roots map[string]*bpmn.Node, drawn *drawnSet) {
	el := it.el
	switch k := el.Kind; {
	case k.IsEvent():
		it.geom = geomCircle
		it.throw = k == bpmn.KindEndEvent || k == bpmn.KindIntermediateThrowEvent
		it.parallelMI = attrOf(el.Extra.Attrs, "parallelMultiple") == "true"
		if k == bpmn.KindBoundaryEvent {
			it.rank = rankBoundary
		}
	case k.IsGateway():
		it.geom = geomDiamond
	case k.IsActivity():
		it.geom = geomRound
		if k.IsSubProcess() || k == bpmn.KindCallActivity {
			switch {
			case it.di.IsExpanded != nil:
				it.expanded = *it.di.IsExpanded
			case el.Children != nil:
				// Some tools leave isExpanded out: an activity whose content is drawn
				// in this plane is expanded.
				it.expanded = contentDrawn(el, drawn)
			}
		}
		if it.expanded {
			depth := 0
			for p := idx.Parent(el.ID); p != nil && depth < 50; p = idx.Parent(p.ID) {
				depth++
			}
			it.rank = rankExpanded + depth
		} else {
			// A call activity shows [+] unless it calls a global task; one calling a
			// global user, script, manual or business rule task shows that task's icon.
			global := ""
			if k == bpmn.KindCallActivity {
				global = globalTask(roots, el.CalledElement)
			}
			it.subMarker = k.IsSubProcess() || k == bpmn.KindCallActivity && global == ""
			it.globalKind = globalKinds[global]
			if el.TriggeredByEvent && el.Children != nil {
				for _, c := range el.Children.Elements {
					if c.Kind == bpmn.KindStartEvent && c.Event != nil {
						it.trigger = c
						break
					}
				}
			}
		}
	case k == bpmn.KindDataObjectReference || k == bpmn.KindDataObject:
		obj := el
		if k == bpmn.KindDataObjectReference {
			if o := idx.Element(el.DataObjectRef); o != nil {
				obj = o
			}
		}
		it.collection = attrOf(obj.Extra.Attrs, "isCollection") == "true"
		if it.name == "" {
			it.name = obj.Name
		}
	case k == bpmn.KindDataStoreReference:
		if it.name == "" && roots[el.DataStoreRef] != nil {
			it.name = attrOf(roots[el.DataStoreRef].Attrs, "name")
		}
	case k == bpmn.KindTextAnnotation:
		it.name = el.Text
	case k == bpmn.KindGroup:
		it.rank = rankGroup
		it.geom = geomRound
		it.name = el.CategoryValue
		if it.name == "" {
			it.name = el.Name
		}
		if it.name != "" {
			it.label = groupLabel(it)
		}
	}
}

// hiddenInside maps every element nested in a collapsed activity of shapes, and drawn in
// none of the diagram's shapes, to the outermost such activity.
func hiddenInside(shapes []*shapeItem, drawn *drawnSet) map[string]string {
	var out map[string]string
	var walk func(c *bpmn.Container, host string)
	walk = func(c *bpmn.Container, host string) {
		for _, e := range c.Elements {
			if !drawn.ids[e.ID] {
				if out == nil {
					out = map[string]string{}
				}
				if _, ok := out[e.ID]; !ok {
					out[e.ID] = host
				}
			}
			if e.Children != nil {
				walk(e.Children, host)
			}
		}
	}
	for _, it := range shapes {
		if it.el != nil && it.el.Children != nil && !it.expanded && it.id != "" {
			walk(it.el.Children, it.id)
		}
	}
	return out
}

// globalKinds maps the global task elements to the task kind whose icon a call activity
// calling one of them shows.
var globalKinds = map[string]bpmn.Kind{
	"globalUserTask":         bpmn.KindUserTask,
	"globalScriptTask":       bpmn.KindScriptTask,
	"globalManualTask":       bpmn.KindManualTask,
	"globalBusinessRuleTask": bpmn.KindBusinessRuleTask,
}

// globalTask returns the element name of the global task ref names ("globalTask",
// "globalUserTask", ...), or "" when ref names none. A reference may carry a namespace
// prefix ("tns:check").
func globalTask(roots map[string]*bpmn.Node, ref string) string {
	n := roots[ref]
	if n == nil {
		if i := strings.LastIndexByte(ref, ':'); i >= 0 {
			n = roots[ref[i+1:]]
		}
	}
	if n == nil || n.Name.Space != bpmn.NSModel {
		return ""
	}
	if l := n.Name.Local; l == "globalTask" || globalKinds[l] != "" {
		return l
	}
	return ""
}

// dataIOs returns the dataInput and dataOutput elements of the ioSpecifications of d's
// processes and activities by id, as the raw nodes the model keeps of them.
func dataIOs(d *bpmn.Definitions) map[string]*bpmn.Node {
	out := map[string]*bpmn.Node{}
	add := func(children []*bpmn.Node) {
		for _, n := range children {
			if n.Name.Space != bpmn.NSModel || n.Name.Local != "ioSpecification" {
				continue
			}
			for _, c := range n.Children {
				if c.Name.Space != bpmn.NSModel || c.Name.Local != string(kindDataInput) && c.Name.Local != string(kindDataOutput) {
					continue
				}
				if id := attrOf(c.Attrs, "id"); id != "" && out[id] == nil {
					out[id] = c
				}
			}
		}
	}
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, e := range c.Elements {
			add(e.Extra.Children)
			if e.Children != nil {
				walk(e.Children)
			}
		}
	}
	for _, p := range d.Processes {
		add(p.Extra.Children)
		walk(&p.Container)
	}
	return out
}

// drawnSet holds the ids that have a shape in the plane drawn, and which subprocesses
// have drawn content, worked out once per subprocess: many shapes of one subprocess must
// not each walk its content.
type drawnSet struct {
	ids     map[string]bool
	content map[*bpmn.Element]bool
}

// contentDrawn reports whether an element of sub's content has a shape.
func contentDrawn(sub *bpmn.Element, drawn *drawnSet) bool {
	if v, ok := drawn.content[sub]; ok {
		return v
	}
	v := false
	for _, c := range sub.Children.Elements {
		if drawn.ids[c.ID] {
			v = true
			break
		}
	}
	drawn.content[sub] = v
	return v
}

func attrOf(attrs []xml.Attr, local string) string {
	for _, a := range attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// externalLabel reports whether shapes of kind k have their name outside the shape.
func externalLabel(k bpmn.Kind) bool {
	return k.IsEvent() || k.IsGateway() || k == bpmn.KindDataObjectReference || k == bpmn.KindDataObject ||
		k == bpmn.KindDataStoreReference || k == kindDataInput || k == kindDataOutput
}

// shapeLabel places the name of an event, gateway or data element: in its DI label
// bounds, or centered below the shape as bpmn.io does.
func shapeLabel(it *shapeItem) *labelItem {
	if lb := it.di.Label; lb != nil && lb.Bounds != nil && lb.Bounds.Width > 0 {
		above := lb.Bounds.Y+lb.Bounds.Height/2 < it.b.Y+it.b.Height/2
		return diLabel(it.id, it.name, *lb.Bounds, above)
	}
	box := bpmn.Bounds{X: it.b.X + it.b.Width/2 - labelWidth/2, Y: it.b.Y + it.b.Height + 5, Width: labelWidth}
	return placeLabel(it.id, it.name, box, false)
}

// groupLabel puts a group's category value in its DI label bounds or at its top.
func groupLabel(it *shapeItem) *labelItem {
	if lb := it.di.Label; lb != nil && lb.Bounds != nil && lb.Bounds.Width > 0 {
		return diLabel(it.id, it.name, *lb.Bounds, false)
	}
	w := math.Max(labelWidth, it.b.Width-20)
	return placeLabel(it.id, it.name, bpmn.Bounds{X: it.b.X + it.b.Width/2 - w/2, Y: it.b.Y + 5, Width: w}, false)
}

// edgeLabel places a flow's name in its DI label bounds, or beside the middle of the
// flow's middle segment.
func edgeLabel(it *edgeItem) *labelItem {
	if lb := it.di.Label; lb != nil && lb.Bounds != nil && lb.Bounds.Width > 0 {
		return diLabel(it.id, it.name, *lb.Bounds, false)
	}
	if len(it.pts) < 2 {
		return nil
	}
	i := (len(it.pts) - 1) / 2
	a, b := it.pts[i], it.pts[i+1]
	mid := bpmn.Point{X: (a.X + b.X) / 2, Y: (a.Y + b.Y) / 2}
	l := placeLabel(it.id, it.name, bpmn.Bounds{X: mid.X - labelWidth/2, Y: mid.Y, Width: labelWidth}, false)
	if math.Abs(a.X-b.X) < math.Abs(a.Y-b.Y) {
		// Vertical segment: the label goes to the right of it, centered on the midpoint.
		l.cx = mid.X + 5 + l.width/2
		l.top = mid.Y - l.height/2
	} else {
		l.top = mid.Y - 4 - l.height
	}
	if it.message != "" && a != b {
		// The message envelope (20 x 14) sits on the midpoint: the label moves past it.
		if math.Abs(a.X-b.X) < math.Abs(a.Y-b.Y) {
			l.cx += 10
		} else {
			l.top -= 7
		}
	}
	return l
}

// placeLabel wraps text to box (at least the default label width) and centers it there;
// a block taller than the box grows away from its shape: up when the box is above it.
func placeLabel(id, text string, box bpmn.Bounds, above bool) *labelItem {
	return placeLabelWidth(id, text, box, above, math.Max(box.Width, labelWidth))
}

// diLabel places text in label bounds from the DI. The tool that wrote them wrapped the
// text to their width, so wrapping at about that width gives the same lines (a little
// slack absorbs other font metrics); a word wider than the box stays whole.
func diLabel(id, text string, box bpmn.Bounds, above bool) *labelItem {
	w := box.Width + 6
	for _, word := range strings.Fields(text) {
		w = math.Max(w, textWidth(word, labelFontSize))
	}
	return placeLabelWidth(id, text, box, above, w)
}

func placeLabelWidth(id, text string, box bpmn.Bounds, above bool, w float64) *labelItem {
	lines := wrap(text, w, labelFontSize)
	if len(lines) == 0 {
		return nil
	}
	l := &labelItem{id: id, lines: lines, size: labelFontSize, cx: box.X + box.Width/2}
	l.height = float64(len(lines)) * labelFontSize * lineHeight
	for _, ln := range lines {
		l.width = math.Max(l.width, textWidth(ln, labelFontSize))
	}
	switch {
	case l.height <= box.Height:
		l.top = box.Y + (box.Height-l.height)/2
	case above:
		l.top = box.Y + box.Height - l.height
	default:
		l.top = box.Y
	}
	return l
}

// extent returns the bounds of everything drawn plus pad on each side.
func (s *Scene) extent(pad float64) bpmn.Bounds {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	add := func(x, y float64) {
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return
		}
		minX, minY = math.Min(minX, x), math.Min(minY, y)
		maxX, maxY = math.Max(maxX, x), math.Max(maxY, y)
	}
	addLabel := func(l *labelItem) {
		if l != nil {
			add(l.cx-l.width/2, l.top)
			add(l.cx+l.width/2, l.top+l.height)
		}
	}
	for _, it := range s.shapes {
		add(it.b.X, it.b.Y)
		add(it.b.X+it.b.Width, it.b.Y+it.b.Height)
		addLabel(it.label)
	}
	for _, e := range s.edges {
		for _, p := range e.pts {
			add(p.X, p.Y)
		}
		addLabel(e.label)
	}
	if math.IsInf(minX, 1) {
		return bpmn.Bounds{Width: 2 * pad, Height: 2 * pad}
	}
	return bpmn.Bounds{X: minX - pad, Y: minY - pad, Width: maxX - minX + 2*pad, Height: maxY - minY + 2*pad}
}
