package web

// Routes lists every route of the UI as "METHOD path" (echo's form, :name for a path
// parameter), so tests can prove they cover each one.
func Routes() []string {
	var out []string
	for _, r := range New(Options{}).s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}
