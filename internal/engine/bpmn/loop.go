package bpmn

import "encoding/xml"

// LoopSpec is what an activity's loop or multi-instance marker says: derived from the
// raw LoopCharacteristics on import (the standard BPMN children, Camunda 7's
// camunda:collection and camunda:elementVariable, Zeebe's zeebe:loopCharacteristics),
// set by the builder for models made in Go. Expressions are written as the modeler
// writes them ("${…}", "=…" or plain).
type LoopSpec struct {
	// Cardinality is how many instances a multi-instance activity runs (an expression
	// giving a number), unless Collection is set.
	Cardinality string
	// Collection is an expression giving an array: one instance per item, in order, the
	// item in ElementVariable (a variable local to its instance).
	Collection      string
	ElementVariable string
	// OutputCollection names an array variable that receives, per instance in the
	// collection's order, the value of OutputElement (an expression evaluated when the
	// instance completes); the body sets it in the scope around it when it completes.
	OutputCollection string
	OutputElement    string
	// CompletionCondition ends a multi-instance body early when it holds after an
	// instance completes (the instances still running are cancelled).
	CompletionCondition string
	// ZeebeCounter: loopCounter counts from 1, as in Zeebe (the collection came from
	// zeebe:loopCharacteristics); Camunda 7 counts from 0.
	ZeebeCounter bool

	// LoopCondition repeats a standard loop while it holds, checked before each run
	// (TestBefore) or after it; LoopMaximum bounds the runs ("" no bound of its own).
	LoopCondition string
	TestBefore    bool
	LoopMaximum   string
}

// deriveLoop reads a loop or multi-instance element.
func deriveLoop(n *Node) LoopSpec {
	var l LoopSpec
	if n == nil {
		return l
	}
	text := func(local string) string {
		for _, c := range n.Children {
			if c.Name.Space == NSModel && c.Name.Local == local {
				return trim(c.Text)
			}
		}
		return ""
	}
	switch n.Name.Local {
	case "standardLoopCharacteristics":
		l.LoopCondition = text("loopCondition")
		l.TestBefore = nodeAttr(n, "testBefore") == "true"
		l.LoopMaximum = trim(nodeAttr(n, "loopMaximum"))
		return l
	case "multiInstanceLoopCharacteristics":
	default:
		return l
	}
	l.Cardinality = text("loopCardinality")
	l.CompletionCondition = text("completionCondition")
	if v, ok := attrOf(n.Attrs, NSCamunda, "collection"); ok {
		l.Collection = trim(v)
	}
	if v, ok := attrOf(n.Attrs, NSCamunda, "elementVariable"); ok {
		l.ElementVariable = trim(v)
	}
	for _, c := range n.Children {
		if c.Name.Space != NSModel || c.Name.Local != "extensionElements" {
			continue
		}
		for _, z := range c.Children {
			if z.Name.Space != NSZeebe || z.Name.Local != "loopCharacteristics" {
				continue
			}
			if v := trim(nodeAttr(z, "inputCollection")); v != "" {
				l.Collection, l.ZeebeCounter = v, true
			}
			if v := trim(nodeAttr(z, "inputElement")); v != "" {
				l.ElementVariable, l.ZeebeCounter = v, true
			}
			l.OutputCollection = first(trim(nodeAttr(z, "outputCollection")), l.OutputCollection)
			l.OutputElement = first(trim(nodeAttr(z, "outputElement")), l.OutputElement)
		}
	}
	return l
}

// loopNode writes e's loop marker for a model built in Go (or whose LoopSpec was
// changed): the standard children, Camunda 7's collection attributes (or Zeebe's when
// the counter is Zeebe's), and the output collection as zeebe:loopCharacteristics.
func loopNode(e *Element) *Node {
	l := e.LoopSpec
	formal := func(local, text string) *Node { return leaf(local, text, xsiFormal) }
	if e.Loop == LoopStandard {
		b := newNode(NSModel, "standardLoopCharacteristics")
		if l.TestBefore {
			b.a("testBefore", "true")
		}
		b.a("loopMaximum", l.LoopMaximum)
		if l.LoopCondition != "" {
			b.kid(formal("loopCondition", l.LoopCondition))
		}
		return b.n
	}
	b := newNode(NSModel, "multiInstanceLoopCharacteristics")
	if e.Loop == LoopMultiSequence {
		b.a("isSequential", "true")
	}
	zeebe := &Node{Name: xml.Name{Space: NSZeebe, Local: "loopCharacteristics"}}
	za := func(local, v string) {
		if v != "" {
			zeebe.Attrs = append(zeebe.Attrs, attr(local, v))
		}
	}
	if l.ZeebeCounter {
		za("inputCollection", l.Collection)
		za("inputElement", l.ElementVariable)
	} else {
		for _, kv := range [][2]string{{"collection", l.Collection}, {"elementVariable", l.ElementVariable}} {
			if kv[1] != "" {
				b.n.Attrs = append(b.n.Attrs, xml.Attr{Name: xml.Name{Space: NSCamunda, Local: kv[0]}, Value: kv[1]})
			}
		}
	}
	za("outputCollection", l.OutputCollection)
	za("outputElement", l.OutputElement)
	if len(zeebe.Attrs) > 0 {
		b.kid(newNode(NSModel, "extensionElements").kid(zeebe).n)
	}
	if l.Cardinality != "" {
		b.kid(formal("loopCardinality", l.Cardinality))
	}
	if l.CompletionCondition != "" {
		b.kid(formal("completionCondition", l.CompletionCondition))
	}
	return b.n
}

// IsMultiInstance reports whether e runs as a multi-instance body.
func (e *Element) IsMultiInstance() bool {
	return e.Loop == LoopMultiParallel || e.Loop == LoopMultiSequence
}
