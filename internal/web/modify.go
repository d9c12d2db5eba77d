package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/diagram"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/layout"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Instance modification (pages.Modify). The page is GET all the way until the operator
// applies: the steps travel in the URL, one JSON engine.ModifyStep per "step" parameter;
// "element" is the element picked on the diagram (app.js follows a click through the
// diagram's ElementHref); "add" with "element", "from" and "vars" appends a step and
// redirects to the URL with it, so a reload never adds it twice. With steps, the page
// asks the command service for a preview (instance.modify-preview: the engine runs the
// steps and rolls back) and draws its tokens on the diagram. Applying posts the same
// steps with a reason (instance.modify) and returns to the instance page.

// modifyTitle is the page's title.
const modifyTitle = "Modify instance"

func modifyHref(id string, steps []string, picked string) string {
	q := url.Values{}
	for _, s := range steps {
		q.Add("step", s)
	}
	if picked != "" {
		q.Set("element", picked)
	}
	h := instanceURL(id) + "/modify"
	if len(q) > 0 {
		h += "?" + q.Encode()
	}
	return h
}

// parseModifySteps reads the steps of a request (each a JSON object) and returns them
// with their canonical JSON.
func parseModifySteps(raw []string) ([]engine.ModifyStep, []string, error) {
	if len(raw) > engine.MaxModifySteps {
		return nil, nil, fmt.Errorf("%d steps, more than the limit of %d", len(raw), engine.MaxModifySteps)
	}
	steps := make([]engine.ModifyStep, 0, len(raw))
	vals := make([]string, 0, len(raw))
	for i, r := range raw {
		var st engine.ModifyStep
		dec := json.NewDecoder(strings.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			return nil, nil, fmt.Errorf("step %d is not a step: %v", i+1, err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			return nil, nil, fmt.Errorf("step %d: %v", i+1, err)
		}
		steps, vals = append(steps, st), append(vals, string(b))
	}
	return steps, vals, nil
}

// newModifyStep is the step the pick form adds.
func newModifyStep(kind, element, from, vars string) (engine.ModifyStep, error) {
	st := engine.ModifyStep{Kind: engine.ModifyKind(kind), ElementID: element}
	if element == "" {
		return st, fmt.Errorf("Pick an element first")
	}
	switch st.Kind {
	case engine.ModifyCancel:
		return st, nil
	case engine.ModifyMove:
		if from == "" {
			return st, fmt.Errorf("Choose the element whose tokens move")
		}
		st.From = from
	case engine.ModifyStartBefore, engine.ModifyStartAfter:
	default:
		return st, fmt.Errorf("Unknown step %q", kind)
	}
	v, err := parseVariablesJSON(vars)
	if err != nil {
		return st, err
	}
	st.Variables = v
	return st, nil
}

// stepText says what a step does, in words.
func stepText(st engine.ModifyStep, names map[string]string) string {
	name := func(id string) string {
		if n := names[id]; n != "" {
			return n + " (" + id + ")"
		}
		return id
	}
	var s string
	switch st.Kind {
	case engine.ModifyCancel:
		s = "Cancel the tokens at " + name(st.ElementID)
		if st.TokenID != "" {
			s = "Cancel token " + st.TokenID
		}
	case engine.ModifyStartBefore:
		s = "Start a token before " + name(st.ElementID)
	case engine.ModifyStartAfter:
		s = "Start a token after " + name(st.ElementID)
	case engine.ModifyMove:
		s = "Move the tokens at " + name(st.From) + " to " + name(st.ElementID)
	default:
		s = string(st.Kind) + " " + st.ElementID
	}
	if len(st.Variables) > 0 {
		keys := make([]string, 0, len(st.Variables))
		for k := range st.Variables {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		s += ", with " + strings.Join(keys, ", ")
	}
	return s
}

func (s *server) modifyPage(c echo.Context) error {
	q := c.QueryParams()
	steps, vals, err := parseModifySteps(q["step"])
	if err != nil {
		return badRequest("The steps could not be read: %v", err)
	}
	id := c.Param("id")
	if add := q.Get("add"); add != "" {
		st, err := newModifyStep(add, q.Get("element"), q.Get("from"), q.Get("vars"))
		if err == nil && len(steps) >= engine.MaxModifySteps {
			err = fmt.Errorf("A modification has at most %d steps", engine.MaxModifySteps)
		}
		if err != nil {
			return s.showModify(c, steps, vals, q.Get("element"), func(p *pages.ModifyProps) { p.AddError = err.Error() }, http.StatusUnprocessableEntity)
		}
		b, _ := json.Marshal(st)
		return c.Redirect(http.StatusSeeOther, modifyHref(id, append(vals, string(b)), ""))
	}
	return s.showModify(c, steps, vals, q.Get("element"), nil, http.StatusOK)
}

func (s *server) applyModify(c echo.Context) error {
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
	id := c.Param("id")
	if len(steps) == 0 {
		return redirectFlash(c, modifyHref(id, nil, ""), "Nothing to apply: add a step first.", true)
	}
	res, err := cmds.ModifyInstance(c.Request().Context(), command.ModifyInstanceRequest{
		Meta: s.meta(c, reasonWeb), InstanceID: id, Steps: steps})
	if err != nil {
		if commandStatus(err) == http.StatusNotFound {
			return actionFailed(c, instanceURL(id), "Modify instance", err)
		}
		return s.showModify(c, steps, vals, "", func(p *pages.ModifyProps) {
			p.FormError = commandMessage("The modification", err)
			p.Reason = c.FormValue("reason")
		}, commandStatus(err))
	}
	msg := fmt.Sprintf("Instance modified: %d token%s cancelled, %d started.", len(res.Cancelled), plural(len(res.Cancelled)),
		len(res.Started))
	if res.Ends {
		msg += " The instance has ended (" + res.State + ")."
	}
	return redirectFlash(c, instanceURL(id), msg, false)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// showModify draws the page: the instance as it stands, the picked element, and, with
// steps, their preview.
func (s *server) showModify(c echo.Context, steps []engine.ModifyStep, vals []string, picked string, edit func(*pages.ModifyProps), status int) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	d, err := s.eng.GetInstance(ctx, id)
	if err != nil {
		return s.instanceLoadError(id, err)
	}
	in := d.Instance
	if in.State != store.InstanceActive {
		return redirectFlash(c, instanceURL(id), "Only an active instance can be modified (this one is "+in.State+").", true)
	}
	model, err := s.eng.Model(ctx, in.DefinitionID)
	if err != nil {
		return err
	}
	names := elementNames(model)
	p := pages.ModifyProps{Instance: in, DefinitionName: in.DefinitionKey, StepValues: vals, Picked: picked}
	if proc := model.Process(in.DefinitionKey); proc != nil {
		if proc.Name != "" {
			p.DefinitionName = proc.Name
		}
		kinds := map[string]bpmn.Kind{}
		for _, el := range flowNodes(proc) {
			kinds[el.ID] = el.Kind
			p.Elements = append(p.Elements, pages.ElementOption{ID: el.ID, Label: optionLabel(names, el.ID)})
		}
		if picked != "" {
			if _, ok := kinds[picked]; !ok {
				p.PickedError = strconv.Quote(picked) + " is not a flow node of this process (a sequence flow or another element): pick a task, event, gateway or subprocess."
			}
		}
	}
	now := map[string]int{}
	for _, t := range d.Tokens {
		if t.State != store.TokenMultiInstance {
			now[t.ElementID]++
		}
	}
	for _, el := range sortedByLabel(now, names) {
		p.TokensAt = append(p.TokensAt, pages.ElementOption{ID: el, Label: optionLabel(names, el), Tokens: now[el]})
	}
	p.PickedName, p.PickedTokens = nameOrID(names, picked), now[picked]
	for i, st := range steps {
		p.Steps = append(p.Steps, pages.ModifyStepRow{Text: stepText(st, names), Kind: string(st.Kind),
			RemoveHref: modifyHref(id, slices.Delete(slices.Clone(vals), i, i+1), picked)})
	}

	overlay := &diagram.Overlay{Active: map[string]int{}, Current: map[string]bool{}, Visited: map[string]bool{},
		Titles: map[string]string{}, Selected: picked}
	legend := []string{"active"}
	after := now
	if len(steps) > 0 {
		res, perr := s.previewModify(ctx, c, id, steps)
		if perr != nil {
			p.PreviewError = perr.Error()
		} else {
			p.Preview = previewProps(res, names)
			after = map[string]int{}
			for _, t := range res.Tokens {
				if t.State != store.TokenMultiInstance {
					after[t.ElementID]++
				}
			}
			for _, t := range res.Cancelled {
				if after[t.ElementID] == 0 {
					overlay.Visited[t.ElementID] = true
				}
			}
			legend = append(legend, "visited")
		}
	}
	for el, n := range after {
		overlay.Active[el], overlay.Current[el] = n, true
		overlay.Titles[el] = fmt.Sprintf("%d token%s (now %d)", n, plural(n), now[el])
	}
	for el, n := range now {
		if after[el] == 0 && len(steps) > 0 && p.Preview != nil {
			overlay.Titles[el] = fmt.Sprintf("no token (now %d)", n)
		}
	}
	p.Diagram = s.drawDiagram(ctx, in.DefinitionID, model, in.DefinitionKey, overlay, legend)
	// A click on an element picks it, keeping the steps.
	p.Diagram.ElementHref = modifyHref(id, vals, "") + sep(len(vals)) + "element={id}"
	if edit != nil {
		edit(&p)
	}
	return s.render(c, status, page{Title: modifyTitle, Nav: layout.NavInstances}, pages.Modify(p))
}

func sep(params int) string {
	if params == 0 {
		return "?"
	}
	return "&"
}

// previewModify asks the command service what the steps would do. A refusal is the
// error to show; with no command service the page says so.
func (s *server) previewModify(ctx context.Context, c echo.Context, id string, steps []engine.ModifyStep) (*command.ModifyInstanceResult, error) {
	cmds, err := s.commands()
	if err != nil {
		return nil, fmt.Errorf("no preview: this cockpit runs without the command service")
	}
	res, err := cmds.PreviewModify(ctx, command.ModifyInstanceRequest{
		Meta: command.Meta{Actor: s.actor(c.Request()), Reason: "preview " + reasonWeb}, InstanceID: id, Steps: steps})
	if err != nil {
		return nil, fmt.Errorf("%s", commandMessage("The modification", err))
	}
	return res, nil
}

// previewProps lists a preview's effects, each kind with the elements it touches.
func previewProps(res *command.ModifyInstanceResult, names map[string]string) *pages.ModifyPreview {
	p := &pages.ModifyPreview{Ends: res.Ends, State: res.State}
	for _, t := range res.Tokens {
		if t.State != store.TokenMultiInstance {
			p.Tokens++
		}
	}
	tokens := func(ts []engine.ModifyToken) []string {
		var out []string
		for _, t := range ts {
			out = append(out, nameOrID(names, t.ElementID))
		}
		return out
	}
	rows := func(rs []engine.ModifyRow) []string {
		var out []string
		for _, r := range rs {
			item := nameOrID(names, r.ElementID)
			if r.Kind != "" && r.Kind != r.ElementID && r.Kind != item {
				item += " · " + r.Kind
			}
			out = append(out, item)
		}
		return out
	}
	ids := func(els []string) []string {
		var out []string
		for _, el := range els {
			out = append(out, nameOrID(names, el))
		}
		return out
	}
	add := func(label, testID string, items []string) {
		if len(items) > 0 {
			p.Effects = append(p.Effects, pages.ModifyEffect{Label: label, TestID: testID, Items: items})
		}
	}
	add("Tokens cancelled", "tokens-cancelled", tokens(res.Cancelled))
	add("Tokens started", "tokens-started", tokens(res.Started))
	add("Jobs cancelled", "jobs-cancelled", rows(res.JobsCancelled))
	add("Jobs created", "jobs-created", rows(res.JobsCreated))
	add("Timers cancelled", "timers-cancelled", rows(res.TimersCancelled))
	add("Timers scheduled", "timers-scheduled", rows(res.TimersScheduled))
	add("Boundary events disarmed", "boundaries-disarmed", ids(res.BoundaryEventsDisarmed))
	add("Boundary events armed", "boundaries-armed", ids(res.BoundaryEventsArmed))
	add("Subscriptions closed", "subscriptions-closed", rows(res.SubscriptionsClosed))
	add("Subscriptions opened", "subscriptions-opened", rows(res.SubscriptionsOpened))
	add("User tasks cancelled", "tasks-cancelled", rows(res.TasksCancelled))
	add("User tasks created", "tasks-created", rows(res.TasksCreated))
	add("Incidents resolved", "incidents-resolved", rows(res.IncidentsResolved))
	add("Incidents opened", "incidents-opened", rows(res.IncidentsOpened))
	if res.CalledInstancesEnded > 0 {
		add("Called instances ended", "called-ended", []string{strconv.Itoa(res.CalledInstancesEnded)})
	}
	if res.CalledInstancesStarted > 0 {
		add("Called instances started", "called-started", []string{strconv.Itoa(res.CalledInstancesStarted)})
	}
	return p
}

func nameOrID(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func optionLabel(names map[string]string, id string) string {
	if n := names[id]; n != "" && n != id {
		return n + " (" + id + ")"
	}
	return id
}

// sortedByLabel returns the keys of m ordered by their labels.
func sortedByLabel(m map[string]int, names map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return bytes.Compare([]byte(optionLabel(names, a)), []byte(optionLabel(names, b)))
	})
	return keys
}
