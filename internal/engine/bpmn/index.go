package bpmn

// Index gives constant-time lookups over a whole document: elements by id (nested
// subprocesses included), flows, the container and process holding each, boundary
// events by the activity they are attached to, root elements and DI.
//
// Build it once with NewIndex after the model is complete (the engine keeps one per
// deployed definition); it does not follow later changes to the model. It is safe for
// concurrent readers. Where a document repeats an id, the first occurrence wins (Check
// reports the duplicate).
type Index struct {
	processes    map[string]*Process
	elements     map[string]*Element
	flows        map[string]*SequenceFlow
	container    map[string]*Container
	owner        map[string]*Element
	process      map[string]*Process
	boundaries   map[string][]*Element
	messages     map[string]*Message
	messageNames map[string]*Message
	errors       map[string]*Error
	errorCodes   map[string]*Error
	participants map[string]*Participant
	shapes       map[string]*Shape
	edges        map[string]*Edge
}

// NewIndex builds the lookups of d.
func NewIndex(d *Definitions) *Index {
	x := &Index{
		processes: map[string]*Process{}, elements: map[string]*Element{}, flows: map[string]*SequenceFlow{},
		container: map[string]*Container{}, owner: map[string]*Element{}, process: map[string]*Process{},
		boundaries: map[string][]*Element{}, messages: map[string]*Message{}, messageNames: map[string]*Message{},
		errors: map[string]*Error{}, errorCodes: map[string]*Error{}, participants: map[string]*Participant{},
		shapes: map[string]*Shape{}, edges: map[string]*Edge{},
	}
	for _, p := range d.Processes {
		setOnce(x.processes, p.ID, p)
		walk(&p.Container, func(c *Container, owner *Element) {
			for _, e := range c.Elements {
				if _, dup := x.elements[e.ID]; dup {
					continue
				}
				x.elements[e.ID], x.container[e.ID], x.owner[e.ID], x.process[e.ID] = e, c, owner, p
				if e.Kind == KindBoundaryEvent {
					x.boundaries[e.AttachedTo] = append(x.boundaries[e.AttachedTo], e)
				}
				for _, a := range e.DataAssociations {
					setOnce(x.elements, a.ID, a)
				}
			}
			for _, f := range c.Flows {
				if _, dup := x.flows[f.ID]; dup {
					continue
				}
				x.flows[f.ID], x.container[f.ID], x.owner[f.ID], x.process[f.ID] = f, c, owner, p
			}
		})
	}
	for _, c := range d.Collaborations {
		for _, p := range c.Participants {
			setOnce(x.participants, p.ID, p)
		}
		for _, a := range c.Artifacts {
			setOnce(x.elements, a.ID, a)
		}
	}
	for _, m := range d.Messages {
		setOnce(x.messages, m.ID, m)
		setOnce(x.messageNames, m.Name, m)
	}
	for _, e := range d.Errors {
		setOnce(x.errors, e.ID, e)
		setOnce(x.errorCodes, e.Code, e)
	}
	for _, dg := range d.Diagrams {
		for _, s := range dg.Plane.Shapes {
			setOnce(x.shapes, s.ElementRef, s)
		}
		for _, e := range dg.Plane.Edges {
			setOnce(x.edges, e.ElementRef, e)
		}
	}
	return x
}

func setOnce[V any](m map[string]V, k string, v V) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// Process returns the process with the given id, or nil.
func (x *Index) Process(id string) *Process { return x.processes[id] }

// Element returns the flow node, artifact, data element or data association with the
// given id anywhere in the document, or nil.
func (x *Index) Element(id string) *Element { return x.elements[id] }

// Flow returns the sequence flow with the given id, or nil.
func (x *Index) Flow(id string) *SequenceFlow { return x.flows[id] }

// Container returns the container (process or subprocess content) that holds the
// element or sequence flow id, or nil.
func (x *Index) Container(id string) *Container { return x.container[id] }

// Parent returns the subprocess that holds the element or flow id, or nil when it lies
// directly in its process (or is unknown).
func (x *Index) Parent(id string) *Element { return x.owner[id] }

// ProcessOf returns the process that holds the element or flow id, at any depth.
func (x *Index) ProcessOf(id string) *Process { return x.process[id] }

// Boundaries returns the boundary events attached to the activity id, in document order.
func (x *Index) Boundaries(activityID string) []*Element { return x.boundaries[activityID] }

// Message returns the message with the given id, or nil.
func (x *Index) Message(id string) *Message { return x.messages[id] }

// MessageByName returns the first message with the given name, or nil.
func (x *Index) MessageByName(name string) *Message { return x.messageNames[name] }

// Error returns the error with the given id, or nil.
func (x *Index) Error(id string) *Error { return x.errors[id] }

// ErrorByCode returns the first error with the given code, or nil.
func (x *Index) ErrorByCode(code string) *Error { return x.errorCodes[code] }

// Participant returns the pool with the given id, or nil.
func (x *Index) Participant(id string) *Participant { return x.participants[id] }

// Shape returns the DI shape of the element, pool or lane id, or nil.
func (x *Index) Shape(elementID string) *Shape { return x.shapes[elementID] }

// Edge returns the DI edge of the flow, message flow or association id, or nil.
func (x *Index) Edge(elementID string) *Edge { return x.edges[elementID] }

// ShapeFor returns the DI shape of elementID in any diagram of d, or nil. It scans; build
// an Index for repeated lookups.
func (d *Definitions) ShapeFor(elementID string) *Shape {
	for _, dg := range d.Diagrams {
		for _, s := range dg.Plane.Shapes {
			if s.ElementRef == elementID {
				return s
			}
		}
	}
	return nil
}
