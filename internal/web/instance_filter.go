package web

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// The instance page's element filter (app.js): a click on a diagram element shows only
// what concerns it. History rows, incidents, tasks, jobs and tokens carry their element
// id; a variable carries the elements it belongs to: a local one its scope's element, a
// process variable every element whose events set or renamed it (read from the history
// the page has loaded anyway, so the filter costs no query).

// markVariables gives the variable rows their elements and, while the instance runs,
// what their rename and delete forms need.
func markVariables(p *pages.InstanceProps, hist []*store.Event) {
	editable := p.Instance.State == store.InstanceActive || p.Instance.State == store.InstanceSuspended
	setBy := variablesSetBy(hist)
	for i := range p.Variables {
		v := &p.Variables[i]
		v.InstanceID, v.Editable = p.Instance.ID, editable
		v.Elements = strings.Join(setBy[v.Name], " ")
	}
	for _, sc := range p.Scopes {
		for i := range sc.Variables {
			v := &sc.Variables[i]
			v.InstanceID, v.Scope, v.Editable, v.Elements = p.Instance.ID, sc.TokenID, editable, sc.ElementID
		}
	}
}

// variablesSetBy maps each process variable's name to the elements (sorted) whose
// events set or renamed it.
func variablesSetBy(hist []*store.Event) map[string][]string {
	by := map[string]map[string]bool{}
	add := func(name, el string) {
		if by[name] == nil {
			by[name] = map[string]bool{}
		}
		by[name][el] = true
	}
	for _, ev := range hist {
		if ev.ElementID == "" || (ev.Type != event.VariablesChanged && ev.Type != event.VariablesRenamed) {
			continue
		}
		var data struct {
			Scope     string                     `json:"scope"`
			Variables map[string]json.RawMessage `json:"variables"`
			To        string                     `json:"to"`
		}
		if json.Unmarshal(ev.Data, &data) != nil || data.Scope != "" {
			continue
		}
		for name := range data.Variables {
			add(name, ev.ElementID)
		}
		if data.To != "" {
			add(data.To, ev.ElementID)
		}
	}
	out := make(map[string][]string, len(by))
	for name, els := range by {
		list := make([]string, 0, len(els))
		for el := range els {
			list = append(list, el)
		}
		sort.Strings(list)
		out[name] = list
	}
	return out
}
