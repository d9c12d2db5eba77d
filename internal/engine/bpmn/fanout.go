package bpmn

// MaxFlowsPerElement bounds the sequence flows leaving, and those entering, one flow
// node. A parallel gateway with thousands of outgoing flows forks as many tokens in
// one command, and a join with thousands of incoming flows checks them all on every
// arrival: no real model needs more, and the engine's committer must not be held by
// one model. Check reports a larger fan-out or fan-in as a problem, so validate and
// deploy refuse it alike.
const MaxFlowsPerElement = 256

// fanOut reports the flow nodes of ct with more than MaxFlowsPerElement outgoing or
// incoming sequence flows (from and to: ct's flows by source and by target).
func (c *checker) fanOut(ct *Container, nodes map[string]*Element, from, to map[string][]*SequenceFlow) {
	for _, e := range ct.Elements {
		if nodes[e.ID] != e {
			continue
		}
		if n := len(from[e.ID]); n > MaxFlowsPerElement {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%d outgoing sequence flows, more than the limit of %d (MaxFlowsPerElement)", n, MaxFlowsPerElement)
		}
		if n := len(to[e.ID]); n > MaxFlowsPerElement {
			c.problem(e.ID, e.Kind, e.Line, e.Col, "%d incoming sequence flows, more than the limit of %d (MaxFlowsPerElement)", n, MaxFlowsPerElement)
		}
	}
}
