package web

import "sync/atomic"

// Routes lists every route of the UI as "METHOD path" (echo's form, :name for a path
// parameter), so tests can prove they cover each one.
func Routes() []string {
	var out []string
	for _, r := range New(Options{}).s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// CountRenders counts the live hub's renders from now on; call it before any stream
// opens (the room loops read the hook).
func CountRenders(u *UI) func() int64 {
	var n atomic.Int64
	u.s.hub.mu.Lock()
	u.s.hub.onRender = func(string) { n.Add(1) }
	u.s.hub.mu.Unlock()
	return n.Load
}

// LiveRooms is the number of topics the live hub renders.
func LiveRooms(u *UI) int {
	u.s.hub.mu.Lock()
	defer u.s.hub.mu.Unlock()
	return len(u.s.hub.rooms)
}
