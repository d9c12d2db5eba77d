package pages

import (
	"net/url"
	"strconv"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

func urlEscape(s string) string { return url.PathEscape(s) }

// instanceLabel names an instance in a breadcrumb: its business key, else its process.
func instanceLabel(in *store.Instance, name string) string {
	if in.BusinessKey != "" {
		return components.Clip(name, components.CellChars) + " " + components.Clip(in.BusinessKey, components.CellChars)
	}
	return name + " instance"
}

func lineCol(line, col int) string {
	switch {
	case line == 0:
		return "–"
	case col == 0:
		return strconv.Itoa(line)
	}
	return strconv.Itoa(line) + ":" + strconv.Itoa(col)
}

func mib(n int) string { return strconv.Itoa(n >> 20) }

func boolStr(b bool) string { return strconv.FormatBool(b) }

// running tells an instance that actions can still change.
func running(in *store.Instance) bool {
	return in.State == store.InstanceActive || in.State == store.InstanceSuspended
}

// showBulkRetry offers the list's bulk retry when its filter asks for instances with
// incidents, or the page shows some.
func showBulkRetry(p InstancesProps) bool {
	if p.Form.HasIncident == "true" {
		return true
	}
	if p.Form.HasIncident == "false" {
		return false
	}
	for _, in := range p.Instances {
		if in.IncidentCount > 0 {
			return true
		}
	}
	return false
}

// filterFields repeats the list's filter in the bulk retry form and the CSV link: every
// filter of the list, so the action covers the instances shown (internal/web's
// instanceFilterKeys reads them back).
func filterFields(f InstanceFilterForm) []components.Hidden {
	var out []components.Hidden
	for _, kv := range [][2]string{{"state", f.State}, {"service", f.Service}, {"process", f.Process}, {"version", f.Version}, {"businessKey", f.BusinessKey},
		{"var", f.VarName}, {"value", f.VarValue}, {"from", f.From}, {"to", f.To}, {"hasIncident", f.HasIncident}, {"waitingAt", f.WaitingAt},
		{"stalled", f.Stalled}, {"parent", f.Parent}} {
		if kv[1] != "" {
			out = append(out, components.Hidden{Name: kv[0], Value: kv[1]})
		}
	}
	return out
}
