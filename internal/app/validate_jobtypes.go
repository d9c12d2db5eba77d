package app

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

// servedSet parses --job-types; nil when the flag is not given (nothing is known).
func servedSet(list string) map[string]bool {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	set := map[string]bool{}
	for _, t := range splitList(list) {
		set[t] = true
	}
	return set
}

// printJobTypes lists the job types of a process's service tasks and, when served is
// known (--job-types), warns about each task whose type is not served.
func printJobTypes(w io.Writer, defs *bpmn.Definitions, processID string, served map[string]bool) {
	proc := defs.Process(processID)
	if proc == nil {
		return
	}
	var types []string
	var unserved, java []bpmn.Finding
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, el := range c.Elements {
			if t := el.Task.JobType; t != "" && el.Kind.IsActivity() {
				if !slices.Contains(types, t) {
					types = append(types, t)
				}
				if attr, value, ok := bpmn.JobTypeOrigin(t); ok {
					java = append(java, bpmn.Finding{ElementID: el.ID, Kind: el.Kind, Line: el.Line, Col: el.Col,
						Message: fmt.Sprintf("%s %q runs as a job of type %q", attr, value, t)})
				}
				if served != nil && !served[t] {
					unserved = append(unserved, bpmn.Finding{ElementID: el.ID, Kind: el.Kind, Line: el.Line, Col: el.Col,
						Message: fmt.Sprintf("job type %q is not in --job-types: its jobs would wait", t)})
				}
			}
			if el.Children != nil {
				walk(el.Children)
			}
		}
	}
	walk(&proc.Container)
	if len(types) == 0 {
		return
	}
	slices.Sort(types)
	quoted := make([]string, len(types))
	for i, t := range types {
		quoted[i] = fmt.Sprintf("%q", t)
	}
	note := ""
	if served == nil {
		note = " (served? validate cannot know: pass --job-types)"
	}
	fmt.Fprintf(w, "    job types (%d): %s%s\n", len(types), strings.Join(quoted, ", "), note)
	printFindings(w, fmt.Sprintf("Java implementations (%d), Cockpit runs no Java: each is a job of the type shown, served by a handler or worker registered for it", len(java)), java)
	printFindings(w, fmt.Sprintf("warnings (%d)", len(unserved)), unserved)
}
