package bpmn

// Builder methods for inclusive and event-based gateways, receive tasks, message
// boundary and throw events, and links.

// InclusiveGateway adds an inclusive gateway: as a fork it takes every branch whose
// Condition holds (and every Branch), the Default branch when none does; as a join (flows
// Connect to it) it waits for the tokens that can still arrive.
func (b *Builder) InclusiveGateway(id string, opts ...Option) *Builder {
	return b.add(KindInclusiveGateway, id, opts, nil)
}

// EventGateway adds an event-based gateway: open one Branch per event (TimerCatch,
// MessageCatch, ReceiveTask); the first that happens wins and the others are withdrawn.
func (b *Builder) EventGateway(id string, opts ...Option) *Builder {
	return b.add(KindEventBasedGateway, id, opts, nil)
}

// ReceiveTask adds a receive task waiting for the message named name whose correlation
// key equals the value of correlationKey on this instance.
func (b *Builder) ReceiveTask(id, name, correlationKey string, opts ...Option) *Builder {
	ref := b.st.messageID(name, correlationKey)
	return b.add(KindReceiveTask, id, opts, func(e *Element) {
		e.Extra.Attrs = append(e.Extra.Attrs, attr("messageRef", ref))
	})
}

// BoundaryMessage attaches a message boundary event (interrupting unless NonInterrupting
// is given) to the current activity, for the message named name whose correlation key
// equals the value of correlationKey; the builder continues from the event.
func (b *Builder) BoundaryMessage(id, name, correlationKey string, opts ...Option) *Builder {
	return b.boundary(id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventMessage, MessageRef: b.st.messageID(name, correlationKey)}
	})
}

// MessageThrow adds an intermediate message throw event sending the message named name
// as a job of jobType (the job's handler or worker sends it).
func (b *Builder) MessageThrow(id, name, jobType string, opts ...Option) *Builder {
	return b.add(KindIntermediateThrowEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventMessage, MessageRef: b.st.messageID(name, "")}
		e.Task.JobType = jobType
	})
}

// MessageEnd makes an end event send the message named name as a job of jobType before
// its token ends.
func MessageEnd(name, jobType string) Option {
	return func(t *optTarget) {
		onNode("MessageEnd", func(e *Element) {
			e.Event = &EventDefinition{ID: e.ID + "_def", Type: EventMessage, MessageRef: t.st.messageID(name, "")}
			e.Task.JobType = jobType
		}, KindEndEvent)(t)
	}
}

// LinkThrow adds a link throw event: the token jumps to the LinkCatch of the same name
// in the same scope. The path ends here.
func (b *Builder) LinkThrow(id, name string, opts ...Option) *Builder {
	return b.add(KindIntermediateThrowEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventLink, LinkName: name}
	})
}

// LinkCatch adds a link catch event, not connected from the current node: tokens reach
// it from the LinkThrow events of the same name. The builder continues from it.
func (b *Builder) LinkCatch(id, name string, opts ...Option) *Builder {
	b.cur, b.cond, b.flowName, b.isDefault = "", "", "", false
	return b.add(KindIntermediateCatchEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventLink, LinkName: name}
	})
}

// CompensationStart adds the compensation start event of an event subprocess inside an
// embedded subprocess: the event subprocess becomes the subprocess's compensation
// handler, run when the completed subprocess is compensated (a CompensationThrow inside
// it compensates what completed inside the subprocess).
func (b *Builder) CompensationStart(id string, opts ...Option) *Builder {
	return b.add(KindStartEvent, id, opts, func(e *Element) {
		e.Event = &EventDefinition{ID: id + "_def", Type: EventCompensate}
	})
}
