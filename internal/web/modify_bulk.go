package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/web/templates/components"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Bulk modification (pages.ModifyBulk, GET and POST /instances/modify): the steps of the
// single modification page (modify.go), by element, for a selection of running
// instances of one process version. The selection is the instance list's checked rows
// ("id" parameters, at most maxModifyIDs) or its filter (instanceFilterKeys) narrowed to
// one version: a filter that names none gets the only version with running instances
// that match, or asks which. Like the single page, the page is GET until the operator
// applies: selection, steps and the picked element travel in the URL (a move's source
// as "source": "from" is the list's started-from filter). With steps it asks
// the command service for operation.preview (how many items, and the steps run on a
// sample of them, rolled back). Applying posts the same selection and steps: that post
// resolves the selection to the instances running then, and those ids become the items
// of an instance.modify operation (package operation), whose page follows it live.

// Bulk modification bounds.
const (
	// maxModifyIDs bounds a selection by id: the list's checked rows, a page at most,
	// all carried in the page's URL (about 40 bytes each).
	maxModifyIDs = maxPage
	// maxModifySelect is the most instances one bulk modification from the web takes
	// (the ids the apply post resolves): the bulk actions' limit, maxBulkSelect.
	maxModifySelect = maxBulkSelect
)

// modifyBulkTitle is the page's title.
const modifyBulkTitle = "Modify instances"

// modifySelection is what the page modifies.
type modifySelection struct {
	// ids are the checked rows (nil: by filter).
	ids []string
	// filter is the list's filter parameters (with "version" once one is picked), f the
	// filter they make.
	filter url.Values
	f      store.InstanceFilter
}

// params are the selection as the page's parameters.
func (sel *modifySelection) params() url.Values {
	if sel.ids != nil {
		return url.Values{"id": slices.Clone(sel.ids)}
	}
	return cloneValues(sel.filter)
}

// fields are the selection and the steps as hidden form fields.
func (sel *modifySelection) fields(steps []string) []components.Hidden {
	var out []components.Hidden
	q := sel.params()
	for _, k := range append([]string{"id"}, instanceFilterKeys...) {
		for _, v := range q[k] {
			out = append(out, components.Hidden{Name: k, Value: v})
		}
	}
	for _, s := range steps {
		out = append(out, components.Hidden{Name: "step", Value: s})
	}
	return out
}

// listHref is the instance list that shows the selection (the filter's list; for ids,
// the list).
func (sel *modifySelection) listHref() string {
	if sel.ids != nil {
		return "/instances"
	}
	return "/instances" + encodeQuery(sel.filter)
}

// modifyBulkHref is the page with a selection, steps and the picked element.
func modifyBulkHref(sel url.Values, steps []string, picked string) string {
	q := cloneValues(sel)
	for _, s := range steps {
		q.Add("step", s)
	}
	if picked != "" {
		q.Set("element", picked)
	}
	return "/instances/modify" + encodeQuery(q)
}

// readModifySelection reads the selection of a request: "id" parameters, or else the
// list's filter, which must name a process (the steps name elements of one model).
func (s *server) readModifySelection(c echo.Context, q url.Values) (*modifySelection, error) {
	if n := len(q["id"]); n > maxModifyIDs {
		return nil, badRequest("The selection lists %d instances by id; a selection by id holds at most %d (a page of the list, maxModifyIDs). Filter the list and use “Modify all matching…” for more (up to %d).",
			n, maxModifyIDs, maxModifySelect)
	}
	ids, err := formIDs(q, "id", maxModifyIDs)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		return &modifySelection{ids: ids}, nil
	}
	sel := &modifySelection{filter: url.Values{}}
	for _, k := range instanceFilterKeys {
		if v := q.Get(k); v != "" {
			sel.filter.Set(k, v)
		}
	}
	if len(sel.filter) == 0 {
		return nil, badRequest("Choose the instances to modify: check rows of the instance list (“Modify selected…”), or filter the list to a process (“Modify all matching…”).")
	}
	if sel.f, _, err = s.parseInstanceFilter(c, sel.filter); err != nil {
		return nil, err
	}
	if sel.f.DefinitionKey == "" {
		return nil, badRequest("A bulk modification names the elements of one process version: filter the instance list to a process (parameter process) first.")
	}
	return sel, nil
}

func (s *server) modifyBulkPage(c echo.Context) error {
	q := c.QueryParams()
	steps, vals, err := parseModifySteps(q["step"])
	if err != nil {
		return badRequest("The steps could not be read: %v", err)
	}
	sel, err := s.readModifySelection(c, q)
	if err != nil {
		return err
	}
	if add := q.Get("add"); add != "" {
		st, err := newModifyStep(add, q.Get("element"), q.Get("source"), q.Get("vars"))
		if err == nil && len(steps) >= engine.MaxModifySteps {
			err = fmt.Errorf("A modification has at most %d steps", engine.MaxModifySteps)
		}
		if err != nil {
			return s.showModifyBulk(c, sel, steps, vals, q.Get("element"), func(p *pages.ModifyBulkProps) { p.Pick.AddError = err.Error() },
				http.StatusUnprocessableEntity)
		}
		b, _ := json.Marshal(st)
		return c.Redirect(http.StatusSeeOther, modifyBulkHref(sel.params(), append(vals, string(b)), ""))
	}
	return s.showModifyBulk(c, sel, steps, vals, q.Get("element"), nil, http.StatusOK)
}

// applyModifyBulk is POST /instances/modify: the selection resolved to the instances
// running now, which become the items of an instance.modify operation.
func (s *server) applyModifyBulk(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	steps, vals, err := parseModifySteps(form["step"])
	if err != nil {
		return badRequest("The steps could not be read: %v", err)
	}
	sel, err := s.readModifySelection(c, form)
	if err != nil {
		return err
	}
	back := modifyBulkHref(sel.params(), vals, "")
	if len(steps) == 0 {
		return redirectFlash(c, back, "Nothing to apply: add a step first.", true)
	}
	if sel.ids == nil && sel.f.DefinitionID == "" {
		return badRequest("Pick the process version to modify (parameter version): the steps name the elements of one model.")
	}
	ctx := c.Request().Context()
	var ids []string
	var selection string
	if sel.ids != nil {
		rs, err := s.readSelected(ctx, sel.ids)
		if err != nil {
			return err
		}
		ids = rs.running()
		selection = fmt.Sprintf("%d selected instance%s", len(ids), pluralS(len(ids)))
	} else {
		var matched int
		if ids, matched, err = s.runningInstances(c, sel.f); err != nil {
			return err
		}
		if matched > maxModifySelect {
			return s.showModifyBulk(c, sel, steps, vals, "", func(p *pages.ModifyBulkProps) {
				p.FormError = fmt.Sprintf("More than %d running instances match now: one bulk modification takes at most %d (maxBulkSelect). Nothing was changed; narrow the filter.",
					maxModifySelect, maxModifySelect)
				p.Reason = form.Get("reason")
			}, http.StatusUnprocessableEntity)
		}
		selection = "instances: " + describeFilter(sel.filter)
	}
	if len(ids) == 0 {
		return redirectFlash(c, back, "No selected instance is running any more; nothing to modify.", true)
	}
	op, err := cmds.CreateOperation(ctx, command.CreateOperationRequest{Meta: s.meta(c, reasonWeb),
		Kind: operation.KindModifyInstances, InstanceIDs: ids, Max: len(ids), Steps: steps,
		Selection: components.Clip(selection, 1000)})
	if err != nil {
		if commandStatus(err) == http.StatusServiceUnavailable {
			return actionFailed(c, back, "The bulk modification", err)
		}
		return s.showModifyBulk(c, sel, steps, vals, "", func(p *pages.ModifyBulkProps) {
			p.FormError = commandMessage("The bulk modification", err)
			p.Reason = form.Get("reason")
		}, commandStatus(err))
	}
	return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
}

// selectedRows are the rows of a selection by id, as they stand.
type selectedRows struct {
	rows []*store.Instance // the running ones, in the selection's order
	// gone counts the ids that are unknown or whose instance has ended.
	gone int
}

func (r selectedRows) running() []string {
	ids := make([]string, len(r.rows))
	for i, in := range r.rows {
		ids[i] = in.ID
	}
	return ids
}

// readSelected reads the rows of the ids (at most maxModifyIDs point reads).
func (s *server) readSelected(ctx context.Context, ids []string) (selectedRows, error) {
	var out selectedRows
	for _, id := range ids {
		in, err := s.eng.GetInstanceRow(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			out.gone++
			continue
		}
		if err != nil {
			return out, err
		}
		if in.State != store.InstanceActive && in.State != store.InstanceSuspended {
			out.gone++
			continue
		}
		out.rows = append(out.rows, in)
	}
	return out, nil
}

// definitionOf finds a definition by id among its process's versions.
func (s *server) definitionOf(ctx context.Context, key, id string) (*store.Definition, error) {
	defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: key})
	if err != nil {
		return nil, err
	}
	for _, d := range defs {
		if d.ID == id {
			return d, nil
		}
	}
	return nil, &pageError{Status: http.StatusNotFound, Title: "Process not found",
		Message: "No deployed version of " + strconv.Quote(key) + " has the id " + strconv.Quote(id) + "."}
}

// showModifyBulk draws the page: the selection and its version (or the versions to
// pick from), the diagram with the selection's tokens, the steps and, with steps, their
// preview and the apply form.
func (s *server) showModifyBulk(c echo.Context, sel *modifySelection, steps []engine.ModifyStep, vals []string, picked string,
	edit func(*pages.ModifyBulkProps), status int) error {
	ctx := c.Request().Context()
	p := pages.ModifyBulkProps{ListHref: sel.listHref(), Limit: maxModifySelect}
	var def *store.Definition
	// tokensOf are the instances whose tokens the diagram counts (whole: one grouped
	// count of the version's); previewed the running ids a selection by id previews.
	var tokensOf, previewed []string
	whole := false
	if sel.ids != nil {
		rs, err := s.readSelected(ctx, sel.ids)
		if err != nil {
			return err
		}
		p.Selection = fmt.Sprintf("%d selected instance%s", len(sel.ids), pluralS(len(sel.ids)))
		if rs.gone > 0 {
			p.Selection += fmt.Sprintf(" (%d no longer running or unknown: left out)", rs.gone)
		}
		// The version with the most selected instances (the newest on a tie) draws the
		// page; a selection of several is refused, each version's part offered on its own.
		byDef := map[string][]string{}
		version := map[string]int{}
		for _, in := range rs.rows {
			byDef[in.DefinitionID] = append(byDef[in.DefinitionID], in.ID)
			version[in.DefinitionID] = in.DefinitionVersion
		}
		defIDs := make([]string, 0, len(byDef))
		for id := range byDef {
			defIDs = append(defIDs, id)
		}
		slices.SortFunc(defIDs, func(a, b string) int {
			return cmp.Or(cmp.Compare(len(byDef[b]), len(byDef[a])), cmp.Compare(version[b], version[a]))
		})
		switch len(defIDs) {
		case 0:
			p.SelectionError = "None of the selected instances is running: nothing to modify."
		default:
			first := rs.rows[slices.IndexFunc(rs.rows, func(in *store.Instance) bool { return in.DefinitionID == defIDs[0] })]
			d, err := s.definitionOf(ctx, first.DefinitionKey, defIDs[0])
			if err != nil {
				return err
			}
			def, tokensOf, previewed = d, byDef[defIDs[0]], rs.running()
			if len(defIDs) > 1 {
				p.SelectionError = fmt.Sprintf("The selection holds running instances of %d process versions: a modification's steps name the elements of one model, so one bulk modification takes the instances of one version. The page shows version %d; modify each version's part on its own:",
					len(defIDs), def.Version)
				for _, id := range defIDs {
					part := url.Values{"id": byDef[id]}
					p.ByVersion = append(p.ByVersion, pages.VersionChoice{Version: version[id],
						Running: components.Bounded{N: len(byDef[id])}, Href: modifyBulkHref(part, vals, "")})
				}
			}
			p.Running = components.Bounded{N: len(rs.rows)}
		}
	} else {
		p.Selection = "Instances: " + describeFilter(sel.filter)
		if sel.f.DefinitionID == "" {
			// The filter names a process but no version: the only version with running
			// instances that match, the newest when none has, or the operator picks.
			defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: sel.f.DefinitionKey})
			if err != nil {
				return err
			}
			if len(defs) == 0 {
				return &pageError{Status: http.StatusNotFound, Title: "Process not found",
					Message: "No process " + strconv.Quote(sel.f.DefinitionKey) + " is deployed.", BackHref: "/instances", BackLabel: "Go to the instance list"}
			}
			slices.SortFunc(defs, func(a, b *store.Definition) int { return cmp.Compare(b.Version, a.Version) })
			var withRunning []*store.Definition
			counts := map[string]int{}
			for _, d := range defs {
				f := sel.f
				f.DefinitionID = d.ID
				n, err := s.countRunning(ctx, f, maxModifySelect+1)
				if err != nil {
					return err
				}
				if n > 0 {
					withRunning, counts[d.ID] = append(withRunning, d), n
				}
			}
			switch len(withRunning) {
			case 0:
				def = defs[0]
				p.VersionNote = fmt.Sprintf("The filter names no version, and no running instance of any version matches it: the page shows the newest, version %d.", def.Version)
			case 1:
				def = withRunning[0]
				p.VersionNote = fmt.Sprintf("The filter names no version: version %d is the only one with running instances that match.", def.Version)
			default:
				for _, d := range withRunning {
					q := cloneValues(sel.filter)
					q.Set("version", strconv.Itoa(d.Version))
					p.Versions = append(p.Versions, pages.VersionChoice{Version: d.Version,
						Running: components.Bounded{N: min(counts[d.ID], maxModifySelect), Capped: counts[d.ID] > maxModifySelect},
						Href:    modifyBulkHref(q, vals, "")})
				}
				p.DefinitionKey, p.DefinitionName = sel.f.DefinitionKey, sel.f.DefinitionKey
				if edit != nil {
					edit(&p)
				}
				return s.render(c, status, page{Title: modifyBulkTitle, Nav: layout.NavInstances}, pages.ModifyBulk(p))
			}
			sel.filter.Set("version", strconv.Itoa(def.Version))
			sel.f.DefinitionID = def.ID
			p.Selection = "Instances: " + describeFilter(sel.filter)
		} else {
			d, err := s.definitionOf(ctx, sel.f.DefinitionKey, sel.f.DefinitionID)
			if err != nil {
				return err
			}
			def = d
		}
		n, err := s.countRunning(ctx, sel.f, maxModifySelect+1)
		if err != nil {
			return err
		}
		p.Running = components.Bounded{N: min(n, maxModifySelect), Capped: n > maxModifySelect}
		switch {
		case n == 0:
			p.SelectionError = "No running instance matches the filter: nothing to modify."
		case n > maxModifySelect:
			p.SelectionError = fmt.Sprintf("More than %d running instances match: one bulk modification from the web takes at most %d (maxBulkSelect). Narrow the filter, for example to the instances waiting at an element or started in a time range.",
				maxModifySelect, maxModifySelect)
		}
		whole = wholeVersion(sel.filter)
		if !whole && n <= maxModifySelect {
			if tokensOf, _, err = s.runningInstances(c, sel.f); err != nil {
				return err
			}
		}
	}
	p.ListHref = sel.listHref()
	if def == nil {
		if edit != nil {
			edit(&p)
		}
		return s.render(c, status, page{Title: modifyBulkTitle, Nav: layout.NavInstances}, pages.ModifyBulk(p))
	}
	p.DefinitionKey, p.DefinitionName, p.Version = def.Key, def.Key, def.Version
	model, err := s.eng.Model(ctx, def.ID)
	if err != nil {
		return err
	}
	names := elementNames(model)

	// Where the selection's tokens stand: one grouped count for a whole version, else
	// the tokens of its (at most maxModifySelect) instances, a page of ids per query.
	var counts map[string]int
	if whole {
		if counts, err = s.eng.CountTokens(ctx, def.ID); err != nil {
			return err
		}
	} else if counts, err = s.countTokensOf(ctx, tokensOf); err != nil {
		return err
	}

	q := sel.params()
	p.Fields = sel.fields(vals)
	p.Pick = pages.ModifyPickProps{Action: "/instances/modify", Fields: p.Fields, Picked: picked, TokensWhere: "there in the selection",
		FromField: "source"}
	if proc := model.Process(def.Key); proc != nil {
		if proc.Name != "" {
			p.DefinitionName = proc.Name
		}
		kinds := map[string]bpmn.Kind{}
		for _, el := range flowNodes(proc) {
			kinds[el.ID] = el.Kind
			p.Pick.Elements = append(p.Pick.Elements, pages.ElementOption{ID: el.ID, Label: optionLabel(names, el.ID)})
		}
		if picked != "" {
			if _, ok := kinds[picked]; !ok {
				p.Pick.PickedError = strconv.Quote(picked) + " is not a flow node of this process (a sequence flow or another element): pick a task, event, gateway or subprocess."
			}
		}
	}
	for _, el := range sortedByLabel(counts, names) {
		if counts[el] > 0 {
			p.Pick.TokensAt = append(p.Pick.TokensAt, pages.ElementOption{ID: el, Label: optionLabel(names, el), Tokens: counts[el]})
		}
	}
	p.Pick.PickedName, p.Pick.PickedTokens = nameOrID(names, picked), counts[picked]
	for i, st := range steps {
		p.Steps = append(p.Steps, pages.ModifyStepRow{Text: stepText(st, names), Kind: string(st.Kind),
			RemoveHref: modifyBulkHref(q, slices.Delete(slices.Clone(vals), i, i+1), picked)})
	}
	overlay := &diagram.Overlay{Active: map[string]int{}, Current: map[string]bool{}, Titles: map[string]string{}, Selected: picked}
	for el, n := range counts {
		if n > 0 {
			overlay.Active[el], overlay.Current[el] = n, true
			overlay.Titles[el] = fmt.Sprintf("%d token%s in the selection", n, plural(n))
		}
	}
	p.Diagram = s.drawDiagram(ctx, def.ID, model, def.Key, overlay, []string{"active"})
	// A click on an element picks it, keeping the selection and the steps.
	p.Diagram.ElementHref = modifyBulkHref(q, vals, "") + "&element={id}"

	if len(steps) > 0 && p.Running.N > 0 {
		p.Preview, p.PreviewError = s.previewModifyBulk(c, sel, previewed, steps, names)
		if p.Preview != nil && p.Preview.Refused > 0 && sel.ids == nil && sel.filter.Get("waitingAt") == "" {
			// Some instances would refuse a step that takes tokens from an element: offer
			// the instances waiting there.
			from := steps[0].From
			if steps[0].Kind == engine.ModifyCancel {
				from = steps[0].ElementID
			}
			if from != "" {
				narrow := cloneValues(sel.filter)
				narrow.Set("waitingAt", from)
				p.NarrowHref = modifyBulkHref(narrow, vals, "")
				p.NarrowLabel = "Only the instances waiting at " + nameOrID(names, from) + "…"
			}
		}
	}
	if edit != nil {
		edit(&p)
	}
	return s.render(c, status, page{Title: modifyBulkTitle, Nav: layout.NavInstances}, pages.ModifyBulk(p))
}

// wholeVersion tells whether a filter selects every running instance of its version
// (process and version, at most a running state): its tokens are one grouped count.
func wholeVersion(filter url.Values) bool {
	for k := range filter {
		if k != "process" && k != "version" {
			return false
		}
	}
	return true
}

// countTokensOf counts the tokens of instances per element (multi-instance bodies left
// out, as on the single page), a page of instances per query.
func (s *server) countTokensOf(ctx context.Context, ids []string) (map[string]int, error) {
	counts := map[string]int{}
	for chunk := range slices.Chunk(ids, maxPage) {
		toks, err := s.eng.ListTokens(ctx, chunk)
		if err != nil {
			return nil, err
		}
		for _, t := range toks {
			if t.State != store.TokenMultiInstance {
				counts[t.ElementID]++
			}
		}
	}
	return counts, nil
}

// previewModifyBulk asks the command service for operation.preview of the selection
// (the running ids of a selection by id, else the filter): the items it would have and
// the steps run on a sample. A refusal is the message to show.
func (s *server) previewModifyBulk(c echo.Context, sel *modifySelection, running []string, steps []engine.ModifyStep,
	names map[string]string) (*pages.BulkPreview, string) {
	cmds, err := s.commands()
	if err != nil {
		return nil, "No preview: this cockpit runs without the command service."
	}
	req := command.CreateOperationRequest{Meta: command.Meta{Actor: s.actor(c.Request()), Reason: "preview " + reasonWeb},
		Kind: operation.KindModifyInstances, Max: maxModifySelect, Steps: steps}
	if sel.ids != nil {
		req.InstanceIDs = running
	} else {
		req.Instances = selectionOf(sel.f)
	}
	res, err := cmds.PreviewOperation(c.Request().Context(), command.PreviewOperationRequest{CreateOperationRequest: req,
		Sample: command.DefaultPreviewSample})
	if err != nil {
		return nil, commandMessage("The modification", err)
	}
	p := &pages.BulkPreview{Total: res.Total, Selection: res.Selection, DefinitionKey: res.DefinitionKey,
		DefinitionVersion: res.DefinitionVersion}
	for _, smp := range res.Samples {
		row := pages.BulkSample{InstanceID: smp.InstanceID, Code: smp.Code, Error: smp.Error}
		if smp.Result != nil && smp.Error == "" {
			row.Preview = previewProps(smp.Result, names)
		} else {
			p.Refused++
		}
		p.Samples = append(p.Samples, row)
	}
	return p, ""
}
