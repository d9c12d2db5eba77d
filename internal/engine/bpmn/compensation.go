package bpmn

// CompensationHandlers links the compensation boundary events of process p to their
// handlers: the activities marked isForCompensation that an association connects with
// the boundary event (in either direction, as tools draw it; the associations may sit in
// the process, its subprocesses or a collaboration). The result maps a boundary event's
// id to the handlers associated with it, in document order.
func CompensationHandlers(d *Definitions, p *Process) map[string][]*Element {
	els := map[string]*Element{}
	var assocs []*Element
	walk(&p.Container, func(c *Container, _ *Element) {
		for _, e := range c.Elements {
			if e.Kind == KindAssociation {
				assocs = append(assocs, e)
			} else if e.Kind.IsFlowNode() {
				els[e.ID] = e
			}
		}
	})
	if d != nil {
		for _, c := range d.Collaborations {
			for _, e := range c.Artifacts {
				if e.Kind == KindAssociation {
					assocs = append(assocs, e)
				}
			}
		}
	}
	var out map[string][]*Element
	for _, a := range assocs {
		for _, ends := range [2][2]string{{a.SourceRef, a.TargetRef}, {a.TargetRef, a.SourceRef}} {
			b, h := els[ends[0]], els[ends[1]]
			if b == nil || h == nil || !IsCompensationBoundary(b) || !h.Kind.IsActivity() || !h.ForCompensation {
				continue
			}
			if out == nil {
				out = map[string][]*Element{}
			}
			out[b.ID] = append(out[b.ID], h)
		}
	}
	return out
}

// IsCompensationBoundary reports whether e is a compensation boundary event.
func IsCompensationBoundary(e *Element) bool {
	return e.Kind == KindBoundaryEvent && e.Event != nil && e.Event.Type == EventCompensate && len(e.Multiple) == 0
}

// IsCompensationThrow reports whether e throws compensation: an intermediate throw event
// or an end event with a compensation event definition.
func IsCompensationThrow(e *Element) bool {
	return (e.Kind == KindIntermediateThrowEvent || e.Kind == KindEndEvent) && e.Event != nil &&
		e.Event.Type == EventCompensate && len(e.Multiple) == 0
}

// IsCompensationStart reports whether e is the compensation start event of an event
// subprocess: the event subprocess is then the compensation handler of the embedded
// subprocess around it.
func IsCompensationStart(e *Element) bool {
	return e.Kind == KindStartEvent && e.Event != nil && e.Event.Type == EventCompensate && len(e.Multiple) == 0
}

// compensationIndex fills the checker's compensation links for process p.
func (c *checker) compensationIndex(d *Definitions, p *Process) {
	c.compHandlers = CompensationHandlers(d, p)
	c.compBoundaries = map[string]int{}
	for _, hs := range c.compHandlers {
		for _, h := range hs {
			c.compBoundaries[h.ID]++
		}
	}
	c.owners, c.activities = map[string]*Element{}, map[string]bool{}
	c.compHosts, c.compEventSubs = map[string]bool{}, map[string]int{}
	walk(&p.Container, func(ct *Container, owner *Element) {
		for _, e := range ct.Elements {
			if e.Kind.IsFlowNode() {
				c.owners[e.ID] = owner
				c.activities[e.ID] = e.Kind.IsActivity()
			}
			if IsCompensationBoundary(e) {
				c.compHosts[e.AttachedTo] = true
			}
			if e.TriggeredByEvent && e.Children != nil && owner != nil {
				for _, st := range e.Children.Elements {
					if IsCompensationStart(st) {
						c.compEventSubs[owner.ID]++
					}
				}
			}
		}
	})
}

// compensation checks the compensation structure around e: a compensation boundary
// event has exactly one handler of its scope and no sequence flows out; a handler (an
// activity marked isForCompensation) belongs to exactly one such event and has no
// sequence flows; a throw event's activityRef names an activity of its scope or of a
// subprocess inside it.
func (c *checker) compensation(e *Element, owner *Element, from, to map[string][]*SequenceFlow) {
	problem := func(format string, args ...any) { c.problem(e.ID, e.Kind, e.Line, e.Col, format, args...) }
	if IsCompensationBoundary(e) {
		hs := c.compHandlers[e.ID]
		switch {
		case len(hs) == 0:
			problem("compensation boundary event is associated with no compensation handler (an activity marked isForCompensation)")
		case len(hs) > 1:
			problem("compensation boundary event is associated with %d compensation handlers, not one", len(hs))
		case c.owners[hs[0].ID] != owner:
			problem("compensation handler %q is not in the scope of the activity it compensates", hs[0].ID)
		}
		if len(from[e.ID]) > 0 {
			problem("compensation boundary event has outgoing sequence flows (its handler is associated with it, not connected)")
		}
	}
	if e.Kind.IsActivity() && e.ForCompensation {
		switch n := c.compBoundaries[e.ID]; {
		case n == 0:
			problem("compensation handler is associated with no compensation boundary event")
		case n > 1:
			problem("compensation handler is associated with %d compensation boundary events, not one", n)
		}
		if len(from[e.ID]) > 0 || len(to[e.ID]) > 0 {
			problem("compensation handler has sequence flows (it runs only when compensation is thrown)")
		}
	}
	if IsCompensationStart(e) && owner != nil {
		if sub := c.owners[owner.ID]; sub != nil {
			switch {
			case c.compEventSubs[sub.ID] > 1:
				problem("subprocess %q has %d event subprocesses with a compensation start event, not one", sub.ID, c.compEventSubs[sub.ID])
			case c.compHosts[sub.ID]:
				problem("subprocess %q has both a compensation boundary event and an event subprocess with a compensation start event: one handler compensates it", sub.ID)
			}
		}
	}
	if IsCompensationThrow(e) && e.Event.ActivityRef != "" {
		ref := e.Event.ActivityRef
		target, ok := c.owners[ref]
		if !ok || !c.activities[ref] {
			problem("activityRef %q names no activity of the process", ref)
			return
		}
		for o := target; ; o = c.owners[o.ID] {
			if o == owner {
				return
			}
			if o == nil {
				break
			}
		}
		problem("activityRef %q is not in the scope of the throw event or a subprocess inside it", ref)
	}
}
