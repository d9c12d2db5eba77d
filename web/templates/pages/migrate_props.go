package pages

import (
	"net/url"
	"strconv"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// MigrateProps is the migration page: a source version's instances (a selection of
// them), a target version, the mapping of elements (proposed, editable), the preview
// and the form that creates the migration operation. Everything but applying is a GET:
// the parameters travel in the URL.
type MigrateProps struct {
	Key  string
	Name string
	// Source and Target are the versions (Target 0: the process has one version,
	// OneVersion).
	Source, Target int
	OneVersion     bool
	// Targets are the versions to migrate to, newest first, each a link to the page
	// with it.
	Targets []MigrateVersion
	// Selection says which instances migrate; Fields are its parameters (ids or a
	// filter), carried by the forms.
	Selection string
	Fields    []MigrateField
	// Action is the URL the forms submit to; ProcessHref the source version's page.
	Action      string
	ProcessHref string
	// SourceDiagram shows the source's tokens now; TargetDiagram where the mapping
	// takes them.
	SourceDiagram components.DiagramProps
	TargetDiagram components.DiagramProps
	// Rows are the source's flow nodes with their targets; Added the target's flow
	// nodes nothing maps to. Edited: the mapping is the operator's, not the proposal
	// (ResetHref returns to the proposal).
	Rows      []MigrateRow
	Added     []string
	Edited    bool
	ResetHref string
	// Preview is what migration.preview found (nil when PreviewError says why not).
	Preview      *MigratePreview
	PreviewError string
	// CheckAllHref checks every selected instance ("" when all were checked).
	CheckAllHref string
	FormError    string
	Reason       string
}

// MigrateVersion is a version to migrate to.
type MigrateVersion struct {
	Version int
	Href    string
	Current bool
}

// MigrateField is a hidden form field.
type MigrateField struct {
	Name, Value string
}

// MigrateRow is one source element of the mapping: its target (To, "" none), the
// target's flow nodes to choose from, how many tokens stand at it, and why it has no
// target.
type MigrateRow struct {
	From    string
	Label   string
	Kind    string
	Tokens  int
	To      string
	Options []ElementOption
	Why     string
}

// Value is the mapping parameter that maps the row's element to target ("" unmapped).
func (r MigrateRow) Value(target string) string { return r.From + "=" + target }

// MigratePreview is the outcome of migration.preview: the selection's size, how many
// were checked, migratable and refused, the refusals by reason, and a sample in full.
type MigratePreview struct {
	Total, Checked, Migratable, Refused int
	Reasons                             []MigrateReason
	Samples                             []MigrateSample
}

// MigrateReason is one reason instances cannot migrate, with how many and examples.
type MigrateReason struct {
	Code      string
	Element   string
	Message   string
	Instances int
	Examples  []string
	// More: there are more examples than Examples.
	More bool
}

// MigrateSample is one previewed instance: the migration's effects, or its refusal.
type MigrateSample struct {
	InstanceID string
	Error      string
	Effects    []ModifyEffect
}

// migrateInstanceHref is the migration page for one instance (from its version to the
// newest other one).
func migrateInstanceHref(in *store.Instance) string {
	return processHref(in.DefinitionKey) + "/migrate?" + url.Values{
		"version": {strconv.Itoa(in.DefinitionVersion)}, "instance": {in.ID}}.Encode()
}
