package layout

import "github.com/cockpit-engine/cockpit/web/templates/components"

// asset is the URL of a static file, versioned for caching.
func asset(name, version string) string {
	if version == "" {
		return "/static/" + name
	}
	return "/static/" + name + "?v=" + version
}

func fullTitle(t string) string {
	if t == "" {
		return "Cockpit"
	}
	// A page's title may carry a user value (a business key, a process name).
	return components.Clip(t, components.HeadingChars) + " · Cockpit"
}
