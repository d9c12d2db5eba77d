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

// DecisionRef is the decision a business rule task evaluates: camunda:decisionRef
// (Camunda 7) or zeebe:calledDecision decisionId (Camunda 8); "" for none.
func (e *Element) DecisionRef() string {
	if e.Kind != KindBusinessRuleTask {
		return ""
	}
	if v, ok := attrOf(e.Extra.Attrs, NSCamunda, "decisionRef"); ok && v != "" {
		return v
	}
	for _, n := range e.Extra.ExtensionElements {
		if n.Name.Space == NSZeebe && n.Name.Local == "calledDecision" {
			if v, ok := attrOf(n.Attrs, "", "decisionId"); ok {
				return v
			}
		}
	}
	return ""
}

// DecisionJobPrefix starts the job type of a business rule task that names a decision
// but no job type: the engine has no DMN evaluator, so the decision is a job of type
// "decision:" + the decision id, for a handler or worker that evaluates it.
const DecisionJobPrefix = "decision:"

// JobTypeOf is the job type an element runs as: its own, or for a business rule task that
// names only a decision, DecisionJobPrefix + the decision id.
func (e *Element) JobTypeOf() string {
	if e.Task.JobType == "" {
		if ref := e.DecisionRef(); ref != "" {
			return DecisionJobPrefix + ref
		}
	}
	return e.Task.JobType
}
