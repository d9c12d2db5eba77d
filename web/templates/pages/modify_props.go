package pages

import (
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// ModifyProps is the instance modification page: the diagram (where the tokens stand, or
// will stand after the steps), the steps so far, the element picked on the diagram with
// what can be done there, the preview of the steps and the form that applies them.
type ModifyProps struct {
	Instance       *store.Instance
	DefinitionName string
	Diagram        components.DiagramProps
	// Steps are the steps so far, in order; StepValues the same as posted (JSON each),
	// carried by the forms as hidden fields.
	Steps      []ModifyStepRow
	StepValues []string
	// Picked is the element picked on the diagram ("" none); PickedName its name,
	// PickedTokens how many tokens stand there now, PickedError why nothing can be done
	// with what was picked (a sequence flow, an unknown id).
	Picked       string
	PickedName   string
	PickedTokens int
	PickedError  string
	// TokensAt are the elements where tokens stand now (the sources of a move).
	TokensAt []ElementOption
	// Elements are the flow nodes, to pick one without the diagram.
	Elements []ElementOption
	// Preview is what the steps would do (nil without steps, or when refused: then
	// PreviewError says why).
	Preview      *ModifyPreview
	PreviewError string
	// AddError says why a step could not be added; FormError why applying failed.
	AddError  string
	FormError string
	Reason    string
}

// ModifyStepRow is one step as the page lists it.
type ModifyStepRow struct {
	Text       string
	Kind       string
	RemoveHref string
}

// ElementOption is a flow node in a list: its id, a label and how many tokens stand there.
type ElementOption struct {
	ID     string
	Label  string
	Tokens int
}

// ModifyPreview is the outcome of a preview.
type ModifyPreview struct {
	// Ends: the modification ends the instance, in State.
	Ends  bool
	State string
	// Tokens is how many tokens stand afterwards.
	Tokens  int
	Effects []ModifyEffect
}

// ModifyEffect is one kind of effect, with the elements it touches.
type ModifyEffect struct {
	Label  string
	TestID string
	Items  []string
}

// ModifyPickProps is the "Add a step" card of both modification pages.
type ModifyPickProps struct {
	// Action is the page the GET form goes to; Fields what it carries (the steps so
	// far, the bulk page's selection).
	Action string
	Fields []components.Hidden
	// Elements, Picked, PickedName, PickedError, AddError and TokensAt as in ModifyProps;
	// PickedTokens stand at Picked TokensWhere ("there now", "there in the selection").
	Elements     []ElementOption
	Picked       string
	PickedName   string
	PickedTokens int
	TokensWhere  string
	PickedError  string
	AddError     string
	TokensAt     []ElementOption
	// FromField names the move's source parameter ("from"; the bulk page's "source",
	// since "from" is a filter of the instance list there).
	FromField string
}

// modifyPick is the single page's pick card.
func modifyPick(p ModifyProps) ModifyPickProps {
	fields := make([]components.Hidden, 0, len(p.StepValues))
	for _, v := range p.StepValues {
		fields = append(fields, components.Hidden{Name: "step", Value: v})
	}
	return ModifyPickProps{Action: instanceHref(p.Instance.ID) + "/modify", Fields: fields, Elements: p.Elements,
		Picked: p.Picked, PickedName: p.PickedName, PickedTokens: p.PickedTokens, TokensWhere: "there now",
		PickedError: p.PickedError, AddError: p.AddError, TokensAt: p.TokensAt, FromField: "from"}
}
