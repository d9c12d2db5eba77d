package bpmn

import (
	"encoding/xml"
	"regexp"
	"strings"
)

// Vendor extensions that configure execution. The model keeps them raw in Extra (so
// export writes them back as the modeler wrote them) and derives TaskDefinition,
// Message.CorrelationKey and CalledElement from them. Export writes the raw form when it
// still derives to the same values, and otherwise replaces it by the canonical form of
// synthesizeTask: models built in Go, or imported models whose TaskDefinition was changed.

// camundaTaskAttrs are the camunda: attributes deriveTask reads.
var camundaTaskAttrs = map[string]bool{
	"topic": true, "type": true, "class": true, "delegateExpression": true, "expression": true,
	"assignee": true, "candidateGroups": true, "candidateUsers": true, "formKey": true,
	"dueDate": true, "resultVariable": true,
}

// taskNodes are the extension elements deriveTask reads, by namespace.
var taskNodes = map[string]map[string]bool{
	NSCamunda: {"failedJobRetryTimeCycle": true, "inputOutput": true, "formData": true, "connector": true},
	NSZeebe: {"taskDefinition": true, "ioMapping": true, "assignmentDefinition": true,
		"formDefinition": true, "taskSchedule": true, "script": true},
}

func isTaskAttr(a xml.Attr) bool { return a.Name.Space == NSCamunda && camundaTaskAttrs[a.Name.Local] }

func isTaskNode(n *Node) bool { return taskNodes[n.Name.Space][n.Name.Local] }

func attrOf(attrs []xml.Attr, space, local string) (string, bool) {
	for _, a := range attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

func kids(n *Node, space, local string) []*Node {
	var out []*Node
	for _, c := range n.Children {
		if c.Name.Space == space && c.Name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

// deriveTask reads the execution settings from the Camunda 7 and Zeebe extensions kept
// in ex. Where both dialects set a value, Zeebe wins; for the job type, an external task
// topic wins over a Java class, delegate expression, expression, connector id and type.
func deriveTask(ex Extra) TaskDefinition {
	var t TaskDefinition
	ca := func(local string) string { v, _ := attrOf(ex.Attrs, NSCamunda, local); return v }
	jobType := first(ca("topic"), ca("class"), ca("delegateExpression"), ca("expression"))
	if typ := ca("type"); jobType == "" && typ != "external" {
		jobType = typ
	}
	t.Assignee, t.CandidateGroups, t.CandidateUsers = ca("assignee"), ca("candidateGroups"), ca("candidateUsers")
	t.FormKey, t.DueDate, t.ResultVariable = ca("formKey"), ca("dueDate"), ca("resultVariable")
	var zeebeType, zeebeRetries string
	for _, n := range ex.ExtensionElements {
		switch n.Name.Space {
		case NSCamunda:
			switch n.Name.Local {
			case "failedJobRetryTimeCycle":
				t.RetryBackoff = trim(n.Text)
			case "inputOutput":
				for _, c := range n.Children {
					if c.Name.Space != NSCamunda || len(c.Children) > 0 {
						continue // script or map/list values are not simple mappings
					}
					m := Mapping{Target: nodeAttr(c, "name"), Source: trim(c.Text)}
					switch c.Name.Local {
					case "inputParameter":
						t.Inputs = append(t.Inputs, m)
					case "outputParameter":
						t.Outputs = append(t.Outputs, m)
					}
				}
			case "formData":
				for _, f := range kids(n, NSCamunda, "formField") {
					t.FormFields = append(t.FormFields, FormField{ID: nodeAttr(f, "id"), Label: nodeAttr(f, "label"),
						Type: nodeAttr(f, "type"), DefaultValue: nodeAttr(f, "defaultValue")})
				}
			case "connector":
				if ids := kids(n, NSCamunda, "connectorId"); len(ids) > 0 && jobType == "" {
					jobType = trim(ids[0].Text)
				}
			}
		case NSZeebe:
			switch n.Name.Local {
			case "taskDefinition":
				zeebeType, zeebeRetries = nodeAttr(n, "type"), nodeAttr(n, "retries")
			case "ioMapping":
				for _, c := range n.Children {
					m := Mapping{Source: nodeAttr(c, "source"), Target: nodeAttr(c, "target")}
					if c.Name.Space != NSZeebe {
						continue
					}
					switch c.Name.Local {
					case "input":
						t.Inputs = append(t.Inputs, m)
					case "output":
						t.Outputs = append(t.Outputs, m)
					}
				}
			case "assignmentDefinition":
				t.Assignee = first(nodeAttr(n, "assignee"), t.Assignee)
				t.CandidateGroups = first(nodeAttr(n, "candidateGroups"), t.CandidateGroups)
				t.CandidateUsers = first(nodeAttr(n, "candidateUsers"), t.CandidateUsers)
			case "formDefinition":
				t.FormKey = first(nodeAttr(n, "formKey"), nodeAttr(n, "formId"), t.FormKey)
			case "taskSchedule":
				t.DueDate = first(nodeAttr(n, "dueDate"), t.DueDate)
			case "script":
				t.Script = nodeAttr(n, "expression")
				t.ResultVariable = first(nodeAttr(n, "resultVariable"), t.ResultVariable)
			}
		}
	}
	t.JobType = first(zeebeType, jobType)
	t.Retries = zeebeRetries
	return t
}

var retryPrefix = regexp.MustCompile(`^R(\d+)/`)

// normalizeTask completes a TaskDefinition the same way for imported and built models:
// a backoff cycle "R5/PT10S" without explicit retries means 5 retries.
func normalizeTask(t *TaskDefinition) {
	if t.Retries == "" {
		if m := retryPrefix.FindStringSubmatch(t.RetryBackoff); m != nil {
			t.Retries = m[1]
		}
	}
}

// synthesizeTask is the canonical export of a TaskDefinition: Zeebe extension elements
// where Zeebe has one, Camunda 7 for the rest (retry cycle, form fields, result variable
// of a standard script). The script of a script task is written as the standard <script>
// by the caller.
func synthesizeTask(kind Kind, t TaskDefinition) (attrs []xml.Attr, nodes []*Node) {
	zn := func(local string, a ...string) *Node {
		n := &Node{Name: xml.Name{Space: NSZeebe, Local: local}}
		for i := 0; i+1 < len(a); i += 2 {
			if a[i+1] != "" {
				n.Attrs = append(n.Attrs, xml.Attr{Name: xml.Name{Local: a[i]}, Value: a[i+1]})
			}
		}
		return n
	}
	if t.JobType != "" || t.Retries != "" {
		nodes = append(nodes, zn("taskDefinition", "type", t.JobType, "retries", t.Retries))
	}
	if t.RetryBackoff != "" {
		nodes = append(nodes, &Node{Name: xml.Name{Space: NSCamunda, Local: "failedJobRetryTimeCycle"}, Text: t.RetryBackoff})
	}
	if len(t.Inputs)+len(t.Outputs) > 0 {
		io := zn("ioMapping")
		for _, m := range t.Inputs {
			io.Children = append(io.Children, zn("input", "source", m.Source, "target", m.Target))
		}
		for _, m := range t.Outputs {
			io.Children = append(io.Children, zn("output", "source", m.Source, "target", m.Target))
		}
		nodes = append(nodes, io)
	}
	if t.Assignee != "" || t.CandidateGroups != "" || t.CandidateUsers != "" {
		nodes = append(nodes, zn("assignmentDefinition", "assignee", t.Assignee,
			"candidateGroups", t.CandidateGroups, "candidateUsers", t.CandidateUsers))
	}
	if t.FormKey != "" {
		nodes = append(nodes, zn("formDefinition", "formKey", t.FormKey))
	}
	if t.DueDate != "" {
		nodes = append(nodes, zn("taskSchedule", "dueDate", t.DueDate))
	}
	if len(t.FormFields) > 0 {
		fd := &Node{Name: xml.Name{Space: NSCamunda, Local: "formData"}}
		for _, f := range t.FormFields {
			ff := &Node{Name: xml.Name{Space: NSCamunda, Local: "formField"}}
			for _, kv := range [][2]string{{"id", f.ID}, {"label", f.Label}, {"type", f.Type}, {"defaultValue", f.DefaultValue}} {
				if kv[1] != "" {
					ff.Attrs = append(ff.Attrs, xml.Attr{Name: xml.Name{Local: kv[0]}, Value: kv[1]})
				}
			}
			fd.Children = append(fd.Children, ff)
		}
		nodes = append(nodes, fd)
	}
	if kind != KindScriptTask && t.Script != "" {
		nodes = append(nodes, zn("script", "expression", t.Script, "resultVariable", t.ResultVariable))
	} else if t.ResultVariable != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Space: NSCamunda, Local: "resultVariable"}, Value: t.ResultVariable})
	}
	return attrs, nodes
}

// correlationKey reads a message's correlation key: our cockpit:correlationKey attribute,
// else a zeebe:subscription correlationKey.
func correlationKey(ex Extra) string {
	if v, ok := attrOf(ex.Attrs, NSCockpit, "correlationKey"); ok {
		return v
	}
	for _, n := range ex.ExtensionElements {
		if n.Name.Space == NSZeebe && n.Name.Local == "subscription" {
			return nodeAttr(n, "correlationKey")
		}
	}
	return ""
}

func zeebeCalledElement(ex Extra) string {
	for _, n := range ex.ExtensionElements {
		if n.Name.Space == NSZeebe && n.Name.Local == "calledElement" {
			return nodeAttr(n, "processId")
		}
	}
	return ""
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func trim(s string) string { return strings.TrimSpace(s) }
