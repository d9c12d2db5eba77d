package pages

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

func instanceHref(id string) string { return "/instances/" + url.PathEscape(id) }
func processHref(key string) string { return "/processes/" + url.PathEscape(key) }

// serviceProcessHref is a process's page in one service's definitions ("": the
// engine's own).
func serviceProcessHref(service, key string) string {
	if service == "" {
		return processHref(key)
	}
	return processHref(key) + "?service=" + url.QueryEscape(service)
}

// serviceVersionHref is one version's page in one service's definitions.
func serviceVersionHref(service, key string, v int) string {
	if service == "" {
		return processVersionHref(key, v)
	}
	return processVersionHref(key, v) + "&service=" + url.QueryEscape(service)
}

func processVersionHref(key string, v int) string {
	return processHref(key) + "?version=" + strconv.Itoa(v)
}
func taskHref(id string) string { return "/tasks/" + url.PathEscape(id) }

// instancesHref builds an instance list link from filter pairs.
func instancesHref(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return "/instances"
	}
	return "/instances?" + q.Encode()
}

func itoa(n int) string { return strconv.Itoa(n) }

// nameOr is the element's name, or its id when it has none.
func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func duration(in *store.Instance, now time.Time) string {
	end := now
	if in.EndedAt != nil {
		end = *in.EndedAt
	}
	return components.Duration(end.Sub(in.StartedAt))
}

func processLabel(key string, version int) string { return key + " v" + strconv.Itoa(version) }

func runeCount(s string) int { return utf8.RuneCountInString(s) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func selected(cur, v string) bool { return cur == v }

// stateOptions are the instance state choices; several states are comma-separated.
var stateOptions = []struct{ Value, Label string }{
	{"", "Any state"},
	{"active,suspended", "Running (active or suspended)"},
	{"active", "Active"},
	{"suspended", "Suspended"},
	{"completed,cancelled", "Ended (completed or cancelled)"},
	{"completed", "Completed"},
	{"cancelled", "Cancelled"},
}

func retriesLabel(j *store.Job) string {
	if j.Kind != store.JobService {
		return "–"
	}
	return strconv.Itoa(j.Retries)
}

func inputType(t string) string {
	switch t {
	case "long", "integer", "double", "number":
		return "number"
	case "date":
		return "date"
	}
	return "text"
}

func stepFor(t string) string {
	if t == "double" || t == "number" {
		return "any"
	}
	return "1"
}

// calledCount is the count of the called instances listed: "50+" when there are more.
func calledCount(n int, more bool) string {
	if more {
		return strconv.Itoa(n) + "+"
	}
	return strconv.Itoa(n)
}

// variableCount is how many variables an instance page lists, in every scope.
func variableCount(p InstanceProps) int {
	n := len(p.Variables)
	for _, sc := range p.Scopes {
		n += len(sc.Variables)
	}
	return n
}

// ElementKey keys an element of a process in DashboardProps.ElementNames.
func ElementKey(processKey, elementID string) string { return processKey + "\x00" + elementID }

// incidentElement is the name of an incident's element, else its id.
func incidentElement(names map[string]string, in *store.Incident) string {
	if n := names[ElementKey(in.DefinitionKey, in.ElementID)]; n != "" {
		return n
	}
	return in.ElementID
}

// servicesWith is the service filter's choices: the named services, and the one the
// filter names even when no definition names it (a link from elsewhere). The engine's
// own definitions (service "") are not a choice: "" is "any service".
func servicesWith(services []string, cur string) []string {
	var out []string
	for _, s := range services {
		if s != "" {
			out = append(out, s)
		}
	}
	if cur != "" && !slices.Contains(out, cur) {
		out = append(out, cur)
	}
	return out
}

// urlQuery escapes a query parameter's value.
func urlQuery(s string) string { return url.QueryEscape(s) }

// serviceParam is "&service=S" for a definition of service S, "" for an engine's own.
func serviceParam(service string) string {
	if service == "" {
		return ""
	}
	return "&service=" + url.QueryEscape(service)
}
