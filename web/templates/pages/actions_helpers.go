package pages

import (
	"fmt"
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

func progressValue(j BulkProgress) int {
	if j.Done && j.Total == 0 {
		return 1 // nothing to do is all done
	}
	return j.Completed
}

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
	for _, kv := range [][2]string{{"state", f.State}, {"process", f.Process}, {"version", f.Version}, {"businessKey", f.BusinessKey},
		{"var", f.VarName}, {"value", f.VarValue}, {"from", f.From}, {"to", f.To}, {"hasIncident", f.HasIncident}, {"waitingAt", f.WaitingAt},
		{"stalled", f.Stalled}} {
		if kv[1] != "" {
			out = append(out, components.Hidden{Name: kv[0], Value: kv[1]})
		}
	}
	return out
}

// bulkSummary says what a finished bulk retry did, in one sentence or three.
func bulkSummary(j BulkProgress) string {
	s := fmt.Sprintf("%d of %d incident%s retried", j.Succeeded, j.Total, plural(j.Total))
	if j.Failed > 0 {
		s += fmt.Sprintf(", %d could not be retried", j.Failed)
	}
	s += "."
	if !j.Checked.IsZero() && j.Succeeded > 0 {
		switch {
		case j.StillFailing > 0:
			s += fmt.Sprintf(" %d of them failed again and %s still failing.", j.StillFailing, isAre(j.StillFailing))
		case j.Unchecked >= j.Succeeded:
			// Nothing was checked: saying none failed again would be a guess.
		case j.Unchecked > 0 && j.Settled:
			s += fmt.Sprintf(" None of the %d checked has failed again.", j.Succeeded-j.Unchecked)
		case j.Unchecked > 0:
			s += fmt.Sprintf(" None of the %d checked has failed again so far.", j.Succeeded-j.Unchecked)
		case j.Settled:
			s += " None of them has failed again."
		default:
			s += " None of them has failed again so far."
		}
		if j.Unchecked > 0 {
			s += fmt.Sprintf(" %d %s not checked: %s not among the open incidents read when the retry started.",
				j.Unchecked, wasWere(j.Unchecked), itThey(j.Unchecked))
		}
	}
	if j.Matched > j.Total {
		s += fmt.Sprintf(" %d more matched but were over the limit; run it again for those.", j.Matched-j.Total)
	}
	if j.Incomplete {
		s += " The service stopped before trying them all; the rest were not touched."
	}
	return s
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

func itThey(n int) string {
	if n == 1 {
		return "it was"
	}
	return "they were"
}
