package bpmn

// ReceiveMessageRef is the messageRef of a receive task ("" for other elements or none).
func (e *Element) ReceiveMessageRef() string {
	if e.Kind != KindReceiveTask {
		return ""
	}
	v, _ := attrOf(e.Extra.Attrs, "", "messageRef")
	return v
}

// ThrowJobType is the job type of a message throw or end event: set on the event the way
// Zeebe writes it (zeebe:taskDefinition) or on its message event definition the way
// Camunda 7 writes an external task (camunda:type="external" camunda:topic="…").
func (e *Element) ThrowJobType() string {
	if e.Task.JobType != "" {
		return e.Task.JobType
	}
	if e.Event != nil {
		return deriveTask(e.Event.Extra, false).JobType
	}
	return ""
}

// IsMessageThrow reports whether e is a message intermediate throw or message end event
// (the engine runs these as jobs, like a send task).
func (e *Element) IsMessageThrow() bool {
	return (e.Kind == KindIntermediateThrowEvent || e.Kind == KindEndEvent) &&
		e.Event != nil && e.Event.Type == EventMessage
}
