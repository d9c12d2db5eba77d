package layout

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
	return t + " · Cockpit"
}
