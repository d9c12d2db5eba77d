package web

import (
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
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Migration of instances to another version (pages.Migrate). As the modification page,
// the page is GET until the operator applies: the source version ("version"), the
// target ("target"), the selection (instance ids in "instance", or the instance list's
// filter parameters, held to the source version; neither: every running instance of the
// source) and an edited mapping ("map", one "from=to" per source element; absent: the
// mapping migration.propose proposes, equal ids where compatible) travel in the URL.
// The page asks the command service for a preview (migration.preview: the refusals
// grouped by reason, the effects on a sample) and draws the source's tokens now and
// where the mapping takes them on the target. Applying posts the same parameters with
// a reason: operation.create of kind instance.migrate resolves the selection then (the
// items are fixed at that confirmation) and the operation page shows the progress.

// migrateSample is how many migratable instances the preview shows in full;
// migrateExamples how many example instances a refusal reason links.
// migrateCheck is how many instances of the selection the page checks unless asked to
// check them all ("check=all": up to engine.MaxMigrationPreview): each check loads the
// instance, and the page answers at once.
const (
	migrateSample   = 3
	migrateExamples = 5
	migrateCheck    = 500
)

// migrateParams is a migration page request, read from the URL or the applying form.
type migrateParams struct {
	key string
	// service is the service whose versions migrate (an observing cockpit's read model
	// of several services; "" in an engine's own).
	service        string
	source, target *store.Definition
	versions       []*store.Definition
	// ids are explicit instances; filter the instance list's parameters (without
	// process and version, which the source gives); sel the command's selection.
	ids    []string
	filter url.Values
	sel    *command.InstanceSelection
	// mapping is the edited mapping (nil: the proposal's); edited says whether one was
	// given.
	mapping []engine.MigrationMapping
	edited  bool
	// checkAll: check every selected instance (up to engine.MaxMigrationPreview), not
	// the first migrateCheck.
	checkAll bool
}

// query is the URL query of the page for p (with the given mapping when edited).
func (p *migrateParams) query() url.Values {
	q := url.Values{}
	for k, vs := range p.filter {
		q[k] = slices.Clone(vs)
	}
	q.Set("version", strconv.Itoa(p.source.Version))
	if p.target != nil {
		q.Set("target", strconv.Itoa(p.target.Version))
	}
	for _, id := range p.ids {
		q.Add("instance", id)
	}
	if p.service != "" {
		q.Set("service", p.service)
	}
	if p.edited {
		for _, m := range p.mapping {
			q.Add("map", m.From+"="+m.To)
		}
	}
	if p.checkAll {
		q.Set("check", "all")
	}
	return q
}

func migrateHref(key string, q url.Values) string {
	return processURL(key) + "/migrate" + encodeQuery(q)
}

// readMigrateParams reads the page's parameters from q (the URL, or the posted form).
func (s *server) readMigrateParams(c echo.Context, q url.Values) (*migrateParams, error) {
	ctx := c.Request().Context()
	p := &migrateParams{key: c.Param("key"), filter: url.Values{}}
	versions, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: p.key})
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, notFound("No process %q is deployed.", p.key)
	}
	// A migration stays within one service: the page is the service parameter's (else
	// the first service's), its versions that service's.
	services := definitionServices(versions)
	p.service = q.Get("service")
	if ids := q["instance"]; p.service == "" && len(services) > 1 && len(ids) > 0 {
		// An instance's migration link names no service: its definition does.
		if d, err := s.eng.GetInstance(ctx, strings.TrimSpace(ids[0])); err == nil {
			for _, v := range versions {
				if v.ID == d.Instance.DefinitionID {
					p.service = v.Service
				}
			}
		}
	}
	if p.service == "" {
		p.service = services[0]
	} else if !slices.Contains(services, p.service) {
		return nil, notFound("Service %q deploys no process %q.", p.service, p.key)
	}
	versions = slices.DeleteFunc(versions, func(d *store.Definition) bool { return d.Service != p.service })
	p.versions = versions
	version := func(name string) (*store.Definition, error) {
		raw := q.Get(name)
		if raw == "" {
			return nil, nil
		}
		n, err := strconv.Atoi(raw)
		if err != nil {
			return nil, badRequest("Parameter %s %q is not a version number (1, 2, …).", name, raw)
		}
		for _, d := range versions {
			if d.Version == n {
				return d, nil
			}
		}
		return nil, notFound("Process %q has no version %d; its versions are 1 to %d.", p.key, n, versions[len(versions)-1].Version)
	}
	if p.source, err = version("version"); err != nil {
		return nil, err
	}
	if p.target, err = version("target"); err != nil {
		return nil, err
	}
	newest := versions[len(versions)-1]
	if p.source == nil {
		// The version before the newest is the usual one to move off.
		p.source = newest
		if len(versions) > 1 {
			p.source = versions[len(versions)-2]
		}
	}
	if p.target == nil {
		for i := len(versions) - 1; i >= 0; i-- {
			if versions[i].ID != p.source.ID {
				p.target = versions[i]
				break
			}
		}
	}
	if p.target != nil && p.target.ID == p.source.ID {
		return nil, badRequest("The target version is the source version (%d): pick another one.", p.source.Version)
	}
	if len(q["instance"]) > maxBulkSelect {
		return nil, badRequest("The selection lists %d instances; pick at most %d, or select them by a filter.", len(q["instance"]), maxBulkSelect)
	}
	for _, id := range q["instance"] {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(p.ids, id) {
			if len(id) > MaxParamBytes {
				return nil, badRequest("An instance id is longer than %d bytes.", MaxParamBytes)
			}
			p.ids = append(p.ids, id)
		}
	}
	for _, k := range instanceFilterKeys {
		if v := q.Get(k); v != "" && k != "process" && k != "version" && k != "service" {
			p.filter.Set(k, v)
		}
	}
	if len(p.ids) > 0 && len(p.filter) > 0 {
		return nil, badRequest("Select instances by id or by a filter, not both.")
	}
	if len(p.filter) > 0 {
		fq := url.Values{}
		for k, vs := range p.filter {
			fq[k] = vs
		}
		fq.Set("process", p.key)
		fq.Set("version", strconv.Itoa(p.source.Version))
		f, _, err := s.parseInstanceFilter(c, fq)
		if err != nil {
			return nil, err
		}
		p.sel = selectionOf(f)
		p.sel.DefinitionKey, p.sel.DefinitionID = "", p.source.ID
	}
	switch q.Get("check") {
	case "":
	case "all":
		p.checkAll = true
	default:
		return nil, badRequest("Parameter check %q: use all (check every selected instance, up to %d) or leave it out (the first %d).",
			q.Get("check"), engine.MaxMigrationPreview, migrateCheck)
	}
	if raw, ok := q["map"]; ok {
		p.edited = true
		if len(raw) > engine.MaxMigrationMappings {
			return nil, badRequest("The mapping has %d entries, more than the limit of %d.", len(raw), engine.MaxMigrationMappings)
		}
		seen := map[string]bool{}
		for _, pair := range raw {
			from, to, ok := strings.Cut(pair, "=")
			if !ok || from == "" {
				return nil, badRequest("Mapping %q: write source=target (an empty target leaves the element unmapped).", pair)
			}
			if seen[from] {
				return nil, badRequest("Mapping: the source element %q is mapped twice.", from)
			}
			seen[from] = true
			if to != "" {
				p.mapping = append(p.mapping, engine.MigrationMapping{From: from, To: to})
			}
		}
	}
	return p, nil
}

// selectionText describes p's selection for people.
func (p *migrateParams) selectionText() string {
	switch {
	case len(p.ids) > 0:
		return fmt.Sprintf("%d selected instance%s of version %d", len(p.ids), pluralS(len(p.ids)), p.source.Version)
	case len(p.filter) > 0:
		return fmt.Sprintf("the running instances of version %d where %s", p.source.Version, describeFilter(p.filter))
	}
	return fmt.Sprintf("every running instance of version %d", p.source.Version)
}

func (s *server) migratePage(c echo.Context) error {
	p, err := s.readMigrateParams(c, c.QueryParams())
	if err != nil {
		return err
	}
	return s.showMigrate(c, p, nil, http.StatusOK)
}

// applyMigrate creates the operation: the selection is resolved by the command service
// now, and those instances are its items.
func (s *server) applyMigrate(c echo.Context) error {
	cmds, err := s.commands()
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("The form could not be read: %v", err)
	}
	p, err := s.readMigrateParams(c, form)
	if err != nil {
		return err
	}
	if p.target == nil {
		return badRequest("Process %q has one version: there is nothing to migrate to.", p.key)
	}
	plan, err := s.migrationPlan(c.Request().Context(), cmds, c, p)
	if err != nil {
		return s.showMigrate(c, p, func(mp *pages.MigrateProps) { mp.FormError = commandMessage("The migration", err) }, commandStatus(err))
	}
	req := command.CreateOperationRequest{Meta: s.meta(c, reasonWeb), Kind: operation.KindMigrateInstances,
		Plan: plan, Instances: p.sel, Selection: p.selectionText()}
	if len(p.ids) > 0 {
		req.InstanceIDs, req.Max = p.ids, len(p.ids)
	}
	op, err := cmds.CreateOperation(c.Request().Context(), req)
	if err != nil {
		return s.showMigrate(c, p, func(mp *pages.MigrateProps) {
			mp.FormError = commandMessage("The migration", err)
			mp.Reason = c.FormValue("reason")
		}, commandStatus(err))
	}
	return c.Redirect(http.StatusSeeOther, "/operations/"+url.PathEscape(op.ID))
}

// migrationPlan is the plan of the page: the edited mapping, or the proposal's.
func (s *server) migrationPlan(ctx context.Context, cmds CommandClient, c echo.Context, p *migrateParams) (*engine.MigrationPlan, error) {
	if p.edited {
		return &engine.MigrationPlan{Source: p.source.ID, Target: p.target.ID, Mapping: p.mapping}, nil
	}
	prop, err := cmds.ProposeMigration(ctx, command.ProposeMigrationRequest{Meta: command.Meta{Actor: s.actor(c.Request())},
		SourceDefinitionID: p.source.ID, TargetDefinitionID: p.target.ID})
	if err != nil {
		return nil, err
	}
	return &prop.Plan, nil
}

// showMigrate draws the page: versions, both diagrams, the mapping, the preview and the
// apply form.
func (s *server) showMigrate(c echo.Context, p *migrateParams, edit func(*pages.MigrateProps), status int) error {
	ctx := c.Request().Context()
	mp := pages.MigrateProps{Key: p.key, Name: p.source.Name, Source: p.source.Version, Selection: p.selectionText(),
		ProcessHref: withService(processURL(p.key)+"?version="+strconv.Itoa(p.source.Version), p.service), Action: processURL(p.key) + "/migrate"}
	if mp.Name == "" {
		mp.Name = p.key
	}
	for k, vs := range p.filter {
		for _, v := range vs {
			mp.Fields = append(mp.Fields, pages.MigrateField{Name: k, Value: v})
		}
	}
	for _, id := range p.ids {
		mp.Fields = append(mp.Fields, pages.MigrateField{Name: "instance", Value: id})
	}
	if p.checkAll {
		mp.Fields = append(mp.Fields, pages.MigrateField{Name: "check", Value: "all"})
	}
	if p.service != "" {
		mp.Fields = append(mp.Fields, pages.MigrateField{Name: "service", Value: p.service})
	}
	slices.SortFunc(mp.Fields, func(a, b pages.MigrateField) int { return strings.Compare(a.Name+a.Value, b.Name+b.Value) })
	for i := len(p.versions) - 1; i >= 0; i-- {
		d := p.versions[i]
		if d.ID == p.source.ID {
			continue
		}
		q := p.query()
		q.Set("target", strconv.Itoa(d.Version))
		q.Del("map")
		mp.Targets = append(mp.Targets, pages.MigrateVersion{Version: d.Version, Href: migrateHref(p.key, q),
			Current: p.target != nil && d.ID == p.target.ID})
	}
	srcModel, err := s.eng.Model(ctx, p.source.ID)
	if err != nil {
		return err
	}
	srcNames := elementNames(srcModel)
	// The source's live tokens per element: the preview's, or counted here without one.
	var counts map[string]int
	drawSource := func() error {
		if counts == nil {
			var err error
			if counts, err = s.eng.CountTokens(ctx, p.source.ID); err != nil {
				return err
			}
		}
		ov := &diagram.Overlay{Active: map[string]int{}, Current: map[string]bool{}, Titles: map[string]string{}}
		for el, n := range counts {
			ov.Active[el], ov.Current[el] = n, true
			ov.Titles[el] = fmt.Sprintf("%d token%s of version %d", n, plural(n), p.source.Version)
		}
		mp.SourceDiagram = s.drawDiagram(ctx, p.source.ID, srcModel, p.source.Key, ov, []string{"active"})
		return nil
	}
	if p.target == nil {
		if err := drawSource(); err != nil {
			return err
		}
		mp.OneVersion = true
		if edit != nil {
			edit(&mp)
		}
		return s.render(c, status, page{Title: "Migrate " + mp.Name}, pages.Migrate(mp))
	}
	mp.Target = p.target.Version
	tgtModel, err := s.eng.Model(ctx, p.target.ID)
	if err != nil {
		return err
	}
	tgtNames := elementNames(tgtModel)
	var targets []pages.ElementOption
	for _, el := range flowNodes(tgtModel.Process(p.target.Key)) {
		targets = append(targets, pages.ElementOption{ID: el.ID, Label: optionLabel(tgtNames, el.ID)})
	}

	cmds, cerr := s.commands()
	var plan *engine.MigrationPlan
	var prop *command.MigrationProposal
	if cerr != nil {
		mp.PreviewError = "No preview: this cockpit runs without the command service."
	} else {
		prop, err = cmds.ProposeMigration(ctx, command.ProposeMigrationRequest{Meta: command.Meta{Actor: s.actor(c.Request())},
			SourceDefinitionID: p.source.ID, TargetDefinitionID: p.target.ID})
		if err != nil {
			mp.PreviewError = commandMessage("The proposal", err)
		} else {
			plan = &prop.Plan
			if p.edited {
				plan = &engine.MigrationPlan{Source: p.source.ID, Target: p.target.ID, Mapping: p.mapping}
			}
		}
	}
	mapped := map[string]string{}
	if plan != nil {
		for _, m := range plan.Mapping {
			mapped[m.From] = m.To
		}
	}
	if plan != nil {
		check := migrateCheck
		if p.checkAll {
			check = engine.MaxMigrationPreview
		}
		res, err := cmds.PreviewMigration(ctx, command.PreviewMigrationRequest{Meta: command.Meta{Actor: s.actor(c.Request())},
			Plan: *plan, InstanceIDs: p.ids, Instances: p.sel, Sample: migrateSample, Check: check})
		if err != nil {
			mp.PreviewError = commandMessage("The migration", err)
		} else {
			mp.Preview = migratePreview(res, srcNames, tgtNames)
			counts = make(map[string]int, len(res.Elements))
			for _, el := range res.Elements {
				counts[el.ElementID] = el.Tokens
			}
			if mp.Preview.Checked < mp.Preview.Total && !p.checkAll {
				q := p.query()
				q.Set("check", "all")
				mp.CheckAllHref = migrateHref(p.key, q)
			}
		}
	}
	if err := drawSource(); err != nil {
		return err
	}
	why := map[string]string{}
	if prop != nil {
		for _, u := range prop.Unmapped {
			why[u.ElementID] = u.Reason
		}
	}
	for _, el := range flowNodes(srcModel.Process(p.source.Key)) {
		row := pages.MigrateRow{From: el.ID, Label: optionLabel(srcNames, el.ID), Kind: string(el.Kind), Tokens: counts[el.ID],
			To: mapped[el.ID], Options: targets}
		if row.To == "" {
			row.Why = why[el.ID]
			if row.Why == "" && p.edited {
				row.Why = "left unmapped"
			}
		}
		mp.Rows = append(mp.Rows, row)
	}
	// The target's flow nodes that nothing maps to (under the mapping shown).
	into := map[string]bool{}
	for _, to := range mapped {
		into[to] = true
	}
	for _, o := range targets {
		if !into[o.ID] {
			mp.Added = append(mp.Added, o.Label)
		}
	}
	mp.Edited = p.edited
	if p.edited {
		q := p.query()
		q.Del("map")
		mp.ResetHref = migrateHref(p.key, q)
	}

	tgtOverlay := &diagram.Overlay{Active: map[string]int{}, Current: map[string]bool{}, Titles: map[string]string{}}
	for el, n := range counts {
		if to := mapped[el]; to != "" {
			tgtOverlay.Active[to] += n
			tgtOverlay.Current[to] = true
		}
	}
	for el, n := range tgtOverlay.Active {
		tgtOverlay.Titles[el] = fmt.Sprintf("%d token%s after the migration", n, plural(n))
	}
	mp.TargetDiagram = s.drawDiagram(ctx, p.target.ID, tgtModel, p.target.Key, tgtOverlay, []string{"active"})

	if edit != nil {
		edit(&mp)
	}
	return s.render(c, status, page{Title: "Migrate " + mp.Name}, pages.Migrate(mp))
}

// migratePreview lists what migration.preview found.
func migratePreview(res *command.MigrationPreview, src, tgt map[string]string) *pages.MigratePreview {
	p := &pages.MigratePreview{Total: res.Total, Checked: res.Checked, Migratable: res.Migratable, Refused: res.Refused}
	for _, r := range res.Reasons {
		reason := pages.MigrateReason{Code: r.Code, Message: r.Message, Instances: r.Instances, Examples: r.Examples}
		if len(reason.Examples) > migrateExamples {
			reason.Examples, reason.More = reason.Examples[:migrateExamples], true
		}
		if r.ElementID != "" {
			reason.Element = optionLabel(src, r.ElementID)
		}
		p.Reasons = append(p.Reasons, reason)
	}
	for _, smp := range res.Samples {
		if smp.Error != "" && len(res.Reasons) > 0 {
			continue // the reasons say it, with a count
		}
		ps := pages.MigrateSample{InstanceID: smp.InstanceID, Error: smp.Error}
		if r := smp.Result; r != nil {
			rows := func(label, testID string, rs []engine.MigratedRow) {
				var items []string
				for _, m := range rs {
					item := nameOrID(src, m.From)
					if m.To != m.From {
						item += " → " + nameOrID(tgt, m.To)
					}
					if m.Kind != "" && m.Kind != m.From && m.Kind != nameOrID(src, m.From) {
						item += " · " + m.Kind
					}
					items = append(items, item)
				}
				if len(items) > 0 {
					ps.Effects = append(ps.Effects, pages.ModifyEffect{Label: label, TestID: testID, Items: items})
				}
			}
			ids := func(label, testID string, els []string, names map[string]string) {
				var items []string
				for _, el := range els {
					items = append(items, nameOrID(names, el))
				}
				if len(items) > 0 {
					ps.Effects = append(ps.Effects, pages.ModifyEffect{Label: label, TestID: testID, Items: items})
				}
			}
			rows("Tokens", "tokens", r.Tokens)
			rows("Jobs", "jobs", r.Jobs)
			rows("Timers", "timers", r.Timers)
			rows("Subscriptions", "subscriptions", r.Subscriptions)
			rows("User tasks", "tasks", r.Tasks)
			rows("Incidents", "incidents", r.Incidents)
			ids("Boundary events armed", "boundaries-armed", r.BoundaryEventsArmed, tgt)
			ids("Boundary events disarmed", "boundaries-disarmed", r.BoundaryEventsDisarmed, src)
			ids("Event subprocess starts armed", "eventsubs-armed", r.EventSubStartsArmed, tgt)
			ids("Event subprocess starts disarmed", "eventsubs-disarmed", r.EventSubStartsDisarmed, src)
		}
		p.Samples = append(p.Samples, ps)
	}
	return p
}

// operationDetails describes an operation's parameters: a migration's versions and
// mapping, a modification's steps. Parameters that do not read are left out (the
// operation's kind and items still say what it does).
func (s *server) operationDetails(ctx context.Context, op *store.Operation) []pages.OperationDetail {
	switch op.Kind {
	case operation.KindMigrateInstances:
		var p operation.MigrateParams
		if json.Unmarshal(op.Params, &p) != nil {
			return nil
		}
		version := func(id string) string { return s.definitionLabel(ctx, id) }
		out := []pages.OperationDetail{{Label: "Migration", TestID: "operation-migration",
			Value: version(p.Plan.Source) + " → " + version(p.Plan.Target)}}
		var moves []string
		for _, m := range p.Plan.Mapping {
			if m.From != m.To {
				moves = append(moves, m.From+" → "+m.To)
			}
		}
		mapping := fmt.Sprintf("%d element%s mapped", len(p.Plan.Mapping), pluralS(len(p.Plan.Mapping)))
		if len(moves) > 0 {
			mapping += "; renamed: " + strings.Join(moves, ", ")
		}
		return append(out, pages.OperationDetail{Label: "Mapping", Value: mapping, TestID: "operation-mapping"})
	case operation.KindModifyInstances:
		var p operation.ModifyParams
		if json.Unmarshal(op.Params, &p) != nil {
			return nil
		}
		var names map[string]string
		if model, err := s.eng.Model(ctx, p.DefinitionID); err == nil {
			names = elementNames(model)
		}
		var steps []string
		for _, st := range p.Steps {
			steps = append(steps, stepText(st, names))
		}
		return []pages.OperationDetail{{Label: "Steps", Value: strings.Join(steps, "; "), TestID: "operation-steps"}}
	}
	return nil
}

// definitionLabel names a definition id for people: "version 3" (the id when it is not
// found).
func (s *server) definitionLabel(ctx context.Context, id string) string {
	model, err := s.eng.Model(ctx, id)
	if err != nil {
		return id
	}
	for _, p := range model.Processes {
		defs, err := s.eng.ListDefinitions(ctx, store.DefinitionFilter{Key: p.ID})
		if err != nil {
			return id
		}
		for _, d := range defs {
			if d.ID == id {
				return "version " + strconv.Itoa(d.Version)
			}
		}
	}
	return id
}
