package pages

import "github.com/cockpit-engine/cockpit/web/templates/components"

// ModifyBulkProps is the bulk modification page: one modification (element-level
// steps) for a selection of running instances of one process version, run by an
// operation with an item per instance. As on the single page, everything but applying
// is a GET: the selection (instance ids, or the instance list's filter) and the steps
// travel in the URL.
type ModifyBulkProps struct {
	// Selection says what is selected; ListHref is the instance list that shows it.
	Selection string
	ListHref  string
	// DefinitionKey, DefinitionName and Version are the process version the steps name
	// (Version 0 while one must be picked from Versions); VersionNote says why this one
	// when the filter named none.
	DefinitionKey  string
	DefinitionName string
	Version        int
	VersionNote    string
	Versions       []VersionChoice
	// Running is how many running instances the selection holds now, counted up to
	// Limit+1 (Capped: more than Limit, the most one bulk modification takes).
	Running components.Bounded
	Limit   int
	// SelectionError says why the selection cannot be modified as it is (several
	// versions, more than Limit, nothing running); the page then offers no apply form.
	SelectionError string
	// ByVersion splits a selection of several versions: each version's part, as a link.
	ByVersion []VersionChoice
	Diagram   components.DiagramProps
	Pick      ModifyPickProps
	Steps     []ModifyStepRow
	// Fields carry the selection and the steps to the apply form.
	Fields []components.Hidden
	// Preview is what the steps do on a sample of the selection (nil without steps, or
	// when refused: PreviewError says why).
	Preview      *BulkPreview
	PreviewError string
	// NarrowHref, when samples were refused, is the page for the part of the filter
	// the first step fits (the instances waiting where it takes tokens), NarrowLabel
	// its link text.
	NarrowHref  string
	NarrowLabel string
	FormError   string
	Reason      string
}

// CanApply tells whether the page offers the apply form: a preview, and a selection
// that can be modified.
func (p ModifyBulkProps) CanApply() bool { return p.Preview != nil && p.SelectionError == "" }

// VersionChoice is a version to pick (or a part of a selection), with its running
// instances and the page that modifies them.
type VersionChoice struct {
	Version int
	Running components.Bounded
	Href    string
}

// BulkPreview is operation.preview's answer: the operation's items and a sample of them.
type BulkPreview struct {
	Total             int
	Selection         string
	DefinitionKey     string
	DefinitionVersion int
	Samples           []BulkSample
	// Refused counts the samples the engine would refuse (their items would fail).
	Refused int
}

// BulkSample is one sampled instance: what the steps would do there, or why not.
type BulkSample struct {
	InstanceID string
	Preview    *ModifyPreview
	Code       string
	Error      string
}
