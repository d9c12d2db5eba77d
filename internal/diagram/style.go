package diagram

// DefaultCSS is the style Render puts inside the SVG (unless Options.NoStyle). Pages
// restyle a diagram by setting these custom properties on it or an ancestor, e.g. for a
// dark theme:
//
//	.dark .bpmn-diagram { --bpmn-stroke:#d4d4d8; --bpmn-fill:#18181b; --bpmn-text:#e4e4e7 }
//
// Properties: --bpmn-font, --bpmn-stroke (shapes and flows), --bpmn-fill (shape
// interiors), --bpmn-text, --bpmn-pool-fill, --bpmn-flow (flow lines; default
// --bpmn-stroke), --bpmn-shade (non-initiating message envelopes), and for the overlay
// --bpmn-active, --bpmn-incident, --bpmn-completed, --bpmn-current, --bpmn-visited,
// --bpmn-selected, --bpmn-stalled, --bpmn-compensated, --bpmn-badge-text. Names are wrapped on the server
// with Arial's metrics: a --bpmn-font of other widths makes lines longer or shorter than
// their shapes.
const DefaultCSS = `
.bpmn-diagram{font-family:var(--bpmn-font,Arial,Helvetica,"Liberation Sans",sans-serif)}
.bpmn-diagram text{fill:var(--bpmn-text,#22242a);font-size:12px;stroke:none}
.bpmn-diagram text.label{font-size:11px}
.bpmn-diagram .body{fill:var(--bpmn-fill,#fff);stroke:var(--bpmn-stroke,#22242a);stroke-width:1.5}
.bpmn-diagram .inner,.bpmn-diagram .ring,.bpmn-diagram .band,.bpmn-diagram .bracket{fill:none;stroke:var(--bpmn-stroke,#22242a);stroke-width:1.5}
.bpmn-diagram .ring{stroke-width:1.2}
.bpmn-diagram .event-intermediate>.body{stroke-width:1.2}
.bpmn-diagram .event-end>.body{stroke-width:3.6}
.bpmn-diagram .non-interrupting>.body,.bpmn-diagram .non-interrupting>.ring{stroke-dasharray:5.5 3}
.bpmn-diagram .bpmn-callActivity>.body{stroke-width:3.6}
.bpmn-diagram .event-subprocess>.body{stroke-dasharray:1.5 3}
.bpmn-diagram .trigger>.body{stroke-width:1}
.bpmn-diagram .trigger.non-interrupting>.body{stroke-dasharray:3 2}
.bpmn-diagram .bpmn-participant>.body{fill:var(--bpmn-pool-fill,var(--bpmn-fill,#fff))}
.bpmn-diagram .bpmn-lane>.body{fill:none;stroke-width:1}
.bpmn-diagram .bpmn-group>.body{fill:none;stroke-width:1.5;stroke-dasharray:9 4 1.5 4}
.bpmn-diagram .bpmn-unknown>.body{stroke-dasharray:4 3;opacity:.6}
.bpmn-diagram .fold{fill:none;stroke:var(--bpmn-stroke,#22242a);stroke-width:1.2}
.bpmn-diagram .hit{fill:transparent;stroke:none}
.bpmn-diagram .icon{fill:var(--bpmn-fill,#fff);stroke:var(--bpmn-stroke,#22242a);stroke-width:1.2;stroke-linejoin:round}
.bpmn-diagram .icon-solid{fill:var(--bpmn-stroke,#22242a);stroke:var(--bpmn-stroke,#22242a);stroke-width:1;stroke-linejoin:round}
.bpmn-diagram .icon-knock{fill:none;stroke:var(--bpmn-fill,#fff);stroke-width:1.2}
.bpmn-diagram .icon-line,.bpmn-diagram .icon-thin,.bpmn-diagram .icon-thick,.bpmn-diagram .icon-bar{fill:none;stroke:var(--bpmn-stroke,#22242a);stroke-width:1.5;stroke-linecap:round;stroke-linejoin:round}
.bpmn-diagram .icon-thin{stroke-width:1}
.bpmn-diagram .icon-thick{stroke-width:3;stroke-linecap:butt}
.bpmn-diagram .icon-bar{stroke-width:2;stroke-linecap:butt}
.bpmn-diagram .line{fill:none;stroke:var(--bpmn-flow,var(--bpmn-stroke,#22242a));stroke-width:1.5;stroke-linejoin:round}
.bpmn-diagram .bpmn-messageFlow>.line{stroke-dasharray:8 5}
.bpmn-diagram .bpmn-association>.line,.bpmn-diagram .bpmn-dataInputAssociation>.line,.bpmn-diagram .bpmn-dataOutputAssociation>.line,.bpmn-diagram .bpmn-unknown>.line{stroke-dasharray:.5 5;stroke-linecap:round}
.bpmn-diagram .arrow{fill:var(--bpmn-flow,var(--bpmn-stroke,#22242a));stroke:var(--bpmn-flow,var(--bpmn-stroke,#22242a));stroke-width:1;stroke-linejoin:round}
.bpmn-diagram .arrow-open,.bpmn-diagram .message-start,.bpmn-diagram .conditional-marker{fill:var(--bpmn-fill,#fff);stroke:var(--bpmn-flow,var(--bpmn-stroke,#22242a));stroke-width:1.5;stroke-linejoin:round}
.bpmn-diagram .arrow-lines,.bpmn-diagram .default-marker{fill:none;stroke:var(--bpmn-flow,var(--bpmn-stroke,#22242a));stroke-width:1.5}
.bpmn-diagram .envelope{fill:var(--bpmn-fill,#fff);stroke:var(--bpmn-stroke,#22242a);stroke-width:1;stroke-linejoin:round}
.bpmn-diagram .envelope-flap{fill:none;stroke:var(--bpmn-stroke,#22242a);stroke-width:1;stroke-linejoin:round}
.bpmn-diagram .message-non-initiating>.envelope{fill:var(--bpmn-shade,#b9bec6)}
.bpmn-diagram .djs-hit{fill:none;stroke:transparent;stroke-width:14}
.bpmn-diagram .overlays .hl,.bpmn-diagram .overlays .heat,.bpmn-diagram .overlays .taken{fill:none;pointer-events:none}
.bpmn-diagram .heat{stroke-linejoin:round;stroke-linecap:round}
.bpmn-diagram .hl-current{stroke:var(--bpmn-current,#2563eb);stroke-width:3}
.bpmn-diagram .hl-visited{stroke:var(--bpmn-visited,#16a34a);stroke-width:2;stroke-opacity:.8}
.bpmn-diagram .hl-incident{stroke:var(--bpmn-incident,#dc2626);stroke-width:3}
.bpmn-diagram .hl-selected{stroke:var(--bpmn-selected,#d97706);stroke-width:2;stroke-dasharray:6 3}
.bpmn-diagram .hl-taken{fill:none;stroke:var(--bpmn-visited,#16a34a);stroke-width:3;stroke-opacity:.85;stroke-linejoin:round}
.bpmn-diagram .hl-taken-arrow{fill:var(--bpmn-visited,#16a34a);stroke:none}
.bpmn-diagram .overlay-hit{fill:transparent;stroke:transparent;stroke-width:12}
.bpmn-diagram .badge-pill{stroke:var(--bpmn-fill,#fff);stroke-width:1.5}
.bpmn-diagram .badge-active .badge-pill{fill:var(--bpmn-active,#2563eb)}
.bpmn-diagram .badge-incidents .badge-pill{fill:var(--bpmn-incident,#dc2626)}
.bpmn-diagram .badge-completed .badge-pill{fill:var(--bpmn-completed,#6b7280)}
.bpmn-diagram .badge-stalled .badge-pill{fill:var(--bpmn-stalled,#7c3aed)}
.bpmn-diagram .badge-compensated .badge-pill{fill:var(--bpmn-compensated,#b45309)}
.bpmn-diagram .badge-mark{fill:var(--bpmn-badge-text,#fff)}
.bpmn-diagram .hl-compensated{stroke:var(--bpmn-compensated,#b45309);stroke-width:2.5;stroke-dasharray:6 4}
.bpmn-diagram .badge-clock{fill:none;stroke:var(--bpmn-badge-text,#fff);stroke-width:1.4;stroke-linecap:round}
.bpmn-diagram .hl-stalled{stroke:var(--bpmn-stalled,#7c3aed);stroke-width:2.5;stroke-dasharray:2 4;stroke-linecap:round}
.bpmn-diagram text.badge-text{fill:var(--bpmn-badge-text,#fff);font-size:11px;font-weight:700}
`
